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

    /// Entry names of a directory (`ls -p` prints one `/inode/mode/uid/gid/name/size/` line each).
    static func names(in dir: String, image: String) throws -> Set<String> {
        let out = try Command("debugfs", ["-R", "ls -p \"\(dir)\"", image]).run().stdoutString
        return Set(out.split(separator: "\n").compactMap { line -> String? in
            let f = line.split(separator: "/", omittingEmptySubsequences: false)
            return f.count > 5 ? String(f[5]) : nil
        }).subtracting([".", ".."])
    }

    /// Removes the stubs that are still empty (a step may have put real content there).
    static func remove(_ candidates: [String], from image: String) throws {
        let files = try candidates.filter { try Self.files.contains($0) && entry($0, in: image) == .emptyFile }
        try debugfs(files.map { "rm \($0)\n" }.joined(), image)
        let dirs = try candidates.filter { try Self.directories.contains($0) && entry($0, in: image) == .emptyDirectory }
        try debugfs(dirs.map { "rmdir \($0)\n" }.joined(), image)
    }

    private static func debugfs(_ script: String, _ image: String) throws {
        guard !script.isEmpty else { return }
        let cmds = image + ".stubs.debugfs"
        try AtomicFile.write(script, to: cmds)
        defer { unlink(cmds) }
        try Command("debugfs", ["-w", "-f", cmds, image]).check()
    }

    enum Entry { case emptyFile, emptyDirectory, other }

    static func entry(_ path: String, in image: String) throws -> Entry? {
        let out = try Command("debugfs", ["-R", "stat \"\(path)\"", image]).run().stdoutString
        guard out.contains("Inode:") else { return nil }  // "File not found by ext2_lookup" goes to stderr
        if out.contains("Type: regular") {
            return out.range(of: #"Size: 0\b"#, options: .regularExpression) != nil ? .emptyFile : .other
        }
        if out.contains("Type: directory") {
            let names = try names(in: path, image: image)
            return names.isEmpty ? .emptyDirectory : .other
        }
        return .other
    }
}
