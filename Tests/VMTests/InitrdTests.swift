import FirebuildCore
import Foundation
import Testing
@testable import VM

@Suite struct CpioAndInitrdTests {
    /// Unpacks a gzip'd newc archive with the system's gzip and cpio: an independent reader.
    func unpack(_ archive: Data, into dir: String) throws {
        let cpio = try Command("gzip", ["-dc"], stdin: archive).check().stdout
        try Command("cpio", ["-idm", "--quiet", "--no-absolute-filenames"], workingDirectory: dir, stdin: cpio).check()
    }

    @Test func cpioNewcIsReadableByGNUcpio() throws {
        let dir = Fixtures.tempDir("cpio")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var w = CpioWriter()
        w.directory("etc")
        w.file("etc/hello", contents: Data("hi there\n".utf8))
        w.file("odd", contents: Data([1, 2, 3, 4, 5]), mode: 0o700)  // forces padding
        w.symlink("link", target: "etc/hello")
        let archive = w.finish()
        #expect(archive.count % 4 == 0)
        #expect(archive.prefix(6) == Data("070701".utf8))
        try unpack(try Gzip.compress(archive), into: dir)
        #expect(FileManager.default.contents(atPath: dir + "/etc/hello") == Data("hi there\n".utf8))
        #expect(FileManager.default.contents(atPath: dir + "/odd") == Data([1, 2, 3, 4, 5]))
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: dir + "/link") == "etc/hello")
        let attrs = try FileManager.default.attributesOfItem(atPath: dir + "/odd")
        #expect((attrs[.posixPermissions] as? Int) == 0o700)
    }

    @Test func gzipRoundTripsLargeInput() throws {
        let input = Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 * 7 / 5) })
        let gz = try Gzip.compress(input)
        #expect(gz.prefix(2) == Data([0x1F, 0x8B]))
        #expect(try Command("gzip", ["-dc"], stdin: gz).check().stdout == input)
    }

    /// A fake /lib/modules/<v> with plain, xz and zstd modules and a dependency chain.
    func fakeModules(_ dir: String) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir + "/kernel/drivers", withIntermediateDirectories: true)
        func mod(_ name: String, _ ext: String) throws {
            let path = dir + "/kernel/drivers/\(name).ko"
            try Data("MOD-\(name)".utf8).write(to: URL(fileURLWithPath: path))
            if ext == ".xz" { try Command("xz", ["-f", path]).check() }
            if ext == ".zst" { try Command("zstd", ["-q", "--rm", "-f", path]).check() }
        }
        try mod("virtio_ring", ""); try mod("virtio", ""); try mod("virtio_mmio", ".xz"); try mod("virtio_blk", ".zst")
        try mod("failover", ""); try mod("net_failover", ""); try mod("virtio_net", "")
        try """
        kernel/drivers/virtio_ring.ko:
        kernel/drivers/virtio.ko:
        kernel/drivers/virtio_mmio.ko.xz: kernel/drivers/virtio.ko kernel/drivers/virtio_ring.ko
        kernel/drivers/virtio_blk.ko.zst: kernel/drivers/virtio.ko kernel/drivers/virtio_ring.ko
        kernel/drivers/virtio_net.ko: kernel/drivers/net_failover.ko kernel/drivers/failover.ko kernel/drivers/virtio.ko kernel/drivers/virtio_ring.ko
        kernel/drivers/net_failover.ko: kernel/drivers/failover.ko
        kernel/drivers/failover.ko:
        kernel/drivers/unrelated.ko:

        """.write(toFile: dir + "/modules.dep", atomically: true, encoding: .utf8)
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/bin/busybox") && Command.which("cpio") != nil
                   && Command.which("zstd") != nil && Command.which("xz") != nil, "needs busybox-static, cpio, xz, zstd"))
    func initrdFromFakeModules() throws {
        let dir = Fixtures.tempDir("initrd")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try fakeModules(dir + "/mods")
        let builder = InitrdBuilder(modulesDirectory: dir + "/mods")
        let order = try builder.resolveModules().map(\.name)
        // Dependencies before dependents; absent wanted modules (console, vsock, ext4) skipped.
        #expect(order == ["virtio_ring", "virtio", "virtio_mmio", "virtio_blk", "failover", "net_failover", "virtio_net"])
        let (archive, _) = try builder.build()
        let out = dir + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try unpack(archive, into: out)
        #expect(FileManager.default.contents(atPath: out + "/lib/modules/virtio_mmio.ko") == Data("MOD-virtio_mmio".utf8))
        #expect(FileManager.default.contents(atPath: out + "/lib/modules/virtio_blk.ko") == Data("MOD-virtio_blk".utf8))
        #expect(try String(contentsOfFile: out + "/lib/modules/load-order", encoding: .utf8) == order.joined(separator: "\n") + "\n")
        #expect(FileManager.default.isExecutableFile(atPath: out + "/init"))
        #expect(FileManager.default.isExecutableFile(atPath: out + "/bin/busybox"))
        let script = try String(contentsOfFile: out + "/init", encoding: .utf8)
        #expect(script.contains("mount --move /$d /newroot/$d"))
        #expect(script.contains("switch_root /newroot"))
        // The init script is valid shell.
        try Command("sh", ["-n", out + "/init"]).check()
    }

    @Test func missingModulesDirectoryExplainsTheFix() {
        let builder = InitrdBuilder(modulesDirectory: "/nonexistent/modules")
        #expect(throws: FirebuildError.self) { try builder.resolveModules() }
    }

    @Test func dynamicBusyboxIsRejected() throws {
        let dir = Fixtures.tempDir("dyn")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try fakeModules(dir)
        let builder = InitrdBuilder(modulesDirectory: dir, busyboxPath: "/bin/ls")  // dynamically linked
        #expect(throws: FirebuildError.self) { try builder.build() }
    }
}
