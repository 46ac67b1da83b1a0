import CCurl
import CCurlShim
import FirebuildCore
import Foundation

/// HTTP over libcurl. Each call uses its own easy handle, so one client can be shared by
/// threads (parallel layer downloads each run their own transfer).
///
/// Behaviour every caller relies on:
/// - proxies come from the environment (`http_proxy`, `https_proxy`, `no_proxy`), but loopback
///   is never proxied (a test registry on 127.0.0.1 must not go through a corporate proxy);
/// - redirects are followed, and credentials (including a custom `Authorization` header) are
///   not forwarded to another host (`CURLOPT_UNRESTRICTED_AUTH` stays 0; registries redirect
///   blobs to object stores that reject foreign credentials);
/// - transport failures become `FirebuildError(.network, "GET <url>: <reason>")`.
public final class HTTPClient: @unchecked Sendable {
    public var userAgent: String

    public init(userAgent: String = "firebuild/\(FirebuildVersion.current)") {
        HTTPClient.globalInit
        self.userAgent = userAgent
    }

    public static let shared = HTTPClient()

    // curl_global_init is not thread-safe and must run once before any handle exists; a
    // static let is initialised exactly once, under a lock, by the Swift runtime.
    private static let globalInit: Void = {
        curl_global_init(Int(CURL_GLOBAL_DEFAULT))
    }()

    /// Sends a request and returns the whole response in memory (APIs, manifests, tokens).
    public func send(_ request: HTTPRequest) throws -> HTTPResponse {
        let transfer = Transfer(sink: nil)
        return try perform(request, transfer: transfer, totalTimeout: true)
    }

    /// Streams a 2xx body into `path` (created or truncated when the answer is a 2xx),
    /// calling `onChunk` for each piece (hash while downloading) and `progress(received, total)`.
    /// A non-2xx answer leaves `path` untouched and returns the status with its error body.
    @discardableResult
    public func download(_ request: HTTPRequest, to path: String,
                         onChunk: ((UnsafeRawBufferPointer) -> Void)? = nil,
                         progress: ((Int64, Int64?) -> Void)? = nil) throws -> HTTPResponse {
        var fd: Int32 = -1
        defer { if fd >= 0 { close(fd) } }
        func openFile() throws {
            if fd < 0 {
                fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
                guard fd >= 0 else { throw FirebuildError.posix("create", path: path) }
            }
        }
        let response = try stream(request, body: { chunk in
            try openFile()
            var offset = 0
            while offset < chunk.count {
                let n = write(fd, chunk.baseAddress! + offset, chunk.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FirebuildError.posix("write", path: path)
                }
                offset += n
            }
            onChunk?(chunk)
        }, progress: progress)
        if response.isSuccess { try openFile() }   // an empty 2xx body is an empty file
        return response
    }

    /// Hands a 2xx body to `body` piece by piece (nothing kept in memory); a thrown error
    /// aborts the transfer and is rethrown. Non-2xx bodies are returned (capped at 1 MiB).
    /// `onResponse(status, headers)` runs once before the first 2xx body byte (e.g. to tell a
    /// 206 partial answer from a full 200); throwing from it aborts the transfer too.
    @discardableResult
    public func stream(_ request: HTTPRequest, onResponse: ((Int, HTTPHeaders) throws -> Void)? = nil,
                       body: @escaping (UnsafeRawBufferPointer) throws -> Void,
                       progress: ((Int64, Int64?) -> Void)? = nil) throws -> HTTPResponse {
        let transfer = Transfer(sink: body)
        transfer.onResponse = onResponse
        transfer.progress = progress
        return try perform(request, transfer: transfer, totalTimeout: false)
    }

    // MARK: - the transfer

