import FirebuildCore
import Foundation
import Testing
@testable import VM

@Suite struct GuestChannelTests {
    /// Listens on `path` and serves one connection with `body` on a background thread.
    func serveOnce(_ path: String, _ body: @escaping @Sendable (Int32) -> Void) throws -> Thread {
        let listener = try GuestChannel.listenForGuest(udsPath: path, port: 1)  // binds "<path>_1"
        let t = Thread {
            if let fd = try? GuestChannel.acceptGuest(listener, timeout: 10) {
                body(fd)
                close(fd)
            }
            close(listener)
        }
        t.start()
        return t
    }

    @Test func hybridVsockHandshake() throws {
        let dir = Fixtures.tempDir("vsock")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A stand-in for Firecracker's vsock muxer: reads CONNECT <port>, answers OK, then echoes a line.
        _ = try serveOnce(dir + "/v.sock") { fd in
            guard let line = try? UnixSocket.readLine(fd), line == "CONNECT 10789" else {
                try? UnixSocket.writeAll(fd, Data("NO\n".utf8)); return
            }
            try? UnixSocket.writeAll(fd, Data("OK 1073741824\n".utf8))
            if let msg = try? UnixSocket.readLine(fd) { try? UnixSocket.writeAll(fd, Data("echo:\(msg)\n".utf8)) }
        }
        let channel = GuestChannel.hybridVsock(udsPath: dir + "/v.sock_1", port: GuestChannel.defaultVsockPort)
        let fd = try channel.connect(timeout: 5)
        defer { close(fd) }
        UnixSocket.setTimeout(fd, seconds: 5)
        try UnixSocket.writeAll(fd, Data("ping\n".utf8))
        #expect(try UnixSocket.readLine(fd) == "echo:ping")
    }

    @Test func hybridVsockRefusalIsAnError() throws {
        let dir = Fixtures.tempDir("vsockno")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try serveOnce(dir + "/v.sock") { fd in
            _ = try? UnixSocket.readLine(fd)
            try? UnixSocket.writeAll(fd, Data("NOPE\n".utf8))
        }
        let channel = GuestChannel.hybridVsock(udsPath: dir + "/v.sock_1", port: 5)
        #expect(throws: FirebuildError.self) { try channel.connect(timeout: 0.5) }
    }

    @Test func guestInitiatedAcceptTimesOut() throws {
        let dir = Fixtures.tempDir("vsockto")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let l = try GuestChannel.listenForGuest(udsPath: dir + "/v.sock")
        defer { close(l) }
        #expect(FileManager.default.fileExists(atPath: dir + "/v.sock_\(GuestChannel.defaultVsockPort)"))
        #expect(throws: FirebuildError.self) { try GuestChannel.acceptGuest(l, timeout: 0.1) }
    }

    @Test func channelForHandles() {
        let h = VMHandle(id: "x", vmm: .firecracker, pid: 1, processStartTime: nil, runDirectory: "/r", controlSocket: "/c",
                         consoleLogPath: "/l", channelSocketPath: "/j/run/vsock.sock", vmmLogPath: "/v", accelerator: "kvm",
                         jailDirectory: "/j", startedAt: Date())
        #expect(GuestChannel.forHandle(h) == .hybridVsock(udsPath: "/j/run/vsock.sock", port: 10789))
        #expect(GuestChannel.kernelParameters(for: .qemu).map { "\($0.0)=\($0.1)" } == ["firebuild.channel=virtio-serial", "firebuild.port=firebuild.0"])
    }
}
