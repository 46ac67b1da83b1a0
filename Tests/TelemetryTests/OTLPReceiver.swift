import Foundation

/// A minimal OTLP/HTTP collector for tests: HTTP/1.1 on 127.0.0.1 (free port), accepts
/// POST /v1/traces with a protobuf body, decodes just enough of the OTLP wire format to
/// check span trees, and answers 200 with an empty ExportTraceServiceResponse.
final class OTLPReceiver: @unchecked Sendable {
    struct Span: Equatable {
        var traceID: String
        var spanID: String
        var parentSpanID: String
        var name: String
        var statusCode: Int
        var statusMessage: String
        var attributes: [String: String]
        var events: [String]
        /// start_time_unix_nano / end_time_unix_nano.
        var startNanos: UInt64 = 0
        var endNanos: UInt64 = 0
    }

    private(set) var port: UInt16 = 0
    /// Seconds to wait (after recording the request) before answering: a slow collector.
    var answerDelay: TimeInterval = 0
    private let fd: Int32
    private let lock = NSLock()
    private var received: [Span] = []
    private var requests: [(path: String, contentType: String)] = []
    private var rawBodies: [[UInt8]] = []
    private var rawHeaders: [[String: String]] = []
    private var stopped = false

    init() throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else { close(fd); throw POSIXError(.EADDRINUSE) }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        port = UInt16(bigEndian: addr.sin_port)
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    var spans: [Span] { lock.lock(); defer { lock.unlock() }; return received }
    var paths: [String] { lock.lock(); defer { lock.unlock() }; return requests.map(\.path) }
    var contentTypes: [String] { lock.lock(); defer { lock.unlock() }; return requests.map(\.contentType) }
    /// Request bodies and headers (lower-cased names) as received, one per request.
    var bodies: [[UInt8]] { lock.lock(); defer { lock.unlock() }; return rawBodies }
    var headers: [[String: String]] { lock.lock(); defer { lock.unlock() }; return rawHeaders }

    func stop() {
        lock.lock(); stopped = true; lock.unlock()
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }

    private func acceptLoop() {
        while true {
            let client = accept(fd, nil, nil)
            if client < 0 {
                lock.lock(); let s = stopped; lock.unlock()
                if s { return }
                continue
            }
            Thread.detachNewThread { [self] in serve(client) }
        }
    }

    /// Serves requests on one keep-alive connection until the client closes it.
    private func serve(_ client: Int32) {
        defer { close(client) }
        var buffer = [UInt8]()
        func fill() -> Bool {
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = read(client, &chunk, chunk.count)
            if n <= 0 { return false }
            buffer += chunk[0..<n]
            return true
        }
        while true {
            var headerEnd: Int?
            while headerEnd == nil {
                headerEnd = find([13, 10, 13, 10], in: buffer)
                if headerEnd == nil && !fill() { return }
            }
            let head = String(decoding: buffer[0..<headerEnd!], as: UTF8.self)
            buffer.removeFirst(headerEnd! + 4)
            let lines = head.components(separatedBy: "\r\n")
            let requestLine = lines.first?.split(separator: " ") ?? []
            var headers: [String: String] = [:]
            for line in lines.dropFirst() {
                if let c = line.firstIndex(of: ":") {
                    headers[line[..<c].lowercased()] = line[line.index(after: c)...].trimmingCharacters(in: .whitespaces)
                }
            }
            var body = [UInt8]()
            if headers["transfer-encoding"]?.lowercased() == "chunked" {
                while true {
                    var lineEnd = find([13, 10], in: buffer)
                    while lineEnd == nil { if !fill() { return }; lineEnd = find([13, 10], in: buffer) }
                    let size = Int(String(decoding: buffer[0..<lineEnd!], as: UTF8.self), radix: 16) ?? 0
                    buffer.removeFirst(lineEnd! + 2)
                    while buffer.count < size + 2 { if !fill() { return } }
                    body += buffer[0..<size]
                    buffer.removeFirst(size + 2)
                    if size == 0 { break }
                }
            } else {
                let length = Int(headers["content-length"] ?? "0") ?? 0
                while buffer.count < length { if !fill() { return } }
                body = Array(buffer[0..<length])
                buffer.removeFirst(length)
            }
            let path = requestLine.count > 1 ? String(requestLine[1]) : ""
            let decoded = OTLPWire.spans(fromExportRequest: body)
            lock.lock()
            requests.append((path, headers["content-type"] ?? ""))
            rawBodies.append(body)
            rawHeaders.append(headers)
            received += decoded
            lock.unlock()
            if answerDelay > 0 { usleep(useconds_t(answerDelay * 1_000_000)) }
            let response = "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n"
            _ = response.withCString { write(client, $0, strlen($0)) }
        }
    }

