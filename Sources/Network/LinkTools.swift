import FirebuildCore
import Foundation

/// `ip` and `tc` (iproute2) run inside a network namespace given by path, through
/// `nsenter --net=PATH` (works for any bind-mounted netns, named or not).
public struct NetnsTools: Sendable {
    /// Netns path; nil runs in the current namespace.
    public var netnsPath: String?

    public init(netnsPath: String?) {
        self.netnsPath = netnsPath
    }

    public func command(_ exe: String, _ args: [String]) -> Command {
        guard let netnsPath else { return Command(exe, args, timeout: 30) }
        return Command("nsenter", ["--net=\(netnsPath)", "--", exe] + args, timeout: 30)
    }

    @discardableResult
    public func run(_ exe: String, _ args: [String]) throws -> Command.Result {
        try command(exe, args).check()
    }

    /// A link's attributes from `ip -j link show`, nil when there is no such device.
    public struct Link: Sendable, Equatable {
        public var name: String
        public var index: Int
        public var mtu: Int
        public var mac: String
        public var kind: String?
        public var flags: [String]
    }

    public func link(_ name: String) throws -> Link? {
        let r = try command("ip", ["-d", "-j", "link", "show", "dev", name]).run()
        guard r.status == 0 else {
            if r.stderrString.contains("does not exist") || r.stderrString.contains("Cannot find device") { return nil }
            throw FirebuildError(.subprocess, "ip link show \(name) failed: \(r.stderrString.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return try NetnsTools.parseLinks(r.stdout).first
    }

    public func links() throws -> [Link] {
        try NetnsTools.parseLinks(try run("ip", ["-d", "-j", "link", "show"]).stdout)
    }

    static func parseLinks(_ data: Data) throws -> [Link] {
        guard let array = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]] else {
            throw FirebuildError(.parse, "unexpected `ip -j link` output: \(String(decoding: data.prefix(200), as: UTF8.self))")
        }
        return array.compactMap { o in
            guard let name = o["ifname"] as? String, let index = o["ifindex"] as? Int else { return nil }
            let info = o["linkinfo"] as? [String: Any]
            return Link(name: name, index: index, mtu: o["mtu"] as? Int ?? 1500, mac: o["address"] as? String ?? "",
                        kind: info?["info_kind"] as? String, flags: o["flags"] as? [String] ?? [])
        }
    }

    /// True when `dev` has an ingress qdisc.
    public func hasIngressQdisc(_ dev: String) throws -> Bool {
        let r = try run("tc", ["-j", "qdisc", "show", "dev", dev])
        let array = (try? JSONSerialization.jsonObject(with: r.stdout) as? [[String: Any]]) ?? []
        return array.contains { ($0["kind"] as? String) == "ingress" }
    }

    /// Devices that u32 filters on `dev`'s ingress redirect to (mirred egress redirect).
    public func redirectTargets(_ dev: String) throws -> [String] {
        let r = try run("tc", ["-j", "filter", "show", "dev", dev, "parent", "ffff:"])
        let array = (try? JSONSerialization.jsonObject(with: r.stdout) as? [[String: Any]]) ?? []
        var targets: [String] = []
        for f in array where (f["kind"] as? String) == "u32" {
            let actions = (f["options"] as? [String: Any])?["actions"] as? [[String: Any]] ?? []
            for a in actions where (a["kind"] as? String) == "mirred" && (a["mirred_action"] as? String) == "redirect"
                && (a["direction"] as? String) == "egress" {
                if let to = a["to_dev"] as? String { targets.append(to) }
            }
        }
        return targets
    }
}
