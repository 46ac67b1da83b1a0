import FirebuildCore
import Foundation

/// The step cache: every filesystem-changing step's result is an immutable qcow2 layer whose
/// backing file is its parent's layer, down to a raw base image owned by the cache. The chain
/// `bases/B.raw ← layers/K1.qcow2 ← layers/K2.qcow2 …` IS the cache; `index.json` maps step keys
/// to layers (written under a lock, atomically). A layer is indexed only once complete, so a
/// build killed mid-step leaves an unindexed file that `prune` removes.
public final class BuildCache: @unchecked Sendable {
    public struct Entry: Codable, Equatable, Sendable {
        public var key: String
        /// Parent step key, or nil when the parent is the base.
        public var parent: String?
        public var base: String
        /// Relative to the cache root.
        public var layer: String
        public var description: String
        public var created: Date
        public var lastUsed: Date
        public var bytes: Int64
    }

    public struct Base: Codable, Equatable, Sendable {
        public var key: String
        public var image: String
        public var description: String
        public var created: Date
    }

    struct Index: Codable {
        var entries: [String: Entry] = [:]
        var bases: [String: Base] = [:]
    }

    public let root: String

    public init(root: String = FirebuildPaths().buildCache) {
        self.root = root
    }

    var indexPath: String { root + "/index.json" }
    var lockPath: String { root + "/index.lock" }
    public var layersDir: String { root + "/layers" }
    public var basesDir: String { root + "/bases" }
    /// A fresh, unique file for a layer of `key` (two builds may race on the same key; each
    /// layer file is immutable once its successor exists, so names are never reused).
    public func newLayerPath(_ key: String) -> String { "\(layersDir)/\(key)-\(UInt32.random(in: 0...UInt32.max)).qcow2" }
    public func path(of entry: Entry) -> String { root + "/" + entry.layer }
    public func basePath(_ key: String) -> String { "\(basesDir)/\(key).raw" }

    func load() throws -> Index {
        guard let data = FileManager.default.contents(atPath: indexPath) else { return Index() }
        do { return try JSONDecoder.iso.decode(Index.self, from: data) } catch {
            throw FirebuildError(.parse, "build cache index \(indexPath) is unreadable (\(error)); `firebuild cache prune --all` resets it")
        }
    }

    func save(_ index: Index) throws {
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        enc.dateEncodingStrategy = .iso8601
        try AtomicFile.write(try enc.encode(index), to: indexPath, mode: 0o600)
    }

    func withIndex<T>(_ body: (inout Index) throws -> T) throws -> T {
        try FileLock.withLock(lockPath, timeout: 120) {
            var index = try load()
            let result = try body(&index)
            try save(index)
            return result
        }
    }

    /// The layer for `key` when it and its whole chain still exist; marks it used.
    public func lookup(_ key: String) throws -> Entry? {
        try withIndex { index in
            guard var e = index.entries[key], chainIntact(e, index) else { return nil }
            e.lastUsed = Date()
            index.entries[key] = e
            return e
        }
    }

    func chainIntact(_ e: Entry, _ index: Index) -> Bool {
        var cur: Entry? = e
        while let c = cur {
            guard FileManager.default.fileExists(atPath: path(of: c)) else { return false }
            guard let p = c.parent else { return index.bases[c.base] != nil && FileManager.default.fileExists(atPath: basePath(c.base)) }
            cur = index.entries[p]
        }
        return false
    }

    public func base(_ key: String) throws -> Base? {
        try withIndex { index in
            guard let b = index.bases[key], FileManager.default.fileExists(atPath: basePath(key)) else { return nil }
            return b
        }
    }

    /// Publishes a prepared base image (moved into place).
    public func addBase(key: String, preparedImage: String, description: String) throws {
        try FileManager.default.createDirectory(atPath: basesDir, withIntermediateDirectories: true)
        try withIndex { index in
            guard rename(preparedImage, basePath(key)) == 0 else { throw FirebuildError.posix("rename", path: preparedImage) }
            index.bases[key] = Base(key: key, image: "bases/\(key).raw", description: description, created: Date())
        }
    }

    /// Records a completed layer file (from `newLayerPath`).
    public func add(key: String, parent: String?, base: String, layerFile: String, description: String) throws {
        let bytes = DiskUsage.allocated(layerFile)
        try withIndex { index in
            index.entries[key] = Entry(key: key, parent: parent, base: base, layer: "layers/" + BuildPath.basename(layerFile),
                                       description: String(description.prefix(200)), created: Date(), lastUsed: Date(), bytes: bytes)
        }
    }

