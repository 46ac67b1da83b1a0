import FirebuildCore
import Foundation
import Guest
import VM

extension RunEngine {
    /// `firebuild run`: with `daemonize`, returns 0 once the guest is ready and leaves the VM
    /// (whose VMM runs in its own session) to later commands; otherwise streams the workload's
    /// output until it ends or Ctrl-C / SIGTERM stops it, cleans up, and returns its exit code.
    public func run(_ req: RunRequest, output: @escaping (GuestStream, [UInt8]) -> Void) throws -> Int32 {
        try FirebuildTracing.span("runtime.run", attributes: [FirebuildSpanKey.image: req.from, "firebuild.daemonize": req.daemonize]) { span in
            let status = try runTraced(req, output: output)
            span.attributes["firebuild.exit_code"] = Int(status)
            return status
        }
    }

    private func runTraced(_ req: RunRequest, output: @escaping (GuestStream, [UInt8]) -> Void) throws -> Int32 {
        let exited = Monitor()
        var workloadStatus: ExitStatus?
        let started = try start(req, output: output, exit: { status in
            exited.withLock { workloadStatus = status }
            exited.signal()
        })
        let id = started.record.vmmID
        if req.daemonize {
            started.connection.close()
            logger.info("VM running as a daemon", metadata: ["vmm-id": .string(id), "run-dir": .string(started.record.paths.runDir)])
            return 0
        }

        // Signals become a graceful stop; handled on a queue so no async-signal-unsafe work runs in a handler.
        var stopRequested = false
        let signalQueue = DispatchQueue(label: "firebuild.run.signals")
        var sources: [DispatchSourceSignal] = []
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: signalQueue)
            source.setEventHandler {
                exited.withLock { stopRequested = true }
                exited.signal()
            }
            source.resume()
            sources.append(source)
        }
        defer {
            sources.forEach { $0.cancel() }
            signal(SIGINT, SIG_DFL)
            signal(SIGTERM, SIG_DFL)
        }

        while true {
            let (status, stop) = exited.withLock { (workloadStatus, stopRequested) }
            if status != nil || stop { break }
            if case .exited = started.instance.status() { break }
            exited.wait(timeout: 0.5)
        }
        let stop = exited.withLock { stopRequested }
        if stop {
            logger.info("stopping VM", metadata: ["vmm-id": .string(id)])
            try? started.connection.shutdown(stopTimeout: req.shutdownTimeout, timeout: req.shutdownTimeout + 5)
        }
        started.connection.close()
        // The init powers the VM off after the workload; wait for the VMM before cleaning up.
        _ = started.instance.wait(timeout: req.shutdownTimeout)
        try teardown(id: id, graceful: false, timeout: 5)
        let status = exited.withLock { workloadStatus }
        return status?.exitCode ?? (stop ? 130 : 1)
    }
}

/// A lock with a condition, for waiting on events from the guest connection's reader thread.
final class Monitor: @unchecked Sendable {
    private let condition = NSCondition()

    func withLock<T>(_ body: () -> T) -> T {
        condition.lock()
        defer { condition.unlock() }
        return body()
    }

    func signal() {
        condition.lock()
        condition.broadcast()
        condition.unlock()
    }

    func wait(timeout: TimeInterval) {
        condition.lock()
        _ = condition.wait(until: Date().addingTimeInterval(timeout))
        condition.unlock()
    }
}
