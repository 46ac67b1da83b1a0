@testable import Build
import FirebuildCore
import Foundation
import Testing

/// Mount stubs on a real ext4 image (mkfs.ext4 -d): only what the base lacked and is still
/// empty is removed, files before the directories holding them.
@Suite(.enabled(if: Command.which("mkfs.ext4") != nil && Command.which("debugfs") != nil, "needs e2fsprogs (mkfs.ext4, debugfs)"))
struct MountStubsTests {
    func image(_ build: (String) throws -> Void) throws -> (dir: String, image: String) {
        let dir = "/tmp/fbstubs-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir + "/tree", withIntermediateDirectories: true)
        try build(dir + "/tree")
        try Command("mkfs.ext4", ["-q", "-F", "-d", dir + "/tree", dir + "/fs.img", "16M"]).check()
        return (dir, dir + "/fs.img")
    }

    @Test func absentListsWhatTheBaseLacks() throws {
        let (dir, img) = try image { t in
            try FileManager.default.createDirectory(atPath: t + "/etc", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: t + "/proc", withIntermediateDirectories: true)
            try AtomicFile.write("h\n", to: t + "/etc/hostname")
        }
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try MountStubs.absent(in: img) == ["/etc/hosts", "/etc/resolv.conf", "/sys", "/dev", "/run"])
        #expect(try MountStubs.absent(in: nil) == MountStubs.paths)
    }

    @Test func removesOnlyEmptyStubs() throws {
        let (dir, img) = try image { t in
            for d in ["etc", "proc", "run/keep"] { try FileManager.default.createDirectory(atPath: t + "/" + d, withIntermediateDirectories: true) }
            try AtomicFile.write("", to: t + "/etc/hosts")          // empty stub: goes
            try AtomicFile.write("1.1.1.1\n", to: t + "/etc/hostname")  // a step wrote it: stays
        }
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try MountStubs.remove(MountStubs.paths, from: img)
        let root = try MountStubs.names(in: "/", image: img)
        #expect(try MountStubs.names(in: "/etc", image: img) == ["hostname"])
        #expect(!root.contains("proc"), "an empty stub directory goes")
        #expect(root.contains("run") && root.contains("etc"), "non-empty directories stay: \(root)")
    }

    @Test func etcLeftEmptyByItsStubsGoesToo() throws {
        let (dir, img) = try image { t in
            try FileManager.default.createDirectory(atPath: t + "/etc", withIntermediateDirectories: true)
            for f in ["hosts", "hostname", "resolv.conf"] { try AtomicFile.write("", to: t + "/etc/" + f) }
            try AtomicFile.write("x", to: t + "/data")
        }
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try MountStubs.remove(MountStubs.paths, from: img)
        #expect(try MountStubs.names(in: "/", image: img).subtracting(["lost+found"]) == ["data"])
    }
}
