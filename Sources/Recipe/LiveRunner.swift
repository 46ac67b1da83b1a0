import FirebuildCore
import Foundation
import Guest
import Runtime
import VM

/// VMs: `RunEngine` as `firebuild run --daemonize`, `exec`, `logs`, `kill`, `ls`, `inspect`, `purge`.
/// The guest channel takes one client at a time: for a foreground run (`daemonize = false`) the
/// recipe keeps the connection `start` opened, so `vm:wait()` gets the workload's exit status and
/// `vm:exec` goes through it; a daemonized VM's connection is closed as `firebuild run --daemonize`
/// does, leaving the VM to any command (its `wait` then reports only that it stopped).
final class LiveRunner: RecipeRunner {
    /// The workload's exit status, set from the guest channel's reader thread.
    final class StatusBox: @unchecked Sendable {
        private let lock = NSLock()
        private var stored: ExitStatus?
        var status: ExitStatus? {
            get { lock.lock(); defer { lock.unlock() }; return stored }
            set { lock.lock(); stored = newValue; lock.unlock() }
        }
    }
    struct Started {
        let started: RunEngine.Started
        let box: StatusBox
    }
    private var started: [String: Started] = [:]
    private let lock = NSLock()

    func engine(_ settings: RecipeSettings, confDir: String? = nil, vmm: String? = nil) throws -> RunEngine {
        let kind = try VMMSelection.kind(named: vmm ?? settings.vmm, firecrackerConfigured: false)
        return RunEngine(settings: RunSettings(paths: settings.runPaths, rootfsStorageRoot: settings.effectiveRootfsRoot,
                                               kernelStorageRoot: settings.effectiveKernelRoot,
                                               cniConfDir: confDir ?? settings.cniConfDir, cniBinDirs: settings.cniBinDirs,
                                               cniCacheDir: settings.cniCacheDir, hostNamespace: settings.hostNetns,
                                               vmm: kind, guestInitPath: settings.guestInit))
    }

    func start(_ r: RecipeRunRequest, settings: RecipeSettings) throws -> RecipeVMInfo {
        var req = r.run
        req.daemonize = true  // `start` returns once ready either way; a foreground run is `vm:wait()`
        // Created first: the workload may exit before `start` returns.
        let box = StatusBox()
        let s = try engine(settings, confDir: r.cniConfDir, vmm: r.vmm).start(req, output: nil, exit: { box.status = $0 })
        if r.daemonize {
            s.connection.close()
        } else {
            lock.lock(); started[s.record.vmmID] = Started(started: s, box: box); lock.unlock()
        }
        return RecipeVMInfo(id: s.record.vmmID, ip: s.record.ip, running: true, image: s.record.image)
    }

    func exec(id: String, argv: [String], timeout: TimeInterval?, settings: RecipeSettings) throws -> RecipeExecResult {
        let out = OutputBuffer(), err = OutputBuffer()
        let collect: (GuestStream, [UInt8]) -> Void = { stream, bytes in (stream == .stderr ? err : out).append(bytes) }
        lock.lock(); let entry = started[id]; lock.unlock()
        let status: ExitStatus
        if let entry {
            guard !argv.isEmpty else { throw FirebuildError(.invalidArgument, "VM:exec needs a command") }
            status = try entry.started.connection.exec(ExecRequest(argv: argv), timeout: timeout, onOutput: collect)
        } else {
            status = try engine(settings).exec(id: id, argv: argv, timeout: timeout, output: collect)
        }
        return RecipeExecResult(code: Int(status.exitCode), stdout: out.data, stderr: err.data)
    }

    func logs(id: String, settings: RecipeSettings) throws -> String { try engine(settings).logs(id: id) }

    func wait(id: String, timeout: TimeInterval, settings: RecipeSettings) throws -> Int? {
        lock.lock(); let entry = started[id]; lock.unlock()
        let deadline = timeout.isFinite ? Date().addingTimeInterval(timeout) : Date.distantFuture
        while true {
            if let entry {
                if let status = entry.box.status { return Int(status.exitCode) }
                if case .exited = entry.started.instance.status() { return entry.box.status.map { Int($0.exitCode) } }
            } else if !(try engine(settings).list().first { $0.id == id }?.running ?? false) {
                return nil
            }
            if Date() >= deadline { return nil }
            Thread.sleep(forTimeInterval: 0.2)
        }
    }

    func stop(id: String, timeout: TimeInterval, settings: RecipeSettings) throws {
        lock.lock(); let entry = started.removeValue(forKey: id); lock.unlock()
        entry?.started.connection.close()
        try engine(settings).kill(id: id, timeout: timeout)
    }

    func inspect(id: String, settings: RecipeSettings) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(try engine(settings).inspect(id: id))
    }

    func list(settings: RecipeSettings) throws -> [RecipeVMInfo] {
        try engine(settings).list().map { RecipeVMInfo(id: $0.id, ip: $0.ip, running: $0.running, image: $0.image) }
    }

    func purge(settings: RecipeSettings) throws -> [String] { try engine(settings).purge() }
}

/// Output collected from a callback on the channel's reader thread.
final class OutputBuffer: @unchecked Sendable {
    private let lock = NSLock()
    private var bytes: [UInt8] = []
    func append(_ b: [UInt8]) { lock.lock(); bytes += b; lock.unlock() }
    var data: Data { lock.lock(); defer { lock.unlock() }; return Data(bytes) }
}
