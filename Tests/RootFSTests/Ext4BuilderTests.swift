import FirebuildCore
import Foundation
import Testing
@testable import RootFS

@Suite(.enabled(if: Tree.hasTools, "needs e2fsprogs (mkfs.ext4, debugfs, e2fsck, resize2fs)"))
struct Ext4BuilderTests {
    @Test func richTreeIsPreserved() throws {
        let tmp = try TempDir()
        let tree = tmp.path + "/tree"
        try Tree.makeRich(at: tree)
        let image = tmp.path + "/out/rootfs.ext4"
        let result = try Ext4Builder.build(tree: tree, image: image)
        #expect(result.sizeBytes % (1 << 20) == 0)
        #expect(try DirectoryContents.names(tmp.path + "/out") == ["rootfs.ext4"])  // no temp file left

        let fsck = try Ext4Inspector.fsck(image: image)
        #expect(fsck.clean, "\(fsck.output)")
        let sb = try Ext4Inspector.superblock(image: image)
        #expect(sb.blockSize == 4096)  // -T default, not the small-fs 1 KiB profile
        #expect(sb.label == "rootfs")
        #expect(sb.freeBlocks * 4096 >= 64 << 20)  // default headroom

        let su = try Ext4Inspector.stat(image: image, path: "/bin/su")
        #expect(su.type == .regular && su.mode == 0o4755)
        let tool = try Ext4Inspector.stat(image: image, path: "/bin/tool")
        let hard = try Ext4Inspector.stat(image: image, path: "/bin/tool-hardlink")
        #expect(tool.inode == hard.inode && tool.links == 2)
        #expect(tool.mode == 0o755)
        let rel = try Ext4Inspector.stat(image: image, path: "/bin/rel-link")
        #expect(rel.type == .symlink && rel.linkTarget == "tool")
        let long = try Ext4Inspector.stat(image: image, path: "/bin/long-link")
        #expect(long.linkTarget == "/" + String(repeating: "long/", count: 20) + "target")
        #expect(try Ext4Inspector.stat(image: image, path: "/fifo").type == .fifo)
        #expect(try Ext4Inspector.stat(image: image, path: "/home/user/empty").mode == 0o1777)
        let host = try Ext4Inspector.stat(image: image, path: "/etc/hostname")
        #expect(host.xattrs["user.firebuild"] == "hello-xattr")
        #expect(try Ext4Inspector.readFile(image: image, path: "/etc/hostname") == Data("fixture\n".utf8))
        if Tree.isRoot {
            let null = try Ext4Inspector.stat(image: image, path: "/dev/null")
            #expect(null.type == .characterDevice && null.device?.major == 1 && null.device?.minor == 3 && null.mode == 0o666)
            let home = try Ext4Inspector.stat(image: image, path: "/home/user")
            #expect(home.uid == 1000 && home.gid == 1001)
        }
        #expect(try Ext4Inspector.list(image: image, directory: "/bin") == ["long-link", "rel-link", "su", "tool", "tool-hardlink"])
        #expect(throws: FirebuildError.self) { try Ext4Inspector.stat(image: image, path: "/missing") }
        #expect(try !Ext4Inspector.exists(image: image, path: "/missing"))
    }

    @Test func reproducibleBuildsAreByteIdentical() throws {
        let tmp = try TempDir()
        let tree = tmp.path + "/tree"
        try Tree.makeRich(at: tree)
        let options = Ext4Options(size: .headroomMiB(8), reproducible: Reproducibility(seed: "acme/web:1"))
        try Ext4Builder.build(tree: tree, image: tmp.path + "/a.ext4", options: options)
        try Ext4Builder.build(tree: tree, image: tmp.path + "/b.ext4", options: options)
        let a = try ContentDigest.sha256(fileAt: tmp.path + "/a.ext4")
        let b = try ContentDigest.sha256(fileAt: tmp.path + "/b.ext4")
        #expect(a == b)
        let sb = try Ext4Inspector.superblock(image: tmp.path + "/a.ext4")
        #expect(sb.uuid == options.reproducible?.uuid.uuidString.lowercased())
        // Without the fixed inputs, two builds differ (UUID, hash seed, times).
        try Ext4Builder.build(tree: tree, image: tmp.path + "/c.ext4", options: Ext4Options(size: .headroomMiB(8)))
        #expect(try ContentDigest.sha256(fileAt: tmp.path + "/c.ext4") != a)
    }

