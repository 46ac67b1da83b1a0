import FirebuildCore
import Foundation

/// The files the guest init bind-mounts over during RUN steps (Sources/GuestInit/Setup.swift,
/// build mode). When the image has none, the init first creates an empty file as the mount
/// target, and that stub would end up in the built image. Docker does not leave them: BuildKit
/// removes the stubs it created after every RUN (`executor.MountStubsCleaner`), so firebuild
/// removes them from the exported image when the stage's base lacked them and they are still
/// empty. Found by the buildah acceptance test (Tests/BuildTests/Acceptance).
enum MountStubs {
    static let paths = ["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"]

    /// Which of `paths` a raw ext4 image lacks (all of them for scratch: `image` nil).
    static func absent(in image: String?) throws -> [String] {
        guard let image else { return paths }
        return try paths.filter { try entry($0, in: image) == nil }
    }

    /// Removes the stubs that are still empty regular files (a step may have put real content there).
    static func remove(_ candidates: [String], from image: String) throws {
        let script = try candidates.filter { try entry($0, in: image) == .emptyFile }.map { "rm \($0)\n" }.joined()
        guard !script.isEmpty else { return }
        let cmds = image + ".stubs.debugfs"
        try AtomicFile.write(script, to: cmds)
        defer { unlink(cmds) }
        try Command("debugfs", ["-w", "-f", cmds, image]).check()
    }

    enum Entry { case emptyFile, other }

    static func entry(_ path: String, in image: String) throws -> Entry? {
        let out = try Command("debugfs", ["-R", "stat \"\(path)\"", image]).run().stdoutString
        guard out.contains("Inode:") else { return nil }  // "File not found by ext2_lookup" goes to stderr
        let isRegular = out.contains("Type: regular")
        let isEmpty = out.range(of: #"Size: 0\b"#, options: .regularExpression) != nil
        return isRegular && isEmpty ? .emptyFile : .other
    }
}
