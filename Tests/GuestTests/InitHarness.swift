import Foundation
import Glibc
@testable import Guest

/// Runs the dynamically linked `firebuild-init` in test mode (`--channel-fd 3 --no-pid1 --root DIR`)
/// with one end of a socketpair as its channel, and a GuestConnection on the other end.
final class InitHarness {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// The built init, or nil (the test then skips with a message).
    static var binary: String? {
        let env = ProcessInfo.processInfo.environment["FIREBUILD_INIT_BIN"]
        let candidates = [env, "\(packageRoot)/.build/debug/firebuild-init",
                          "\(packageRoot)/.build/x86_64-unknown-linux-gnu/debug/firebuild-init"].compactMap { $0 }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    let root: String
    let pid: pid_t
    let connection: GuestConnection

    init(root: String? = nil, extraArgs: [String] = []) throws {
        guard let bin = InitHarness.binary else { throw GuestError(.notFound, "firebuild-init not built") }
        self.root = try root ?? InitHarness.makeRoot()
        var sv: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &sv) == 0 else {
            throw GuestError.posix("socketpair")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, sv[1], 3)
        let args = [bin, "--channel-fd", "3", "--no-pid1", "--quiet", "--root", self.root] + extraArgs
        let cArgs = args.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, bin, &actions, nil, cArgs, environ)
        close(sv[1])
        guard rc == 0 else { close(sv[0]); throw GuestError.posix("posix_spawn", bin, errno: rc) }
        pid = child
        connection = try GuestConnection(fd: sv[0])
    }

    /// A fake image root with /etc/passwd and /etc/group (user app = 1234:1234, member of extra 2345).
    static func makeRoot() throws -> String {
        let dir = NSTemporaryDirectory() + "fbinit-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir + "/etc", withIntermediateDirectories: true)
        try "root:x:0:0:root:/root:/bin/sh\napp:x:1234:1234:App:/home/app:/bin/sh\n"
            .write(toFile: dir + "/etc/passwd", atomically: true, encoding: .utf8)
        try "root:x:0:\napp:x:1234:\nextra:x:2345:app\n".write(toFile: dir + "/etc/group", atomically: true, encoding: .utf8)
        return dir
    }

    /// Waits for the init process to exit; returns its exit code (-1 on timeout, after SIGKILL).
    func waitExit(timeout: Double = 20) -> Int32 {
        let deadline = Posix.now() + timeout
        var status: Int32 = 0
        while Posix.now() < deadline {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { return (status & 0x7f) == 0 ? (status >> 8) & 0xff : -(status & 0x7f) }
            usleep(20_000)
        }
        kill(pid, SIGKILL)
        _ = waitpid(pid, &status, 0)
        return -1
    }

    func cleanup() {
        connection.close()
        if waitpid(pid, nil, WNOHANG) == 0 { kill(pid, SIGKILL); _ = waitpid(pid, nil, 0) }
        try? FileManager.default.removeItem(atPath: root)
    }
}

/// Collects output from the reader thread.
final class OutputSink: @unchecked Sendable {
    private let lock = NSLock()
    private var out: [UInt8] = [], err: [UInt8] = []
    func add(_ s: GuestStream, _ b: [UInt8]) { lock.lock(); if s == .stdout { out += b } else { err += b }; lock.unlock() }
    var stdout: String { lock.lock(); defer { lock.unlock() }; return String(decoding: out, as: UTF8.self) }
    var stderr: String { lock.lock(); defer { lock.unlock() }; return String(decoding: err, as: UTF8.self) }
}
