import FirebuildCore
import Foundation

/// Where an image's filesystem came from.
public struct ImageSource: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable {
        case registry        // pulled: reference, manifestDigest, platform
        case dockerArchive = "docker-archive"
        case ociLayout = "oci-layout"
        case tarball         // a plain rootfs tarball
        case dockerfile      // built by `firebuild build`/`rootfs --dockerfile`
        case recipe          // built by a Lua recipe
        case directory       // committed from a directory tree
    }

    public var kind: Kind
    /// Registry reference as given (`docker.io/library/alpine:3.19`), or the imported file.
    public var reference: String?
    /// Digest of the manifest that was applied (the platform manifest, not the index).
    public var manifestDigest: ContentDigest?
    /// Digest of the index the platform manifest was picked from, when there was one.
    public var indexDigest: ContentDigest?
    public var configDigest: ContentDigest?
    /// `os/arch[/variant]`.
    public var platform: String?
    /// Blobs of the content store this image was made from (config and layers); `image prune`
    /// keeps every blob some tag lists here.
    public var blobs: [ContentDigest]?
    /// Dockerfile source (path, URL or git address) for built images.
    public var dockerfile: String?
    /// Free-form build facts (build args, stage, recipe name…).
    public var details: [String: String]?

    public init(kind: Kind, reference: String? = nil, manifestDigest: ContentDigest? = nil, indexDigest: ContentDigest? = nil,
                configDigest: ContentDigest? = nil, platform: String? = nil, blobs: [ContentDigest]? = nil,
                dockerfile: String? = nil, details: [String: String]? = nil) {
        self.kind = kind
        self.reference = reference
        self.manifestDigest = manifestDigest
        self.indexDigest = indexDigest
        self.configDigest = configDigest
        self.platform = platform
        self.blobs = blobs
        self.dockerfile = dockerfile
        self.details = details
    }
}

/// One ancestor in an image's parent chain (nearest first).
public struct ParentRef: Codable, Equatable, Sendable {
    public var tag: String?
    public var reference: String?
    public var digest: ContentDigest?

    public init(tag: String? = nil, reference: String? = nil, digest: ContentDigest? = nil) {
        self.tag = tag
        self.reference = reference
        self.digest = digest
    }
}

/// `metadata.json` next to each stored `rootfs`. Keys are camelCase; the image config inside
/// keeps the OCI/Docker field names (`Entrypoint`, `Cmd`, `Env`…), like an OCI config's `config`.
public struct ImageMetadata: Codable, Equatable, Sendable {
    public static let currentSchema = 1

    public var schemaVersion: Int
    /// `rootfs` for application images, `baseos` for base images (as the original distinguished them).
    public var type: String
    /// Filled in by the store on commit.
    public var tag: String
    public var created: Date
    public var config: ImageConfig
    public var source: ImageSource
    /// Parent chain, nearest first (the image this one was built `FROM`, then its parent…).
    public var parents: [ParentRef]
    /// Apparent size of the `rootfs` file in bytes; filled in by the store on commit.
    public var rootfsSize: UInt64
    /// `os/arch[/variant]` of the binaries inside.
    public var platform: String?

    public init(type: String = "rootfs", tag: String = "", created: Date = Date(), config: ImageConfig = ImageConfig(),
                source: ImageSource, parents: [ParentRef] = [], rootfsSize: UInt64 = 0, platform: String? = nil) {
        self.schemaVersion = ImageMetadata.currentSchema
        self.type = type
        self.tag = tag
        // JSON keeps whole seconds (ISO 8601); truncating here makes a stored copy compare equal.
        self.created = Date(timeIntervalSince1970: created.timeIntervalSince1970.rounded(.down))
        self.config = config
        self.source = source
        self.parents = parents
        self.rootfsSize = rootfsSize
        self.platform = platform
    }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .iso8601
        return e
    }()

    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }()

    public func encoded() throws -> Data {
        var data = try ImageMetadata.encoder.encode(self)
        data.append(0x0A)
        return data
    }

    public static func decode(_ data: Data, from path: String) throws -> ImageMetadata {
        do {
            return try decoder.decode(ImageMetadata.self, from: data)
        } catch {
            throw FirebuildError(.parse, "cannot read image metadata \(path): \(error); the image may be from an incompatible firebuild, re-create it")
        }
    }
}
