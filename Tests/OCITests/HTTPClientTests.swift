import FirebuildCore
import Foundation
import HTTP
import Testing
@testable import OCI

@Suite struct HTTPClientTests {
    @Test func transportErrorsNameTheURL() throws {
        let port = try TestRegistry.freePort()   // nothing listens there
        let url = "http://127.0.0.1:\(port)/v2/"
        #expect {
            try HTTPClient().send(HTTPRequest(url: url, timeout: 5))
        } throws: { error in
            guard let e = error as? FirebuildError else { return false }
            return e.code == .network && e.message.hasPrefix("GET \(url): ")
        }
    }

    @Test func loopbackIsNeverProxied() {
        let list = HTTPClient.noProxyListForTesting(["no_proxy": "corp.example, .internal"])
        #expect(list == "corp.example,.internal,localhost,127.0.0.1,::1")
        #expect(HTTPClient.noProxyListForTesting([:]) == "localhost,127.0.0.1,::1")
    }

    @Test(.enabled(if: TestRegistry.available, "needs docker-registry"))
    func unixSocketAndHeaders() throws {
        let reg = try TestRegistry(unixSocket: true)
        defer { reg.stop() }
        let client = HTTPClient()
        let r = try client.send(HTTPRequest(url: "http://localhost/v2/", unixSocketPath: reg.socketPath))
        #expect(r.status == 200)
        #expect(r.headers["docker-distribution-api-version"] == "registry/2.0")
        #expect(r.headers["DOCKER-DISTRIBUTION-API-VERSION"] == "registry/2.0")
        #expect(r.bodyString == "{}")
        // Upload: start a blob upload (POST), answered with 202 and a Location.
        let post = try client.send(HTTPRequest(method: "POST", url: "http://localhost/v2/fb/x/blobs/uploads/",
                                               body: Data(), unixSocketPath: reg.socketPath))
        #expect(post.status == 202)
        #expect(post.headers["Location"] != nil)
        // HEAD of a missing blob: 404, no body.
        let head = try client.send(HTTPRequest(method: "HEAD", url: "http://localhost/v2/fb/x/blobs/sha256:\(String(repeating: "0", count: 64))",
                                               unixSocketPath: reg.socketPath))
        #expect(head.status == 404)
    }

    /// A tiny server: /redirect-cross → localhost (another host name), /redirect-same → /echo,
    /// /echo answers with the Authorization header it got, /big streams 3 MiB, /fail → 500.
    static let server = #"""
    import http.server, sys
    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a): pass
        def do_GET(self):
            port = self.server.server_address[1]
            if self.path == "/redirect-cross":
                self.send_response(302); self.send_header("Location", "http://localhost:%d/echo" % port); self.send_header("Content-Length", "5"); self.end_headers(); self.wfile.write(b"moved")
            elif self.path == "/redirect-same":
                self.send_response(307); self.send_header("Location", "/echo"); self.send_header("Content-Length", "0"); self.end_headers()
            elif self.path == "/echo":
                body = (self.headers.get("Authorization") or "none").encode()
                self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
            elif self.path == "/big":
                self.send_response(200); self.send_header("Content-Length", str(3 << 20)); self.end_headers()
                for i in range(3 * 16): self.wfile.write(bytes([i]) * 65536)
            else:
                self.send_response(500); self.send_header("Content-Length", "4"); self.end_headers(); self.wfile.write(b"oops")
    http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
    """#

    @Test(.enabled(if: tool("python3"), "needs python3 for the test HTTP server"))
    func redirectsDownloadsAndCredentials() throws {
        let tmp = try TempDir("http")
        defer { tmp.cleanup() }
        try AtomicFile.write(Self.server, to: tmp.path + "/server.py")
        let port = try TestRegistry.freePort()
        let process = Process()
        // The real interpreter, not a version-manager shim that forks it.
        let python = FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") ? "/usr/bin/python3" : try #require(Command.which("python3"))
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [tmp.path + "/server.py", String(port)]
        try process.run()
        // SIGKILL: the test runner's children may inherit a mask that blocks SIGTERM.
        defer { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        let client = HTTPClient()
        let base = "http://127.0.0.1:\(port)"
        var up = false
        for _ in 0..<100 where !up {
            up = (try? client.send(HTTPRequest(url: base + "/echo", timeout: 1))) != nil
            if !up { usleep(50_000) }
        }
        try #require(up, "test server did not start")
        let auth = [("Authorization", "Bearer secret")]
        let same = try client.send(HTTPRequest(url: base + "/redirect-same", headers: auth))
        #expect(same.status == 200 && same.bodyString == "Bearer secret")
        let cross = try client.send(HTTPRequest(url: base + "/redirect-cross", headers: auth))
        #expect(cross.status == 200)
        #expect(cross.bodyString == "none", "credentials leaked to another host")
        #expect(cross.effectiveURL == "http://localhost:\(port)/echo")
        let noFollow = try client.send(HTTPRequest(url: base + "/redirect-cross", followRedirects: false))
        #expect(noFollow.status == 302 && noFollow.headers["location"] != nil && noFollow.bodyString == "moved")

        var hasher = StreamingSHA256()
        var lastProgress: Int64 = 0
        let file = tmp.path + "/big"
        let r = try client.download(HTTPRequest(url: base + "/big"), to: file,
                                    onChunk: { hasher.update($0) }, progress: { done, _ in lastProgress = done })
        #expect(r.status == 200 && r.body.isEmpty)
        #expect(lastProgress == 3 << 20)
        #expect(try ContentDigest.sha256(fileAt: file) == hasher.finalize())
        let failed = try client.download(HTTPRequest(url: base + "/fail"), to: tmp.path + "/never")
        #expect(failed.status == 500 && failed.bodyString == "oops")
        #expect(!exists(tmp.path + "/never"))
    }
}
