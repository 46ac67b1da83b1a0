import FirebuildCore
import Foundation

/// HTTP/1.1 over a Unix socket, one request per connection (`Connection: close`), which is all the
/// Firecracker API needs: small JSON bodies, answers with Content-Length or none.
public struct UnixHTTPTransport: FirecrackerTransport {
    public var timeout: TimeInterval

    public init(timeout: TimeInterval = 10) {
        self.timeout = timeout
    }

    public func send(_ request: FirecrackerAPI.Request, socketPath: String) throws -> FirecrackerAPI.Response {
        let fd = try UnixSocket.connect(socketPath, timeout: timeout)
        defer { close(fd) }
        UnixSocket.setTimeout(fd, seconds: timeout)
        var head = "\(request.method) \(request.path) HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\nConnection: close\r\n"
        if let body = request.body {
            head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n"
        }
        head += "\r\n"
        var out = Data(head.utf8)
        if let body = request.body { out.append(body) }
        try UnixSocket.writeAll(fd, out)
        return try Self.readResponse(fd)
    }

    static func readResponse(_ fd: Int32) throws -> FirecrackerAPI.Response {
        var buffer = Data()
        var chunk = [UInt8](repeating: 0, count: 4096)
        let separator = Data("\r\n\r\n".utf8)
        var headerEnd: Range<Data.Index>?
        var contentLength: Int?
        var status = 0
        while true {
            if headerEnd == nil, let r = buffer.range(of: separator) {
                headerEnd = r
                let lines = String(decoding: buffer[..<r.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
                let parts = lines.first?.split(separator: " ") ?? []
                guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let code = Int(parts[1]) else {
                    throw FirebuildError(.parse, "malformed HTTP status line: \(lines.first ?? "")")
                }
                status = code
                for line in lines.dropFirst() {
                    let kv = line.split(separator: ":", maxSplits: 1)
                    if kv.count == 2, kv[0].lowercased() == "content-length" {
                        contentLength = Int(kv[1].trimmingCharacters(in: .whitespaces))
                    }
                }
                // 204 and 1xx carry no body.
                if status == 204 || status == 304 || (100..<200).contains(status) { contentLength = 0 }
            }
            if let h = headerEnd, let len = contentLength, buffer.count - h.upperBound >= len {
                return FirecrackerAPI.Response(status: status, body: buffer[h.upperBound..<(h.upperBound + len)])
            }
            let n = recv(fd, &chunk, chunk.count, 0)
            if n < 0 {
                if errno == EINTR { continue }
                throw FirebuildError(.io, "reading HTTP response: \(String(cString: strerror(errno)))")
            }
            if n == 0 {
                guard let h = headerEnd else { throw FirebuildError(.io, "connection closed before an HTTP response arrived") }
                return FirecrackerAPI.Response(status: status, body: buffer[h.upperBound...])
            }
            buffer.append(contentsOf: chunk[0..<n])
        }
    }
}
