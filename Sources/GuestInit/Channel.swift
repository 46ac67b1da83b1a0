// Finding and opening the host channel.
#if canImport(Glibc)
import Glibc
#endif
import CSyscalls
import Guest

enum Channel {
    /// Opens the channel, waiting for the device to appear (modules load asynchronously).
    static func open(_ spec: ChannelSpec, timeout: Double = 20) throws -> Int32 {
        let deadline = Posix.now() + timeout
        switch spec {
        case let .fd(fd):
            Posix.setCloseOnExec(fd)
            return fd
        case let .virtioSerial(name):
            while true {
                if let dev = findVirtioPort(named: name) {
                    let fd = Glibc.open(dev, O_RDWR | O_CLOEXEC | O_NOCTTY)
                    if fd >= 0 { return fd }
                    if Posix.now() > deadline { throw GuestError.posix("open", dev) }
                } else if Posix.now() > deadline {
                    throw GuestError(.notFound, "no virtio-serial port named \(name) under /sys/class/virtio-ports "
                        + "(is the virtio_console module loaded and `-device virtserialport,name=\(name)` given?)")
                }
                usleep(20_000)
            }
        case let .vsock(port, listen):
            if listen {
                let fd = fb_vsock_accept_one(port)
                guard fd >= 0 else { throw GuestError.posix("vsock listen on port \(port)") }
                return fd
            }
            while true {
                let fd = fb_vsock_connect(2, port)  // VMADDR_CID_HOST
                if fd >= 0 { return fd }
                if Posix.now() > deadline { throw GuestError.posix("vsock connect to host port \(port)") }
                usleep(50_000)
            }
        }
    }

    /// /sys/class/virtio-ports/vportNpM/name holds the port's name; the device is /dev/vportNpM.
    static func findVirtioPort(named name: String) -> String? {
        guard let dir = opendir("/sys/class/virtio-ports") else { return nil }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let port = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if port.hasPrefix(".") { continue }
            let text = Posix.readText("/sys/class/virtio-ports/\(port)/name") ?? ""
            if text.trimmingCharacters() == name, Posix.exists("/dev/\(port)") { return "/dev/\(port)" }
        }
        return nil
    }
}

extension String {
    func trimmingCharacters() -> String {
        var s = Substring(self)
        while let c = s.last, c == "\n" || c == " " || c == "\t" || c == "\0" { s.removeLast() }
        while let c = s.first, c == " " || c == "\t" { s.removeFirst() }
        return String(s)
    }
}
