import CSyscalls
import FirebuildCore
import Foundation
import Testing
@testable import Network

/// Frames really cross the tc redirect: an ARP request from the sandbox's bridge comes out of the
/// tap, and an ARP reply written into the tap reaches the sandbox (it learns the guest's MAC).
@Suite(.serialized, .enabled(if: NetEnv.available, "needs root, iproute2, iptables, socat, containernetworking-plugins"))
struct TapTrafficTests {
    static let vnetHeader = 10  // struct virtio_net_hdr: the tap was made with vnet_hdr

    func macBytes(_ s: String) -> [UInt8] { s.split(separator: ":").compactMap { UInt8($0, radix: 16) } }
    func ipBytes(_ s: String) -> [UInt8] { s.split(separator: ".").compactMap { UInt8($0) } }

    @Test func arpRoundTripThroughTap() throws {
        let fx = try NetFixture()
        defer { fx.tearDown() }
        try fx.writeConflist(name: "fbttap", withTap: true)
        let att = fx.attachment()
        let result = try fx.runner.add(network: "fbttap", attachment: att)
        defer { try? fx.runner.delete(network: "fbttap", attachment: att) }
        let vmIf = try #require(result.vmInterface(vmID: fx.vmID))
        let guest = try #require(vmIf.ips.first?.ip)
        let guestMac = try #require(vmIf.vm.mac)

        let fd = try fx.vm.perform { fb_tap_attach(vmIf.tap.name) }
        #expect(fd >= 0, "cannot attach to \(vmIf.tap.name): \(String(cString: strerror(errno)))")
        guard fd >= 0 else { return }
        defer { close(fd) }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)

        // The bridge plugin announced the veth with a gratuitous ARP; forget it so the sandbox
        // must ask again. Any packet to the guest then makes it ARP for the guest.
        try fx.sandbox.run("ip", ["neigh", "flush", "to", guest])
        _ = try fx.sandbox.command("socat", ["-u", "-", "UDP:\(guest):9"], stdin: Data("x".utf8), timeout: 10).run()

        var request: [UInt8]?
        let deadline = Date().addingTimeInterval(5)
        var buf = [UInt8](repeating: 0, count: 2048)
        while request == nil && Date() < deadline {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&pfd, 1, 200) <= 0 { continue }
            let n = read(fd, &buf, buf.count)
            guard n >= TapTrafficTests.vnetHeader + 42 else { continue }
            let frame = Array(buf[TapTrafficTests.vnetHeader..<n])
            // ethertype ARP, opcode request, target IP = guest
            if frame[12] == 0x08, frame[13] == 0x06, frame[21] == 1, Array(frame[38..<42]) == ipBytes(guest) {
                request = frame
            }
        }
        let req = try #require(request, "no ARP request for \(guest) came out of the tap")
        let senderMac = Array(req[22..<28]), senderIP = Array(req[28..<32])

        // Reply as the guest would, with the MAC the result assigns to the VM.
        var reply = [UInt8](repeating: 0, count: TapTrafficTests.vnetHeader)
        reply += senderMac + macBytes(guestMac) + [0x08, 0x06]
        reply += [0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x02] + macBytes(guestMac) + ipBytes(guest) + senderMac + senderIP
        let written = reply.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        #expect(written == reply.count)

        var learned = ""
        for _ in 0..<50 where learned.isEmpty {
            let out = try fx.sandbox.run("ip", ["-j", "neigh", "show", guest]).stdout
            let arr = (try? JSONSerialization.jsonObject(with: out) as? [[String: Any]]) ?? []
            learned = arr.compactMap { $0["lladdr"] as? String }.first ?? ""
            if learned.isEmpty { usleep(100_000) }
        }
        #expect(learned == guestMac.lowercased())
    }
}
