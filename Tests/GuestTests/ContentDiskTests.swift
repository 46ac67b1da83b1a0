import Foundation
import Glibc
import Testing
@testable import Guest

@Suite struct ContentDiskFormatTests {
    @Test func headerCarriesTheTokenInOneAlignedBlock() {
        let h = ContentDiskFormat.header(token: "0123abcd")
        #expect(h.count == ContentDiskFormat.alignment)
        #expect(ContentDiskFormat.token(inHeader: h) == "0123abcd")
    }

    @Test(arguments: ["", "FIREBUILD-CONTENT-DISK-1\n", "FIREBUILD-CONTENT-DISK-2\nabc\n", "\0\0\0\0", "ext4 superblock"])
    func otherBlocksHaveNoToken(_ block: String) {
        #expect(ContentDiskFormat.token(inHeader: Array(block.utf8)) == nil)
    }

    @Test(arguments: [(0, 0), (1, 4096), (4095, 4096), (4096, 4096), (4097, 8192)])
    func alignsUp(_ n: Int, _ expected: Int) { #expect(ContentDiskFormat.aligned(n) == expected) }

    @Test func batchRoundTripsAndRejectsUnknownOps() throws {
        let b = FileBatch([.mkdir(MkdirRequest(path: "/d", mode: 0o750, owner: "app")),
                           .copy(DiskCopyRequest(target: WriteFileRequest(path: "/d/f", mode: 0o600, uid: 5, gid: 6), disk: "t", offset: 4096, length: 3)),
                           .symlink(SymlinkRequest(path: "/d/l", target: "f", owner: "app"))])
        #expect(try FileBatch(json: try JSON.parse(b.json.encoded())) == b)
        #expect(throws: GuestError.self) { try FileBatch(json: try JSON.parse(#"{"entries":[{"op":"rm","path":"/x"}]}"#)) }
        #expect(throws: GuestError.self) { try FileBatch(json: try JSON.parse(#"{"entries":{}}"#)) }
    }

    @Test func requestRoundTripsAndRejectsUnalignedOffsets() throws {
        let r = DiskCopyRequest(target: WriteFileRequest(path: "/a/b", mode: 0o640, owner: "app"), disk: "tok", offset: 8192, length: 5)
        #expect(try DiskCopyRequest(json: try JSON.parse(r.json.encoded())) == r)
        var bad = r
        bad.offset = 100
        #expect(throws: GuestError.self) { try DiskCopyRequest(json: try JSON.parse(bad.json.encoded())) }
    }
}

/// The init copies files out of a content disk (a plain file here, given with --content-disk).
@Suite(.serialized, .enabled(if: InitHarness.binary != nil, "firebuild-init is not built (swift build --product firebuild-init)"))
struct ContentDiskCopyTests {
    /// One content-disk copy, as a batch of one entry.
    func copy(_ c: GuestConnection, _ target: WriteFileRequest, disk: String, offset: Int, length: Int) throws {
        try c.applyFileBatch(FileBatch([.copy(DiskCopyRequest(target: target, disk: disk, offset: offset, length: length))]), timeout: 20)
    }

    /// Sizes around the block size and around the init's 4 MiB transfer buffer.
    static let sizes = [0, 1, 4095, 4096, 4097, (4 << 20) - 1, (4 << 20) + 4096 + 3]

    @Test func copiesEveryFileExactlyWithOwnerAndMode() throws {
        let dir = NSTemporaryDirectory() + "fbcd-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var disk = ContentDiskFormat.header(token: "t0ken")
        var files: [(offset: Int, bytes: [UInt8])] = []
        for (i, size) in Self.sizes.enumerated() {
            let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i) }
            files.append((disk.count, bytes))
            disk += bytes + [UInt8](repeating: 0xEE, count: ContentDiskFormat.aligned(size) - size)  // padding must not leak
        }
        let diskPath = dir + "/content.img"
        try Data(disk).write(to: URL(fileURLWithPath: diskPath))

