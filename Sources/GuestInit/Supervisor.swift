// The init's single-threaded event loop: one poll() over the channel, a signalfd (SIGCHLD,
// SIGTERM, SIGINT) and the output pipes of every running process. Single-threaded on purpose:
// fork() from PID 1 stays safe and no locking is needed.
#if canImport(Glibc)
import Glibc
#endif
import CSyscalls
import Guest

final class Supervisor {
    let channel: FrameChannel
    let channelName: String
    let options: InitOptions
    let sigfd: Int32
    var connected = true
    var lastHangup = 0.0
    var metadata: Metadata?
    var metadataID: UInt32 = 0
    var procs: [Proc] = []
    var files: [UInt32: OpenFile] = [:]
    /// Content disks found so far: header token -> fd of the block device (O_DIRECT).
    var contentDisks: [String: Int32] = [:]
    var nextHeartbeat = 0.0
    /// Workload stop in progress: SIGKILL at this time.
    var killDeadline: Double?
    /// Requests waiting for the end (a `shutdown` id to acknowledge).
    var shutdownReplyID: UInt32?
    var shuttingDown = false
    /// Run mode: the workload's status, sent; waiting for the host's `ack` until this time.
    var workloadStatus: ExitStatus?
    var ackDeadline: Double?

    init(channelFD: Int32, channelName: String, options: InitOptions) throws {
        channel = FrameChannel(fd: channelFD)
        self.channelName = channelName
        self.options = options
        let sigs: [Int32] = [SIGCHLD, SIGTERM, SIGINT]
        sigfd = sigs.withUnsafeBufferPointer { fb_signalfd($0.baseAddress, Int32($0.count)) }
        guard sigfd >= 0 else { throw GuestError.posix("signalfd") }
    }

    var heartbeatInterval: Double { metadata?.heartbeatInterval ?? 5 }
    var workload: Proc? { procs.first(where: { $0.isWorkload }) }

    /// Sends a frame; a vanished host is not fatal at run time (the workload keeps running).
    func send(_ frame: Frame) {
        guard connected else { return }
        do { try channel.send(frame) } catch { hostGone("send failed: \(error)") }
    }

    func sendJSON(_ type: FrameType, _ id: UInt32, _ msg: GuestMessage) { send(Frame(type, id: id, json: msg.json)) }
    func sendError(_ id: UInt32, _ message: String) { sendJSON(.error, id, TextMessage(message)) }

    func run() -> Never {
        BootTrace.mark("ready")
        sendJSON(.ready, Frame.workloadID, ReadyInfo(initVersion: initVersion, uptime: BootTrace.uptime(), channel: channelName,
                                                     phases: BootTrace.phases))
        nextHeartbeat = Posix.now() + heartbeatInterval
        while true {
            if let code = finishedCode() { Setup.finish(options: options, code: code) }
            pollOnce()
        }
    }

    /// The exit code once there is nothing left to wait for; nil while work remains.
    func finishedCode() -> Int32? {
        if let status = workloadStatus {
            if let deadline = ackDeadline, connected, Posix.now() < deadline { return nil }
            if let id = shutdownReplyID { send(Frame(.ok, id: id)); shutdownReplyID = nil }
            return status.exitCode
        }
        if shuttingDown && workload == nil {
            if let id = shutdownReplyID { send(Frame(.ok, id: id)); shutdownReplyID = nil }
            return 0
        }
        if !connected && (options.channelFD != nil || metadata?.mode != .run) { return workload == nil ? 0 : nil }
        return nil
    }

