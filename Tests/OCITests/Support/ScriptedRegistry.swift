import FirebuildCore
import Foundation
import HTTP
@testable import OCI

/// A minimal registry (python3's http.server on 127.0.0.1) whose blobs misbehave on
/// purpose, per blob: served slowly, with a byte flipped in the middle, or cut off halfway
/// once (then honouring Range, or ignoring it). docker-registry cannot do any of that, and
/// the streaming pull must be tested against exactly those cases.
final class ScriptedRegistry: @unchecked Sendable {
    enum Behavior: String {
        case normal, slow, corrupt, dropThenRange = "drop-range", dropThenFull = "drop-full"
    }

    let dir: TempDir
    let port: Int
    private let process: Process
    var host: String { "127.0.0.1:\(port)" }
    var log: String { (try? String(contentsOfFile: dir.path + "/requests.log", encoding: .utf8)) ?? "" }

    static var available: Bool { tool("python3") }

    init() throws {
        dir = try TempDir("scripted-registry")
        port = try TestRegistry.freePort()
        for sub in ["blobs", "manifests", "behavior"] { _ = try dir.sub(sub) }
        try AtomicFile.write(ScriptedRegistry.script, to: dir.path + "/registry.py")
        process = Process()
        process.executableURL = URL(fileURLWithPath: Command.which("python3") ?? "/usr/bin/python3")
        process.arguments = [dir.path + "/registry.py", dir.path, String(port)]
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        let client = HTTPClient()
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if let r = try? client.send(HTTPRequest(url: "http://\(host)/v2/", timeout: 2)), r.status == 200 { return }
            usleep(50_000)
        }
        stop()
        throw FirebuildError(.timeout, "the scripted registry did not come up")
    }

    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        dir.cleanup()
    }

    /// Stores a blob and how to serve it; returns its descriptor.
    @discardableResult
    func addBlob(_ data: Data, mediaType: String, behavior: Behavior = .normal) throws -> Descriptor {
        let digest = ContentDigest.sha256(data)
        try writeFile(dir.path + "/blobs/" + digest.hex, data)
        try AtomicFile.write(behavior.rawValue, to: dir.path + "/behavior/" + digest.hex)
        return Descriptor(mediaType: mediaType, digest: digest, size: Int64(data.count))
    }

    /// An image of `layers` (already compressed or not, with their media types), tagged `tag`.
    func addImage(tag: String, layers: [(data: Data, mediaType: String, diffID: ContentDigest, behavior: Behavior)]) throws {
        var descriptors: [Descriptor] = []
        for layer in layers {
            descriptors.append(try addBlob(layer.data, mediaType: layer.mediaType, behavior: layer.behavior))
        }
        let config = ImageConfigFile(config: ImageConfig(cmd: ["/bin/sh"]), rootfs: .init(diffIDs: layers.map(\.diffID)))
        let configData = try JSONEncoder().encode(config)
        let configDescriptor = try addBlob(configData, mediaType: MediaType.ociConfig)
        let manifest = ImageManifest(config: configDescriptor, layers: descriptors)
        let manifestData = try JSONEncoder().encode(manifest)
        try writeFile(dir.path + "/manifests/" + tag, manifestData)
        try writeFile(dir.path + "/manifests/" + ContentDigest.sha256(manifestData).description, manifestData)
    }

    static let script = #"""
    import http.server, os, sys, time, threading

    ROOT, PORT = sys.argv[1], int(sys.argv[2])
    dropped = set()
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def note(self, text):
            with lock, open(os.path.join(ROOT, "requests.log"), "a") as f:
                f.write(text + "\n")

        def send(self, status, body, ctype="application/octet-stream", extra=()):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in extra:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            parts = self.path.split("/")
            if self.path == "/v2/":
                return self.send(200, b"{}", "application/json")
            if len(parts) >= 5 and parts[-2] == "manifests":
                p = os.path.join(ROOT, "manifests", parts[-1])
                if not os.path.exists(p):
                    return self.send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}', "application/json")
                return self.send(200, open(p, "rb").read(), "application/vnd.oci.image.manifest.v1+json")
            if len(parts) >= 5 and parts[-2] == "blobs":
                hexd = parts[-1].split(":")[-1]
                p = os.path.join(ROOT, "blobs", hexd)
                if not os.path.exists(p):
                    return self.send(404, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}', "application/json")
                data = open(p, "rb").read()
                behavior = open(os.path.join(ROOT, "behavior", hexd)).read().strip()
                rng = self.headers.get("Range")
                self.note("GET %s %s range=%s" % (hexd[:12], behavior, rng))
                if behavior == "corrupt":
                    data = bytearray(data)
                    data[len(data) // 2] ^= 0xFF
                    data = bytes(data)
                if behavior.startswith("drop"):
                    with lock:
                        first = hexd not in dropped
                        dropped.add(hexd)
                    if first:
                        # Promise everything, send half, hang up: a transfer cut off mid-way.
                        self.send_response(200)
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data[: len(data) // 2])
                        self.wfile.flush()
                        self.close_connection = True
                        return
                    if rng and behavior == "drop-range":
                        start = int(rng.split("=")[1].split("-")[0])
                        body = data[start:]
                        return self.send(206, body, extra=[("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))])
                if behavior == "slow":
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    for i in range(0, len(data), 64 * 1024):
                        self.wfile.write(data[i:i + 64 * 1024])
                        self.wfile.flush()
                        time.sleep(0.02)
                    return
                return self.send(200, data)
            self.send(404, b"{}", "application/json")

    http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
    """#
}
