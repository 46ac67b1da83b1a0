import FirebuildCore
import Foundation

/// Filesystem primitives the store needs beyond Foundation: atomic directory exchange,
/// copy-on-write copies, and tree removal.
enum DirectoryOps {
    private typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32

    /// glibc's renameat2 is not visible to Swift (it is behind _GNU_SOURCE), so look it up at run time.
    private static let renameat2: RenameAt2? = {
        guard let handle = dlopen(nil, RTLD_NOW), let sym = dlsym(handle, "renameat2") else { return nil }
        return unsafeBitCast(sym, to: RenameAt2.self)
    }()

    private static let renameExchange: UInt32 = 2  // RENAME_EXCHANGE from linux/fs.h

    /// Atomically swaps two existing paths (readers see one or the other, never neither).
    /// Returns false when the kernel or filesystem cannot do it; the caller falls back.
    static func exchange(_ a: String, _ b: String) -> Bool {
        guard let renameat2 else { return false }
        return renameat2(AT_FDCWD, a, AT_FDCWD, b, renameExchange) == 0
    }

    /// Copies a file keeping holes, sharing extents when the filesystem can (btrfs, xfs reflink).
    static func copyFile(_ source: String, to destination: String) throws {
        try Command("cp", ["--reflink=auto", "--sparse=always", "--", source, destination]).check()
    }

    static func removeTree(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }

    static func fileSize(_ path: String) throws -> UInt64 {
        var st = stat()
        guard stat(path, &st) == 0 else { throw FirebuildError.posix("stat", path: path) }
        return UInt64(st.st_size)
    }

    static func isDirectory(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
    }

    static func children(_ path: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }
}
