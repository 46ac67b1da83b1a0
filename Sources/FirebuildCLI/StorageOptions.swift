import ArgumentParser
import FirebuildCore
import Foundation
import Store

/// `--storage-provider*` flags (the original's names), shared by image, rootfs and run commands.
public struct StorageOptions: ParsableArguments {
    @Option(name: .customLong("storage-provider"), help: "Storage provider (only \"directory\").")
    public var storageProvider: String?

    @Option(name: .customLong("storage-provider.directory.rootfs-storage-root"), help: "Root of stored root filesystems.")
    public var rootfsStorageRoot: String?

    @Option(name: .customLong("storage-provider.directory.kernel-storage-root"), help: "Root of stored kernels.")
    public var kernelStorageRoot: String?

    @Option(name: .customLong("storage-provider.directory.content-storage-root"), help: "Root of the registry blob store.")
    public var contentStorageRoot: String?

    public init() {}

    /// Copies the given flags into `overrides` (paths made absolute).
    public func apply(to overrides: inout SettingOverrides) {
        overrides.storageProvider = storageProvider
        overrides.rootfsStorageRoot = rootfsStorageRoot.map(absolutePath)
        overrides.kernelStorageRoot = kernelStorageRoot.map(absolutePath)
        overrides.contentStorageRoot = contentStorageRoot.map(absolutePath)
    }
}

/// Makes a user-given path absolute against the working directory.
public func absolutePath(_ path: String) -> String {
    if path.hasPrefix("/") { return path }
    return FileManager.default.currentDirectoryPath + "/" + path
}

extension GlobalOptions {
    /// The profile named by `--profile`, or nil without one.
    public func loadProfile() throws -> Profile? {
        try ProfileStore(directory: absolutePath(profileConfDir)).load(profile)
    }

    /// Flag > profile > default for every profile-controlled setting.
    public func resolveSettings(_ overrides: SettingOverrides = SettingOverrides()) throws -> ResolvedSettings {
        try ProfileResolver(profile: try loadProfile()).resolve(overrides)
    }

    /// The storage configuration after flags, profile and defaults.
    public func resolveStorage(_ storage: StorageOptions) throws -> StorageConfig {
        var overrides = SettingOverrides()
        storage.apply(to: &overrides)
        return try StorageConfig.resolve(flags: overrides, profile: try loadProfile())
    }
}
