// The reader thread of GuestConnection: routes every frame from the guest.
#if canImport(Glibc)
import Glibc
#endif

extension GuestConnection {
    func readLoop() {
        while true {
            let frame: Frame
            do {
                guard let f = try channel.receive(timeout: nil) else { continue }
                frame = f
            } catch {
                let reason = (error as? GuestError) ?? GuestError(.io, "\(error)")
                state.withLock {
                    if closedReason == nil { closedReason = reason }
                    state.broadcast()
                }
                return
            }
            route(frame)
        }
    }

    func route(_ frame: Frame) {
        var deliver: (() -> Void)?
        state.withLock {
            lastFrameAt = Posix.now()
            defer { state.broadcast() }
            switch frame.type {
            case .ready:
                readyInfo = (try? ReadyInfo(frame: frame)) ?? ReadyInfo(initVersion: "?", uptime: 0, channel: "?")
            case .stdout, .stderr:
                let stream: GuestStream = frame.type == .stdout ? .stdout : .stderr
                if frame.id == Frame.workloadID {
                    if let h = outputHandler { deliver = { h(stream, frame.body) } }
                    else if bufferedOutput.count < 4096 { bufferedOutput.append((stream, frame.body)) }
                } else if let h = pending[frame.id]?.onOutput {
                    deliver = { h(stream, frame.body) }
                }
            case .exit where frame.id == Frame.workloadID:
                let status = (try? ExitStatus(frame: frame)) ?? ExitStatus(code: 255)
                workloadExit = status
                if let h = exitHandler { deliver = { h(status) } }
                // Tell the guest we saw it, so it can power off without losing the frame.
                let ack = Frame(.ack, id: Frame.workloadID)
                let ch = channel, lock = sendLock
                let prev = deliver
                deliver = { prev?(); try? lock.withLock { try ch.send(ack) } }
            case .error where frame.id == Frame.workloadID:
                fatalError = (try? TextMessage(frame: frame).message) ?? "guest error"
                if let h = logHandler, let msg = fatalError { deliver = { h("error: " + msg) } }
            case .log:
                if let h = logHandler, let m = try? TextMessage(frame: frame) { deliver = { h(m.message) } }
            case .bootPaused:
                bootPaused = (try? BootPausedInfo(frame: frame)) ?? BootPausedInfo(uptime: 0)
            case .heartbeat:
                break
            case .exit, .error, .ok, .statResult:
                pending[frame.id]?.done = frame
            default:
                break  // host-bound types only; anything else is ignored
            }
        }
        deliver?()  // outside the lock: callbacks may call back into the connection
    }
}
