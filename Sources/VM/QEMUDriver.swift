import FirebuildCore
import Foundation
import Logging

/// QEMU `microvm`: virtio-mmio devices described in ACPI (so Debian's modular kernels find them),
/// virtio-blk disks, a tap NIC, a virtio-serial guest channel, the serial console to a file, and
/// QMP for status and stop.
public struct QEMUDriver: VirtualMachineManager {
    public var kind: VMMKind { .qemu }
    public var binary: String
    /// nil: probe once per host (cached), KVM when a guest really boots under it, else TCG.
    public var accelerator: Accelerator?
    /// Where the accelerator probe result is cached.
    public var probeCachePath: String
    /// TSC frequency given to the guest under TCG: PIT calibration hangs on a loaded host without it.
    public var tscKHz: Int

    public enum Accelerator: String, Codable, Sendable {
        case kvm
        case tcg
    }

    public init(binary: String = "qemu-system-x86_64", accelerator: Accelerator? = nil,
                probeCachePath: String = FirebuildPaths().runCache + "/accel-probe.json", tscKHz: Int = 2_000_000) {
        self.binary = binary
        self.accelerator = accelerator
        self.probeCachePath = probeCachePath
        self.tscKHz = tscKHz
    }

    /// Files the driver keeps in the run directory.
    public struct RunFiles: Equatable, Sendable {
        public var qmpSocket: String
        public var pidFile: String
        public var vmmLog: String
        public init(runDirectory: String) {
            qmpSocket = runDirectory + "/qmp.sock"
            pidFile = runDirectory + "/qemu.pid"
            vmmLog = runDirectory + "/qemu.log"
        }
    }

    /// QEMU option values are comma-separated: a comma inside a path is written twice.
    static func escape(_ value: String) -> String { value.replacingOccurrences(of: ",", with: ",,") }

    /// The kernel command line after the driver's additions.
    public func kernelCommandLine(_ config: VMConfig, accelerator: Accelerator) -> String {
        var args = VMConfig.appendingArg(config.kernelArgs, key: "console", value: "ttyS0")
        args = VMConfig.appendingArg(args, key: "panic", value: "-1")  // with -no-reboot a panic ends QEMU
        args = VMConfig.appendingArg(args, key: VMConfig.skipCryptoSelfTests, value: nil)
        if accelerator == .tcg { args = VMConfig.appendingArg(args, key: "tsc_early_khz", value: String(tscKHz)) }
        return args
    }

    /// The full QEMU argv (without the netns wrapper). Pure, so tests check it exactly.
    public func arguments(_ config: VMConfig, accelerator: Accelerator, files: RunFiles) -> [String] {
        var machine = "microvm,acpi=on"
        if config.memoryFile != nil { machine += ",memory-backend=mem" }
        var a = [binary, "-M", machine, "-accel", accelerator.rawValue]
        // Under TCG the default CPU model boots; -cpu max/host hang in TSC calibration.
        if accelerator == .kvm { a += ["-cpu", "host"] }
        if let file = config.memoryFile {
            a += ["-object", "memory-backend-file,id=mem,size=\(config.memMiB)M,mem-path=\(Self.escape(file.path)),share=\(file.shared ? "on" : "off")"]
        }
        a += ["-m", "\(config.memMiB)", "-smp", "\(config.vcpus)",
              "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
              "-kernel", config.kernelPath]
        if let initrd = config.initrdPath { a += ["-initrd", initrd] }
        a += ["-append", kernelCommandLine(config, accelerator: accelerator)]
        for (i, disk) in ([config.rootDisk] + config.extraDisks).enumerated() {
            var drive = "id=disk\(i),file=\(Self.escape(disk.path)),format=\(disk.format.rawValue),if=none,cache=unsafe"
            if disk.readOnly { drive += ",readonly=on" }
            a += ["-drive", drive, "-device", "virtio-blk-device,drive=disk\(i)"]
        }
        if let net = config.network {
            a += ["-netdev", "tap,id=net0,ifname=\(Self.escape(net.tapName)),script=no,downscript=no",
                  "-device", "virtio-net-device,netdev=net0,mac=\(net.mac)"]
        }
        // An entropy source: the guest's CRNG is ready as soon as virtio_rng loads, instead of
        // after about a second of jitter sampling under TCG (blocking getrandom() callers wait for it).
        a += ["-device", "virtio-rng-device"]
        a += ["-device", "virtio-serial-device",
              "-chardev", "socket,id=fb0,path=\(Self.escape(config.channelSocketPath)),server=on,wait=off",
              "-device", "virtserialport,chardev=fb0,name=\(GuestChannel.portName)",
              "-chardev", "file,id=con0,path=\(Self.escape(config.consoleLogPath))",
              "-serial", "chardev:con0",
              "-qmp", "unix:\(Self.escape(files.qmpSocket)),server=on,wait=off",
              "-pidfile", files.pidFile]
        // The capabilities of the load are set over QMP before it starts (QEMUMachineState).
        if config.incomingState != nil { a += ["-incoming", "defer"] }
        return a
    }

