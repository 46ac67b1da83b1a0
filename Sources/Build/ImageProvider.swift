import Dockerfile
import FirebuildCore
import Foundation

/// A base image as the build sees it: a raw ext4 root filesystem and its config.
public struct BaseImage: Sendable, Equatable {
    /// What FROM named (tag or reference), for messages and the parent chain.
    public var reference: String
    public var rootfsPath: String
    public var config: ImageConfig
    /// Changes whenever the image's content may have changed (cache key input).
    public var identity: String

    public init(reference: String, rootfsPath: String, config: ImageConfig, identity: String) {
        self.reference = reference; self.rootfsPath = rootfsPath; self.config = config; self.identity = identity
    }

    /// An identity from the file itself: path, inode, size and modification time (a store
    /// commit renames a new file into place, so any change shows here without hashing GiBs).
    public static func fileIdentity(_ path: String) -> String {
        FileIdentity.of(path) ?? "missing:\(path)"
    }
}

/// Where FROM images come from and where results go: the Store module's tags and ImageService
/// (see StoreImageProvider), or a test double.
public protocol ImageProvider {
    /// A stored tag, else an image reference pulled from its registry; throws `.notFound`.
    func baseImage(_ reference: String, platform: Platform) throws -> BaseImage
    /// Atomically stores `rootfs` (moved) under `tag` with its config and parent chain.
    func commit(rootfs: String, config: ImageConfig, tag: String, parent: BaseImage?, dockerfile: String) throws
    /// Like `commit`, recording `resultKey` (everything the stored result depends on) with the image.
    func commit(rootfs: String, config: ImageConfig, tag: String, parent: BaseImage?, dockerfile: String, resultKey: String) throws
    /// The `resultKey` the image stored under `tag` was committed with, if any.
    func resultKey(of tag: String) -> String?
}

extension ImageProvider {
    public func commit(rootfs: String, config: ImageConfig, tag: String, parent: BaseImage?, dockerfile: String, resultKey: String) throws {
        try commit(rootfs: rootfs, config: config, tag: tag, parent: parent, dockerfile: dockerfile)
    }
    public func resultKey(of tag: String) -> String? { nil }
}

/// The Dockerfile module's platform, named apart from OCI's type of the same name.
public typealias StagePlatform = Platform
