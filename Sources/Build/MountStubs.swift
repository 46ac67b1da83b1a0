import FirebuildCore
import Foundation
import Synchronization

/// Mount targets a build VM creates in the image being built, removed again from the export.
/// - Files: the guest init bind-mounts /etc/hosts, /etc/hostname and /etc/resolv.conf during RUN
///   (Sources/GuestInit/Setup.swift, build mode); an image without them gets an empty file as the
///   mount target. BuildKit removes the stubs it created after every RUN
///   (`executor.MountStubsCleaner`), so firebuild removes them when the stage's base lacked them
///   and they are still empty. Found by the buildah acceptance test (Tests/BuildTests/Acceptance).
/// - Directories: the initrd and the init mount /proc, /sys, /dev, /run (and /etc holds the
///   files above); an image without them (FROM scratch) gets empty directories as mount points.
///   Docker's scratch images have none, so they go when the base lacked them and they are still
///   empty. Files first, so an /etc left empty by their removal goes too.
enum MountStubs {
    static let files = ["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"]
    static let directories = ["/proc", "/sys", "/dev", "/run", "/etc"]
    static var paths: [String] { files + directories }

    /// Which of `paths` a raw ext4 image lacks (all of them for scratch: `image` nil). Two
    /// debugfs listings (/ and /etc), remembered per image file identity: each debugfs start
    /// opens the whole image, and a cached rebuild asks once per stage.
    static func absent(in image: String?) throws -> [String] {
        guard let image else { return paths }
        let id = BaseImage.fileIdentity(image)
        if let known = memo.withLock({ $0[id] }) { return known }
        let root = try names(in: "/", image: image)
        let etc = root.contains("etc") ? try names(in: "/etc", image: image) : []
        let missing = paths.filter { path in
            let parts = path.split(separator: "/").map(String.init)
            return parts.count == 1 ? !root.contains(parts[0]) : !(parts[0] == "etc" && etc.contains(parts[1]))
        }
        memo.withLock { $0[id] = missing }
        return missing
    }

    private static let memo = Mutex<[String: [String]]>([:])

    static func names(in dir: String, image: String) throws -> Set<String> { Set(try listing(in: dir, image: image).keys) }

    /// Removes the stubs that are still empty (a step may have put real content there), with one
    /// listing per directory involved and one debugfs write: files first, so an /etc they leave
    /// empty goes too.
    static func remove(_ candidates: [String], from image: String) throws {
        guard !candidates.isEmpty else { return }
        let wanted = Set(candidates)
        let etc = try listing(in: "/etc", image: image)
        var script = "", goneFromEtc = Set<String>()
        for path in files where wanted.contains(path) {
            let name = String(path.dropFirst("/etc/".count))
            if let e = etc[name], e.isRegular, e.size == 0 { script += "rm \(path)\n"; goneFromEtc.insert(name) }
        }
        let dirs = directories.filter { wanted.contains($0) }
        if !dirs.isEmpty {
            let root = try listing(in: "/", image: image)
            for dir in dirs {
                let name = String(dir.dropFirst())
                guard root[name]?.isDirectory == true else { continue }
                let rest = name == "etc" ? Set(etc.keys).subtracting(goneFromEtc) : Set(try listing(in: dir, image: image).keys)
                if rest.isEmpty { script += "rmdir \(dir)\n" }
            }
        }
        try debugfs(script, image)
    }

    struct Listed {
        var mode: String
        var size: Int64
        private var type: Int { (Int(mode, radix: 8) ?? 0) & 0o170000 }
        var isRegular: Bool { type == 0o100000 }
        var isDirectory: Bool { type == 0o040000 }
    }

    /// A directory's entries from `ls -p` (`/inode/mode/uid/gid/name/size/` per line); empty when
    /// the directory does not exist.
    static func listing(in dir: String, image: String) throws -> [String: Listed] {
        let out = try Command("debugfs", ["-R", "ls -p \"\(dir)\"", image]).run().stdoutString
        var entries: [String: Listed] = [:]
        for line in out.split(separator: "\n") {
            let f = line.split(separator: "/", omittingEmptySubsequences: false)
            guard f.count > 6, f[5] != ".", f[5] != ".." else { continue }
            entries[String(f[5])] = Listed(mode: String(f[2]), size: Int64(f[6]) ?? -1)
        }
        return entries
    }

    private static func debugfs(_ script: String, _ image: String) throws {
        guard !script.isEmpty else { return }
        let cmds = image + ".stubs.debugfs"
        try AtomicFile.write(script, to: cmds)
        defer { unlink(cmds) }
        try Command("debugfs", ["-w", "-f", cmds, image]).check()
    }
}
