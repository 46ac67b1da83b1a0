import FirebuildCore
import Foundation

/// The VMM process: spawned in its own session (terminal signals do not reach it), stdio to a log
/// file, and tracked by pid plus start time so any later firebuild process can find it again.
public enum VMProcess {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var children: Set<Int32> = []
    nonisolated(unsafe) private static var reaped: [Int32: VMExit] = [:]

    /// Starts `argv` (argv[0] looked up in PATH) with stdout and stderr appended to `logPath`.
    public static func spawn(_ argv: [String], logPath: String, environment: [String: String]? = nil) throws -> Int32 {
        guard let first = argv.first, let exe = Command.which(first) else {
            throw FirebuildError(.notFound, "program \"\(argv.first ?? "")\" not found in PATH; install it (make deps)")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        // A new session, and default signal handling (the test runner may ignore some signals).
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attr, &defaults)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attr, &empty)
        posix_spawnattr_setflags(&attr, Int16(0x80 /* POSIX_SPAWN_SETSID, glibc >= 2.26; not imported */ | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let env = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        var pid: pid_t = 0
        let cArgs = ([exe] + argv.dropFirst()).map { strdup($0) } + [nil]
        let cEnv = env.map { strdup($0) } + [nil]
        defer {
            cArgs.forEach { free($0) }
            cEnv.forEach { free($0) }
        }
        let rc = posix_spawn(&pid, exe, &actions, &attr, cArgs, cEnv)
        guard rc == 0 else { throw FirebuildError(.subprocess, "cannot start \(exe): \(String(cString: strerror(rc)))") }
        lock.lock()
        children.insert(pid)
        lock.unlock()
        return pid
    }

    /// Field 22 of /proc/<pid>/stat (start time in clock ticks), or nil when the process is gone.
    public static func startTime(_ pid: Int32) -> UInt64? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        // Fields after the command name start at field 3 (state).
        let rest = text[text.index(after: close)...].split(separator: " ")
        guard rest.count > 19 else { return nil }
        return UInt64(rest[19])
    }

    static func state(_ pid: Int32) -> Character? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        return text[text.index(after: close)...].split(separator: " ").first?.first
    }

    /// Whether the process is still alive: reaps it when it is our child; for others, a zombie or a
    /// different start time (pid reused) counts as gone.
    public static func exitStatus(pid: Int32, startTime: UInt64?) -> VMExit? {
        lock.lock()
        defer { lock.unlock() }
        if let done = reaped[pid] { return done }
        if children.contains(pid) {
            var status: Int32 = 0
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid {
                children.remove(pid)
                let exit = decode(status)
                reaped[pid] = exit
                return exit
            }
            if r == 0 { return nil }
            children.remove(pid)  // ECHILD: someone else reaped it
        }
        guard let st = state(pid), st != "Z", st != "X" else { return VMExit(status: nil, signal: nil) }
        if let startTime, let now = Self.startTime(pid), now != startTime { return VMExit(status: nil, signal: nil) }
        return nil
    }

    private static func decode(_ status: Int32) -> VMExit {
        let sig = status & 0x7F
        if sig == 0 { return VMExit(status: (status >> 8) & 0xFF, signal: nil) }
        return VMExit(status: nil, signal: sig)
    }

    /// Polls until the process is gone; nil when `timeout` passes first.
    public static func wait(pid: Int32, startTime: UInt64?, timeout: TimeInterval?) -> VMExit? {
        let deadline = timeout.map { Date().addingTimeInterval($0) }
        var backoff = Backoff()
        while true {
            if let exit = exitStatus(pid: pid, startTime: startTime) { return exit }
            if let deadline, Date() >= deadline { return nil }
            backoff.sleep()
        }
    }

    /// SIGKILL and wait (10 s at most) until the process is really gone.
    public static func kill(pid: Int32, startTime: UInt64?) throws {
        if exitStatus(pid: pid, startTime: startTime) != nil { return }
        if Glibc.kill(pid, SIGKILL) != 0 && errno != ESRCH {
            throw FirebuildError.posix("kill", path: "pid \(pid)")
        }
        guard wait(pid: pid, startTime: startTime, timeout: 10) != nil else {
            throw FirebuildError(.timeout, "VMM process \(pid) did not exit 10 s after SIGKILL")
        }
    }

    /// The wrapper that runs a command inside a network namespace given by path.
    public static func inNetns(_ netns: String?, _ argv: [String]) -> [String] {
        guard let netns else { return argv }
        return ["nsenter", "--net=\(netns)", "--"] + argv
    }

    /// The last lines of a log, to explain a VMM that died at start.
    static func tail(_ path: String, lines: Int = 15) -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return "" }
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }
}
