import Foundation
import Glibc
import Testing
@testable import Guest

/// Drives the real (dynamically linked) firebuild-init binary in test mode over a socketpair.
@Suite(.serialized, .enabled(if: InitHarness.binary != nil, "firebuild-init is not built (swift build --product firebuild-init)"))
struct InitProcessTests {
    @Test func runModeStreamsOutputAndReportsExitCode() throws {
        let h = try InitHarness()
        defer { h.cleanup() }
        let ready = try h.connection.waitReady(timeout: 10)
        #expect(ready.protocolVersion == 1 && ready.channel == "fd:3")
        let sink = OutputSink()
        h.connection.setWorkloadHandlers(output: sink.add)
        let md = Metadata(mode: .run,
                          image: ImageRuntimeConfig(entrypoint: ["/bin/sh", "-c"], cmd: ["exit 9"], env: ["GREETING=image", "KEEP=1"]),
                          env: ["GREETING=hi"], cmdOverride: ["echo hello; echo oops >&2; echo $GREETING $KEEP $HOSTNAME $HOME; exit 3"],
                          hostname: "vm1", network: NetworkConfig(mode: .keep, address: "10.9.0.2", dns: ["10.9.0.1"]))
        try h.connection.sendMetadata(md)
        let status = try h.connection.waitWorkloadExit(timeout: 20)
        #expect(status == .exited(3))
        #expect(sink.stdout == "hello\nhi 1 vm1 /root\n")
        #expect(sink.stderr == "oops\n")
        #expect(h.waitExit() == 3)
        #expect(try String(contentsOfFile: h.root + "/etc/hostname", encoding: .utf8) == "vm1\n")
        #expect(try String(contentsOfFile: h.root + "/etc/hosts", encoding: .utf8).contains("10.9.0.2\tvm1\n"))
        #expect(try String(contentsOfFile: h.root + "/etc/resolv.conf", encoding: .utf8) == "nameserver 10.9.0.1\n")
    }

    @Test func workloadThatCannotStartFailsMetadataWith127() throws {
        let h = try InitHarness()
        defer { h.cleanup() }
        _ = try h.connection.waitReady(timeout: 10)
        let md = Metadata(image: ImageRuntimeConfig(cmd: ["definitely-not-a-command-xyz"]))
        #expect(throws: GuestError.self) { try h.connection.sendMetadata(md) }
        #expect(try h.connection.waitWorkloadExit(timeout: 10) == .exited(127))
        #expect(h.waitExit() == 127)
    }

    @Test func buildModeRunsStepsAndWritesFiles() throws {
        let h = try InitHarness()
        defer { h.cleanup() }
        let c = h.connection
        _ = try c.waitReady(timeout: 10)
        try c.sendMetadata(Metadata(mode: .build, image: ImageRuntimeConfig(env: ["FOO=image"])))

        // stdin, env merging, workdir creation
        let work = h.root + "/work/dir"
        let (s1, out1, _) = try c.execCollect(ExecRequest(argv: ["/bin/sh", "-c", "cat; echo \" $FOO $BAR\"; pwd"], env: ["BAR=step"], workdir: work),
                                              stdin: Array("from-stdin".utf8), timeout: 20)
        #expect(s1 == .exited(0))
        #expect(String(decoding: out1, as: UTF8.self) == "from-stdin image step\n\(work)\n")

        // USER by name: uid, gid and supplementary groups from the image's files
        let (s2, out2, _) = try c.execCollect(ExecRequest(argv: ["sh", "-c", "id -u; id -g; id -G; echo $HOME"], user: "app"), timeout: 20)
        #expect(s2 == .exited(0))
        #expect(String(decoding: out2, as: UTF8.self) == "1234\n1234\n1234 2345\n/home/app\n")

        // missing command: 127 like docker exec; stderr explains
        let (s3, _, err3) = try c.execCollect(ExecRequest(argv: ["no-such-binary-xyz"]), timeout: 20)
        #expect(s3 == .exited(127))
        #expect(String(decoding: err3, as: UTF8.self).contains("not found"))

        // a file larger than one chunk, owned by a named user, then overwritten by a shorter one
        let target = h.root + "/opt/app/bin/tool"
        let big = (0..<(Frame.chunkSize * 2 + 17)).map { UInt8(truncatingIfNeeded: $0 * 7) }
        try c.writeFile(WriteFileRequest(path: target, mode: 0o4755, owner: "app"), data: big, timeout: 20)
        var st = try c.stat(target)
        #expect(st.exists && st.kind == .file && st.size == big.count && st.uid == 1234 && st.gid == 1234 && st.mode == 0o4755)
        #expect(FileManager.default.contents(atPath: target) == Data(big))
        #expect(try c.stat(h.root + "/opt/app").uid == 1234)  // created parents get the owner, as BuildKit does
        try c.writeFile(WriteFileRequest(path: target, mode: 0o644), data: Array("short".utf8), timeout: 20)
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "short")  // no stale trailing bytes
        st = try c.stat(target)
        #expect(st.uid == 0 && st.mode == 0o644)

