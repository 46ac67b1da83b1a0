// Boot templates. A build VM boots with `firebuild.pause`: early boot loads the modules, then
// stops before anything reads a disk, sends `bootPaused` and waits for `resume`. The first VM of
// a machine shape is saved at that point (QEMU migration to a file); later VMs of the same shape
// are restored from the file instead of booting the kernel again. Whatever differs between VMs
// is decided after the pause: the disks (their drivers bind afterwards, so a restored VM probes
// its own), the wall clock and the random state (the host sends both in `resume`).

/// What early boot does around the pause. Pure, so the host tests it.
public enum BootPause {
    /// The kernel command-line word that asks for the pause.
    public static let flag = "firebuild.pause"
    /// Drivers that read a device's configuration when they bind (disk sizes, MAC addresses):
    /// loaded before the pause but bound to their devices only after it, so a VM restored from a
    /// template sees its own devices.
    public static let deferredModules: Set<String> = ["virtio_blk", "virtio_net"]
    /// How long early boot waits for `resume` before giving up (the host may be saving the VM).
    public static let resumeTimeout = 120.0

    /// The load order split in two: modules that bind at once, then the deferred drivers, loaded
    /// with binding held until after the pause (each list keeps its order; a deferred driver's
    /// dependencies come earlier in the file and so in the first list).
    public static func split(_ modules: [String]) -> (before: [String], after: [String]) {
        (modules.filter { !deferredModules.contains($0) }, modules.filter { deferredModules.contains($0) })
    }
}

/// Body of `bootPaused`: the guest's uptime when it stopped.
public struct BootPausedInfo: Equatable, Sendable, GuestMessage {
    public var uptime: Double
    public init(uptime: Double) { self.uptime = uptime }
    public init(json j: JSON) throws { uptime = try Field.optDouble(j, "uptime") ?? 0 }
    public var json: JSON { var o = ObjectBuilder(); o.set("uptime", uptime); return o.json }
}

/// Body of `resume`: the host's wall clock and fresh entropy for the guest's CRNG.
public struct ResumeInfo: Equatable, Sendable, GuestMessage {
    /// Seconds since the epoch (CLOCK_REALTIME on the host when sent).
    public var time: Double
    /// Random bytes from the host (hex on the wire), credited to the guest's pool.
    public var entropy: [UInt8]
    /// True when the VM was restored from a template (for the guest's boot milestones).
    public var restored: Bool

    public init(time: Double, entropy: [UInt8], restored: Bool) {
        self.time = time; self.entropy = entropy; self.restored = restored
    }
    public init(json j: JSON) throws {
        guard let t = try Field.optDouble(j, "time") else { throw GuestError(.protocolError, "resume: field 'time' is missing") }
        time = t
        let hex = try Field.optString(j, "entropy") ?? ""
        guard let bytes = Hex.decode(hex) else { throw GuestError(.protocolError, "resume: field 'entropy' must be hex") }
        entropy = bytes
        restored = try Field.bool(j, "restored")
    }
    public var json: JSON {
        var o = ObjectBuilder()
        o.set("time", time); o.set("entropy", Hex.encode(entropy)); o.set("restored", restored)
        return o.json
    }
}

/// Lower-case hex without Foundation (the guest init links no Foundation).
public enum Hex {
    public static func encode(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef")
        var s = ""
        s.reserveCapacity(bytes.count * 2)
        for b in bytes { s.append(digits[Int(b >> 4)]); s.append(digits[Int(b & 0xF)]) }
        return s
    }

    public static func decode(_ text: String) -> [UInt8]? {
        let u = Array(text.utf8)
        guard u.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 97...102: return c - 87
            case 65...70: return c - 55
            default: return nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(u.count / 2)
        var i = 0
        while i < u.count {
            guard let hi = nibble(u[i]), let lo = nibble(u[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}
