import FirebuildCore
import Foundation

/// Blocking Unix stream sockets: QMP, the virtio-serial channel, Firecracker's vsock and API sockets.
public enum UnixSocket {
    /// sun_path holds 108 bytes including the terminating NUL.
    public static let maxPathLength = 107

    /// Connects, retrying while the socket does not exist yet or refuses (the VMM is starting).
    public static func connect(_ path: String, timeout: TimeInterval = 5) throws -> Int32 {
        guard path.utf8.count <= maxPathLength else {
            throw FirebuildError(.invalidArgument, "socket path \(path) is longer than \(maxPathLength) bytes")
        }
        let deadline = Date().addingTimeInterval(timeout)
        var lastErrno: Int32 = 0
        var backoff = Backoff()
        repeat {
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw FirebuildError.posix("socket", path: path) }
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &addr.sun_path) { raw in
                let bytes = Array(path.utf8)
                raw.copyBytes(from: bytes)
                raw[bytes.count] = 0
            }
            let rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            if rc == 0 { return fd }
            lastErrno = errno
            close(fd)
            guard lastErrno == ENOENT || lastErrno == ECONNREFUSED || lastErrno == EAGAIN else { break }
            backoff.sleep()
        } while Date() < deadline
        throw FirebuildError(lastErrno == ENOENT ? .notFound : .io,
                             "cannot connect to \(path): \(String(cString: strerror(lastErrno)))")
    }

    /// Sets receive and send timeouts so a silent peer cannot block forever.
    public static func setTimeout(_ fd: Int32, seconds: TimeInterval) {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    public static func writeAll(_ fd: Int32, _ data: Data) throws {
        try data.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = send(fd, raw.baseAddress! + off, raw.count - off, Int32(MSG_NOSIGNAL))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FirebuildError(.io, "socket write failed: \(String(cString: strerror(errno)))")
                }
                off += n
            }
        }
    }

    /// Reads up to and including the next `\n` (one byte at a time: the rest belongs to the next reader).
    public static func readLine(_ fd: Int32, limit: Int = 1 << 20) throws -> String {
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while bytes.count < limit {
            let n = recv(fd, &byte, 1, 0)
            if n == 0 { throw FirebuildError(.io, "connection closed by peer") }
            if n < 0 {
                if errno == EINTR { continue }
                let timedOut = errno == EAGAIN || errno == EWOULDBLOCK
                throw FirebuildError(timedOut ? .timeout : .io, "socket read failed: \(String(cString: strerror(errno)))")
            }
            if byte == 0x0A { break }
            bytes.append(byte)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
