import FirebuildCore
import Foundation

/// One `--port` publication: `[iface:][host-port:]dest-port[/tcp|/udp]`. Without a host port the
/// host port is the destination port; without a protocol it is tcp. Ports are 1–65535 inclusive
/// (the original rejected 65535). Ranges are not supported and are rejected with a clear message.
public struct PortMapping: Hashable, Sendable, Codable, CustomStringConvertible {
    public enum Proto: String, Sendable, Codable, CaseIterable {
        case tcp, udp
    }

    /// Only traffic arriving on this host interface is forwarded; nil = any.
    public var interface: String?
    public var hostPort: Int
    public var destPort: Int
    public var proto: Proto

    public init(interface: String? = nil, hostPort: Int, destPort: Int, proto: Proto = .tcp) throws {
        try PortMapping.validatePort(hostPort, in: "\(hostPort)")
        try PortMapping.validatePort(destPort, in: "\(destPort)")
        if let interface { try PortMapping.validateInterface(interface, in: interface) }
        self.interface = interface
        self.hostPort = hostPort
        self.destPort = destPort
        self.proto = proto
    }

    public init(parsing text: String) throws {
        var spec = Substring(text.trimmingCharacters(in: .whitespaces))
        guard !spec.isEmpty else {
            throw FirebuildError(.invalidArgument, "empty --port value: use [iface:][host-port:]dest-port[/tcp|/udp], e.g. 8080:80/tcp")
        }
        var proto = Proto.tcp
        if let slash = spec.lastIndex(of: "/") {
            let name = spec[spec.index(after: slash)...].lowercased()
            guard let p = Proto(rawValue: name) else {
                throw FirebuildError(.invalidArgument, "invalid protocol \"\(name)\" in --port \(text): use tcp or udp")
            }
            proto = p
            spec = spec[..<slash]
        }
        let parts = spec.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        var interface: String?
        var hostText: String?
        let destText: String
        switch parts.count {
        case 1:
            destText = parts[0]
        case 2:
            // `iface:dest` or `host:dest`: a number in front is a host port (interface names
            // that are all digits are not allowed, so this is not ambiguous).
            if parts[0].allSatisfy(\.isNumber) || parts[0].contains("-") && parts[0].allSatisfy({ $0.isNumber || $0 == "-" }) {
                hostText = parts[0]
            } else {
                interface = parts[0]
            }
            destText = parts[1]
        case 3:
            interface = parts[0]
            hostText = parts[1]
            destText = parts[2]
        default:
            throw FirebuildError(.invalidArgument, "invalid --port \(text): expected [iface:][host-port:]dest-port[/tcp|/udp]")
        }
        if let interface { try PortMapping.validateInterface(interface, in: text) }
        let dest = try PortMapping.parsePort(destText, in: text)
        let host = try hostText.map { try PortMapping.parsePort($0, in: text) } ?? dest
        self.interface = interface
        self.hostPort = host
        self.destPort = dest
        self.proto = proto
    }

    /// Parses many `--port` values; the same host port and protocol twice is an error.
    public static func parse(_ values: [String]) throws -> [PortMapping] {
        let mappings = try values.map(PortMapping.init(parsing:))
        var seen: [String: PortMapping] = [:]
        for m in mappings {
            let key = "\(m.interface ?? "*")/\(m.hostPort)/\(m.proto)"
            if let other = seen[key] {
                throw FirebuildError(.invalidArgument, "--port \(m) and --port \(other) both publish host port \(m.hostPort)/\(m.proto)")
            }
            seen[key] = m
        }
        return mappings
    }

    public var description: String {
        (interface.map { "\($0):" } ?? "") + "\(hostPort):\(destPort)/\(proto.rawValue)"
    }

    static func parsePort(_ s: String, in text: String) throws -> Int {
        if s.contains("-") {
            throw FirebuildError(.invalidArgument, "port ranges (\(s)) are not supported in --port \(text): give one --port per port")
        }
        guard !s.isEmpty, s.count <= 5, s.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(s) else {
            throw FirebuildError(.invalidArgument, "invalid port \"\(s)\" in --port \(text): a port is a number from 1 to 65535")
        }
        try validatePort(n, in: text)
        return n
    }

    static func validatePort(_ n: Int, in text: String) throws {
        guard (1...65535).contains(n) else {
            throw FirebuildError(.invalidArgument, "port \(n) out of range in --port \(text): a port is a number from 1 to 65535")
        }
    }

    static func validateInterface(_ name: String, in text: String) throws {
        // Linux interface names: at most 15 bytes (IFNAMSIZ-1), no '/', ':' or whitespace.
        let ok = !name.isEmpty && name.utf8.count <= 15 && !name.allSatisfy(\.isNumber)
            && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.@".contains($0)) }
        guard ok else {
            throw FirebuildError(.invalidArgument, "invalid interface name \"\(name)\" in --port \(text): 1-15 letters, digits, '-', '_', '.' or '@'")
        }
    }
}
