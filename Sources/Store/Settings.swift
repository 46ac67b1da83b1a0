import FirebuildCore
import Foundation
import RootFS

/// Where a resolved value came from; `profile-inspect` and `--log-level debug` show it.
public enum SettingSource: String, Sendable, Codable {
    case flag, profile, `default`
}

/// A value plus its origin.
public struct Setting<T: Sendable>: Sendable {
    public let value: T
    public let source: SettingSource

    public init(_ value: T, _ source: SettingSource) {
        self.value = value
        self.source = source
    }

    /// The one precedence rule, as the original documented it (its code did the opposite):
    /// a flag given on the command line wins, then the profile, then the built-in default.
    public static func resolve(flag: T?, profile: T?, default fallback: @autoclosure () -> T) -> Setting<T> {
        if let flag { return Setting(flag, .flag) }
        if let profile { return Setting(profile, .profile) }
        return Setting(fallback(), .default)
    }
}

/// Values given on the command line; nil means "flag not given".
public struct SettingOverrides: Sendable, Equatable {
    public var binaryFirecracker: String?
    public var binaryJailer: String?
    public var chrootBase: String?
    public var runCache: String?
    public var storageProvider: String?
    public var rootfsStorageRoot: String?
    public var kernelStorageRoot: String?
    public var contentStorageRoot: String?
    public var tracingEnable: Bool?
    public var tracingCollectorHostPort: String?
    public var tracingLogEnable: Bool?
    public var vmm: String?
    public var mem: Int?
    public var cpu: Int?
    public var vmlinuxID: String?
    public var cniNetworkName: String?
    public var headroom: String?

    public init() {}
}

/// Every profile-controlled setting, resolved.
public struct ResolvedSettings: Sendable {
    public var binaryFirecracker: Setting<String?>
    public var binaryJailer: Setting<String?>
    public var chrootBase: Setting<String>
    public var runCache: Setting<String>
    public var storage: StorageConfig
    public var tracingEnable: Setting<Bool>
    public var tracingCollectorHostPort: Setting<String>
    public var tracingLogEnable: Setting<Bool>
    public var vmm: Setting<String>
    public var mem: Setting<Int>
    public var cpu: Setting<Int>
    public var vmlinuxID: Setting<String?>
    public var cniNetworkName: Setting<String?>
    public var headroom: Setting<SizeSpec>
}

/// Applies flag > profile > default to every setting and validates the result.
public struct ProfileResolver: Sendable {
    public static let defaultChrootBase = "/srv/jailer"
    public static let defaultTracingCollector = "127.0.0.1:6831"
    public static let defaultVMM = "qemu"
    public static let defaultMem = 128
    public static let defaultCPU = 1

    public var profile: Profile?
    public var paths: FirebuildPaths

    public init(profile: Profile?, paths: FirebuildPaths = FirebuildPaths()) {
        self.profile = profile
        self.paths = paths
    }

