import FirebuildCore
import Foundation
import Store
import Testing
@testable import FirebuildCLI

@Suite(.enabled(if: Command.which("mkfs.ext4") != nil && Command.which("tar") != nil, "needs e2fsprogs and tar"))
struct ImageCommandRunTests {
    /// import → ls → inspect → tag → rm → prune, run as the commands run them.
    @Test func imageLifecycle() throws {
        let dir = NSTemporaryDirectory() + "fb-cli-img-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tree = dir + "/tree"
        try FileManager.default.createDirectory(atPath: tree + "/etc", withIntermediateDirectories: true)
        try Data("x\n".utf8).write(to: URL(fileURLWithPath: tree + "/etc/marker"))
        try Command("tar", ["-C", tree, "-cf", dir + "/rootfs.tar", "."]).check()
        let storage = ["--storage-provider.directory.rootfs-storage-root", dir + "/rootfs",
                       "--storage-provider.directory.content-storage-root", dir + "/content",
                       "--profile-conf-dir", dir + "/profiles", "--log-level", "error"]

        try ImageImport.parse([dir + "/rootfs.tar", "--tag", "acme/app:1", "--headroom", "8"] + storage).run()
        let store = ImageStore(root: dir + "/rootfs")
        #expect(store.list().map(\.tag.description) == ["acme/app:1"])
        try ImageInspect.parse(["acme/app:1"] + storage).run()
        try ImageTagCommand.parse(["acme/app:1", "app:2"] + storage).run()
        #expect(store.list().map(\.tag.description) == ["_/app:2", "acme/app:1"])
        #expect(ImageList.table(store.list()).contains("acme/app:1"))
        try ImageList.parse(["--json"] + storage).run()
        try ImageRemove.parse(["acme/app:1", "app:2"] + storage).run()
        #expect(store.list().isEmpty)
        try ImagePrune.parse(storage).run()
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: dir + "/content/sha256")) ?? []).isEmpty)
        #expect(throws: FirebuildError.self) { try ImageInspect.parse(["acme/app:1"] + storage).run() }
    }
}
