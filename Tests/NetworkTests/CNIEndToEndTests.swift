import FirebuildCore
import Foundation
import Testing
@testable import Network

/// Real CNI plugins (bridge, host-local, firewall) plus firebuild's tc-redirect-tap, exec'd inside
/// a sandbox netns the test creates; nothing is created in the host namespace.
@Suite(.serialized, .enabled(if: NetEnv.available, "needs root, iproute2, iptables, socat, containernetworking-plugins"))
struct CNIEndToEndTests {
    @Test func addCheckDelWithTapRedirect() throws {
        let fx = try NetFixture()
        defer { fx.tearDown() }
        try fx.writeConflist(name: "fbtnet", withTap: true)
        let att = fx.attachment()

        let result = try fx.runner.add(network: "fbtnet", attachment: att)

        // The veth in the VM netns has the leased address; gateway, routes, DNS came through.
        let vethIPs = result.ips(forInterface: "eth0", sandbox: fx.vm.path)
        let ip = try #require(vethIPs.first)
        #expect(ip.address.hasPrefix(fx.subnetPrefix + ".") && ip.address.hasSuffix("/24"))
        #expect(ip.gateway == fx.gateway)
        #expect(try fx.addresses(fx.vm, "eth0") == [ip.ip])
        #expect(result.routes.contains { $0.dst == "0.0.0.0/0" })
        #expect(result.dns.nameservers == [fx.gateway])

        // The tap exists in the VM netns, and the result describes tap and VM pseudo-interface.
        let tools = NetnsTools(netnsPath: fx.vm.path)
        let tap = try #require(try tools.link("tap0"))
        #expect(tap.kind == "tun")
        let veth = try #require(try tools.link("eth0"))
        let vmIf = try #require(result.vmInterface(vmID: fx.vmID))
        #expect(vmIf.tap.name == "tap0" && vmIf.tap.sandbox == fx.vm.path && vmIf.tap.mac == tap.mac)
        #expect(vmIf.vm.mac == veth.mac)
        #expect(vmIf.ips.map(\.address) == [ip.address])
        #expect(tap.mtu == veth.mtu)
        let vmConf = try VMNetworkConfig(result: result, vmID: fx.vmID)
        #expect(vmConf.tapName == "tap0" && vmConf.netnsPath == fx.vm.path && vmConf.macAddress == veth.mac)
        #expect(vmConf.kernelIPArgument().hasPrefix("\(ip.ip)::\(fx.gateway):255.255.255.0::eth0:off:\(fx.gateway):"))

        // tc: ingress qdiscs on both, redirect filters pointing at each other.
        #expect(try tools.hasIngressQdisc("eth0") && tools.hasIngressQdisc("tap0"))
        #expect(try tools.redirectTargets("eth0") == ["tap0"])
        #expect(try tools.redirectTargets("tap0") == ["eth0"])

        // The bridge is in the sandbox only, never in the host namespace.
        #expect(try NetnsTools(netnsPath: fx.sandbox.path).link(fx.bridge) != nil)
        #expect(try Command("ip", ["link", "show", fx.bridge]).run().status != 0)
        // The firewall plugin's chains are in the sandbox's iptables.
        #expect(try fx.iptablesSave().contains("CNI-FORWARD"))

        // Cache and IPAM lease.
        let cached = try #require(try fx.runner.cachedResult(network: "fbtnet", containerID: fx.vmID, ifName: "eth0"))
        #expect(cached == result)
        let lease = "\(fx.dir)/ipam/fbtnet/\(ip.ip)"
        #expect(FileManager.default.fileExists(atPath: lease))

        try fx.runner.check(network: "fbtnet", attachment: att)

        // CHECK notices a broken redirect.
        try fx.vm.run("tc", ["qdisc", "del", "dev", "tap0", "ingress"])
        #expect(throws: FirebuildError.self) { try fx.runner.check(network: "fbtnet", attachment: att) }

        try fx.runner.delete(network: "fbtnet", attachment: att)
        #expect(try tools.link("eth0") == nil)
        #expect(try tools.link("tap0") == nil)
        #expect(!FileManager.default.fileExists(atPath: lease))
        #expect(try fx.runner.cachedResult(network: "fbtnet", containerID: fx.vmID, ifName: "eth0") == nil)
        // DEL twice is fine (plugins tolerate it; no cache → config from the conf dir).
        try fx.runner.delete(network: "fbtnet", attachment: att)
    }

    @Test func fixedAddressThroughCNIArgs() throws {
        let fx = try NetFixture()
        defer { fx.tearDown() }
        try fx.writeConflist(name: "fbtfixed", withTap: true)
        let want = "\(fx.subnetPrefix).77"
        let att = fx.attachment(ifName: "veth7", args: [CNIAttachment.fixedIP(want)])
        let result = try fx.runner.add(network: "fbtfixed", attachment: att)
        #expect(result.vmInterface(vmID: fx.vmID)?.ips.map(\.ip) == [want])
        #expect(try fx.addresses(fx.vm, "veth7") == [want])
        try fx.runner.delete(network: "fbtfixed", attachment: att)
        #expect(!FileManager.default.fileExists(atPath: "\(fx.dir)/ipam/fbtfixed/\(want)"))
    }

    @Test func pluginErrorIsMappedAndAddRolledBack() throws {
        let fx = try NetFixture()
        defer { fx.tearDown() }
        try fx.writeConflist(name: "fbterr", withTap: true)
        // An address outside the range: host-local refuses with a JSON error object.
        let att = fx.attachment(args: [CNIAttachment.fixedIP("192.0.2.9")])
        do {
            try fx.runner.add(network: "fbterr", attachment: att)
            Issue.record("ADD with an out-of-range IP must fail")
        } catch let e as FirebuildError {
            #expect(e.code == .network)
            #expect(e.message.contains("CNI plugin bridge failed ADD"), "\(e.message)")
            #expect(e.message.contains("192.0.2.9"), "\(e.message)")
        }
        // Nothing left behind in the VM netns, no cache entry.
        #expect(try NetnsTools(netnsPath: fx.vm.path).link("eth0") == nil)
        #expect(try fx.runner.cachedResult(network: "fbterr", containerID: fx.vmID, ifName: "eth0") == nil)
        #expect(throws: FirebuildError.self) { try fx.runner.check(network: "fbterr", attachment: att) }
    }

    @Test func tapPluginReportsVersionsThroughRunner() throws {
        let fx = try NetFixture()
        defer { fx.tearDown() }
        #expect(try fx.runner.supportedVersions(ofPlugin: "tc-redirect-tap").contains("1.0.0"))
        #expect(try fx.runner.supportedVersions(ofPlugin: "bridge").contains("1.0.0"))
    }

    @Test func namespacePerformRunsInside() throws {
        let fx = try NetFixture()
        defer { fx.tearDown() }
        try fx.vm.run("ip", ["link", "add", "fbtdummy0", "type", "veth", "peer", "name", "fbtdummy1"])
        // Inside the VM netns the dummy device exists; in the test's own namespace it does not.
        let inside = try fx.vm.perform { if_nametoindex("fbtdummy0") }
        #expect(inside != 0)
        #expect(if_nametoindex("fbtdummy0") == 0)
        #expect(throws: FirebuildError.self) { try NetworkNamespace.create(fx.vm.name) }
    }
}
