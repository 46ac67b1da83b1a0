import FirebuildCore
import Foundation

/// firebuild's `tc-redirect-tap` CNI plugin, behaving like AWS's (awslabs/tc-redirect-tap), which
/// Debian does not package. Chained after a plugin that made a veth (bridge, ptp…), it creates a tap
/// in the container netns and joins tap and veth with two tc ingress qdiscs plus u32 "match all"
/// filters doing `mirred egress redirect` both ways, so every frame entering one leaves the other.
/// The veth keeps its IP config: the VM takes it over. The result gains the tap (sandbox = netns)
/// and a pseudo-interface with the tap's name whose sandbox is the VM id and whose MAC is the
/// veth's; the veth's IPs are repeated for that pseudo-interface (the guest's own config).
///
/// Config keys: `tap_name`, `uid`, `gid`; CNI_ARGS `TC_REDIRECT_TAP_NAME`, `_UID`, `_GID` override
/// them; other CNI_ARGS keys are ignored. Without a name the first free `tapN` is used.
public struct TapRedirectPlugin {
    public static let supportedVersions = ["0.3.0", "0.3.1", "0.4.0", "1.0.0"]

    public struct Failure: Error {
        public var code: Int
        public var msg: String
        public var details: String?
        init(_ code: Int, _ msg: String, details: String? = nil) {
            self.code = code
            self.msg = msg
            self.details = details
        }
    }

    let environment: [String: String]
    let stdin: Data

    public init(environment: [String: String], stdin: Data) {
        self.environment = environment
        self.stdin = stdin
    }

    /// Runs one CNI command; returns what to print on stdout and the exit status.
    public func main() -> (output: Data, status: Int32) {
        var version = CNIResult.specVersion
        do {
            let command = environment["CNI_COMMAND"] ?? ""
            if command == "VERSION" {
                return (try json(["cniVersion": CNIResult.specVersion, "supportedVersions": Self.supportedVersions]), 0)
            }
            let conf = try parseConfig()
            version = conf.cniVersion
            switch command {
            case "ADD": return (try add(conf), 0)
            case "DEL": try del(conf); return (Data(), 0)
            case "CHECK": try check(conf); return (Data(), 0)
            case "": throw Failure(CNIErrorResult.invalidEnvironment, "CNI_COMMAND is not set")
            default: throw Failure(CNIErrorResult.invalidEnvironment, "unknown CNI_COMMAND \(command)")
            }
        } catch let f as Failure {
            return (errorJSON(version, f.code, f.msg, f.details), 1)
        } catch {
            return (errorJSON(version, 100, "\(error)", nil), 1)
        }
    }

    // MARK: configuration

    struct Config {
        var cniVersion: String
        var containerID: String
        var netns: String
        var ifName: String
        var tapName: String?
        var uid: Int
        var gid: Int
        /// prevResult as a raw object, so fields of older result versions pass through untouched.
        var prevResult: [String: Any]?
    }

