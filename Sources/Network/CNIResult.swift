import FirebuildCore
import Foundation

/// A CNI spec 1.0 success result (`interfaces`, `ips`, `routes`, `dns`), as plugins print it
/// and as the chain passes it on as `prevResult`. Codable with the spec's field names, so the
/// same value is parsed from a plugin, cached, and handed to the next plugin unchanged.
public struct CNIResult: Codable, Equatable, Sendable {
    public var cniVersion: String
    public var interfaces: [Interface]
    public var ips: [IPConfig]
    public var routes: [Route]
    public var dns: DNS

    public struct Interface: Codable, Equatable, Sendable {
        public var name: String
        public var mac: String?
        public var mtu: Int?
        /// Netns path for interfaces inside a sandbox; nil (absent) for host-side ones.
        /// tc-redirect-tap also uses the VM id here for the VM's pseudo-interface.
        public var sandbox: String?
        public var socketPath: String?
        public var pciID: String?

        public init(name: String, mac: String? = nil, mtu: Int? = nil, sandbox: String? = nil) {
            self.name = name
            self.mac = mac
            self.mtu = mtu
            self.sandbox = sandbox
        }
    }

    public struct IPConfig: Codable, Equatable, Sendable {
        /// CIDR notation, e.g. `10.231.0.2/24`.
        public var address: String
        public var gateway: String?
        /// Index into `interfaces`.
        public var interface: Int?

        public init(address: String, gateway: String? = nil, interface: Int? = nil) {
            self.address = address
            self.gateway = gateway
            self.interface = interface
        }

        /// The address without its prefix length.
        public var ip: String { String(address.split(separator: "/").first ?? "") }
        /// The prefix length (24 for `/24`), nil if the address has none.
        public var prefixLength: Int? {
            let parts = address.split(separator: "/")
            return parts.count == 2 ? Int(parts[1]) : nil
        }
        /// Dotted netmask for IPv4 (`255.255.255.0`), as the kernel's `ip=` argument wants it.
        public var netmask: String? {
            guard let p = prefixLength, (0...32).contains(p), !ip.contains(":") else { return nil }
            let mask: UInt32 = p == 0 ? 0 : ~UInt32(0) << (32 - p)
            return (0..<4).map { String((mask >> (24 - 8 * $0)) & 0xFF) }.joined(separator: ".")
        }
    }

    public struct Route: Codable, Equatable, Sendable {
        public var dst: String
        public var gw: String?
        public var mtu: Int?
        public var advmss: Int?
        public var priority: Int?

        public init(dst: String, gw: String? = nil) {
            self.dst = dst
            self.gw = gw
        }
    }

    public struct DNS: Codable, Equatable, Sendable {
        public var nameservers: [String]?
        public var domain: String?
        public var search: [String]?
        public var options: [String]?

        public init(nameservers: [String]? = nil, domain: String? = nil, search: [String]? = nil, options: [String]? = nil) {
            self.nameservers = nameservers
            self.domain = domain
            self.search = search
            self.options = options
        }

        var isEmpty: Bool { nameservers == nil && domain == nil && search == nil && options == nil }
    }

    public init(cniVersion: String = CNIResult.specVersion, interfaces: [Interface] = [], ips: [IPConfig] = [],
                routes: [Route] = [], dns: DNS = DNS()) {
        self.cniVersion = cniVersion
        self.interfaces = interfaces
        self.ips = ips
        self.routes = routes
        self.dns = dns
    }

    public static let specVersion = "1.0.0"

    enum CodingKeys: String, CodingKey { case cniVersion, interfaces, ips, routes, dns }

    // Every list is optional in the spec; missing lists decode as empty.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        cniVersion = try c.decodeIfPresent(String.self, forKey: .cniVersion) ?? CNIResult.specVersion
        interfaces = try c.decodeIfPresent([Interface].self, forKey: .interfaces) ?? []
        ips = try c.decodeIfPresent([IPConfig].self, forKey: .ips) ?? []
        routes = try c.decodeIfPresent([Route].self, forKey: .routes) ?? []
        dns = try c.decodeIfPresent(DNS.self, forKey: .dns) ?? DNS()
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(cniVersion, forKey: .cniVersion)
        if !interfaces.isEmpty { try c.encode(interfaces, forKey: .interfaces) }
        try c.encode(ips, forKey: .ips)
        if !routes.isEmpty { try c.encode(routes, forKey: .routes) }
        if !dns.isEmpty { try c.encode(dns, forKey: .dns) }
    }

    /// Parses a plugin's stdout; a malformed result names the plugin.
    public static func parse(_ data: Data, from plugin: String = "plugin") throws -> CNIResult {
        do {
            return try JSONDecoder().decode(CNIResult.self, from: data)
        } catch {
            let text = String(decoding: data.prefix(300), as: UTF8.self)
            throw FirebuildError(.parse, "CNI \(plugin) printed an invalid result (\(error)): \(text)")
        }
    }

    public func jsonData() throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try enc.encode(self)
    }

    /// The result as a JSON object, for splicing into a plugin's config as `prevResult`.
    public func jsonObject() throws -> Any {
        try JSONSerialization.jsonObject(with: jsonData())
    }

    // MARK: convenience for the VM side

    /// IP configs attached to the interface with this name and sandbox.
    public func ips(forInterface name: String, sandbox: String?) -> [IPConfig] {
        ips.filter { ip in
            guard let i = ip.interface, interfaces.indices.contains(i) else { return false }
            return interfaces[i].name == name && interfaces[i].sandbox == sandbox
        }
    }

    /// The VM's view, following tc-redirect-tap's convention: the tap device (in the netns) and the
    /// pseudo-interface of the same name whose sandbox is the VM id (its MAC is the one the guest
    /// must use, its IPs are the guest's). Nil when the chain had no tc-redirect-tap.
    public func vmInterface(vmID: String) -> (tap: Interface, vm: Interface, ips: [IPConfig])? {
        let vms = interfaces.filter { $0.sandbox == vmID }
        guard vms.count == 1, let vm = vms.first else { return nil }
        guard let tap = interfaces.first(where: { $0.name == vm.name && $0.sandbox != vmID }) else { return nil }
        return (tap, vm, ips(forInterface: vm.name, sandbox: vmID))
    }
}

/// A CNI error result (`{"code":…,"msg":…,"details":…}`), printed on stdout with a non-zero exit.
public struct CNIErrorResult: Codable, Equatable, Sendable, Error {
    public var cniVersion: String?
    public var code: Int
    public var msg: String
    public var details: String?

    public init(cniVersion: String? = CNIResult.specVersion, code: Int, msg: String, details: String? = nil) {
        self.cniVersion = cniVersion
        self.code = code
        self.msg = msg
        self.details = details
    }

    /// Well-known codes from the spec (1–99 are reserved).
    public static let incompatibleVersion = 1
    public static let unsupportedField = 2
    public static let containerUnknown = 3
    public static let invalidEnvironment = 4
    public static let ioFailure = 5
    public static let decodeFailure = 6
    public static let invalidConfig = 7
    public static let tryAgainLater = 11

    public func asFirebuildError(plugin: String, command: String) -> FirebuildError {
        var message = "CNI plugin \(plugin) failed \(command) (code \(code)): \(msg)"
        if let details, !details.isEmpty { message += ": \(details)" }
        return FirebuildError(.network, message)
    }
}
