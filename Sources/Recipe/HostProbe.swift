import FirebuildCore
import Foundation
import Networking

/// Host-side TCP checks and a minimal HTTP/1.0 GET, optionally from inside a network namespace
/// (the sandbox standing in for the host, where the VM bridge lives). Plain sockets: a recipe only
/// needs "is it listening" and "what does it answer", and the namespace switch must stay on one thread.
public enum HostProbe {
    /// One connection attempt to `host:port` within `timeout` seconds.
    public static func canConnect(host: String, port: Int, timeout: TimeInterval, netns: String?) throws -> Bool {
        try inNamespace(netns) {
            guard let fd = try? connect(host: host, port: port, timeout: timeout) else { return false }
            close(fd)
            return true
        }
    }

    /// Retries `canConnect` until it succeeds or `timeout` passes; returns the seconds waited.
    public static func waitForPort(host: String, port: Int, timeout: TimeInterval, netns: String?) throws -> TimeInterval {
        let start = Date()
        while true {
            let left = timeout - Date().timeIntervalSince(start)
            if try canConnect(host: host, port: port, timeout: max(0.2, min(2, left)), netns: netns) {
                return Date().timeIntervalSince(start)
            }
            if Date().timeIntervalSince(start) >= timeout {
                throw FirebuildError(.timeout, "nothing accepted TCP connections on \(host):\(port) within \(Int(timeout)) s"
                    + (netns.map { " (connecting from network namespace \($0))" } ?? ""))
            }
            usleep(200_000)
        }
    }

    public struct HTTPResponse: Sendable {
        public var status: Int
        public var headers: [String: String]
        public var body: Data
    }

    /// `GET url` over HTTP/1.0 (no TLS): status, headers (lowercased names) and body.
    public static func get(url: String, timeout: TimeInterval, netns: String?, headers: [String: String] = [:]) throws -> HTTPResponse {
        guard let u = URL(string: url), u.scheme == "http", let host = u.host else {
            throw FirebuildError(.invalidArgument, "firebuild.http.get: \"\(url)\" is not an http:// URL (https is not supported here; use vm:exec with wget or curl)")
        }
        let port = u.port ?? 80
        var path = u.path.isEmpty ? "/" : u.path
        if let q = u.query { path += "?" + q }
        var request = "GET \(path) HTTP/1.0\r\nHost: \(host)\(u.port.map { ":\($0)" } ?? "")\r\nUser-Agent: firebuild-recipe\r\nConnection: close\r\n"
        for (k, v) in headers.sorted(by: { $0.key < $1.key }) { request += "\(k): \(v)\r\n" }
        request += "\r\n"
        let raw: Data = try inNamespace(netns) {
            let fd = try connect(host: host, port: port, timeout: timeout)
            defer { close(fd) }
            var tv = timeval(tv_sec: Int(timeout), tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            let bytes = Array(request.utf8)
            var sent = 0
            while sent < bytes.count {
                let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                guard n > 0 else { throw FirebuildError(.network, "sending the request to \(host):\(port) failed: \(String(cString: strerror(errno)))") }
                sent += n
            }
            var out = Data()
            var buffer = [UInt8](repeating: 0, count: 65536)
            while out.count < 64 << 20 {
                let n = recv(fd, &buffer, buffer.count, 0)
                if n == 0 { break }
                guard n > 0 else { throw FirebuildError(.timeout, "reading the answer of \(url) failed: \(String(cString: strerror(errno)))") }
                out.append(contentsOf: buffer[0..<n])
            }
            return out
        }
        return try parse(raw, url: url)
    }

    static func parse(_ raw: Data, url: String) throws -> HTTPResponse {
        guard let end = raw.range(of: Data("\r\n\r\n".utf8)) else {
            throw FirebuildError(.network, "\(url) answered something that is not HTTP (\(raw.count) bytes without a header end)")
        }
        let head = String(decoding: raw[raw.startIndex..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = head.first?.split(separator: " ") ?? []
        guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/"), let status = Int(statusParts[1]) else {
            throw FirebuildError(.network, "\(url) answered with an invalid status line \"\(head.first ?? "")\"")
        }
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return HTTPResponse(status: status, headers: headers, body: Data(raw[end.upperBound...]))
    }

    static func inNamespace<T>(_ netns: String?, _ body: @escaping () throws -> T) throws -> T {
        guard let netns else { return try body() }
        let ns = try NetworkNamespace(name: netns)
        guard ns.exists else { throw FirebuildError(.notFound, "network namespace \(netns) does not exist") }
        return try ns.perform(body)
    }

    /// A connected TCP socket (IPv4 literal or a name resolved by getaddrinfo) within `timeout`.
    static func connect(host: String, port: Int, timeout: TimeInterval) throws -> Int32 {
        guard (1...65535).contains(port) else { throw FirebuildError(.invalidArgument, "port \(port) is out of range 1-65535") }
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            throw FirebuildError(.network, "cannot resolve \(host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(list) }
        let fd = socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw FirebuildError.posix("socket", path: host) }
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        if Glibc.connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) != 0 {
            guard errno == EINPROGRESS else {
                let e = errno
                close(fd)
                throw FirebuildError(.network, "connecting to \(host):\(port): \(String(cString: strerror(e)))")
            }
            var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let ready = poll(&pfd, 1, Int32(max(1, timeout * 1000)))
            var err: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
            guard ready > 0, err == 0 else {
                close(fd)
                throw FirebuildError(ready == 0 ? .timeout : .network,
                                     "connecting to \(host):\(port): \(ready == 0 ? "timed out" : String(cString: strerror(err)))")
            }
        }
        _ = fcntl(fd, F_SETFL, flags)
        return fd
    }
}
