import FirebuildCore
import Foundation
import Logging

/// Turns an `ImageSource` into a `ResolvedImage` whose blobs are all in the content store.
/// This is the entry point for the store and the CLI (`image pull`, `image import`, FROM).
public final class ImageResolver {
    public let store: ContentStore
    public let registry: RegistryClient
    private let logger = makeLogger("oci")

    public init(store: ContentStore, registry: RegistryClient = RegistryClient()) {
        self.store = store
        self.registry = registry
    }

    /// Resolves and applies the image's layers onto `root` (an empty scratch tree the caller
    /// deletes if this throws): registry layers while they download, others from the content
    /// store once resolved.
    public func resolve(_ source: ImageSource, options: ResolveOptions = ResolveOptions(),
                        applyingTo root: String) throws -> ResolvedImage {
        try resolve(source, options: options, treeFor: { _ in root })
    }

    /// The same, with the tree chosen once the layers are known: `treeFor(compressedBytes)`
    /// gets the layers' total blob size (so the caller can pick where a tree that big fits).
    public func resolve(_ source: ImageSource, options: ResolveOptions = ResolveOptions(),
                        treeFor: ((Int64) throws -> String)? = nil) throws -> ResolvedImage {
        try FirebuildTracing.span("oci.resolve", attributes: [FirebuildSpanKey.image: "\(source)"]) { span in
            let image: ResolvedImage
            switch source {
            case .registry(let ref): image = try pull(ref, options: options, treeFor: treeFor)
            case .ociLayout(let path, let reference): image = try loadOCILayout(path, reference: reference, options: options)
            case .dockerArchive(let path, let reference): image = try loadDockerArchive(path, reference: reference, options: options)
            case .rootfsTarball(let path): image = try importRootfs(path)
            }
            if let treeFor, !source.isRegistry {
                let root = try treeFor(image.layers.reduce(0) { $0 + $1.size })
                try LayerApplier.apply(layers: image.layers, to: root)
            }
            span.attributes[FirebuildSpanKey.digest] = image.manifestDigest.description
            return image
        }
    }

    /// Where the manifest, config and layer blobs of one source come from.
    struct BlobAccess {
        /// Brings a blob into the store (verified) and returns its bytes; for manifests and configs.
        var small: (Descriptor) throws -> Data
        /// Brings layer blobs into the store (verified).
        var layers: ([Descriptor]) throws -> Void
        /// When set, used instead of `layers`: brings them in and applies them (with their diffIDs).
        var layersApplying: (([Descriptor], [ContentDigest]) throws -> Void)? = nil
    }

    // MARK: - registry

    func pull(_ ref: ImageReference, options: ResolveOptions, treeFor: ((Int64) throws -> String)? = nil) throws -> ResolvedImage {
        try FirebuildTracing.span("oci.pull", attributes: [FirebuildSpanKey.image: ref.description]) { _ in
            try pullTraced(ref, options: options, treeFor: treeFor)
        }
    }

    private func pullTraced(_ ref: ImageReference, options: ResolveOptions, treeFor: ((Int64) throws -> String)?) throws -> ResolvedImage {
        let start = DispatchTime.now()
        let top = try registry.manifest(ref)
        try store.write(top.data, expected: top.digest)
        logger.debug("fetched manifest", metadata: ["reference": .string(ref.description), "digest": .string(top.digest.description),
                                                    "seconds": .string(LayerStream.seconds(since: start))])
        var access = BlobAccess(
            small: { d in
                if MediaType.isIndex(d.mediaType) || MediaType.isManifest(d.mediaType) {
                    let m = try self.registry.manifest(ref, reference: d.digest.description)
                    try self.store.write(m.data, expected: d.digest)
                    return m.data
                }
                return try self.registry.blobData(ref, d, into: self.store)
            },
            layers: { descriptors in
                let trace = FirebuildTracing.capture()  // downloads run on worker threads
                try parallelForEach(descriptors.count, width: options.maxConcurrentDownloads) { i in
                    let d = descriptors[i]
                    try trace.run {
                        try FirebuildTracing.span("oci.pull.layer", attributes: [FirebuildSpanKey.digest: d.digest.description,
                                                                                  FirebuildSpanKey.layerIndex: i,
                                                                                  FirebuildSpanKey.bytes: Int(d.size)]) { span in
                            span.attributes[FirebuildSpanKey.cached] = self.store.contains(d.digest)
                            let reporter = FirebuildProgress.reporter
                            try self.registry.fetchBlob(ref, d, into: self.store) { done, total in
                                reporter.layer(id: String(d.digest.hex.prefix(12)), done: done, total: total)
                                options.progress?(PullProgress(layer: d.digest, index: i, count: descriptors.count, completed: done, total: total))
                            }
                        }
                    }
                }
            })
        if let treeFor {
            access.layersApplying = { descriptors, diffIDs in
                let root = try treeFor(descriptors.reduce(0) { $0 + $1.size })
                try LayerStream.pullAndApply(registry: self.registry, ref: ref, layers: descriptors, diffIDs: diffIDs,
                                             store: self.store, root: root, options: options)
            }
        }
        var image = try resolveManifest(top.data, digest: top.digest, kind: top.mediaType, source: "docker://\(ref)",
                                        platform: options.platform, access: access)
        image.reference = ref
        return image
    }

