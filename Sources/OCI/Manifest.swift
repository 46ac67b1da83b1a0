import FirebuildCore
import Foundation

/// Media types of the four manifest kinds and the layer kinds we accept.
public enum MediaType {
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    public static let dockerConfig = "application/vnd.docker.container.image.v1+json"
    public static let ociConfig = "application/vnd.oci.image.config.v1+json"
    public static let dockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    public static let dockerLayerTar = "application/vnd.docker.image.rootfs.diff.tar"
    public static let ociLayerTar = "application/vnd.oci.image.layer.v1.tar"
    public static let ociLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
    public static let ociLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd"

    /// Registry 2.8 answers 404 for an OCI manifest unless the client says it accepts OCI.
    public static let manifestAccept = [ociIndex, ociManifest, dockerManifestList, dockerManifest].joined(separator: ", ")

    public static func isIndex(_ t: String?) -> Bool { t == ociIndex || t == dockerManifestList }
    public static func isManifest(_ t: String?) -> Bool { t == ociManifest || t == dockerManifest }

    /// Layer types we can apply (non-distributable variants included; they are ordinary tars).
    public static func isLayer(_ t: String) -> Bool {
        t.hasPrefix("application/vnd.oci.image.layer.") || t.hasPrefix("application/vnd.docker.image.rootfs.")
    }
}

public struct Platform: Codable, Hashable, Sendable, CustomStringConvertible {
    public var os: String
    public var architecture: String
    public var variant: String?
    public var osVersion: String?

    public init(os: String = "linux", architecture: String = "amd64", variant: String? = nil) {
        self.os = os
        self.architecture = architecture
        self.variant = variant
    }

    enum CodingKeys: String, CodingKey {
        case os, architecture, variant, osVersion = "os.version"
    }

    public static let linuxAMD64 = Platform()

    /// Parses `os/arch[/variant]`, e.g. `linux/arm64/v8`.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/").map(String.init)
        guard (2...3).contains(parts.count), parts.allSatisfy({ !$0.isEmpty }) else {
            throw FirebuildError(.invalidArgument, "invalid platform \"\(text)\": expected os/arch[/variant], e.g. linux/amd64")
        }
        self.init(os: parts[0], architecture: parts[1], variant: parts.count == 3 ? parts[2] : nil)
    }

    public var description: String { [os, architecture, variant].compactMap { $0 }.joined(separator: "/") }

    /// Does an index entry with platform `other` satisfy this request? A requested variant
    /// must match; with none requested, arm64 defaults to v8 and others accept any variant.
    public func matches(_ other: Platform) -> Bool {
        guard os == other.os, architecture == other.architecture else { return false }
        guard let want = variant else { return true }
        let have = other.variant ?? (architecture == "arm64" ? "v8" : nil)
        return have == want
    }
}

public struct Descriptor: Codable, Hashable, Sendable {
    public var mediaType: String
    public var digest: ContentDigest
    public var size: Int64
    public var urls: [String]?
    public var annotations: [String: String]?
    public var platform: Platform?

    public init(mediaType: String, digest: ContentDigest, size: Int64, annotations: [String: String]? = nil,
                platform: Platform? = nil) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.annotations = annotations
        self.platform = platform
    }
}

/// A Docker schema 2 or OCI image manifest (same shape).
public struct ImageManifest: Codable, Sendable {
    public var schemaVersion: Int
    public var mediaType: String?
    public var config: Descriptor
    public var layers: [Descriptor]
    public var annotations: [String: String]?

    public init(mediaType: String? = MediaType.ociManifest, config: Descriptor, layers: [Descriptor]) {
        self.schemaVersion = 2
        self.mediaType = mediaType
        self.config = config
        self.layers = layers
    }
}

/// A Docker manifest list or OCI image index.
public struct ImageIndex: Codable, Sendable {
    public var schemaVersion: Int
    public var mediaType: String?
    public var manifests: [Descriptor]
    public var annotations: [String: String]?

