import FirebuildCore
import Foundation
import Guest
import Store
import VM

/// Machine settings of build VMs.
public struct BuildMachine: Sendable {
    public var kernelID: String?
    public var kernelStoreRoot: String
    public var memMiB: Int
    public var vcpus: Int
    /// How long a boot may take until the guest init says `ready` (TCG on a busy host: generous).
    public var bootTimeout: TimeInterval

    public init(kernelID: String? = nil, kernelStoreRoot: String = FirebuildPaths().kernelStorageRoot,
                memMiB: Int = 512, vcpus: Int = 1, bootTimeout: TimeInterval = 120) {
        self.kernelID = kernelID; self.kernelStoreRoot = kernelStoreRoot; self.memMiB = memMiB; self.vcpus = vcpus
        self.bootTimeout = bootTimeout
    }

    func kernel() throws -> StoredKernel {
        let store = KernelStore(root: kernelStoreRoot)
        if let kernelID { return try store.get(kernelID) }
        guard let k = try store.list().sorted(by: { $0.record.id < $1.record.id }).first else {
            throw FirebuildError(.notFound, "no kernel in \(kernelStoreRoot): import one (`firebuild kernel import`) or pass --vmlinux-id")
        }
        return k
    }
}

/// One booted build VM: QEMU microvm on a qcow2 overlay, the guest init in build mode.
final class StageVM {
    let driver: QEMUDriver
    let handle: VMHandle
    let instance: VMInstance
    let connection: GuestConnection
    let runDir: String
    /// True when the VM started from a boot template instead of booting.
    let restored: Bool
    /// The overlay currently written by the guest (QMP moves it forward at each snapshot).
    private(set) var activeLayer: String

    /// With `network` QEMU runs in the VM's namespace on its tap and the guest gets the CNI
    /// result's address; without it the guest has loopback only. `extraDisks`: RUN --mount=type=cache
    /// images (the guest finds them by filesystem UUID).
    init(machine: BuildMachine, overlay: String, runDir: String, id: String, env: [String], network: BuildVMNetwork? = nil,
         extraDisks: [VMDisk] = [], runCache: String = FirebuildPaths().runCache) throws {
        let kernel = try machine.kernel()
        let driver = QEMUDriver(probeCachePath: runCache + "/accel-probe.json")
        self.driver = driver
        self.runDir = runDir
        activeLayer = overlay
        try FileManager.default.createDirectory(atPath: runDir, withIntermediateDirectories: true)
        // The guest init travels in an initrd segment and runs from /run (as for `run`): the
        // image being built never contains it.
        guard let kernelInitrd = kernel.initrdPath else {
            throw FirebuildError(.invalidArgument,
                "kernel \(kernel.record.id) has no initrd; build one with `firebuild kernel initrd --from-kernel \(kernel.record.id)`")
        }
        let initrd = try BootFiles.initrd(kernelInitrd: kernelInitrd, guestInit: try BootFiles.guestInit(configured: nil),
                                          cacheDir: runCache + "/initrds")
        // firebuild.pause: early boot waits for the host before it probes the disks, so the VM
        // can be saved there as a boot template, or be one restored from it (BootTemplates).
        var args = "quiet root=/dev/vda rw firebuild.init=/run/\(BootFiles.initName) \(BootPause.flag)"
        for (k, v) in GuestChannel.kernelParameters(for: .qemu) { args += " \(k)=\(v)" }
        let config = VMConfig(id: id, kernelPath: kernel.bzImagePath ?? kernel.vmlinuxPath, initrdPath: initrd,
                              kernelArgs: args, rootDisk: VMDisk(path: overlay, format: .qcow2), extraDisks: extraDisks,
                              memMiB: machine.memMiB, vcpus: machine.vcpus, network: network?.vmNetwork, runDirectory: runDir,
                              netnsPath: network?.netnsPath)
        let templates = BootTemplates(directory: runCache + "/" + BootTemplates.directoryName)
        let launched = try FirebuildProgress.waiting("booting build VM \(id)") {
            try StageVM.launch(config, driver: driver, plan: templates.plan(for: config, driver: driver),
                               templates: templates, network: network, bootTimeout: machine.bootTimeout)
        }
        (handle, connection, restored) = (launched.handle, launched.connection, launched.restored)
        instance = driver.instance(handle)
        do {
            try connection.sendMetadata(Metadata(mode: .build, image: ImageRuntimeConfig(env: env), hostname: "firebuild-build",
                                                 network: network?.guestNetwork ?? NetworkConfig(mode: .none),
                                                 heartbeatInterval: 2))
        } catch {
            let console = StageVM.tail(handle.consoleLogPath)
            try? instance.kill()
            throw FirebuildError(.guest, "the build VM did not come up: \(error)\nconsole:\n\(console)")
        }
    }

