// The host side of the channel: wraps a connected fd (the QEMU chardev Unix socket, a Firecracker
// vsock Unix socket after its CONNECT handshake, or a socketpair in tests). A background thread
// reads frames and routes them: replies to the waiting request, workload events to callbacks.
// Every public wait takes a timeout and fails early when the guest goes away.
#if canImport(Glibc)
import Glibc
#endif

public enum GuestStream: String, Sendable { case stdout, stderr }

public final class GuestConnection {
    final class Pending {
        var done: Frame?
        var onOutput: ((GuestStream, [UInt8]) -> Void)?
        init(onOutput: ((GuestStream, [UInt8]) -> Void)?) { self.onOutput = onOutput }
    }

    let channel: FrameChannel
    let state = Monitor()
    let sendLock = Monitor()
    // All below guarded by `state`.
    var nextID: UInt32 = 1
    var pending: [UInt32: Pending] = [:]
    var readyInfo: ReadyInfo?
    var bootPaused: BootPausedInfo?
    var workloadExit: ExitStatus?
    var closedReason: GuestError?
    var fatalError: String?
    var bufferedOutput: [(GuestStream, [UInt8])] = []
    var outputHandler: ((GuestStream, [UInt8]) -> Void)?
    var exitHandler: ((ExitStatus) -> Void)?
    var logHandler: ((String) -> Void)?
    /// Monotonic time of the last frame from the guest (heartbeats included).
    public internal(set) var lastFrameAt: Double = Posix.now()

    /// Takes ownership of `fd` and starts reading from it.
    public init(fd: Int32) throws {
        channel = FrameChannel(fd: fd)
        try startThread { [self] in readLoop() }
    }

