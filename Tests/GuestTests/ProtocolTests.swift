import Testing
@testable import Guest

@Suite struct JSONTests {
    @Test(arguments: [
        ("null", JSON.null), ("true", .bool(true)), ("-12", .int(-12)), ("1.5", .double(1.5)),
        ("\"a\\\"b\\\\c\\n\\u00e9\\ud83d\\ude00\"", .string("a\"b\\c\né😀")),
        ("[1, [], {}]", .array([.int(1), .array([]), .object([])])),
        (" { \"k\" : [\"v\", null] , \"n\": 1e3 } ", .object([("k", .array([.string("v"), .null])), ("n", .double(1000))])),
    ])
    func parses(_ text: String, _ expected: JSON) throws {
        #expect(try JSON.parse(text) == expected)
    }

    @Test(arguments: ["", "{", "[1,]", "{\"a\" 1}", "tru", "\"abc", "1 2", "\"\\x\"", "{\"a\":1,}"])
    func rejects(_ text: String) {
        #expect(throws: GuestError.self) { try JSON.parse(text) }
    }

    @Test func roundTripsControlCharactersAndUnicode() throws {
        let v = JSON.object([("s", .string("tab\tnul\u{1}quote\"é")), ("a", .array([.int(Int64.max), .bool(false)]))])
        #expect(try JSON.parse(v.encoded()) == v)
    }

    @Test func rejectsDeepNesting() {
        let deep = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        #expect(throws: GuestError.self) { try JSON.parse(deep) }
    }
}

@Suite struct FrameTests {
    @Test func encodesHeaderBigEndian() {
        let f = Frame(.exec, id: 0x01020304, body: [9, 8])
        #expect(f.encoded() == [0x46, 0x42, 1, 2, 1, 2, 3, 4, 0, 0, 0, 2, 9, 8])
    }

    @Test func decodesFramesSplitAcrossReads() throws {
        let frames = [Frame(.stdout, id: 7, body: Array("hello".utf8)), Frame(.ok, id: 8), Frame(.exit, id: 7, json: ExitStatus.exited(3).json)]
        let bytes = frames.flatMap { $0.encoded() }
        var d = FrameDecoder()
        var got: [Frame] = []
        for b in bytes {  // one byte at a time: the worst case of a stream
            d.feed([b])
            while let f = try d.next() { got.append(f) }
        }
        #expect(got == frames)
        #expect(d.pending == 0)
    }

    @Test(arguments: [
        [UInt8]([0x00, 0x42, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0]),   // bad magic
        [0x46, 0x42, 9, 1, 0, 0, 0, 0, 0, 0, 0, 0],            // bad version
        [0x46, 0x42, 1, 200, 0, 0, 0, 0, 0, 0, 0, 0],          // unknown type
        [0x46, 0x42, 1, 1, 0, 0, 0, 0, 0x7f, 0, 0, 0],         // body too large
    ])
    func rejectsBadHeaders(_ bytes: [UInt8]) {
        var d = FrameDecoder()
        d.feed(bytes)
        #expect(throws: GuestError.self) { try d.next() }
    }
}

@Suite struct MessageTests {
    @Test func metadataRoundTrips() throws {
        let md = Metadata(mode: .build, initImage: true,
                          image: ImageRuntimeConfig(entrypoint: ["/e"], cmd: ["c"], env: ["A=1"], user: "app:app", workingDir: "/w", stopSignal: "SIGQUIT"),
                          env: ["B=2"], cmdOverride: ["x"], entrypointOverride: nil, userOverride: "0", workdirOverride: "/o",
                          hostname: "h", sshUser: "u", sshKeys: ["ssh-ed25519 AAA"],
                          network: NetworkConfig(mode: .static, ifname: "eth0", mac: "02:00:00:00:00:01", address: "10.0.0.2", prefix: 24,
                                                 gateway: "10.0.0.1", dns: ["1.1.1.1"], search: ["example"], mtu: 1400),
                          extraHosts: ["10.0.0.9 db"], heartbeatInterval: 2, stopTimeout: 7)
        let back = try Metadata(frame: Frame(.metadata, id: 1, json: md.json))
        #expect(back == md)
        // The image config uses OCI field names, so the host can pass its ImageConfig through.
        #expect(md.json["image"]?["WorkingDir"]?.string == "/w")
    }

    @Test func defaultsWhenFieldsAreMissing() throws {
        let md = try Metadata(json: .object([]))
        #expect(md.mode == .run && md.network.mode == .keep && md.heartbeatInterval == 5 && md.hostname == "firebuild")
    }

    @Test func rejectsWrongTypes() {
        #expect(throws: GuestError.self) { try Metadata(json: .object([("env", .string("A=1"))])) }
        #expect(throws: GuestError.self) { try ExecRequest(json: .object([("argv", .array([]))])) }
        #expect(throws: GuestError.self) { try Metadata(json: .object([("mode", .string("debug"))])) }
    }

    @Test func otherMessagesRoundTrip() throws {
        let e = ExecRequest(argv: ["ls", "-l"], env: ["X=1"], replaceEnv: true, user: "app", workdir: "/", stdin: true)
        #expect(try ExecRequest(json: e.json) == e)
        let w = WriteFileRequest(path: "/a", mode: 0o4755, owner: "app:app", uid: nil, gid: 5, parents: false)
        #expect(try WriteFileRequest(json: w.json) == w)
        let s = StatResult(exists: true, kind: .symlink, mode: 0o777, uid: 1, gid: 2, size: 3, linkTarget: "/x")
        #expect(try StatResult(json: s.json) == s)
        #expect(try ExitStatus(json: ExitStatus.signaled(9).json).exitCode == 137)
        #expect(try ShutdownRequest(json: ShutdownRequest(signal: "SIGINT", timeout: 1.5).json) == ShutdownRequest(signal: "SIGINT", timeout: 1.5))
    }

    @Test func readyCarriesBootPhasesInOrder() throws {
        let phases = [BootPhase("initrd", 1.5), BootPhase("main", 2.0625), BootPhase("ready", 2.125)]
        let r = ReadyInfo(initVersion: "t", uptime: 2.2, channel: "c", phases: phases)
        #expect(try ReadyInfo(json: r.json) == r)
        #expect(BootPhase.summary(phases) == "initrd 1.500 s, main +563 ms, ready +63 ms")
        // Older inits send no phases; malformed entries are dropped, not fatal (diagnostics only).
        #expect(try ReadyInfo(json: .object([("uptime", .double(1))])).phases.isEmpty)
        #expect(BootPhase.list(.object([("a", .string("x")), ("b", .int(3))])) == [BootPhase("b", 3)])
        #expect(BootPhase.summary([]) == "")
    }
}

@Suite struct SignalTests {
    @Test(arguments: [("SIGTERM", Int32(15)), ("term", 15), ("9", 9), ("SIGRTMIN+3", 37), ("RTMAX-1", 63), ("SIGWINCH", 28)])
    func parses(_ text: String, _ n: Int32) { #expect(Signals.parse(text) == n) }

    @Test(arguments: ["", "SIGFOO", "0", "65", "RTMIN+40", "RTMIN-1"])
    func rejects(_ text: String) { #expect(Signals.parse(text) == nil) }

    @Test func names() { #expect(Signals.name(15) == "SIGTERM" && Signals.name(36) == "SIGRTMIN+2") }
}
