import Dockerfile
import FirebuildCore
import Foundation
import OCI
import Store

/// FROM images and build results through the Store module: a stored tag first, else an image
/// reference pulled from its registry (and stored under its derived tag, so the next build
/// finds it locally). Results are committed atomically under the tag lock with their config,
/// their Dockerfile and their parent chain.
public final class StoreImageProvider: ImageProvider {
    public let storage: StorageConfig
    let images: ImageStore
    let insecureRegistries: [String]

    public init(storage: StorageConfig, insecureRegistries: [String] = []) {
        self.storage = storage
        self.images = ImageStore(config: storage)
        self.insecureRegistries = insecureRegistries
    }

    public func baseImage(_ reference: String, platform: StagePlatform) throws -> BaseImage {
        if let tag = try? ImageTag(parsing: reference), let stored = try images.find(tag) {
            return BaseImage(reference: stored.tag.description, rootfsPath: stored.rootfsPath, config: stored.metadata.config,
                             identity: BaseImage.fileIdentity(stored.rootfsPath))
        }
        guard (try? ImageReference(parsing: reference)) != nil else {
            throw FirebuildError(.notFound, "FROM \(reference): not a stored tag nor an image reference")
        }
        let derived = try ImageTag.derived(fromReference: reference)
        if let stored = try images.find(derived) {
            return BaseImage(reference: reference, rootfsPath: stored.rootfsPath, config: stored.metadata.config,
                             identity: BaseImage.fileIdentity(stored.rootfsPath))
        }
        let service = try ImageService(storage: storage, registry: RegistryClient(insecureRegistries: insecureRegistries))
        let pulled = try service.pull(reference, tag: derived,
                                      options: ImageBuildOptions(platform: try OCI.Platform(parsing: platform.description)))
        return BaseImage(reference: reference, rootfsPath: pulled.rootfsPath, config: pulled.metadata.config,
                         identity: BaseImage.fileIdentity(pulled.rootfsPath))
    }

    public func commit(rootfs: String, config: ImageConfig, tag: String, parent: BaseImage?, dockerfile: String) throws {
        try commit(rootfs: rootfs, config: config, tag: tag, parent: parent, dockerfile: dockerfile, details: nil)
    }

    public func commit(rootfs: String, config: ImageConfig, tag: String, parent: BaseImage?, dockerfile: String, resultKey: String) throws {
        try commit(rootfs: rootfs, config: config, tag: tag, parent: parent, dockerfile: dockerfile,
                   details: [Self.resultKeyDetail: resultKey])
    }

    public func resultKey(of tag: String) -> String? {
        guard let t = try? ImageTag(parsing: tag), let stored = try? images.find(t) else { return nil }
        return stored.metadata.source.details?[Self.resultKeyDetail]
    }

    static let resultKeyDetail = "build-result-key"

    func commit(rootfs: String, config: ImageConfig, tag: String, parent: BaseImage?, dockerfile: String, details: [String: String]?) throws {
        let target = try ImageTag(parsing: tag)
        let metadata = ImageMetadata(config: config, source: ImageOrigin(kind: .dockerfile, dockerfile: dockerfile, details: details),
                                     parents: parent.map { [ParentRef(tag: $0.reference)] } ?? [], platform: "linux/amd64")
        try images.commit(rootfs: rootfs, metadata: metadata, as: target, move: true)
    }
}