    func parseConfig() throws -> Config {
        guard let obj = try? JSONSerialization.jsonObject(with: stdin) as? [String: Any] else {
            throw Failure(CNIErrorResult.decodeFailure, "network configuration on stdin is not a JSON object")
        }
        let version = obj["cniVersion"] as? String ?? "0.2.0"
        guard Self.supportedVersions.contains(version) else {
            throw Failure(CNIErrorResult.incompatibleVersion, "cniVersion \(version) not supported",
                          details: "supported: \(Self.supportedVersions.joined(separator: ", "))")
        }
        guard let ifName = environment["CNI_IFNAME"], !ifName.isEmpty else {
            throw Failure(CNIErrorResult.invalidEnvironment, "no device to redirect with was found, was CNI_IFNAME specified?")
        }
        var conf = Config(cniVersion: version, containerID: environment["CNI_CONTAINERID"] ?? "",
                          netns: environment["CNI_NETNS"] ?? "", ifName: ifName,
                          tapName: obj["tap_name"] as? String, uid: obj["uid"] as? Int ?? Int(geteuid()),
                          gid: obj["gid"] as? Int ?? Int(getegid()), prevResult: obj["prevResult"] as? [String: Any])
        for pair in (environment["CNI_ARGS"] ?? "").split(separator: ";") {
            let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { throw Failure(CNIErrorResult.invalidEnvironment, "invalid CNI_ARGS entry \"\(pair)\"") }
            switch kv[0] {
            case "TC_REDIRECT_TAP_NAME": conf.tapName = kv[1]
            case "TC_REDIRECT_TAP_UID", "TC_REDIRECT_TAP_GID":
                guard let n = Int(kv[1]), n >= 0 else {
                    throw Failure(CNIErrorResult.invalidEnvironment, "\(kv[0]) must be a non-negative number, got \"\(kv[1])\"")
                }
                if kv[0].hasSuffix("UID") { conf.uid = n } else { conf.gid = n }
            default: break  // IgnoreUnknown semantics: other plugins' args (IP=…) are not ours
            }
        }
        if let name = conf.tapName {
            guard !name.isEmpty, name.utf8.count < 16, !name.contains("/"), !name.contains(where: \.isWhitespace) else {
                throw Failure(CNIErrorResult.invalidConfig, "invalid tap name \"\(name)\": 1-15 characters, no '/' or spaces")
            }
        }
        return conf
    }

    // MARK: commands

    func add(_ c: Config) throws -> Data {
        try requireNetns(c)
        guard var result = c.prevResult else {
            throw Failure(CNIErrorResult.invalidConfig, "no previous result was found, was this plugin chained with a previous one?")
        }
        let tools = NetnsTools(netnsPath: c.netns)
        guard let redirect = try tools.link(c.ifName) else {
            throw Failure(CNIErrorResult.invalidEnvironment, "failed to find redirect interface \"\(c.ifName)\" in \(c.netns)")
        }
        let tapName = try c.tapName ?? firstFreeTapName(tools)
        try tools.run("ip", ["tuntap", "add", "dev", tapName, "mode", "tap", "vnet_hdr", "one_queue",
                             "user", String(c.uid), "group", String(c.gid)])
        do {
            try tools.run("ip", ["link", "set", "dev", tapName, "mtu", String(redirect.mtu), "up"])
            try tools.run("tc", ["qdisc", "add", "dev", tapName, "ingress"])
            try tools.run("tc", ["qdisc", "add", "dev", c.ifName, "ingress"])
            for (from, to) in [(tapName, c.ifName), (c.ifName, tapName)] {
                try tools.run("tc", ["filter", "add", "dev", from, "parent", "ffff:", "protocol", "all", "u32",
                                     "match", "u32", "0", "0", "action", "mirred", "egress", "redirect", "dev", to])
            }
        } catch {
            // Leave the netns as it was: the tap (and its qdisc) and the veth's ingress qdisc go.
            _ = try? tools.command("ip", ["link", "del", "dev", tapName]).run()
            _ = try? tools.command("tc", ["qdisc", "del", "dev", c.ifName, "ingress"]).run()
            throw error
        }
        guard let tap = try tools.link(tapName) else {
            throw Failure(100, "tap \(tapName) vanished right after it was created in \(c.netns)")
        }
        var interfaces = result["interfaces"] as? [[String: Any]] ?? []
        let ips = result["ips"] as? [[String: Any]] ?? []
        // The veth's IPs: those whose interface is the redirect device inside this netns.
        let redirectIPs = ips.filter { ip in
            guard let i = ip["interface"] as? Int, interfaces.indices.contains(i) else { return false }
            return interfaces[i]["name"] as? String == c.ifName && interfaces[i]["sandbox"] as? String == c.netns
        }
        interfaces.append(["name": tapName, "sandbox": c.netns, "mac": tap.mac])
        interfaces.append(["name": tapName, "sandbox": c.containerID, "mac": redirect.mac])
        let vmIndex = interfaces.count - 1
        var newIPs = ips
        for ip in redirectIPs {
            var copy = ip
            copy["interface"] = vmIndex
            newIPs.append(copy)
        }
        result["interfaces"] = interfaces
        result["ips"] = newIPs
        result["cniVersion"] = c.cniVersion
        return try json(result)
    }

