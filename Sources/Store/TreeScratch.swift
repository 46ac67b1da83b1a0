import FirebuildCore
import Foundation
import Logging
import RootFS

/// Where a pull unpacks its layers before `mkfs.ext4 -d` reads them. The tree lives for a
/// few seconds and is deleted right after, so a tmpfs (`/dev/shm`) is its natural place
/// when it fits: creating and deleting thousands of inodes there costs a fraction of what
/// it costs on a disk filesystem, and the tree's data never goes to disk. (On an ext4
/// without a journal it matters even more: every inode allocation first skips inodes
/// deleted in the last minutes, so unpacking right after other unpacks were deleted slows
/// down with each of them.) When the tree might not fit comfortably, or with
/// `FIREBUILD_TREE_TMPFS=0`, the store's own staging directory is used, as before.
enum TreeScratch {
    static let logger = makeLogger("store")
    /// Layers rarely unpack to more than this many times their blob size (gzip on a root
    /// filesystem gives 2.5-3.5×). A wrong guess only costs a retry on disk (ENOSPC).
    static let expansion: Int64 = 5
    static let mebibyte: Int64 = 1 << 20

    /// A fresh directory on tmpfs for the tree of `compressedBytes` of layers, or nil when it
    /// would not fit with room to spare (in the tmpfs and in available memory), when the
    /// tmpfs cannot hold user extended attributes (kernels before 6.6: the tree would lose
    /// them), or when disabled. The caller removes it.
    static func tmpfsDirectory(for compressedBytes: Int64, base: String = "/dev/shm",
                               environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let setting = environment["FIREBUILD_TREE_TMPFS"], ["0", "false", "no", "off"].contains(setting.lowercased()) { return nil }
        var fs = statvfs()
        guard isTmpfsMount(base), statvfs(base, &fs) == 0 else { return nil }
        let need = compressedBytes * expansion + 64 * mebibyte
        let free = Int64(fs.f_bavail) * Int64(fs.f_frsize)
        guard free >= need + 256 * mebibyte, let available = memAvailable(), available >= 2 * need else {
            logger.debug("tree does not fit in tmpfs; unpacking on disk", metadata: ["need": "\(need)", "tmpfs_free": "\(free)"])
            return nil
        }
        let dir = "\(base)/firebuild-tree-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        guard mkdir(dir, 0o700) == 0 else { return nil }
        do {
            try XAttr.set(dir, "user.firebuild.probe", Data("1".utf8))
        } catch {
            rmdir(dir)
            logger.debug("tmpfs cannot hold user xattrs; unpacking on disk", metadata: ["tmpfs": .string(base)])
            return nil
        }
        return dir
    }

    /// Whether `path` is the mount point of a tmpfs (/proc/mounts: "dev mountpoint type …").
    static func isTmpfsMount(_ path: String) -> Bool {
        guard let text = try? String(contentsOfFile: "/proc/mounts", encoding: .utf8) else { return false }
        return text.split(separator: "\n").contains { line in
            let fields = line.split(separator: " ")
            return fields.count >= 3 && fields[1] == path && fields[2] == "tmpfs"
        }
    }

    /// MemAvailable from /proc/meminfo, in bytes.
    static func memAvailable() -> Int64? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
            let kb = line.split(separator: " ").dropFirst().first.flatMap { Int64($0) }
            return kb.map { $0 * 1024 }
        }
        return nil
    }

    /// Whether `error` means a filesystem was full (the tmpfs guess was too small).
    static func isNoSpace(_ error: Error) -> Bool {
        guard let e = error as? FirebuildError else { return false }
        return e.message.contains(String(cString: strerror(ENOSPC)))
    }
}
