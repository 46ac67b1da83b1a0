// Mounts that exist only for one exec's process (Dockerfile `RUN --mount`). The init sets them up
// in a private mount namespace of that process, so nothing outlives it, even when it fails.

public struct ExecMount: Equatable, Sendable, GuestMessage {
    public enum Kind: String, Sendable {
        /// `source` (a guest path the host staged, file or directory) bind-mounted at `target`.
        case bind
        /// A fresh tmpfs at `target` (`size` bytes, or the kernel default).
        case tmpfs
        /// A persistent cache: the ext4 filesystem whose UUID is `source` (an extra disk of the
        /// VM) is mounted and its `cache` directory bind-mounted at `target`.
        case cache
    }

    public var kind: Kind
    /// Absolute path in the guest; created (directory, or empty file for a file bind) when missing.
    public var target: String
    public var source: String?
    public var readOnly: Bool
    public var size: Int?
    /// cache: mode, owner of the cache directory when it is first created (0755, 0:0 by default).
    public var mode: UInt32?
    public var uid: Int?
    public var gid: Int?

    public init(kind: Kind, target: String, source: String? = nil, readOnly: Bool = false, size: Int? = nil,
                mode: UInt32? = nil, uid: Int? = nil, gid: Int? = nil) {
        self.kind = kind; self.target = target; self.source = source; self.readOnly = readOnly; self.size = size
        self.mode = mode; self.uid = uid; self.gid = gid
    }

    public init(json j: JSON) throws {
        let k = try Field.string(j, "kind")
        guard let kind = Kind(rawValue: k) else { throw GuestError(.protocolError, "mount kind '\(k)' is not bind, tmpfs or cache") }
        self.kind = kind
        target = try Field.string(j, "target")
        guard target.hasPrefix("/") else { throw GuestError(.protocolError, "mount target '\(target)' must be absolute") }
        source = try Field.optString(j, "source"); readOnly = try Field.bool(j, "readOnly")
        size = try Field.optInt(j, "size"); mode = try Field.optInt(j, "mode").map { UInt32(truncatingIfNeeded: $0) }
        uid = try Field.optInt(j, "uid"); gid = try Field.optInt(j, "gid")
        if kind != .tmpfs && (source ?? "").isEmpty {
            throw GuestError(.protocolError, "a \(k) mount needs a 'source'")
        }
    }

    public var json: JSON {
        var o = ObjectBuilder()
        o.set("kind", kind.rawValue); o.set("target", target); o.set("source", source); o.set("readOnly", readOnly)
        o.set("size", size); o.set("mode", mode.map(Int.init)); o.set("uid", uid); o.set("gid", gid)
        return o.json
    }

    /// Decodes an optional array field of mounts (absent or null: none).
    static func list(_ j: JSON, _ key: String) throws -> [ExecMount] {
        guard let v = j[key], !v.isNull else { return [] }
        guard let a = v.array else { throw GuestError(.protocolError, "message field '\(key)' must be an array of mounts") }
        return try a.map(ExecMount.init(json:))
    }
}
