import FirebuildCore
import Foundation
import Networking

/// A CNI network for microVMs as firebuild wants it: bridge (gateway, NAT) + firewall +
/// tc-redirect-tap, host-local IPAM with a default route. `write` creates the conflist in a conf
/// dir atomically under a lock, or reuses an identical one, so recipes can declare their
/// networks every time they run.
public struct NetworkSpec: Equatable, Sendable {
    public var name: String
    public var subnet: String
    public var gateway: String
    public var bridge: String
    public var ipMasq: Bool
    /// host-local's lease directory (default: `<cni cache dir>/networks`).
    public var ipamDataDir: String?
    public var cniVersion = "1.0.0"

    public init(name: String, subnet: String, gateway: String? = nil, bridge: String? = nil, ipMasq: Bool = true,
                ipamDataDir: String? = nil) throws {
        guard !name.isEmpty, name.count <= 64,
              name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }), !name.hasPrefix(".") else {
            throw FirebuildError(.invalidArgument, "invalid network name \"\(name)\": use 1-64 letters, digits, '-', '_' or '.'")
        }
        let (network, prefix) = try Self.parseSubnet(subnet)
        self.name = name
        self.subnet = "\(Self.format(network))/\(prefix)"
        if let gateway {
            guard let g = Self.parseIPv4(gateway), Self.contains(network: network, prefix: prefix, g), g != network else {
                throw FirebuildError(.invalidArgument, "gateway \(gateway) is not a host address in subnet \(self.subnet)")
            }
            self.gateway = gateway
        } else {
            self.gateway = Self.format(network + 1)
        }
        // Linux interface names have at most 15 bytes.
        let b = bridge ?? (String(name.filter { $0.isLetter || $0.isNumber }.prefix(13)) + "0")
        guard !b.isEmpty, b.count <= 15, b.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else {
            throw FirebuildError(.invalidArgument, "invalid bridge name \"\(b)\": 1-15 letters, digits, '-', '_' or '.' (Linux interface names)")
        }
        self.bridge = b
        self.ipMasq = ipMasq
        self.ipamDataDir = ipamDataDir
    }

    /// `192.168.127.0/24` → (network address, prefix); host bits must be zero, prefix 8…30.
    static func parseSubnet(_ text: String) throws -> (UInt32, Int) {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let ip = parseIPv4(String(parts[0])), let prefix = Int(parts[1]), (8...30).contains(prefix) else {
            throw FirebuildError(.invalidArgument, "invalid subnet \"\(text)\": use an IPv4 CIDR such as 192.168.127.0/24 (prefix 8-30)")
        }
        let mask: UInt32 = prefix == 0 ? 0 : ~UInt32(0) << (32 - prefix)
        guard ip & mask == ip else {
            throw FirebuildError(.invalidArgument, "invalid subnet \"\(text)\": host bits are set; did you mean \(format(ip & mask))/\(prefix)?")
        }
        return (ip, prefix)
    }

    static func parseIPv4(_ text: String) -> UInt32? {
        let octets = text.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4 else { return nil }
        var value: UInt32 = 0
        for o in octets {
            guard let n = UInt8(o), String(n) == o else { return nil }
            value = value << 8 | UInt32(n)
        }
        return value
    }

    static func format(_ ip: UInt32) -> String {
        [24, 16, 8, 0].map { String((ip >> UInt32($0)) & 0xff) }.joined(separator: ".")
    }

    static func contains(network: UInt32, prefix: Int, _ ip: UInt32) -> Bool {
        let mask: UInt32 = ~UInt32(0) << (32 - prefix)
        return ip & mask == network && ip != network | ~mask
    }

    /// The conflist JSON (sorted keys, so the same spec always gives the same bytes).
    public func conflist() throws -> Data {
        // The default route comes from IPAM only: with the bridge's isDefaultGateway too, both
        // add it and ADD fails with "file exists".
        var ipam: [String: Any] = [
            "type": "host-local",
            "ranges": [[["subnet": subnet, "gateway": gateway]]],
            "routes": [["dst": "0.0.0.0/0"]],
        ]
        if let ipamDataDir { ipam["dataDir"] = ipamDataDir }
        let plugins: [[String: Any]] = [
            ["type": "bridge", "bridge": bridge, "isGateway": true, "ipMasq": ipMasq,
             "hairpinMode": true, "ipam": ipam],
            ["type": "firewall", "backend": "iptables"],
            ["type": "tc-redirect-tap"],
        ]
        let list: [String: Any] = ["cniVersion": cniVersion, "name": name, "plugins": plugins]
        var data = try JSONSerialization.data(withJSONObject: list, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        data.append(0x0a)
        return data
    }

    public func fileName() -> String { "10-\(name).conflist" }

    public enum WriteOutcome: String, Sendable { case created, reused, replaced }

    /// Writes the conflist to `confDir` (atomically, under `<confDir>/.firebuild.lock`), reuses an
    /// identical file, and refuses to silently change a different network of the same name unless
    /// `replace`.
    @discardableResult
    public func write(confDir: String, replace: Bool = false) throws -> (path: String, outcome: WriteOutcome) {
        try FileManager.default.createDirectory(atPath: confDir, withIntermediateDirectories: true)
        let data = try conflist()
        return try FileLock.withLock(confDir + "/.firebuild.lock") {
            let own = confDir + "/" + fileName()
            // The same network name in another file (written by hand or another tool) wins in
            // CNI's lexical order; writing ours next to it would be ignored or ambiguous.
            if let existing = try? CNIConfigLoader.load(network: name, from: confDir), let source = existing.source,
               (source as NSString).standardizingPath != (own as NSString).standardizingPath {
                throw FirebuildError(.alreadyExists,
                    "CNI network \"\(name)\" is already defined in \(source); remove that file or give firebuild.network another name")
            }
            if let current = FileManager.default.contents(atPath: own) {
                if current == data { return (own, .reused) }
                guard replace else {
                    throw FirebuildError(.alreadyExists,
                        "CNI network \"\(name)\" in \(own) has a different configuration (subnet, gateway or bridge); "
                        + "pass replace = true to rewrite it (only when no VM uses it) or pick another name")
                }
                try AtomicFile.write(data, to: own)
                return (own, .replaced)
            }
            try AtomicFile.write(data, to: own)
            return (own, .created)
        }
    }
}
