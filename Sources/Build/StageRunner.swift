import FirebuildCore
import Foundation
import Guest

/// Runs one stage's steps: cached steps are skipped without a VM; from the first uncached step on,
/// one VM boots on an overlay of the last cached layer, and after each step the guest syncs and
/// the disk is snapshotted, so every step leaves its own immutable cached layer.
struct StageRunner {
    let engine: BuildEngine
    let request: BuildRequest
    let stageLabel: String
    /// The stage as the observer names it.
    let stageName: String
    let fileName: String
    let scratch: String
    let deadline: Date?

    struct Stats { var boots = 0, restores = 0, templatesSaved = 0, run = 0, cached = 0, diskFiles = 0 }

    func say(_ i: Int, _ n: Int, _ text: String) { request.output("[\(stageLabel) step \(i + 1)/\(n)] \(text)") }

    func stepAttributes(_ step: StageStep, cached: Bool) -> FirebuildTracing.Attributes {
        [FirebuildSpanKey.stage: stageLabel, FirebuildSpanKey.stepLine: step.line,
         FirebuildSpanKey.step: String(step.label.prefix(200)), FirebuildSpanKey.cached: cached]
    }

    func info(_ i: Int, _ steps: [StageStep]) -> BuildStepInfo {
        BuildStepInfo(stage: stageName, index: i + 1, count: steps.count, instruction: steps[i].label)
    }

