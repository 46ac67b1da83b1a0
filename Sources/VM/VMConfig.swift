import FirebuildCore
import Foundation

/// Which VMM runs a microVM.
public enum VMMKind: String, Codable, Sendable, CaseIterable {
    case qemu
    case firecracker
}

/// A block device given to the guest.
public struct VMDisk: Codable, Equatable, Sendable {
    public enum Format: String, Codable, Sendable {
        case raw
        case qcow2
    }

    public var path: String
    public var readOnly: Bool
    public var format: Format

    public init(path: String, readOnly: Bool = false, format: Format = .raw) {
        self.path = path
        self.readOnly = readOnly
        self.format = format
    }
}

/// The guest's network card: a tap device on the host (created by the Network module) and its MAC.
public struct VMNetwork: Codable, Equatable, Sendable {
    public var tapName: String
    public var mac: String

    public init(tapName: String, mac: String) {
        self.tapName = tapName
        self.mac = mac
    }
}

/// Guest RAM backed by a file (see VMConfig.memoryFile).
public struct VMMemoryFile: Codable, Equatable, Sendable {
    public var path: String
    public var shared: Bool
    public init(path: String, shared: Bool) { self.path = path; self.shared = shared }
}

/// Everything a driver needs to start one microVM. Paths are host paths; the Firecracker driver
/// links them into its jail itself.
public struct VMConfig: Codable, Equatable, Sendable {
    /// VM id: letters, digits and '-', at most 64 characters (the jailer's rule, applied to both VMMs).
    public var id: String
    /// Kernel to boot: an ELF vmlinux (both VMMs) or a bzImage (QEMU only).
    public var kernelPath: String
    public var initrdPath: String?
    /// Kernel command line as the caller wants it; drivers append only what their VMM needs
    /// (`console=ttyS0`, `tsc_early_khz=` under TCG) when missing.
    public var kernelArgs: String
    public var rootDisk: VMDisk
    public var extraDisks: [VMDisk]
    public var memMiB: Int
    public var vcpus: Int
    public var network: VMNetwork?
    /// Where VMM state lives: sockets, pid file, VMM log. Must exist and be short enough for socket paths.
    public var runDirectory: String
    /// The guest's serial console is written here (default `<runDirectory>/console.log`).
    public var consoleLogPath: String
    /// Host side of the guest channel: QEMU's virtio-serial socket, or Firecracker's vsock uds_path
    /// (default `<runDirectory>/channel.sock`).
    public var channelSocketPath: String
    /// A network namespace (e.g. /var/run/netns/NAME) the VMM runs in, so its tap is found there.
    public var netnsPath: String?
    /// QEMU only: the machine is restored from this state file instead of booted
    /// (`-incoming defer`, then QEMUMachineState.runRestored); every other field must describe
    /// the machine the file was saved from.
    public var incomingState: String?
    /// QEMU only: guest RAM in this file instead of anonymous memory. `shared`: the guest writes
    /// into the file (a VM whose memory is saved as a boot template); otherwise the file is mapped
    /// copy-on-write (a VM restored from it: pages are read when first touched, the file is
    /// never changed).
    public var memoryFile: VMMemoryFile?

    public init(id: String, kernelPath: String, initrdPath: String? = nil, kernelArgs: String = "", rootDisk: VMDisk,
                extraDisks: [VMDisk] = [], memMiB: Int = 512, vcpus: Int = 1, network: VMNetwork? = nil,
                runDirectory: String, consoleLogPath: String? = nil, channelSocketPath: String? = nil, netnsPath: String? = nil) {
        self.id = id
        self.kernelPath = kernelPath
        self.initrdPath = initrdPath
        self.kernelArgs = kernelArgs
        self.rootDisk = rootDisk
        self.extraDisks = extraDisks
        self.memMiB = memMiB
        self.vcpus = vcpus
        self.network = network
        self.runDirectory = runDirectory
        self.consoleLogPath = consoleLogPath ?? runDirectory + "/console.log"
        self.channelSocketPath = channelSocketPath ?? runDirectory + "/channel.sock"
        self.netnsPath = netnsPath
    }

