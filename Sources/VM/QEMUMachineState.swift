import FirebuildCore
import Foundation

/// A QEMU VM saved to files and started again from them, through QEMU's migration with
/// `x-ignore-shared`: RAM in a shared file (`VMConfig.memoryFile` of the saved VM) stays in that
/// file and the state file holds only CPU and device state, so a VM restored from both maps the
/// RAM file copy-on-write and reads pages as it touches them, instead of QEMU copying ~100 MB
/// before the guest runs (anonymous RAM would still go into the state file). QEMU 7.2 has no
/// `file:` migration target, so both ends go through `exec:` and `cat`.
public enum QEMUMachineState {
    /// The migration URI that reads `path`.
    public static func incomingURI(_ path: String) -> String { "exec:cat " + shellQuoted(path) }

    /// Stops the VM and writes its state to `path` (a temporary file renamed when complete, so
    /// a reader never sees half a state). The VM stays stopped: its RAM file is the other half
    /// of what was saved, and must not change before the caller is done.
    public static func save(qmpSocket: String, to path: String, timeout: TimeInterval = 120) throws {
        let qmp = try QMPClient(socketPath: qmpSocket, timeout: timeout)
        let temp = path + ".tmp-\(getpid())"
        try ignoreSharedRAM(qmp)
        try qmp.execute("stop")
        do {
            try qmp.execute("migrate", arguments: ["uri": "exec:cat > " + shellQuoted(temp)])
            try waitForMigration(qmp, what: "saving the VM state", timeout: timeout)
            chmod(temp, 0o600)  // the guest's memory: nobody else's business
            guard rename(temp, path) == 0 else {
                throw FirebuildError(.io, "cannot rename \(temp) to \(path): \(String(cString: strerror(errno)))")
            }
        } catch {
            unlink(temp)
            throw error
        }
    }

    /// Loads the state into a QEMU started with `VMConfig.incomingState` (`-incoming defer`),
    /// then lets the VM run. Fails early when QEMU exits (a state it cannot load).
    public static func runRestored(_ handle: VMHandle, state: String, timeout: TimeInterval = 60) throws {
        let qmp = try QMPClient(socketPath: handle.controlSocket, timeout: timeout)
        try ignoreSharedRAM(qmp)
        try qmp.execute("migrate-incoming", arguments: ["uri": incomingURI(state)])
        let deadline = Date().addingTimeInterval(timeout)
        var backoff = Backoff()
        while true {
            if VMProcess.exitStatus(pid: handle.pid, startTime: handle.processStartTime) != nil {
                throw FirebuildError(.subprocess, "QEMU exited while loading the saved VM state: \(VMProcess.tail(handle.vmmLogPath))")
            }
            let status = try qmp.status()
            if status == "running" { return }
            if status == "paused" { break }
            if status != "inmigrate" && status != "prelaunch" {
                throw FirebuildError(.subprocess, "QEMU is \(status) after loading the saved VM state")
            }
            if Date() > deadline { throw FirebuildError(.timeout, "QEMU did not load the saved VM state within \(Int(timeout)) s") }
            backoff.sleep()
        }
        try qmp.execute("cont")
    }

    /// `x-ignore-shared`, set on both ends: RAM in a shared file is not copied into the stream.
    static func ignoreSharedRAM(_ qmp: QMPClient) throws {
        try qmp.execute("migrate-set-capabilities",
                        arguments: ["capabilities": [["capability": "x-ignore-shared", "state": true]]])
    }

    static func waitForMigration(_ qmp: QMPClient, what: String, timeout: TimeInterval) throws {
        let deadline = Date().addingTimeInterval(timeout)
        var backoff = Backoff()
        while true {
            let info = try qmp.execute("query-migrate") as? [String: Any]
            let status = info?["status"] as? String ?? "?"
            if status == "completed" { return }
            if status == "failed" || status == "cancelled" {
                throw FirebuildError(.subprocess, "QEMU failed \(what): \(info?["error-desc"] ?? status)")
            }
            if Date() > deadline {
                _ = try? qmp.execute("migrate_cancel")
                throw FirebuildError(.timeout, "\(what) took more than \(Int(timeout)) s")
            }
            backoff.sleep()
        }
    }

    static func shellQuoted(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
}