    /// Connects to a Unix socket (QEMU's `-chardev socket,server=on` path), retrying until it
    /// exists and accepts or the timeout passes.
    public static func connect(unixPath path: String, timeout: Double) throws -> GuestConnection {
        let deadline = Posix.now() + timeout
        while true {
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw GuestError.posix("socket") }
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
                Glibc.close(fd); throw GuestError(.invalidArgument, "socket path too long (max 107 bytes): \(path)")
            }
            withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in bytes.enumerated() { raw[i] = b } }
            let rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            if rc == 0 { return try GuestConnection(fd: fd) }
            let err = errno
            Glibc.close(fd)
            guard err == ENOENT || err == ECONNREFUSED || err == EAGAIN, Posix.now() < deadline else {
                throw GuestError(err == ENOENT || err == ECONNREFUSED ? .timeout : .io,
                                 "connect to guest channel \(path): \(String(cString: strerror(err)))")
            }
            usleep(20_000)
        }
    }

    /// Sets the workload callbacks (called on the reader thread). Output that arrived earlier is
    /// delivered now, so nothing is lost between `sendMetadata` and this call.
    public func setWorkloadHandlers(output: ((GuestStream, [UInt8]) -> Void)?, exit: ((ExitStatus) -> Void)? = nil,
                                    log: ((String) -> Void)? = nil) {
        let (early, exited): ([(GuestStream, [UInt8])], ExitStatus?) = state.withLock {
            outputHandler = output; exitHandler = exit; logHandler = log
            defer { bufferedOutput = [] }
            return (bufferedOutput, workloadExit)
        }
        for (s, b) in early { output?(s, b) }
        if let exited { exit?(exited) }
    }

    /// Closes the channel; pending and later calls fail with `.closed`.
    public func close() {
        _ = Glibc.shutdown(channel.fd, Int32(SHUT_RDWR))
        state.withLock {
            if closedReason == nil { closedReason = GuestError(.closed, "guest connection closed") }
            state.broadcast()
        }
    }

    deinit { Glibc.close(channel.fd) }

    // MARK: waiting

    /// Waits for the guest's `ready` frame.
    public func waitReady(timeout: Double) throws -> ReadyInfo {
        try wait(timeout: timeout, what: "the guest init to become ready") { readyInfo }
    }

    /// Waits for early boot's `bootPaused` frame (a VM booted with `firebuild.pause`); nil when
    /// the init became ready without pausing (an init or initrd that does not know the flag).
    public func waitBootPaused(timeout: Double) throws -> BootPausedInfo? {
        try wait(timeout: timeout, what: "early boot to pause") { () -> BootPausedInfo?? in
            if let bootPaused { return .some(bootPaused) }
            return readyInfo == nil ? nil : .some(nil)
        }
    }

    /// Lets a paused (or just restored) early boot go on.
    public func resume(_ info: ResumeInfo) throws {
        try send(Frame(.resume, id: 0, json: info.json))
    }

    /// Waits for the workload's exit (run mode).
    public func waitWorkloadExit(timeout: Double?) throws -> ExitStatus {
        try wait(timeout: timeout, what: "the workload to exit") { workloadExit }
    }

    /// Waits until `value` (evaluated under the lock) is non-nil, the channel closes or the timeout passes.
    func wait<T>(timeout: Double?, what: String, _ value: () -> T?) throws -> T {
        let deadline = timeout.map { Posix.now() + $0 }
        return try state.withLock {
            while true {
                if let v = value() { return v }
                if let closedReason {
                    throw GuestError(closedReason.code, "guest went away while waiting for \(what): \(fatalError ?? closedReason.message)")
                }
                if !state.wait(until: deadline) && value() == nil {
                    throw GuestError(.timeout, "timed out after \(Int(timeout ?? 0)) s waiting for \(what)")
                }
            }
        }
    }

    // MARK: requests

    func allocate(onOutput: ((GuestStream, [UInt8]) -> Void)? = nil) -> (UInt32, Pending) {
        state.withLock {
            let id = nextID
            nextID = nextID == UInt32.max ? 1 : nextID + 1
            let p = Pending(onOutput: onOutput)
            pending[id] = p
            return (id, p)
        }
    }

    func send(_ frame: Frame) throws {
        if let reason = state.withLock({ closedReason }) { throw reason }
        try sendLock.withLock { try channel.send(frame) }
    }

    /// Sends a request and waits for its terminating frame (ok, error, exit, statResult).
    func request(_ type: FrameType, _ json: JSON, timeout: Double?, what: String,
                 onOutput: ((GuestStream, [UInt8]) -> Void)? = nil,
                 afterSend: (UInt32) throws -> Void = { _ in }) throws -> Frame {
        let (id, p) = allocate(onOutput: onOutput)
        defer { _ = state.withLock { pending.removeValue(forKey: id) } }
        try send(Frame(type, id: id, json: json))
        try afterSend(id)
        let reply = try wait(timeout: timeout, what: what) { p.done }
        if reply.type == .error {
            let msg = (try? TextMessage(frame: reply).message) ?? "unknown error"
            throw GuestError(.guest, "\(what) failed in the guest: \(msg)")
        }
        return reply
    }

    /// Sends the VM's metadata; returns once the guest has applied it (network, files, user) and,
    /// in run mode, started the workload. Throws the guest's error (e.g. unknown USER). Returns the
    /// init's start-up milestones when the guest reports them (diagnostics; empty from older inits).
    @discardableResult
    public func sendMetadata(_ metadata: Metadata, timeout: Double = 30) throws -> [BootPhase] {
        let reply = try request(.metadata, metadata.json, timeout: timeout, what: "applying the VM metadata")
        return BootPhase.list((try? JSON.parse(reply.body))?["phases"])
    }

    /// Runs a command and waits for it. `onOutput` is called on the reader thread. On timeout the
    /// command is killed (SIGKILL) and `.timeout` is thrown.
    public func exec(_ req: ExecRequest, stdin: [UInt8]? = nil, timeout: Double?,
                     onOutput: @escaping (GuestStream, [UInt8]) -> Void) throws -> ExitStatus {
        var r = req
        r.stdin = stdin != nil
        var execID: UInt32 = 0
        do {
            let reply = try request(.exec, r.json, timeout: timeout, what: "command \(req.argv.first ?? "")", onOutput: onOutput, afterSend: { id in
                execID = id
                guard let stdin else { return }
                var off = 0
                while off < stdin.count {
                    let end = min(off + Frame.chunkSize, stdin.count)
                    try self.send(Frame(.stdin, id: id, body: Array(stdin[off..<end])))
                    off = end
                }
                try self.send(Frame(.stdin, id: id))
            })
            return try ExitStatus(frame: reply)
        } catch let e as GuestError where e.code == .timeout && execID != 0 {
            try? send(Frame(.signal, id: 0, json: SignalRequest(target: execID, signal: "KILL").json))
            throw e
        }
    }

    /// Convenience form of `exec(_:stdin:timeout:onOutput:)`.
    public func exec(_ argv: [String], env: [String] = [], user: String? = nil, workdir: String? = nil,
                     timeout: Double?, onOutput: @escaping (GuestStream, [UInt8]) -> Void) throws -> ExitStatus {
        try exec(ExecRequest(argv: argv, env: env, user: user, workdir: workdir), timeout: timeout, onOutput: onOutput)
    }

    /// Convenience: runs a command and returns (status, stdout, stderr) collected in memory.
    public func execCollect(_ req: ExecRequest, stdin: [UInt8]? = nil, timeout: Double?) throws -> (ExitStatus, [UInt8], [UInt8]) {
        let out = Monitor()
        var o: [UInt8] = [], e: [UInt8] = []
        let status = try exec(req, stdin: stdin, timeout: timeout) { s, b in
            out.withLock { if s == .stdout { o += b } else { e += b } }
        }
        return out.withLock { (status, o, e) }
    }

    /// Streams a file into the guest. `nextChunk` returns the next bytes, or nil at the end.
    public func writeFile(_ req: WriteFileRequest, timeout: Double?, nextChunk: () throws -> [UInt8]?) throws {
        _ = try request(.writeFile, req.json, timeout: timeout, what: "writing \(req.path)", afterSend: { id in
            while let chunk = try nextChunk() {
                var off = 0
                while off < chunk.count {
                    let end = min(off + Frame.chunkSize, chunk.count)
                    try self.send(Frame(.fileData, id: id, body: Array(chunk[off..<end])))
                    off = end
                }
            }
            try self.send(Frame(.fileEnd, id: id))
        })
    }

    public func writeFile(_ req: WriteFileRequest, data: [UInt8], timeout: Double?) throws {
        var sent = false
        try writeFile(req, timeout: timeout) { if sent { return nil }; sent = true; return data }
    }

    /// Streams a local file (never fully loaded in memory).
    public func writeFile(_ req: WriteFileRequest, fromLocalPath local: String, timeout: Double?) throws {
        let fd = open(local, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw GuestError.posix("open", local) }
        defer { Glibc.close(fd) }
        try writeFile(req, timeout: timeout) {
            let chunk = try Posix.readSome(fd, max: Frame.chunkSize)
            return chunk.isEmpty ? nil : chunk
        }
    }

    /// Applies many COPY entries with one round trip (see FileBatch).
    public func applyFileBatch(_ batch: FileBatch, timeout: Double?) throws {
        _ = try request(.fileBatch, batch.json, timeout: timeout, what: "writing \(batch.entries.count) file(s)")
    }

    public func mkdir(_ req: MkdirRequest, timeout: Double? = 30) throws {
        _ = try request(.mkdir, req.json, timeout: timeout, what: "mkdir \(req.path)")
    }

    public func chown(_ req: ChownRequest, timeout: Double? = 60) throws {
        _ = try request(.chown, req.json, timeout: timeout, what: "chown \(req.path)")
    }

    public func stat(_ path: String, followLinks: Bool = false, timeout: Double? = 30) throws -> StatResult {
        let reply = try request(.stat, StatRequest(path: path, followLinks: followLinks).json, timeout: timeout, what: "stat \(path)")
        return try StatResult(frame: reply)
    }

    /// Signals the workload (target 0) or a running exec (its id).
    public func signal(target: UInt32 = Frame.workloadID, _ signal: String, timeout: Double? = 10) throws {
        _ = try request(.signal, SignalRequest(target: target, signal: signal).json, timeout: timeout, what: "sending \(signal)")
    }

    /// Asks the guest to stop the workload (StopSignal or `signal`, SIGKILL after `stopTimeout`) and
    /// power off. Returns when the guest acknowledged; the VM process exits shortly after.
    public func shutdown(signal: String? = nil, stopTimeout: Double? = nil, timeout: Double = 60) throws {
        do {
            _ = try request(.shutdown, ShutdownRequest(signal: signal, timeout: stopTimeout).json, timeout: timeout, what: "shutting down")
        } catch let e as GuestError where e.code == .closed {
            return  // powered off before the acknowledgement got through: that is success too
        }
    }
}
