import FirebuildCore
import Foundation
import Logging

/// Firecracker started by its jailer: the kernel, initrd and disks are hard-linked (copied across
/// filesystems) into `<chroot-base>/<firecracker binary name>/<id>/root/`, the jailer chroots, joins
/// the netns and drops privileges, and the VM is configured over the REST API socket in the jail.
public struct FirecrackerDriver: VirtualMachineManager {
    public var kind: VMMKind { .firecracker }

    public struct Options: Codable, Equatable, Sendable {
        public var firecrackerBinary: String
        public var jailerBinary: String
        public var chrootBase: String
        public var uid: UInt32
        public var gid: UInt32
        public var cgroupVersion: Int
        /// Cgroup under which the jailer creates `<id>`; nil keeps the jailer's default (the exec file name).
        public var parentCgroup: String?
        /// Limit CPU (cpu.max) to the VM's vCPUs and memory (memory.max) to guest memory + overhead.
        public var limitResources: Bool
        public var memoryOverheadMiB: Int
        public var daemonize: Bool

        public init(firecrackerBinary: String, jailerBinary: String, chrootBase: String = "/srv/jailer", uid: UInt32 = 0,
                    gid: UInt32 = 0, cgroupVersion: Int = 2, parentCgroup: String? = nil, limitResources: Bool = true,
                    memoryOverheadMiB: Int = 64, daemonize: Bool = true) {
            self.firecrackerBinary = firecrackerBinary
            self.jailerBinary = jailerBinary
            self.chrootBase = chrootBase
            self.uid = uid
            self.gid = gid
            self.cgroupVersion = cgroupVersion
            self.parentCgroup = parentCgroup
            self.limitResources = limitResources
            self.memoryOverheadMiB = memoryOverheadMiB
            self.daemonize = daemonize
        }
    }

    /// The chroot base limit. A Unix socket path holds 107 bytes; the API socket lives at
    /// `<chroot-base>/<binary name>/<id>/root/run/firecracker.socket`. With a versioned binary name
    /// (`firecracker-v1.10.1-x86_64`, 26) and a 20-character VM id, the part after the base is
    /// 1 + 26 + 1 + 20 + 29 (`/root/run/firecracker.socket`) = 77 bytes, leaving 30; 31 is the
    /// documented limit (the original tool's) and the exact path is checked as well.
    public static let chrootBaseMaxLength = 31
    public static let apiSocketInJail = "/run/firecracker.socket"
    public static let vsockInJail = "/run/vsock.sock"
    public static let consoleInJail = "/console.log"

    public var options: Options
    public var transport: FirecrackerTransport

    public init(options: Options, transport: FirecrackerTransport = CurlFirecrackerTransport()) {
        self.options = options
        self.transport = transport
    }

    public var execName: String { (options.firecrackerBinary as NSString).lastPathComponent }
    public func jailDirectory(id: String) -> String { "\(options.chrootBase)/\(execName)/\(id)" }
    public func jailRoot(id: String) -> String { jailDirectory(id: id) + "/root" }
    public func apiSocketPath(id: String) -> String { jailRoot(id: id) + Self.apiSocketInJail }

    /// Checks the chroot base and the socket path lengths, saying what to change.
    public func validateJail(id: String) throws {
        let base = options.chrootBase
        guard base.hasPrefix("/"), base != "/" else {
            throw FirebuildError(.invalidArgument, "chroot base \"\(base)\" must be an absolute directory other than /, e.g. /srv/jailer")
        }
        guard base.utf8.count <= Self.chrootBaseMaxLength else {
            throw FirebuildError(.invalidArgument, """
                chroot base \(base) is \(base.utf8.count) characters; at most \(Self.chrootBaseMaxLength) are allowed. \
                Firecracker's API socket is <chroot-base>/<firecracker binary>/<vm id>/root/run/firecracker.socket and a Unix \
                socket path holds at most 107 bytes; the part after the base takes about 76 (binary name ~26, id 20), \
                which leaves 31. Use a shorter --chroot-base such as /srv/jailer.
                """)
        }
        let socket = apiSocketPath(id: id)
        guard socket.utf8.count <= UnixSocket.maxPathLength else {
            throw FirebuildError(.invalidArgument, "the Firecracker API socket path \(socket) is \(socket.utf8.count) bytes, over the 107-byte Unix socket limit: shorten the chroot base, the firecracker binary name or the VM id")
        }
    }

    /// The kernel command line with what Firecracker guests need: serial console, reboot through the
    /// keyboard controller (Firecracker exits on it), no PCI probing.
    public func kernelCommandLine(_ config: VMConfig) -> String {
        var args = VMConfig.appendingArg(config.kernelArgs, key: "console", value: "ttyS0")
        args = VMConfig.appendingArg(args, key: "reboot", value: "k")
        args = VMConfig.appendingArg(args, key: "panic", value: "1")
        args = VMConfig.appendingArg(args, key: "pci", value: "off")
        args = VMConfig.appendingArg(args, key: VMConfig.skipCryptoSelfTests, value: nil)
        // The guest init opens vsock and listens, unless the caller chose another channel setup.
        if !args.split(separator: " ").contains(where: { $0.hasPrefix("firebuild.channel=") }) {
            for (k, v) in GuestChannel.kernelParameters(for: .firecracker) { args = VMConfig.appendingArg(args, key: k, value: v) }
        }
        return args
    }

