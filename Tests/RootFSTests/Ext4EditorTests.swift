import FirebuildCore
import Foundation
import Testing
@testable import RootFS

@Suite(.enabled(if: Tree.hasTools, "needs e2fsprogs (mkfs.ext4, debugfs, e2fsck)"))
struct Ext4EditorTests {
    func makeImage(_ tmp: TempDir) throws -> String {
        let tree = tmp.path + "/tree"
        try Tree.write(tree + "/etc/motd", "old\n")
        try Tree.write(tree + "/bin/sh", "shell", mode: 0o755)
        guard link(tree + "/bin/sh", tree + "/bin/ash") == 0 else { throw FirebuildError.posix("link", path: tree) }
        try Tree.write(tree + "/var/cache/a/b/file", "x")
        try Tree.write(tree + "/var/cache/top", "y")
        let image = tmp.path + "/img"
        try Ext4Builder.build(tree: tree, image: image, options: Ext4Options(size: .absoluteMiB(32)))
        return image
    }

    @Test func editsApplyAndFsckStaysClean() throws {
        let tmp = try TempDir()
        let image = try makeImage(tmp)
        try Tree.write(tmp.path + "/host-file", "from host\n", mode: 0o700)
        try Ext4Editor.apply([
            .writeData(Data("new\n".utf8), path: "/etc/motd", mode: 0o600, uid: 5, gid: 6),  // replaces
            .writeFile(source: tmp.path + "/host-file", path: "/opt/app/deep/run.sh"),       // creates parents
            .mkdir(path: "/srv/data", mode: 0o750, uid: 1000, gid: 1000),
            .chmod(path: "/bin/sh", mode: 0o4755),
            .chown(path: "/etc", uid: 0, gid: 42),
            .symlink(path: "/usr/bin/sh", target: "/bin/sh"),
            .mknod(path: "/dev/null", type: .character, major: 1, minor: 3, mode: 0o666),
            .mknod(path: "/run/pipe", type: .fifo, mode: 0o600),
            .remove(path: "/bin/ash"),                       // one name of a hard link
            .remove(path: "/var/cache", recursive: true),
            .remove(path: "/does/not/exist"),                // idempotent
        ], to: image)
        let fsck = try Ext4Inspector.fsck(image: image)
        #expect(fsck.clean, "\(fsck.output)")

        let motd = try Ext4Inspector.stat(image: image, path: "/etc/motd")
        #expect(motd.mode == 0o600 && motd.uid == 5 && motd.gid == 6)
        #expect(try Ext4Inspector.readFile(image: image, path: "/etc/motd") == Data("new\n".utf8))
        #expect(try Ext4Inspector.readFile(image: image, path: "/opt/app/deep/run.sh") == Data("from host\n".utf8))
        #expect(try Ext4Inspector.stat(image: image, path: "/opt/app/deep/run.sh").mode == 0o700)  // host mode kept
        #expect(try Ext4Inspector.stat(image: image, path: "/opt/app").mode == 0o755)
        let srv = try Ext4Inspector.stat(image: image, path: "/srv/data")
        #expect(srv.type == .directory && srv.mode == 0o750 && srv.uid == 1000)
        let sh = try Ext4Inspector.stat(image: image, path: "/bin/sh")
        #expect(sh.type == .regular && sh.mode == 0o4755 && sh.links == 1)
        #expect(try Ext4Inspector.stat(image: image, path: "/etc").gid == 42)
        #expect(try Ext4Inspector.stat(image: image, path: "/usr/bin/sh").linkTarget == "/bin/sh")
        let null = try Ext4Inspector.stat(image: image, path: "/dev/null")
        #expect(null.type == .characterDevice && null.mode == 0o666 && null.device?.major == 1 && null.device?.minor == 3)
        #expect(try Ext4Inspector.stat(image: image, path: "/run/pipe").type == .fifo)
        #expect(try Ext4Inspector.list(image: image, directory: "/dev") == ["null"])  // no "/dev/null" name in /
        #expect(try !Ext4Inspector.exists(image: image, path: "/bin/ash"))
        #expect(try !Ext4Inspector.exists(image: image, path: "/var/cache"))
        #expect(try Ext4Inspector.exists(image: image, path: "/var"))
    }

    @Test func createThenRemoveInOneScript() throws {
        let tmp = try TempDir()
        let image = try makeImage(tmp)
        try Ext4Editor.apply([
            .mkdir(path: "/tmpdir/sub"),
            .writeData(Data("z".utf8), path: "/tmpdir/sub/f"),
            .remove(path: "/tmpdir", recursive: true),
        ], to: image)
        #expect(try Ext4Inspector.fsck(image: image).clean)
        #expect(try !Ext4Inspector.exists(image: image, path: "/tmpdir"))
    }

    @Test func refusesBadEditsBeforeTouchingTheImage() throws {
        let tmp = try TempDir()
        let image = try makeImage(tmp)
        let before = try ContentDigest.sha256(fileAt: image)
        let bad: [[Ext4Edit]] = [
            [.writeData(Data(), path: "relative")],
            [.writeData(Data(), path: "/etc/../x")],
            [.writeData(Data(), path: "/etc")],                          // a directory is in the way
            [.mkdir(path: "/etc/motd/sub")],                             // a file is in the way
            [.chmod(path: "/missing", mode: 0o644)],
            [.remove(path: "/var")],                                     // non-empty, not recursive
            [.remove(path: "/")],
            [.writeData(Data(), path: "/bad\"name")],
            [.writeFile(source: tmp.path + "/no-such-host-file", path: "/x")],
            [.mkdir(path: "/ok"), .chown(path: "/nope", uid: 1, gid: 1)],  // fails as a whole
        ]
        for edits in bad {
            #expect(throws: FirebuildError.self, "\(edits)") { try Ext4Editor.apply(edits, to: image) }
        }
        #expect(try ContentDigest.sha256(fileAt: image) == before)
    }
}
