import FirebuildCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where the renderer writes; the real one is stderr, tests use a fake terminal.
public protocol ProgressOutput: AnyObject, Sendable {
    func write(_ text: String)
    /// Columns of the terminal.
    var width: Int { get }
}

public final class StandardErrorTerminal: ProgressOutput, @unchecked Sendable {
    public init() {}
    public func write(_ text: String) {
        var bytes = Array(text.utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress! + off, $0.count - off) }
            if n <= 0 { if errno == EINTR { continue }; return }
            off += n
        }
    }
    public var width: Int {
        var ws = winsize()
        return ioctl(2, UInt(TIOCGWINSZ), &ws) == 0 && ws.ws_col > 0 ? Int(ws.ws_col) : 80
    }
}

/// Draws progress below the log lines on a terminal: redraws in place (cursor up, clear line),
/// at most every 100 ms, and a ticker keeps spinners and elapsed times moving while idle.
/// Log lines go through `logSink`, which erases the progress block, prints the line and draws
/// the block again, so logs and progress never overwrite each other.
public final class TerminalProgress: ProgressReporter, @unchecked Sendable {
    private let out: ProgressOutput
    private let lock = NSLock()
    private var state = ProgressState()
    private var drawnLines = 0
    private var lastDraw: TimeInterval = 0
    private var frame = 0
    private var ticker: DispatchSourceTimer?
    private let clock: @Sendable () -> TimeInterval
    private let minInterval: TimeInterval

    public init(output: ProgressOutput, minInterval: TimeInterval = 0.1,
                clock: @escaping @Sendable () -> TimeInterval = { Date().timeIntervalSinceReferenceDate }) {
        self.out = output
        self.minInterval = minInterval
        self.clock = clock
    }

    /// The reporter the CLI should install: a terminal renderer only when stderr is a terminal
    /// and logs are text; otherwise `NoProgress` (pipes, CI logs and JSON stay clean).
    public static func make(isTerminal: Bool, json: Bool, output: @autoclosure () -> ProgressOutput) -> ProgressReporter {
        guard isTerminal, !json else { return NoProgress() }
        return TerminalProgress(output: output())
    }

    /// Installs `reporter` process-wide; a terminal renderer also takes over the log sink.
    public static func install(_ reporter: ProgressReporter) {
        FirebuildProgress.reporter = reporter
        if let t = reporter as? TerminalProgress {
            FirebuildLogging.setSink(ProgressAwareSink(progress: t, next: FirebuildLogging.currentSink))
        }
    }

    // MARK: ProgressReporter

    public func layer(id: String, done: Int64, total: Int64?) {
        update(force: false) { $0.layer(id: id, done: done, total: total, now: $1) }
    }

    public func step(label: String) {
        update(force: true) { $0.step(label, now: $1) }
    }

    public func wait(label: String) {
        update(force: true) { $0.wait(label, now: $1) }
    }

    public func finish() {
        lock.lock()
        state.clear()
        eraseLocked()
        stopTickerLocked()
        lock.unlock()
    }

    // MARK: drawing

    private func update(force: Bool, _ change: (inout ProgressState, TimeInterval) -> Void) {
        lock.lock()
        defer { lock.unlock() }
        let now = clock()
        change(&state, now)
        if force || now - lastDraw >= minInterval { drawLocked(now: now) }
        startTickerLocked()
    }

    /// Prints a log line above the progress block.
    func printAbove(_ line: String, next: LogSink) {
        lock.lock()
        defer { lock.unlock() }
        eraseLocked()
        next.write(line)
        if !state.isEmpty { drawLocked(now: clock()) }
    }

    private func drawLocked(now: TimeInterval) {
        frame += 1
        let lines = ProgressView.lines(state, now: now, width: out.width, frame: frame)
        out.write(ProgressFrame.render(lines, replacing: drawnLines))
        drawnLines = lines.count
        lastDraw = now
    }

    private func eraseLocked() {
        guard drawnLines > 0 else { return }
        out.write(ProgressFrame.render([], replacing: drawnLines))
        drawnLines = 0
    }

    private func startTickerLocked() {
        guard ticker == nil else { return }
        let t = DispatchSource.makeTimerSource(queue: DispatchQueue.global())
        t.schedule(deadline: .now() + 0.1, repeating: 0.1)
        t.setEventHandler { [weak self] in
            guard let self else { return }
            self.lock.lock()
            if !self.state.isEmpty { self.drawLocked(now: self.clock()) }
            self.lock.unlock()
        }
        ticker = t
        t.resume()
    }

    private func stopTickerLocked() {
        ticker?.cancel()
        ticker = nil
    }

    deinit { ticker?.cancel() }
}

/// The escape sequences that replace the previously drawn block with new lines.
public enum ProgressFrame {
    /// Moves up over the `previous` lines, clearing each, then writes `lines`.
    public static func render(_ lines: [String], replacing previous: Int) -> String {
        var s = ""
        if previous > 0 {
            s += "\r\u{1B}[K"
            for _ in 0..<previous { s += "\u{1B}[1A\u{1B}[K" }
        }
        for line in lines { s += line + "\n" }
        return s
    }
}

/// Log sink that keeps log lines above the progress block.
struct ProgressAwareSink: LogSink {
    let progress: TerminalProgress
    let next: LogSink
    func write(_ line: String) { progress.printAbove(line, next: next) }
}