    /// The jailer argv (pure, tested exactly).
    public func jailerArguments(_ config: VMConfig) -> [String] {
        var a = [options.jailerBinary, "--id", config.id, "--exec-file", options.firecrackerBinary,
                 "--uid", String(options.uid), "--gid", String(options.gid),
                 "--chroot-base-dir", options.chrootBase, "--cgroup-version", String(options.cgroupVersion)]
        if let parent = options.parentCgroup { a += ["--parent-cgroup", parent] }
        if options.limitResources {
            if options.cgroupVersion == 2 {
                a += ["--cgroup", "cpu.max=\(config.vcpus * 100_000) 100000",
                      "--cgroup", "memory.max=\((config.memMiB + options.memoryOverheadMiB) << 20)"]
            } else {
                a += ["--cgroup", "cpu.cfs_period_us=100000", "--cgroup", "cpu.cfs_quota_us=\(config.vcpus * 100_000)",
                      "--cgroup", "memory.limit_in_bytes=\((config.memMiB + options.memoryOverheadMiB) << 20)"]
            }
        }
        if let netns = config.netnsPath { a += ["--netns", netns] }
        if options.daemonize { a.append("--daemonize") }
        a += ["--", "--api-sock", Self.apiSocketInJail]
        return a
    }

    /// The API calls that configure and boot the VM, in order, with jail-relative paths.
    public func configurationRequests(_ config: VMConfig, jailed: JailedFiles) throws -> [FirecrackerAPI.Request] {
        typealias API = FirecrackerAPI
        var r: [API.Request] = []
        r.append(try .put("/machine-config", API.MachineConfiguration(vcpuCount: config.vcpus, memSizeMiB: config.memMiB, smt: false),
                          definition: "MachineConfiguration"))
        r.append(try .put("/boot-source", API.BootSource(kernelImagePath: jailed.kernel, bootArgs: kernelCommandLine(config),
                                                        initrdPath: jailed.initrd), definition: "BootSource"))
        for (i, disk) in jailed.disks.enumerated() {
            let id = i == 0 ? "rootfs" : "disk\(i)"
            let readOnly = i == 0 ? config.rootDisk.readOnly : config.extraDisks[i - 1].readOnly
            r.append(try .put("/drives/\(id)", API.Drive(driveID: id, pathOnHost: disk, isRootDevice: false, isReadOnly: readOnly,
                                                         cacheType: "Unsafe", ioEngine: "Sync"), definition: "Drive"))
        }
        if let net = config.network {
            r.append(try .put("/network-interfaces/eth0", API.NetworkInterface(ifaceID: "eth0", hostDevName: net.tapName, guestMAC: net.mac),
                              definition: "NetworkInterface"))
        }
        r.append(try .put("/vsock", API.Vsock(guestCID: GuestChannel.defaultGuestCID, udsPath: Self.vsockInJail), definition: "Vsock"))
        r.append(try .put("/serial", API.SerialDevice(serialOutPath: Self.consoleInJail), definition: "SerialDevice"))
        r.append(try .put("/actions", API.InstanceActionInfo(actionType: .instanceStart), definition: "InstanceActionInfo"))
        return r
    }

    /// Paths of the VM's files as Firecracker sees them inside the jail.
    public struct JailedFiles: Equatable, Sendable {
        public var kernel: String
        public var initrd: String?
        public var disks: [String]
    }

    /// Hard-links (or, across filesystems, copies) the files into the jail root.
    public func populateJail(_ config: VMConfig) throws -> JailedFiles {
        let root = jailRoot(id: config.id)
        let fm = FileManager.default
        try fm.createDirectory(atPath: root + "/run", withIntermediateDirectories: true)
        func place(_ host: String, as name: String) throws -> String {
            let dest = root + "/" + name
            unlink(dest)
            if link(host, dest) != 0 {
                guard errno == EXDEV || errno == EPERM else { throw FirebuildError.posix("link \(host) to", path: dest) }
                try Command("cp", ["--reflink=auto", "--sparse=always", host, dest]).check()
            }
            if options.uid != 0 || options.gid != 0 { chown(dest, options.uid, options.gid) }
            return "/" + name
        }
        let kernel = try place(config.kernelPath, as: "vmlinux")
        let initrd = try config.initrdPath.map { try place($0, as: "initrd.img") }
        var disks = [try place(config.rootDisk.path, as: "rootfs.ext4")]
        for (i, d) in config.extraDisks.enumerated() { disks.append(try place(d.path, as: "disk\(i + 1).img")) }
        if options.uid != 0 || options.gid != 0 { chown(root + "/run", options.uid, options.gid) }
        return JailedFiles(kernel: kernel, initrd: initrd, disks: disks)
    }

