// Thin, Foundation-free wrappers over the Glibc calls both sides of the channel need.
#if canImport(Glibc)
import Glibc
#endif

public enum Posix {
    /// Seconds on the monotonic clock; used for every deadline (wall-clock jumps must not matter).
    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Writes all bytes, retrying on EINTR/EAGAIN (waiting with poll when the fd is non-blocking).
    /// `socket: true` uses send(MSG_NOSIGNAL) so a vanished peer is an EPIPE error, not a SIGPIPE.
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, socket: Bool = false) throws {
        var off = 0
        while off < bytes.count {
            let n = socket ? send(fd, bytes.baseAddress! + off, bytes.count - off, Int32(MSG_NOSIGNAL))
                           : write(fd, bytes.baseAddress! + off, bytes.count - off)
            if n > 0 { off += n; continue }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && errno == EAGAIN {
                var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                _ = poll(&p, 1, 1000)
                continue
            }
            throw GuestError.posix("write", "fd \(fd)")
        }
    }

    public static func writeAll(_ fd: Int32, _ bytes: [UInt8], socket: Bool = false) throws {
        try bytes.withUnsafeBytes { try writeAll(fd, $0, socket: socket) }
    }

    public static func writeAll(_ fd: Int32, _ text: String) throws {
        try writeAll(fd, Array(text.utf8))
    }

    /// Reads up to `max` bytes; [] means end of file. Throws on errors other than EINTR.
    public static func readSome(_ fd: Int32, max: Int = 65536) throws -> [UInt8] {
        var buf = [UInt8](repeating: 0, count: max)
        while true {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, max) }
            if n >= 0 { buf.removeSubrange(n...); return buf }
            if errno == EINTR { continue }
            throw GuestError.posix("read", "fd \(fd)")
        }
    }

    /// Waits until `fd` is readable or the timeout passes (nil = forever). Returns false on timeout.
    public static func waitReadable(_ fd: Int32, timeout: Double?) throws -> Bool {
        let deadline = timeout.map { now() + $0 }
        while true {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            var ms: Int32 = -1
            if let deadline {
                let left = deadline - now()
                if left <= 0 { return false }
                ms = Int32(min(left * 1000, 1_000_000)) + 1
            }
            let r = poll(&p, 1, ms)
            if r > 0 { return true }
            if r < 0 && errno != EINTR { throw GuestError.posix("poll", "fd \(fd)") }
        }
    }

    public static func setNonBlocking(_ fd: Int32, _ on: Bool = true) {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK)
    }

    public static func setCloseOnExec(_ fd: Int32) {
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
    }

    /// Reads a whole (small) file; nil when it does not exist or cannot be read.
    public static func readFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        while true {
            guard let chunk = try? readSome(fd) else { return nil }
            if chunk.isEmpty { return out }
            out += chunk
        }
    }

    public static func readText(_ path: String) -> String? {
        readFile(path).map { String(decoding: $0, as: UTF8.self) }
    }

    /// True when `fd` is a socket (then writes use send(MSG_NOSIGNAL)).
    public static func isSocket(_ fd: Int32) -> Bool {
        var type: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0
    }

    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Creates `path` and its missing parents with `mode` (like `mkdir -p`).
    public static func mkdirs(_ path: String, mode: mode_t = 0o755) throws {
        if path.isEmpty || isDirectory(path) { return }
        let parent = dirname(path)
        if parent != path { try mkdirs(parent, mode: mode) }
        if mkdir(path, mode) != 0 && errno != EEXIST { throw GuestError.posix("mkdir", path) }
    }

    /// The parent directory of an absolute or relative path ("/" for "/x", "." for "x").
    public static func dirname(_ path: String) -> String {
        var p = Substring(path)
        while p.count > 1 && p.hasSuffix("/") { p = p.dropLast() }
        guard let slash = p.lastIndex(of: "/") else { return "." }
        let d = p[..<slash]
        return d.isEmpty ? "/" : String(d)
    }

    /// Joins a root (e.g. "/" or a test sysroot) with an absolute path inside it.
    public static func join(_ root: String, _ path: String) -> String {
        if root.isEmpty || root == "/" { return path.hasPrefix("/") ? path : "/" + path }
        let r = root.hasSuffix("/") ? String(root.dropLast()) : root
        return path.hasPrefix("/") ? r + path : r + "/" + path
    }

    /// Writes a file atomically (temp file in the same directory, fsync, rename). `sync: false`
    /// skips the fsync for files rewritten on every boot (under TCG each one costs a journal commit).
    public static func writeFileAtomic(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644, sync: Bool = true) throws {
        let tmp = path + ".fbtmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw GuestError.posix("create", tmp) }
        do {
            try writeAll(fd, bytes)
            _ = fchmod(fd, mode)
            if sync { _ = fsync(fd) }
            close(fd)
        } catch { close(fd); unlink(tmp); throw error }
        if rename(tmp, path) != 0 { let e = errno; unlink(tmp); throw GuestError.posix("rename to", path, errno: e) }
    }
}
