@testable import Build
import FirebuildCore
import Foundation
import Testing
import VM

/// Which build VMs share a boot template: the key ignores what differs per VM (ids, run
/// directories, disk paths) and changes with anything the saved state depends on.
@Suite struct BootTemplatesTests {
    let dir = "/tmp/fbtpl-\(UInt32.random(in: 0...UInt32.max))"

    func fixture() throws -> (QEMUDriver, VMConfig) {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try AtomicFile.write("kernel", to: dir + "/vmlinux")
        try AtomicFile.write("initrd", to: dir + "/initrd.img")
        let driver = QEMUDriver(binary: "/bin/sh", accelerator: .tcg)
        let config = VMConfig(id: "fbb-1", kernelPath: dir + "/vmlinux", initrdPath: dir + "/initrd.img",
                              kernelArgs: "quiet root=/dev/vda firebuild.pause", rootDisk: VMDisk(path: "/a/b1/root.qcow2", format: .qcow2),
                              extraDisks: [VMDisk(path: "/a/b1/content", readOnly: true)], runDirectory: "/a/b1/fbb-1")
        return (driver, config)
    }

    @Test func perVMPathsDoNotChangeTheKey() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (driver, a) = try fixture()
        var b = a
        b.id = "fbb-2"; b.runDirectory = "/other/run/fbb-2"; b.consoleLogPath = "/x/console"; b.channelSocketPath = "/x/ch.sock"
        b.rootDisk.path = "/c/d/other.qcow2"; b.extraDisks[0].path = "/c/d/content2"
        let key = try #require(BootTemplates.key(for: a, driver: driver))
        #expect(BootTemplates.key(for: b, driver: driver) == key)
    }

    @Test func whatTheStateDependsOnChangesTheKey() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (driver, a) = try fixture()
        let key = try #require(BootTemplates.key(for: a, driver: driver))
        var changes: [(String, VMConfig)] = []
        var c = a; c.extraDisks = []; changes.append(("one disk fewer", c))
        c = a; c.extraDisks[0].readOnly = false; changes.append(("a writable disk", c))
        c = a; c.memMiB = 1024; changes.append(("memory", c))
        c = a; c.vcpus = 2; changes.append(("vcpus", c))
        c = a; c.kernelArgs += " ro"; changes.append(("kernel arguments", c))
        c = a; c.initrdPath = nil; changes.append(("no initrd", c))
        for (what, config) in changes {
            #expect(BootTemplates.key(for: config, driver: driver) != key, "\(what)")
        }
        #expect(BootTemplates.key(for: a, driver: QEMUDriver(binary: "/bin/sh", accelerator: .kvm)) != key, "accelerator")
        #expect(BootTemplates.key(for: a, driver: QEMUDriver(binary: "/bin/true", accelerator: .tcg)) != key, "another QEMU")
        try AtomicFile.write("another initrd", to: dir + "/initrd.img")
        #expect(BootTemplates.key(for: a, driver: driver) != key, "a rebuilt initrd (another guest init)")
        c = a; c.kernelPath = dir + "/missing"
        #expect(BootTemplates.key(for: c, driver: driver) == nil, "an unreadable kernel: no template")
    }

    /// The first VM of a shape saves (holding the lock), one that finds the lock taken just
    /// boots, later ones restore (only from a whole template: state and RAM); VMs with a network
    /// card never use templates.
    @Test func plans() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (driver, config) = try fixture()
        let templates = BootTemplates(directory: dir + "/templates")
        guard case let .save(files, lock) = templates.plan(for: config, driver: driver) else {
            Issue.record("the first VM saves the template"); return
        }
        guard case .boot = templates.plan(for: config, driver: driver) else {
            Issue.record("while one is saving, others boot"); return
        }
        try FileManager.default.createDirectory(atPath: dir + "/templates", withIntermediateDirectories: true)
        try AtomicFile.write("ram", to: files.ram)
        // What a save killed midway leaves; another shape's files are not touched.
        for leftover in [files.ram + ".tmp-4242", files.state + ".staged-4242", files.state + ".staged-4242.tmp-4242",
                         dir + "/templates/other.ram.tmp-1"] {
            try AtomicFile.write("x", to: leftover)
        }
        lock.unlock()
        guard case .save(_, let again) = templates.plan(for: config, driver: driver) else {
            Issue.record("a RAM file without its state is no template"); return
        }
        again.unlock()
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/templates").sorted()
                    == [(files.state as NSString).lastPathComponent.replacingOccurrences(of: ".state", with: ".lock"), "other.ram.tmp-1"],
                "the saver removes its shape's leftovers")
        try AtomicFile.write("ram", to: files.ram)
        try AtomicFile.write("state", to: files.state)
        guard case .restore(files) = templates.plan(for: config, driver: driver) else {
            Issue.record("a saved shape is restored"); return
        }
        var networked = config
        networked.network = VMNetwork(tapName: "tap0", mac: "52:54:00:00:00:01")
        guard case .boot = templates.plan(for: networked, driver: driver) else {
            Issue.record("a VM with a network card boots"); return
        }
        #expect(templates.list().map(\.path) == [files.state])
        templates.discard(files)
        #expect(!FileManager.default.fileExists(atPath: files.ram) && templates.list().isEmpty)
    }

    @Test func pruneKeepsRecentlyUsedTemplates() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let templates = BootTemplates(directory: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let block = String(repeating: "x", count: 4096)
        for name in ["old.state", "old.ram", "new.state", "new.ram", "orphan.ram", "x.ram.tmp-12", "fresh.ram.tmp-13"] {
            try AtomicFile.write(block, to: dir + "/" + name)
        }
        try AtomicFile.write("z", to: dir + "/a.lock")
        var old = [timeval(tv_sec: time(nil) - 7200, tv_usec: 0), timeval(tv_sec: time(nil) - 7200, tv_usec: 0)]
        for name in ["old.state", "orphan.ram", "x.ram.tmp-12"] { utimes(dir + "/" + name, &old) }
        let one = BootTemplates.allocated(dir + "/old.ram")
        #expect(one >= 4096)
        #expect(templates.prune(olderThan: Date().addingTimeInterval(-3600)) == 4 * one, "old template (2 files), orphan RAM, stale temp")
        let left = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        #expect(left == ["a.lock", "fresh.ram.tmp-13", "new.ram", "new.state"], "a save in progress and locks stay")
        #expect(templates.list().map { ($0.path as NSString).lastPathComponent } == ["new.state"])
        #expect(templates.list().first?.bytes == 2 * one)
        #expect(templates.prune() == 2 * one)
        #expect(templates.list().isEmpty)
    }
}
