import Foundation

/// One HTTP request. `unixSocketPath` sends it over a Unix socket (Firecracker's API); the
/// URL's host is then only used for the Host header (`http://localhost/…`).
public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(String, String)]
    public var body: Data?
    public var unixSocketPath: String?
    /// For `send`: the whole exchange. For `download`: the longest stall (no byte received).
    public var timeout: TimeInterval
    public var connectTimeout: TimeInterval
    public var followRedirects: Bool
    public var maxRedirects: Int

    public init(method: String = "GET", url: String, headers: [(String, String)] = [], body: Data? = nil,
                unixSocketPath: String? = nil, timeout: TimeInterval = 60, connectTimeout: TimeInterval = 30,
                followRedirects: Bool = true, maxRedirects: Int = 10) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.unixSocketPath = unixSocketPath
        self.timeout = timeout
        self.connectTimeout = connectTimeout
        self.followRedirects = followRedirects
        self.maxRedirects = maxRedirects
    }

    /// Value of the first header with this name (case-insensitive).
    public func header(_ name: String) -> String? {
        headers.first { $0.0.caseInsensitiveCompare(name) == .orderedSame }?.1
    }
}

/// Response headers in arrival order, looked up case-insensitively (HTTP field names are).
public struct HTTPHeaders: Sendable, Sequence {
    public private(set) var entries: [(name: String, value: String)]

    public init(_ entries: [(name: String, value: String)] = []) {
        self.entries = entries
    }

    public subscript(name: String) -> String? {
        entries.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    public func values(_ name: String) -> [String] {
        entries.filter { $0.name.caseInsensitiveCompare(name) == .orderedSame }.map(\.value)
    }

    mutating func append(_ name: String, _ value: String) {
        entries.append((name, value))
    }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> {
        entries.makeIterator()
    }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    /// The body (`send`), or the error body of a non-2xx answer (`download`, capped at 1 MiB).
    public var body: Data
    /// The URL that answered, after redirects.
    public var effectiveURL: String

    public init(status: Int, headers: HTTPHeaders, body: Data, effectiveURL: String) {
        self.status = status
        self.headers = headers
        self.body = body
        self.effectiveURL = effectiveURL
    }

    public var isSuccess: Bool { (200..<300).contains(status) }
    public var bodyString: String { String(decoding: body, as: UTF8.self) }
}
