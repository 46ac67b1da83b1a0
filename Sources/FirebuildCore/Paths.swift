import Foundation

/// Default locations of firebuild's state. Every one can be overridden by a flag or a profile;
/// `FIREBUILD_HOME` moves them all at once (tests and unprivileged users use it).
public struct FirebuildPaths: Sendable, Equatable {
    /// Root of every default below (`/var/lib/firebuild`, or `$FIREBUILD_HOME`).
    public var home: String
    public init(home: String? = nil) {
        self.home = home ?? ProcessInfo.processInfo.environment["FIREBUILD_HOME"] ?? "/var/lib/firebuild"
    }

    /// The run cache (`--run-cache`): `<run-cache>/runs/<vmm-id>`, `<run-cache>/builds/<id>`.
    public var runCache: String { home }
    public var runsDir: String { home + "/runs" }
    public var buildsDir: String { home + "/builds" }
    /// Directory storage provider roots.
    public var rootfsStorageRoot: String { home + "/rootfs" }
    public var kernelStorageRoot: String { home + "/kernels" }
    /// Content-addressed blobs shared between images (`sha256/<hex>`).
    public var contentStore: String { home + "/content" }
    /// Step cache of builds.
    public var buildCache: String { home + "/cache" }
    /// Lock files for shared state (tags, IPAM, iptables).
    public var locks: String { home + "/locks" }
    /// Profiles (`--profile-conf-dir`).
    public static let defaultProfileConfDir = "/etc/firebuild/profiles"
    /// CNI defaults, as the original had them.
    public static let defaultCNIConfDir = "/etc/cni/conf.d"
    public static let defaultCNIBinDirs = ["/opt/cni/bin", "/usr/lib/cni"]
    public static let defaultCNICacheDir = "/var/lib/cni"
}
