import FirebuildCore
import Foundation

/// Images from files: OCI image-layout folders, `docker save` tarballs (legacy and the OCI
/// layout Docker ≥25 writes) and plain rootfs tarballs. Everything is copied into the
/// content store and verified, so the source file may go away afterwards.
extension ImageResolver {
    // MARK: - OCI image layout folder

    func loadOCILayout(_ path: String, reference: String?, options: ResolveOptions) throws -> ResolvedImage {
        let source = "oci:\(path)\(reference.map { ":\($0)" } ?? "")"
        guard let layoutData = FileManager.default.contents(atPath: path + "/oci-layout") else {
            throw FirebuildError(.notFound, "\(path) is not an OCI image layout: it has no oci-layout file")
        }
        struct Layout: Decodable { var imageLayoutVersion: String }
        _ = try JSONHelpers.decode(Layout.self, layoutData, what: "\(path)/oci-layout")
        guard let indexData = FileManager.default.contents(atPath: path + "/index.json") else {
            throw FirebuildError(.notFound, "\(path) is not an OCI image layout: it has no index.json")
        }
        let index = try JSONHelpers.decode(ImageIndex.self, indexData, what: "\(path)/index.json")
        let chosen = try selectFromLayoutIndex(index, reference: reference, source: source)
        func ingest(_ d: Descriptor) throws {
            let blob = "\(path)/blobs/\(d.digest.algorithm)/\(d.digest.hex)"
            guard FileManager.default.fileExists(atPath: blob) else {
                throw FirebuildError(.notFound, "\(source) lacks blob \(d.digest): \(blob) does not exist")
            }
            try store.ingest(fileAt: blob, expected: d.digest)
        }
        let access = BlobAccess(small: { d in try ingest(d); return try self.store.read(d.digest) },
                                layers: { ds in
                                    for (i, d) in ds.enumerated() {
                                        try ingest(d)
                                        options.progress?(PullProgress(layer: d.digest, index: i, count: ds.count, completed: d.size, total: d.size))
                                    }
                                })
        let top = try access.small(chosen)
        let kind = JSONHelpers.manifestKind(top, contentType: chosen.mediaType) ?? chosen.mediaType
        var image = try resolveManifest(top, digest: chosen.digest, kind: kind, source: source,
                                        platform: options.platform, access: access)
        if let name = chosen.annotations?["io.containerd.image.name"] ?? chosen.annotations?["org.opencontainers.image.ref.name"],
           let ref = try? ImageReference(parsing: name) {
            image.reference = ref
        }
        return image
    }

    // MARK: - docker save tarball

