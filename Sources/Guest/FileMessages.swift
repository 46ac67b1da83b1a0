// Messages for build steps that touch the guest filesystem (COPY/ADD, WORKDIR, chown) and the
// small control messages (signal, shutdown, ready, error).

/// Opens a file for writing; the data follows in `fileData` frames and `fileEnd` commits it.
/// The file is written to a temporary name and renamed, so an overwrite never leaves old bytes.
public struct WriteFileRequest: Equatable, Sendable, GuestMessage {
    public var path: String          // absolute path in the guest (never joined with a workdir)
    public var mode: UInt32          // permission bits, e.g. 0o644
    /// Owner as Docker writes it (`name`, `uid`, `name:group`, `uid:gid`), resolved in the guest's /etc/passwd.
    public var owner: String?
    public var uid: Int?
    public var gid: Int?
    /// Create missing parent directories (0755, root-owned unless `owner` is set).
    public var parents: Bool

    public init(path: String, mode: UInt32 = 0o644, owner: String? = nil, uid: Int? = nil, gid: Int? = nil, parents: Bool = true) {
        self.path = path; self.mode = mode; self.owner = owner; self.uid = uid; self.gid = gid; self.parents = parents
    }

    public init(json j: JSON) throws {
        path = try Field.string(j, "path")
        mode = UInt32(truncatingIfNeeded: try Field.optInt(j, "mode") ?? 0o644)
        owner = try Field.optString(j, "owner"); uid = try Field.optInt(j, "uid"); gid = try Field.optInt(j, "gid")
        parents = try Field.bool(j, "parents", default: true)
    }

    public var json: JSON {
        var o = ObjectBuilder()
        o.set("path", path); o.set("mode", Int(mode)); o.set("owner", owner); o.set("uid", uid); o.set("gid", gid)
        o.set("parents", parents)
        return o.json
    }
}

public struct MkdirRequest: Equatable, Sendable, GuestMessage {
    public var path: String
    public var mode: UInt32
    public var owner: String?
    public var uid: Int?
    public var gid: Int?
    public var parents: Bool

    public init(path: String, mode: UInt32 = 0o755, owner: String? = nil, uid: Int? = nil, gid: Int? = nil, parents: Bool = true) {
        self.path = path; self.mode = mode; self.owner = owner; self.uid = uid; self.gid = gid; self.parents = parents
    }

    public init(json j: JSON) throws {
        path = try Field.string(j, "path")
        mode = UInt32(truncatingIfNeeded: try Field.optInt(j, "mode") ?? 0o755)
        owner = try Field.optString(j, "owner"); uid = try Field.optInt(j, "uid"); gid = try Field.optInt(j, "gid")
        parents = try Field.bool(j, "parents", default: true)
    }

    public var json: JSON {
        var o = ObjectBuilder()
        o.set("path", path); o.set("mode", Int(mode)); o.set("owner", owner); o.set("uid", uid); o.set("gid", gid)
        o.set("parents", parents)
        return o.json
    }
}

public struct ChownRequest: Equatable, Sendable, GuestMessage {
    public var path: String
    public var owner: String?
    public var uid: Int?
    public var gid: Int?
    public var recursive: Bool

    public init(path: String, owner: String? = nil, uid: Int? = nil, gid: Int? = nil, recursive: Bool = false) {
        self.path = path; self.owner = owner; self.uid = uid; self.gid = gid; self.recursive = recursive
    }

    public init(json j: JSON) throws {
        path = try Field.string(j, "path"); owner = try Field.optString(j, "owner")
        uid = try Field.optInt(j, "uid"); gid = try Field.optInt(j, "gid"); recursive = try Field.bool(j, "recursive")
    }

    public var json: JSON {
        var o = ObjectBuilder()
        o.set("path", path); o.set("owner", owner); o.set("uid", uid); o.set("gid", gid); o.set("recursive", recursive)
        return o.json
    }
}

public struct StatRequest: Equatable, Sendable, GuestMessage {
    public var path: String
    public var followLinks: Bool
    public init(path: String, followLinks: Bool = false) { self.path = path; self.followLinks = followLinks }
    public init(json j: JSON) throws { path = try Field.string(j, "path"); followLinks = try Field.bool(j, "followLinks") }
    public var json: JSON { var o = ObjectBuilder(); o.set("path", path); o.set("followLinks", followLinks); return o.json }
}

public struct StatResult: Equatable, Sendable, GuestMessage {
    public enum Kind: String, Sendable { case file, directory, symlink, other }
    public var exists: Bool
    public var kind: Kind?
    public var mode: UInt32
    public var uid: Int
    public var gid: Int
    public var size: Int
    public var linkTarget: String?

    public init(exists: Bool, kind: Kind? = nil, mode: UInt32 = 0, uid: Int = 0, gid: Int = 0, size: Int = 0, linkTarget: String? = nil) {
        self.exists = exists; self.kind = kind; self.mode = mode; self.uid = uid; self.gid = gid; self.size = size
        self.linkTarget = linkTarget
    }