    private func perform(_ request: HTTPRequest, transfer: Transfer, totalTimeout: Bool) throws -> HTTPResponse {
        guard let handle = curl_easy_init() else {
            throw FirebuildError(.internal, "\(request.method) \(request.url): curl_easy_init failed")
        }
        defer { curl_easy_cleanup(handle) }
        var headerList: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(headerList) }
        var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)

        let what = "\(request.method) \(request.url)"
        func set(_ rc: CURLcode, _ option: String) throws {
            guard rc == CURLE_OK else {
                throw FirebuildError(.internal, "\(what): cannot set \(option): \(String(cString: curl_easy_strerror(rc)))")
            }
        }

        try set(fb_curl_setopt_str(handle, CURLOPT_URL, request.url), "URL")
        try set(fb_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1), "NOSIGNAL")
        try set(fb_curl_setopt_str(handle, CURLOPT_USERAGENT, userAgent), "USERAGENT")
        try set(fb_curl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, request.followRedirects ? 1 : 0), "FOLLOWLOCATION")
        try set(fb_curl_setopt_long(handle, CURLOPT_MAXREDIRS, request.maxRedirects), "MAXREDIRS")
        try set(fb_curl_setopt_long(handle, CURLOPT_UNRESTRICTED_AUTH, 0), "UNRESTRICTED_AUTH")
        try set(fb_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, Int(request.connectTimeout * 1000)), "CONNECTTIMEOUT")
        if totalTimeout {
            try set(fb_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, Int(request.timeout * 1000)), "TIMEOUT")
        } else {
            // Big blobs may take long; what matters is that bytes keep coming.
            try set(fb_curl_setopt_long(handle, CURLOPT_LOW_SPEED_LIMIT, 1), "LOW_SPEED_LIMIT")
            try set(fb_curl_setopt_long(handle, CURLOPT_LOW_SPEED_TIME, max(1, Int(request.timeout))), "LOW_SPEED_TIME")
            // Streamed bodies are big: 512 KiB pieces instead of 16 KiB mean 32× fewer
            // callbacks (each a write and a hash update) for the same bytes.
            try set(fb_curl_setopt_long(handle, CURLOPT_BUFFERSIZE, 512 * 1024), "BUFFERSIZE")
        }
        try errorBuffer.withUnsafeMutableBufferPointer { buf in
            try set(fb_curl_setopt_ptr(handle, CURLOPT_ERRORBUFFER, buf.baseAddress), "ERRORBUFFER")
        }
        if let socket = request.unixSocketPath {
            try set(fb_curl_setopt_str(handle, CURLOPT_UNIX_SOCKET_PATH, socket), "UNIX_SOCKET_PATH")
            try set(fb_curl_setopt_str(handle, CURLOPT_PROXY, ""), "PROXY")
        } else {
            try set(fb_curl_setopt_str(handle, CURLOPT_NOPROXY, HTTPClient.noProxyList()), "NOPROXY")
        }

        switch request.method.uppercased() {
        case "GET": break
        case "HEAD": try set(fb_curl_setopt_long(handle, CURLOPT_NOBODY, 1), "NOBODY")
        case "POST": try set(fb_curl_setopt_long(handle, CURLOPT_POST, 1), "POST")
        default: try set(fb_curl_setopt_str(handle, CURLOPT_CUSTOMREQUEST, request.method.uppercased()), "CUSTOMREQUEST")
        }
        if let body = request.body {
            try set(fb_curl_setopt_off(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count)), "POSTFIELDSIZE")
            try body.withUnsafeBytes { raw in
                // COPYPOSTFIELDS copies, so the Data may go away before the transfer ends.
                let p = raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1)
                try set(fb_curl_setopt_ptr(handle, CURLOPT_COPYPOSTFIELDS, p), "COPYPOSTFIELDS")
            }
        }
        var headers = request.headers
        if request.body != nil, request.header("Content-Type") == nil {
            headers.append(("Content-Type", "application/octet-stream"))
        }
        // libcurl would otherwise wait for "100 Continue" before sending larger bodies.
        headers.append(("Expect", ""))
        for (name, value) in headers {
            let line = value.isEmpty ? "\(name):" : "\(name): \(value)"
            headerList = curl_slist_append(headerList, line)
        }
        try set(fb_curl_setopt_ptr(handle, CURLOPT_HTTPHEADER, headerList), "HTTPHEADER")

        let opaque = Unmanaged.passUnretained(transfer).toOpaque()
        try set(fb_curl_set_write_callback(handle, curlWrite, opaque), "WRITEFUNCTION")
        try set(fb_curl_set_header_callback(handle, curlHeader, opaque), "HEADERFUNCTION")
        if transfer.progress != nil {
            try set(fb_curl_set_xferinfo_callback(handle, curlProgress, opaque), "XFERINFOFUNCTION")
        }
        transfer.followRedirects = request.followRedirects

        let rc = withExtendedLifetime(transfer) { curl_easy_perform(handle) }
        if let error = transfer.error { throw error }
        guard rc == CURLE_OK else {
            let detail = String(cString: errorBuffer)
            let reason = detail.isEmpty ? String(cString: curl_easy_strerror(rc)) : detail
            throw FirebuildError(.network, "\(what): \(reason)")
        }
        var status = 0
        _ = fb_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        var effective: UnsafePointer<CChar>?
        _ = fb_curl_getinfo_str(handle, CURLINFO_EFFECTIVE_URL, &effective)
        return HTTPResponse(status: status, headers: transfer.headers, body: transfer.body,
                            effectiveURL: effective.map { String(cString: $0) } ?? request.url)
    }

    /// The environment's no_proxy plus loopback. Setting CURLOPT_NOPROXY replaces the
    /// environment variable, so both are merged here.
    /// Exposed for tests: the NOPROXY value for a given environment.
    public static func noProxyListForTesting(_ environment: [String: String]) -> String {
        noProxyList(environment: environment)
    }

    static func noProxyList(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        var entries = (environment["no_proxy"] ?? environment["NO_PROXY"] ?? "")
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for loopback in ["localhost", "127.0.0.1", "::1"] where !entries.contains(loopback) {
            entries.append(loopback)
        }
        return entries.joined(separator: ",")
    }
}

