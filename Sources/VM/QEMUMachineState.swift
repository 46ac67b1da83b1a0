import FirebuildCore
import Foundation

/// A QEMU VM's whole state (RAM, CPU, devices) in a file, through QEMU's migration: `save` writes
/// it from a running VM, a new QEMU given the file (`VMConfig.incomingState`) starts from it.
/// QEMU 7.2 has no `file:` migration target, so both ends go through `exec:` and `cat`.
public enum QEMUMachineState {
    /// The `-incoming` value that reads `path`.
    public static func incomingURI(_ path: String) -> String { "exec:cat " + shellQuoted(path) }

    /// Stops the VM, writes its state to `path` (a temporary file renamed when complete, so a
    /// reader never sees half a state), and lets the VM go on.
    public static func save(qmpSocket: String, to path: String, timeout: TimeInterval = 120) throws {
        let qmp = try QMPClient(socketPath: qmpSocket, timeout: timeout)
        let temp = path + ".tmp-\(getpid())"
        try qmp.execute("stop")
        defer { _ = try? qmp.execute("cont") }
        do {
            try qmp.execute("migrate", arguments: ["uri": "exec:cat > " + shellQuoted(temp)])
            let deadline = Date().addingTimeInterval(timeout)
            var backoff = Backoff()
            while true {
                let info = try qmp.execute("query-migrate") as? [String: Any]
                let status = info?["status"] as? String ?? "?"
                if status == "completed" { break }
                if status == "failed" || status == "cancelled" {
                    throw FirebuildError(.subprocess, "QEMU could not save the VM state: \(info?["error-desc"] ?? status)")
                }
                if Date() > deadline {
                    _ = try? qmp.execute("migrate_cancel")
                    throw FirebuildError(.timeout, "saving the VM state took more than \(Int(timeout)) s")
                }
                backoff.sleep()
            }
            chmod(temp, 0o600)  // the guest's memory: nobody else's business
            guard rename(temp, path) == 0 else {
                throw FirebuildError(.io, "cannot rename \(temp) to \(path): \(String(cString: strerror(errno)))")
            }
        } catch {
            unlink(temp)
            throw error
        }
    }

    /// Waits until a QEMU started with `-incoming` has loaded its state, then lets the VM run.
    /// Fails early when QEMU exits (a state it cannot load).
    public static func runRestored(_ handle: VMHandle, timeout: TimeInterval = 60) throws {
        let qmp = try QMPClient(socketPath: handle.controlSocket, timeout: timeout)
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

    static func shellQuoted(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
}
