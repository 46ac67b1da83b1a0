import FirebuildCore
import Foundation
import Testing
@testable import Telemetry

final class FakeTerminal: ProgressOutput, @unchecked Sendable {
    private let lock = NSLock()
    private var text = ""
    let width: Int
    init(width: Int = 80) { self.width = width }
    func write(_ s: String) { lock.lock(); text += s; lock.unlock() }
    var output: String { lock.lock(); defer { lock.unlock() }; return text }

    /// Replays the escape sequences the renderer uses (ESC[1A up, ESC[K clear, \r, \n) into the
    /// lines a person would see.
    var screen: [String] {
        var lines = [""]
        var row = 0
        var chars = Array(output)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == "\u{1B}", i + 2 < chars.count, chars[i + 1] == "[" {
                if chars[i + 2] == "K" { lines[row] = ""; i += 3; continue }
                if i + 3 < chars.count, chars[i + 2] == "1", chars[i + 3] == "A" { row = max(0, row - 1); i += 4; continue }
            }
            if c == "\r" { i += 1; continue }
            if c == "\n" {
                row += 1
                if row == lines.count { lines.append("") }
            } else {
                lines[row].append(c)
            }
            i += 1
        }
        chars = []
        return lines.filter { !$0.isEmpty }
    }
}

final class ManualClock: @unchecked Sendable {
    var now: TimeInterval = 1000
}

@Suite struct ProgressViewTests {
    @Test func pullShowsLayersBytesAndRate() {
        var s = ProgressState()
        s.layer(id: "sha256:0123456789abcdef0123", done: 0, total: 10 * 1024 * 1024, now: 0)
        s.layer(id: "sha256:fedcba9876543210fedc", done: 0, total: 2048, now: 0)
        s.layer(id: "sha256:0123456789abcdef0123", done: 5 * 1024 * 1024, total: nil, now: 1)
        s.layer(id: "sha256:fedcba9876543210fedc", done: 2048, total: 2048, now: 1)
        let lines = ProgressView.lines(s, now: 1, width: 120, frame: 0)
        #expect(lines.count == 2)
        #expect(lines[0].hasPrefix("pulling: 1/2 layers, 5.0 MiB"))
        #expect(lines[0].contains("5.0 MiB/s"))
        #expect(lines[1] == "  0123456789ab  5.0 MiB / 10.0 MiB  [=====     ]  50%  5.0 MiB/s")
    }

    @Test func manyLayersAreSummarised() {
        var s = ProgressState()
        for i in 0..<9 { s.layer(id: "sha256:\(i)aaaaaaaaaaaaaa", done: 1, total: 100, now: 0) }
        let lines = ProgressView.lines(s, now: 0, width: 80, frame: 0)
        #expect(lines.count == 1 + ProgressView.maxLayerLines + 1)
        #expect(lines.last == "  … 3 more")
    }

    @Test func stepShowsLabelAndElapsed() {
        var s = ProgressState()
        s.step("[1/2] step 3/7: RUN apt-get update", now: 100)
        #expect(ProgressView.lines(s, now: 162.5, width: 80, frame: 0) == ["⠋ [1/2] step 3/7: RUN apt-get update (1m02s)"])
    }

    @Test func waitSpins() {
        var s = ProgressState()
        s.wait("booting VM", now: 0)
        let a = ProgressView.lines(s, now: 3, width: 80, frame: 0)
        let b = ProgressView.lines(s, now: 3, width: 80, frame: 1)
        #expect(a == ["⠋ booting VM 3s"])
        #expect(b == ["⠙ booting VM 3s"])
    }

    @Test func linesNeverWrap() {
        var s = ProgressState()
        s.step(String(repeating: "x", count: 300), now: 0)
        let lines = ProgressView.lines(s, now: 0, width: 40, frame: 0)
        #expect(lines.allSatisfy { $0.count <= 39 })
        #expect(lines[0].hasSuffix("…"))
    }

    @Test(arguments: [(Int64(0), "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (5 * 1024 * 1024 * 1024, "5.0 GiB")])
    func byteUnits(n: Int64, text: String) {
        #expect(ProgressView.bytes(n) == text)
    }

    @Test(arguments: [(0.0, "0s"), (59.9, "59s"), (61, "1m01s"), (3725, "1h02m")])
    func durations(t: Double, text: String) {
        #expect(ProgressView.duration(t) == text)
    }
}

@Suite struct TerminalProgressTests {
    @Test func notATerminalOrJSONDrawsNothing() {
        let term = FakeTerminal()
        for (tty, json) in [(false, false), (false, true), (true, true)] {
            let r = TerminalProgress.make(isTerminal: tty, json: json, output: term)
            #expect(r is NoProgress)
            r.layer(id: "sha256:aa", done: 1, total: 2)
            r.step(label: "step")
            r.wait(label: "boot")
            r.finish()
        }
        #expect(term.output.isEmpty)
        #expect(TerminalProgress.make(isTerminal: true, json: false, output: term) is TerminalProgress)
    }

    @Test func redrawsInPlaceAndClearsOnFinish() {
        let term = FakeTerminal()
        let clock = ManualClock()
        let p = TerminalProgress(output: term, minInterval: 0, clock: { clock.now })
        p.wait(label: "booting VM")
        clock.now += 2
        p.step(label: "step 1/2: RUN make")
        #expect(term.screen.count == 2)
        #expect(term.screen[0].hasSuffix("step 1/2: RUN make (0s)"))
        #expect(term.screen[1].hasSuffix("booting VM 2s"))
        p.finish()
        #expect(term.screen.isEmpty)
    }

    @Test func logLinesPrintAboveTheProgressBlock() {
        let term = FakeTerminal()
        final class Next: LogSink, @unchecked Sendable {
            let t: FakeTerminal
            init(_ t: FakeTerminal) { self.t = t }
            // Log output shares the terminal with progress, as stderr does.
            func write(_ line: String) { t.write(line + "\n") }
        }
        let p = TerminalProgress(output: term, minInterval: 0)
        let sink = ProgressAwareSink(progress: p, next: Next(term))
        p.wait(label: "waiting for guest")
        sink.write("INFO vm: started")
        sink.write("INFO vm: guest ready")
        #expect(term.screen.count == 3)
        #expect(term.screen[0] == "INFO vm: started")
        #expect(term.screen[1] == "INFO vm: guest ready")
        #expect(term.screen[2].contains("waiting for guest"))
        p.finish()
        #expect(term.screen == ["INFO vm: started", "INFO vm: guest ready"])
    }
}
