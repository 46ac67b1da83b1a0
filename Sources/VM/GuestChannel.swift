import FirebuildCore
import Foundation
import Guest

/// The host end of the host↔guest channel the guest agent speaks over. Both kinds end in a
/// connected stream socket fd, which the Guest module's connection wraps.
/// - QEMU: a virtio-serial port (`firebuild.0`) whose chardev is a Unix socket QEMU listens on
///   (vhost-vsock is unavailable on hosts without the vhost module).
/// - Firecracker: hybrid vsock; connect to `uds_path`, send `CONNECT <port>\n`, expect `OK <n>\n`.
public enum GuestChannel: Equatable, Sendable {
    case virtioSerial(socketPath: String)
    case hybridVsock(udsPath: String, port: UInt32)

    /// The virtio-serial port name the guest looks up under /sys/class/virtio-ports/*/name.
    public static let portName = ChannelSpec.defaultPortName
    /// The vsock port of the guest agent (the Guest module's default).
    public static let defaultVsockPort: UInt32 = ChannelSpec.defaultVsockPort
    /// Guest CID given to Firecracker's vsock device (0-2 are reserved).
    public static let defaultGuestCID: UInt32 = 3

    /// The channel of a started VM.
    public static func forHandle(_ handle: VMHandle, port: UInt32 = defaultVsockPort) -> GuestChannel {
        switch handle.vmm {
        case .qemu: return .virtioSerial(socketPath: handle.channelSocketPath)
        case .firecracker: return .hybridVsock(udsPath: handle.channelSocketPath, port: port)
        }
    }

    /// Kernel parameters telling the guest init which channel to open: virtio-serial for QEMU; for
    /// Firecracker vsock in listen mode, so the host connects (CONNECT <port>) as it does with QEMU.
    public static func kernelParameters(for vmm: VMMKind, port: UInt32 = defaultVsockPort) -> [(String, String)] {
        switch vmm {
        case .qemu: return [("firebuild.channel", "virtio-serial"), ("firebuild.port", portName)]
        case .firecracker: return [("firebuild.channel", "vsock"), ("firebuild.vsock_mode", "listen"), ("firebuild.vsock_port", String(port))]
        }
    }

    /// Connects and wraps the fd in the Guest module's connection (frames, requests, events).
    public func open(timeout: TimeInterval = 10) throws -> GuestConnection {
        let fd = try connect(timeout: timeout)
        do {
            return try GuestConnection(fd: fd)
        } catch {
            close(fd)
            throw FirebuildError(.guest, "cannot start the guest connection: \(error)")
        }
    }

    /// Guest-initiated vsock (the guest init's `connect` mode): Firecracker forwards the guest's
    /// connection to `<uds_path>_<port>`, where the host must listen before the guest boots.
    /// Returns the listening fd; pass it to `acceptGuest`.
    public static func listenForGuest(udsPath: String, port: UInt32 = defaultVsockPort) throws -> Int32 {
        let path = "\(udsPath)_\(port)"
        guard path.utf8.count <= UnixSocket.maxPathLength else {
            throw FirebuildError(.invalidArgument, "vsock listener path \(path) is longer than \(UnixSocket.maxPathLength) bytes")
        }
        unlink(path)
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
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0, listen(fd, 1) == 0 else {
            let e = errno
            close(fd)
            throw FirebuildError.posix("bind/listen", path: path, errno: e)
        }
        return fd
    }

    /// Waits up to `timeout` for the guest's connection on a listener from `listenForGuest`.
    public static func acceptGuest(_ listener: Int32, timeout: TimeInterval) throws -> Int32 {
        var pfd = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        let rc = poll(&pfd, 1, Int32(max(0, timeout) * 1000))
        guard rc > 0 else { throw FirebuildError(.timeout, "the guest did not connect over vsock within \(Int(timeout)) s") }
        let fd = accept(listener, nil, nil)
        guard fd >= 0 else { throw FirebuildError.posix("accept", path: "vsock listener") }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        return fd
    }

    /// Connects and returns the fd (the caller owns and closes it). Retries until `timeout` while the
    /// VMM has not created the socket yet; the vsock handshake fails fast when no guest listens.
    public func connect(timeout: TimeInterval = 10) throws -> Int32 {
        switch self {
        case .virtioSerial(let path):
            return try UnixSocket.connect(path, timeout: timeout)
        case .hybridVsock(let path, let port):
            let deadline = Date().addingTimeInterval(timeout)
            while true {
                let fd = try UnixSocket.connect(path, timeout: max(0.1, deadline.timeIntervalSinceNow))
                do {
                    UnixSocket.setTimeout(fd, seconds: 5)
                    try UnixSocket.writeAll(fd, Data("CONNECT \(port)\n".utf8))
                    let reply = try UnixSocket.readLine(fd, limit: 64)
                    guard reply.hasPrefix("OK ") else {
                        throw FirebuildError(.guest, "vsock CONNECT \(port) on \(path) answered \"\(reply)\"")
                    }
                    UnixSocket.setTimeout(fd, seconds: 0)  // 0 = no timeout: the caller sets its own
                    return fd
                } catch {
                    close(fd)
                    // Firecracker closes the connection when nothing listens on the port yet (guest booting).
                    if Date() >= deadline { throw error }
                    usleep(100_000)
                }
            }
        }
    }
}