    private func find(_ needle: [UInt8], in hay: [UInt8]) -> Int? {
        guard hay.count >= needle.count else { return nil }
        for i in 0...(hay.count - needle.count) where hay[i] == needle[0] {
            if Array(hay[i..<(i + needle.count)]) == needle { return i }
        }
        return nil
    }
}

/// Just enough protobuf wire-format decoding for ExportTraceServiceRequest (opentelemetry-proto
/// trace/v1): request.1 ResourceSpans → .2 ScopeSpans → .2 Span.
enum OTLPWire {
    enum Value { case varint(UInt64), bytes([UInt8]), fixed, fixed64(UInt64) }

    /// Splits a message into (field number, value) pairs; nil on malformed input.
    static func fields(_ b: [UInt8]) -> [(Int, Value)]? {
        var out: [(Int, Value)] = []
        var i = 0
        func varint() -> UInt64? {
            var result: UInt64 = 0, shift: UInt64 = 0
            while i < b.count {
                let byte = b[i]; i += 1
                result |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 { return result }
                shift += 7
                if shift > 63 { return nil }
            }
            return nil
        }
        while i < b.count {
            guard let key = varint() else { return nil }
            let field = Int(key >> 3)
            switch key & 7 {
            case 0: guard let v = varint() else { return nil }; out.append((field, .varint(v)))
            case 1:
                guard i + 8 <= b.count else { return nil }
                var v: UInt64 = 0
                for k in 0..<8 { v |= UInt64(b[i + k]) << (8 * UInt64(k)) }  // little-endian
                i += 8
                out.append((field, .fixed64(v)))
            case 5: i += 4; out.append((field, .fixed))
            case 2:
                guard let len = varint(), i + Int(len) <= b.count else { return nil }
                out.append((field, .bytes(Array(b[i..<(i + Int(len))]))))
                i += Int(len)
            default: return nil
            }
        }
        return i == b.count ? out : nil
    }

    static func messages(_ b: [UInt8], _ number: Int) -> [[UInt8]] {
        (fields(b) ?? []).compactMap { f, v in
            if f == number, case .bytes(let m) = v { return m }
            return nil
        }
    }

    static func hex(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }
    static func string(_ b: [UInt8]) -> String { String(decoding: b, as: UTF8.self) }

    static func spans(fromExportRequest body: [UInt8]) -> [OTLPReceiver.Span] {
        var out: [OTLPReceiver.Span] = []
        for resourceSpans in messages(body, 1) {
            for scopeSpans in messages(resourceSpans, 2) {
                for s in messages(scopeSpans, 2) {
                    var span = OTLPReceiver.Span(traceID: "", spanID: "", parentSpanID: "", name: "", statusCode: 0,
                                                 statusMessage: "", attributes: [:], events: [])
                    for (f, v) in fields(s) ?? [] {
                        if case .fixed64(let t) = v {
                            if f == 7 { span.startNanos = t }
                            if f == 8 { span.endNanos = t }
                            continue
                        }
                        guard case .bytes(let m) = v else { continue }
                        switch f {
                        case 1: span.traceID = hex(m)
                        case 2: span.spanID = hex(m)
                        case 4: span.parentSpanID = hex(m)
                        case 5: span.name = string(m)
                        case 9:  // KeyValue { key = 1; AnyValue value = 2 }
                            let kv = fields(m) ?? []
                            var key = "", value = ""
                            for (kf, kvv) in kv {
                                guard case .bytes(let x) = kvv else { continue }
                                if kf == 1 { key = string(x) }
                                if kf == 2 {
                                    for (af, av) in fields(x) ?? [] {
                                        switch (af, av) {
                                        case (1, .bytes(let sv)): value = string(sv)
                                        case (2, .varint(let n)): value = n != 0 ? "true" : "false"
                                        case (3, .varint(let n)): value = String(Int64(bitPattern: n))
                                        default: break
                                        }
                                    }
                                }
                            }
                            span.attributes[key] = value
                        case 11:  // Event { time = 1; name = 2 }
                            for (ef, ev) in fields(m) ?? [] { if ef == 2, case .bytes(let n) = ev { span.events.append(string(n)) } }
                        case 15:  // Status { message = 2; code = 3 }
                            for (sf, sv) in fields(m) ?? [] {
                                if sf == 2, case .bytes(let t) = sv { span.statusMessage = string(t) }
                                if sf == 3, case .varint(let c) = sv { span.statusCode = Int(c) }
                            }
                        default: break
                        }
                    }
                    out.append(span)
                }
            }
        }
        return out
    }
}