    // MARK: - common manifest → image

    func resolveManifest(_ data: Data, digest: ContentDigest, kind: String, source: String, platform: Platform,
                         access: BlobAccess, depth: Int = 0) throws -> ResolvedImage {
        if MediaType.isIndex(kind) {
            guard depth < 2 else { throw FirebuildError(.unsupported, "\(source): image indexes nested too deeply") }
            let index = try JSONHelpers.decode(ImageIndex.self, data, what: "image index \(digest) of \(source)")
            let chosen = try index.select(platform, source: source)
            let childData = try access.small(chosen)
            guard ContentDigest.sha256(childData) == chosen.digest else {
                throw FirebuildError(.digestMismatch, "\(source): manifest \(chosen.digest) has other content")
            }
            let childKind = JSONHelpers.manifestKind(childData, contentType: chosen.mediaType) ?? chosen.mediaType
            var image = try resolveManifest(childData, digest: chosen.digest, kind: childKind, source: source,
                                            platform: platform, access: access, depth: depth + 1)
            image.indexDigest = digest
            return image
        }
        guard MediaType.isManifest(kind) else {
            throw FirebuildError(.unsupported, "\(source): \(kind) is not an image manifest")
        }
        let manifest = try JSONHelpers.decode(ImageManifest.self, data, what: "manifest \(digest) of \(source)")
        let rawConfig = try access.small(manifest.config)
        let configFile = try JSONHelpers.decode(ImageConfigFile.self, rawConfig, what: "image config \(manifest.config.digest) of \(source)")
        for layer in manifest.layers where !MediaType.isLayer(layer.mediaType) {
            throw FirebuildError(.unsupported, "\(source): layer \(layer.digest) has media type \(layer.mediaType), which is not an image layer")
        }
        let diffIDs = configFile.rootfs?.diffIDs ?? []
        guard diffIDs.count == manifest.layers.count else {
            throw FirebuildError(.parse, "\(source): the manifest lists \(manifest.layers.count) layers but the config has \(diffIDs.count) diff_ids")
        }
        let actualPlatform = Platform(os: configFile.os ?? platform.os, architecture: configFile.architecture ?? platform.architecture,
                                      variant: configFile.variant)
        if !platform.matches(actualPlatform) {
            logger.warning("image platform differs from the requested one",
                           metadata: ["image": .string(source), "platform": .string(actualPlatform.description),
                                      "requested": .string(platform.description)])
        }
        if let applying = access.layersApplying {
            try applying(manifest.layers, diffIDs)
        } else {
            try access.layers(manifest.layers)
        }
        let layers = zip(manifest.layers, diffIDs).map { d, diff in
            LayerBlob(digest: d.digest, mediaType: d.mediaType, size: d.size, diffID: diff, path: store.path(for: d.digest))
        }
        return ResolvedImage(reference: nil, source: source, manifestDigest: digest, manifestMediaType: kind,
                             platform: actualPlatform, configDigest: manifest.config.digest,
                             config: configFile.config ?? ImageConfig(), rawConfig: rawConfig, diffIDs: diffIDs,
                             history: configFile.history ?? [], layers: layers, indexDigest: nil)
    }

    /// Blob access for content already ingested into the store (archives): nothing to fetch,
    /// only a check that the blob is really there.
    func storedAccess(_ source: String) -> BlobAccess {
        BlobAccess(
            small: { d in
                guard self.store.contains(d.digest) else {
                    throw FirebuildError(.notFound, "\(source) lacks blob \(d.digest) (\(d.mediaType))")
                }
                return try self.store.read(d.digest)
            },
            layers: { ds in
                for d in ds where !self.store.contains(d.digest) {
                    throw FirebuildError(.notFound, "\(source) lacks layer blob \(d.digest)")
                }
            })
    }

    /// Picks the manifest for `reference` (a tag) from an OCI layout's index.json.
    func selectFromLayoutIndex(_ index: ImageIndex, reference: String?, source: String) throws -> Descriptor {
        let refKey = "org.opencontainers.image.ref.name"
        if let reference {
            let hits = index.manifests.filter { d in
                guard let name = d.annotations?[refKey] ?? d.annotations?["io.containerd.image.name"] else { return false }
                return name == reference || name.hasSuffix(":" + reference) || (try? ImageReference(parsing: name))?.description
                    == (try? ImageReference(parsing: reference))?.description
            }
            guard let first = hits.first else {
                let names = index.manifests.compactMap { $0.annotations?[refKey] }
                throw FirebuildError(.notFound, "\(source) has no image named \"\(reference)\"; it has \(names.isEmpty ? "no named images" : names.joined(separator: ", "))")
            }
            return first
        }
        guard let first = index.manifests.first else { throw FirebuildError(.notFound, "\(source) holds no image (index.json is empty)") }
        if index.manifests.count > 1 {
            let names = index.manifests.compactMap { $0.annotations?[refKey] }
            throw FirebuildError(.invalidArgument, "\(source) holds \(index.manifests.count) images; name one (\(names.joined(separator: ", ")))")
        }
        return first
    }
}