    func pollOnce() {
        let now = Posix.now()
        var fds = [pollfd(fd: sigfd, events: Int16(POLLIN), revents: 0)]
        let channelPolled = connected || now - lastHangup > 1
        if channelPolled { fds.append(pollfd(fd: channel.fd, events: Int16(POLLIN), revents: 0)) }
        var owners: [(Proc, Int32)] = []
        for p in procs {
            for fd in [p.out, p.err] where fd >= 0 {
                fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)); owners.append((p, fd))
            }
            if p.stdinFD >= 0 && !p.stdinPending.isEmpty {
                fds.append(pollfd(fd: p.stdinFD, events: Int16(POLLOUT), revents: 0)); owners.append((p, p.stdinFD))
            }
        }
        var deadlines = [nextHeartbeat, now + 1]
        if let k = killDeadline { deadlines.append(k) }
        if let a = ackDeadline { deadlines.append(a) }
        let wait = max(0, (deadlines.min() ?? now + 1) - now)
        let r = poll(&fds, nfds_t(fds.count), Int32(wait * 1000) + 1)
        if r < 0 && errno != EINTR { log("poll: \(String(cString: strerror(errno)))"); usleep(100_000) }

        if r > 0 {
            if fds[0].revents != 0 { handleSignals() }
            let base = channelPolled ? 2 : 1
            if channelPolled && fds[1].revents != 0 { readChannel() }
            for (i, (proc, fd)) in owners.enumerated() where fds[base + i].revents != 0 {
                if fd == proc.stdinFD { proc.flushStdin() } else { pump(proc, fd) }
            }
        }
        timers()
    }

    func timers() {
        let now = Posix.now()
        if now >= nextHeartbeat {
            if heartbeatInterval > 0 { sendJSON(.heartbeat, Frame.workloadID, TextMessage("alive")) }
            nextHeartbeat = now + max(heartbeatInterval, 1)
        }
        if let k = killDeadline, now >= k, let w = workload {
            log("workload did not stop in time: SIGKILL")
            kill(-w.pid, SIGKILL); kill(w.pid, SIGKILL)
            killDeadline = nil
        }
    }

    func handleSignals() {
        while true {
            let s = fb_signalfd_read(sigfd)
            if s <= 0 { return }
            if s == SIGCHLD { reap() }
            else if s == SIGTERM || s == SIGINT { beginShutdown(signal: s, timeout: nil, replyID: nil) }
        }
    }

    // MARK: channel

    func readChannel() {
        do {
            if !connected { channel.resetDecoder() }  // a half frame from the old connection is garbage
            let alive = try channel.readAvailable()
            if !alive { hostGone("channel closed"); return }
            if !connected { connected = true; log("host reconnected") }
            while let frame = try channel.nextBuffered() { handle(frame) }
        } catch {
            log("channel error: \(error)")
            hostGone("\(error)")
        }
    }

    func hostGone(_ why: String) {
        if connected { log("host channel lost (\(why))") }
        connected = false
        lastHangup = Posix.now()
        if options.channelFD != nil || metadata?.mode != .run {
            // Nobody will ever ask again: stop the work and end.
            for p in procs { kill(-p.pid, SIGKILL); kill(p.pid, SIGKILL) }
            shuttingDown = true
        }
    }

    func handle(_ frame: Frame) {
        do {
            switch frame.type {
            case .metadata: try handleMetadata(frame)
            case .exec:
                let req = try ExecRequest(frame: frame)
                try startExec(req, id: frame.id)
            case .stdin:
                guard let p = procs.first(where: { $0.id == frame.id && !$0.isWorkload }) else { return }
                p.queueStdin(frame.body)
            case .signal:
                let req = try SignalRequest(frame: frame)
                guard let sig = Signals.parse(req.signal) else { throw GuestError(.invalidArgument, "unknown signal \(req.signal)") }
                guard let p = procs.first(where: { $0.id == req.target && (req.target != Frame.workloadID || $0.isWorkload) }) else {
                    throw GuestError(.notFound, "no running process with id \(req.target)")
                }
                if sig == SIGKILL { kill(-p.pid, SIGKILL) }
                kill(p.pid, sig)
                send(Frame(.ok, id: frame.id))
            case .writeFile: try openFile(frame)
            case .fileData: writeFileData(frame)
            case .fileEnd: try closeFile(frame)
            case .fileBatch: try applyFileBatch(frame); send(Frame(.ok, id: frame.id))
            case .mkdir: try makeDirectory(frame); send(Frame(.ok, id: frame.id))
            case .chown: try changeOwner(frame); send(Frame(.ok, id: frame.id))
            case .stat: send(Frame(.statResult, id: frame.id, json: try statPath(frame).json))
            case .shutdown:
                let req = try ShutdownRequest(frame: frame)
                let sig = try req.signal.map { s -> Int32 in
                    guard let n = Signals.parse(s) else { throw GuestError(.invalidArgument, "unknown signal \(s)") }
                    return n
                }
                beginShutdown(signal: sig, timeout: req.timeout, replyID: frame.id)
            case .ack:
                if frame.id == Frame.workloadID { ackDeadline = nil }
            default:
                throw GuestError(.protocolError, "unexpected frame type \(frame.type) from the host")
            }
        } catch {
            sendError(frame.id, "\(error)")
        }
    }

    // MARK: lifecycle

    func handleMetadata(_ frame: Frame) throws {
        guard metadata == nil else { throw GuestError(.invalidArgument, "metadata was already applied") }
        BootTrace.mark("metadata")
        let md = try Metadata(frame: frame)
        metadata = md
        metadataID = frame.id
        nextHeartbeat = Posix.now() + heartbeatInterval
        try Setup.apply(md, options: options)
        BootTrace.mark("applied")
        if md.initImage {
            sendMetadataOK(frame.id)
            execImageInit()
        }
        guard md.mode == .run else { sendMetadataOK(frame.id); return }
        do {
            let argv = try Workload.command(image: md.image, entrypointOverride: md.entrypointOverride, cmdOverride: md.cmdOverride)
            let env = Workload.mergeEnv(md.image.env ?? [], md.env)
            let p = try spawn(id: Frame.workloadID, argv: argv, env: env, user: md.userOverride ?? md.image.user ?? "",
                              workdir: md.workdirOverride ?? md.image.workingDir, stdin: false, isWorkload: true)
            procs.append(p)
            BootTrace.mark("workload")
            sendMetadataOK(frame.id)
        } catch {
            // The workload could not start: report it as the host sees docker run fail (126/127).
            sendError(frame.id, "cannot start the workload: \(error)")
            let code: Int32 = (error as? GuestError)?.code == .notFound ? 127 : 126
            workloadFinished(.exited(code))
        }
    }

    /// The metadata reply carries every start-up milestone (the host logs them at debug level).
    func sendMetadataOK(_ id: UInt32) {
        var o = ObjectBuilder()
        o.set("phases", BootPhase.json(BootTrace.phases))
        send(Frame(.ok, id: id, json: o.json))
    }

    /// init=image: hand the machine over to the image's own init (systemd, openrc, sysvinit).
    /// In test mode the candidates are looked up under --root, never the host's own init.
    func execImageInit() -> Never {
        for candidate in ["/sbin/init", "/lib/systemd/systemd", "/usr/lib/systemd/systemd"] {
            let path = Posix.join(options.root, candidate)
            guard access(path, X_OK) == 0 else { continue }
            log("init=image: exec \(path)")
            close(channel.fd)
            close(sigfd)
            fb_reset_signals()  // our blocked signals and ignored SIGPIPE would be inherited
            let argv: [UnsafeMutablePointer<CChar>?] = [strdup(candidate), nil]
            execv(path, argv)
            log("exec \(path): \(String(cString: strerror(errno)))")
        }
        log("init=image: the image has no /sbin/init")
        Setup.finish(options: options, code: 1)
    }

    func beginShutdown(signal: Int32?, timeout: Double?, replyID: UInt32?) {
        if let replyID { shutdownReplyID = replyID }
        shuttingDown = true
        for p in procs where !p.isWorkload { kill(-p.pid, SIGKILL); kill(p.pid, SIGKILL) }
        guard let w = workload else { return }
        let sig = signal ?? metadata?.image.stopSignal.flatMap(Signals.parse) ?? SIGTERM
        kill(w.pid, sig)
        let t = timeout ?? metadata?.stopTimeout ?? 10
        let deadline = Posix.now() + t
        killDeadline = min(killDeadline ?? deadline, deadline)
    }

    /// The workload ended: report it and wait (briefly) for the host's acknowledgement.
    func workloadFinished(_ status: ExitStatus) {
        log("workload ended: \(status)")
        sendJSON(.exit, Frame.workloadID, status)
        workloadStatus = status
        killDeadline = nil
        ackDeadline = Posix.now() + 3
    }
}