    public init(json j: JSON) throws {
        exists = try Field.bool(j, "exists")
        kind = try Field.optString(j, "kind").flatMap(Kind.init(rawValue:))
        mode = UInt32(truncatingIfNeeded: try Field.optInt(j, "mode") ?? 0)
        uid = try Field.optInt(j, "uid") ?? 0; gid = try Field.optInt(j, "gid") ?? 0; size = try Field.optInt(j, "size") ?? 0
        linkTarget = try Field.optString(j, "linkTarget")
    }

    public var json: JSON {
        var o = ObjectBuilder()
        o.set("exists", exists); o.set("kind", kind?.rawValue); o.set("mode", Int(mode)); o.set("uid", uid)
        o.set("gid", gid); o.set("size", size); o.set("linkTarget", linkTarget)
        return o.json
    }
}

/// Sends a signal to the workload (target 0) or to a running exec (its request id).
public struct SignalRequest: Equatable, Sendable, GuestMessage {
    public var target: UInt32
    public var signal: String   // "SIGTERM", "TERM" or "15"
    public init(target: UInt32, signal: String) { self.target = target; self.signal = signal }
    public init(json j: JSON) throws {
        target = UInt32(truncatingIfNeeded: try Field.optInt(j, "target") ?? 0)
        signal = try Field.string(j, "signal")
    }
    public var json: JSON { var o = ObjectBuilder(); o.set("target", Int(target)); o.set("signal", signal); return o.json }
}

/// Stops the workload (StopSignal, or `signal` when set; SIGKILL after `timeout` seconds),
/// stops every other process, syncs and powers off.
public struct ShutdownRequest: Equatable, Sendable, GuestMessage {
    public var signal: String?
    public var timeout: Double?
    public init(signal: String? = nil, timeout: Double? = nil) { self.signal = signal; self.timeout = timeout }
    public init(json j: JSON) throws { signal = try Field.optString(j, "signal"); timeout = try Field.optDouble(j, "timeout") }
    public var json: JSON { var o = ObjectBuilder(); o.set("signal", signal); o.set("timeout", timeout); return o.json }
}

/// The guest's first frame.
public struct ReadyInfo: Equatable, Sendable, GuestMessage {
    public var protocolVersion: Int
    public var initVersion: String
    /// Seconds since the guest kernel booted (CLOCK_BOOTTIME, as /proc/uptime), to measure boot time.
    public var uptime: Double
    public var channel: String
    /// The init's start-up milestones in order (name, guest uptime in seconds): where boot time goes.
    public var phases: [BootPhase]
    public init(protocolVersion: Int = Int(Frame.version), initVersion: String, uptime: Double, channel: String,
                phases: [BootPhase] = []) {
        self.protocolVersion = protocolVersion; self.initVersion = initVersion; self.uptime = uptime; self.channel = channel
        self.phases = phases
    }
    public init(json j: JSON) throws {
        protocolVersion = try Field.optInt(j, "protocol") ?? 0; initVersion = try Field.optString(j, "init") ?? "?"
        uptime = try Field.optDouble(j, "uptime") ?? 0; channel = try Field.optString(j, "channel") ?? "?"
        phases = BootPhase.list(j["phases"])
    }
    public var json: JSON {
        var o = ObjectBuilder()
        o.set("protocol", protocolVersion); o.set("init", initVersion); o.set("uptime", uptime); o.set("channel", channel)
        if !phases.isEmpty { o.set("phases", BootPhase.json(phases)) }
        return o.json
    }
}

/// One start-up milestone of the guest init: its name and the guest's uptime when it was reached.
public struct BootPhase: Equatable, Sendable {
    public var name: String
    public var uptime: Double
    public init(_ name: String, _ uptime: Double) { self.name = name; self.uptime = uptime }

    /// Encoded as an object in milestone order: {"main": 2.11, "mounts": 2.12, ...}.
    public static func json(_ phases: [BootPhase]) -> JSON { .object(phases.map { ($0.name, .double($0.uptime)) }) }

    /// Lenient: diagnostics only, so anything malformed is dropped rather than failing the frame.
    public static func list(_ value: JSON?) -> [BootPhase] {
        guard case let .object(pairs)? = value else { return [] }
        return pairs.compactMap { name, v in v.double.map { BootPhase(name, $0) } }
    }

    /// "initrd 1.934 s, modules +81 ms, rootfs +20 ms, …": the first milestone's uptime, then
    /// each one's distance from the one before, for logs.
    public static func summary(_ phases: [BootPhase]) -> String {
        var out: [String] = []
        for (i, p) in phases.enumerated() {
            if i == 0 {
                let ms = Int((p.uptime * 1000).rounded())
                out.append("\(p.name) \(ms / 1000).\(String(ms % 1000 + 1000).dropFirst()) s")
            } else {
                out.append("\(p.name) +\(Int(((p.uptime - phases[i - 1].uptime) * 1000).rounded())) ms")
            }
        }
        return out.joined(separator: ", ")
    }
}

/// Body of `error`, `log` and `heartbeat` frames.
public struct TextMessage: Equatable, Sendable, GuestMessage {
    public var message: String
    public init(_ message: String) { self.message = message }
    public init(json j: JSON) throws { message = try Field.optString(j, "message") ?? "" }
    public var json: JSON { var o = ObjectBuilder(); o.set("message", message); return o.json }
}
