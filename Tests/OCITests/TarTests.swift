import FirebuildCore
import Foundation
import Testing
@testable import OCI

@Suite struct TarTests {
    @Test func roundTripWithPAX() throws {
        let longName = "dir/" + String(repeating: "n", count: 180) + "/file.txt"
        let data = try makeTar { w in
            try w.directory("dir")
            try w.add(TarEntry(name: longName, kind: .file, mode: 0o4755, uid: 3_000_000, gid: 7, mtime: 1_700_000_000.5,
                               xattrs: ["user.note": Array("hi\0there".utf8), "security.capability": netRawCapability]),
                      data: Data("content".utf8))
            try w.symlink("dir/link", to: String(repeating: "t", count: 150))
            try w.hardLink("dir/hard", to: longName)
            try w.add(TarEntry(name: "dev/null", kind: .characterDevice, mode: 0o666, devMajor: 1, devMinor: 3))
        }
        let r = TarReader(DataSource(data), what: "test")
        let d = try #require(try r.next())
        #expect(d.kind == .directory && d.name == "dir/")
        let f = try #require(try r.next())
        #expect(f.name == longName)
        #expect(f.mode == 0o4755 && f.uid == 3_000_000 && f.gid == 7 && f.size == 7)
        #expect(f.mtime == 1_700_000_000.5)
        #expect(f.xattrs["user.note"] == Array("hi\0there".utf8))
        #expect(f.xattrs["security.capability"] == netRawCapability)
        #expect(String(decoding: try r.readAll(), as: UTF8.self) == "content")
        let l = try #require(try r.next())
        #expect(l.kind == .symlink && l.linkName.count == 150)
        let h = try #require(try r.next())
        #expect(h.kind == .hardLink && h.linkName == longName)
        let c = try #require(try r.next())
        #expect(c.kind == .characterDevice && c.devMajor == 1 && c.devMinor == 3)
        #expect(try r.next() == nil)
    }

    /// GNU tar's own output: long names via ././@LongLink, and PAX xattrs with --format=posix.
    @Test(.enabled(if: tool("tar"))) func readsGNUTarOutput() throws {
        let tmp = try TempDir("tar")
        defer { tmp.cleanup() }
        let src = try tmp.sub("src")
        let deep = src + "/" + String(repeating: "d", count: 120)
        try FileManager.default.createDirectory(atPath: deep, withIntermediateDirectories: true)
        try writeFile(deep + "/" + String(repeating: "f", count: 110), Data("x".utf8))
        symlink(String(repeating: "../", count: 40) + "target", src + "/longlink")
        for format in ["gnu", "posix"] {
            let tarPath = tmp.path + "/\(format).tar"
            try Command("tar", ["--format=\(format)", "-C", src, "-cf", tarPath, "."]).check()
            let r = TarReader(try FileSource(path: tarPath), what: tarPath)
            var names: [String: TarEntry] = [:]
            while let e = try r.next() { names[e.name] = e }
            let file = "./" + String(repeating: "d", count: 120) + "/" + String(repeating: "f", count: 110)
            #expect(names[file]?.size == 1, "format \(format)")
            #expect(names["./longlink"]?.linkName == String(repeating: "../", count: 40) + "target", "format \(format)")
        }
    }

    @Test func rejectsGarbage() throws {
        var junk = Data(repeating: 0x41, count: 1024)
        #expect(throws: FirebuildError.self) { _ = try TarReader(DataSource(junk), what: "junk").next() }
        junk = try makeTar { try $0.file("a", String(repeating: "z", count: 2000)) }
        let truncated = junk.prefix(700)
        let r = TarReader(DataSource(Data(truncated)), what: "truncated")
        _ = try r.next()
        #expect(throws: FirebuildError.self) { _ = try r.readAll() }
    }

    @Test(.enabled(if: tool("gzip") && tool("zstd"))) func decompressesStreams() throws {
        let tmp = try TempDir("z")
        defer { tmp.cleanup() }
        var payload = Data()
        for i in 0..<200_000 { payload.append(UInt8(truncatingIfNeeded: i * 7 + i / 13)) }
        try writeFile(tmp.path + "/p", payload)
        try Command("gzip", ["-k", tmp.path + "/p"]).check()
        try Command("zstd", ["-q", "-k", tmp.path + "/p"]).check()
        // A second gzip member appended: gzip(1) reads both.
        try writeFile(tmp.path + "/q", Data("tail".utf8))
        try Command("gzip", ["-k", tmp.path + "/q"]).check()
        var multi = try #require(FileManager.default.contents(atPath: tmp.path + "/p.gz"))
        multi.append(try #require(FileManager.default.contents(atPath: tmp.path + "/q.gz")))
        try writeFile(tmp.path + "/multi.gz", multi)

        func inflate(_ path: String) throws -> (Data, Compression) {
            let (s, kind) = try Compression.wrap(try FileSource(path: path), what: path)
            var out = Data()
            var buf = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = try buf.withUnsafeMutableBytes { try s.read(into: $0) }
                if n == 0 { break }
                out.append(contentsOf: buf[..<n])
            }
            return (out, kind)
        }
        #expect(try inflate(tmp.path + "/p.gz") == (payload, .gzip))
        #expect(try inflate(tmp.path + "/p.zst") == (payload, .zstd))
        #expect(try inflate(tmp.path + "/p") == (payload, .none))
        #expect(try inflate(tmp.path + "/multi.gz").0 == payload + Data("tail".utf8))
        // Truncated and corrupt input are errors, never silent short data.
        let gz = try #require(FileManager.default.contents(atPath: tmp.path + "/p.gz"))
        try writeFile(tmp.path + "/cut.gz", gz.prefix(gz.count / 2))
        #expect(throws: FirebuildError.self) { _ = try inflate(tmp.path + "/cut.gz") }
        let zs = try #require(FileManager.default.contents(atPath: tmp.path + "/p.zst"))
        try writeFile(tmp.path + "/cut.zst", zs.prefix(zs.count / 2))
        #expect(throws: FirebuildError.self) { _ = try inflate(tmp.path + "/cut.zst") }
    }
}

@Suite struct ContentStoreTests {
    @Test func ingestVerifyPrune() throws {
        let tmp = try TempDir("cs")
        defer { tmp.cleanup() }
        let store = try ContentStore(root: tmp.path + "/content")
        let a = try store.write(Data("a".utf8))
        #expect(a == ContentDigest.sha256("a"))
        #expect(store.path(for: a) == tmp.path + "/content/sha256/\(a.hex)")
        #expect(try store.read(a) == Data("a".utf8))
        // Same content twice is one blob.
        #expect(try store.write(Data("a".utf8)) == a)
        // A mismatch stores nothing and leaves no temp file behind.
        #expect(throws: FirebuildError.self) { try store.write(Data("b".utf8), expected: a.hex == String(repeating: "0", count: 64) ? a : ContentDigest(hex: String(repeating: "0", count: 64))) }
        #expect(!store.contains(ContentDigest.sha256("b")))
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp.path + "/content/ingest").isEmpty)
        try writeFile(tmp.path + "/f", Data("file".utf8))
        let f = try store.ingest(fileAt: tmp.path + "/f", expected: ContentDigest.sha256("file"))
        #expect(try store.list() == [a, f].sorted())
        let removed = try store.prune(keeping: [f])
        #expect(removed == [a])
        #expect(try store.list() == [f])
    }
}
