import FirebuildCore
import Foundation
import Testing
@testable import OCI

@Suite struct LayerApplierTests {
    static let isRoot = geteuid() == 0

    @Test func appliesEveryEntryKindWithMetadata() throws {
        let tmp = try TempDir("apply")
        defer { tmp.cleanup() }
        let root = try tmp.sub("root")
        let layer = try makeTar { w in
            try w.add(TarEntry(name: "./", kind: .directory, mode: 0o755))
            try w.add(TarEntry(name: "./etc/", kind: .directory, mode: 0o755, mtime: 1_000_000))
            try w.add(TarEntry(name: "./etc/passwd", kind: .file, mode: 0o644, uid: 0, gid: 0, mtime: 1_234_567), data: Data("root:x:0:0\n".utf8))
            try w.add(TarEntry(name: "./bin/su", kind: .file, mode: 0o4755, uid: 0, gid: 0), data: Data("su".utf8))
            try w.add(TarEntry(name: "./usr/bin/wall", kind: .file, mode: 0o2755, uid: 0, gid: 5), data: Data("w".utf8))
            try w.add(TarEntry(name: "./tmp/", kind: .directory, mode: 0o1777))
            try w.add(TarEntry(name: "./home/user/", kind: .directory, mode: 0o700, uid: 1000, gid: 1000))
            try w.add(TarEntry(name: "./home/user/f", kind: .file, mode: 0o600, uid: 1000, gid: 1000, mtime: 42), data: Data("u".utf8))
            try w.add(TarEntry(name: "./bin/ping", kind: .file, mode: 0o755, xattrs: ["security.capability": netRawCapability]), data: Data("p".utf8))
            try w.add(TarEntry(name: "./bin/noted", kind: .file, mode: 0o755, xattrs: ["user.comment": Array("hello".utf8)]), data: Data("n".utf8))
            try w.symlink("./bin/sh", to: "busybox")
            try w.symlink("./abs", to: "/etc/passwd")
            try w.hardLink("./bin/su-hard", to: "./bin/su")
            try w.add(TarEntry(name: "./dev/null", kind: .characterDevice, mode: 0o666, devMajor: 1, devMinor: 3))
            try w.add(TarEntry(name: "./dev/loop0", kind: .blockDevice, mode: 0o660, gid: 6, devMajor: 7, devMinor: 0))
            try w.add(TarEntry(name: "./run/fifo", kind: .fifo, mode: 0o640))
        }
        try applyLayers([layer], to: root)
        #expect(readString(root + "/etc/passwd") == "root:x:0:0\n")
        let passwd = try #require(lstatOrNil(root + "/etc/passwd"))
        #expect(passwd.st_mtim.tv_sec == 1_234_567)
        #expect(try #require(lstatOrNil(root + "/etc")).st_mtim.tv_sec == 1_000_000)
        #expect(try #require(lstatOrNil(root + "/bin/su")).st_mode & 0o7777 == 0o4755)
        #expect(try #require(lstatOrNil(root + "/usr/bin/wall")).st_mode & 0o7777 == 0o2755)
        #expect(try #require(lstatOrNil(root + "/tmp")).st_mode & 0o7777 == 0o1777)
        let su = try #require(lstatOrNil(root + "/bin/su")), hard = try #require(lstatOrNil(root + "/bin/su-hard"))
        #expect(su.st_ino == hard.st_ino && su.st_nlink == 2)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: root + "/bin/sh") == "busybox")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: root + "/abs") == "/etc/passwd")
        #expect(try #require(lstatOrNil(root + "/run/fifo")).st_mode & S_IFMT == S_IFIFO)
        #expect(try #require(lstatOrNil(root + "/run/fifo")).st_mode & 0o777 == 0o640)
        #expect(Xattr.get(root + "/bin/noted", "user.comment") == Array("hello".utf8))
        if Self.isRoot {
            let home = try #require(lstatOrNil(root + "/home/user/f"))
            #expect(home.st_uid == 1000 && home.st_gid == 1000 && home.st_mtim.tv_sec == 42)
            #expect(try #require(lstatOrNil(root + "/usr/bin/wall")).st_gid == 5)
            // The capability survives the chown that precedes it.
            #expect(Xattr.get(root + "/bin/ping", "security.capability") == netRawCapability)
            let null = try #require(lstatOrNil(root + "/dev/null"))
            #expect(null.st_mode & S_IFMT == S_IFCHR && null.st_rdev == makeDevice(1, 3))
            #expect(try #require(lstatOrNil(root + "/dev/loop0")).st_mode & S_IFMT == S_IFBLK)
        }
    }

    @Test func laterLayersReplaceEarlierOnes() throws {
        let tmp = try TempDir("replace")
        defer { tmp.cleanup() }
        let root = try tmp.sub("root")
        let lower = try makeTar { w in
            try w.directory("d", mode: 0o700)
            try w.file("d/keep", "1")
            try w.file("x", "file")
            try w.directory("y")
            try w.file("y/inner", "i")
            try w.symlink("s", to: "x")
        }
        let upper = try makeTar { w in
            try w.directory("d", mode: 0o755)          // dir over dir: content kept, mode replaced
            try w.symlink("x", to: "d")                 // symlink over file
            try w.file("y", "now a file")               // file over directory
            try w.file("s", "was a symlink")            // file over symlink: written in place, never through it
        }
        try applyLayers([lower, upper], to: root)
        #expect(readString(root + "/d/keep") == "1")
        #expect(try #require(lstatOrNil(root + "/d")).st_mode & 0o777 == 0o755)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: root + "/x") == "d")
        #expect(readString(root + "/y") == "now a file")
        #expect(try #require(lstatOrNil(root + "/s")).st_mode & S_IFMT == S_IFREG)
    }