    func run(_ steps: [StageStep], from start: BuildEngine.ChainPoint, noCache: Bool) throws -> (BuildEngine.ChainPoint, Stats) {
        var stats = Stats()
        guard !steps.isEmpty else { return (start, stats) }
        let cache = engine.cache
        var prefix = 0
        var point = start
        if !noCache {
            for i in stride(from: steps.count - 1, through: 0, by: -1) {
                if let e = try cache.lookup(steps[i].key) {
                    prefix = i + 1
                    point = .init(stepKey: e.key, baseKey: start.baseKey, path: cache.path(of: e))
                    break
                }
            }
        }
        for i in 0..<prefix {
            try FirebuildTracing.span("build.step", attributes: stepAttributes(steps[i], cached: true)) { _ in
                say(i, steps.count, "CACHED \(steps[i].label)")
                try request.observer?.beforeStep(info(i, steps))
                try request.observer?.afterStep(info(i, steps), outcome: BuildStepOutcome(cached: true, seconds: 0))
            }
        }
        stats.cached = prefix
        guard prefix < steps.count else { return (point, stats) }

        // --no-cache builds keep their layers in the build's scratch dir: never read nor written.
        let layerDir = noCache ? scratch + "/layers" : cache.layersDir
        try FileManager.default.createDirectory(atPath: layerDir, withIntermediateDirectories: true)
        func layerFile(_ key: String) -> String { noCache ? "\(layerDir)/\(key).qcow2" : cache.newLayerPath(key) }

        try checkRequiredSecrets(steps[prefix...])
        var file = layerFile(steps[prefix].key)
        try Self.overlay(backing: point.path, at: file)
        let vmID = "fbb-\(UInt32.random(in: 0...UInt32.max))"
        // Attached before the VM boots and released after it is gone (success, failure or watchdog).
        let network = try request.cniNetworkName.map {
            try BuildVMNetwork.attach(vmID: vmID, network: $0, cni: request.cni, runCache: engine.paths.runCache)
        }
        defer {
            if let network, let error = network.release() {
                request.output("warning: the network of build VM \(vmID) was not fully removed (\(error)); run `firebuild purge`")
            }
        }
        // RUN --mount=type=cache images, locked until this VM is gone (defers run after the kill below).
        let caches = try CacheMountStore(root: engine.paths.runCache + "/build-cache-mounts").attach(CacheMountSet.wanted(by: steps[prefix...]))
        defer { caches.release() }
        // COPY/ADD sources by DMA: packed while the VM boots, deleted once it is gone.
        let content = StageContentDisk.make(hostFiles: steps[prefix...].flatMap(\.hostFiles), directory: scratch, name: vmID)
        defer { content?.remove() }
        let vm = try StageVM(machine: request.machine, overlay: file, runDir: scratch + "/" + vmID, id: vmID, env: [],
                             network: network, extraDisks: caches.disks + (content.map { [$0.vmDisk] } ?? []),
                             runCache: engine.paths.runCache)
        stats.boots = 1
        stats.restores = vm.restored ? 1 : 0
        stats.templatesSaved = vm.savedTemplate ? 1 : 0
        let watchdog = Watchdog(vm: vm, deadline: deadline, inactivity: request.stepInactivityTimeout)
        watchdog.start()
        defer { watchdog.stop() }
        do {
            var parentKey = point.stepKey
            for j in prefix..<steps.count {
                let step = steps[j]
                try FirebuildTracing.span("build.step", attributes: stepAttributes(step, cached: false)) { _ in
                    say(j, steps.count, step.label)
                    FirebuildProgress.reporter.step(label: "[\(stageLabel)] step \(j + 1)/\(steps.count): \(step.label)")
                    let stepInfo = info(j, steps)
                    try request.observer?.beforeStep(stepInfo)
                    let stepStarted = Date()
                    watchdog.touch()
                    // Output arrives on the exec reader while this thread waits: keep the observer's
                    // first failure and fail the build with it once the step is done.
                    let observerFailure = FailureBox()
                    try FirebuildTracing.span("vm.exec", attributes: [FirebuildSpanKey.vmID: vmID]) { _ in
                        stats.diskFiles += try execute(step, vm: vm, watchdog: watchdog, caches: caches, content: content) { line in
                            say(j, steps.count, line)
                            if let observer = request.observer, observerFailure.error == nil {
                                do { try observer.onOutput(stepInfo, line: line) } catch { observerFailure.error = error }
                            }
                        }
                    }
                    if let error = observerFailure.error { throw error }
                    try request.observer?.afterStep(stepInfo, outcome: BuildStepOutcome(cached: false, seconds: Date().timeIntervalSince(stepStarted)))
                    stats.run += 1
                    if j + 1 < steps.count {
                        let next = layerFile(steps[j + 1].key)
                        try FirebuildTracing.span("build.snapshot") { _ in try vm.snapshot(to: next) }
                        if !noCache { try cache.add(key: step.key, parent: parentKey, base: start.baseKey, layerFile: file, description: step.label) }
                        file = next
                    } else {
                        try FirebuildTracing.span("vm.shutdown", attributes: [FirebuildSpanKey.vmID: vmID]) { _ in try vm.shutdown() }
                        if !noCache { try cache.add(key: step.key, parent: parentKey, base: start.baseKey, layerFile: file, description: step.label) }
                    }
                }
                parentKey = step.key
            }
        } catch {
            FirebuildProgress.reporter.finish()
            vm.kill()
            if let reason = watchdog.reason { throw reason }
            throw error
        }
        FirebuildProgress.reporter.finish()
        return (.init(stepKey: steps[steps.count - 1].key, baseKey: start.baseKey, path: file), stats)
    }

    /// A qcow2 overlay on a raw base or on a qcow2 layer (absolute backing path).
    static func overlay(backing: String, at path: String) throws {
        let format = backing.hasSuffix(".qcow2") ? "qcow2" : "raw"
        try Command("qemu-img", ["create", "-q", "-f", "qcow2", "-F", format, "-b", backing, path]).check()
    }

