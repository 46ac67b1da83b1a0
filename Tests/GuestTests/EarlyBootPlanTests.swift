import Foundation
import Testing
@testable import Guest

/// The decisions of firebuild-init's early boot (the initramfs /init mode): command line, root
/// device spec, superblock identity, module list, filesystem types, init choice.
@Suite struct EarlyBootPlanTests {
    struct CmdlineCase: Sendable, CustomTestStringConvertible {
        var cmdline: String
        var root: String, fstype: String?, readOnly: Bool, initPath: String?, fbInit: String?
        var testDescription: String { cmdline.isEmpty ? "(empty)" : cmdline }
    }

    @Test(arguments: [
        CmdlineCase(cmdline: "", root: "/dev/vda", fstype: nil, readOnly: false, initPath: nil, fbInit: nil),
        CmdlineCase(cmdline: "console=ttyS0 quiet root=/dev/vda rw firebuild.init=/run/firebuild-init\n",
                    root: "/dev/vda", fstype: nil, readOnly: false, initPath: nil, fbInit: "/run/firebuild-init"),
        CmdlineCase(cmdline: "root=/dev/vdb ro rootfstype=ext4 init=/sbin/init",
                    root: "/dev/vdb", fstype: "ext4", readOnly: true, initPath: "/sbin/init", fbInit: nil),
        // the last of ro/rw wins; later duplicates win
        CmdlineCase(cmdline: "ro rw root=/dev/vda root=LABEL=rootfs", root: "LABEL=rootfs", fstype: nil, readOnly: false, initPath: nil, fbInit: nil),
        CmdlineCase(cmdline: "rw ro root=UUID=0A1B2C3D-0000-4000-8000-00000000000F", root: "UUID=0A1B2C3D-0000-4000-8000-00000000000F",
                    fstype: nil, readOnly: true, initPath: nil, fbInit: nil),
        // quotes group a value; firebuild.init= is not init=; empty values are ignored
        CmdlineCase(cmdline: "x=\"a b\" firebuild.init= init=\"/bin/my init\" rootfstype=", root: "/dev/vda", fstype: nil,
                    readOnly: false, initPath: "/bin/my init", fbInit: nil),
        // after `--` the words belong to init, not to the kernel
        CmdlineCase(cmdline: "root=/dev/vdc -- root=/dev/vdz ro init=/x", root: "/dev/vdc", fstype: nil, readOnly: false, initPath: nil, fbInit: nil),
    ])
    func parsesCmdline(_ c: CmdlineCase) {
        let p = EarlyBootConfig.parse(cmdline: c.cmdline)
        #expect(p.root == c.root)
        #expect(p.rootFSType == c.fstype)
        #expect(p.readOnly == c.readOnly)
        #expect(p.initPath == c.initPath)
        #expect(p.firebuildInit == c.fbInit)
    }

