import FirebuildCore
import FirebuildTestSupport
import Foundation
import Runtime
import Testing
import VM

extension BuildEndToEndTests {
    /// `kill -9` of `firebuild rootfs` in the middle of a RUN: no tag appears, and `purge` leaves
    /// no scratch directory (layers, content disk) and no build VM behind.
    @Test(.timeLimit(.minutes(10)), .enabled(if: TestHost.firebuildBinary != nil, "needs the built firebuild executable (swift build)"))
    func aKilledBuildLeavesNoTagAndPurgeRemovesTheRest() throws {
        let home = "/tmp/fbkill-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: home) }
        let (paths, _) = try E2E.prepareStore(home: home)
        let ctx = home + "/ctx"
        try FileManager.default.createDirectory(atPath: ctx, withIntermediateDirectories: true)
        try Data(repeating: 7, count: 1 << 20).write(to: URL(fileURLWithPath: ctx + "/big.bin"))  // a content disk
        try AtomicFile.write("FROM busybox:1\nCOPY big.bin /big.bin\nRUN echo step-started; sleep 300\n", to: ctx + "/Dockerfile")

        let log = home + "/build.log"
        var env = ProcessInfo.processInfo.environment
        env["FIREBUILD_HOME"] = home
        env["FIREBUILD_INIT"] = TestHost.staticInit ?? ""
        let pid = try VMProcess.spawn(["env"] + env.map { "\($0.key)=\($0.value)" } + [
            TestHost.firebuildBinary ?? "firebuild", "rootfs", "--vmlinux-id", "cloud", "--mem", "256",
            "--dockerfile", ctx + "/Dockerfile", "--tag", "test/killed:1"], logPath: log)
        let start = VMProcess.startTime(pid)
        defer { try? VMProcess.kill(pid: pid, startTime: start) }
        let deadline = Date().addingTimeInterval(300)
        while Date() < deadline {
            if (try? String(contentsOfFile: log, encoding: .utf8))?.contains("step-started") == true { break }
            if VMProcess.exitStatus(pid: pid, startTime: start) != nil { break }
            usleep(100_000)
        }
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        try #require(output.contains("step-started"), "the build never reached its RUN:\n\(output.suffix(2000))")
        let scratch = try FileManager.default.contentsOfDirectory(atPath: paths.buildsDir)
        #expect(scratch.count == 1)

        try VMProcess.kill(pid: pid, startTime: start)  // SIGKILL: no cleanup code runs
        #expect(!FileManager.default.fileExists(atPath: paths.rootfsStorageRoot + "/test/killed"), "no partial tag")
        #expect(FileManager.default.fileExists(atPath: paths.buildsDir + "/" + (scratch.first ?? "")), "what is left waits for purge")

        let purged = try RunEngine(settings: RunSettings(paths: paths)).purge()
        #expect(purged == scratch)
        #expect(try FileManager.default.contentsOfDirectory(atPath: paths.buildsDir).isEmpty)
        let leftovers = try Command("pgrep", ["-f", paths.buildsDir + "/"]).run().stdoutString
        #expect(leftovers.isEmpty, "no build VM left: \(leftovers)")
        #expect(!FileManager.default.fileExists(atPath: paths.rootfsStorageRoot + "/test/killed"))
    }
}
