import FirebuildCore
import Foundation
import OCI
import RootFS
import Testing
@testable import Store

@Suite(.enabled(if: Command.which("mkfs.ext4") != nil && Command.which("debugfs") != nil && Command.which("tar") != nil,
                "needs e2fsprogs and tar"))
struct ImageServiceTests {
    func storage(_ tmp: TempDir) -> StorageConfig {
        StorageConfig(rootfsRoot: tmp.path + "/rootfs", kernelRoot: tmp.path + "/kernels", contentRoot: tmp.path + "/content")
    }

    func makeTarball(_ tmp: TempDir, name: String = "rootfs.tar", marker: String = "hello") throws -> String {
        let tree = tmp.path + "/src-\(name)"
        try writeFile(tree + "/bin/hello", Data("#!/bin/sh\necho \(marker)\n".utf8))
        chmod(tree + "/bin/hello", 0o755)
        try writeFile(tree + "/etc/os-release", Data("ID=fixture\n".utf8))
        guard symlink("hello", tree + "/bin/hi") == 0 else { throw FirebuildError.posix("symlink", path: tree) }
        let tarball = tmp.path + "/" + name
        try Command("tar", ["--numeric-owner", "--owner=0", "--group=0", "-C", tree, "-cf", tarball, "."]).check()
        return tarball
    }

    @Test func importRootfsTarballAndPrune() throws {
        let tmp = try TempDir("svc")
        let service = try ImageService(storage: storage(tmp))
        let tag = try ImageTag(parsing: "fixture/hello:1")
        let image = try service.importImage(try makeTarball(tmp), tag: tag, options: ImageBuildOptions(size: .headroomMiB(8)))
        #expect(image.directory == tmp.path + "/rootfs/fixture/hello/1")
        #expect(image.metadata.source.kind == .tarball && image.metadata.platform == "linux/amd64")
        #expect(image.metadata.source.manifestDigest != nil && (image.metadata.source.blobs?.count ?? 0) >= 3)
        #expect(try Ext4Inspector.fsck(image: image.rootfsPath).clean)
        let hello = try Ext4Inspector.stat(image: image.rootfsPath, path: "/bin/hello")
        #expect(hello.mode == 0o755 && hello.uid == 0)
        #expect(try Ext4Inspector.readFile(image: image.rootfsPath, path: "/bin/hello") == Data("#!/bin/sh\necho hello\n".utf8))
        #expect(try Ext4Inspector.stat(image: image.rootfsPath, path: "/bin/hi").linkTarget == "hello")
        #expect(DirectoryOps.children(tmp.path + "/rootfs/.tmp").isEmpty)

        // A second image; prune keeps blobs some tag references and drops the rest.
        let other = try service.importImage(try makeTarball(tmp, name: "other.tar", marker: "other"),
                                            tag: try ImageTag(parsing: "fixture/other:1"), options: ImageBuildOptions(size: .headroomMiB(8)))
        let before = Set(try service.content.list())
        #expect(try service.prune().removedBlobs.isEmpty)
        try service.images.remove(other.tag)
        let report = try service.prune()
        let otherBlobs = Set(other.metadata.source.blobs ?? []).subtracting(image.metadata.source.blobs ?? [])
        #expect(Set(report.removedBlobs) == otherBlobs && !otherBlobs.isEmpty && report.freedBytes > 0)
        #expect(Set(try service.content.list()) == before.subtracting(otherBlobs))
        for d in image.metadata.source.blobs ?? [] { #expect(service.content.contains(d)) }
    }

    @Test func reproducibleImportSeedsFromManifest() throws {
        let tmp = try TempDir("svc")
        let service = try ImageService(storage: storage(tmp))
        let options = ImageBuildOptions(size: .headroomMiB(8), reproducible: true)
        let a = try service.importImage(try makeTarball(tmp), tag: try ImageTag(parsing: "r/a:1"), options: options)
        let manifest = try #require(a.metadata.source.manifestDigest)
        // Filesystem UUID and hash seed come from the manifest digest: the same image gives the same ext4 identity.
        let expected = Reproducibility(seed: manifest.description).uuid.uuidString.lowercased()
        #expect(try Ext4Inspector.superblock(image: a.rootfsPath).uuid == expected)
        let plain = try service.importImage(try makeTarball(tmp, name: "b.tar"), tag: try ImageTag(parsing: "r/b:1"),
                                            options: ImageBuildOptions(size: .headroomMiB(8)))
        #expect(try Ext4Inspector.superblock(image: plain.rootfsPath).uuid != expected)
    }

    @Test func importRejectsNonsense() throws {
        let tmp = try TempDir("svc")
        let service = try ImageService(storage: storage(tmp))
        let tag = try ImageTag(parsing: "x/y:1")
        #expect(throws: FirebuildError.self) { try service.importImage(tmp.path + "/missing.tar", tag: tag) }
        try FileManager.default.createDirectory(atPath: tmp.path + "/plain-dir", withIntermediateDirectories: true)
        #expect(throws: FirebuildError.self) { try service.importImage(tmp.path + "/plain-dir", tag: tag) }
        try writeFile(tmp.path + "/garbage.tar", Data("this is not a tar archive at all".utf8))
        #expect(throws: (any Error).self) { try service.importImage(tmp.path + "/garbage.tar", tag: tag) }
        #expect(!service.images.exists(tag))
    }
}