    @Test(arguments: [
        ("/dev/vda", RootSpec.path("/dev/vda")),
        ("/dev/disk/by-label/x", .path("/dev/disk/by-label/x")),
        ("UUID=0A1B2C3D-0000-4000-8000-00000000000F", .uuid("0a1b2c3d-0000-4000-8000-00000000000f")),
        ("LABEL=Root FS", .label("Root FS")),
    ])
    func parsesRootSpec(_ text: String, _ spec: RootSpec) { #expect(RootSpec.parse(text) == spec) }

    @Test(arguments: ["", "vda", "UUID=", "LABEL=", "PARTUUID=1234-01"])
    func rejectsRootSpec(_ text: String) { #expect(RootSpec.parse(text) == nil) }

    @Test func rootSpecMatching() {
        let id = FilesystemIdentity(uuid: "0a1b2c3d-0000-4000-8000-00000000000f", label: "rootfs")
        #expect(RootSpec.uuid("0a1b2c3d-0000-4000-8000-00000000000f").matches(id))
        #expect(!RootSpec.uuid("0a1b2c3d-0000-4000-8000-000000000000").matches(id))
        #expect(RootSpec.label("rootfs").matches(id))
        #expect(!RootSpec.label("Rootfs").matches(id))  // labels are case sensitive, as findfs
        #expect(!RootSpec.path("/dev/vda").matches(id))
    }

    struct InitCase: Sendable {
        var cmdline: String, present: [String], expected: String?
    }

    @Test(arguments: [
        InitCase(cmdline: "firebuild.init=/run/firebuild-init", present: ["/run/firebuild-init", "/sbin/init"], expected: "/run/firebuild-init"),
        InitCase(cmdline: "firebuild.init=/missing init=/bin/sh", present: ["/bin/sh", "/sbin/init"], expected: "/bin/sh"),
        InitCase(cmdline: "init=/missing", present: ["/sbin/firebuild-init", "/sbin/init"], expected: "/sbin/firebuild-init"),
        InitCase(cmdline: "", present: ["/sbin/init"], expected: "/sbin/init"),
        InitCase(cmdline: "init=/bin/app", present: [], expected: nil),
    ])
    func choosesInit(_ c: InitCase) {
        let config = EarlyBootConfig.parse(cmdline: c.cmdline)
        #expect(config.chooseInit(exists: { c.present.contains($0) }) == c.expected)
    }

    @Test func initCandidatesListEveryTry() {
        let c = EarlyBootConfig.parse(cmdline: "firebuild.init=/a init=/b")
        #expect(c.initCandidates == ["/a", "/b", "/sbin/firebuild-init", "/sbin/init"])
        #expect(EarlyBootConfig().initCandidates == ["/sbin/firebuild-init", "/sbin/init"])
    }

    @Test(arguments: [
        ("virtio_ring\nvirtio\nvirtio_blk\n", ["virtio_ring", "virtio", "virtio_blk"]),
        ("", [String]()),
        ("\n# comment\n  ext4 \r\n\nvsock\tvirtio_rng", ["ext4", "vsock", "virtio_rng"]),
        ("../etc/evil\nok\n.hidden\nsub/dir", ["ok"]),
    ])
    func parsesModuleList(_ text: String, _ names: [String]) { #expect(EarlyBootFiles.moduleList(text) == names) }

    static let procFilesystems = "nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\n\text3\n\text2\nnodev\tdevtmpfs\n\text4\n\tvfat\n"

    @Test(arguments: [
        (String?.none, procFilesystems, ["ext4", "ext3", "ext2", "vfat"]),
        ("xfs", procFilesystems, ["xfs"]),
        (nil, "", ["ext4"]),  // /proc unreadable: still try ext4
        (nil, "nodev\tproc\n\tbtrfs\n", ["ext4", "btrfs"]),
    ])
    func filesystemCandidates(_ requested: String?, _ proc: String, _ expected: [String]) {
        #expect(EarlyBootFiles.filesystemCandidates(requested: requested, procFilesystems: proc) == expected)
    }

    @Test func formatsUUIDs() {
        #expect(FilesystemIdentity.formatUUID(Array(0..<16)) == "00010203-0405-0607-0809-0a0b0c0d0e0f")
        #expect(FilesystemIdentity.formatUUID([UInt8](repeating: 0xAB, count: 16)) == "abababab-abab-abab-abab-abababababab")
    }

    /// Real superblocks from mkfs: what findfs would report for UUID= and LABEL=.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/sbin/mkfs.ext4"), "needs mkfs.ext4 (e2fsprogs)"),
          arguments: [("ext4", "rootfs"), ("ext2", "a-sixteen-chars!"), ("ext3", "")])
    func readsExtSuperblock(_ type: String, _ label: String) throws {
        let path = NSTemporaryDirectory() + "fbsb-\(UUID().uuidString).img"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let uuid = "0a1b2c3d-4e5f-4061-8273-8495a6b7c8d9"
        #expect(FileManager.default.createFile(atPath: path, contents: nil))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/sbin/mkfs.\(type)")
        p.arguments = ["-q", "-F", "-U", uuid] + (label.isEmpty ? [] : ["-L", label]) + [path, "4M"]
        try p.run()
        p.waitUntilExit()
        try #require(p.terminationStatus == 0)
        let head = try #require(FileHandle(forReadingAtPath: path)).readData(ofLength: FilesystemIdentity.probeSize)
        let id = try #require(FilesystemIdentity.ext(Array(head)))
        #expect(id == FilesystemIdentity(uuid: uuid, label: label))
        #expect(RootSpec.parse("UUID=\(uuid.uppercased())")?.matches(id) == true)
    }

    @Test func nonExtIsNotIdentified() {
        #expect(FilesystemIdentity.ext([UInt8](repeating: 0, count: 2048)) == nil)
        #expect(FilesystemIdentity.ext([UInt8](repeating: 0, count: 100)) == nil)  // short read
    }
}