        let h = try InitHarness(extraArgs: ["--content-disk", dir + "/missing.img", "--content-disk", diskPath])
        defer { h.cleanup() }
        let c = h.connection
        _ = try c.waitReady(timeout: 10)
        try c.sendMetadata(Metadata(mode: .build))
        for (i, f) in files.enumerated() {
            let target = "\(h.root)/data/f\(i)"
            try copy(c, WriteFileRequest(path: target, mode: 0o640, owner: "app"), disk: "t0ken", offset: f.offset, length: f.bytes.count)
            #expect(FileManager.default.contents(atPath: target) == Data(f.bytes), "file \(i) of \(f.bytes.count) bytes")
            let st = try c.stat(target)
            #expect(st.uid == 1234 && st.gid == 1234 && st.mode == 0o640)
        }
        // Overwriting keeps nothing of the old, longer file.
        try copy(c, WriteFileRequest(path: "\(h.root)/data/f6"), disk: "t0ken", offset: files[1].offset, length: 1)
        #expect(FileManager.default.contents(atPath: "\(h.root)/data/f6") == Data(files[1].bytes))
        // An unknown disk and bytes past the disk's end are errors, and leave no temporary file.
        #expect(throws: GuestError.self) {
            try copy(c, WriteFileRequest(path: "\(h.root)/data/x"), disk: "other", offset: 4096, length: 1)
        }
        #expect(throws: GuestError.self) {
            try copy(c, WriteFileRequest(path: "\(h.root)/data/y"), disk: "t0ken", offset: files.last!.offset, length: 64 << 20)
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: "\(h.root)/data").filter { $0.hasPrefix(".fbw") || $0 == "x" || $0 == "y" }
        #expect(left.isEmpty)
        try c.shutdown(timeout: 10)
        #expect(h.waitExit() == 0)
    }

    @Test func aBatchAppliesDirectoriesFilesAndLinksInOrderAndNamesTheEntryThatFails() throws {
        let dir = NSTemporaryDirectory() + "fbcd-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bytes = Array("hello batch".utf8)
        let disk = ContentDiskFormat.header(token: "b") + bytes + [UInt8](repeating: 0, count: 4096 - bytes.count)
        try Data(disk).write(to: URL(fileURLWithPath: dir + "/content.img"))
        let h = try InitHarness(extraArgs: ["--content-disk", dir + "/content.img"])
        defer { h.cleanup() }
        let c = h.connection
        _ = try c.waitReady(timeout: 10)
        try c.sendMetadata(Metadata(mode: .build))
        let r = h.root
        func copy(_ path: String, mode: UInt32 = 0o644, owner: String? = nil) -> FileBatchEntry {
            .copy(DiskCopyRequest(target: WriteFileRequest(path: path, mode: mode, owner: owner), disk: "b", offset: 4096, length: bytes.count))
        }
        try c.applyFileBatch(FileBatch([.mkdir(MkdirRequest(path: r + "/app", mode: 0o750, owner: "app")),
                                        copy(r + "/app/a.txt", mode: 0o600, owner: "app"),
                                        .symlink(SymlinkRequest(path: r + "/app/link", target: "a.txt", owner: "app")),
                                        .symlink(SymlinkRequest(path: r + "/new/dir/link2", target: "/app/a.txt")),
                                        copy(r + "/app/b.txt")]), timeout: 20)
        #expect(FileManager.default.contents(atPath: r + "/app/a.txt") == Data(bytes))
        #expect(FileManager.default.contents(atPath: r + "/app/b.txt") == Data(bytes))
        let a = try c.stat(r + "/app/a.txt"), d = try c.stat(r + "/app")
        #expect(a.mode == 0o600 && a.uid == 1234 && d.mode == 0o750 && d.uid == 1234)
        let link = try c.stat(r + "/app/link")
        #expect(link.kind == .symlink && link.linkTarget == "a.txt" && link.uid == 1234)
        #expect(try c.stat(r + "/new/dir/link2").linkTarget == "/app/a.txt")
        #expect(try c.stat(r + "/new/dir").mode == 0o755, "a missing parent of a link is created 0755")
        // Entries run in order and stop at the first failure, which the error names.
        do {
            try c.applyFileBatch(FileBatch([copy(r + "/later/ok.txt"), copy(r + "/app/a.txt/below"), copy(r + "/never.txt")]), timeout: 20)
            Issue.record("a batch with a failing entry must fail")
        } catch let e as GuestError {
            #expect(e.message.contains("entry 2 of 3") && e.message.contains("/app/a.txt/below"), "\(e)")
        }
        #expect(FileManager.default.fileExists(atPath: r + "/later/ok.txt"))
        #expect(!FileManager.default.fileExists(atPath: r + "/never.txt"))
        try c.shutdown(timeout: 10)
        #expect(h.waitExit() == 0)
    }
}
