// Many COPY operations in one frame. A COPY of a tree is a directory, then its files, then the
// next directory…; one request per entry costs a host↔guest round trip each (~2 ms under TCG:
// 4 s for 2,000 small files). With every file's bytes on the content disk, a batch carries only
// metadata and the guest applies the entries in order, stopping at the first failure.

/// Creates (or replaces) a symlink; a missing parent is created 0755 (an existing one is not
/// touched: mkdir would reset its mode).
public struct SymlinkRequest: Equatable, Sendable, GuestMessage {
    public var path: String
    public var target: String
    public var owner: String?
    public var uid: Int?
    public var gid: Int?

    public init(path: String, target: String, owner: String? = nil, uid: Int? = nil, gid: Int? = nil) {
        self.path = path; self.target = target; self.owner = owner; self.uid = uid; self.gid = gid
    }

    public init(json j: JSON) throws {
        path = try Field.string(j, "path"); target = try Field.string(j, "target")
        owner = try Field.optString(j, "owner"); uid = try Field.optInt(j, "uid"); gid = try Field.optInt(j, "gid")
    }

    public var json: JSON {
        var o = ObjectBuilder()
        o.set("path", path); o.set("target", target); o.set("owner", owner); o.set("uid", uid); o.set("gid", gid)
        return o.json
    }
}

public enum FileBatchEntry: Equatable, Sendable {
    case mkdir(MkdirRequest)
    case copy(DiskCopyRequest)
    case symlink(SymlinkRequest)

    var kind: String {
        switch self {
        case .mkdir: "mkdir"
        case .copy: "copy"
        case .symlink: "symlink"
        }
    }

    var fields: JSON {
        switch self {
        case .mkdir(let r): r.json
        case .copy(let r): r.json
        case .symlink(let r): r.json
        }
    }

    public var path: String {
        switch self {
        case .mkdir(let r): r.path
        case .copy(let r): r.target.path
        case .symlink(let r): r.path
        }
    }
}

/// `{"entries": [{"op": "mkdir"|"copy"|"symlink", …the request's fields}]}`; answered by `ok`
/// once every entry is applied, or `error` naming the entry that failed.
public struct FileBatch: Equatable, Sendable, GuestMessage {
    public var entries: [FileBatchEntry]

    public init(_ entries: [FileBatchEntry]) { self.entries = entries }

    public init(json j: JSON) throws {
        guard case .array(let items)? = j["entries"] else { throw GuestError(.invalidArgument, "fileBatch needs an entries array") }
        entries = try items.map { item in
            switch item["op"]?.string {
            case "mkdir": return .mkdir(try MkdirRequest(json: item))
            case "copy": return .copy(try DiskCopyRequest(json: item))
            case "symlink": return .symlink(try SymlinkRequest(json: item))
            case let other: throw GuestError(.invalidArgument, "unknown fileBatch op \(other ?? "(none)")")
            }
        }
    }

    public var json: JSON {
        .object([("entries", .array(entries.map { e in
            guard case .object(let pairs) = e.fields else { return e.fields }
            return .object([("op", .string(e.kind))] + pairs)
        }))])
    }
}
