import FirebuildCore
import Foundation

/// What a directory tree will occupy inside an ext4 filesystem with 4 KiB blocks: data blocks
/// (sparse files count only what is allocated, hard links once), directory blocks, out-of-inode
/// symlink targets, and the number of inodes. It is an estimate on the safe side, like `du`
/// but in filesystem blocks; the builder adds metadata overhead and headroom on top.
public struct TreeUsage: Equatable, Sendable {
    public var dataBlocks: UInt64 = 0
    public var inodes: UInt64 = 0
    public var apparentBytes: UInt64 = 0

    public init(dataBlocks: UInt64 = 0, inodes: UInt64 = 0, apparentBytes: UInt64 = 0) {
        self.dataBlocks = dataBlocks
        self.inodes = inodes
        self.apparentBytes = apparentBytes
    }

    public var dataBytes: UInt64 { dataBlocks * Ext4Geometry.blockSize }
}

public enum Ext4Geometry {
    public static let blockSize: UInt64 = 4096
    public static let inodeSize: UInt64 = 256
    /// `-T default` in mke2fs.conf: one inode per 16 KiB.
    public static let bytesPerInode: UInt64 = 16384
    public static let mebibyte: UInt64 = 1 << 20

    /// mke2fs' default journal size for a filesystem of `blocks` 4 KiB blocks (ext2fs_default_journal_size).
    public static func journalBlocks(forBlocks blocks: UInt64) -> UInt64 {
        switch blocks {
        case ..<2048: return 0
        case ..<32768: return 1024
        case ..<(256 * 1024): return 4096
        case ..<(512 * 1024): return 8192
        case ..<(4096 * 1024): return 16384
        case ..<(8192 * 1024): return 32768
        case ..<(16384 * 1024): return 65536
        case ..<(32768 * 1024): return 131072
        default: return 262144
        }
    }
}

public enum SizeEstimator {
    /// Walks `root` without following symlinks. Unreadable entries are an error: mkfs would fail on them later anyway.
    public static func usage(of root: String) throws -> TreeUsage {
        var usage = TreeUsage()
        var seen = Set<HardLinkKey>()
        try walk(root, isRoot: true, usage: &usage, seen: &seen)
        return usage
    }

    private struct HardLinkKey: Hashable {
        let dev: UInt64
        let ino: UInt64
    }

    private static func blocks(_ bytes: UInt64) -> UInt64 {
        (bytes + Ext4Geometry.blockSize - 1) / Ext4Geometry.blockSize
    }

    private static func walk(_ path: String, isRoot: Bool, usage: inout TreeUsage, seen: inout Set<HardLinkKey>) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else { throw FirebuildError.posix("lstat", path: path) }
        let type = st.st_mode & S_IFMT
        if !isRoot { usage.inodes += 1 }
        // Extended attributes that do not fit in the inode's spare space take one block.
        let xattrBytes = xattrSize(path)
        if xattrBytes > 96 { usage.dataBlocks += blocks(UInt64(xattrBytes) + 32) }
        switch type {
        case S_IFREG:
            if st.st_nlink > 1 {
                let key = HardLinkKey(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino))
                if seen.contains(key) {
                    usage.inodes -= 1  // another name for an inode already counted
                    return
                }
                seen.insert(key)
            }
            let apparent = UInt64(max(0, st.st_size))
            let allocated = UInt64(max(0, st.st_blocks)) * 512
            usage.apparentBytes += apparent
            // mkfs -d keeps holes, so a sparse file costs what is allocated. A small file reporting
            // no blocks may be stored inline by the source filesystem (btrfs), so count its size.
            let dataBlocks = blocks(min(apparent, allocated == 0 && apparent <= 65536 ? apparent : allocated))
            // Extent tree: 4 extents fit in the inode; beyond that one index block per ~340 extents.
            usage.dataBlocks += dataBlocks + (dataBlocks > 4 * 32768 ? dataBlocks / (340 * 32768) + 1 : 0)
        case S_IFLNK:
            // Targets shorter than 60 bytes are stored in the inode ("fast" symlinks).
            if st.st_size >= 60 { usage.dataBlocks += 1 }
            usage.apparentBytes += UInt64(max(0, st.st_size))
        case S_IFDIR:
            guard let dir = opendir(path) else { throw FirebuildError.posix("opendir", path: path) }
            var names: [String] = []
            while let entry = readdir(dir) {
                let name = withUnsafePointer(to: entry.pointee.d_name) {
                    $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
                }
                if name == "." || name == ".." { continue }
                names.append(name)
            }
            closedir(dir)
            // ext4 dirent: 8-byte header + name, padded to 4; plus "." and "..".
            let entryBytes = names.reduce(UInt64(24)) { $0 + 8 + ((UInt64($1.utf8.count) + 3) & ~3) }
            // Hashed (htree) directories waste part of each block; 25% slack covers it.
            usage.dataBlocks += max(1, blocks(entryBytes + entryBytes / 4))
            for name in names {
                try walk(path + "/" + name, isRoot: false, usage: &usage, seen: &seen)
            }
        default:
            break  // devices, fifos, sockets: an inode and nothing else
        }
    }

    private static func xattrSize(_ path: String) -> Int {
        XAttr.names(path).reduce(0) { total, name in
            total + 16 + ((name.utf8.count + 3) & ~3) + (((XAttr.get(path, name)?.count ?? 0) + 3) & ~3)
        }
    }
}