    public func resolve(_ flags: SettingOverrides = SettingOverrides()) throws -> ResolvedSettings {
        let p = profile ?? Profile()
        // Optional-valued settings: wrap so "profile has no value" and "value is nil" stay distinct.
        func optional(_ flag: String?, _ prof: String?) -> Setting<String?> {
            let s = Setting<String>.resolve(flag: flag, profile: prof, default: "")
            return Setting<String?>(s.source == .default ? nil : s.value, s.source)
        }
        let headroomText = Setting<String>.resolve(flag: flags.headroom, profile: p.headroom, default: "")
        let headroom = headroomText.source == .default
            ? Setting(SizeSpec.default, .default) : Setting(try SizeSpec(headroom: headroomText.value), headroomText.source)
        let resolved = ResolvedSettings(
            binaryFirecracker: optional(flags.binaryFirecracker, p.binaryFirecracker),
            binaryJailer: optional(flags.binaryJailer, p.binaryJailer),
            chrootBase: .resolve(flag: flags.chrootBase, profile: p.chrootBase, default: ProfileResolver.defaultChrootBase),
            runCache: .resolve(flag: flags.runCache, profile: p.runCache, default: paths.runCache),
            storage: try StorageConfig.resolve(flags: flags, profile: p, paths: paths),
            tracingEnable: .resolve(flag: flags.tracingEnable, profile: p.tracingEnable, default: false),
            tracingCollectorHostPort: .resolve(flag: flags.tracingCollectorHostPort, profile: p.tracingCollectorHostPort,
                                               default: ProfileResolver.defaultTracingCollector),
            tracingLogEnable: .resolve(flag: flags.tracingLogEnable, profile: p.tracingLogEnable, default: false),
            vmm: .resolve(flag: flags.vmm, profile: p.vmm, default: ProfileResolver.defaultVMM),
            mem: .resolve(flag: flags.mem, profile: p.mem, default: ProfileResolver.defaultMem),
            cpu: .resolve(flag: flags.cpu, profile: p.cpu, default: ProfileResolver.defaultCPU),
            vmlinuxID: optional(flags.vmlinuxID, p.vmlinuxID),
            cniNetworkName: optional(flags.cniNetworkName, p.cniNetworkName),
            headroom: headroom)
        // The effective values must be valid whichever layer they came from.
        try Profile(chrootBase: resolved.chrootBase.value, runCache: resolved.runCache.value,
                    tracingCollectorHostPort: resolved.tracingCollectorHostPort.value, vmm: resolved.vmm.value,
                    mem: resolved.mem.value, cpu: resolved.cpu.value).validate()
        return resolved
    }
}

/// Where the `directory` provider keeps things.
public struct StorageConfig: Equatable, Sendable, Codable {
    public static let directoryProvider = "directory"

    public var provider: String
    /// `<rootfsRoot>/<org>/<name>/<version>/{rootfs,metadata.json}`
    public var rootfsRoot: String
    /// `<kernelRoot>/<id>`
    public var kernelRoot: String
    /// `<contentRoot>/sha256/<hex>`: registry blobs shared between images.
    public var contentRoot: String

    public init(provider: String = StorageConfig.directoryProvider, rootfsRoot: String, kernelRoot: String, contentRoot: String) {
        self.provider = provider
        self.rootfsRoot = rootfsRoot
        self.kernelRoot = kernelRoot
        self.contentRoot = contentRoot
    }

    /// The defaults under FirebuildPaths (`/var/lib/firebuild` or `$FIREBUILD_HOME`).
    public init(paths: FirebuildPaths = FirebuildPaths()) {
        self.init(rootfsRoot: paths.rootfsStorageRoot, kernelRoot: paths.kernelStorageRoot, contentRoot: paths.contentStore)
    }

    /// Flag (`--storage-provider.directory.*`), then profile storage properties, then defaults.
    public static func resolve(flags: SettingOverrides, profile: Profile?, paths: FirebuildPaths = FirebuildPaths()) throws -> StorageConfig {
        let strings = profile?.storageStrings ?? [:]
        let provider = Setting.resolve(flag: flags.storageProvider, profile: profile?.storageProvider, default: directoryProvider).value
        guard provider == directoryProvider else {
            throw FirebuildError(.invalidArgument, "unknown storage provider \"\(provider)\": the only provider is \"directory\"")
        }
        let config = StorageConfig(
            provider: provider,
            rootfsRoot: Setting.resolve(flag: flags.rootfsStorageRoot, profile: strings["rootfs-storage-root"], default: paths.rootfsStorageRoot).value,
            kernelRoot: Setting.resolve(flag: flags.kernelStorageRoot, profile: strings["kernel-storage-root"], default: paths.kernelStorageRoot).value,
            contentRoot: Setting.resolve(flag: flags.contentStorageRoot, profile: strings["content-storage-root"], default: paths.contentStore).value)
        for (name, path) in [("rootfs-storage-root", config.rootfsRoot), ("kernel-storage-root", config.kernelRoot),
                             ("content-storage-root", config.contentRoot)] {
            guard path.hasPrefix("/"), path != "/" else {
                throw FirebuildError(.invalidArgument, "storage \(name) \"\(path)\" must be an absolute path other than /")
            }
        }
        return config
    }
}
