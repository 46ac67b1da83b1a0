import FirebuildCore
import Foundation
import HTTP

/// The Firecracker API over its Unix socket through the HTTP module (libcurl's UNIX_SOCKET_PATH).
/// The host part of the URL is ignored by Firecracker; `localhost` is what its docs use.
public struct CurlFirecrackerTransport: FirecrackerTransport {
    public var client: HTTPClient
    public var timeout: TimeInterval

    public init(client: HTTPClient = .shared, timeout: TimeInterval = 10) {
        self.client = client
        self.timeout = timeout
    }

    public func send(_ request: FirecrackerAPI.Request, socketPath: String) throws -> FirecrackerAPI.Response {
        var headers: [(String, String)] = [("Accept", "application/json")]
        if request.body != nil { headers.append(("Content-Type", "application/json")) }
        let http = HTTPRequest(method: request.method, url: "http://localhost" + request.path, headers: headers, body: request.body,
                               unixSocketPath: socketPath, timeout: timeout, connectTimeout: timeout)
        let response = try client.send(http)
        return FirecrackerAPI.Response(status: response.status, body: response.body)
    }
}
