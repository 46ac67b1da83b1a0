import FirebuildCore
import Foundation
import HTTP

/// A throwaway `docker-registry` (distribution 2.8) on 127.0.0.1 and a free port, with its
/// own config and storage in a temp dir. Optional htpasswd auth (`htpasswd -Bbn`), or a
/// Unix socket listener instead of TCP. `stop()` kills it and removes everything.
final class TestRegistry: @unchecked Sendable {
    let dir: TempDir
    let port: Int
    let socketPath: String?
    private let process: Process

    static var available: Bool { tool("docker-registry") }
    var host: String { "127.0.0.1:\(port)" }
    var storageRoot: String { dir.path + "/data" }

    init(auth: (user: String, password: String)? = nil, unixSocket: Bool = false) throws {
        dir = try TempDir("registry")
        port = try TestRegistry.freePort()
        socketPath = unixSocket ? dir.path + "/registry.sock" : nil
        var config = """
        version: 0.1
        log:
          level: error
          accesslog:
            disabled: true
        storage:
          filesystem:
            rootdirectory: \(dir.path)/data
          delete:
            enabled: true
        http:

        """
        if let socketPath {
            config += "  net: unix\n  addr: \(socketPath)\n"
        } else {
            config += "  addr: 127.0.0.1:\(port)\n"
        }
        if let auth {
            let line = try Command("htpasswd", ["-Bbn", auth.user, auth.password]).check().stdoutString
            try AtomicFile.write(line, to: dir.path + "/htpasswd")
            config += "auth:\n  htpasswd:\n    realm: fbtest\n    path: \(dir.path)/htpasswd\n"
        }
        try AtomicFile.write(config, to: dir.path + "/config.yml")
        process = Process()
        process.executableURL = URL(fileURLWithPath: Command.which("docker-registry") ?? "/usr/bin/docker-registry")
        process.arguments = ["serve", dir.path + "/config.yml"]
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        let log = dir.path + "/registry.log"
        FileManager.default.createFile(atPath: log, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: log)
        try process.run()
        try waitUntilReady()
    }

    private func waitUntilReady() throws {
        let client = HTTPClient()
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            guard process.isRunning else { break }
            let request = HTTPRequest(url: socketPath != nil ? "http://localhost/v2/" : "http://\(host)/v2/",
                                      unixSocketPath: socketPath, timeout: 2)
            if let r = try? client.send(request), r.status == 200 || r.status == 401 { return }
            usleep(50_000)
        }
        let log = (try? String(contentsOfFile: dir.path + "/registry.log", encoding: .utf8)) ?? ""
        stop()
        throw FirebuildError(.timeout, "docker-registry did not come up: \(log)")
    }

    func stop() {
        if process.isRunning {
            // SIGKILL: children of the test runner may inherit a mask that blocks SIGTERM, and
            // the registry's state is thrown away anyway.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        dir.cleanup()
    }

    /// Binds port 0 on loopback to let the kernel pick a free port.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw FirebuildError.posix("socket", path: "127.0.0.1") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bind(fd, sa, len) == 0 && getsockname(fd, sa, &len) == 0
            }
        }
        guard ok else { throw FirebuildError.posix("bind", path: "127.0.0.1:0") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}
