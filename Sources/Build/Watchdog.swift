import FirebuildCore
import Foundation
import Guest

/// Liveness of a build VM: kills it when the whole-build deadline passes, when a step shows no
/// activity for `inactivity` seconds, or when the guest stops sending heartbeats (hung kernel).
/// The blocked guest call then fails, and the build reports `reason`.
final class Watchdog: @unchecked Sendable {
    let vm: StageVM
    let deadline: Date?
    let inactivity: TimeInterval
    /// Heartbeats come every 2 s (see StageVM); this much silence means the guest is gone.
    let heartbeatSilence: TimeInterval = 45
    private let lock = NSLock()
    private var lastActivity = Date()
    private var stopped = false
    private var _reason: FirebuildError?

    init(vm: StageVM, deadline: Date?, inactivity: TimeInterval) {
        self.vm = vm
        self.deadline = deadline
        self.inactivity = inactivity
    }

    var reason: FirebuildError? { lock.lock(); defer { lock.unlock() }; return _reason }

    func touch() { lock.lock(); lastActivity = Date(); lock.unlock() }

    func stop() { lock.lock(); stopped = true; lock.unlock() }

    func start() {
        let t = Thread { [self] in loop() }
        t.start()
    }

    private func loop() {
        while true {
            sleep(1)
            lock.lock()
            if stopped { lock.unlock(); return }
            let now = Date()
            var why: FirebuildError?
            if let deadline, now > deadline {
                why = FirebuildError(.timeout, "the build exceeded its --timeout; the build VM was stopped")
            } else if now.timeIntervalSince(lastActivity) > inactivity {
                why = FirebuildError(.timeout, "a build step showed no activity for \(Int(inactivity)) s; the build VM was stopped")
            }
            lock.unlock()
            let silent = vm.connection.lastFrameAt > 0 && Posix.now() - vm.connection.lastFrameAt > heartbeatSilence
            if why == nil && silent {
                why = FirebuildError(.timeout, "the build VM stopped answering (no heartbeat for \(Int(heartbeatSilence)) s)")
            }
            if let why {
                lock.lock(); _reason = why; stopped = true; lock.unlock()
                vm.kill()
                return
            }
        }
    }
}
