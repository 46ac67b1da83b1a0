import Foundation
import Testing
@testable import Guest

/// The pause of early boot for boot templates: the module split, the messages and the host's
/// side of the exchange (over a socketpair standing in for the channel).
@Suite struct BootPauseTests {
    @Test(arguments: [
        ("quiet root=/dev/vda firebuild.pause", true),
        ("firebuild.pause=1", true),
        ("firebuild.pause=0", false),
        ("firebuild.pause=off", false),
        ("root=/dev/vda", false),
        ("firebuild.paused", false),
        ("-- firebuild.pause", false),  // words after `--` are init's
    ])
    func parsesTheFlag(_ cmdline: String, _ pause: Bool) {
        #expect(EarlyBootConfig.parse(cmdline: cmdline).pause == pause)
    }

    @Test func disksAndNICsProbeAfterThePause() {
        let order = ["virtio_ring", "virtio", "virtio_mmio", "virtio_blk", "virtio_console", "failover", "net_failover",
                     "virtio_net", "vsock", "virtio_rng"]
        let (before, after) = BootPause.split(order)
        #expect(before == ["virtio_ring", "virtio", "virtio_mmio", "virtio_console", "failover", "net_failover", "vsock", "virtio_rng"])
        #expect(after == ["virtio_blk", "virtio_net"])
        #expect(BootPause.split([]) == ([], []))
    }

    @Test func resumeInfoRoundTrips() throws {
        let info = ResumeInfo(time: 1_796_000_000.123456, entropy: [0, 1, 0x7f, 0x80, 0xff], restored: true)
        let back = try ResumeInfo(frame: Frame(.resume, id: 0, json: info.json))
        #expect(back == info)
        #expect(String(decoding: info.json.bytes, as: UTF8.self).contains("\"entropy\":\"00017f80ff\""))
    }

    @Test(arguments: [
        ("{\"entropy\":\"00\"}", "time"),
        ("{\"time\":1,\"entropy\":\"0g\"}", "hex"),
        ("{\"time\":1,\"entropy\":\"abc\"}", "hex"),
        ("{\"time\":\"now\"}", "time"),
    ])
    func rejectsBadResumeInfo(_ body: String, _ mentions: String) {
        do {
            _ = try ResumeInfo(frame: Frame(.resume, id: 0, body: Array(body.utf8)))
            Issue.record("\(body) must be rejected")
        } catch {
            #expect("\(error)".contains(mentions), "\(error)")
        }
    }

    @Test(arguments: [[UInt8](), [0], [0xde, 0xad, 0xbe, 0xef], Array(0...255)])
    func hexRoundTrips(_ bytes: [UInt8]) {
        #expect(Hex.decode(Hex.encode(bytes)) == bytes)
        #expect(Hex.decode(Hex.encode(bytes).uppercased()) == bytes)
    }

    /// A host connection and the guest's end of a socketpair standing in for the channel.
    func channelPair() throws -> (host: GuestConnection, guest: FrameChannel) {
        var sv: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &sv) == 0 else { throw GuestError.posix("socketpair") }
        return (try GuestConnection(fd: sv[0]), FrameChannel(fd: sv[1]))
    }

    /// The host waits for `bootPaused` and answers `resume`.
    @Test func hostSideOfThePause() throws {
        let (host, guest) = try channelPair()
        defer { host.close(); close(guest.fd) }
        try guest.send(Frame(.bootPaused, id: 0, json: BootPausedInfo(uptime: 1.25).json))
        #expect(try host.waitBootPaused(timeout: 10) == BootPausedInfo(uptime: 1.25))
        try host.resume(ResumeInfo(time: 42.5, entropy: [1, 2, 3], restored: false))
        let frame = try #require(try guest.receive(timeout: 10))
        #expect(frame.type == .resume)
        #expect(try ResumeInfo(frame: frame) == ResumeInfo(time: 42.5, entropy: [1, 2, 3], restored: false))
    }

    /// An init that never pauses (it sends `ready` first) does not make the host wait for the
    /// whole timeout.
    @Test func anInitThatDoesNotPauseIsNotWaitedFor() throws {
        let (host, guest) = try channelPair()
        defer { host.close(); close(guest.fd) }
        try guest.send(Frame(.ready, id: 0, json: ReadyInfo(initVersion: "old", uptime: 1, channel: "test").json))
        let start = Posix.now()
        #expect(try host.waitBootPaused(timeout: 30) == nil)
        #expect(Posix.now() - start < 10)
    }
}
