import FirebuildCore
import Foundation

/// One layer of a resolved image, already in the content store.
public struct LayerBlob: Sendable, Equatable {
    /// Digest of the blob as stored (compressed for registry layers).
    public var digest: ContentDigest
    public var mediaType: String
    public var size: Int64
    /// Digest of the uncompressed tar (from the config's rootfs.diff_ids), checked on apply.
    public var diffID: ContentDigest?
    /// Path of the blob in the content store.
    public var path: String

    public init(digest: ContentDigest, mediaType: String, size: Int64, diffID: ContentDigest?, path: String) {
        self.digest = digest
        self.mediaType = mediaType
        self.size = size
        self.diffID = diffID
        self.path = path
    }
}

/// An image whose manifest, config and layers are all in the content store.
public struct ResolvedImage: Sendable {
    /// The reference it came from (registry pulls, docker-archive RepoTags); nil for imports.
    public var reference: ImageReference?
    /// Where it came from, for messages and metadata (`docker://…`, `oci:/path:tag`, …).
    public var source: String
    public var manifestDigest: ContentDigest
    public var manifestMediaType: String
    public var platform: Platform
    public var configDigest: ContentDigest
    /// The `config` object of the image config (Env, Cmd, Entrypoint, …).
    public var config: ImageConfig
    /// The whole image config JSON as stored.
    public var rawConfig: Data
    public var diffIDs: [ContentDigest]
    public var history: [ImageConfigFile.History]
    public var layers: [LayerBlob]

    /// Every blob this image needs: what `ContentStore.prune(keeping:)` must keep.
    public var blobDigests: Set<ContentDigest> {
        var set: Set<ContentDigest> = [manifestDigest, configDigest]
        for layer in layers { set.insert(layer.digest) }
        if let index = indexDigest { set.insert(index) }
        return set
    }

    /// The index (manifest list) the manifest was selected from, when there was one.
    public var indexDigest: ContentDigest?
}

/// Per-layer byte progress, for the CLI to render.
public struct PullProgress: Sendable, Equatable {
    public var layer: ContentDigest
    public var index: Int
    public var count: Int
    public var completed: Int64
    public var total: Int64
}

/// Where an image comes from.
public enum ImageSource: Sendable, Equatable, CustomStringConvertible {
    case registry(ImageReference)
    /// A `docker save` (or `skopeo copy … docker-archive:`) tarball; optional tag to pick.
    case dockerArchive(path: String, reference: String?)
    /// An OCI image-layout folder; optional `org.opencontainers.image.ref.name` to pick.
    case ociLayout(path: String, reference: String?)
    /// A plain root filesystem tarball (`image import`, like `docker import`): one layer.
    case rootfsTarball(path: String)

    /// Parses transport-prefixed names as skopeo writes them: `docker://REF`,
    /// `docker-archive:PATH[:REF]`, `oci:PATH[:TAG]`, `tarball:PATH`; anything else is a registry reference.
    public static func parse(_ text: String) throws -> ImageSource {
        func split(_ rest: String) -> (String, String?) {
            // The path may itself contain ':'; take the longest prefix that exists.
            if FileManager.default.fileExists(atPath: rest) { return (rest, nil) }
            var idx = rest.endIndex
            while let colon = rest[..<idx].lastIndex(of: ":") {
                let path = String(rest[..<colon])
                if FileManager.default.fileExists(atPath: path) { return (path, String(rest[rest.index(after: colon)...])) }
                idx = colon
            }
            return (rest, nil)
        }
        if text.hasPrefix("docker://") { return .registry(try ImageReference(parsing: String(text.dropFirst(9)))) }
        if text.hasPrefix("docker-archive:") {
            let (p, r) = split(String(text.dropFirst("docker-archive:".count)))
            return .dockerArchive(path: p, reference: r)
        }
        if text.hasPrefix("oci:") {
            let (p, r) = split(String(text.dropFirst(4)))
            return .ociLayout(path: p, reference: r)
        }
        if text.hasPrefix("tarball:") { return .rootfsTarball(path: String(text.dropFirst(8))) }
        return .registry(try ImageReference(parsing: text))
    }

    var isRegistry: Bool {
        if case .registry = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .registry(let r): return "docker://\(r)"
        case .dockerArchive(let p, let r): return "docker-archive:\(p)\(r.map { ":\($0)" } ?? "")"
        case .ociLayout(let p, let r): return "oci:\(p)\(r.map { ":\($0)" } ?? "")"
        case .rootfsTarball(let p): return "tarball:\(p)"
        }
    }
}

public struct ResolveOptions: Sendable {
    public var platform: Platform
    public var maxConcurrentDownloads: Int
    public var progress: (@Sendable (PullProgress) -> Void)?

    public init(platform: Platform = .linuxAMD64, maxConcurrentDownloads: Int = 3,
                progress: (@Sendable (PullProgress) -> Void)? = nil) {
        self.platform = platform
        self.maxConcurrentDownloads = maxConcurrentDownloads
        self.progress = progress
    }
}

/// Runs `body(i)` for 0..<count on up to `width` threads; the first error stops new work
/// and is rethrown after all threads finish.
func parallelForEach(_ count: Int, width: Int, _ body: @escaping @Sendable (Int) throws -> Void) throws {
    guard count > 0 else { return }
    let work = WorkQueue(count: count)
    let group = DispatchGroup()
    for _ in 0..<max(1, min(width, count)) {
        group.enter()
        Thread.detachNewThread {
            defer { group.leave() }
            while let i = work.take() {
                do { try body(i) } catch { work.fail(error) }
            }
        }
    }
    group.wait()
    if let error = work.firstError { throw error }
}

/// Hands out indices under a lock and remembers the first failure.
private final class WorkQueue: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0
    private let count: Int
    private(set) var firstError: Error?
    init(count: Int) { self.count = count }
    func take() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard firstError == nil, next < count else { return nil }
        next += 1
        return next - 1
    }
    func fail(_ error: Error) {
        lock.lock()
        if firstError == nil { firstError = error }
        lock.unlock()
    }
}
