import Foundation

/// An advisory lock on a file (flock(2)): serialises writers of shared state across processes
/// (tags, run cache, IPAM, iptables). Released when the holder exits, even by a crash.
public final class FileLock {
    public let path: String
    private var fd: Int32 = -1

    public init(path: String) {
        self.path = path
    }

    deinit { unlock() }

    /// Blocks until the lock is held, or fails after `timeout` seconds.
    public func lock(exclusive: Bool = true, timeout: TimeInterval = 60) throws {
        let dir = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FirebuildError.posix("open lock", path: path) }
        let op = (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB
        let deadline = Date().addingTimeInterval(timeout)
        var backoff = Backoff()
        while flock(fd, op) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else {
                let e = errno
                close(fd); fd = -1
                throw FirebuildError.posix("flock", path: path, errno: e)
            }
            if Date() > deadline {
                close(fd); fd = -1
                throw FirebuildError(.conflict, "timed out after \(Int(timeout))s waiting for lock \(path); another firebuild process holds it")
            }
            backoff.sleep()
        }
    }

    public func unlock() {
        if fd >= 0 {
            flock(fd, LOCK_UN)
            close(fd)
            fd = -1
        }
    }

    /// Runs `body` with the lock held.
    public static func withLock<T>(_ path: String, timeout: TimeInterval = 60, _ body: () throws -> T) throws -> T {
        let lock = FileLock(path: path)
        try lock.lock(timeout: timeout)
        defer { lock.unlock() }
        return try body()
    }
}
