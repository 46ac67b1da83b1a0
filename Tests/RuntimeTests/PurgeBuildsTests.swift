import FirebuildCore
import Foundation
import Testing
import VM
@testable import Runtime

/// `purge` and what killed builds leave in `<run cache>/builds`.
@Suite(.serialized) struct PurgeBuildsTests {
    @Test func purgeStopsTheVMMOfAKilledBuildAndRemovesItsScratch() throws {
        let home = "/tmp/fbpurge-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: home) }
        let builds = home + "/builds"
        let live = try BuildScratch.create(in: builds)
        defer { live.remove() }
        let dead = builds + "/b100-7"
        try FileManager.default.createDirectory(atPath: dead + "/fbb-1", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: dead + "/" + BuildScratch.lockName, contents: nil)
        // Stand-ins for build VMs: one of the killed build (its command line names the scratch,
        // as QEMU's does), one of the running build; each has the pid file QEMU writes.
        let orphan = try VMProcess.spawn(["sh", "-c", "sleep 300", dead + "/fbb-1/disk.qcow2"], logPath: home + "/orphan.log")
        let orphanStart = VMProcess.startTime(orphan)
        try "\(orphan)\n".write(toFile: dead + "/fbb-1/qemu.pid", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: live.path + "/fbb-2", withIntermediateDirectories: true)
        let running = try VMProcess.spawn(["sh", "-c", "sleep 300", live.path + "/fbb-2/disk.qcow2"], logPath: home + "/running.log")
        let runningStart = VMProcess.startTime(running)
        defer { try? VMProcess.kill(pid: running, startTime: runningStart) }
        try "\(running)\n".write(toFile: live.path + "/fbb-2/qemu.pid", atomically: true, encoding: .utf8)
        // A pid file naming a process that is not one of ours is never signalled.
        try FileManager.default.createDirectory(atPath: dead + "/fbb-3", withIntermediateDirectories: true)
        let stranger = try VMProcess.spawn(["sleep", "300"], logPath: home + "/stranger.log")
        let strangerStart = VMProcess.startTime(stranger)
        defer { try? VMProcess.kill(pid: stranger, startTime: strangerStart) }
        try "\(stranger)\n".write(toFile: dead + "/fbb-3/qemu.pid", atomically: true, encoding: .utf8)

        let purged = try RunEngine(settings: RunSettings(paths: FirebuildPaths(home: home))).purge()
        #expect(purged.contains("b100-7"))
        #expect(VMProcess.exitStatus(pid: orphan, startTime: orphanStart) != nil, "the killed build's VMM was stopped")
        #expect(VMProcess.exitStatus(pid: running, startTime: runningStart) == nil, "a running build's VM is left alone")
        #expect(VMProcess.exitStatus(pid: stranger, startTime: strangerStart) == nil)
        #expect(!FileManager.default.fileExists(atPath: dead))
        #expect(FileManager.default.fileExists(atPath: live.path))
    }
}
