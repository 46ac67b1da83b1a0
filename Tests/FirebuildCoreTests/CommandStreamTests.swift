import Foundation
import Logging
import Testing
@testable import FirebuildCore

/// Captures log events of one logger (no global bootstrap needed).
final class CapturingHandler: LogHandler, @unchecked Sendable {
    let lock = NSLock()
    var events: [(Logger.Level, String, Logger.Metadata)] = []
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        lock.lock()
        events.append((event.level, event.message.description, event.metadata ?? [:]))
        lock.unlock()
    }
}

@Suite struct CommandStreamTests {
    @Test func linesAreLoggedWithTheirSource() throws {
        let handler = CapturingHandler()
        let logger = Logger(label: "test") { _ in handler }
        let seen = LinesBox()
        let result = try Command("/bin/sh", ["-c", "echo out1; echo err1 >&2; printf 'out2'; echo err2 >&2"])
            .stream(logger: logger, source: "qemu", level: .info) { line, isErr in seen.add(line, isErr) }
        #expect(result.status == 0)
        #expect(result.stderrTail == ["err1", "err2"])
        let messages = handler.events.map(\.1).sorted()
        #expect(messages == ["err1", "err2", "out1", "out2"])
        #expect(handler.events.allSatisfy { $0.0 == .info && $0.2["source"] == "qemu" })
        #expect(seen.all.filter { $0.1 }.map(\.0) == ["err1", "err2"])
    }

    @Test func defaultSourceIsTheProgramName() throws {
        let handler = CapturingHandler()
        let logger = Logger(label: "test") { _ in handler }
        try Command("/bin/echo", ["hi"]).stream(logger: logger)
        #expect(handler.events.count == 1)
        #expect(handler.events[0].2["source"] == "echo")
        #expect(handler.events[0].0 == .debug)
    }

    @Test func failureNamesCommandAndLastStderrLines() {
        let logger = Logger(label: "test") { _ in CapturingHandler() }
        do {
            try Command("/bin/sh", ["-c", "echo 'mkfs: bad size' >&2; exit 3"]).stream(logger: logger)
            Issue.record("expected an error")
        } catch let e as FirebuildError {
            #expect(e.code == .subprocess)
            #expect(e.message.contains("status 3"))
            #expect(e.message.contains("mkfs: bad size"))
        } catch {
            Issue.record("unexpected \(error)")
        }
        let r = try? Command("/bin/sh", ["-c", "exit 4"]).stream(logger: logger, checkStatus: false)
        #expect(r?.status == 4)
    }

    @Test func splitterHandlesPartialLinesAndCRLF() {
        var s = LineSplitter()
        #expect(s.feed(Data("ab".utf8)) == [])
        #expect(s.feed(Data("c\r\nde\n\nf".utf8)) == ["abc", "de", ""])
        #expect(s.flush() == ["f"])
        #expect(s.flush() == [])
    }
}

final class LinesBox: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [(String, Bool)] = []
    func add(_ l: String, _ e: Bool) { lock.lock(); lines.append((l, e)); lock.unlock() }
    var all: [(String, Bool)] { lock.lock(); defer { lock.unlock() }; return lines }
}
