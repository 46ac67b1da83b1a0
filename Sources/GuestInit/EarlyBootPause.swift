// The pause of early boot (`firebuild.pause`, see Guest/BootPause.swift): tell the host over the
// channel, wait for `resume`, take the host's clock and entropy. A VM restored from a template
// wakes up inside the wait below, with another host on the other end of the channel.
#if canImport(Glibc)
import Glibc
#endif
import CSyscalls
import Guest

extension EarlyBoot {
    static func pauseForHost(cmdline: String) {
        let fd: Int32
        do {
            fd = try Channel.open(ChannelSpec.from(cmdline: KernelCmdline.parse(cmdline)))
        } catch {
            fail("cannot open the host channel to pause early boot: \(error)")
        }
        let channel = FrameChannel(fd: fd)
        do {
            try channel.send(Frame(.bootPaused, id: 0, json: BootPausedInfo(uptime: BootTrace.uptime()).json))
            BootTrace.mark("paused")
            let info = try waitForResume(channel)
            apply(info)
            BootTrace.mark(info.restored ? "restored" : "resumed")
        } catch {
            fail("early boot could not resume: \(error)")
        }
        close(fd)
    }

    /// With `hold`, virtio drivers loaded from now on do not bind to devices (drivers_autoprobe
    /// off); without it, automatic binding comes back and every virtio device still without a
    /// driver is probed now (drivers_probe), reading its configuration as it is after the pause.
    static func holdVirtioProbes(_ hold: Bool) {
        let bus = "/sys/bus/virtio"
        writeSysfs(bus + "/drivers_autoprobe", hold ? "0" : "1")
        guard !hold, let dir = opendir(bus + "/devices") else { return }
        var unbound: [String] = []
        while let e = readdir(dir) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if !name.hasPrefix("."), !Posix.exists("\(bus)/devices/\(name)/driver") { unbound.append(name) }
        }
        closedir(dir)
        for name in unbound.sorted() { writeSysfs(bus + "/drivers_probe", name) }
    }

    static func writeSysfs(_ path: String, _ value: String) {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { log("cannot open \(path): \(errorText())"); return }
        defer { close(fd) }
        if (try? Posix.writeAll(fd, value)) == nil { log("cannot write \(value) to \(path): \(errorText())") }
    }

    /// A virtio-serial read returns end-of-file while no host is connected (just after a restore,
    /// until the new host connects): start over and wait, rather than treat it as the end.
    static func waitForResume(_ channel: FrameChannel) throws -> ResumeInfo {
        let deadline = Posix.now() + BootPause.resumeTimeout
        while true {
            if let frame = try channel.nextBuffered(), frame.type == .resume {
                return try ResumeInfo(frame: frame)
            }
            if Posix.now() > deadline {
                throw GuestError(.timeout, "no resume from the host within \(Int(BootPause.resumeTimeout)) s")
            }
            if try !channel.readAvailable() {
                channel.resetDecoder()
                usleep(2_000)
            }
        }
    }

    /// The wall clock first (a restored VM still has the template's), then the entropy: a failed
    /// entropy ioctl is logged, the kernel's own sources (virtio-rng) still feed the pool.
    static func apply(_ info: ResumeInfo) {
        let seconds = info.time.rounded(.down)
        if fb_set_realtime(Int64(seconds), Int64((info.time - seconds) * 1e9)) != 0 {
            log("cannot set the clock from the host: \(errorText())")
        }
        guard !info.entropy.isEmpty else { return }
        let rc = info.entropy.withUnsafeBufferPointer { fb_add_entropy($0.baseAddress, Int32(min($0.count, 256))) }
        if rc != 0 { log("cannot add the host's entropy: \(errorText())") }
    }
}