    func del(_ c: Config) throws {
        // Everything this plugin makes lives in the netns: if it is gone, so is our work.
        guard !c.netns.isEmpty, FileManager.default.fileExists(atPath: c.netns) else { return }
        let tools = NetnsTools(netnsPath: c.netns)
        var problems: [String] = []
        if try tools.link(c.ifName) != nil, try tools.hasIngressQdisc(c.ifName) {
            let r = try tools.command("tc", ["qdisc", "del", "dev", c.ifName, "ingress"]).run()
            if r.status != 0 { problems.append("removing ingress qdisc from \(c.ifName): \(r.stderrString)") }
        }
        var tapName: String?
        if let prev = c.prevResult { tapName = try tapPair(prev, vmID: c.containerID)?.tap }
        if tapName == nil { tapName = c.tapName }
        if let tapName, try tools.link(tapName) != nil {
            let r = try tools.command("ip", ["link", "del", "dev", tapName]).run()
            if r.status != 0 { problems.append("removing \(tapName): \(r.stderrString)") }
        }
        if !problems.isEmpty { throw Failure(100, "DEL failed", details: problems.joined(separator: "; ")) }
    }

    func check(_ c: Config) throws {
        try requireNetns(c)
        guard let prev = c.prevResult else {
            throw Failure(CNIErrorResult.invalidConfig, "no previous result was found, was this plugin chained with a previous one?")
        }
        guard let pair = try tapPair(prev, vmID: c.containerID) else {
            throw Failure(100, "the previous result has no tap / VM interface pair for \(c.containerID)")
        }
        let tools = NetnsTools(netnsPath: c.netns)
        for dev in [pair.tap, c.ifName] {
            guard try tools.link(dev) != nil else { throw Failure(100, "device \(dev) is missing in \(c.netns)") }
            guard try tools.hasIngressQdisc(dev) else { throw Failure(100, "device \(dev) has no ingress qdisc") }
        }
        guard try tools.redirectTargets(pair.tap).contains(c.ifName) else {
            throw Failure(100, "no redirect filter from \(pair.tap) to \(c.ifName)")
        }
        guard try tools.redirectTargets(c.ifName).contains(pair.tap) else {
            throw Failure(100, "no redirect filter from \(c.ifName) to \(pair.tap)")
        }
    }

    // MARK: helpers

    /// The tap name from a previous result: the pseudo-interface whose sandbox is the VM id names it.
    func tapPair(_ result: [String: Any], vmID: String) throws -> (tap: String, vmMac: String?)? {
        let interfaces = result["interfaces"] as? [[String: Any]] ?? []
        let vm = interfaces.filter { $0["sandbox"] as? String == vmID }
        guard !vm.isEmpty else { return nil }
        guard vm.count == 1, let name = vm[0]["name"] as? String else {
            throw Failure(100, "expected at most 1 interface in sandbox \(vmID), found \(vm.count)")
        }
        guard interfaces.contains(where: { $0["name"] as? String == name && $0["sandbox"] as? String != vmID }) else {
            return nil
        }
        return (name, vm[0]["mac"] as? String)
    }

    func requireNetns(_ c: Config) throws {
        guard !c.netns.isEmpty, FileManager.default.fileExists(atPath: c.netns) else {
            throw Failure(CNIErrorResult.invalidEnvironment, "netns path \"\(c.netns)\" does not exist")
        }
    }

    func firstFreeTapName(_ tools: NetnsTools) throws -> String {
        let taken = Set(try tools.links().map(\.name))
        for i in 0..<1000 where !taken.contains("tap\(i)") { return "tap\(i)" }
        throw Failure(100, "no free tapN name in the netns")
    }

    func json(_ object: Any) throws -> Data {
        var d = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        d.append(0x0A)
        return d
    }

    func errorJSON(_ version: String, _ code: Int, _ msg: String, _ details: String?) -> Data {
        var o: [String: Any] = ["cniVersion": version, "code": code, "msg": msg]
        if let details { o["details"] = details }
        return (try? json(o)) ?? Data("{\"code\":100,\"msg\":\"internal error\"}\n".utf8)
    }
}