    /// Checks what both drivers rely on, with messages that say how to fix the input.
    public func validate() throws {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")
        guard !id.isEmpty, id.count <= 64, id.allSatisfy({ allowed.contains($0) }) else {
            throw FirebuildError(.invalidArgument, "invalid VM id \"\(id)\": use 1-64 letters, digits or '-'")
        }
        guard memMiB >= 32 else { throw FirebuildError(.invalidArgument, "memory \(memMiB) MiB is too small: give at least 32 MiB") }
        guard (1...32).contains(vcpus) else { throw FirebuildError(.invalidArgument, "vcpus \(vcpus) out of range 1-32") }
        var files: [(String, String)] = [("kernel", kernelPath), ("root disk", rootDisk.path)]
        files += extraDisks.map { ("disk", $0.path) }
        if let initrdPath { files.append(("initrd", initrdPath)) }
        for (what, path) in files where !FileManager.default.fileExists(atPath: path) {
            throw FirebuildError(.notFound, "\(what) \(path) does not exist")
        }
        for socket in [channelSocketPath] where socket.utf8.count > UnixSocket.maxPathLength {
            throw FirebuildError(.invalidArgument, "socket path \(socket) is \(socket.utf8.count) bytes; Unix sockets allow \(UnixSocket.maxPathLength): use a shorter run directory")
        }
        if let network {
            let macOK = network.mac.split(separator: ":").count == 6
                && network.mac.split(separator: ":").allSatisfy { $0.count == 2 && $0.allSatisfy(\.isHexDigit) }
            guard macOK else { throw FirebuildError(.invalidArgument, "invalid MAC address \"\(network.mac)\": expected six hex pairs, e.g. 52:54:00:12:34:56") }
            guard !network.tapName.isEmpty, network.tapName.utf8.count < 16 else {
                throw FirebuildError(.invalidArgument, "invalid tap name \"\(network.tapName)\": 1-15 characters (IFNAMSIZ)")
            }
        }
    }

    /// Appends `key=value` unless the command line already sets `key`.
    /// Both drivers pass `cryptomgr.notests`: the kernel's crypto self-tests (every algorithm
    /// checked against test vectors at registration) took ~0.4 s of a TCG boot (1.33 s → 0.90 s
    /// to init in paired boots; `initcall_debug` showed crypto_algapi_init alone at 205 ms). They
    /// guard against broken implementations, not attacks; FIPS-mode kernels ignore the flag. A
    /// `kernel_args` that already names it wins (`cryptomgr.notests=0` restores the tests).
    public static let skipCryptoSelfTests = "cryptomgr.notests"

    public static func appendingArg(_ args: String, key: String, value: String?) -> String {
        let words = args.split(separator: " ")
        if words.contains(where: { $0 == key || $0.hasPrefix(key + "=") }) { return args }
        let item = value.map { "\(key)=\($0)" } ?? key
        return args.isEmpty ? item : args + " " + item
    }
}

/// A started VM, persisted by the Runtime so a later process can stop it (Codable).
public struct VMHandle: Codable, Equatable, Sendable {
    public var id: String
    public var vmm: VMMKind
    public var pid: Int32
    /// /proc/<pid>/stat start time, so a recycled pid is never mistaken for the VM.
    public var processStartTime: UInt64?
    public var runDirectory: String
    /// QMP socket (QEMU) or REST API socket (Firecracker).
    public var controlSocket: String
    public var consoleLogPath: String
    public var channelSocketPath: String
    public var vmmLogPath: String
    /// `kvm` or `tcg` for QEMU; `kvm` for Firecracker.
    public var accelerator: String
    /// Firecracker only: the jail directory `<chroot-base>/firecracker/<id>` to remove after the VM.
    public var jailDirectory: String?
    public var startedAt: Date
}

public enum VMStatus: Equatable, Sendable {
    /// The guest runs (QEMU answers `running`, or the process lives).
    case running
    /// The VMM lives but the guest is not running (paused, shutting down, prelaunch…).
    case other(String)
    case exited(VMExit)
}

/// How the VMM process ended. `status` is nil when it was not our child (exit code unknown).
public struct VMExit: Equatable, Sendable {
    public var status: Int32?
    public var signal: Int32?
}

public enum StopOutcome: Equatable, Sendable {
    /// The guest shut down within the timeout.
    case graceful
    /// The VMM was told to quit (QMP `quit`) or killed after the timeout.
    case forced
    case alreadyStopped
}

/// One VMM driver. Both drivers share the process handling in `VMProcess`.
public protocol VirtualMachineManager: Sendable {
    var kind: VMMKind { get }
    /// Starts the VM and returns once the VMM is up (its control socket answers); the guest boots on.
    func start(_ config: VMConfig) throws -> VMHandle
    /// An object acting on a running VM, from a handle (possibly from another process).
    func instance(_ handle: VMHandle) -> VMInstance
}

public protocol VMInstance {
    var handle: VMHandle { get }
    func status() -> VMStatus
    /// Graceful: ask the guest to power off and wait up to `timeout`; then (or when not graceful)
    /// tell the VMM to quit, and kill it if it does not. Returns once the process is gone.
    @discardableResult
    func stop(graceful: Bool, timeout: TimeInterval) throws -> StopOutcome
    /// SIGKILL, then wait for the process to be gone.
    func kill() throws
    /// Waits until the VMM exits; nil on timeout.
    func wait(timeout: TimeInterval?) -> VMExit?
}