        // mkdir, chown -R by name:group, stat of a missing path, errors come back as throws
        try c.mkdir(MkdirRequest(path: h.root + "/data/a/b", mode: 0o750))
        try c.chown(ChownRequest(path: h.root + "/data", owner: "app:extra", recursive: true))
        st = try c.stat(h.root + "/data/a/b")
        #expect(st.kind == .directory && st.mode == 0o750 && st.uid == 1234 && st.gid == 2345)
        #expect(try c.stat(h.root + "/nope").exists == false)
        #expect(throws: GuestError.self) { try c.chown(ChownRequest(path: h.root + "/data", owner: "ghost")) }
        #expect(throws: GuestError.self) { try c.mkdir(MkdirRequest(path: "relative/path")) }

        // a hung step times out and is killed
        #expect(throws: GuestError.self) { _ = try c.execCollect(ExecRequest(argv: ["sleep", "30"]), timeout: 0.5) }

        try c.shutdown(timeout: 10)
        #expect(h.waitExit() == 0)
    }

    @Test func shutdownSendsStopSignalThenKills() throws {
        let h = try InitHarness()
        defer { h.cleanup() }
        _ = try h.connection.waitReady(timeout: 10)
        // The workload ignores SIGTERM (the StopSignal), so only SIGKILL after the timeout stops it.
        let md = Metadata(image: ImageRuntimeConfig(cmd: ["/bin/sh", "-c", "trap '' TERM; echo up; while :; do sleep 0.1; done"],
                                                    stopSignal: "SIGTERM"), stopTimeout: 1)
        let sink = OutputSink()
        h.connection.setWorkloadHandlers(output: sink.add)
        try h.connection.sendMetadata(md)
        let start = Posix.now()
        while !sink.stdout.contains("up") && Posix.now() - start < 10 { usleep(20_000) }
        try h.connection.shutdown(timeout: 20)
        #expect(try h.connection.waitWorkloadExit(timeout: 10) == .signaled(9))
        #expect(Posix.now() - start >= 1)
        #expect(h.waitExit() == 137)
    }

    @Test func signalReachesWorkload() throws {
        let h = try InitHarness()
        defer { h.cleanup() }
        _ = try h.connection.waitReady(timeout: 10)
        try h.connection.sendMetadata(Metadata(image: ImageRuntimeConfig(cmd: ["/bin/sh", "-c", "trap 'exit 42' USR1; while :; do sleep 0.1; done"])))
        usleep(300_000)  // let the shell install its trap
        try h.connection.signal("SIGUSR1")
        #expect(try h.connection.waitWorkloadExit(timeout: 10) == .exited(42))
        #expect(throws: GuestError.self) { try h.connection.signal("SIGBOGUS") }
        #expect(h.waitExit() == 42)
    }

    @Test func sshKeysAreInstalledOnceAcrossBoots() throws {
        let root = try InitHarness.makeRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        for _ in 0..<2 {
            let h = try InitHarness(root: root)
            _ = try h.connection.waitReady(timeout: 10)
            try h.connection.sendMetadata(Metadata(mode: .build, sshUser: "app", sshKeys: ["ssh-ed25519 AAAAkey me@host"]))
            try h.connection.shutdown(timeout: 10)
            #expect(h.waitExit() == 0)
            h.connection.close()
        }
        let keys = try String(contentsOfFile: root + "/home/app/.ssh/authorized_keys", encoding: .utf8)
        #expect(keys == "ssh-ed25519 AAAAkey me@host\n")
        var st = stat()
        #expect(stat(root + "/home/app/.ssh", &st) == 0 && st.st_uid == 1234 && (st.st_mode & 0o777) == 0o700)
    }

    @Test func hostDisconnectEndsTestModeInit() throws {
        let h = try InitHarness()
        defer { h.cleanup() }
        _ = try h.connection.waitReady(timeout: 10)
        h.connection.close()
        #expect(h.waitExit() == 0)
    }
}