    public func list() throws -> (entries: [Entry], bases: [Base]) {
        let index = try FileLock.withLock(lockPath, timeout: 120) { try load() }
        return (index.entries.values.sorted { $0.created < $1.created }, index.bases.values.sorted { $0.created < $1.created })
    }

    /// Removes layers not used since `olderThan` (all when nil), their descendants (a layer is
    /// useless without its parent), bases no layer needs, and unindexed leftovers of killed builds.
    /// Returns the bytes freed.
    @discardableResult
    public func prune(olderThan: Date? = nil) throws -> Int64 {
        try withIndex { index in
            var remove = Set(index.entries.values.filter { e in olderThan.map { e.lastUsed < $0 } ?? true }.map(\.key))
            var changed = true
            while changed {
                changed = false
                for e in index.entries.values where !remove.contains(e.key) {
                    if let p = e.parent, remove.contains(p) || index.entries[p] == nil { remove.insert(e.key); changed = true }
                }
            }
            var freed: Int64 = 0
            for k in remove {
                if let e = index.entries[k] {
                    freed += DiskUsage.allocated(path(of: e))
                    unlink(path(of: e))
                }
                index.entries[k] = nil
            }
            let usedBases = Set(index.entries.values.map(\.base))
            for (k, b) in index.bases where !usedBases.contains(k) && (olderThan.map { b.created < $0 } ?? true) {
                freed += DiskUsage.allocated(basePath(k))
                unlink(basePath(k))
                index.bases[k] = nil
            }
            // Files no index entry names: partial layers of interrupted builds.
            // (Layers being written by a running build are unindexed too: prune between builds.)
            let knownLayers = Set(index.entries.values.map { BuildPath.basename($0.layer) })
            let knownBases = Set(index.bases.keys.map { "\($0).raw" })
            for (dir, known) in [(layersDir, knownLayers), (basesDir, knownBases)] {
                for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
                    if !known.contains(name) {
                        freed += DiskUsage.allocated(dir + "/" + name)
                        unlink(dir + "/" + name)
                    }
                }
            }
            freed += pruneFromTrees(olderThan: olderThan)
            return freed
        }
    }

    // MARK: files extracted for COPY --from

    /// Host copies of the files `COPY --from=stage|image` reads, by source identity and paths.
    public var fromTreesDir: String { root + "/from" }
    func fromTreePath(_ key: String) -> String { "\(fromTreesDir)/\(key.prefix(32))" }

    /// Fills a fresh directory with `fill` and renames it to `path`; a concurrent build that got
    /// there first wins (both trees hold the same files) and ours is dropped.
    func storeFromTree(at path: String, _ fill: (String) throws -> Void) throws {
        try FileManager.default.createDirectory(atPath: fromTreesDir, withIntermediateDirectories: true)
        let tmp = "\(fromTreesDir)/.tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        try fill(tmp)
        if rename(tmp, path) != 0 && !FileManager.default.fileExists(atPath: path) {
            throw FirebuildError.posix("rename", path: path)
        }
    }

    /// Trees unused since `olderThan` (all without it), and leftovers of interrupted extractions.
    /// Between builds, like the rest of prune.
    func pruneFromTrees(olderThan: Date?) -> Int64 {
        var freed: Int64 = 0
        for name in (try? FileManager.default.contentsOfDirectory(atPath: fromTreesDir)) ?? [] {
            let path = fromTreesDir + "/" + name
            var st = stat()
            guard lstat(path, &st) == 0 else { continue }
            let used = Date(timeIntervalSince1970: TimeInterval(st.st_mtim.tv_sec))
            guard name.hasPrefix(".tmp-") || (olderThan.map { used < $0 } ?? true) else { continue }
            freed += DiskUsage.tree(path)
            try? FileManager.default.removeItem(atPath: path)
        }
        return freed
    }
}

enum DiskUsage {
    static func tree(_ path: String) -> Int64 {
        var total = allocated(path)
        if let walker = FileManager.default.enumerator(atPath: path) {
            for case let rel as String in walker { total += allocatedNoFollow(path + "/" + rel) }
        }
        return total
    }

    static func allocatedNoFollow(_ path: String) -> Int64 {
        var st = stat()
        guard lstat(path, &st) == 0 else { return 0 }
        return Int64(st.st_blocks) * 512
    }

    static func allocated(_ path: String) -> Int64 {
        var st = stat()
        guard stat(path, &st) == 0 else { return 0 }
        return Int64(st.st_blocks) * 512
    }
}

extension JSONDecoder {
    static var iso: JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }
}
