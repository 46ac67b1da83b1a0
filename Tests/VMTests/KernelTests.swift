import FirebuildCore
import Foundation
import Store
import Testing
@testable import VM

/// lzma -9 as Linux uses it: its 64 MiB dictionary gives the `5d 00 00 00` magic extract-vmlinux looks for.
/// A fake bzImage: a setup header (HdrS, setup_sects, version string) then junk, a false
/// gzip magic, and the real compressed payload.
func fakeBzImage(payload: Data, version: String = "6.9.9-fb-test") -> Data {
    var d = Data(count: 2 * 512)
    d[0x1F1] = 1  // one setup sector: the kernel starts at 1024
    d.replaceSubrange(0x202..<0x206, with: Array("HdrS".utf8))
    d[0x206] = 0x0F; d[0x207] = 0x02
    d[0x20E] = 0x00; d[0x20F] = 0x01  // version at 0x200 + 0x100
    let v = Array("\(version) (fb@test) #1 SMP".utf8) + [0]
    d.replaceSubrange(0x300..<(0x300 + v.count), with: v)
    d.append(contentsOf: [UInt8](repeating: 0x90, count: 300))
    d.append(contentsOf: [0x1F, 0x8B, 0x08, 0x00, 0xFF, 0xFF, 0x13, 0x37])  // a false gzip start
    d.append(contentsOf: [UInt8](repeating: 0xCC, count: 100))
    d.append(payload)
    d.append(contentsOf: [UInt8](repeating: 0xEE, count: 64))  // trailing bytes, as in real images
    return d
}

@Suite struct KernelImageTests {
    static let elf = FileManager.default.contents(atPath: "/bin/busybox") ?? FileManager.default.contents(atPath: "/bin/ls")!

    @Test func elfInspection() throws {
        let info = try #require(ELFImage.inspect(Self.elf))
        #expect(info.is64Bit)
        #expect(info.machine == 62)  // x86-64
        // Truncation and garbage are rejected.
        #expect(ELFImage.inspect(Self.elf.prefix(Self.elf.count / 2)) == nil)
        #expect(ELFImage.inspect(Data("not an elf at all, really not".utf8)) == nil)
        #expect(ELFImage.inspect(Data()) == nil)
    }

    @Test func bzImageHeader() throws {
        let h = try #require(BzImageHeader(fakeBzImage(payload: Data([1, 2, 3]))))
        #expect(h.version == "6.9.9-fb-test")
        #expect(h.setupEnd == 1024)
        #expect(h.protocolVersion == 0x020F)
        #expect(BzImageHeader(Self.elf) == nil)
    }

    @Test(arguments: [("gzip", ["-c"]), ("xz", ["-c", "--check=crc32"]), ("lz4", ["-c", "-l"]), ("zstd", ["-c", "-q"]),
                      ("bzip2", ["-c"]), ("lzma", ["-c", "-9"])])
    func extractsEveryFormat(tool: String, args: [String]) throws {
        guard Command.which(tool) != nil else {
            print("skip: \(tool) not installed")
            return
        }
        let compressed = try Command(tool, args, stdin: Self.elf).check().stdout
        let image = fakeBzImage(payload: compressed)
        let (elf, format, _) = try VmlinuxExtractor.extract(bzImage: image)
        #expect(format == tool)
        #expect(elf == Self.elf)
    }

    @Test func truncatedPayloadIsRejected() throws {
        let compressed = try Command("gzip", ["-c"], stdin: Self.elf).check().stdout
        let image = fakeBzImage(payload: compressed.prefix(compressed.count / 3))
        #expect(throws: FirebuildError.self) { try VmlinuxExtractor.extract(bzImage: image) }
        #expect(throws: FirebuildError.self) { try VmlinuxExtractor.extract(bzImage: fakeBzImage(payload: Data())) }
    }

    @Test func bannerVersion() {
        var d = Data("xxLinux version %s yyLinux version 6.1.0-57-cloud-amd64 (debian) #1".utf8)
        d.append(0)
        #expect(kernelVersionFromBanner(d) == "6.1.0-57-cloud-amd64")
    }
}

@Suite struct KernelStoreTests {
    @Test(arguments: ["debian-6.1", "v5.8", "a", "A_b.c-1"])
    func validIDs(id: String) throws {
        try KernelStore.validate(id: id)
    }

    @Test(arguments: ["", ".hidden", "-x", "a/b", "../up", "sp ace", String(repeating: "k", count: 65)])
    func invalidIDs(id: String) {
        #expect(throws: FirebuildError.self) { try KernelStore.validate(id: id) }
    }

    @Test func importListGetRemove() throws {
        let root = Fixtures.tempDir("ks")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = KernelStore(root: root)
        let importer = KernelImporter(store: store)
        let compressed = try Command("gzip", ["-c"], stdin: KernelImageTests.elf).check().stdout
        let bz = root + "/bzImage-test"
        try fakeBzImage(payload: compressed).write(to: URL(fileURLWithPath: bz))
        let initrd = root + "/initrd-test"
        try Data("initrd".utf8).write(to: URL(fileURLWithPath: initrd))

        let k = try importer.import(id: "test-k", path: bz, initrd: initrd)
        #expect(k.record.version == "6.9.9-fb-test")
        #expect(k.record.vmlinuxSize == Int64(KernelImageTests.elf.count))
        #expect(k.record.vmlinuxDigest == ContentDigest.sha256(KernelImageTests.elf))
        #expect(FileManager.default.contents(atPath: k.vmlinuxPath) == KernelImageTests.elf)
        #expect(k.bzImagePath != nil && k.initrdPath != nil)
        #expect(k.record.initrdSource == "imported:\(initrd)")

        // An ELF given directly is stored as is, without a bzImage.
        let e = try importer.import(id: "elf-k", path: "/bin/busybox")
        #expect(e.bzImagePath == nil && e.initrdPath == nil)

        #expect(try store.list().map(\.record.id) == ["elf-k", "test-k"])
        #expect(try store.get("test-k") == k)
        #expect(throws: FirebuildError.self) { try importer.import(id: "test-k", path: bz) }
        try importer.import(id: "test-k", path: "/bin/busybox", replace: true)
        #expect(try store.get("test-k").bzImagePath == nil)
        try store.remove("test-k")
        #expect(throws: FirebuildError.self) { try store.get("test-k") }
        #expect(throws: FirebuildError.self) { try store.remove("test-k") }
        // Nothing staged is left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: root).filter { $0.hasPrefix(".tmp") || $0.hasPrefix(".rm") }.isEmpty)
        #expect(throws: FirebuildError.self) { try importer.import(id: "bad", path: initrd) }
        #expect(throws: FirebuildError.self) { try importer.import(id: "missing", path: root + "/nope") }
    }

    @Test(.enabled(if: Fixtures.cloudKernel != nil && Command.which("lz4") != nil, "needs linux-image-cloud-amd64 and lz4"))
    func importsTheDebianCloudKernel() throws {
        let (_, kernel) = try Fixtures.bootKernel()
        let path = try #require(Fixtures.cloudKernel)
        let info = try #require(ELFImage.inspect(path: kernel.vmlinuxPath))
        #expect(info.is64Bit && info.machine == 62)
        #expect(kernel.record.vmlinuxSize > 20 << 20)
        #expect(path.hasSuffix(try #require(kernel.record.version)))
        #expect(kernel.record.initrdSource?.hasPrefix("built:/lib/modules/") == true)
    }
}
