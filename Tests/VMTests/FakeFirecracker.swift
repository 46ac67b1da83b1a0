import FirebuildCore
import Foundation
@testable import VM

/// A fake Firecracker API server on a Unix socket: records each request and answers as Firecracker
/// does (204 for PUTs, InstanceInfo for GET /). It binds only once `startWhenExists` appears, so the
/// driver sees the socket come up after it started the (fake) jailer, as with the real one.
final class FakeFirecracker: @unchecked Sendable {
    struct Recorded: Equatable {
        var method: String
        var path: String
        var body: Data
        var headers: [String: String]
    }

    let socketPath: String
    private let lock = NSLock()
    private var recorded: [Recorded] = []
    private var stopped = false
    private let done = DispatchSemaphore(value: 0)

    init(socketPath: String, startWhenExists marker: String) {
        self.socketPath = socketPath
        Thread.detachNewThread { [self] in
            run(marker: marker)
            done.signal()
        }
    }

    var requests: [Recorded] {
        lock.lock(); defer { lock.unlock() }
        return recorded
    }

    /// Blocks until the socket accepts connections (5 s at most).
    func waitUntilListening() {
        if let fd = try? UnixSocket.connect(socketPath, timeout: 5) { close(fd) }
    }

    func stop() {
        lock.lock(); stopped = true; lock.unlock()
        done.wait()
    }

    private var isStopped: Bool { lock.lock(); defer { lock.unlock() }; return stopped }

    private func run(marker: String) {
        while !FileManager.default.fileExists(atPath: marker) {
            if isStopped { return }
            usleep(10_000)
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd); unlink(socketPath) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            let b = Array(socketPath.utf8); raw.copyBytes(from: b); raw[b.count] = 0
        }
        unlink(socketPath)
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard ok == 0, listen(fd, 8) == 0 else { return }
        while !isStopped {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 50) > 0 else { continue }
            let client = accept(fd, nil, nil)
            guard client >= 0 else { continue }
            handle(client)
            close(client)
        }
    }

    private func handle(_ fd: Int32) {
        UnixSocket.setTimeout(fd, seconds: 5)
        var buffer = Data()
        var chunk = [UInt8](repeating: 0, count: 4096)
        let sep = Data("\r\n\r\n".utf8)
        while buffer.range(of: sep) == nil {
            let n = recv(fd, &chunk, chunk.count, 0)
            guard n > 0 else { return }
            buffer.append(contentsOf: chunk[0..<n])
        }
        let headEnd = buffer.range(of: sep)!
        let lines = String(decoding: buffer[..<headEnd.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let start = lines[0].split(separator: " ")
        var headers: [String: String] = [:]
        for l in lines.dropFirst() {
            let kv = l.split(separator: ":", maxSplits: 1)
            if kv.count == 2 { headers[kv[0].lowercased()] = kv[1].trimmingCharacters(in: .whitespaces) }
        }
        let length = Int(headers["content-length"] ?? "0") ?? 0
        var body = Data(buffer[headEnd.upperBound...])
        while body.count < length {
            let n = recv(fd, &chunk, chunk.count, 0)
            guard n > 0 else { break }
            body.append(contentsOf: chunk[0..<n])
        }
        let rec = Recorded(method: String(start[0]), path: String(start[1]), body: body, headers: headers)
        lock.lock(); recorded.append(rec); lock.unlock()
        let reply: String
        if rec.method == "GET" && rec.path == "/" {
            let json = #"{"app_name":"Firecracker","id":"fake","state":"Running","vmm_version":"1.10.1"}"#
            reply = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(json.utf8.count)\r\nConnection: close\r\n\r\n\(json)"
        } else if rec.path == "/drives/bad" {
            let json = #"{"fault_message":"The drive is bad"}"#
            reply = "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: \(json.utf8.count)\r\nConnection: close\r\n\r\n\(json)"
        } else {
            reply = "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"
        }
        try? UnixSocket.writeAll(fd, Data(reply.utf8))
    }
}
