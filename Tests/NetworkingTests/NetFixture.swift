import FirebuildCore
import FirebuildTestSupport
import Foundation
@testable import Networking

/// What the end-to-end network tests need; when something is missing they skip with the reason.
enum NetEnv {
    static var tapPluginDir: String? { TestHost.tapPluginDir }

    static var missing: String? {
        for tool in ["iptables-save", "socat"] where Command.which(tool) == nil {
            return "needs \(tool): apt-get install -y iptables socat"
        }
        return TestHost.cniMissing
    }

    static var available: Bool {
        if let why = missing {
            print("skipping network end-to-end tests: \(why)")
            return false
        }
        return true
    }
}

/// A sandbox "host" netns, a VM netns, a temp dir with a conflist, IPAM data and a CNI cache.
/// Everything is deleted by `tearDown` (call it in a defer).
final class NetFixture {
    let id = String(UInt32.random(in: 0...UInt32.max), radix: 16)
    let sandbox: NetworkNamespace
    let vm: NetworkNamespace
    let dir: String
    let octet = Int.random(in: 200...249)
    let third = Int.random(in: 1...250)
    var subnetPrefix: String { "10.\(octet).\(third)" }
    var gateway: String { "\(subnetPrefix).1" }
    var bridge: String { "fbtbr\(id.prefix(8))" }
    var vmID: String { "vm\(id)" }
    let runner: CNIRunner

    init() throws {
        dir = NSTemporaryDirectory() + "fbt-net-\(id)"
        try FileManager.default.createDirectory(atPath: dir + "/conf", withIntermediateDirectories: true)
        sandbox = try NetworkNamespace.create("fbt-h\(id)")
        do {
            vm = try NetworkNamespace.create("fbt-v\(id)")
        } catch {
            try? sandbox.delete()
            throw error
        }
        runner = CNIRunner(confDir: dir + "/conf", binDirs: TestHost.cniBinDirs,
                           cacheDir: dir + "/cache", hostNamespace: sandbox.name)
    }

    func tearDown() {
        try? vm.delete()
        try? sandbox.delete()
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// bridge (+ host-local with a default route and DNS) → firewall → [tc-redirect-tap].
    func writeConflist(name: String, withTap: Bool, file: String? = nil) throws {
        var config = TestNetworkConfig(name: name, bridge: bridge, subnetPrefix: subnetPrefix, ipamDir: dir + "/ipam")
        config.withTap = withTap
        config.dns = true
        try config.write(confDir: dir + "/conf", file: file)
    }

    func attachment(ifName: String = "eth0", args: [CNIAttachment.CNIArg] = []) -> CNIAttachment {
        CNIAttachment(containerID: vmID, netns: vm.path, ifName: ifName, args: args)
    }

    /// `iptables-save` of the sandbox without timestamps and counters, for before/after comparisons.
    func iptablesSave() throws -> String {
        let out = try sandbox.run("iptables-save").stdoutString
        return out.split(separator: "\n").filter { !$0.hasPrefix("#") }
            .map { $0.replacingOccurrences(of: #"\[\d+:\d+\]"#, with: "", options: .regularExpression) }
            .joined(separator: "\n")
    }

    /// iptables-nft creates a table on first use and never drops it, so an untouched netns has no
    /// `*nat` section at all. Instantiate nat and filter (as on any host using iptables) before a
    /// "before" snapshot, so before/after comparisons see only rule and chain changes.
    func instantiateTables() throws {
        for table in ["nat", "filter"] {
            try sandbox.run("iptables", ["-w", "10", "-t", table, "-N", "FBT-INIT"])
            try sandbox.run("iptables", ["-w", "10", "-t", table, "-X", "FBT-INIT"])
        }
    }

    /// IPv4 addresses on a device in a namespace.
    func addresses(_ ns: NetworkNamespace, _ dev: String) throws -> [String] {
        let r = try ns.run("ip", ["-j", "-4", "addr", "show", "dev", dev])
        let arr = (try JSONSerialization.jsonObject(with: r.stdout) as? [[String: Any]]) ?? []
        return arr.flatMap { ($0["addr_info"] as? [[String: Any]] ?? []).compactMap { $0["local"] as? String } }
    }
}
