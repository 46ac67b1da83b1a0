import FirebuildCore
import Foundation
import Guest
import Networking
import Testing
@testable import Runtime

/// Real VMs (QEMU microvm, TCG here) with real CNI plugins, all inside a sandbox namespace the
/// test creates and deletes. Serialized: TCG boots on 2 cores are slow and timing-sensitive.
@Suite(.serialized, .enabled(if: RunEnv.available))
struct RunEndToEndTests {
    static let page = "hello from firebuild\n"

    @Test(.timeLimit(.minutes(10)))
    func httpServerReachableByIPAndPortThenKillLeavesNothing() throws {
        let fx = try RunFixture()
        defer { fx.tearDown() }
        try fx.importKernel()
        // CMD only (no ENTRYPOINT): the original started nothing for such images.
        try fx.storeImage(tag: "test/httpd:1",
                          config: ImageConfig(env: ["GREETING=hi"], cmd: ["/bin/busybox", "httpd", "-f", "-v", "-p", "80", "-h", "/www"]),
                          files: ["www/index.html": Self.page])
        let linksBefore = try links(fx)

        var req = RunRequest(from: "test/httpd:1")
        req.name = "web\(fx.id.prefix(6))"
        req.daemonize = true
        req.cniNetworkName = fx.network
        req.ports = ["8080:80"]
        req.memMiB = 256
        let code = try fx.engine.run(req) { _, _ in }
        #expect(code == 0)
        let id = req.name!

        let record = try fx.engine.inspect(id: id)
        let ip = try #require(record.ip)
        #expect(ip.hasPrefix(fx.subnet + "."))
        let json = try JSONSerialization.jsonObject(with: FileManager.default.contents(atPath: fx.engine.cache.metadataPath(for: id))!) as! [String: Any]
        let nic = (json["NetworkInterfaces"] as! [[String: Any]])[0]
        #expect(((nic["StaticConfiguration"] as! [String: Any])["IPConfiguration"] as! [String: Any])["IP"] as? String == ip)

        // By IP from the sandbox (the host side of the bridge), and through the published port.
        let byIP = try fetch(fx, "http://\(ip):80/")
        if byIP != Self.page {
            var diag = [UInt8]()
            _ = try? fx.engine.exec(id: id, argv: ["/bin/sh", "-c", "ip addr; ip route; ip link; cat /etc/resolv.conf"]) { _, b in diag += b }
            print("guest network:\n" + String(decoding: diag, as: UTF8.self))
            print("console:\n" + ((try? fx.engine.logs(id: id)) ?? ""))
            print("vm ns:\n" + ((try? Command("ip", ["netns", "exec", "fb-\(id)", "sh", "-c", "ip addr; tc filter show dev eth0 ingress; ip -s link"]).run().stdoutString) ?? ""))
            print("sandbox:\n" + ((try? fx.inSandbox("sh", ["-c", "ip addr; ip neigh"]).stdoutString) ?? ""))
        }
        #expect(byIP == Self.page)
        #expect(try fetch(fx, "http://\(fx.gateway):8080/") == Self.page)

        // exec returns output and exit codes; the env of the image applies.
        var out = [UInt8]()
        let status = try fx.engine.exec(id: id, argv: ["/bin/sh", "-c", "echo $GREETING; exit 3"]) { _, b in out += b }
        #expect(status.exitCode == 3)
        #expect(String(decoding: out, as: UTF8.self) == "hi\n")

        #expect(fx.engine.list().first { $0.id == id }?.running == true)
        #expect(try fx.inSandbox("iptables-save", []).stdoutString.contains("firebuild:\(id)"))
        try fx.engine.kill(id: id, timeout: 10)
        #expect(!(try fx.inSandbox("iptables-save", []).stdoutString.contains("firebuild:\(id)")))

        #expect(fx.engine.list().isEmpty)
        // Only the bridge (kept by the CNI bridge plugin, as with Docker) may remain; no veth, no rule for the VM.
        #expect(try links(fx).filter { !$0.hasPrefix("fbtbr") } == linksBefore)
        let rules = try fx.inSandbox("iptables-save", []).stdoutString
        #expect(!rules.contains(ip + "/32") && !rules.contains("firebuild:\(id)"))
        #expect(!NetworkNamespace.list().contains("fb-\(id)"))
        let cniCache = (try? FileManager.default.contentsOfDirectory(atPath: fx.home + "/cni-cache/results")) ?? []
        #expect(cniCache.isEmpty)
    }

    @Test(.timeLimit(.minutes(10)))
    func foregroundRunStreamsOutputAsUserAndReturnsExitCode() throws {
        let fx = try RunFixture()
        defer { fx.tearDown() }
        try fx.importKernel()
        try fx.storeImage(tag: "test/user:1",
                          config: ImageConfig(user: "app", entrypoint: ["/bin/sh", "-c"], cmd: ["id -un; pwd; exit 7"],
                                              workingDir: "/work"),
                          users: ["app"])
        var req = RunRequest(from: "test/user:1")
        req.name = "fg\(fx.id.prefix(6))"
        let output = OutputBox()
        let code = try fx.engine.run(req) { _, b in output.append(b) }
        #expect(code == 7)
        #expect(output.text == "app\n/work\n")
        #expect(fx.engine.list().isEmpty)

        // An override after `--` replaces CMD only.
        req.name = "ov\(fx.id.prefix(6))"
        req.command = ["echo overridden"]
        let output2 = OutputBox()
        #expect(try fx.engine.run(req) { _, b in output2.append(b) } == 0)
        #expect(output2.text == "overridden\n")
    }

    private func fetch(_ fx: RunFixture, _ url: String) throws -> String {
        // The guest may need a moment after `ready` before its server listens.
        var last = ""
        for _ in 0..<30 {
            let r = try fx.sandbox.command("curl", ["-sS", "-m", "5", url]).run()
            if r.status == 0 { return r.stdoutString }
            last = r.stderrString
            Thread.sleep(forTimeInterval: 1)
        }
        return "fetch \(url) failed: \(last)"
    }

    /// Link names in the sandbox namespace.
    private func links(_ fx: RunFixture) throws -> [String] {
        try fx.inSandbox("ip", ["-o", "link", "show"]).stdoutString.split(separator: "\n")
            .compactMap { $0.split(separator: ":").dropFirst().first.map { $0.trimmingCharacters(in: .whitespaces) } }
            .map { String($0.split(separator: "@")[0]) }
    }
}

final class OutputBox: @unchecked Sendable {
    private let lock = NSLock()
    private var bytes: [UInt8] = []
    func append(_ b: [UInt8]) { lock.lock(); bytes += b; lock.unlock() }
    var text: String { lock.lock(); defer { lock.unlock() }; return String(decoding: bytes, as: UTF8.self) }
}
