import FirebuildCore
import Foundation
import Guest
import Networking
import Testing
import VM
@testable import Runtime

/// More real-VM tests; an extension, so they run in the same serialized suite as the others.
extension RunEndToEndTests {
    /// The CLI built next to the test bundle (same folder as tc-redirect-tap).
    static var cliBinary: String? {
        guard let dir = RunEnv.tapPluginDir else { return nil }
        return FileManager.default.isExecutableFile(atPath: dir + "/firebuild") ? dir + "/firebuild" : nil
    }

    /// The runtime flags of every VM command, pointing at the fixture's private home and sandbox.
    func runtimeFlags(_ fx: RunFixture) -> [String] {
        ["--run-cache", fx.home,
         "--storage-provider.directory.rootfs-storage-root", fx.settings.rootfsStorageRoot,
         "--storage-provider.directory.kernel-storage-root", fx.settings.kernelStorageRoot,
         "--cni-conf-dir", fx.home + "/conf", "--cni-cache-dir", fx.home + "/cni-cache",
         "--cni-bin-dir", "/usr/lib/cni", "--cni-bin-dir", RunEnv.tapPluginDir ?? "/nonexistent",
         "--cni-host-netns", fx.sandbox.name]
    }

    func cli(_ fx: RunFixture, _ args: [String], timeout: TimeInterval = 120) throws -> Command.Result {
        var env = ProcessInfo.processInfo.environment
        env["FIREBUILD_HOME"] = fx.home
        env["FIREBUILD_INIT"] = RunEnv.staticInit
        return try Command(Self.cliBinary ?? "firebuild", args, environment: env, timeout: timeout).run()
    }

    @Test(.timeLimit(.minutes(10)))
    func sigkilledForegroundRunThenPurgeRemovesEverything() throws {
        guard let binary = Self.cliBinary else {
            print("skipping: the firebuild CLI is not built next to the tests (swift build)")
            return
        }
        let fx = try RunFixture()
        defer { fx.tearDown() }
        try fx.importKernel()
        try fx.storeImage(tag: "test/crash:1", config: ImageConfig(cmd: ["/bin/busybox", "httpd", "-f", "-p", "80", "-h", "/www"]),
                          files: ["www/index.html": Self.page])
        let id = "cr\(fx.id.prefix(6))"

        // A foreground `firebuild run`, as a user would start it in a terminal.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["run"] + runtimeFlags(fx) + ["--from", "test/crash:1", "--name", id, "--mem", "256",
                                                           "--cni-network-name", fx.network, "--port", "8080:80"]
        var env = ProcessInfo.processInfo.environment
        env["FIREBUILD_HOME"] = fx.home
        env["FIREBUILD_INIT"] = RunEnv.staticInit
        process.environment = env
        let logPath = fx.home + "/foreground.log"
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = log
        process.standardError = log
        try process.run()
        let pid = process.processIdentifier
        var reaped = false
        defer { if !reaped { kill(pid, SIGKILL); _ = waitpid(pid, nil, 0) } }

        // Wait until its VM answers through the published port.
        var ip: String?
        var answered = false
        let deadline = Date().addingTimeInterval(240)
        while Date() < deadline, kill(pid, 0) == 0, !answered {
            if ip == nil { ip = (try? fx.engine.inspect(id: id))?.ip }
            if ip != nil, let r = try? fx.sandbox.command("curl", ["-sS", "-m", "3", "http://\(fx.gateway):8080/"]).run(),
               r.status == 0, r.stdoutString == Self.page {
                answered = true
            } else {
                Thread.sleep(forTimeInterval: 1)
            }
        }
        let output = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        try #require(answered, "the VM never answered; firebuild run said:\n\(output)")
        let guestIP = try #require(ip)

        // Crash: the firebuild process dies without cleaning up, and its VMM with it.
        let handle = try #require(fx.engine.handle(for: id))
        kill(pid, SIGKILL)
        // Reaped here: Foundation's waitUntilExit was seen hanging on a SIGKILLed child.
        var status: Int32 = 0
        let r = waitpid(pid, &status, 0)
        reaped = true
        #expect(r != pid || status & 0x7f == SIGKILL, "firebuild run ended with wait status \(status)")
        try VMProcess.kill(pid: handle.pid, startTime: handle.processStartTime)
        #expect(VMProcess.wait(pid: handle.pid, startTime: handle.processStartTime, timeout: 30) != nil, "qemu is still running")

