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
    /// True when a boot template of this VM's shape was saved first (one extra boot).
    let savedTemplate: Bool
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
        let templates = BootTemplates(runCache: runCache)
        let launched = try FirebuildProgress.waiting("booting build VM \(id)") {
            try StageVM.launch(config, driver: driver, plan: templates.plan(for: config, driver: driver),
                               templates: templates, network: network, bootTimeout: machine.bootTimeout)
        }
        (handle, connection, restored, savedTemplate) = (launched.handle, launched.connection, launched.restored, launched.savedTemplate)
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
