import FirebuildCore
import Foundation

/// The host end of the host↔guest channel the guest agent speaks over. Both kinds end in a
/// connected stream socket fd, which the Guest module's connection wraps.
/// - QEMU: a virtio-serial port (`firebuild.0`) whose chardev is a Unix socket QEMU listens on
///   (vhost-vsock is unavailable on hosts without the vhost module).
/// - Firecracker: hybrid vsock; connect to `uds_path`, send `CONNECT <port>\n`, expect `OK <n>\n`.
public enum GuestChannel: Equatable, Sendable {
    case virtioSerial(socketPath: String)
    case hybridVsock(udsPath: String, port: UInt32)

    /// The virtio-serial port name the guest looks up under /sys/class/virtio-ports/*/name.
    public static let portName = "firebuild.0"
    /// The vsock port the guest agent listens on.
    public static let defaultVsockPort: UInt32 = 10_000
    /// Guest CID given to Firecracker's vsock device (0-2 are reserved).
    public static let defaultGuestCID: UInt32 = 3

    /// The channel of a started VM.
    public static func forHandle(_ handle: VMHandle, port: UInt32 = defaultVsockPort) -> GuestChannel {
        switch handle.vmm {
        case .qemu: return .virtioSerial(socketPath: handle.channelSocketPath)
        case .firecracker: return .hybridVsock(udsPath: handle.channelSocketPath, port: port)
        }
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
