import Foundation
import Logging
import Testing
@testable import FirebuildCore

@Suite struct AtomicFileTests {
    @Test func writesWholeFileWithExactMode() throws {
        let dir = NSTemporaryDirectory() + "fb-atomic-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/sub/meta.json"
        try AtomicFile.write("hello", to: path, mode: 0o600)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "hello")
        let attrs = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attrs[.posixPermissions] as? Int) == 0o600)
        // No temporary files are left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/sub") == ["meta.json"])
    }
}

@Suite struct DigestTests {
    @Test func sha256OfKnownString() {
        #expect(ContentDigest.sha256("abc").description
            == "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test(arguments: ["sha256:abc", "md5:0123", "nocolon", "sha256:" + String(repeating: "G", count: 64)])
    func rejectsMalformedDigests(_ text: String) {
        #expect(throws: FirebuildError.self) { try ContentDigest(parsing: text) }
    }

    @Test func streamingMatchesOneShot() {
        var h = StreamingSHA256()
        h.update(Data("a".utf8)); h.update(Data("bc".utf8))
        #expect(h.finalize() == ContentDigest.sha256("abc"))
    }
}

@Suite struct FileLockTests {
    @Test func secondHolderTimesOut() throws {
        let path = NSTemporaryDirectory() + "fb-lock-\(UUID().uuidString)"
        defer { unlink(path) }
        let a = FileLock(path: path)
        try a.lock()
        // flock locks belong to the open file description, so a second open conflicts even in-process.
        let b = FileLock(path: path)
        #expect(throws: FirebuildError.self) { try b.lock(timeout: 0.1) }
        a.unlock()
        try b.lock(timeout: 1)
        b.unlock()
    }
}

@Suite struct CommandTests {
    @Test func capturesOutputAndStatus() throws {
        let r = try Command("sh", ["-c", "echo out; echo err >&2; exit 3"]).run()
        #expect(r.status == 3)
        #expect(r.stdoutString == "out\n")
        #expect(r.stderrString == "err\n")
    }

    @Test func checkNamesTheFailingCommand() {
        #expect(throws: FirebuildError.self) { try Command("sh", ["-c", "echo boom >&2; exit 1"]).check() }
        do {
            try Command("sh", ["-c", "echo boom >&2; exit 1"]).check()
        } catch let e as FirebuildError {
            #expect(e.code == .subprocess)
            #expect(e.message.contains("boom"))
        } catch {}
    }

    @Test func missingProgramIsNotFound() {
        #expect(throws: FirebuildError(.notFound, "program \"no-such-program-xyz\" not found in PATH; install it (make deps installs every tool firebuild needs)")) {
            try Command("no-such-program-xyz").run()
        }
    }

    @Test func timeoutKills() {
        #expect(throws: FirebuildError.self) { try Command("sleep", ["5"], timeout: 0.2).run() }
    }

    @Test func stdinEnvironmentAndWorkingDirectoryReachTheChild() throws {
        let r = try Command("sh", ["-c", "cat; echo \" $FB_X\"; pwd"], environment: ["FB_X": "env-value", "PATH": "/usr/bin:/bin"],
                            workingDirectory: "/tmp", stdin: Data("from-stdin".utf8)).check()
        #expect(r.stdoutString == "from-stdin env-value\n/tmp\n")
        // A large stdin the child never reads must not hang or kill us (EPIPE, not SIGPIPE).
        let big = Data(repeating: 0x41, count: 4 << 20)
        #expect(try Command("true", stdin: big).run().status == 0)
    }

    @Test func aSignalIsReportedLikeAShellAndSignalsAreDefaultInTheChild() throws {
        #expect(try Command("sh", ["-c", "kill -9 $$"]).run().status == 128 + 9)
        // Whatever this process ignores (firebuild: SIGPIPE), a child starts with default handlers.
        signal(SIGPIPE, SIG_IGN)
        defer { signal(SIGPIPE, SIG_DFL) }
        let ignored = try Command("sh", ["-c", "grep '^SigIgn' /proc/self/status"]).check().stdoutString
        let mask = UInt64(ignored.split(separator: "\t").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "", radix: 16)
        #expect(mask.map { $0 & (1 << (UInt64(SIGPIPE) - 1)) == 0 } == true, "\(ignored)")
    }

    @Test func concurrentChildrenDoNotInheritEachOthersPipes() throws {
        // A leaked write end would keep another reader waiting until that child exits.
        let started = Date()
        let group = DispatchGroup()
        group.enter()
        Thread { _ = try? Command("sleep", ["2"]).run(); group.leave() }.start()
        usleep(100_000)
        #expect(try Command("echo", ["quick"]).check().stdoutString == "quick\n")
        #expect(Date().timeIntervalSince(started) < 1.5, "the quick child's pipes stayed open in the sleeping one")
        group.wait()
    }
}

