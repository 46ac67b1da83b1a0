import FirebuildCore
import Foundation

/// A directory that nothing may escape. Every path is walked one component at a time with
/// `openat(…, O_NOFOLLOW)` from the root's file descriptor; a symlink met on the way is
/// resolved by us, *inside* the root (absolute targets restart at the root, `..` stops at
/// it), the way chroot would see it. The kernel never follows a link for us, so no entry of
/// a hostile layer can reach the host's filesystem.
final class SafeRoot {
    let path: String
    let fd: Int32

    init(path: String) throws {
        self.path = path
        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw FirebuildError.posix("open root directory", path: path) }
    }

    deinit { close(fd) }

    /// Splits an archive member name into components. Leading `/` and `./` are dropped (the
    /// name is relative to the root either way); `..` is refused: no legitimate layer needs it.
    static func components(of name: String, what: String) throws -> [String] {
        let parts = name.split(separator: "/").map(String.init).filter { $0 != "." }
        if parts.contains("..") {
            throw FirebuildError(.permission, "\(what): refusing member \"\(name)\": it contains a \"..\" component that could escape the root")
        }
        return parts
    }

    /// Opens the directory at `components` (symlinks resolved inside the root). Missing
    /// directories are created (0755, owned by us) when `create` is set; otherwise nil.
    /// The caller closes the returned descriptor.
    func openDirectory(_ components: [String], create: Bool, what: String) throws -> Int32? {
        var stack: [Int32] = []          // descriptors below the root, innermost last
        var pending = Array(components.reversed())
        var links = 0
        func current() -> Int32 { stack.last ?? fd }
        func closeAll() { for d in stack { close(d) }; stack.removeAll() }

        while let c = pending.popLast() {
            if c.isEmpty || c == "." { continue }
            if c == ".." {
                if let d = stack.popLast() { close(d) }   // at the root, ".." is the root
                continue
            }
            var st = stat()
            if fstatat(current(), c, &st, AT_SYMLINK_NOFOLLOW) != 0 {
                let e = errno
                guard e == ENOENT else { closeAll(); throw FirebuildError.posix("stat", path: "\(path)/\(components.joined(separator: "/"))", errno: e) }
                guard create else { closeAll(); return nil }
                if mkdirat(current(), c, 0o755) != 0 && errno != EEXIST {
                    let e = errno
                    closeAll()
                    throw FirebuildError.posix("mkdir", path: "\(path)/\(components.joined(separator: "/"))", errno: e)
                }
            } else if st.st_mode & S_IFMT == S_IFLNK {
                links += 1
                guard links <= 40 else {
                    closeAll()
                    throw FirebuildError(.io, "\(what): too many levels of symbolic links resolving \"\(components.joined(separator: "/"))\"")
                }
                let target = try readLink(at: current(), c)
                if target.hasPrefix("/") { closeAll() }
                pending.append(contentsOf: target.split(separator: "/").map(String.init).reversed())
                continue
            } else if st.st_mode & S_IFMT != S_IFDIR {
                if !create { closeAll(); return nil }
                closeAll()
                throw FirebuildError(.io, "\(what): \"\(components.joined(separator: "/"))\" cannot be a directory: \"\(c)\" is a file in the image")
            }
            let next = openat(current(), c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard next >= 0 else {
                let e = errno
                closeAll()
                throw FirebuildError.posix("open directory", path: "\(path)/\(components.joined(separator: "/"))", errno: e)
            }
            stack.append(next)
        }
        if let last = stack.popLast() {
            closeAll()
            return last
        }
        return dup(fd)
    }

    func readLink(at dir: Int32, _ name: String) throws -> String {
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlinkat(dir, name, &buf, buf.count - 1)
        guard n >= 0 else { throw FirebuildError.posix("readlink", path: name) }
        return String(decoding: buf[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// lstat of `name` in `dir`, nil when it does not exist.
    func lstat(at dir: Int32, _ name: String) -> stat? {
        var st = stat()
        return fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 ? st : nil
    }

    /// Removes `name` in `dir`, recursively for a directory, never following symlinks.
    func removeTree(at dir: Int32, _ name: String) throws {
        guard let st = lstat(at: dir, name) else { return }
        if st.st_mode & S_IFMT == S_IFDIR {
            let sub = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard sub >= 0 else { throw FirebuildError.posix("open directory", path: name) }
            defer { close(sub) }
            for child in try listDirectory(sub) { try removeTree(at: sub, child) }
            guard unlinkat(dir, name, AT_REMOVEDIR) == 0 else { throw FirebuildError.posix("rmdir", path: name) }
        } else {
            guard unlinkat(dir, name, 0) == 0 else { throw FirebuildError.posix("unlink", path: name) }
        }
    }

    /// Names in a directory (without . and ..); `dir` stays open.
    func listDirectory(_ dir: Int32) throws -> [String] {
        let copy = dup(dir)
        guard copy >= 0, let handle = fdopendir(copy) else { throw FirebuildError.posix("opendir", path: path) }
        defer { closedir(handle) }
        rewinddir(handle)
        var names: [String] = []
        while let ent = readdir(handle) {
            let name = withUnsafePointer(to: &ent.pointee.d_name) {
                String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// A path the kernel resolves without following anything but our own descriptor: for
    /// the calls that have no *at variant (lsetxattr).
    static func procPath(_ dir: Int32, _ name: String) -> String { "/proc/self/fd/\(dir)/\(name)" }
}
