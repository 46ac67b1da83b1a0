import FirebuildCore
import Foundation

/// Blobs by digest under `<root>/sha256/<hex>`, shared by every image. Nothing enters the
/// store unverified: writers stream into `<root>/ingest/`, hash as they go, and rename into
/// place only when the digest is what was expected. Blobs are read-only once stored.
public final class ContentStore: @unchecked Sendable {
    public let root: String

    public init(root: String = FirebuildPaths().contentStore) throws {
        self.root = root
        for dir in [root + "/sha256", root + "/ingest"] {
            try createDirectory(dir)
        }
    }

    public func path(for digest: ContentDigest) -> String { "\(root)/\(digest.algorithm)/\(digest.hex)" }

    public func contains(_ digest: ContentDigest) -> Bool {
        FileManager.default.fileExists(atPath: path(for: digest))
    }

    public func size(of digest: ContentDigest) -> Int64? {
        var st = stat()
        return stat(path(for: digest), &st) == 0 ? Int64(st.st_size) : nil
    }

    public func read(_ digest: ContentDigest) throws -> Data {
        guard let data = FileManager.default.contents(atPath: path(for: digest)) else {
            throw FirebuildError(.notFound, "blob \(digest) is not in the content store \(root)")
        }
        return data
    }

    /// Stores bytes already in memory (manifests, configs).
    @discardableResult
    public func write(_ data: Data, expected: ContentDigest? = nil) throws -> ContentDigest {
        let writer = try newWriter()
        try writer.write(data)
        return try writer.commit(expected: expected)
    }

    /// Copies a file in (streaming, hashed), e.g. a blob of an OCI layout folder.
    @discardableResult
    public func ingest(fileAt source: String, expected: ContentDigest? = nil) throws -> ContentDigest {
        if let expected, contains(expected) { return expected }
        guard let fh = FileHandle(forReadingAtPath: source) else { throw FirebuildError.posix("open", path: source) }
        defer { try? fh.close() }
        let writer = try newWriter()
        do {
            while let chunk = try fh.read(upToCount: 1 << 20), !chunk.isEmpty { try writer.write(chunk) }
        } catch {
            writer.abort()
            throw error
        }
        return try writer.commit(expected: expected, source: source)
    }

    /// A writer into a fresh temporary file of this store.
    public func newWriter() throws -> ContentWriter {
        try ContentWriter(store: self)
    }

    /// Every digest in the store.
    public func list() throws -> [ContentDigest] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root + "/sha256")) ?? []
        return names.compactMap { try? ContentDigest(parsing: "sha256:\($0)") }.sorted()
    }

    /// Deletes every blob not in `keeping` (the digests some image still references) and
    /// stale temporary files; returns what was removed. Callers hold the store lock.
    @discardableResult
    public func prune(keeping: Set<ContentDigest>) throws -> [ContentDigest] {
        var removed: [ContentDigest] = []
        for digest in try list() where !keeping.contains(digest) {
            if unlink(path(for: digest)) == 0 { removed.append(digest) }
        }
        let ingest = root + "/ingest"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: ingest)) ?? [] {
            var st = stat()
            let p = "\(ingest)/\(name)"
            // Only old leftovers: a concurrent pull may be writing a fresh one right now.
            if stat(p, &st) == 0, time(nil) - st.st_mtim.tv_sec > 3600 { unlink(p) }
        }
        return removed
    }

    func createDirectory(_ dir: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw FirebuildError(.io, "cannot create content store directory \(dir): \(error.localizedDescription)")
        }
    }
}

/// Streams one blob into the store, hashing on the way.
public final class ContentWriter {
    public let tempPath: String
    private let store: ContentStore
    private var fd: Int32
    private var hasher = StreamingSHA256()
    public private(set) var count: Int64 = 0

    init(store: ContentStore) throws {
        self.store = store
        tempPath = "\(store.root)/ingest/\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        fd = open(tempPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FirebuildError.posix("create", path: tempPath) }
    }

    deinit { abort() }

    public func write(_ data: Data) throws {
        try data.withUnsafeBytes { try write($0) }
    }

    public func write(_ buffer: UnsafeRawBufferPointer) throws {
        guard fd >= 0 else { throw FirebuildError(.internal, "write to a closed content writer \(tempPath)") }
        hasher.update(buffer)
        count += Int64(buffer.count)
        var offset = 0
        while offset < buffer.count {
            let n = Foundation.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw FirebuildError.posix("write", path: tempPath)
            }
            offset += n
        }
    }

    /// Feeds the digest of bytes that some other code already wrote to `tempPath` (downloads).
    public func noteExternal(_ buffer: UnsafeRawBufferPointer) {
        hasher.update(buffer)
        count += Int64(buffer.count)
    }

    /// Verifies and publishes; on a mismatch the temporary file is deleted and nothing is kept.
    @discardableResult
    public func commit(expected: ContentDigest? = nil, source: String? = nil) throws -> ContentDigest {
        guard fd >= 0 else { throw FirebuildError(.internal, "commit of a closed content writer \(tempPath)") }
        fsync(fd)
        close(fd)
        fd = -1
        let actual = hasher.finalize()
        if let expected, expected != actual {
            unlink(tempPath)
            throw FirebuildError(.digestMismatch, "\(source ?? "blob") has digest \(actual), expected \(expected); the data is corrupt or was changed, nothing was stored")
        }
        let dest = store.path(for: actual)
        if FileManager.default.fileExists(atPath: dest) {
            unlink(tempPath)
        } else {
            chmod(tempPath, 0o444)
            guard rename(tempPath, dest) == 0 else {
                let e = errno
                unlink(tempPath)
                throw FirebuildError.posix("rename into content store", path: dest, errno: e)
            }
        }
        return actual
    }

    public func abort() {
        if fd >= 0 {
            close(fd)
            fd = -1
            unlink(tempPath)
        }
    }
}
