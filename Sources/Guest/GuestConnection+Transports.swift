// Host-side ways to obtain the connected channel fd for each VMM:
// - QEMU virtio-serial: `connect(unixPath:)` to the chardev socket (GuestConnection.swift).
// - Firecracker vsock, guest connects (default `firebuild.vsock_mode=connect`): Firecracker forwards
//   the guest's connection to CID 2 port P to the Unix socket `<uds_path>_P`, which the host
//   listens on before boot: `listenVsock(udsPath:port:)` then `accept(timeout:)`.
// - Firecracker vsock, guest listens (`firebuild.vsock_mode=listen`): the host connects to
//   `<uds_path>` and writes `CONNECT P\n`; Firecracker answers `OK <host port>\n`: `connectVsock`.
#if canImport(Glibc)
import Glibc
#endif

/// A listening Unix socket for Firecracker's guest-initiated vsock connections.
public final class VsockListener {
    public let path: String
    let fd: Int32

    /// Listens on `<udsPath>_<port>` (removing a stale socket file first).
    public init(udsPath: String, port: UInt32) throws {
        path = "\(udsPath)_\(port)"
        unlink(path)
        fd = try UnixSocket.make(path: path) { fd, addr, len in bind(fd, addr, len) == 0 && listen(fd, 1) == 0 }
    }

    deinit { close(fd); unlink(path) }

    /// Waits for the guest to connect and wraps the connection.
    public func accept(timeout: Double) throws -> GuestConnection {
        guard try Posix.waitReadable(fd, timeout: timeout) else {
            throw GuestError(.timeout, "the guest did not connect to \(path) within \(Int(timeout)) s")
        }
        let c = Glibc.accept(fd, nil, nil)
        guard c >= 0 else { throw GuestError.posix("accept", path) }
        Posix.setCloseOnExec(c)
        return try GuestConnection(fd: c)
    }
}

extension GuestConnection {
    /// Connects through Firecracker's vsock Unix socket to a guest listening on `port`.
    public static func connectVsock(udsPath: String, port: UInt32, timeout: Double) throws -> GuestConnection {
        let deadline = Posix.now() + timeout
        while true {
            // Until the guest listens, Firecracker refuses or closes the connection: retry.
            if let fd = try? UnixSocket.make(path: udsPath, { fd, addr, len in Glibc.connect(fd, addr, len) == 0 }) {
                let accepted = (try? Posix.writeAll(fd, Array("CONNECT \(port)\n".utf8), socket: true)) != nil
                    && ((try? UnixSocket.readLine(fd, timeout: max(0.1, min(2, deadline - Posix.now()))))?.hasPrefix("OK ") ?? false)
                if accepted { return try GuestConnection(fd: fd) }
                Glibc.close(fd)
            }
            if Posix.now() >= deadline {
                throw GuestError(.timeout, "vsock CONNECT \(port) via \(udsPath) not accepted within \(Int(timeout)) s")
            }
            usleep(50_000)
        }
    }
}

enum UnixSocket {
    /// Creates a stream Unix socket and runs `op` (bind+listen or connect) with the address.
    static func make(path: String, _ op: (Int32, UnsafePointer<sockaddr>, socklen_t) -> Bool) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw GuestError.posix("socket") }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            close(fd); throw GuestError(.invalidArgument, "socket path too long (max 107 bytes): \(path)")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in bytes.enumerated() { raw[i] = b } }
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { op(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard ok else { let e = GuestError.posix("socket", path); close(fd); throw e }
        return fd
    }

    /// Reads one "\n"-terminated line byte by byte (so nothing after it is consumed).
    static func readLine(_ fd: Int32, timeout: Double) throws -> String {
        var line: [UInt8] = []
        let deadline = Posix.now() + timeout
        while line.count < 256 {
            guard try Posix.waitReadable(fd, timeout: deadline - Posix.now()) else {
                throw GuestError(.timeout, "no handshake reply")
            }
            var b: UInt8 = 0
            let n = read(fd, &b, 1)
            if n == 0 { throw GuestError(.closed, "closed during handshake") }
            if n < 0 { if errno == EINTR { continue }; throw GuestError.posix("read handshake") }
            if b == 0x0A { break }
            line.append(b)
        }
        return String(decoding: line, as: UTF8.self)
    }
}