@Suite struct LogFormatterTests {
    @Test func jsonHasTheOriginalKeys() throws {
        let line = LogFormatter.json(level: .warning, message: "hi", module: "store", fields: ["tag": "a/b:1"],
                                     date: Date(timeIntervalSince1970: 0))
        let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
        #expect(obj["@level"] as? String == "warn")
        #expect(obj["@message"] as? String == "hi")
        #expect(obj["@module"] as? String == "store")
        #expect(obj["@timestamp"] as? String == "1970-01-01T00:00:00.000Z")
        #expect(obj["tag"] as? String == "a/b:1")
        #expect(!line.contains("\n"))
    }

    @Test func textIsReadable() {
        let line = LogFormatter.text(level: .info, message: "pulled", module: "oci", fields: ["digest": "sha256:x", "n": "a b"],
                                     date: Date(timeIntervalSince1970: 0), color: false)
        #expect(line == "1970-01-01T00:00:00.000Z [INFO] oci: pulled digest=sha256:x n=\"a b\"")
    }

    @Test(arguments: [("debug", Logger.Level.debug), ("warn", .warning), ("INFO", .info), ("error", .error)])
    func levelNames(_ name: String, _ level: Logger.Level) throws {
        #expect(try LogOptions.level(named: name) == level)
    }

    @Test func unknownLevelIsAnError() {
        #expect(throws: FirebuildError.self) { try LogOptions.level(named: "loud") }
    }
}

/// The hand-written JSON log lines: valid JSON (checked by a real parser), keys sorted, escaping.
@Suite struct LogJSONTests {
    @Test(arguments: ["plain", "quote \" and \\ backslash", "line\nbreak\ttab\r", "ctl \u{01}\u{1F}", "a/b", "ünïcødé ✓ 🚀", ""])
    func stringsRoundTrip(_ text: String) throws {
        let line = LogFormatter.json(level: .info, message: text, module: "m", fields: ["k": .string(text)], date: Date(timeIntervalSince1970: 0))
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(obj["@message"] as? String == text)
        #expect(obj["k"] as? String == text)
        #expect(!line.contains("\n"))
    }

    @Test func keysAreSortedAndNestedValuesKept() throws {
        let line = LogFormatter.json(level: .error, message: "m", module: "x",
                                     fields: ["z": "1", "a": .array(["p", .dictionary(["y": "2", "b": "3"])]), "trace-id": "ab"],
                                     date: Date(timeIntervalSince1970: 1_700_000_000.1234))
        #expect(line == #"{"@level":"error","@message":"m","@module":"x","@timestamp":"2023-11-14T22:13:20.123Z","#
                + #""a":["p",{"b":"3","y":"2"}],"trace-id":"ab","z":"1"}"#)
    }
}

extension LogJSONTests {
    @Test func fieldsSortBeforeAndAfterTheFixedKeysAndCannotReplaceThem() {
        let line = LogFormatter.json(level: .info, message: "m", module: "x",
                                     fields: ["-a": "1", "0": "2", "@level": "forged", "@z": "3", "b": "4"],
                                     date: Date(timeIntervalSince1970: 0))
        #expect(line == #"{"-a":"1","0":"2","@level":"info","@message":"m","@module":"x","@timestamp":"1970-01-01T00:00:00.000Z","@z":"3","b":"4"}"#)
    }
}

@Suite struct BuildScratchTests {
    @Test(arguments: [("b1796003428-441093225", true), ("b1-2", true), ("b-1", false), ("b12", false), ("linux", false),
                      ("b12-", false), ("bx-1", false), ("b1-2-3", false), ("c1-2", false)])
    func onlyItsOwnNamesArePurgeCandidates(_ name: String, _ ours: Bool) {
        #expect(BuildScratch.isScratchName(name) == ours)
    }

    @Test func purgeTakesOnlyDirectoriesOfBuildsThatAreGone() throws {
        let builds = NSTemporaryDirectory() + "fbscratch-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: builds) }
        let live = try BuildScratch.create(in: builds)
        // A killed build: its directory and lock file stay, nobody holds the lock.
        let dead = builds + "/b100-1"
        try FileManager.default.createDirectory(atPath: dead + "/fbb-1", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: dead + "/" + BuildScratch.lockName, contents: nil)
        // Not ours (a kernel source clone), and lock-less ones: young (maybe starting) and old.
        try FileManager.default.createDirectory(atPath: builds + "/linux", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: builds + "/b200-2", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: builds + "/b300-3", withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-7200)], ofItemAtPath: builds + "/b300-3")

        var cleaned: [String] = []
        let removed = BuildScratch.purgeAbandoned(in: builds) { cleaned.append($0) }
        #expect(removed == ["b100-1", "b300-3"])
        #expect(cleaned == [dead, builds + "/b300-3"])
        let left = Set(try FileManager.default.contentsOfDirectory(atPath: builds))
        #expect(left == [(live.path as NSString).lastPathComponent, "linux", "b200-2"])
        live.remove()
        #expect(!FileManager.default.fileExists(atPath: live.path))
    }
}
