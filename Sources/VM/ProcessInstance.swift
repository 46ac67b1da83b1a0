import FirebuildCore
import Foundation

/// What QEMU and Firecracker instances share: a VMM process (pid + start time, so a recycled pid
/// is never signalled) and one stop sequence. Each VMM only says how it asks the guest to power
/// off and how it asks the VMM itself to quit.
protocol ProcessBackedInstance: VMInstance {
    /// Asks the guest to power off (ACPI power button, Ctrl-Alt-Del): best effort.
    func requestGuestPowerOff()
    /// Asks the VMM to exit now (QMP `quit`, SIGTERM): best effort.
    func requestVMMQuit()
    /// How long the VMM gets to exit after `requestVMMQuit` before SIGKILL.
    var quitGrace: TimeInterval { get }
}

extension ProcessBackedInstance {
    var exit: VMExit? { VMProcess.exitStatus(pid: handle.pid, startTime: handle.processStartTime) }

    public func stop(graceful: Bool, timeout: TimeInterval) throws -> StopOutcome {
        try FirebuildTracing.span("vm.stop", attributes: [FirebuildSpanKey.vmID: handle.id, "firebuild.vm.graceful": graceful]) { span in
            let outcome = try stopSequence(graceful: graceful, timeout: timeout)
            span.attributes["firebuild.vm.stop"] = "\(outcome)"
            return outcome
        }
    }

    private func stopSequence(graceful: Bool, timeout: TimeInterval) throws -> StopOutcome {
        if exit != nil { return .alreadyStopped }
        if graceful {
            requestGuestPowerOff()
            if wait(timeout: timeout) != nil { return .graceful }
        }
        requestVMMQuit()
        if wait(timeout: quitGrace) == nil {
            try VMProcess.kill(pid: handle.pid, startTime: handle.processStartTime)
        }
        return .forced
    }

    public func kill() throws {
        try FirebuildTracing.span("vm.kill", attributes: [FirebuildSpanKey.vmID: handle.id]) { _ in
            try VMProcess.kill(pid: handle.pid, startTime: handle.processStartTime)
        }
    }

    public func wait(timeout: TimeInterval?) -> VMExit? {
        VMProcess.wait(pid: handle.pid, startTime: handle.processStartTime, timeout: timeout)
    }
}
