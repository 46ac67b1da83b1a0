import FirebuildCore
import Foundation
import Testing
@testable import OCI

/// Layers written to escape the root. Each must be refused, or applied with everything
/// contained: a canary directory beside the root (the "host") must stay untouched.
@Suite struct HostileLayerTests {
    enum Outcome { case refused, contained }

    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let expect: Outcome
        let layers: @Sendable () throws -> [Data]
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "dot-dot file", expect: .refused) { [try makeTar { try $0.file("../host/evil", "x") }] },
        Case(name: "dot-dot inside path", expect: .refused) { [try makeTar { try $0.file("a/../../host/evil", "x") }] },
        Case(name: "absolute name", expect: .contained) { [try makeTar { try $0.file("/HOSTPATH/evil", "x") }] },
        Case(name: "symlink dir to host, then write through it", expect: .contained) {
            [try makeTar { w in
                try w.symlink("escape", to: "HOSTPATH")
                try w.file("escape/evil", "x")
            }]
        },
        Case(name: "relative symlink climbing out, then write through it", expect: .contained) {
            [try makeTar { w in
                try w.symlink("up", to: "../../../../../../../../HOSTPATH")
                try w.file("up/evil", "x")
            }]
        },
        Case(name: "symlink chain across layers", expect: .contained) {
            [try makeTar { w in try w.symlink("a", to: "b"); try w.symlink("b", to: "/HOSTPATH") },
             try makeTar { w in try w.file("a/evil", "x") }]
        },
        Case(name: "file replacing a symlink to a host file", expect: .contained) {
            [try makeTar { w in try w.symlink("victim", to: "/HOSTPATH/canary") },
             try makeTar { w in try w.file("victim", "overwritten") }]
        },
        Case(name: "hard link to a host path (absolute)", expect: .refused) {
            [try makeTar { w in try w.hardLink("stolen", to: "/HOSTPATH/canary") }]
        },
        Case(name: "hard link with dot-dot", expect: .refused) {
            [try makeTar { w in try w.hardLink("stolen", to: "../host/canary") }]
        },
        Case(name: "hard link through a symlink to the host", expect: .refused) {
            [try makeTar { w in
                try w.symlink("h", to: "/HOSTPATH")
                try w.hardLink("stolen", to: "h/canary")
            }]
        },
        Case(name: "hard link to a symlink pointing out (links the symlink, never its target)", expect: .contained) {
            [try makeTar { w in
                try w.symlink("s", to: "/HOSTPATH/canary")
                try w.hardLink("t", to: "s")
            }]
        },
        Case(name: "whiteout through a symlinked parent", expect: .contained) {
            [try makeTar { w in try w.symlink("p", to: "/HOSTPATH") },
             try makeTar { w in try w.file("p/.wh.canary", "") }]
        },
        Case(name: "opaque dir through a symlinked parent", expect: .contained) {
            [try makeTar { w in try w.symlink("p", to: "../../../HOSTPATH") },
             try makeTar { w in try w.file("p/.wh..wh..opq", "") }]
        },
        Case(name: "whiteout of the root", expect: .refused) { [try makeTar { try $0.file(".wh..", "") }] },
        Case(name: "whiteout of a parent", expect: .refused) { [try makeTar { try $0.file("a/.wh...", "") }] },
        Case(name: "bare .wh.", expect: .refused) { [try makeTar { try $0.file("etc/.wh.", "") }] },
        Case(name: "file replacing the root", expect: .refused) { [try makeTar { try $0.file("./", "x") }] },
        Case(name: "directory with dot-dot", expect: .refused) { [try makeTar { try $0.directory("../host/newdir") }] },
        Case(name: "symlink loop", expect: .refused) {
            [try makeTar { w in try w.symlink("l1", to: "l2"); try w.symlink("l2", to: "l1"); try w.file("l1/x", "x") }]
        },
        Case(name: "xattr through a symlink", expect: .contained) {
            [try makeTar { w in
                try w.symlink("s", to: "/HOSTPATH/canary")
                try w.add(TarEntry(name: "s", kind: .symlink, mode: 0o777, linkName: "/HOSTPATH/canary",
                                   xattrs: ["user.evil": Array("x".utf8)]))
            }]
        },
    ]

    @Test(arguments: cases)
    func hostileLayer(_ c: Case) throws {
        let tmp = try TempDir("hostile")
        defer { tmp.cleanup() }
        let root = try tmp.sub("root")
        let host = try tmp.sub("host")
        try writeFile(host + "/canary", Data("safe".utf8))
        // Names refer to the host directory through the HOSTPATH placeholder.
        let layers = try c.layers().map { data -> Data in
            var d = data
            // Replace only inside the tar payload; re-encoding keeps checksums valid.
            d = try rewrite(d, "HOSTPATH", String(host.dropFirst()))
            return d
        }
        var refused: FirebuildError?
        do {
            try applyLayers(layers, to: root)
        } catch let e as FirebuildError {
            refused = e
        }
        switch c.expect {
        case .refused: #expect(refused != nil, "\(c.name) was not refused")
        case .contained: #expect(refused == nil, "\(c.name) was refused: \(refused?.description ?? "")")
        }
        // Whatever happened, the host is untouched.
        let hostFiles = try FileManager.default.contentsOfDirectory(atPath: host)
        #expect(hostFiles == ["canary"], "\(c.name) touched the host: \(hostFiles)")
        #expect(readString(host + "/canary") == "safe")
        #expect(Xattr.list(host + "/canary").isEmpty)
        #expect(try #require(lstatOrNil(host + "/canary")).st_nlink == 1, "\(c.name) hard-linked the host file")
        let siblings = try FileManager.default.contentsOfDirectory(atPath: tmp.path).sorted()
        #expect(siblings == ["host", "root"], "\(c.name) wrote beside the root: \(siblings)")
    }

    /// Re-reads a tar and writes it again with `needle` replaced in names and link targets.
    func rewrite(_ tar: Data, _ needle: String, _ replacement: String) throws -> Data {
        let reader = TarReader(DataSource(tar), what: "rewrite")
        return try makeTar { w in
            while var e = try reader.next() {
                e.name = e.name.replacingOccurrences(of: needle, with: replacement)
                e.linkName = e.linkName.replacingOccurrences(of: needle, with: replacement)
                try w.add(e, data: try reader.readAll())
            }
        }
    }

    @Test func absoluteNamesLandInsideTheRoot() throws {
        let tmp = try TempDir("abs")
        defer { tmp.cleanup() }
        let root = try tmp.sub("root")
        try applyLayers([try makeTar { try $0.file("/etc/hostname", "vm") }], to: root)
        #expect(readString(root + "/etc/hostname") == "vm")
    }

    @Test func symlinkedParentsResolveInsideTheRoot() throws {
        // Merged-/usr images: lib → usr/lib; a later layer writing lib/x must land in usr/lib/x.
        let tmp = try TempDir("merged")
        defer { tmp.cleanup() }
        let root = try tmp.sub("root")
        try applyLayers([try makeTar { w in try w.directory("usr/lib"); try w.symlink("lib", to: "usr/lib"); try w.symlink("abs", to: "/usr") },
                         try makeTar { w in try w.file("lib/x", "x"); try w.file("abs/lib/y", "y") }], to: root)
        #expect(readString(root + "/usr/lib/x") == "x")
        #expect(readString(root + "/usr/lib/y") == "y")
    }
}