    @Test func whiteoutsAndOpaqueDirectories() throws {
        let tmp = try TempDir("wh")
        defer { tmp.cleanup() }
        let root = try tmp.sub("root")
        let lower = try makeTar { w in
            try w.file("etc/a", "a")
            try w.file("etc/b", "b")
            try w.directory("etc/sub")
            try w.file("etc/sub/c", "c")
            try w.file("opq/old1", "o")
            try w.directory("opq/olddir")
            try w.file("opq/olddir/deep", "d")
            try w.directory("opq/kept")
            try w.file("opq/kept/lower", "l")
            try w.file("spec/a/b/c/lowerfile", "l")
        }
        let upper = try makeTar { w in
            try w.file("etc/.wh.a", "")
            try w.file("etc/.wh.sub", "")
            try w.file("etc/.wh.missing", "")                 // nothing to delete: fine
            try w.file("opq/new", "n")                         // same layer, before the marker
            try w.directory("opq/kept")
            try w.file("opq/kept/upper", "u")
            try w.file("opq/.wh..wh..opq", "")                 // marker last: still applied first
            try w.file("new/file", "f")
            try w.file("new/.wh.file", "")                     // whiteout of same-layer file: ignored
            // image-spec layer.md example: a/ a/b/ a/b/c/ a/b/c/foo a/.wh..wh..opq
            try w.directory("spec/a")
            try w.directory("spec/a/b")
            try w.directory("spec/a/b/c")
            try w.file("spec/a/b/c/foo", "foo")
            try w.file("spec/a/.wh..wh..opq", "")
        }
        try applyLayers([lower, upper], to: root)
        #expect(!exists(root + "/etc/a"))
        #expect(readString(root + "/etc/b") == "b")
        #expect(!exists(root + "/etc/sub"))
        #expect(!exists(root + "/etc/.wh.a"))
        #expect(!exists(root + "/etc/.wh.missing"))
        #expect(!exists(root + "/opq/old1"))
        #expect(!exists(root + "/opq/olddir"))
        #expect(readString(root + "/opq/new") == "n")
        #expect(readString(root + "/opq/kept/upper") == "u")
        #expect(!exists(root + "/opq/kept/lower"))
        #expect(!exists(root + "/opq/.wh..wh..opq"))
        #expect(readString(root + "/new/file") == "f")
        #expect(readString(root + "/spec/a/b/c/foo") == "foo")
        #expect(!exists(root + "/spec/a/b/c/lowerfile"))

        // A third layer whites out what the second added.
        let third = try makeTar { w in try w.file("new/.wh.file", "") }
        try applyLayers([third], to: root)
        #expect(!exists(root + "/new/file"))
    }

    /// Within one layer, directories get replaced while the applier holds them open (its
    /// directory cache): members after the replacement must go where the path leads now.
    @Test func replacementsWithinOneLayer() throws {
        let tmp = try TempDir("same-layer")
        defer { tmp.cleanup() }
        let root = try tmp.sub("root")
        let layer = try makeTar { w in
            try w.directory("a/sub")
            try w.file("a/sub/x", "x")
            try w.directory("b")
            try w.symlink("a", to: "b")               // the directory a (held open) becomes a symlink
            try w.file("a/y", "through the symlink")  // so this lands in b
            try w.directory("c/d", mode: 0o700)
            try w.file("c", "now a file")             // the directory c and its child d go
            try w.directory("e")
            try w.file("e/1", "one")
            try w.directory("e")                       // dir over dir in the same layer: content kept
            try w.file("e/2", "two")
        }
        try applyLayers([layer], to: root)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: root + "/a") == "b")
        #expect(readString(root + "/b/y") == "through the symlink")
        #expect(!exists(root + "/b/sub"))
        #expect(readString(root + "/c") == "now a file")
        #expect(readString(root + "/e/1") == "one" && readString(root + "/e/2") == "two")
    }

    /// Many directories: more than the applier keeps open at once, visited out of order.
    @Test func manyDirectoriesOutOfOrder() throws {
        let tmp = try TempDir("many-dirs")
        defer { tmp.cleanup() }
        let root = try tmp.sub("root")
        let layer = try makeTar { w in
            for i in 0..<600 { try w.add(TarEntry(name: "d\(i % 300)/s\(i)/f", kind: .file, mtime: Double(i)), data: Data("\(i)".utf8)) }
            for i in 0..<300 { try w.add(TarEntry(name: "d\(i)/", kind: .directory, mode: 0o750, mtime: 1_000 + Double(i))) }
        }
        try applyLayers([layer], to: root)
        for i in [0, 299, 300, 599] { #expect(readString(root + "/d\(i % 300)/s\(i)/f") == "\(i)") }
        let d7 = try #require(lstatOrNil(root + "/d7"))
        #expect(d7.st_mode & 0o777 == 0o750 && d7.st_mtim.tv_sec == 1_007)
    }

    @Test func diffIDIsVerified() throws {
        let tmp = try TempDir("diffid")
        defer { tmp.cleanup() }
        let root = try tmp.sub("root")
        let layer = try makeTar { try $0.file("f", "x") }
        try writeFile(tmp.path + "/layer.tar", layer)
        let applier = try LayerApplier(root: root)
        #expect(try applier.apply(layerAt: tmp.path + "/layer.tar", expectedDiffID: ContentDigest.sha256(layer)) == ContentDigest.sha256(layer))
        #expect(throws: FirebuildError.self) {
            try applier.apply(layerAt: tmp.path + "/layer.tar", expectedDiffID: ContentDigest.sha256("other"))
        }
    }
}
