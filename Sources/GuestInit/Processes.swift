// Starting, feeding, draining and reaping processes (the workload and exec requests).
#if canImport(Glibc)
import Glibc
#endif
import CSyscalls
import Guest

final class Proc {
    let id: UInt32
    let pid: pid_t
    let isWorkload: Bool
    var out: Int32
    var err: Int32
    var stdinFD: Int32
    var stdinPending: [UInt8] = []
    var stdinEOF = false

    init(id: UInt32, pid: pid_t, isWorkload: Bool, out: Int32, err: Int32, stdinFD: Int32) {
        self.id = id; self.pid = pid; self.isWorkload = isWorkload; self.out = out; self.err = err; self.stdinFD = stdinFD
    }

    /// An empty chunk means end of input.
    func queueStdin(_ bytes: [UInt8]) {
        guard stdinFD >= 0 else { return }
        if bytes.isEmpty { stdinEOF = true } else { stdinPending += bytes }
        flushStdin()
    }

    /// Writes what the pipe accepts without blocking; closes it after the last byte.
    func flushStdin() {
        while stdinFD >= 0 && !stdinPending.isEmpty {
            let n = stdinPending.withUnsafeBytes { write(stdinFD, $0.baseAddress, $0.count) }
            if n > 0 { stdinPending.removeFirst(n); continue }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && errno == EAGAIN { return }
            stdinPending = []  // EPIPE: the process stopped reading
            stdinEOF = true
        }
        if stdinFD >= 0 && stdinEOF && stdinPending.isEmpty { close(stdinFD); stdinFD = -1 }
    }

    func closeAll() {
        for fd in [out, err, stdinFD] where fd >= 0 { close(fd) }
        out = -1; err = -1; stdinFD = -1
    }
}

extension Supervisor {
    /// Environment shared by the workload and execs: image Env, then the metadata env.
    var baseEnv: [String] { Workload.mergeEnv(metadata?.image.env ?? [], metadata?.env ?? []) }

    func startExec(_ req: ExecRequest, id: UInt32) throws {
        guard !shuttingDown else { throw GuestError(.invalidArgument, "the guest is shutting down") }
        guard id != Frame.workloadID, !procs.contains(where: { $0.id == id }) else {
            throw GuestError(.invalidArgument, "request id \(id) is already in use")
        }
        let env = req.replaceEnv ? Workload.mergeEnv(req.env) : Workload.mergeEnv(baseEnv, req.env)
        let user = req.user ?? metadata?.userOverride ?? metadata?.image.user ?? ""
        let workdir = req.workdir ?? metadata?.workdirOverride ?? metadata?.image.workingDir
        do {
            procs.append(try NetworkIsolation.spawn(isolated: req.isolatedNetwork) {
                try spawn(id: id, argv: req.argv, env: env, user: user, workdir: workdir, stdin: req.stdin, isWorkload: false,
                          mounts: req.mounts)
            })
        } catch {
            // Like `docker exec`: the reason on stderr, then 127 (not found) or 126 (cannot run).
            send(Frame(.stderr, id: id, body: Array("firebuild-init: \(error)\n".utf8)))
            let code: Int32 = (error as? GuestError)?.code == .notFound ? 127 : 126
            sendJSON(.exit, id, ExitStatus.exited(code))
        }
    }

