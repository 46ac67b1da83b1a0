import FirebuildCore
import Foundation
import HTTP

/// Sends one OTLP/HTTP request. Plain `http://` collectors (the usual local agent or
/// collector) get a minimal HTTP/1.1 POST over a socket of our own: libcurl's global init
/// alone (OpenSSL) costs ~0.5 ms, 2.5 % of a 20 ms `firebuild ls`, for a request that needs no
/// TLS, redirects or proxies. `https://` goes through the HTTP module (libcurl).
enum OTLPPost {
    struct Endpoint: Sendable {
        var url: String
        var headers: [(String, String)]
        /// Parsed once, when tracing starts; nil only for a URL the options did not check.
        var parsed: CollectorURL?

        init(url: String, headers: [(String, String)]) {
            self.url = url
            self.headers = headers
            parsed = CollectorURL(url)
        }
    }

    /// POSTs `body` and returns the HTTP status; throws FirebuildError(.network) when the
    /// collector cannot be reached or does not answer within `timeout`.
    ///
    /// With `answerWait` (plain http only), the answer is awaited only that long once the
    /// request is sent: nil then means "handed to the kernel, answer not awaited". On loopback
    /// the whole request is in the collector's socket buffer when `send` returns, and the
    /// kernel finishes delivery after we close (the collector answers only after reading it,
    /// so closing never resets an unread request). What is lost is the HTTP status.
    static func send(_ body: [UInt8], to endpoint: Endpoint, timeout: TimeInterval,
                     answerWait: TimeInterval? = nil) throws -> Int? {
        var headers = endpoint.headers
        headers.append(("Content-Type", "application/x-protobuf"))
        guard let url = endpoint.parsed else {
            throw FirebuildError(.invalidArgument, "tracing: \"\(endpoint.url)\" is not an http(s) URL")
        }
        if url.secure {
            let request = HTTPRequest(method: "POST", url: endpoint.url, headers: headers, body: Data(body),
                                      timeout: timeout, connectTimeout: timeout, followRedirects: false)
            return try HTTPClient.shared.send(request).status
        }
        var head = "POST \(url.target.isEmpty ? "/" : url.target) HTTP/1.1\r\nHost: \(url.hostHeader)\r\n"
        head += "User-Agent: firebuild/\(FirebuildVersion.current)\r\nContent-Length: \(body.count)\r\nConnection: close\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        let deadline = Date().addingTimeInterval(timeout)
        let what = "POST \(endpoint.url)"
        let socket = try PlainSocket(host: url.connectHost, port: url.connectPort, deadline: deadline, what: what)
        defer { socket.close() }
        try socket.write(Array(head.utf8) + body, deadline: deadline, what: what)
        let answerDeadline = answerWait.map { min(deadline, Date().addingTimeInterval($0)) }
        return try socket.readStatus(deadline: answerDeadline ?? deadline, what: what, timeoutIsAnAnswer: answerWait != nil)
    }
}

/// A blocking-with-deadline TCP client socket (non-blocking fd + poll).
struct PlainSocket {
    let fd: Int32

    init(host: String, port: Int, deadline: Date, what: String) throws {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            throw FirebuildError(.network, "\(what): cannot resolve \(host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(list) }
        var lastError: Int32 = ECONNREFUSED
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        while let ai = candidate {
            candidate = ai.pointee.ai_next
            let fd = socket(ai.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { lastError = errno; continue }
            if connect(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 { self.fd = fd; return }
            if errno == EINPROGRESS, Self.wait(fd, Int16(POLLOUT), deadline) {
                var error: Int32 = 0
                var len = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len)
                if error == 0 { self.fd = fd; return }
                lastError = error
            } else {
                lastError = errno == EINPROGRESS ? ETIMEDOUT : errno
            }
            Glibc.close(fd)
        }
        throw FirebuildError(.network, "\(what): cannot connect to \(host):\(port): \(String(cString: strerror(lastError)))")
    }

    func write(_ bytes: [UInt8], deadline: Date, what: String) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            let error = errno
            if n > 0 { offset += n; continue }
            if n < 0, error == EINTR { continue }
            if n < 0, error == EAGAIN {
                if Self.wait(fd, Int16(POLLOUT), deadline) { continue }
                throw FirebuildError(.network, "\(what): sending timed out")
            }
            throw FirebuildError(.network, "\(what): sending failed: \(String(cString: strerror(error)))")
        }
    }

    /// Reads up to the end of the status line and returns the status code; nil when the
    /// deadline passes and `timeoutIsAnAnswer` (the caller chose not to wait longer).
    func readStatus(deadline: Date, what: String, timeoutIsAnAnswer: Bool = false) throws -> Int? {
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1024)
        while !received.contains(10) {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            let error = errno
            if n > 0 { received += chunk[0..<n]; continue }
            if n < 0, error == EINTR { continue }
            if n < 0, error == EAGAIN {
                if Self.wait(fd, Int16(POLLIN), deadline) { continue }
                if timeoutIsAnAnswer && received.isEmpty { return nil }
            }
            let reason = n == 0 ? "connection closed without an answer"
                : error == EAGAIN ? "no answer in time" : String(cString: strerror(error))
            throw FirebuildError(.network, "\(what): \(reason)")
        }
        let line = String(decoding: received.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self)
        let parts = line.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), let status = Int(parts[1]) else {
            throw FirebuildError(.network, "\(what): not an HTTP answer: \"\(line.prefix(80))\"")
        }
        return status
    }

    func close() { Glibc.close(fd) }

    /// Waits for `events` until `deadline`; false on timeout or error.
    static func wait(_ fd: Int32, _ events: Int16, _ deadline: Date) -> Bool {
        while true {
            let ms = Int32(max(0, min(Double(Int32.max), deadline.timeIntervalSinceNow * 1000)).rounded(.up))
            var p = pollfd(fd: fd, events: events, revents: 0)
            let rc = poll(&p, 1, ms)
            if rc < 0, errno == EINTR { continue }
            return rc > 0
        }
    }
}