@Suite struct GuestConnectionTests {
    @Test func failsFastWhenTheGuestGoesAway() throws {
        var sv: [Int32] = [-1, -1]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &sv) == 0)
        let c = try GuestConnection(fd: sv[0])
        close(sv[1])
        let start = Posix.now()
        #expect(throws: GuestError.self) { try c.waitReady(timeout: 10) }
        #expect(Posix.now() - start < 5)
        #expect(throws: GuestError.self) { try c.sendMetadata(Metadata()) }
    }

    @Test func timesOutWhenTheGuestIsSilent() throws {
        var sv: [Int32] = [-1, -1]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &sv) == 0)
        defer { close(sv[1]) }
        let c = try GuestConnection(fd: sv[0])
        defer { c.close() }
        do {
            _ = try c.waitReady(timeout: 0.3)
            Issue.record("expected a timeout")
        } catch let e as GuestError {
            #expect(e.code == .timeout)
        }
    }

    @Test func connectRetriesUntilTimeout() {
        #expect(throws: GuestError.self) { try GuestConnection.connect(unixPath: "/tmp/fb-no-such-\(getpid()).sock", timeout: 0.2) }
    }
}

@Suite struct TransportTests {
    @Test func vsockListenerAcceptsTheGuestConnection() throws {
        let base = "/tmp/fbv-\(getpid())-\(UInt32.random(in: 0...99999))"
        let listener = try VsockListener(udsPath: base, port: 10789)
        #expect(listener.path == base + "_10789")
        // Play Firecracker: connect to <uds>_<port> and speak as the guest.
        let fd = try UnixSocket.make(path: listener.path) { fd, addr, len in connect(fd, addr, len) == 0 }
        defer { close(fd) }
        let conn = try listener.accept(timeout: 5)
        defer { conn.close() }
        try FrameChannel(fd: fd).send(Frame(.ready, id: 0, json: ReadyInfo(initVersion: "t", uptime: 1, channel: "vsock:10789").json))
        #expect(try conn.waitReady(timeout: 5).channel == "vsock:10789")
    }

    @Test func vsockConnectSpeaksFirecrackersHandshake() throws {
        let path = "/tmp/fbv-\(getpid())-\(UInt32.random(in: 0...99999)).sock"
        defer { unlink(path) }
        let server = try UnixSocket.make(path: path) { fd, addr, len in bind(fd, addr, len) == 0 && listen(fd, 1) == 0 }
        defer { close(server) }
        let fake = Thread {
            let c = accept(server, nil, nil)
            guard c >= 0 else { return }
            let line = (try? UnixSocket.readLine(c, timeout: 5)) ?? ""
            try? Posix.writeAll(c, line == "CONNECT 52" ? "OK 1073741824\n" : "NO\n")
            try? FrameChannel(fd: c).send(Frame(.ready, id: 0, json: ReadyInfo(initVersion: "t", uptime: 1, channel: "vsock:52:listen").json))
            usleep(500_000)
            close(c)
        }
        fake.start()
        let conn = try GuestConnection.connectVsock(udsPath: path, port: 52, timeout: 5)
        defer { conn.close() }
        #expect(try conn.waitReady(timeout: 5).channel == "vsock:52:listen")
    }

    @Test func initImageExecsTheImagesInit() throws {
        let root = try InitHarness.makeRoot()
        try FileManager.default.createDirectory(atPath: root + "/sbin", withIntermediateDirectories: true)
        try "#!/bin/sh\necho \"image init ran as $0\" > \(root)/marker\n".write(toFile: root + "/sbin/init", atomically: true, encoding: .utf8)
        chmod(root + "/sbin/init", 0o755)
        let h = try InitHarness(root: root)
        defer { h.cleanup() }
        _ = try h.connection.waitReady(timeout: 10)
        try h.connection.sendMetadata(Metadata(initImage: true, hostname: "base"))
        #expect(h.waitExit() == 0)
        #expect(try String(contentsOfFile: root + "/marker", encoding: .utf8) == "image init ran as \(root)/sbin/init\n")
        #expect(try String(contentsOfFile: root + "/etc/hostname", encoding: .utf8) == "base\n")
    }
}
