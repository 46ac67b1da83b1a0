import FirebuildCore
import Foundation
import Logging
import OCI
import RootFS

/// How an image becomes an ext4 root filesystem in the store.
public struct ImageBuildOptions: Sendable {
    public var size: SizeSpec
    /// Fixed UUID and hash seed derived from the manifest digest (same tree, same bytes).
    public var reproducible: Bool
    public var platform: Platform
    public var progress: (@Sendable (PullProgress) -> Void)?

    public init(size: SizeSpec = .default, reproducible: Bool = false, platform: Platform = .linuxAMD64,
                progress: (@Sendable (PullProgress) -> Void)? = nil) {
        self.size = size
        self.reproducible = reproducible
        self.platform = platform
        self.progress = progress
    }
}

public struct PruneReport: Sendable, Equatable {
    public var removedBlobs: [ContentDigest]
    public var freedBytes: UInt64
    public var removedStaging: Int
}

/// Composes OCI (registry, archives, layers), RootFS (ext4) and the image store:
/// pull REF → content store → all layers into a scratch tree → ext4 → tag with metadata.
public final class ImageService: @unchecked Sendable {
    public let storage: StorageConfig
    public let images: ImageStore
    public let content: ContentStore
    public let resolver: ImageResolver
    private let logger = makeLogger("store")

    public init(storage: StorageConfig, registry: RegistryClient = RegistryClient()) throws {
        self.storage = storage
        images = ImageStore(config: storage)
        content = try ContentStore(root: storage.contentRoot)
        resolver = ImageResolver(store: content, registry: registry)
    }

    /// Pulls can run side by side (shared); prune excludes them (exclusive), so it never deletes
    /// a blob a pull has fetched but not yet committed under a tag.
    var contentLockPath: String { storage.contentRoot + "/.gc.lock" }

    /// Pulls `reference` and stores it as `tag` (derived from the reference when nil).
    @discardableResult
    public func pull(_ reference: String, tag: ImageTag? = nil, options: ImageBuildOptions = ImageBuildOptions()) throws -> StoredImage {
        let ref = try ImageReference(parsing: reference)
        let target = try tag ?? ImageTag.derived(fromReference: reference)
        return try FirebuildTracing.span("image.pull", attributes: [FirebuildSpanKey.image: reference, FirebuildSpanKey.tag: target.description]) { _ in
            try store(.registry(ref), as: target, kind: .registry, reference: ref.description, options: options)
        }
    }

    /// Imports a docker-archive tarball, an OCI layout (directory or tarball) or a plain rootfs
    /// tarball, detected from the content; `docker-archive:`/`oci:`/`tarball:` prefixes force the kind.
    @discardableResult
    public func importImage(_ location: String, tag: ImageTag, options: ImageBuildOptions = ImageBuildOptions()) throws -> StoredImage {
        try FirebuildTracing.span("image.import", attributes: [FirebuildSpanKey.image: location, FirebuildSpanKey.tag: tag.description]) { _ in
            try importTraced(location, tag: tag, options: options)
        }
    }

    private func importTraced(_ location: String, tag: ImageTag, options: ImageBuildOptions) throws -> StoredImage {
        let hasPrefix = ["docker-archive:", "oci:", "tarball:"].contains { location.hasPrefix($0) }
        var scratch: String?
        defer { if let scratch { DirectoryOps.removeTree(scratch) } }
        let source: OCI.ImageSource
        if hasPrefix {
            source = try OCI.ImageSource.parse(location)
        } else {
            guard FileManager.default.fileExists(atPath: location) else {
                throw FirebuildError(.notFound, "cannot import \(location): no such file or directory")
            }
            if DirectoryOps.isDirectory(location) {
                guard FileManager.default.fileExists(atPath: location + "/oci-layout") else {
                    throw FirebuildError(.invalidArgument, "\(location) is a directory but not an OCI image layout (no oci-layout file); pack a root filesystem as a tarball to import it")
                }
                source = .ociLayout(path: location, reference: nil)
            } else {
                let members = try tarMembers(location)
                if members.contains("manifest.json") {
                    source = .dockerArchive(path: location, reference: nil)
                } else if members.contains("oci-layout") {
                    // An OCI layout packed as a tar: unpack it next to the store and read it as a folder.
                    let dir = try images.makeScratchDirectory()
                    scratch = dir
                    try Command("tar", ["-xf", location, "-C", dir]).check()
                    source = .ociLayout(path: dir, reference: nil)
                } else {
                    source = .rootfsTarball(path: location)
                }
            }
        }
        let kind: ImageOrigin.Kind = switch source {
        case .registry: .registry
        case .dockerArchive: .dockerArchive
        case .ociLayout: .ociLayout
        case .rootfsTarball: .tarball
        }
        return try store(source, as: tag, kind: kind, reference: location, options: options)
    }