    public init(mediaType: String? = MediaType.ociIndex, manifests: [Descriptor]) {
        self.schemaVersion = 2
        self.mediaType = mediaType
        self.manifests = manifests
    }

    /// Picks the manifest for `platform`; the error lists what the index offers.
    public func select(_ platform: Platform, source: String) throws -> Descriptor {
        let candidates = manifests.filter { MediaType.isManifest($0.mediaType) || $0.platform != nil }
        if let hit = candidates.first(where: { $0.platform.map(platform.matches) ?? false }) { return hit }
        let offered = candidates.compactMap { $0.platform?.description }
        throw FirebuildError(.notFound, "\(source) has no image for platform \(platform); it offers \(offered.isEmpty ? "none" : offered.joined(separator: ", ")); choose one with --platform")
    }
}

/// The image configuration blob (`application/vnd.oci.image.config.v1+json`).
public struct ImageConfigFile: Codable, Sendable {
    public var architecture: String?
    public var os: String?
    public var variant: String?
    public var created: String?
    public var author: String?
    public var config: ImageConfig?
    public var rootfs: RootFS?
    public var history: [History]?

    public struct RootFS: Codable, Sendable {
        public var type: String
        public var diffIDs: [ContentDigest]
        public init(diffIDs: [ContentDigest]) {
            self.type = "layers"
            self.diffIDs = diffIDs
        }
        enum CodingKeys: String, CodingKey { case type, diffIDs = "diff_ids" }
    }

    public struct History: Codable, Sendable, Equatable {
        public var created: String?
        public var createdBy: String?
        public var author: String?
        public var comment: String?
        public var emptyLayer: Bool?
        public init(created: String? = nil, createdBy: String? = nil, comment: String? = nil, emptyLayer: Bool? = nil) {
            self.created = created
            self.createdBy = createdBy
            self.comment = comment
            self.emptyLayer = emptyLayer
        }
        enum CodingKeys: String, CodingKey {
            case created, author, comment, createdBy = "created_by", emptyLayer = "empty_layer"
        }
    }

    public init(architecture: String? = "amd64", os: String? = "linux", config: ImageConfig? = ImageConfig(),
                rootfs: RootFS? = nil, history: [History]? = nil) {
        self.architecture = architecture
        self.os = os
        self.config = config
        self.rootfs = rootfs
        self.history = history
    }
}

enum JSONHelpers {
    static func decode<T: Decodable>(_ type: T.Type, _ data: Data, what: String) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch let e as FirebuildError {
            throw FirebuildError(.parse, "\(what): \(e.message)")
        } catch {
            throw FirebuildError(.parse, "\(what) is not valid: \(describe(error))")
        }
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let ctx):
            return "missing field \(path(ctx.codingPath + [key]))"
        case DecodingError.typeMismatch(_, let ctx), DecodingError.valueNotFound(_, let ctx):
            return "wrong type at \(path(ctx.codingPath)): \(ctx.debugDescription)"
        case DecodingError.dataCorrupted(let ctx):
            return ctx.codingPath.isEmpty ? ctx.debugDescription : "\(path(ctx.codingPath)): \(ctx.debugDescription)"
        default:
            return "\(error)"
        }
    }

    private static func path(_ keys: [CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }

    /// The media type of a manifest document: its own field, else guessed from its shape
    /// (umoci writes OCI manifests without a top-level mediaType).
    static func manifestKind(_ data: Data, contentType: String?) -> String? {
        struct Probe: Decodable { var mediaType: String?; var manifests: [Descriptor]?; var layers: [Descriptor]? }
        let probe = try? JSONDecoder().decode(Probe.self, from: data)
        if let t = probe?.mediaType, MediaType.isIndex(t) || MediaType.isManifest(t) { return t }
        if let ct = contentType?.split(separator: ";").first.map({ $0.trimmingCharacters(in: .whitespaces) }),
           MediaType.isIndex(ct) || MediaType.isManifest(ct) { return ct }
        if probe?.manifests != nil { return MediaType.ociIndex }
        if probe?.layers != nil { return MediaType.ociManifest }
        return nil
    }
}