    private struct Launched {
        var handle: VMHandle
        var connection: GuestConnection
        var restored: Bool
    }

    /// Starts the VM from its boot template (saving the template first when the plan says so),
    /// else boots it. A template that fails is discarded and the VM booted.
    private static func launch(_ config: VMConfig, driver: QEMUDriver, plan: BootTemplates.Plan, templates: BootTemplates,
                               network: BuildVMNetwork?, bootTimeout: TimeInterval) throws -> Launched {
        let logger = makeLogger("build")
        let files: BootTemplates.Files
        switch plan {
        case .boot:
            return try boot(config, driver: driver, network: network, bootTimeout: bootTimeout)
        case let .restore(existing):
            files = existing
        case let .save(new, lock):
            defer { lock.unlock() }
            do {
                let started = Date()
                try saveTemplate(config, files: new, driver: driver, bootTimeout: bootTimeout)
                logger.info("saved a boot template for build VMs", metadata: [
                    "path": .string(new.state), "seconds": "\(String(format: "%.2f", Date().timeIntervalSince(started)))"])
            } catch {
                logger.warning("could not save a boot template; booting the build VM", metadata: ["error": "\(error)"])
                return try boot(config, driver: driver, network: network, bootTimeout: bootTimeout)
            }
            files = new
        }
        do {
            return try restore(config, files: files, driver: driver, bootTimeout: bootTimeout)
        } catch {
            logger.warning("the build VM could not start from its boot template; booting it instead",
                           metadata: ["template": .string(files.state), "error": "\(error)"])
            templates.discard(files)
            return try boot(config, driver: driver, network: network, bootTimeout: bootTimeout)
        }
    }

