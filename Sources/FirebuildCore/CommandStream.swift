import Foundation
import Logging

extension Command {
    /// What `stream` returns: the exit status and the last lines the child wrote on stderr
    /// (kept for error messages; everything was already logged as it arrived).
    public struct StreamResult: Sendable {
        public var status: Int32
        public var stderrTail: [String]
    }

    /// Runs a long-lived child (QEMU, a CNI plugin, mkfs on a big image) and logs every line it
    /// writes as it arrives, with `source=<program>` (or `source`), stdout at `level` and stderr
    /// at `level` too (children write progress on stderr; failures surface through the status).
    /// Unlike `check`, nothing is buffered whole, so a child that talks for an hour uses no memory.
    /// Throws `.subprocess` on a non-zero exit, naming the command and its last stderr lines,
    /// unless `checkStatus` is false. `onLine` sees each line too (e.g. to detect "ready").
    @discardableResult
    public func stream(logger: Logger, source: String? = nil, level: Logger.Level = .debug,
                       checkStatus: Bool = true, tailLines: Int = 20,
                       onLine: (@Sendable (_ line: String, _ isStderr: Bool) -> Void)? = nil) throws -> StreamResult {
        guard let exe = Command.which(executable) else {
            throw FirebuildError(.notFound, "program \"\(executable)\" not found in PATH; install it (make deps installs every tool firebuild needs)")
        }
        let src = source ?? (executable as NSString).lastPathComponent
        let process = Process()
        process.executableURL = URL(fileURLWithPath: exe)
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let workingDirectory { process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory) }
        let outPipe = Pipe(), errPipe = Pipe()
        process.standardOutput = outPipe
        process.standardError = errPipe
        let inPipe: Pipe? = stdin != nil ? Pipe() : nil
        process.standardInput = inPipe ?? FileHandle.nullDevice

        let tail = TailBox(limit: tailLines)
        let group = DispatchGroup()
        for (pipe, isErr) in [(outPipe, false), (errPipe, true)] {
            group.enter()
            DispatchQueue.global().async {
                defer { group.leave() }
                var splitter = LineSplitter()
                let emit: (String) -> Void = { line in
                    logger.log(level: level, "\(line)", metadata: ["source": .string(src)])
                    if isErr { tail.append(line) }
                    onLine?(line, isErr)
                }
                let handle = pipe.fileHandleForReading
                while true {
                    let chunk = handle.availableData
                    if chunk.isEmpty { break }
                    splitter.feed(chunk).forEach(emit)
                }
                splitter.flush().forEach(emit)
            }
        }
        do {
            try process.run()
        } catch {
            throw FirebuildError(.subprocess, "cannot start \(exe): \(error)")
        }
        if let inPipe, let stdin {
            DispatchQueue.global().async {
                inPipe.fileHandleForWriting.write(stdin)
                try? inPipe.fileHandleForWriting.close()
            }
        }
        var timedOut = false
        if let timeout {
            let deadline = Date().addingTimeInterval(timeout)
            while process.isRunning && Date() < deadline { usleep(10_000) }
            if process.isRunning {
                timedOut = true
                kill(process.processIdentifier, SIGKILL)
            }
        }
        process.waitUntilExit()
        group.wait()
        if timedOut {
            throw FirebuildError(.timeout, "\(describe()) did not finish within \(Int(timeout ?? 0))s and was killed")
        }
        let result = StreamResult(status: process.terminationStatus, stderrTail: tail.lines)
        if checkStatus && result.status != 0 {
            let detail = result.stderrTail.suffix(5).joined(separator: "; ")
            throw FirebuildError(.subprocess, "\(describe()) exited with status \(result.status)\(detail.isEmpty ? "" : ": \(detail)")")
        }
        return result
    }
}

/// Splits a byte stream into lines; a partial last line waits for more bytes. Invalid UTF-8 is
/// repaired rather than dropped (children print whatever they like).
struct LineSplitter {
    private var pending = Data()

    mutating func feed(_ data: Data) -> [String] {
        pending.append(data)
        var lines: [String] = []
        while let nl = pending.firstIndex(of: 0x0A) {
            var line = pending[pending.startIndex..<nl]
            if line.last == 0x0D { line = line.dropLast() }
            lines.append(String(decoding: line, as: UTF8.self))
            pending.removeSubrange(pending.startIndex...nl)
        }
        return lines
    }

    mutating func flush() -> [String] {
        defer { pending.removeAll() }
        return pending.isEmpty ? [] : [String(decoding: pending, as: UTF8.self)]
    }
}

private final class TailBox: @unchecked Sendable {
    private let lock = NSLock()
    private let limit: Int
    private var buffer: [String] = []
    init(limit: Int) { self.limit = max(1, limit) }
    func append(_ line: String) {
        lock.lock()
        buffer.append(line)
        if buffer.count > limit { buffer.removeFirst(buffer.count - limit) }
        lock.unlock()
    }
    var lines: [String] { lock.lock(); defer { lock.unlock() }; return buffer }
}