    public func start(_ config: VMConfig) throws -> VMHandle {
        try FirebuildTracing.span("vm.boot", attributes: [FirebuildSpanKey.vmID: config.id, FirebuildSpanKey.program: "firecracker"]) { _ in
            try startTraced(config)
        }
    }

    private func startTraced(_ config: VMConfig) throws -> VMHandle {
        try config.validate()
        guard config.incomingState == nil, config.memoryFile == nil else {
            throw FirebuildError(.unsupported, "restoring a saved VM state is implemented for QEMU only; boot the VM instead")
        }
        try validateJail(id: config.id)
        guard config.rootDisk.format == .raw, config.extraDisks.allSatisfy({ $0.format == .raw }) else {
            throw FirebuildError(.unsupported, "Firecracker takes raw disk images only; clone with DiskCloner for .firecracker")
        }
        for bin in [options.jailerBinary, options.firecrackerBinary] where Command.which(bin) == nil {
            throw FirebuildError(.notFound, "\(bin) not found: install Firecracker and its jailer, or use --vmm qemu")
        }
        let logger = makeLogger("vm")
        let jailDir = jailDirectory(id: config.id)
        if FileManager.default.fileExists(atPath: jailDir + "/root/firecracker.pid") || FileManager.default.fileExists(atPath: apiSocketPath(id: config.id)) {
            throw FirebuildError(.alreadyExists, "jail \(jailDir) is in use or left over; stop VM \(config.id) or remove the directory")
        }
        try FileManager.default.createDirectory(atPath: config.runDirectory, withIntermediateDirectories: true)
        let jailed = try populateJail(config)
        let vmmLog = config.runDirectory + "/jailer.log"
        let pid = try VMProcess.spawn(jailerArguments(config), logPath: vmmLog)
        let startTime = VMProcess.startTime(pid)
        let socket = apiSocketPath(id: config.id)
        do {
            try waitForAPI(socket: socket, pid: pid, startTime: startTime, log: vmmLog)
            for request in try configurationRequests(config, jailed: jailed) {
                try transport.call(request, socketPath: socket)
            }
        } catch {
            try? VMProcess.kill(pid: pid, startTime: startTime)
            throw error
        }
        let root = jailRoot(id: config.id)
        logger.info("VM started", metadata: ["vm": .string(config.id), "pid": "\(pid)", "jail": .string(jailDir)])
        return VMHandle(id: config.id, vmm: .firecracker, pid: pid, processStartTime: startTime, runDirectory: config.runDirectory,
                        controlSocket: socket, consoleLogPath: root + Self.consoleInJail, channelSocketPath: root + Self.vsockInJail,
                        vmmLogPath: vmmLog, accelerator: "kvm", jailDirectory: jailDir, startedAt: Date())
    }

    func waitForAPI(socket: String, pid: Int32, startTime: UInt64?, log: String, timeout: TimeInterval = 10) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let fd = try? UnixSocket.connect(socket, timeout: 0.05) {
                close(fd)
                return
            }
            // With --daemonize the jailer execs Firecracker in place, so the pid stays the VMM's.
            if let exit = VMProcess.exitStatus(pid: pid, startTime: startTime), !options.daemonize || exit.status != 0 {
                throw FirebuildError(.subprocess, "jailer/firecracker exited before creating the API socket: \(VMProcess.tail(log))")
            }
            usleep(20_000)
        }
        throw FirebuildError(.timeout, "Firecracker did not create its API socket \(socket) within \(Int(timeout)) s: \(VMProcess.tail(log))")
    }

    public func instance(_ handle: VMHandle) -> VMInstance { FirecrackerInstance(handle: handle, transport: transport) }
}

public struct FirecrackerInstance: ProcessBackedInstance {
    public let handle: VMHandle
    public var transport: FirecrackerTransport

    public func status() -> VMStatus {
        if let exit { return .exited(exit) }
        guard let response = try? transport.call(FirecrackerAPI.Request(method: "GET", path: "/", body: nil, definition: nil),
                                                 socketPath: handle.controlSocket),
              let info = try? JSONSerialization.jsonObject(with: response.body) as? [String: Any],
              let state = info["state"] as? String else { return .other("unresponsive") }
        return state == "Running" ? .running : .other(state)
    }

    /// Ctrl-Alt-Del through the emulated i8042; with reboot=k the guest's reboot ends Firecracker.
    func requestGuestPowerOff() {
        _ = try? transport.call(try .put("/actions", FirecrackerAPI.InstanceActionInfo(actionType: .sendCtrlAltDel),
                                         definition: "InstanceActionInfo"), socketPath: handle.controlSocket)
    }

    func requestVMMQuit() { Glibc.kill(handle.pid, SIGTERM) }

    var quitGrace: TimeInterval { 3 }

    /// Removes the jail once the VM is gone (the jailer leaves it behind by design).
    public func removeJail() throws {
        guard exit != nil else { throw FirebuildError(.conflict, "VM \(handle.id) still runs; stop it before removing its jail") }
        if let dir = handle.jailDirectory { try? FileManager.default.removeItem(atPath: dir) }
    }
}