    @Test func absoluteSizeAndTooSmall() throws {
        let tmp = try TempDir()
        let tree = tmp.path + "/tree"
        try Tree.write(tree + "/big", String(repeating: "x", count: 3 << 20))
        let r = try Ext4Builder.build(tree: tree, image: tmp.path + "/img", options: Ext4Options(size: .absoluteMiB(40)))
        #expect(r.sizeBytes == 40 << 20)
        #expect(try DirectoryContents.size(tmp.path + "/img") == 40 << 20)
        #expect(throws: FirebuildError.self) {
            try Ext4Builder.build(tree: tree, image: tmp.path + "/small", options: Ext4Options(size: .absoluteMiB(2)))
        }
        #expect(!FileManager.default.fileExists(atPath: tmp.path + "/small"))
    }

    @Test func manySmallFilesGetEnoughInodes() throws {
        let tmp = try TempDir()
        let tree = tmp.path + "/tree"
        for i in 0..<3000 { try Tree.write(tree + "/d\(i % 10)/f\(i)", "") }
        try Ext4Builder.build(tree: tree, image: tmp.path + "/img", options: Ext4Options(size: .headroomMiB(0)))
        #expect(try Ext4Inspector.fsck(image: tmp.path + "/img").clean)
        #expect(try Ext4Inspector.list(image: tmp.path + "/img", directory: "/d3").count == 300)
    }

    @Test func growKeepsContent() throws {
        let tmp = try TempDir()
        let tree = tmp.path + "/tree"
        try Tree.write(tree + "/keep", "kept\n")
        let image = tmp.path + "/img"
        try Ext4Builder.build(tree: tree, image: image, options: Ext4Options(size: .absoluteMiB(32)))
        try Ext4Builder.grow(image: image, toMiB: 96)
        #expect(try DirectoryContents.size(image) == 96 << 20)
        let sb = try Ext4Inspector.superblock(image: image)
        #expect(sb.blockCount * sb.blockSize == 96 << 20)
        #expect(try Ext4Inspector.readFile(image: image, path: "/keep") == Data("kept\n".utf8))
        #expect(try Ext4Inspector.fsck(image: image).clean)
        #expect(throws: FirebuildError.self) { try Ext4Builder.grow(image: image, toMiB: 64) }
    }

    @Test(arguments: [
        ("256", SizeSpec.headroomMiB(256)), ("25%", .headroomPercent(25)), ("64M", .headroomMiB(64)), ("0", .headroomMiB(0)),
    ])
    func headroomParsing(text: String, expected: SizeSpec) throws {
        #expect(try SizeSpec(headroom: text) == expected)
    }

    @Test(arguments: ["", "abc", "-5", "10%%", "1.5"])
    func badHeadroom(text: String) {
        #expect(throws: FirebuildError.self) { try SizeSpec(headroom: text) }
    }

    @Test func sizePlanning() throws {
        let usage = TreeUsage(dataBlocks: 25_600, inodes: 1000)  // 100 MiB of data
        let pct = try Ext4Builder.plannedBytes(usage: usage, spec: .headroomPercent(20))
        #expect(pct >= (100 + 64) << 20 && pct < 200 << 20)  // 20% of 100 is below the 64 MiB floor
        let mib = try Ext4Builder.plannedBytes(usage: usage, spec: .headroomMiB(500))
        #expect(mib >= 600 << 20 && mib < 680 << 20)
        #expect(throws: FirebuildError.self) { try Ext4Builder.plannedBytes(usage: usage, spec: .absoluteMiB(50)) }
    }

    @Test func reproducibilitySeedIsStable() {
        let a = Reproducibility(seed: "x"), b = Reproducibility(seed: "x"), c = Reproducibility(seed: "y")
        #expect(a == b && a != c && a.uuid != a.hashSeed)
    }
}

enum DirectoryContents {
    static func names(_ dir: String) throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: dir).sorted() }
    static func size(_ path: String) throws -> UInt64 {
        var st = stat()
        guard stat(path, &st) == 0 else { throw FirebuildError.posix("stat", path: path) }
        return UInt64(st.st_size)
    }
}