    /// Runs one step in the VM; returns how many files came from the content disk.
    @discardableResult
    func execute(_ step: StageStep, vm: StageVM, watchdog: Watchdog, caches: CacheMountSet? = nil,
                 content: StageContentDisk? = nil, output: @escaping (String) -> Void) throws -> Int {
        let conn = vm.connection
        switch step.action {
        case let .run(argv, env, user, workdir):
            try conn.mkdir(MkdirRequest(path: workdir, mode: 0o755))
            let mounts = try prepareMounts(step, conn: conn, caches: caches, content: content)
            let lines = LineSplitter(emit: output)
            var exec = ExecRequest(argv: argv, env: env + mounts.env, replaceEnv: true, user: user, workdir: workdir,
                                   mounts: mounts.mounts)
            exec.isolatedNetwork = step.network == "none"
            let status = try conn.exec(exec, timeout: nil) { stream, bytes in
                watchdog.touch()
                lines.feed(stream, bytes)
            }
            lines.flush()
            if !step.mounts.isEmpty { cleanupMounts(mounts, conn: conn) }
            guard status.success else {
                let what = status.code.map { "exited with status \($0)" } ?? "was \(status)"
                throw FirebuildError(.subprocess, "RUN \(what)", location: "\(fileName):\(step.line)")
            }
            return mounts.filesFromDisk
        case let .files(spec, tree):
            let planner = CopyPlanner(tree: tree, scratchDir: scratch) { path in
                let st = try conn.stat(path, followLinks: true)
                guard st.exists else { return nil }
                return st.kind == .directory ? .directory : .file
            }
            let ops: [FileOp]
            do { ops = try planner.plan(spec) } catch var e as FirebuildError {
                e.location = "\(fileName):\(step.line)"
                throw e
            }
            return try FileOpApplier(runner: self, conn: conn, content: content, touch: { watchdog.touch() }).apply(ops)
        case let .mkdirs(paths, owner):
            for p in paths { try conn.mkdir(MkdirRequest(path: p, mode: 0o755, owner: owner)) }
        }
        return 0
    }

    /// Applies one file operation with its own request(s): what a FileBatch cannot carry (bytes
    /// that are not on the content disk), and every operation when there is no content disk.
    func apply(_ op: FileOp, conn: GuestConnection) throws {
        let owner = OwnerSpec.requestFields
        switch op {
        case let .directory(path, mode, o):
            let (n, u, g) = owner(o)
            try conn.mkdir(MkdirRequest(path: path, mode: mode, owner: n, uid: u, gid: g))
        case let .file(path, data, mode, o):
            let (n, u, g) = owner(o)
            let req = WriteFileRequest(path: path, mode: mode, owner: n, uid: u, gid: g)
            switch data {
            case .host(let local): try conn.writeFile(req, fromLocalPath: local, timeout: 600)
            case .bytes(let b): try conn.writeFile(req, data: b, timeout: 600)
            }
        case let .symlink(path, target, o):
            // Only a missing parent is created: mkdir of an existing one would reset its mode to 0755.
            let parent = BuildPath.dirname(path)
            if try !conn.stat(parent, followLinks: true).exists { try conn.mkdir(MkdirRequest(path: parent, mode: 0o755)) }
            let (status, _, err) = try conn.execCollect(ExecRequest(argv: ["/proc/1/exe", "--symlink", target, path]), timeout: 60)
            guard status.success else {
                throw FirebuildError(.guest, "cannot create symlink \(path) -> \(target): \(String(decoding: err, as: UTF8.self))")
            }
            let (n, u, g) = owner(o)
            if n != nil || u != nil { try conn.chown(ChownRequest(path: path, owner: n, uid: u, gid: g)) }
        }
    }
}

/// The first error of a callback that cannot throw.
final class FailureBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Error?
    var error: Error? {
        get { lock.lock(); defer { lock.unlock() }; return stored }
        set { lock.lock(); stored = newValue; lock.unlock() }
    }
}

/// Splits streamed output into lines (per stream) for the step prefix.
final class LineSplitter: @unchecked Sendable {
    let emit: (String) -> Void
    private let lock = NSLock()
    private var buffers: [GuestStream: [UInt8]] = [:]

    init(emit: @escaping (String) -> Void) { self.emit = emit }

    func feed(_ stream: GuestStream, _ bytes: [UInt8]) {
        lock.lock()
        var buf = buffers[stream, default: []] + bytes
        var lines: [String] = []
        while let nl = buf.firstIndex(of: 0x0A) {
            lines.append(String(decoding: buf[..<nl], as: UTF8.self))
            buf.removeSubrange(...nl)
        }
        buffers[stream] = buf
        lock.unlock()
        lines.forEach(emit)
    }

    func flush() {
        lock.lock()
        let rest = buffers.values.filter { !$0.isEmpty }.map { String(decoding: $0, as: UTF8.self) }
        buffers = [:]
        lock.unlock()
        rest.forEach(emit)
    }
}
