import Dockerfile
import FirebuildCore
import Foundation
import VM

/// Persistent `RUN --mount=type=cache` directories: one sparse ext4 image per cache id under
/// `<run cache>/build-cache-mounts/<sha256(id)>.ext4`, created with mkfs.ext4 on first use and
/// attached to a stage's build VM as an extra virtio disk. The guest finds a disk by its ext4
/// UUID (derived from the file name), so the order of disks does not matter.
///
/// An ext4 image can be mounted by one VM at a time, so every attached image is locked (flock on
/// `<name>.lock`) for the whole life of the VM:
/// - `sharing=locked` and `sharing=shared` (the default) wait for the other build to finish with it
///   (shared cannot mean concurrent writers across VMs; within a build, steps run one at a time anyway);
/// - `sharing=private` never waits: when the image is busy it takes the next free alternate image of
///   that id (`<sha>-1.ext4`, `-2`…, created empty when needed), as BuildKit creates a new cache.
public struct CacheMountStore: Sendable {
    public let root: String
    /// Apparent size of a new cache image (sparse: only what the cache holds uses disk space).
    public static let imageSizeMiB = 8192

    public init(root: String = FirebuildPaths().runCache + "/build-cache-mounts") {
        self.root = root
    }

    public struct Image: Equatable, Sendable {
        public var id: String
        public var path: String
        public var bytes: Int64
        public var lastUsed: Date
    }

    static func name(id: String, slot: Int) -> String {
        let base = ContentDigest.sha256(id).hex
        return slot == 0 ? base : "\(base)-\(slot)"
    }

    /// The ext4 UUID of an image: the first 128 bits of sha256(name), dashed.
    static func uuid(name: String) -> String {
        let h = Array(ContentDigest.sha256("firebuild-cache-mount\n" + name).hex.prefix(32))
        return [h[0..<8], h[8..<12], h[12..<16], h[16..<20], h[20..<32]].map { String($0) }.joined(separator: "-")
    }

    /// Locks (and creates when missing) the image of every cache id; release the set when the VM is gone.
    func attach(_ wanted: [CacheMountSet.Wanted], waitTimeout: TimeInterval = 3600) throws -> CacheMountSet {
        let set = CacheMountSet()
        do {
            for w in wanted where set.uuid(for: w.id) == nil {
                try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
                var slot = 0
                while true {
                    let name = Self.name(id: w.id, slot: slot)
                    let lock = FileLock(path: "\(root)/\(name).lock")
                    do {
                        try lock.lock(timeout: w.sharing == .private ? 0 : waitTimeout)
                    } catch let e as FirebuildError where e.code == .conflict && w.sharing == .private && slot < 32 {
                        slot += 1
                        continue
                    }
                    let path = "\(root)/\(name).ext4"
                    set.attached.append(.init(id: w.id, uuid: Self.uuid(name: name), path: path, lock: lock))
                    try prepare(path: path, name: name, id: w.id, seed: w.seed)
                    break
                }
            }
        } catch {
            set.release()
            throw error
        }
        return set
    }

    /// Creates the image (under its lock) when missing, with the files of `seed` when given, and
    /// marks it used.
    func prepare(path: String, name: String, id: String, seed: String? = nil) throws {
        if !FileManager.default.fileExists(atPath: path) {
            let tmp = "\(path).tmp-\(getpid())"
            unlink(tmp)
            guard FileManager.default.createFile(atPath: tmp, contents: nil), truncate(tmp, off_t(Self.imageSizeMiB) << 20) == 0 else {
                throw FirebuildError.posix("create cache mount image", path: tmp)
            }
            // The guest mounts the image's `cache` directory: a seed becomes that directory.
            let staging = tmp + ".seed"
            defer { try? FileManager.default.removeItem(atPath: staging) }
            do {
                var populate: [String] = []
                if let seed {
                    try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
                    try Command("cp", ["-a", "--reflink=auto", seed, staging + "/cache"]).check()
                    populate = ["-d", staging]
                }
                try Command("mkfs.ext4", ["-q", "-F", "-m", "0", "-L", "fb-cache", "-U", Self.uuid(name: name),
                                          "-E", "lazy_itable_init=1,lazy_journal_init=1"] + populate + [tmp]).check()
            } catch { unlink(tmp); throw error }
            guard rename(tmp, path) == 0 else { throw FirebuildError.posix("rename", path: tmp) }
        }
        try AtomicFile.write(id + "\n", to: "\(root)/\(name).id")
        utimes(path, nil)
    }

    /// Every cache image with its id (as recorded when it was created) and disk usage.
    public func list() -> [Image] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).filter { $0.hasSuffix(".ext4") }.sorted()
        return names.map { file in
            let path = root + "/" + file
            let base = String(file.dropLast(5))
            let id = (try? String(contentsOfFile: "\(root)/\(base).id", encoding: .utf8))?.trimmingCharacters(in: .newlines) ?? "?"
            var st = stat()
            let used = stat(path, &st) == 0 ? Date(timeIntervalSince1970: TimeInterval(st.st_mtim.tv_sec)) : Date.distantPast
            return Image(id: id, path: path, bytes: DiskUsage.allocated(path), lastUsed: used)
        }
    }

    /// Removes cache images unused since `olderThan` (all when nil). Images a running build holds
    /// (locked) are skipped. Returns the bytes freed.
    @discardableResult
    public func prune(olderThan: Date? = nil) throws -> Int64 {
        var freed: Int64 = 0
        for image in list() where olderThan.map({ image.lastUsed < $0 }) ?? true {
            let base = String(image.path.dropLast(5))
            let lock = FileLock(path: base + ".lock")
            do { try lock.lock(timeout: 0) } catch { continue }
            freed += image.bytes
            unlink(image.path)
            unlink(base + ".id")
            lock.unlock()  // the lock file stays: a build waiting on it must keep excluding others
        }
        // Half-created images of killed builds.
        for f in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] where f.contains(".ext4.tmp-") {
            freed += DiskUsage.allocated(root + "/" + f)
            unlink(root + "/" + f)
        }
        return freed
    }
}

/// The cache images one build VM holds (locked until `release`).
final class CacheMountSet {
    struct Attached {
        var id: String
        var uuid: String
        var path: String
        var lock: FileLock
    }

    var attached: [Attached] = []

    var disks: [VMDisk] { attached.map { VMDisk(path: $0.path, format: .raw) } }

    func uuid(for id: String) -> String? { attached.first { $0.id == id }?.uuid }

    func release() {
        for a in attached { a.lock.unlock() }
        attached = []
    }

    struct Wanted: Equatable {
        var id: String
        var sharing: RunMount.Sharing
        var seed: String? = nil
    }

    /// The cache ids the uncached steps of a stage mount (known before the VM boots).
    static func wanted(by steps: ArraySlice<StageStep>) -> [Wanted] {
        var out: [Wanted] = []
        for s in steps {
            for case let .cache(_, id, sharing, _, _, _, _, seed) in s.mounts where !out.contains(where: { $0.id == id }) {
                out.append(Wanted(id: id, sharing: sharing, seed: seed))
            }
        }
        return out
    }
}
