import CSyscalls
import Foundation

/// A child started with posix_spawn: pipes for stdout and stderr (and stdin when asked), default
/// signal dispositions and an empty signal mask (firebuild ignores SIGPIPE; children must not
/// inherit that), reaped with waitpid.
struct ChildProcess {
    let pid: pid_t
    let stdout: Int32
    let stderr: Int32
    let stdin: Int32?

    static func spawn(_ path: String, arguments: [String], environment: [String: String]?, workingDirectory: String?,
                      withStdin: Bool) throws -> ChildProcess {
        func makePipe() throws -> (read: Int32, write: Int32) {
            var fds: [Int32] = [-1, -1]
            guard fb_pipe_cloexec(&fds) == 0 else { throw FirebuildError.posix("pipe", path: path) }
            return (fds[0], fds[1])
        }
        let out = try makePipe(), err = try makePipe()
        let input = withStdin ? try makePipe() : nil
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let input { posix_spawn_file_actions_adddup2(&actions, input.read, 0) } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, out.write, 1)
        posix_spawn_file_actions_adddup2(&actions, err.write, 2)
        if let workingDirectory { fb_spawn_file_actions_addchdir(&actions, workingDirectory) }
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var all = sigset_t(), none = sigset_t()
        sigfillset(&all)
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attr, &all)
        posix_spawnattr_setsigmask(&attr, &none)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let env = environment.map { $0.map { "\($0.key)=\($0.value)" } }
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { $0.map { strdup($0) } + [nil] }
        defer {
            argv.forEach { free($0) }
            envp?.forEach { free($0) }
        }
        var pid: pid_t = 0
        let rc: Int32 = if let envp { posix_spawn(&pid, path, &actions, &attr, argv, envp) } else {
            posix_spawn(&pid, path, &actions, &attr, argv, environ)
        }
        // The child holds its own copies; the parent keeps only its ends.
        close(out.write); close(err.write)
        if let input { close(input.read) }
        guard rc == 0 else {
            close(out.read); close(err.read)
            if let input { close(input.write) }
            throw FirebuildError(.subprocess, "cannot start \(path): \(String(cString: strerror(rc)))")
        }
        return ChildProcess(pid: pid, stdout: out.read, stderr: err.read, stdin: input?.write)
    }

    /// Blocks until the child exits: its exit code, or 128 + the signal that ended it (as a shell reports it).
    func wait() -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return -1 }
        }
        return Self.code(status)
    }

    /// The status when the child has exited, else nil (never blocks).
    func poll() -> Int32? {
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        if r == pid { return Self.code(status) }
        return r < 0 && errno != EINTR ? -1 : nil
    }

    static func code(_ status: Int32) -> Int32 {
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }
}
