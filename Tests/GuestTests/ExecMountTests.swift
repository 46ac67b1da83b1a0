import Foundation
import Glibc
import Testing
@testable import Guest

@Suite struct ExecMountProtocolTests {
    @Test func roundTripAndOlderRequests() throws {
        let mounts = [
            ExecMount(kind: .bind, target: "/src", source: "/run/firebuild-mounts/step/m0", readOnly: true),
            ExecMount(kind: .tmpfs, target: "/scratch", size: 1 << 20),
            ExecMount(kind: .cache, target: "/root/.cache", source: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", mode: 0o700, uid: 1000, gid: 1000),
        ]
        let e = ExecRequest(argv: ["make"], env: ["A=1"], replaceEnv: true, user: "app", workdir: "/w", mounts: mounts)
        #expect(try ExecRequest(json: e.json) == e)
        #expect(try ExecRequest(json: JSON.parse(e.json.encoded())) == e)
        // An older host sends no "mounts": none, and a request without mounts does not send the key.
        let old = try ExecRequest(json: JSON.parse(#"{"argv":["true"]}"#))
        #expect(old.mounts.isEmpty)
        #expect(!ExecRequest(argv: ["true"]).json.encoded().contains("mounts"))
    }

    @Test(arguments: [
        #"{"argv":["x"],"mounts":"no"}"#,
        #"{"argv":["x"],"mounts":[{"kind":"overlay","target":"/a"}]}"#,
        #"{"argv":["x"],"mounts":[{"kind":"tmpfs","target":"rel"}]}"#,
        #"{"argv":["x"],"mounts":[{"kind":"bind","target":"/a"}]}"#,
        #"{"argv":["x"],"mounts":[{"kind":"cache","target":"/a","source":""}]}"#,
    ])
    func rejectsBadMounts(text: String) {
        #expect(throws: GuestError.self) { try ExecRequest(json: JSON.parse(text)) }
    }
}

/// The real init (test mode) running execs with mounts: needs root for mount namespaces.
@Suite(.serialized, .enabled(if: InitHarness.binary != nil && getuid() == 0, "needs root and the built firebuild-init"))
struct ExecMountProcessTests {
    @Test func mountsExistOnlyForTheProcessAndStubsAreCleanedUp() throws {
        let h = try InitHarness()
        defer { h.cleanup() }
        let c = h.connection
        _ = try c.waitReady(timeout: 10)
        try c.sendMetadata(Metadata(mode: .build))
        let dir = h.root + "/mnt"
        let src = h.root + "/staged"
        try FileManager.default.createDirectory(atPath: src, withIntermediateDirectories: true)
        try "bound\n".write(toFile: src + "/f.txt", atomically: true, encoding: .utf8)
        chmod(src + "/f.txt", 0o666)  // the command runs as app (1234)
        try "secret-value".write(toFile: h.root + "/secret", atomically: true, encoding: .utf8)
        let mounts = [
            ExecMount(kind: .tmpfs, target: dir + "/tmp", size: 1 << 20),
            ExecMount(kind: .bind, target: dir + "/ro", source: src, readOnly: true),
            ExecMount(kind: .bind, target: dir + "/rw", source: src),
            ExecMount(kind: .bind, target: dir + "/secrets/s", source: h.root + "/secret", readOnly: true),
        ]
        let script = """
        set -e
        grep -q " \(dir)/tmp tmpfs " /proc/self/mounts
        cat \(dir)/ro/f.txt
        if touch \(dir)/ro/new 2>/dev/null; then echo ro-writable; fi
        echo changed > \(dir)/rw/f.txt
        cat \(dir)/secrets/s; echo
        id -u
        """
        let (status, out, err) = try c.execCollect(ExecRequest(argv: ["/bin/sh", "-c", script], user: "app", mounts: mounts), timeout: 30)
        #expect(status == .exited(0), "\(String(decoding: err, as: UTF8.self))")
        #expect(String(decoding: out, as: UTF8.self) == "bound\nsecret-value\n1234\n")
        // Nothing is mounted here (the host's namespace); the targets the helper created remain as stubs.
        let mine = try String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)
        #expect(!mine.contains(dir))
        #expect(try String(contentsOfFile: src + "/f.txt", encoding: .utf8) == "changed\n", "rw binds write through to the staged copy")
        #expect(FileManager.default.fileExists(atPath: dir + "/secrets/s"))

        // A failing command leaves no mount behind either; a missing command is 127.
        let (s2, _, _) = try c.execCollect(ExecRequest(argv: ["/bin/sh", "-c", "exit 4"], mounts: [mounts[0]]), timeout: 30)
        #expect(s2 == .exited(4))
        let (s3, _, e3) = try c.execCollect(ExecRequest(argv: ["no-such-command-xyz"], mounts: [mounts[0]]), timeout: 30)
        #expect(s3 == .exited(127) && String(decoding: e3, as: UTF8.self).contains("not found"))
        #expect(!(try String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)).contains(dir))

        // Cleanup removes empty stubs up to the top created directory, keeps anything non-empty.
        try "keep".write(toFile: dir + "/keep.txt", atomically: true, encoding: .utf8)
        let bin = InitHarness.binary ?? ""
        let (s4, _, e4) = try c.execCollect(ExecRequest(argv: [bin, "--cleanup-mounts", "/run/firebuild-mounts/test-none-\(getpid())",
                                                               dir, dir + "/tmp", dir, dir + "/ro", dir, dir + "/rw", dir, dir + "/secrets/s"]),
                                            timeout: 30)
        #expect(s4 == .exited(0), "\(String(decoding: e4, as: UTF8.self))")
        let left = try FileManager.default.contentsOfDirectory(atPath: dir)
        #expect(left == ["keep.txt"])
    }
}
