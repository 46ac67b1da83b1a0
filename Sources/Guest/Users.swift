// USER resolution the way Docker/runc does it, from the image's own /etc/passwd and /etc/group.
// The init is linked statically, so getpwnam/NSS cannot be used: we parse the files ourselves.

public struct PasswdEntry: Equatable, Sendable {
    public var name: String
    public var uid: UInt32
    public var gid: UInt32
    public var home: String
    public var shell: String
}

public struct GroupEntry: Equatable, Sendable {
    public var name: String
    public var gid: UInt32
    public var members: [String]
}

/// The identity a process runs with.
public struct ResolvedUser: Equatable, Sendable {
    public var uid: UInt32
    public var gid: UInt32
    /// Supplementary groups (includes `gid`), as runc sets them.
    public var groups: [UInt32]
    public var home: String
    public var name: String?

    public static let root = ResolvedUser(uid: 0, gid: 0, groups: [0], home: "/root", name: "root")
}

public enum UserDatabase {
    /// Parses /etc/passwd text; malformed lines are skipped (as libc does).
    public static func parsePasswd(_ text: String) -> [PasswdEntry] {
        text.split(separator: "\n").compactMap { line in
            if line.hasPrefix("#") { return nil }
            let f = line.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard f.count >= 7, !f[0].isEmpty, let uid = UInt32(f[2]), let gid = UInt32(f[3]) else { return nil }
            return PasswdEntry(name: f[0], uid: uid, gid: gid, home: f[5], shell: f[6])
        }
    }

    public static func parseGroup(_ text: String) -> [GroupEntry] {
        text.split(separator: "\n").compactMap { line in
            if line.hasPrefix("#") { return nil }
            let f = line.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard f.count >= 4, !f[0].isEmpty, let gid = UInt32(f[2]) else { return nil }
            let members = f[3].split(separator: ",").map { String($0).trimmingSpaces() }.filter { !$0.isEmpty }
            return GroupEntry(name: f[0], gid: gid, members: members)
        }
    }

    /// Resolves a Docker USER spec (`""`, `name`, `uid`, `name:group`, `uid:gid`, mixed) against the
    /// given databases. Names that are not found are errors; numeric ids need not exist (Docker allows it).
    public static func resolve(_ spec: String, passwd: [PasswdEntry], groups: [GroupEntry]) throws -> ResolvedUser {
        let trimmed = spec.trimmingSpaces()
        let parts = trimmed.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let userPart = parts[0].isEmpty ? "0" : parts[0]
        let groupPart = parts.count > 1 ? parts[1] : nil

        var uid: UInt32, gid: UInt32 = 0, home = "/", name: String? = nil
        if let n = UInt32(userPart) {
            uid = n
            if let p = passwd.first(where: { $0.uid == n }) { gid = p.gid; home = p.home; name = p.name }
            else if n == 0 { home = "/root"; name = "root" }
        } else if let p = passwd.first(where: { $0.name == userPart }) {
            uid = p.uid; gid = p.gid; home = p.home; name = p.name
        } else {
            throw GuestError(.notFound, "user '\(userPart)' (from USER \(spec)) is not in the image's /etc/passwd; add it (useradd) or use a numeric uid")
        }

        if let g = groupPart, !g.isEmpty {
            if let n = UInt32(g) { gid = n }
            else if let e = groups.first(where: { $0.name == g }) { gid = e.gid }
            else { throw GuestError(.notFound, "group '\(g)' (from USER \(spec)) is not in the image's /etc/group") }
        }

        // Supplementary groups: the primary gid first, then every group listing the user by name.
        var list: [UInt32] = [gid]
        if let name {
            for g in groups where g.members.contains(name) && !list.contains(g.gid) { list.append(g.gid) }
        }
        if home.isEmpty { home = "/" }
        return ResolvedUser(uid: uid, gid: gid, groups: list, home: home, name: name)
    }

    /// Resolves `spec` with the databases read from `root`/etc (missing files count as empty).
    public static func resolve(_ spec: String, root: String) throws -> ResolvedUser {
        let passwd = parsePasswd(Posix.readText(Posix.join(root, "/etc/passwd")) ?? "")
        let groups = parseGroup(Posix.readText(Posix.join(root, "/etc/group")) ?? "")
        return try resolve(spec, passwd: passwd, groups: groups)
    }

    /// Resolves an owner for COPY --chown / chown requests: an explicit uid/gid wins over `owner`.
    /// Without a group, a user *name* gets its primary group from /etc/passwd and a numeric uid gets
    /// the same number as gid: what BuildKit does (file op `readUser`) and buildah too. (The Dockerfile
    /// reference says "same numeric UID as the GID" for both; BuildKit only does it for numeric uids.
    /// Found by the buildah acceptance test: `--chown=svc`, `USER svc` + WORKDIR.)
    public static func resolveOwner(owner: String?, uid: Int?, gid: Int?, root: String) throws -> (uid: UInt32, gid: UInt32)? {
        if (owner ?? "").isEmpty && uid == nil && gid == nil { return nil }
        var u: UInt32 = 0, g: UInt32? = nil
        if let owner, !owner.isEmpty {
            let r = try resolve(owner, root: root)
            u = r.uid
            if owner.contains(":") || UInt32(owner.trimmingSpaces()) == nil { g = r.gid }
        }
        if let uid { u = UInt32(truncatingIfNeeded: uid) }
        if let gid { g = UInt32(truncatingIfNeeded: gid) }
        return (u, g ?? u)
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\t" || c == "\r" || c == "\n" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\t" || c == "\r" || c == "\n" { s.removeLast() }
        return String(s)
    }
}
