import FirebuildCore
import Foundation

/// What the store knows about one kernel (`kernel.json`).
public struct KernelRecord: Codable, Equatable, Sendable {
    public var id: String
    /// The kernel release (`6.1.0-57-cloud-amd64`), read from the image; names `/lib/modules/<version>`.
    public var version: String?
    /// Where the kernel was imported from (a file path or a source tree / git URL).
    public var source: String?
    public var vmlinuxSize: Int64
    public var vmlinuxDigest: ContentDigest?
    public var bzImageSize: Int64?
    public var initrdSize: Int64?
    /// How the initrd came to be: `imported:<path>` or `built:<modules dir>`.
    public var initrdSource: String?
    public var createdAt: Date

    public init(id: String, version: String? = nil, source: String? = nil, vmlinuxSize: Int64 = 0,
                vmlinuxDigest: ContentDigest? = nil, bzImageSize: Int64? = nil, initrdSize: Int64? = nil,
                initrdSource: String? = nil, createdAt: Date = Date()) {
        self.id = id
        self.version = version
        self.source = source
        self.vmlinuxSize = vmlinuxSize
        self.vmlinuxDigest = vmlinuxDigest
        self.bzImageSize = bzImageSize
        self.initrdSize = initrdSize
        self.initrdSource = initrdSource
        self.createdAt = createdAt
    }
}

/// Resolved file locations of one stored kernel.
public struct StoredKernel: Sendable, Equatable {
    public var record: KernelRecord
    public var directory: String
    /// The ELF vmlinux (what Firecracker boots; QEMU boots it too through the PVH note).
    public var vmlinuxPath: String { directory + "/" + KernelStore.vmlinuxName }
    /// The bzImage, when one was imported.
    public var bzImagePath: String? { record.bzImageSize == nil ? nil : directory + "/" + KernelStore.bzImageName }
    public var initrdPath: String? { record.initrdSize == nil ? nil : directory + "/" + KernelStore.initrdName }
}

/// Kernels in the directory storage provider: `<root>/<id>/{vmlinux, bzImage, initrd.img, kernel.json}`.
/// Every change is staged in a temporary directory under the root and published with one
/// rename, under a lock, so readers never see half a kernel.
public final class KernelStore: @unchecked Sendable {
    public static let vmlinuxName = "vmlinux"
    public static let bzImageName = "bzImage"
    public static let initrdName = "initrd.img"
    public static let recordName = "kernel.json"

    public let root: String

    public init(root: String? = nil) {
        self.root = root ?? FirebuildPaths().kernelStorageRoot
    }

    /// Ids are file names: letters, digits, `.`, `_`, `-`, at most 64 characters, not starting with a dot.
    public static func validate(id: String) throws {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        guard !id.isEmpty, id.count <= 64, id.allSatisfy({ allowed.contains($0) }), !id.hasPrefix("."), !id.hasPrefix("-") else {
            throw FirebuildError(.invalidArgument,
                                 "invalid kernel id \"\(id)\": use 1-64 letters, digits, '.', '_' or '-', not starting with '.' or '-' (e.g. debian-6.1-cloud)")
        }
    }

    private var lockPath: String { root + "/.lock" }

    public func directory(for id: String) -> String { root + "/" + id }

    public func exists(_ id: String) -> Bool {
        FileManager.default.fileExists(atPath: directory(for: id) + "/" + Self.recordName)
    }

    /// Stages a new kernel: `populate` writes files into the staging directory and returns the record;
    /// the directory is then renamed to `<root>/<id>`. With `replace`, an existing kernel is swapped out.
    @discardableResult
    public func create(id: String, replace: Bool = false, _ populate: (_ staging: String) throws -> KernelRecord) throws -> StoredKernel {
        try Self.validate(id: id)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let staging = root + "/.tmp-\(id)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: staging) }
        var record = try populate(staging)
        record.id = id
        guard FileManager.default.fileExists(atPath: staging + "/" + Self.vmlinuxName) else {
            throw FirebuildError(.internal, "kernel \(id): staging produced no \(Self.vmlinuxName)")
        }
        try AtomicFile.writeJSON(record, to: staging + "/" + Self.recordName)
        try FileLock.withLock(lockPath) {
            let final = directory(for: id)
            if FileManager.default.fileExists(atPath: final) {
                guard replace else {
                    throw FirebuildError(.alreadyExists, "kernel \"\(id)\" already exists in \(root); remove it first (firebuild kernel rm \(id)) or pick another --id")
                }
                let old = root + "/.old-\(id)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
                guard rename(final, old) == 0 else { throw FirebuildError.posix("rename", path: final) }
                defer { try? FileManager.default.removeItem(atPath: old) }
                try AtomicFile.publishDirectory(staging, as: final)
            } else {
                try AtomicFile.publishDirectory(staging, as: final)
            }
        }
        return StoredKernel(record: record, directory: directory(for: id))
    }

    public func get(_ id: String) throws -> StoredKernel {
        try Self.validate(id: id)
        let dir = directory(for: id)
        let path = dir + "/" + Self.recordName
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FirebuildError(.notFound, "kernel \"\(id)\" not found in \(root); import one with: firebuild kernel import --id \(id) --path /boot/vmlinuz-…")
        }
        do {
            let record = try Self.decoder.decode(KernelRecord.self, from: data)
            return StoredKernel(record: record, directory: dir)
        } catch {
            throw FirebuildError(.parse, "kernel metadata \(path) is unreadable (\(error)); remove the kernel and import it again")
        }
    }

    /// Every stored kernel, sorted by id. Unreadable entries are skipped (staging leftovers included).
    public func list() throws -> [StoredKernel] {
        guard FileManager.default.fileExists(atPath: root) else { return [] }
        let names = try FileManager.default.contentsOfDirectory(atPath: root).filter { !$0.hasPrefix(".") }.sorted()
        return names.compactMap { try? get($0) }
    }

    public func remove(_ id: String) throws {
        try Self.validate(id: id)
        try FileLock.withLock(lockPath) {
            let dir = directory(for: id)
            guard FileManager.default.fileExists(atPath: dir) else {
                throw FirebuildError(.notFound, "kernel \"\(id)\" not found in \(root)")
            }
            // Rename first so a concurrent reader sees the kernel gone at once, not half deleted.
            let trash = root + "/.rm-\(id)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            guard rename(dir, trash) == 0 else { throw FirebuildError.posix("rename", path: dir) }
            try FileManager.default.removeItem(atPath: trash)
        }
    }

    /// Installs `initrdFile` as the kernel's initrd (moved when on the same filesystem, else copied)
    /// and updates kernel.json; both become visible atomically.
    @discardableResult
    public func setInitrd(id: String, from initrdFile: String, source: String) throws -> StoredKernel {
        var kernel = try get(id)
        return try FileLock.withLock(lockPath) {
            let dest = kernel.directory + "/" + Self.initrdName
            let tmp = dest + ".tmp-\(getpid())"
            try? FileManager.default.removeItem(atPath: tmp)
            try FileManager.default.copyItem(atPath: initrdFile, toPath: tmp)
            guard rename(tmp, dest) == 0 else { throw FirebuildError.posix("rename", path: dest) }
            kernel.record.initrdSize = Self.fileSize(dest)
            kernel.record.initrdSource = source
            try AtomicFile.writeJSON(kernel.record, to: kernel.directory + "/" + Self.recordName)
            return kernel
        }
    }

    public static func fileSize(_ path: String) -> Int64? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Int64(st.st_size)
    }

    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .deferredToDate
        return d
    }()
}