    public func resolvedAccelerator(kernelPath: String) -> Accelerator {
        if let accelerator { return accelerator }
        return AcceleratorProbe(qemuBinary: binary, cachePath: probeCachePath).detect(kernelPath: kernelPath)
    }

    public func start(_ config: VMConfig) throws -> VMHandle {
        try FirebuildTracing.span("vm.boot", attributes: [FirebuildSpanKey.vmID: config.id, FirebuildSpanKey.program: "qemu"]) { _ in
            try startTraced(config)
        }
    }

    private func startTraced(_ config: VMConfig) throws -> VMHandle {
        try config.validate()
        let logger = makeLogger("vm")
        let fm = FileManager.default
        try fm.createDirectory(atPath: config.runDirectory, withIntermediateDirectories: true)
        let files = RunFiles(runDirectory: config.runDirectory)
        for stale in [files.qmpSocket, config.channelSocketPath, files.pidFile] { unlink(stale) }
        guard files.qmpSocket.utf8.count <= UnixSocket.maxPathLength else {
            throw FirebuildError(.invalidArgument, "run directory \(config.runDirectory) is too long for a Unix socket path (\(files.qmpSocket.utf8.count) > \(UnixSocket.maxPathLength) bytes)")
        }
        let accel = resolvedAccelerator(kernelPath: config.kernelPath)
        let argv = VMProcess.inNetns(config.netnsPath, arguments(config, accelerator: accel, files: files))
        logger.debug("starting qemu", metadata: ["vm": .string(config.id), "argv": .string(argv.joined(separator: " "))])
        let pid = try VMProcess.spawn(argv, logPath: files.vmmLog)
        let startTime = VMProcess.startTime(pid)
        // Up means QMP answers; a QEMU that rejects its options exits first and its log says why.
        let deadline = Date().addingTimeInterval(30)
        var backoff = Backoff()
        while true {
            if let exit = VMProcess.exitStatus(pid: pid, startTime: startTime) {
                throw FirebuildError(.subprocess, "qemu exited at start (status \(exit.status.map(String.init) ?? "?")): \(VMProcess.tail(files.vmmLog))")
            }
            if fm.fileExists(atPath: files.qmpSocket), let q = try? QMPClient(socketPath: files.qmpSocket, timeout: 2),
               (try? q.status()) != nil {
                break
            }
            if Date() > deadline {
                try? VMProcess.kill(pid: pid, startTime: startTime)
                throw FirebuildError(.timeout, "qemu did not open its QMP socket within 30 s: \(VMProcess.tail(files.vmmLog))")
            }
            backoff.sleep()
        }
        logger.info("VM started", metadata: ["vm": .string(config.id), "pid": "\(pid)", "accel": .string(accel.rawValue)])
        return VMHandle(id: config.id, vmm: .qemu, pid: pid, processStartTime: startTime, runDirectory: config.runDirectory,
                        controlSocket: files.qmpSocket, consoleLogPath: config.consoleLogPath,
                        channelSocketPath: config.channelSocketPath, vmmLogPath: files.vmmLog,
                        accelerator: accel.rawValue, jailDirectory: nil, startedAt: Date())
    }

    public func instance(_ handle: VMHandle) -> VMInstance { QEMUInstance(handle: handle) }
}

public struct QEMUInstance: ProcessBackedInstance {
    public let handle: VMHandle

    public init(handle: VMHandle) {
        self.handle = handle
    }

    public func status() -> VMStatus {
        if let exit { return .exited(exit) }
        guard let qmp = try? QMPClient(socketPath: handle.controlSocket, timeout: 2), let s = try? qmp.status() else {
            return exit.map { .exited($0) } ?? .other("unresponsive")
        }
        return s == "running" ? .running : .other(s)
    }

    /// ACPI power button (microvm with acpi=on has a GED); the guest init decides to power off.
    /// The Runtime also asks over the guest channel before calling stop.
    func requestGuestPowerOff() {
        if let qmp = try? QMPClient(socketPath: handle.controlSocket, timeout: 2) { _ = try? qmp.execute("system_powerdown") }
    }

    func requestVMMQuit() {
        if let qmp = try? QMPClient(socketPath: handle.controlSocket, timeout: 2) { _ = try? qmp.execute("quit") }
    }

    var quitGrace: TimeInterval { 5 }
}