/// State shared with the C callbacks of one transfer.
final class Transfer {
    /// nil: collect the body in memory; else: hand 2xx body chunks to it.
    let sink: ((UnsafeRawBufferPointer) throws -> Void)?
    var headers = HTTPHeaders()
    var status = 0
    var body = Data()
    var error: Error?
    var followRedirects = true
    var progress: ((Int64, Int64?) -> Void)?
    var onResponse: ((Int, HTTPHeaders) throws -> Void)?
    private var responded = false
    static let errorBodyCap = 1 << 20

    init(sink: ((UnsafeRawBufferPointer) throws -> Void)?) { self.sink = sink }

    /// A status line starts a new response (a redirect hop or a 100 Continue): forget the old one.
    func headerLine(_ line: String) {
        let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.hasPrefix("HTTP/") {
            headers = HTTPHeaders()
            responded = false
            let parts = trimmed.split(separator: " ")
            status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
            return
        }
        guard let colon = trimmed.firstIndex(of: ":") else { return }
        let name = String(trimmed[..<colon]).trimmingCharacters(in: .whitespaces)
        let value = String(trimmed[trimmed.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
        headers.append(name, value)
    }

    /// Returns false to abort the transfer.
    func bodyChunk(_ chunk: UnsafeRawBufferPointer) -> Bool {
        // The body of a redirect that libcurl is about to follow is not the answer.
        if followRedirects, (300..<400).contains(status), headers["Location"] != nil { return true }
        guard let sink, (200..<300).contains(status) else {
            let cap = sink == nil ? Int.max : Transfer.errorBodyCap
            if body.count < cap { body.append(contentsOf: chunk.prefix(cap - body.count)) }
            return true
        }
        do {
            if !responded {
                responded = true
                try onResponse?(status, headers)
            }
            try sink(chunk)
            return true
        } catch {
            self.error = error
            return false
        }
    }
}

private let curlWrite: fb_curl_data_cb = { ptr, size, nmemb, userdata in
    guard let userdata else { return 0 }
    let transfer = Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue()
    let count = size * nmemb
    guard count > 0, let ptr else { return count }
    let ok = transfer.bodyChunk(UnsafeRawBufferPointer(start: ptr, count: count))
    return ok ? count : 0
}

private let curlHeader: fb_curl_data_cb = { ptr, size, nmemb, userdata in
    guard let userdata else { return 0 }
    let transfer = Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue()
    let count = size * nmemb
    guard count > 0, let ptr else { return count }
    let line = String(decoding: UnsafeRawBufferPointer(start: ptr, count: count), as: UTF8.self)
    transfer.headerLine(line)
    return count
}

private let curlProgress: fb_curl_xferinfo_cb = { userdata, dltotal, dlnow, _, _ in
    guard let userdata else { return 0 }
    let transfer = Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue()
    if (200..<300).contains(transfer.status) {
        transfer.progress?(Int64(dlnow), dltotal > 0 ? Int64(dltotal) : nil)
    }
    return 0
}
