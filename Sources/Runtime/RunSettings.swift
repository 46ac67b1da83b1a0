import FirebuildCore
import Foundation
import VM

/// Where a run finds and keeps everything, resolved from flags, profile and defaults by the
/// CLI or the recipe API before the engine sees it.
public struct RunSettings: Sendable {
    public var runCache: String
    public var rootfsStorageRoot: String
    public var kernelStorageRoot: String
    public var cniConfDir: String
    public var cniBinDirs: [String]
    public var cniCacheDir: String
    /// The namespace the CNI plugins and iptables run in: nil is the host's own (production);
    /// tests and the demo give a sandbox namespace they created.
    public var hostNamespace: String?
    public var vmm: VMMKind
    public var qemuBinary: String
    /// The statically linked guest init; nil = found next to the executable or in the build tree.
    public var guestInitPath: String?

    public init(paths: FirebuildPaths = FirebuildPaths(), rootfsStorageRoot: String? = nil, kernelStorageRoot: String? = nil,
                cniConfDir: String = FirebuildPaths.defaultCNIConfDir, cniBinDirs: [String] = FirebuildPaths.defaultCNIBinDirs,
                cniCacheDir: String = FirebuildPaths.defaultCNICacheDir, hostNamespace: String? = nil,
                vmm: VMMKind = .qemu, qemuBinary: String = "qemu-system-x86_64", guestInitPath: String? = nil) {
        self.runCache = paths.runCache
        self.rootfsStorageRoot = rootfsStorageRoot ?? paths.rootfsStorageRoot
        self.kernelStorageRoot = kernelStorageRoot ?? paths.kernelStorageRoot
        self.cniConfDir = cniConfDir
        self.cniBinDirs = cniBinDirs
        self.cniCacheDir = cniCacheDir
        self.hostNamespace = hostNamespace
        self.vmm = vmm
        self.qemuBinary = qemuBinary
        self.guestInitPath = guestInitPath
    }
}

/// One `firebuild run`, as the original's flags describe it.
public struct RunRequest: Sendable {
    public var from: String
    public var name: String?
    public var hostname: String?
    public var env: [String] = []
    public var envFiles: [String] = []
    public var sshUser: String?
    public var identityFiles: [String] = []
    public var daemonize = false
    public var memMiB = 128
    public var cpus = 1
    public var cniNetworkName: String?
    public var vmlinuxID: String?
    public var kernelArgs: String?
    public var ipAddress: String?
    public var ports: [String] = []
    public var command: [String]?
    /// `--init=image`: boot the image's own /sbin/init (base OS images with sshd).
    public var initImage = false
    public var shutdownTimeout: TimeInterval = 15
    public var bootTimeout: TimeInterval = 120

    public init(from: String) {
        self.from = from
    }
}
