import Foundation
import Guest
import Testing
@testable import Build

@Suite struct StageContentDiskTests {
    @Test func layoutAlignsEveryFileAndPacksEachPathOnce() {
        let plan = StageContentDisk.layout([("/a", 4096, "a"), ("/empty", 0, "e"), ("/b", 4097, "b"), ("/a", 4096, "a"), ("/c", 1, "c")])
        #expect(plan.order == ["/a", "/empty", "/b", "/c"])
        #expect(plan.entries["/a"] == .init(offset: 4096, length: 4096, identity: "a"))
        #expect(plan.entries["/empty"] == .init(offset: 8192, length: 0, identity: "e"))
        #expect(plan.entries["/b"] == .init(offset: 8192, length: 4097, identity: "b"))
        #expect(plan.entries["/c"] == .init(offset: 16384, length: 1, identity: "c"))
        #expect(plan.size == 20480)
    }

    @Test func packsTheFilesBehindAHeaderAndFallsBackWhenASourceChanged() throws {
        let dir = NSTemporaryDirectory() + "fbcdisk-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var contents: [String: Data] = [:]
        for (name, size) in [("one", 70_000), ("two", 1 << 20), ("three", (3 << 20) + 7), ("tiny", 10)] {
            let data = Data((0..<size).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ name.count) })
            try data.write(to: URL(fileURLWithPath: "\(dir)/\(name)"))
            contents["\(dir)/\(name)"] = data
        }
        let disk = try #require(StageContentDisk.make(hostFiles: contents.keys.sorted() + ["\(dir)/missing"], directory: dir + "/scratch",
                                                      name: "vm1"))
        #expect(disk.vmDisk.readOnly && disk.vmDisk.format == .raw)
        #expect(disk.location(of: "\(dir)/missing") == nil)
        _ = disk.location(of: "\(dir)/one")  // waits for the background fill
        let image = try Data(contentsOf: URL(fileURLWithPath: disk.path))
        #expect(ContentDiskFormat.token(inHeader: Array(image.prefix(4096))) == disk.token)
        #expect(image.count % 4096 == 0)
        for name in ["one", "two", "three", "tiny"] {
            let at = try #require(disk.location(of: "\(dir)/\(name)"))
            #expect(image.subdata(in: at.offset..<(at.offset + at.length)) == contents["\(dir)/\(name)"])
            let padding = image.subdata(in: (at.offset + at.length)..<(at.offset + ContentDiskFormat.aligned(at.length)))
            #expect(padding.allSatisfy { $0 == 0 })
        }
        // A source rewritten after packing is not read from the disk.
        try Data(repeating: 1, count: 70_001).write(to: URL(fileURLWithPath: "\(dir)/one"))
        #expect(disk.location(of: "\(dir)/one") == nil)
        disk.remove()
        #expect(!FileManager.default.fileExists(atPath: disk.path))
    }

    @Test func noDiskWithoutFiles() throws {
        let dir = NSTemporaryDirectory() + "fbcdisk-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(StageContentDisk.make(hostFiles: [], directory: dir, name: "vm") == nil)
        #expect(StageContentDisk.make(hostFiles: ["\(dir)/missing", dir], directory: dir, name: "vm") == nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
    }
}