        // Everything is still there before purge.
        let lease = "\(fx.home)/ipam/\(fx.network)/\(guestIP)"
        #expect(NetworkNamespace.list().contains("fb-\(id)"))
        #expect(FileManager.default.fileExists(atPath: lease))
        #expect(try fx.inSandbox("iptables-save", []).stdoutString.contains("firebuild:\(id)"))
        #expect(!((try? FileManager.default.contentsOfDirectory(atPath: fx.home + "/cni-cache/results")) ?? []).isEmpty)
        #expect(FileManager.default.fileExists(atPath: fx.engine.cache.directory(for: id)))

        let purge = try cli(fx, ["purge"] + runtimeFlags(fx))
        #expect(purge.status == 0, "purge failed: \(purge.stderrString)")
        #expect(purge.stdoutString.contains("purged \(id)"), "\(purge.stdoutString)")

        #expect(!NetworkNamespace.list().contains("fb-\(id)"))
        #expect(!FileManager.default.fileExists(atPath: lease), "the IPAM lease of \(guestIP) is still held")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: fx.home + "/cni-cache/results")) ?? []).isEmpty)
        let rules = try fx.inSandbox("iptables-save", []).stdoutString
        #expect(!rules.contains("firebuild:\(id)") && !rules.contains(guestIP + "/32"))
        #expect(!FileManager.default.fileExists(atPath: fx.engine.cache.directory(for: id)))
        #expect(fx.engine.list().isEmpty)
        let ls = try cli(fx, ["ls"] + runtimeFlags(fx))
        #expect(ls.status == 0 && !ls.stdoutString.contains(id))
    }

    @Test(.timeLimit(.minutes(10)))
    func stopSignalOfTheImageStopsTheWorkloadGracefully() throws {
        guard Self.cliBinary != nil else {
            print("skipping: the firebuild CLI is not built next to the tests (swift build)")
            return
        }
        let fx = try RunFixture()
        defer { fx.tearDown() }
        try fx.importKernel()
        // As `STOPSIGNAL SIGUSR1` in a Dockerfile: the workload only ends cleanly on USR1.
        try fx.storeImage(tag: "test/stopsig:1",
                          config: ImageConfig(entrypoint: ["/bin/sh", "-c"],
                                              cmd: ["trap 'echo got-usr1; exit 0' USR1; echo waiting; while true; do sleep 1; done"],
                                              stopSignal: "SIGUSR1"))
        var req = RunRequest(from: "test/stopsig:1")
        req.name = "ss\(fx.id.prefix(6))"
        req.daemonize = true
        req.memMiB = 256
        #expect(try fx.engine.run(req) { _, _ in } == 0)
        let id = req.name!
        let consolePath = try fx.engine.inspect(id: id).paths.consoleLog
        // Kept open: kill removes the run directory, the open file still reads what the guest wrote.
        let console = try #require(FileHandle(forReadingAtPath: consolePath))
        defer { try? console.close() }
        var waited = 0
        while !(try fx.engine.logs(id: id)).contains("waiting") && waited < 60 { Thread.sleep(forTimeInterval: 1); waited += 1 }

        let started = Date()
        let kill = try cli(fx, ["kill", "--vmm-id", id, "--shutdown-timeout", "30"] + runtimeFlags(fx))
        let took = Date().timeIntervalSince(started)
        #expect(kill.status == 0, "kill failed: \(kill.stderrString)")
        let text = String(decoding: console.readDataToEndOfFile(), as: UTF8.self)
        #expect(text.contains("got-usr1"), "the workload never saw SIGUSR1; console:\n\(text.suffix(2000))")
        // (The console ends lines with \r\n, one Character in Swift: split on any newline.)
        // It ended by itself with status 0 (not killed after the timeout), well before the 30 s deadline.
        let ended = text.split(whereSeparator: \.isNewline).first { $0.contains("workload ended") }.map(String.init) ?? ""
        #expect(ended.hasSuffix("exit code 0"), "\(ended.isEmpty ? "no 'workload ended' line on the console" : ended)")
        #expect(took < 25, "kill took \(took) s: the stop was forced, not graceful")
        #expect(fx.engine.list().isEmpty)
        print(String(format: "graceful stop with SIGUSR1 took %.1f s; %@", took, ended))
    }
}