    private func tarMembers(_ path: String) throws -> Set<String> {
        let out = try Command("tar", ["-tf", path]).check().stdoutString
        return Set(out.split(separator: "\n").map { $0.hasPrefix("./") ? String($0.dropFirst(2)) : String($0) })
    }

    private func store(_ source: OCI.ImageSource, as tag: ImageTag, kind: ImageOrigin.Kind, reference: String,
                       options: ImageBuildOptions) throws -> StoredImage {
        let gc = FileLock(path: contentLockPath)
        try gc.lock(exclusive: false, timeout: 3600)
        defer { gc.unlock() }
        // The layers go straight into a scratch tree (registry layers while they download);
        // on any failure the scratch directories go, so nothing half-applied remains. The
        // ext4 is built in the store's staging (commit is then a rename); the tree goes to
        // tmpfs when it fits (TreeScratch).
        let scratch = try images.makeScratchDirectory()
        var tmpfs: String?
        defer {
            let start = DispatchTime.now()
            if let tmpfs { DirectoryOps.removeTree(tmpfs) }
            DirectoryOps.removeTree(scratch)
            logger.debug("removed scratch tree", metadata: ["seconds": .string(Self.seconds(since: start))])
        }
        var tree = scratch + "/tree"
        let treeFor = { (compressedBytes: Int64) throws -> String in
            tmpfs = TreeScratch.tmpfsDirectory(for: compressedBytes)
            tree = try self.makeTree(in: tmpfs ?? scratch)
            return tree
        }
        let resolveOptions = ResolveOptions(platform: options.platform, progress: options.progress)
        let start = DispatchTime.now()
        let resolved: ResolvedImage
        do {
            resolved = try resolver.resolve(source, options: resolveOptions, treeFor: treeFor)
        } catch where tmpfs != nil && TreeScratch.isNoSpace(error) {
            // The tree outgrew the tmpfs guess. Every blob is in the content store by now,
            // so the second go, on disk, is a local apply.
            logger.info("the tree did not fit in tmpfs; unpacking on disk", metadata: ["tag": "\(tag)"])
            if let dir = tmpfs { DirectoryOps.removeTree(dir) }
            tmpfs = nil
            DirectoryOps.removeTree(scratch + "/tree")
            resolved = try resolver.resolve(source, options: resolveOptions, applyingTo: try makeTree(in: scratch))
            tree = scratch + "/tree"
        }
        logger.debug("fetched and applied layers", metadata: ["tag": "\(tag)", "layers": "\(resolved.layers.count)",
                                                             "tree": .string(tree), "seconds": .string(Self.seconds(since: start))])
        let origin = ImageOrigin(kind: kind, reference: reference, manifestDigest: resolved.manifestDigest,
                                 indexDigest: resolved.indexDigest, configDigest: resolved.configDigest,
                                 platform: resolved.platform.description, blobs: resolved.blobDigests.sorted())
        let metadata = ImageMetadata(config: resolved.config, source: origin, platform: resolved.platform.description)
        let seed = options.reproducible ? resolved.manifestDigest.description : nil
        return try commitTree(tree, metadata: metadata, as: tag, size: options.size, reproducibleSeed: seed, scratch: scratch)
    }

