import Foundation
import Logging

/// Runs child programs (mkfs.ext4, qemu-img, CNI plugins, iptables…) and captures their
/// output, so nothing a child prints leaks into firebuild's own log format.
public struct Command: Sendable {
    public var executable: String
    public var arguments: [String]
    public var environment: [String: String]?
    public var workingDirectory: String?
    public var stdin: Data?
    public var timeout: TimeInterval?

    public init(_ executable: String, _ arguments: [String] = [], environment: [String: String]? = nil,
                workingDirectory: String? = nil, stdin: Data? = nil, timeout: TimeInterval? = nil) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.stdin = stdin
        self.timeout = timeout
    }

    public struct Result: Sendable {
        public var status: Int32
        public var stdout: Data
        public var stderr: Data
        public var stdoutString: String { String(decoding: stdout, as: UTF8.self) }
        public var stderrString: String { String(decoding: stderr, as: UTF8.self) }
    }

    /// Looks a program up in PATH plus the sbin folders root's tools live in.
    public static func which(_ name: String) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let dirs = path.split(separator: ":").map(String.init) + ["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        for dir in dirs {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Runs to completion; never throws for a non-zero exit (see `check`).
    public func run() throws -> Result {
        let box = OutputBox()
        let status = try execute { handle, isStderr in
            let data = handle.readDataToEndOfFile()
            if isStderr { box.setErr(data) } else { box.setOut(data) }
        }
        return Result(status: status, stdout: box.out, stderr: box.err)
    }

    /// The process plumbing `run` and `stream` share: starts the child with piped stdout and
    /// stderr, gives each pipe to `read` on a thread of its own (which must read to the end),
    /// feeds stdin, kills the child at the timeout, and returns its status once both readers are done.
    ///
    /// posix_spawn and a blocking waitpid, not Foundation's Process: on Linux its
    /// waitUntilExit polls a run loop in 50 ms steps, which made every child (qemu-img, debugfs,
    /// e2fsck…) cost ~50 ms however short it was (measured: 49 ms per `/bin/true`).
    func execute(read: @escaping @Sendable (_ handle: FileHandle, _ isStderr: Bool) -> Void) throws -> Int32 {
        guard let exe = Command.which(executable) else {
            throw FirebuildError(.notFound, "program \"\(executable)\" not found in PATH; install it (make deps installs every tool firebuild needs)")
        }
        let child = try ChildProcess.spawn(exe, arguments: arguments, environment: environment, workingDirectory: workingDirectory,
                                           withStdin: stdin != nil)
        let group = DispatchGroup()
        for (fd, isStderr) in [(child.stdout, false), (child.stderr, true)] {
            group.enter()
            Command.detached {
                read(FileHandle(fileDescriptor: fd, closeOnDealloc: true), isStderr)
                group.leave()
            }
        }
        if let input = child.stdin, let stdin {
            Command.detached {
                // A child that exits without reading closes its end: the write must fail with
                // EPIPE, not raise SIGPIPE (which would end firebuild). Blocked on this thread
                // only; a signal left pending here dies with the thread.
                var pipeSignal = sigset_t()
                sigemptyset(&pipeSignal)
                sigaddset(&pipeSignal, SIGPIPE)
                pthread_sigmask(SIG_BLOCK, &pipeSignal, nil)
                let handle = FileHandle(fileDescriptor: input, closeOnDealloc: true)
                try? handle.write(contentsOf: stdin)
                try? handle.close()
            }
        }
        var timedOut = false
        var status: Int32
        if let timeout {
            let deadline = Date().addingTimeInterval(timeout)
            var done: Int32? = nil
            var backoff = Backoff()
            while done == nil && Date() < deadline {
                done = child.poll()
                if done == nil { backoff.sleep() }
            }
            if let done { status = done } else {
                timedOut = true
                kill(child.pid, SIGKILL)
                status = child.wait()
            }
        } else {
            status = child.wait()
        }
        group.wait()
        if timedOut {
            throw FirebuildError(.timeout, "\(describe()) did not finish within \(Int(timeout ?? 0))s and was killed")
        }
        return status
    }

    /// Runs and throws a `.subprocess` error naming the command and its stderr on a non-zero exit.
    /// The child's stderr is logged at debug level with the program as the source.
    @discardableResult
    public func check(logger: Logger? = nil) throws -> Result {
        let result = try run()
        if let logger, !result.stderr.isEmpty {
            for line in result.stderrString.split(separator: "\n") {
                logger.debug("\(line)", metadata: ["source": .string((executable as NSString).lastPathComponent)])
            }
        }
        guard result.status == 0 else {
            let err = result.stderrString.trimmingCharacters(in: .whitespacesAndNewlines)
            let out = result.stdoutString.trimmingCharacters(in: .whitespacesAndNewlines)
            let detail = err.isEmpty ? out : err
            throw FirebuildError(.subprocess, "\(describe()) exited with status \(result.status)\(detail.isEmpty ? "" : ": \(detail)")")
        }
        return result
    }

    /// Runs `body` on a thread of its own. Pipe readers must never wait for a slot in the global
    /// dispatch pool: on 2 cores it has 2 threads, and callers blocking them would deadlock.
    static func detached(_ body: @escaping @Sendable () -> Void) {
        let thread = Thread { body() }
        thread.stackSize = 256 * 1024
        thread.start()
    }

    public func describe() -> String {
        ([executable] + arguments).map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " ")
    }
}

private final class OutputBox: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var out = Data()
    private(set) var err = Data()
    func setOut(_ d: Data) { lock.lock(); out = d; lock.unlock() }
    func setErr(_ d: Data) { lock.lock(); err = d; lock.unlock() }
}
