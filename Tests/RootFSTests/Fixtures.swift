import FirebuildCore
import Foundation
import RootFS

/// A temp directory removed at the end of the test.
final class TempDir {
    let path: String
    init(_ label: String = "rootfs") throws {
        path = NSTemporaryDirectory() + "fb-\(label)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

enum Tree {
    static var isRoot: Bool { geteuid() == 0 }
    static var hasTools: Bool { ["mkfs.ext4", "debugfs", "e2fsck", "resize2fs", "dumpe2fs"].allSatisfy { Command.which($0) != nil } }

    static func write(_ path: String, _ text: String, mode: mode_t = 0o644) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        chmod(path, mode)
    }

    /// Every kind of entry mkfs.ext4 -d must carry over. Device nodes and foreign owners need root.
    static func makeRich(at root: String) throws {
        try write(root + "/etc/hostname", "fixture\n")
        try write(root + "/bin/tool", "#!/bin/sh\necho hi\n", mode: 0o755)
        try write(root + "/bin/su", "setuid\n", mode: 0o4755)
        chmod(root + "/bin/su", 0o4755)  // chmod after write: the umask does not apply to chmod
        guard link(root + "/bin/tool", root + "/bin/tool-hardlink") == 0 else { throw FirebuildError.posix("link", path: root) }
        guard symlink("tool", root + "/bin/rel-link") == 0 else { throw FirebuildError.posix("symlink", path: root) }
        let longTarget = "/" + String(repeating: "long/", count: 20) + "target"
        guard symlink(longTarget, root + "/bin/long-link") == 0 else { throw FirebuildError.posix("symlink", path: root) }
        guard mkfifo(root + "/fifo", 0o600) == 0 else { throw FirebuildError.posix("mkfifo", path: root) }
        try FileManager.default.createDirectory(atPath: root + "/home/user/empty", withIntermediateDirectories: true)
        chmod(root + "/home/user/empty", 0o1777)
        try XAttr.set(root + "/etc/hostname", "user.firebuild", Data("hello-xattr".utf8))
        if isRoot {
            try FileManager.default.createDirectory(atPath: root + "/dev", withIntermediateDirectories: true)
            guard mknod(root + "/dev/null", S_IFCHR | 0o666, dev_t((1 << 8) | 3)) == 0 else { throw FirebuildError.posix("mknod", path: root) }
            chmod(root + "/dev/null", 0o666)
            guard chown(root + "/home/user", 1000, 1001) == 0 else { throw FirebuildError.posix("chown", path: root) }
        }
    }
}
