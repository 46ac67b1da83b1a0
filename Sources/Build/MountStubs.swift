import FirebuildCore
import Foundation

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

    /// Which of `paths` a raw ext4 image lacks (all of them for scratch: `image` nil).
    static func absent(in image: String?) throws -> [String] {
        guard let image else { return paths }
        return try paths.filter { try entry($0, in: image) == nil }
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
            // `ls -p` prints one `/inode/mode/uid/gid/name/size/` line per entry.
            let names = try Command("debugfs", ["-R", "ls -p \"\(path)\"", image]).run().stdoutString
                .split(separator: "\n").compactMap { line -> Substring? in
                    let f = line.split(separator: "/", omittingEmptySubsequences: false)
                    return f.count > 5 ? f[5] : nil
                }
            return Set(names).isSubset(of: [".", ".."]) ? .emptyDirectory : .other
        }
        return .other
    }
}
