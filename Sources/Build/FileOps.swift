import FirebuildCore
import Foundation

/// Who owns what a COPY/ADD creates. Names are passed through untouched: the guest resolves them
/// in the image's own /etc/passwd and /etc/group (`--chown=node:node` works).
public enum OwnerSpec: Equatable, Sendable, CustomStringConvertible {
    case name(String)
    case ids(uid: Int, gid: Int)

    public var description: String {
        switch self {
        case .name(let s): return s
        case .ids(let u, let g): return "\(u):\(g)"
        }
    }

    /// The owner fields of a guest request (name for the guest to resolve, or ids).
    static func requestFields(_ o: OwnerSpec?) -> (name: String?, uid: Int?, gid: Int?) {
        switch o {
        case .none: return (nil, nil, nil)
        case .name(let n): return (n, nil, nil)
        case let .ids(u, g): return (nil, u, g)
        }
    }
}

public enum FileContent: Equatable, Sendable {
    /// A regular file on the host, streamed to the guest.
    case host(String)
    case bytes([UInt8])
}

/// One guest filesystem operation a COPY/ADD resolves to; applied in order.
public enum FileOp: Equatable, Sendable {
    case directory(path: String, mode: UInt32, owner: OwnerSpec?)
    case file(path: String, content: FileContent, mode: UInt32, owner: OwnerSpec?)
    case symlink(path: String, target: String, owner: OwnerSpec?)

    public var path: String {
        switch self {
        case .directory(let p, _, _), .file(let p, _, _, _), .symlink(let p, _, _): return p
        }
    }

    /// A stable one-line description (also what the cache key hashes, with file contents added).
    public var summary: String {
        switch self {
        case let .directory(p, m, o): return "dir \(p) \(String(m, radix: 8)) \(o?.description ?? "-")"
        case let .file(p, _, m, o): return "file \(p) \(String(m, radix: 8)) \(o?.description ?? "-")"
        case let .symlink(p, t, o): return "link \(p) -> \(t) \(o?.description ?? "-")"
        }
    }
}

/// Path helpers with Go's `path` semantics (the Dockerfile reference is written in those terms).
public enum BuildPath {
    /// path.Clean: removes `.`, resolves `..` lexically, collapses slashes; never escapes the root.
    public static func clean(_ p: String) -> String {
        let absolute = p.hasPrefix("/")
        var parts: [Substring] = []
        for c in p.split(separator: "/", omittingEmptySubsequences: true) {
            if c == "." { continue }
            if c == ".." {
                if let last = parts.last, last != ".." { parts.removeLast() } else if !absolute { parts.append(c) }
                continue
            }
            parts.append(c)
        }
        let joined = parts.joined(separator: "/")
        if absolute { return "/" + joined }
        return joined.isEmpty ? "." : joined
    }

    public static func join(_ a: String, _ b: String) -> String {
        if b.isEmpty { return clean(a) }
        if a.isEmpty { return clean(b) }
        return clean(a + "/" + b)
    }

    public static func basename(_ p: String) -> String {
        let c = clean(p)
        if c == "/" { return "/" }
        return c.split(separator: "/").last.map(String.init) ?? c
    }

    public static func dirname(_ p: String) -> String {
        let c = clean(p)
        guard let i = c.lastIndex(of: "/") else { return "." }
        return i == c.startIndex ? "/" : String(c[..<i])
    }

    /// A source path made relative to the context root; `..` can never climb above it.
    public static func contextRelative(_ p: String) -> String {
        let c = clean("/" + p)
        return c == "/" ? "" : String(c.dropFirst())
    }

    /// Parses `--chmod` (octal only, as BuildKit's stable syntax).
    public static func parseChmod(_ s: String) throws -> UInt32 {
        guard !s.isEmpty, s.count <= 5, let v = UInt32(s, radix: 8), v <= 0o7777 else {
            throw FirebuildError(.invalidArgument, "invalid --chmod=\(s): use an octal mode such as 755 or 0644")
        }
        return v
    }

    /// Parses `--chown`: numeric `uid[:gid]` become ids, anything with a name is passed through.
    public static func parseChown(_ s: String) throws -> OwnerSpec {
        guard !s.isEmpty else { throw FirebuildError(.invalidArgument, "--chown needs a user, e.g. --chown=app:app or --chown=1000:1000") }
        let parts = s.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        if let u = Int(parts[0]), u >= 0 {
            if parts.count == 1 { return .ids(uid: u, gid: u) }
            if let g = Int(parts[1]), g >= 0 { return .ids(uid: u, gid: g) }
        }
        return .name(s)
    }
}
