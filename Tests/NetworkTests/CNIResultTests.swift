import FirebuildCore
import Foundation
import Testing
@testable import Network

@Suite struct CNIResultTests {
    // A result shaped like bridge + tc-redirect-tap output.
    let sample = #"""
    {"cniVersion":"1.0.0",
     "interfaces":[{"name":"br0","mac":"aa:aa:aa:aa:aa:01"},
                   {"name":"veth1","mac":"aa:aa:aa:aa:aa:02"},
                   {"name":"eth0","mac":"aa:aa:aa:aa:aa:03","sandbox":"/var/run/netns/fb-vm1"},
                   {"name":"tap0","mac":"aa:aa:aa:aa:aa:04","sandbox":"/var/run/netns/fb-vm1"},
                   {"name":"tap0","mac":"aa:aa:aa:aa:aa:03","sandbox":"vm1"}],
     "ips":[{"address":"10.231.0.2/24","gateway":"10.231.0.1","interface":2},
            {"address":"10.231.0.2/24","gateway":"10.231.0.1","interface":4}],
     "routes":[{"dst":"0.0.0.0/0","gw":"10.231.0.1"}],
     "dns":{"nameservers":["10.231.0.1"],"search":["example"]}}
    """#

    @Test func parsesAllFields() throws {
        let r = try CNIResult.parse(Data(sample.utf8))
        #expect(r.interfaces.count == 5)
        #expect(r.ips[0].ip == "10.231.0.2" && r.ips[0].prefixLength == 24 && r.ips[0].netmask == "255.255.255.0")
        #expect(r.routes == [CNIResult.Route(dst: "0.0.0.0/0", gw: "10.231.0.1")])
        #expect(r.dns.nameservers == ["10.231.0.1"] && r.dns.search == ["example"])
        let vm = try #require(r.vmInterface(vmID: "vm1"))
        #expect(vm.tap.name == "tap0" && vm.tap.sandbox == "/var/run/netns/fb-vm1")
        #expect(vm.vm.mac == "aa:aa:aa:aa:aa:03")
        #expect(vm.ips.map(\.address) == ["10.231.0.2/24"])
        #expect(r.vmInterface(vmID: "other") == nil)
        // Encoding and decoding again gives the same value.
        #expect(try CNIResult.parse(try r.jsonData()) == r)
    }

    @Test func minimalAndInvalid() throws {
        let r = try CNIResult.parse(Data(#"{"cniVersion":"0.4.0"}"#.utf8))
        #expect(r.ips.isEmpty && r.interfaces.isEmpty && r.dns == CNIResult.DNS())
        #expect(throws: FirebuildError.self) { try CNIResult.parse(Data("nope".utf8), from: "bridge") }
        #expect(CNIResult.IPConfig(address: "10.0.0.1/0").netmask == "0.0.0.0")
        #expect(CNIResult.IPConfig(address: "10.0.0.1/20").netmask == "255.255.240.0")
        #expect(CNIResult.IPConfig(address: "fd00::1/64").netmask == nil)
    }

    @Test func errorResultMapsToFirebuildError() throws {
        let e = try JSONDecoder().decode(CNIErrorResult.self, from: Data(#"{"cniVersion":"1.0.0","code":11,"msg":"busy","details":"try later"}"#.utf8))
        let fe = e.asFirebuildError(plugin: "host-local", command: "ADD")
        #expect(fe.code == .network)
        #expect(fe.message == "CNI plugin host-local failed ADD (code 11): busy: try later")
    }
}

@Suite struct VMNetworkConfigTests {
    @Test func fromTapResult() throws {
        let r = try CNIResult.parse(Data(CNIResultTests().sample.utf8))
        let c = try VMNetworkConfig(result: r, vmID: "vm1")
        #expect(c.tapName == "tap0" && c.netnsPath == "/var/run/netns/fb-vm1" && c.macAddress == "aa:aa:aa:aa:aa:03")
        #expect(c.ip == "10.231.0.2" && c.gateway == "10.231.0.1")
        #expect(c.kernelIPArgument() == "10.231.0.2::10.231.0.1:255.255.255.0::eth0:off:10.231.0.1::")
        #expect(throws: FirebuildError.self) { try VMNetworkConfig(result: r, vmID: "nope") }
        // Without tc-redirect-tap in the chain there is no VM interface.
        var plain = r
        plain.interfaces.removeLast(2)
        plain.ips.removeLast()
        #expect(throws: FirebuildError.self) { try VMNetworkConfig(result: plain, vmID: "vm1") }
    }
}
