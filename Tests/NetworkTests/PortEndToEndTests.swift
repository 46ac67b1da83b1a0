import FirebuildCore
import Foundation
import Testing
@testable import Network

/// Port publishing with real iptables inside a sandbox netns standing in for the host.
@Suite(.serialized, .enabled(if: NetEnv.available, "needs root, iproute2, iptables, socat, containernetworking-plugins"))
struct PortEndToEndTests {
    /// Connects with socat from `ns` and returns what the server sent ("" on failure).
    func fetch(_ ns: NetworkNamespace, _ host: String, _ port: Int) throws -> String {
        let r = try ns.command("socat", ["-T3", "-", "TCP:\(host):\(port),connect-timeout=3"], timeout: 10).run()
        return r.status == 0 ? r.stdoutString.trimmingCharacters(in: .whitespacesAndNewlines) : ""
    }

    @Test func publishedPortReachesGuestFromHostLoopbackAndOutside() throws {
        let fx = try NetFixture()
        defer { fx.tearDown() }
        // No tap here: the veth itself plays the guest, so a server can listen on it.
        try fx.writeConflist(name: "fbtports", withTap: false)
        let att = fx.attachment()
        let result = try fx.runner.add(network: "fbtports", attachment: att)
        defer { try? fx.runner.delete(network: "fbtports", attachment: att) }
        let guest = try #require(result.ips.first?.ip)

        // A tiny server in the VM netns, bound to the guest address only.
        let server = Process()
        server.executableURL = URL(fileURLWithPath: try #require(Command.which("ip")))
        server.arguments = ["netns", "exec", fx.vm.name, "socat", "TCP-LISTEN:8080,bind=\(guest),reuseaddr,fork", "SYSTEM:echo fbhello"]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        // SIGKILL: the test runner's threads block SIGTERM, and children inherit that mask.
        defer { kill(server.processIdentifier, SIGKILL); server.waitUntilExit() }
        var listening = false
        for _ in 0..<100 where !listening {
            listening = try fx.vm.run("ss", ["-ltnH"]).stdoutString.contains("\(guest):8080")
            if !listening { usleep(50_000) }
        }
        #expect(listening)

        // An "outside" client netns wired to the sandbox by a veth pair made inside the sandbox.
        let client = try NetworkNamespace.create("fbt-c\(fx.id)")
        defer { try? client.delete() }
        let outer = "10.\(fx.octet).255"
        try fx.sandbox.run("ip", ["link", "add", "fbtc0", "type", "veth", "peer", "name", "fbtc1", "netns", client.name])
        try fx.sandbox.run("ip", ["addr", "add", "\(outer).1/30", "dev", "fbtc0"])
        try fx.sandbox.run("ip", ["link", "set", "fbtc0", "up"])
        try client.run("ip", ["addr", "add", "\(outer).2/30", "dev", "fbtc1"])
        try client.run("ip", ["link", "set", "fbtc1", "up"])
        // Forwarding is denied unless a rule accepts it: proves FIREBUILD-FORWARD matches the
        // destination port after DNAT (18080 → 8080), the original's bug.
        try fx.sandbox.run("iptables", ["-w", "10", "-P", "FORWARD", "DROP"])

        #expect(try fetch(fx.sandbox, fx.gateway, 18080) == "")
        try fx.instantiateTables()
        let before = try fx.iptablesSave()

        let publisher = PortPublisher(namespace: fx.sandbox, lockPath: fx.dir + "/iptables.lock")
        try publisher.publish(vmID: fx.vmID, guestIP: guest, ports: [try PortMapping(parsing: "18080:8080/tcp")], loopback: true)
        #expect(try publisher.rules(vmID: fx.vmID).count == 3)

        #expect(try fetch(fx.sandbox, fx.gateway, 18080) == "fbhello")      // host → own address (OUTPUT)
        #expect(try fetch(fx.sandbox, "127.0.0.1", 18080) == "fbhello")     // host → loopback (OUTPUT + masquerade)
        #expect(try fetch(client, "\(outer).1", 18080) == "fbhello")        // outside → host (PREROUTING + FORWARD)

        // Publishing again replaces, never duplicates.
        try publisher.publish(vmID: fx.vmID, guestIP: guest, ports: [try PortMapping(parsing: "18080:8080/tcp")], loopback: true)
        #expect(try publisher.rules(vmID: fx.vmID).count == 3)

        try publisher.unpublish(vmID: fx.vmID)
        #expect(try publisher.rules(vmID: fx.vmID).isEmpty)
        #expect(try fx.iptablesSave() == before)
        #expect(try fetch(client, "\(outer).1", 18080) == "")
        try publisher.unpublish(vmID: fx.vmID)  // nothing left: not an error
    }

    @Test func unpublishRemovesOnlyThatVMsRules() throws {
        let fx = try NetFixture()
        defer { fx.tearDown() }
        let publisher = PortPublisher(namespace: fx.sandbox, lockPath: fx.dir + "/iptables.lock")
        try fx.instantiateTables()
        let before = try fx.iptablesSave()
        try publisher.publish(vmID: "vm1", guestIP: "10.\(fx.octet).1.2", ports: try PortMapping.parse(["8080:80", "53/udp"]))
        try publisher.publish(vmID: "vm10", guestIP: "10.\(fx.octet).1.3", ports: try PortMapping.parse(["eth0:9090:90"]))
        #expect(try publisher.rules(vmID: "vm1").count == 4)
        let vm10 = try publisher.rules(vmID: "vm10")
        #expect(vm10.count == 2)
        #expect(vm10.contains { $0.contains("-i eth0") && $0.contains("--dport 90") && $0.contains("-j ACCEPT") })
        #expect(vm10.contains { $0.contains("--dport 9090") && $0.contains("--to-destination 10.\(fx.octet).1.3:90") })
        let save = try fx.iptablesSave()
        #expect(save.contains("-A PREROUTING -m addrtype --dst-type LOCAL -j FIREBUILD-DNAT"))
        #expect(save.contains("-A OUTPUT -m addrtype --dst-type LOCAL -j FIREBUILD-DNAT"))
        #expect(save.contains("-A FORWARD -j FIREBUILD-FORWARD"))

        try publisher.unpublish(vmID: "vm1")
        #expect(try publisher.rules(vmID: "vm1").isEmpty)
        #expect(try publisher.rules(vmID: "vm10") == vm10)
        try publisher.unpublish(vmID: "vm10")
        #expect(try fx.iptablesSave() == before)
    }
}
