import FirebuildCore
import Testing
@testable import Network

@Suite struct PortMappingTests {
    @Test(arguments: [
        ("80", nil, 80, 80, PortMapping.Proto.tcp),
        ("8080:80", nil, 8080, 80, .tcp),
        ("8080:80/udp", nil, 8080, 80, .udp),
        ("16686/udp", nil, 16686, 16686, .udp),
        ("eth0:443", "eth0", 443, 443, .tcp),
        ("eth0:8443:443/tcp", "eth0", 8443, 443, .tcp),
        ("65535", nil, 65535, 65535, .tcp),          // the original rejected 65535
        ("1:65535/TCP", nil, 1, 65535, .tcp),
        ("br-x.1:5:6", "br-x.1", 5, 6, .tcp),
    ] as [(String, String?, Int, Int, PortMapping.Proto)])
    func parsesValid(text: String, iface: String?, host: Int, dest: Int, proto: PortMapping.Proto) throws {
        let m = try PortMapping(parsing: text)
        #expect(m.interface == iface)
        #expect(m.hostPort == host)
        #expect(m.destPort == dest)
        #expect(m.proto == proto)
        // The description round-trips.
        #expect(try PortMapping(parsing: m.description) == m)
    }

    @Test(arguments: [
        ("", "empty"), ("0", "out of range"), ("65536", "out of range"), ("99999", "out of range"),
        ("80/sctp", "protocol"), ("abc", "invalid port"), ("8000-8010:80", "ranges"), ("80:8000-8010", "ranges"),
        ("a:b:c:d", "expected"), ("eth0:", "invalid port"), (":80", "invalid port"),
        ("averyveryverylongifname:80", "interface"), ("eth 0:80", "interface"), ("-1", "ranges"), ("123456", "invalid port"),
    ])
    func rejectsInvalid(text: String, reason: String) {
        do {
            _ = try PortMapping(parsing: text)
            Issue.record("\(text) should be rejected")
        } catch let e as FirebuildError {
            #expect(e.code == .invalidArgument)
            #expect(e.message.contains(reason), "\(e.message)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func duplicateHostPortsRejected() throws {
        #expect(throws: FirebuildError.self) { try PortMapping.parse(["8080:80", "8080:81"]) }
        // Same port on different protocols is fine.
        #expect(try PortMapping.parse(["53/udp", "53/tcp"]).count == 2)
    }

    @Test func commentTagMatchesExactly() {
        let rule = "-A FIREBUILD-DNAT -p tcp -m tcp --dport 80 -m comment --comment firebuild:vm1 -j DNAT --to-destination 10.0.0.2:80"
        #expect(PortPublisher.hasTag(rule, "firebuild:vm1"))
        #expect(!PortPublisher.hasTag(rule, "firebuild:vm"))
        #expect(!PortPublisher.hasTag(rule.replacingOccurrences(of: "vm1", with: "vm10"), "firebuild:vm1"))
        #expect(PortPublisher.hasTag(rule.replacingOccurrences(of: "firebuild:vm1", with: "\"firebuild:vm1\""), "firebuild:vm1"))
    }

    @Test func publisherValidatesInputs() throws {
        let p = PortPublisher(lockPath: "/tmp/fbt-unused.lock")
        #expect(throws: FirebuildError.self) { try p.publish(vmID: "bad id", guestIP: "10.0.0.2", ports: []) }
        #expect(throws: FirebuildError.self) { try p.publish(vmID: "vm1", guestIP: "fe80::1", ports: []) }
        #expect(throws: FirebuildError.self) { try p.unpublish(vmID: "a;b") }
    }
}
