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
        let src = source ?? (executable as NSString).lastPathComponent
        let tail = TailBox(limit: tailLines)
        let status = try execute { handle, isErr in
            var splitter = LineSplitter()
            let emit: (String) -> Void = { line in
                logger.log(level: level, "\(line)", metadata: ["source": .string(src)])
                if isErr { tail.append(line) }
                onLine?(line, isErr)
            }
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                splitter.feed(chunk).forEach(emit)
            }
            splitter.flush().forEach(emit)
        }
        let result = StreamResult(status: status, stderrTail: tail.lines)
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