    /// Boots the VM with its RAM in the template's file, saves it at the pause and stops it. The
    /// RAM file is renamed into place first, the state last: a state on disk means a whole template.
    private static func saveTemplate(_ config: VMConfig, files: BootTemplates.Files, driver: QEMUDriver,
                                     bootTimeout: TimeInterval) throws {
        let ramTemp = files.ram + ".tmp-\(getpid())", stateTemp = files.state + ".staged-\(getpid())"
        try FileManager.default.createDirectory(atPath: (files.ram as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        unlink(ramTemp)
        defer { unlink(ramTemp); unlink(stateTemp) }
        var saving = config
        saving.memoryFile = VMMemoryFile(path: ramTemp, shared: true)
        let handle = try driver.start(saving)
        let instance = driver.instance(handle)
        defer { try? instance.kill(); _ = instance.wait(timeout: 10) }
        let c = try GuestChannel.forHandle(handle).open(timeout: 30)
        defer { c.close() }
        guard try c.waitBootPaused(timeout: bootTimeout) != nil else {
            throw FirebuildError(.unsupported, "the guest init became ready without pausing (built before boot templates? run `make init`)")
        }
        try QEMUMachineState.save(qmpSocket: handle.controlSocket, to: stateTemp, ramInFile: true)
        try? instance.kill()
        _ = instance.wait(timeout: 10)
        guard rename(ramTemp, files.ram) == 0, rename(stateTemp, files.state) == 0 else {
            let e = FirebuildError.posix("rename", path: files.state)
            unlink(files.ram)
            throw e
        }
    }

    private static func boot(_ config: VMConfig, driver: QEMUDriver, network: BuildVMNetwork?, bootTimeout: TimeInterval) throws -> Launched {
        let handle = try driver.start(config)
        network?.vmmStarted(handle)
        return try guarded(handle, driver: driver, restored: false) {
            let c = try GuestChannel.forHandle(handle).open(timeout: 30)
            if try c.waitBootPaused(timeout: bootTimeout) != nil {
                try c.resume(resumeInfo(restored: false))
            }
            try waitReady(c, id: config.id, timeout: bootTimeout)
            return Launched(handle: handle, connection: c, restored: false)
        }
    }

    private static func restore(_ config: VMConfig, files: BootTemplates.Files, driver: QEMUDriver,
                                bootTimeout: TimeInterval) throws -> Launched {
        var restoring = config
        restoring.incomingState = files.state
        restoring.memoryFile = VMMemoryFile(path: files.ram, shared: false)
        let handle = try driver.start(restoring)
        return try guarded(handle, driver: driver, restored: true) {
            // The guest wakes up waiting for `resume`: it is on the channel before the VM runs.
            let t0 = Date()
            let c = try GuestChannel.forHandle(handle).open(timeout: 30)
            try c.resume(resumeInfo(restored: true))
            let t1 = Date()
            try QEMUMachineState.runRestored(handle, state: files.state, ramInFile: true)
            let t2 = Date()
            try waitReady(c, id: config.id, timeout: min(bootTimeout, 60))
            // Where a restore spends its time: QEMU loading the state, then the guest going on.
            makeLogger("build").debug("build VM restored", metadata: [
                "vm": .string(config.id), "channel-ms": "\(Int(t1.timeIntervalSince(t0) * 1000))",
                "load-ms": "\(Int(t2.timeIntervalSince(t1) * 1000))", "guest-ms": "\(Int(Date().timeIntervalSince(t2) * 1000))"])
            return Launched(handle: handle, connection: c, restored: true)
        }
    }

    /// The wait for a started VMM's guest to be ready (span `vm.guest.ready`); kills the VMM
    /// (and waits for it) when `body` fails, with the console's tail in the error.
    private static func guarded(_ handle: VMHandle, driver: QEMUDriver, restored: Bool, _ body: () throws -> Launched) throws -> Launched {
        do {
            return try FirebuildTracing.span("vm.guest.ready", attributes: [FirebuildSpanKey.vmID: handle.id]) { span in
                span.attributes["firebuild.vm.restored"] = restored
                return try body()
            }
        } catch {
            let console = StageVM.tail(handle.consoleLogPath)
            let instance = driver.instance(handle)
            try? instance.kill()
            _ = instance.wait(timeout: 10)
            throw FirebuildError(.guest, "the build VM did not come up: \(error)\nconsole:\n\(console)")
        }
    }

    /// The host's clock and 64 random bytes: a restored guest would otherwise go on with the
    /// template's clock and random state.
    private static func resumeInfo(restored: Bool) -> ResumeInfo {
        var rng = SystemRandomNumberGenerator()
        return ResumeInfo(time: Date().timeIntervalSince1970, entropy: (0..<64).map { _ in UInt8.random(in: 0...255, using: &rng) },
                          restored: restored)
    }

    private static func waitReady(_ c: GuestConnection, id: String, timeout: TimeInterval) throws {
        let ready = try c.waitReady(timeout: timeout)
        // The guest's own uptime at ready separates kernel+init time from host overhead.
        makeLogger("build").debug("build VM ready", metadata: ["vm": .string(id), "guest-uptime": "\(ready.uptime)",
                                                                "phases": .string(BootPhase.summary(ready.phases))])
    }

    /// Flushes the guest's page cache, then makes the current overlay an immutable layer and
    /// continues on a fresh overlay `next` backed by it (QMP blockdev-snapshot-sync).
    func snapshot(to next: String) throws {
        try sync()
        let qmp = try QMPClient(socketPath: handle.controlSocket, timeout: 30)
        try qmp.execute("blockdev-snapshot-sync", arguments: ["device": "disk0", "snapshot-file": next, "format": "qcow2"])
        activeLayer = next
    }

    func sync() throws {
        let (status, _, err) = try connection.execCollect(ExecRequest(argv: ["/proc/1/exe", "--sync"]), timeout: 120)
        guard status.success else {
            throw FirebuildError(.guest, "sync in the build VM failed (\(status)): \(String(decoding: err, as: UTF8.self))")
        }
    }

    /// Asks the init to sync and power off; kills QEMU if it does not exit in time.
    func shutdown() throws {
        try connection.shutdown(timeout: 60)
        if instance.wait(timeout: 60) == nil {
            try? instance.kill()
            throw FirebuildError(.timeout, "the build VM did not power off within 60 s")
        }
        connection.close()
    }

    func kill() {
        connection.close()
        try? instance.kill()
    }

    static func tail(_ path: String, lines: Int = 20) -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return "(no console output)" }
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    var exited: Bool { VMProcess.exitStatus(pid: handle.pid, startTime: handle.processStartTime) != nil }
}
