import FirebuildCore
import Foundation
import Testing
@testable import VM

/// The initrd a VM boots with: the kernel's initrd (inflated when gzip'd) plus the init segment.
@Suite struct BootFilesTests {
    func tempDir() throws -> String {
        let d = NSTemporaryDirectory() + "fbboot-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    /// Lists the first archive of a newc stream with GNU cpio (it stops at the first trailer).
    func listing(_ data: Data) throws -> String {
        try Command("cpio", ["-itv", "--quiet"], stdin: data).check().stdoutString
    }

    /// Every entry (name, size) of concatenated newc archives, as the kernel walks them: zero
    /// padding between archives skipped.
    func entries(_ data: Data) -> [(String, Int)] {
        let b = [UInt8](data)
        var out: [(String, Int)] = []
        var i = 0
        func hex(_ at: Int) -> Int { Int(String(decoding: b[at..<at + 8], as: UTF8.self), radix: 16) ?? -1 }
        func align(_ n: Int) -> Int { (n + 3) & ~3 }
        while i + 110 <= b.count {
            if b[i] == 0 { i += 1; continue }
            guard String(decoding: b[i..<i + 6], as: UTF8.self) == "070701" else { break }
            let size = hex(i + 54), nameSize = hex(i + 94)
            guard size >= 0, nameSize > 0, i + 110 + nameSize <= b.count else { break }
            let name = String(decoding: b[(i + 110)..<(i + 110 + nameSize - 1)], as: UTF8.self)
            if name != "TRAILER!!!" { out.append((name, size)) }
            i = align(align(i + 110 + nameSize) + size)
        }
        return out
    }

    func baseInitrd() throws -> Data {
        var w = CpioWriter()
        w.directory("lib")
        w.file("init", contents: Data("#!/bin/sh\necho shell\n".utf8), mode: 0o755)
        return try Gzip.compress(w.finish())
    }

    @Test(.enabled(if: Command.which("cpio") != nil && Command.which("gzip") != nil, "needs cpio and gzip"),
          arguments: [(true, "init"), (false, "firebuild-init")])
    func initSegmentNameFollowsTheInitsAbilities(early: Bool, name: String) throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try baseInitrd().write(to: URL(fileURLWithPath: dir + "/initrd.img"))
        let fakeInit = Data("\u{7F}ELF…".utf8) + (early ? BootFiles.earlyBootMarker : Data("no marker".utf8)) + Data(repeating: 7, count: 1001)
        try fakeInit.write(to: URL(fileURLWithPath: dir + "/init"))
        let path = try BootFiles.initrd(kernelInitrd: dir + "/initrd.img", guestInit: dir + "/init", cacheDir: dir + "/cache")
        let combined = try #require(FileManager.default.contents(atPath: path))
        // The gzip'd base was inflated: the whole file is plain cpio now, both archives readable.
        #expect(combined.starts(with: Data("070701".utf8)))
        let list = try listing(combined)
        #expect(list.contains(" init\n"), "\(list)")  // the base's shell /init
        let all = entries(combined)
        #expect(all.map(\.0) == ["lib", "init", name], "\(all)")
        #expect(all.last?.1 == fakeInit.count)
        // Cached by identity: the same path again, without rewriting.
        #expect(try BootFiles.initrd(kernelInitrd: dir + "/initrd.img", guestInit: dir + "/init", cacheDir: dir + "/cache") == path)
    }

    @Test(.enabled(if: Command.which("gzip") != nil, "needs gzip"))
    func onlyACleanGzippedCpioIsInflated() throws {
        var w = CpioWriter()
        w.file("x", contents: Data("x".utf8))
        let cpio = w.finish()
        #expect(BootFiles.inflated(try Gzip.compress(cpio)) == cpio)
        #expect(BootFiles.inflated(cpio) == cpio)  // already plain
        let notCpio = try Gzip.compress(Data("not an archive".utf8))
        #expect(BootFiles.inflated(notCpio) == notCpio)
        // gzip'd cpio followed by another segment: gzip reports trailing garbage, kept as it is.
        var twoSegments = try Gzip.compress(cpio)
        while twoSegments.count % 4 != 0 { twoSegments.append(0) }
        twoSegments.append(cpio)
        #expect(BootFiles.inflated(twoSegments) == twoSegments)
        let zstdMagic = Data([0x28, 0xB5, 0x2F, 0xFD, 1, 2, 3])
        #expect(BootFiles.inflated(zstdMagic) == zstdMagic)
    }

    @Test func theRealInitCarriesTheMarker() throws {
        guard let path = RunEnv.staticInit, let data = FileManager.default.contents(atPath: path) else {
            print("skipping: needs the static guest init (make init)")
            return
        }
        #expect(BootFiles.supportsEarlyBoot(data), "\(path) lacks the early-boot marker: rebuild it with `make init`")
    }
}