    private func makeTree(in scratch: String) throws -> String {
        let tree = scratch + "/tree"
        try FileManager.default.createDirectory(atPath: tree, withIntermediateDirectories: true)
        chmod(tree, 0o755)  // the image's / gets the tree root's mode
        return tree
    }

    static func seconds(since start: DispatchTime) -> String {
        String(format: "%.3f", Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9)
    }

    /// Applies `layers` bottom-up into a scratch tree, builds the ext4 and commits it as `tag`.
    public func commitLayers(_ layers: [LayerBlob], metadata: ImageMetadata, as tag: ImageTag, size: SizeSpec = .default,
                             reproducibleSeed: String? = nil) throws -> StoredImage {
        let scratch = try images.makeScratchDirectory()
        defer { DirectoryOps.removeTree(scratch) }
        let tree = try makeTree(in: scratch)
        try LayerApplier.apply(layers: layers, to: tree)
        logger.debug("applied layers", metadata: ["tag": "\(tag)", "layers": "\(layers.count)"])
        return try commitTree(tree, metadata: metadata, as: tag, size: size, reproducibleSeed: reproducibleSeed, scratch: scratch)
    }

    /// Builds an ext4 from a prepared directory tree and commits it as `tag` (used by builds
    /// that assemble the tree themselves).
    public func commitTree(_ tree: String, metadata: ImageMetadata, as tag: ImageTag, size: SizeSpec = .default,
                           reproducibleSeed: String? = nil) throws -> StoredImage {
        let scratch = try images.makeScratchDirectory()
        defer { DirectoryOps.removeTree(scratch) }
        return try commitTree(tree, metadata: metadata, as: tag, size: size, reproducibleSeed: reproducibleSeed, scratch: scratch)
    }

    private func commitTree(_ tree: String, metadata: ImageMetadata, as tag: ImageTag, size: SizeSpec,
                            reproducibleSeed: String?, scratch: String) throws -> StoredImage {
        let image = scratch + "/rootfs.ext4"
        let options = Ext4Options(size: size, reproducible: reproducibleSeed.map { Reproducibility(seed: $0) })
        let start = DispatchTime.now()
        try Ext4Builder.build(tree: tree, image: image, options: options)
        let built = DispatchTime.now()
        let stored = try images.commit(rootfs: image, metadata: metadata, as: tag, move: true)
        // One line for the whole tree → stored ext4 stage (bench/images/run.sh reads it).
        logger.debug("stored ext4 from tree", metadata: ["tag": "\(tag)", "seconds": .string(Self.seconds(since: start)),
                                                        "commit_seconds": .string(Self.seconds(since: built))])
        return stored
    }

    /// Deletes content blobs no tag references, and staging left by dead processes.
    public func prune() throws -> PruneReport {
        let gc = FileLock(path: contentLockPath)
        try gc.lock(exclusive: true, timeout: 3600)
        defer { gc.unlock() }
        var keep = Set<ContentDigest>()
        for image in images.list() {
            let o = image.metadata.source
            keep.formUnion(o.blobs ?? [])
            for d in [o.manifestDigest, o.indexDigest, o.configDigest].compactMap({ $0 }) { keep.insert(d) }
        }
        var sizes: [ContentDigest: UInt64] = [:]
        for d in try content.list() where !keep.contains(d) { sizes[d] = UInt64(max(0, content.size(of: d) ?? 0)) }
        let removed = try content.prune(keeping: keep)
        let freed = removed.reduce(UInt64(0)) { $0 + (sizes[$1] ?? 0) }
        let staging = images.cleanStaleStaging()
        logger.info("pruned content store", metadata: ["blobs": "\(removed.count)", "bytes": "\(freed)"])
        return PruneReport(removedBlobs: removed, freedBytes: freed, removedStaging: staging)
    }
}
