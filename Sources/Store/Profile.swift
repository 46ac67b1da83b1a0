import FirebuildCore
import Foundation
import RootFS

/// Saved defaults for commands (`profile-create`). JSON keys are the original's, so its
/// profiles load unchanged; `vmm`, `mem`, `cpu`, `vmlinux-id`, `cni-network-name` and
/// `headroom` are firebuild additions. Every field is optional: absent means "no opinion".
public struct Profile: Codable, Equatable, Sendable {
    public var binaryFirecracker: String?
    public var binaryJailer: String?
    public var chrootBase: String?
    public var runCache: String?
    public var storageProvider: String?
    public var storageStrings: [String: String]?
    public var storageInt64: [String: Int64]?
    public var tracingEnable: Bool?
    public var tracingCollectorHostPort: String?
    public var tracingLogEnable: Bool?
    public var vmm: String?
    public var mem: Int?
    public var cpu: Int?
    public var vmlinuxID: String?
    public var cniNetworkName: String?
    /// Default rootfs headroom (`256` MiB or `25%`).
    public var headroom: String?

    public init(binaryFirecracker: String? = nil, binaryJailer: String? = nil, chrootBase: String? = nil, runCache: String? = nil,
                storageProvider: String? = nil, storageStrings: [String: String]? = nil, storageInt64: [String: Int64]? = nil,
                tracingEnable: Bool? = nil, tracingCollectorHostPort: String? = nil, tracingLogEnable: Bool? = nil,
                vmm: String? = nil, mem: Int? = nil, cpu: Int? = nil, vmlinuxID: String? = nil, cniNetworkName: String? = nil,
                headroom: String? = nil) {
        self.binaryFirecracker = binaryFirecracker
        self.binaryJailer = binaryJailer
        self.chrootBase = chrootBase
        self.runCache = runCache
        self.storageProvider = storageProvider
        self.storageStrings = storageStrings
        self.storageInt64 = storageInt64
        self.tracingEnable = tracingEnable
        self.tracingCollectorHostPort = tracingCollectorHostPort
        self.tracingLogEnable = tracingLogEnable
        self.vmm = vmm
        self.mem = mem
        self.cpu = cpu
        self.vmlinuxID = vmlinuxID
        self.cniNetworkName = cniNetworkName
        self.headroom = headroom
    }

    enum CodingKeys: String, CodingKey {
        case binaryFirecracker = "binary-firecracker", binaryJailer = "binary-jailer", chrootBase = "chroot-base"
        case runCache = "run-cache", storageProvider = "storage-provider"
        case storageStrings = "storage-profile-config-strings", storageInt64 = "storage-profile-config-int64"
        case tracingEnable = "tracing-enable", tracingCollectorHostPort = "tracing-collector-host-port"
        case tracingLogEnable = "tracing-log-enable"
        case vmm, mem, cpu, vmlinuxID = "vmlinux-id", cniNetworkName = "cni-network-name", headroom
    }

    /// Storage property keys the `directory` provider understands.
    public static let storageKeys: Set<String> = ["rootfs-storage-root", "kernel-storage-root", "content-storage-root"]
    public static let knownVMMs: Set<String> = ["qemu", "firecracker"]
    /// The jailer's socket path limit leaves 31 characters for the chroot base (UNIX socket paths
    /// are at most 107 bytes and the jail suffix takes 76).
    public static let chrootBaseMaxLength = 31

    /// Checks every value that is set; the message names the flag to fix.
    public func validate() throws {
        for (flag, path) in [("--binary-firecracker", binaryFirecracker), ("--binary-jailer", binaryJailer)] {
            guard let path else { continue }
            var st = stat()
            guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
                throw FirebuildError(.invalidArgument, "\(flag) \(path) is not an existing regular file")
            }
        }
        if let chrootBase { try Profile.validateChrootBase(chrootBase) }
        if let runCache {
            guard runCache.hasPrefix("/"), runCache != "/" else {
                throw FirebuildError(.invalidArgument, "--run-cache \"\(runCache)\" must be an absolute path other than /")
            }
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: runCache, isDirectory: &isDir), !isDir.boolValue {
                throw FirebuildError(.invalidArgument, "--run-cache \(runCache) exists but is not a directory")
            }
        }
        if let storageProvider, storageProvider != StorageConfig.directoryProvider {
            throw FirebuildError(.invalidArgument, "unknown --storage-provider \"\(storageProvider)\": the only provider is \"directory\"")
        }
        for (key, value) in storageStrings ?? [:] {
            guard Profile.storageKeys.contains(key) else {
                throw FirebuildError(.invalidArgument, "unknown storage property \"\(key)\": known keys are \(Profile.storageKeys.sorted().joined(separator: ", "))")
            }
            guard value.hasPrefix("/"), value != "/" else {
                throw FirebuildError(.invalidArgument, "storage property \(key)=\(value) must be an absolute path other than /")
            }
        }
        if let keys = storageInt64?.keys, let key = keys.sorted().first {
            throw FirebuildError(.invalidArgument, "unknown integer storage property \"\(key)\": the directory provider has none")
        }
        if let hostPort = tracingCollectorHostPort {
            let parts = hostPort.split(separator: ":")
            guard parts.count >= 2, let port = Int(parts.last ?? ""), (1...65535).contains(port) else {
                throw FirebuildError(.invalidArgument, "--tracing-collector-host-port \"\(hostPort)\" must be host:port, e.g. 127.0.0.1:6831")
            }
        }
        if let vmm, !Profile.knownVMMs.contains(vmm) {
            throw FirebuildError(.invalidArgument, "unknown --vmm \"\(vmm)\": use qemu or firecracker")
        }
        if let mem, mem < 32 { throw FirebuildError(.invalidArgument, "--mem \(mem) is too small: a microVM needs at least 32 MiB") }
        if let cpu, !(1...64).contains(cpu) { throw FirebuildError(.invalidArgument, "--cpu \(cpu) must be between 1 and 64") }
        if let headroom { _ = try SizeSpec(headroom: headroom) }
    }

    public static func validateChrootBase(_ path: String) throws {
        guard path.hasPrefix("/"), path != "/" else {
            throw FirebuildError(.invalidArgument, "--chroot-base \"\(path)\" must be an absolute path other than /")
        }
        guard path.utf8.count <= chrootBaseMaxLength else {
            throw FirebuildError(.invalidArgument,
                "--chroot-base \(path) is \(path.utf8.count) characters; at most \(chrootBaseMaxLength) fit, because the jailer's API socket path (chroot base + 76 characters) must stay under the 107-byte UNIX socket limit. Use a shorter path such as /srv/jailer")
        }
    }
}