    func loadDockerArchive(_ path: String, reference: String?, options: ResolveOptions) throws -> ResolvedImage {
        let source = "docker-archive:\(path)"
        // One pass over the tar: every regular member goes into the store (hashed on the
        // way); symlinks (legacy <id>/layer.tar → ../<diffid>.tar) are remembered.
        var members: [String: ContentDigest] = [:]
        var links: [String: String] = [:]
        let reader = TarReader(try FileSource(path: path), what: source)
        while let entry = try reader.next() {
            let name = normalizeMember(entry.name)
            switch entry.kind {
            case .file:
                let writer = try store.newWriter()
                var buf = [UInt8](repeating: 0, count: 256 * 1024)
                while true {
                    let n = try buf.withUnsafeMutableBytes { try reader.read(into: $0) }
                    if n == 0 { break }
                    try buf.withUnsafeBytes { try writer.write(UnsafeRawBufferPointer(rebasing: $0[..<n])) }
                }
                members[name] = try writer.commit(source: "\(source) member \(name)")
            case .symlink:
                let dir = (name as NSString).deletingLastPathComponent
                links[name] = normalizeMember(entry.linkName.hasPrefix("/") ? entry.linkName : (dir.isEmpty ? entry.linkName : dir + "/" + entry.linkName))
            case .hardLink:
                links[name] = normalizeMember(entry.linkName)
            default:
                continue
            }
        }
        func member(_ name: String) throws -> ContentDigest {
            var n = normalizeMember(name)
            for _ in 0..<8 {
                if let d = members[n] { return d }
                guard let next = links[n] else { break }
                n = next
            }
            throw FirebuildError(.parse, "\(source): manifest names \"\(name)\", which is not in the archive")
        }

        if let indexDigest = members["index.json"] {
            // Docker ≥25 writes an OCI layout inside the tar: blobs/sha256/<hex>.
            for (name, digest) in members where name.hasPrefix("blobs/sha256/") {
                guard name == "blobs/sha256/\(digest.hex)" else {
                    throw FirebuildError(.digestMismatch, "\(source): \(name) has digest \(digest); the archive is corrupt")
                }
            }
            let index = try JSONHelpers.decode(ImageIndex.self, try store.read(indexDigest), what: "\(source) index.json")
            let chosen = try selectFromLayoutIndex(index, reference: reference, source: source)
            let access = storedAccess(source)
            let top = try access.small(chosen)
            let kind = JSONHelpers.manifestKind(top, contentType: chosen.mediaType) ?? chosen.mediaType
            var image = try resolveManifest(top, digest: chosen.digest, kind: kind, source: source,
                                            platform: options.platform, access: access)
            if let name = chosen.annotations?["io.containerd.image.name"], let ref = try? ImageReference(parsing: name) {
                image.reference = ref
            }
            return image
        }

        guard let manifestDigest = members["manifest.json"] else {
            throw FirebuildError(.parse, "\(path) is not a docker-archive: it has neither manifest.json nor index.json")
        }
        struct Entry: Decodable {
            var Config: String
            var RepoTags: [String]?
            var Layers: [String]
        }
        let entries = try JSONHelpers.decode([Entry].self, try store.read(manifestDigest), what: "\(source) manifest.json")
        let entry: Entry
        if let reference {
            let want = try ImageReference(parsing: reference).description
            guard let hit = entries.first(where: { ($0.RepoTags ?? []).contains { (try? ImageReference(parsing: $0))?.description == want } }) else {
                throw FirebuildError(.notFound, "\(source) has no image tagged \(reference); it has \(entries.flatMap { $0.RepoTags ?? [] }.joined(separator: ", "))")
            }
            entry = hit
        } else {
            guard let first = entries.first else { throw FirebuildError(.parse, "\(source): manifest.json lists no image") }
            guard entries.count == 1 else {
                throw FirebuildError(.invalidArgument, "\(source) holds \(entries.count) images; name one: \(entries.flatMap { $0.RepoTags ?? [] }.joined(separator: ", "))")
            }
            entry = first
        }
        let configDigest = try member(entry.Config)
        var layerDescriptors: [Descriptor] = []
        for layer in entry.Layers {
            let digest = try member(layer)
            let compression = try Compression.wrap(try FileSource(path: store.path(for: digest)), what: layer).1
            let type = switch compression {
            case .none: MediaType.dockerLayerTar
            case .gzip: MediaType.dockerLayerGzip
            case .zstd: MediaType.ociLayerZstd
            }
            layerDescriptors.append(Descriptor(mediaType: type, digest: digest, size: store.size(of: digest) ?? 0))
        }
        // Legacy archives have no registry manifest: synthesise the one a push would create.
        let manifest = ImageManifest(mediaType: MediaType.dockerManifest,
                                     config: Descriptor(mediaType: MediaType.dockerConfig, digest: configDigest,
                                                        size: store.size(of: configDigest) ?? 0),
                                     layers: layerDescriptors)
        let data = try canonicalJSON(manifest)
        let digest = try store.write(data)
        var image = try resolveManifest(data, digest: digest, kind: MediaType.dockerManifest, source: source,
                                        platform: options.platform, access: storedAccess(source))
        image.reference = entry.RepoTags?.first.flatMap { try? ImageReference(parsing: $0) }
        return image
    }

    private func normalizeMember(_ name: String) -> String {
        var parts: [String] = []
        for p in name.split(separator: "/") where p != "." {
            if p == ".." { _ = parts.popLast() } else { parts.append(String(p)) }
        }
        return parts.joined(separator: "/")
    }

    // MARK: - rootfs tarball (image import)

    func importRootfs(_ path: String) throws -> ResolvedImage {
        let source = "tarball:\(path)"
        let layerDigest = try store.ingest(fileAt: path)
        let (plain, compression) = try Compression.wrap(try FileSource(path: store.path(for: layerDigest)), what: source)
        let hashing = HashingSource(plain)
        // Reading it as tar both validates it and walks to the end-of-archive.
        let reader = TarReader(hashing, what: source)
        while try reader.next() != nil {}
        let diffID = try hashing.drainAndFinalize()
        let created = ISO8601DateFormatter().string(from: Date())
        var config = ImageConfigFile(config: ImageConfig(), rootfs: .init(diffIDs: [diffID]),
                                     history: [.init(created: created, createdBy: "firebuild image import", comment: "Imported from \((path as NSString).lastPathComponent)")])
        config.created = created
        let configData = try canonicalJSON(config)
        let configDigest = try store.write(configData)
        let layerType = switch compression {
        case .none: MediaType.ociLayerTar
        case .gzip: MediaType.ociLayerGzip
        case .zstd: MediaType.ociLayerZstd
        }
        let manifest = ImageManifest(config: Descriptor(mediaType: MediaType.ociConfig, digest: configDigest, size: Int64(configData.count)),
                                     layers: [Descriptor(mediaType: layerType, digest: layerDigest, size: store.size(of: layerDigest) ?? 0)])
        let data = try canonicalJSON(manifest)
        let digest = try store.write(data)
        return try resolveManifest(data, digest: digest, kind: MediaType.ociManifest, source: source,
                                   platform: .linuxAMD64, access: storedAccess(source))
    }

    func canonicalJSON<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }
}
