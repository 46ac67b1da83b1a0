import FirebuildCore
import Foundation

/// One file-system entry as the acceptance test compares it: never times (they differ by
/// construction), never a directory's size (ext4 and the host file system size directories
/// differently); everything else must be equal.
struct TreeEntry: Equatable, CustomStringConvertible {
    enum Kind: String { case directory = "dir", file, symlink, other }
    var kind: Kind
    /// Permission bits including setuid/setgid/sticky (`st_mode & 07777`).
    var mode: UInt32
    var uid: UInt32
    var gid: UInt32
    /// Regular files and symlinks only.
    var size: Int64?
    var linkTarget: String?
    var sha256: String?

    var description: String {
        var s = "\(kind.rawValue) \(String(mode, radix: 8)) \(uid):\(gid)"
        if let size { s += " size=\(size)" }
        if let linkTarget { s += " -> \(linkTarget)" }
        if let sha256 { s += " sha256=\(sha256.prefix(12))" }
        return s
    }
}

/// Walks a mounted or unpacked root file system into `path → entry` (paths absolute in the image).
enum TreeSnapshot {
    static func take(root: String) throws -> [String: TreeEntry] {
        var out: [String: TreeEntry] = [:]
        try walk(root: root, relative: "", into: &out)
        return out
    }

    private static func walk(root: String, relative: String, into out: inout [String: TreeEntry]) throws {
        let dir = root + relative
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.isEmpty ? "/" : dir)
        for name in names.sorted() {
            let rel = relative + "/" + name
            var st = stat()
            guard lstat(root + rel, &st) == 0 else { throw FirebuildError.posix("lstat", path: root + rel) }
            var e = TreeEntry(kind: .other, mode: UInt32(st.st_mode) & 0o7777, uid: st.st_uid, gid: st.st_gid)
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                e.kind = .directory
            case S_IFREG:
                e.kind = .file
                e.size = Int64(st.st_size)
                e.sha256 = try ContentDigest.sha256(fileAt: root + rel).hex
            case S_IFLNK:
                e.kind = .symlink
                e.size = Int64(st.st_size)
                e.linkTarget = try FileManager.default.destinationOfSymbolicLink(atPath: root + rel)
            default:
                break
            }
            out[rel] = e
            if e.kind == .directory { try walk(root: root, relative: rel, into: &out) }
        }
    }
}

/// What may differ between firebuild's ext4 and buildah's image, and why. Everything else is a bug.
enum AcceptanceTolerance {
    /// Only in firebuild's images, by design: ext4's lost+found (mkfs creates it, e2fsck needs it).
    /// Not tolerated any more: the guest init (build VMs boot it from an initrd segment) and the
    /// boot mount points of FROM scratch images (Sources/Build/MountStubs.swift removes them).
    static let firebuildOnly: Set<String> = ["/lost+found"]

    /// Only in buildah's images: the empty files buildah's chroot isolation creates as bind-mount
    /// targets for RUN (Docker/BuildKit leave no such files). Tolerated only while empty.
    static let buildahMountTargets: Set<String> = ["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"]

    /// Differences of two trees as readable lines (empty: equal within the tolerances).
    static func differences(firebuild fb: [String: TreeEntry], buildah bh: [String: TreeEntry]) -> [String] {
        var out: [String] = []
        for path in Set(fb.keys).union(bh.keys).sorted() {
            switch (fb[path], bh[path]) {
            case let (f?, b?):
                if f != b { out.append("\(path): firebuild \(f) | buildah \(b)") }
            case let (f?, nil):
                if firebuildOnly.contains(path) || firebuildOnly.contains(where: { path.hasPrefix($0 + "/") }) { continue }
                out.append("\(path): only in firebuild (\(f))")
            case let (nil, b?):
                if buildahMountTargets.contains(path), b.kind == .file, b.size == 0 { continue }
                out.append("\(path): only in buildah (\(b))")
            case (nil, nil):
                continue
            }
        }
        return out
    }
}
