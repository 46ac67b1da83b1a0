// The kernel command line and how the init finds its channel. Dotted parameters such as
// `firebuild.channel=vsock` are treated by the kernel as module parameters and are NOT passed to
// init as environment, so the init reads /proc/cmdline itself.

public enum KernelCmdline {
    /// Splits a kernel command line into key/value pairs (flags get ""), honouring double quotes.
    /// Later duplicates win. Everything after a bare `--` belongs to init and is ignored here.
    public static func parse(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for w in words(text) {
            if w == "--" { break }
            if let eq = w.firstIndex(of: "=") {
                out[String(w[..<eq])] = String(w[w.index(after: eq)...])
            } else {
                out[w] = ""
            }
        }
        return out
    }

    /// The command line's words in order, double quotes honoured (`a="b c"` is one word `a=b c`).
    public static func words(_ text: String) -> [String] {
        var word = "", inQuotes = false, words: [String] = []
        for c in text {
            if c == "\"" { inQuotes.toggle(); continue }
            if !inQuotes && (c == " " || c == "\n" || c == "\t") {
                if !word.isEmpty { words.append(word); word = "" }
                continue
            }
            word.append(c)
        }
        if !word.isEmpty { words.append(word) }
        return words
    }
}

/// Which transport carries the protocol.
public enum ChannelSpec: Equatable, Sendable {
    /// QEMU: a virtserialport with this name (found under /sys/class/virtio-ports/*/name).
    case virtioSerial(name: String)
    /// Firecracker: AF_VSOCK. `listen == false`: the guest connects to the host (CID 2) on `port`.
    case vsock(port: UInt32, listen: Bool)
    /// Tests: an inherited file descriptor.
    case fd(Int32)

    public static let defaultPortName = "firebuild.0"
    public static let defaultVsockPort: UInt32 = 10789

    /// From kernel parameters: `firebuild.channel=virtio-serial|vsock`, `firebuild.port=NAME`,
    /// `firebuild.vsock_port=N`, `firebuild.vsock_mode=connect|listen`. Default: virtio-serial.
    public static func from(cmdline p: [String: String]) throws -> ChannelSpec {
        switch p["firebuild.channel"] ?? "virtio-serial" {
        case "virtio-serial", "virtio_serial", "serial":
            return .virtioSerial(name: p["firebuild.port"] ?? defaultPortName)
        case "vsock":
            var port = defaultVsockPort
            if let s = p["firebuild.vsock_port"] {
                guard let n = UInt32(s), n > 0 else { throw GuestError(.invalidArgument, "firebuild.vsock_port=\(s) is not a port number") }
                port = n
            }
            let mode = p["firebuild.vsock_mode"] ?? "connect"
            guard mode == "connect" || mode == "listen" else {
                throw GuestError(.invalidArgument, "firebuild.vsock_mode=\(mode) must be connect or listen")
            }
            return .vsock(port: port, listen: mode == "listen")
        case let other:
            throw GuestError(.invalidArgument, "firebuild.channel=\(other) must be virtio-serial or vsock")
        }
    }

    public var description: String {
        switch self {
        case let .virtioSerial(name): return "virtio-serial:\(name)"
        case let .vsock(port, listen): return "vsock:\(port)\(listen ? ":listen" : "")"
        case let .fd(n): return "fd:\(n)"
        }
    }
}

/// Contents of the files the init writes into /etc.
public enum EtcFiles {
    public static func hosts(hostname: String, address: String?, extra: [String] = []) -> String {
        var s = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        s += "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
        let short = hostname.split(separator: ".").first.map(String.init) ?? hostname
        let names = short == hostname ? hostname : "\(hostname) \(short)"
        s += "\(address ?? "127.0.1.1")\t\(names)\n"
        for line in extra where !line.trimmingSpaces().isEmpty { s += line.trimmingSpaces() + "\n" }
        return s
    }

    public static func resolvConf(nameservers: [String], search: [String]) -> String {
        var s = ""
        if !search.isEmpty { s += "search " + search.joined(separator: " ") + "\n" }
        for ns in nameservers { s += "nameserver \(ns)\n" }
        return s
    }

    /// Nameservers from /proc/net/pnp (written by the kernel when `ip=` got DNS servers).
    public static func pnpNameservers(_ pnp: String) -> [String] {
        pnp.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count >= 2, f[0] == "nameserver", f[1] != "0.0.0.0" else { return nil }
            return String(f[1])
        }
    }

    /// Adds keys to an authorized_keys text once: a key already present (same line) is not
    /// added again, so rebooting a VM never duplicates keys. Returns nil when nothing changes.
    public static func mergeAuthorizedKeys(existing: String, keys: [String]) -> String? {
        let present = Set(existing.split(separator: "\n").map { String($0).trimmingSpaces() })
        var out = existing
        var changed = false
        for key in keys.flatMap({ $0.split(separator: "\n").map { String($0).trimmingSpaces() } }) where !key.isEmpty {
            if present.contains(key) || out.split(separator: "\n").contains(where: { String($0).trimmingSpaces() == key }) { continue }
            if !out.isEmpty && !out.hasSuffix("\n") { out += "\n" }
            out += key + "\n"
            changed = true
        }
        return changed ? out : nil
    }

    /// IPv4 dotted quad to its 32-bit value in host order; nil when malformed.
    public static func parseIPv4(_ s: String) -> UInt32? {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var v: UInt32 = 0
        for p in parts {
            guard let b = UInt8(p) else { return nil }
            v = v << 8 | UInt32(b)
        }
        return v
    }

    public static func prefixMask(_ prefix: Int) -> UInt32 {
        prefix <= 0 ? 0 : prefix >= 32 ? 0xFFFF_FFFF : ~UInt32(0) << UInt32(32 - prefix)
    }
}