    func spawn(id: UInt32, argv: [String], env: [String], user: String, workdir: String?, stdin: Bool,
               isWorkload: Bool, mounts: [ExecMount] = []) throws -> Proc {
        let u = try UserDatabase.resolve(user, root: options.root)
        let dir = Workload.workdir(workdir)
        if !Posix.isDirectory(dir) {
            try Posix.mkdirs(dir)  // Docker creates a missing WORKDIR
            if u.uid != 0 { _ = chown(dir, u.uid, u.gid) }
        }
        let finalEnv = Workload.finalEnv(env, hostname: metadata?.hostname, home: u.home)
        // With mounts, the helper resolves the command inside its namespace (it may live in a mount).
        let (path, execArgv) = !mounts.isEmpty ? MountedExec.launch(argv: argv, mounts: mounts, user: u, workdir: dir)
            : (try Workload.resolveExecutable(argv[0], path: Workload.lookup(finalEnv, "PATH"), workdir: dir) { candidate in
                var st = stat()
                return stat(candidate, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG && access(candidate, X_OK) == 0
            }, argv)

        var outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1], inPipe: [Int32] = [-1, -1]
        guard fb_pipe_cloexec(&outPipe) == 0, fb_pipe_cloexec(&errPipe) == 0 else { throw GuestError.posix("pipe") }
        if stdin {
            guard fb_pipe_cloexec(&inPipe) == 0 else { throw GuestError.posix("pipe") }
        } else {
            inPipe[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)
        }
        defer { for fd in [outPipe[1], errPipe[1], inPipe[0]] where fd >= 0 { close(fd) } }

        let cArgv = execArgv.map { strdup($0) } + [nil]
        let cEnv = finalEnv.map { strdup($0) } + [nil]
        defer { for p in cArgv + cEnv { free(p) } }
        var errNo: Int32 = 0, stage: Int32 = 0
        let setIDs: Int32 = getuid() == 0 && mounts.isEmpty ? 1 : 0  // the mount helper drops privileges itself
        let pid = u.groups.withUnsafeBufferPointer { groups in
            fb_spawn(path, cArgv, cEnv, setIDs, u.uid, u.gid, groups.baseAddress, Int32(groups.count), dir,
                     inPipe[0] >= 0 ? inPipe[0] : 0, outPipe[1], errPipe[1], &errNo, &stage)
        }
        guard pid > 0 else {
            for fd in [outPipe[0], errPipe[0], inPipe[1]] where fd >= 0 { close(fd) }
            let what = ["", "setsid", "redirect stdio", "setgroups", "setgid", "setuid", "chdir to \(dir)", "exec \(path)", "fork", "pipe"]
            let reason = String(cString: strerror(errNo))
            throw GuestError(errNo == ENOENT ? .notFound : .permission,
                             "\(what[Int(stage) < what.count ? Int(stage) : 0]) failed: \(reason)")
        }
        for fd in [outPipe[0], errPipe[0], inPipe[1]] where fd >= 0 { Posix.setNonBlocking(fd) }
        log(isWorkload ? "started workload \(argv) as pid \(pid)" : "exec #\(id) \(argv) as pid \(pid)")
        return Proc(id: id, pid: pid, isWorkload: isWorkload, out: outPipe[0], err: errPipe[0], stdinFD: inPipe[1])
    }

    /// Forwards what a process wrote; closes the pipe at end of file.
    func pump(_ p: Proc, _ fd: Int32) {
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n > 0 {
                let chunk = Array(buf[0..<n])
                let isOut = fd == p.out
                send(Frame(isOut ? .stdout : .stderr, id: p.id, body: chunk))
                if p.isWorkload && options.consoleEcho { try? Posix.writeAll(isOut ? 1 : 2, chunk) }
                if n < buf.count { return }  // drained for now
                continue
            }
            if n == 0 || errno != EAGAIN {
                close(fd)
                if fd == p.out { p.out = -1 } else { p.err = -1 }
            }
            return
        }
    }

    /// Collects every exited child (PID 1 also inherits orphans) and reports ours.
    func reap() {
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid <= 0 { return }
            guard let index = procs.firstIndex(where: { $0.pid == pid }) else { continue }
            let p = procs.remove(at: index)
            // Everything the process wrote before exiting is in the pipes: forward it first.
            for fd in [p.out, p.err] where fd >= 0 { pump(p, fd) }
            p.closeAll()
            let exitStatus: ExitStatus = (status & 0x7f) == 0 ? .exited((status >> 8) & 0xff) : .signaled(status & 0x7f)
            if p.isWorkload { workloadFinished(exitStatus) } else { sendJSON(.exit, p.id, exitStatus) }
        }
    }
}
