import FirebuildCore
import Foundation
import Logging

/// Collects finished spans and sends them to the collector as OTLP/HTTP protobuf.
///
/// A short command (the common case) starts no thread at all: its spans are sent in one
/// request when it exits (`shutdown`). A long one (a build) also exports in the background:
/// once `batchSize` spans are waiting or `interval` has passed since the last export, a
/// thread is started that sends waiting spans every `interval`. A collector that is down or
/// answers an error costs one warning per process; spans are dropped, commands never fail.
final class OTLPExporter: SpanSink, @unchecked Sendable {
    let endpoint: OTLPPost.Endpoint
    let resource: OTLPTraceEncoder.Resource
    let requestTimeout: TimeInterval
    let batchSize: Int
    let interval: TimeInterval
    /// Spans kept while the collector is slow or down; older ones beyond this are dropped.
    let maxQueued: Int
    /// How long the final export at exit waits for the collector's answer.
    let exitAnswerWait: ExitAnswerWait
    private let logger: Logger
    private let created = DispatchTime.now().uptimeNanoseconds

    enum ExitAnswerWait: Sendable {
        /// Until the request timeout: the HTTP status of every request is checked (tests, libraries).
        case full
        /// At most this fraction of the run time so far (the CLI: 0.01). The request is always
        /// sent whole and a collector that is down (connection refused) is still reported; only
        /// a slow answer's status goes unchecked. Waiting on another process at exit is the one
        /// cost tracing cannot make small by itself: on a busy machine a loopback round trip to
        /// the collector takes 1-20 ms, as long as a whole `firebuild ls`.
        case fractionOfRunTime(Double)
    }

    private let condition = NSCondition()
    private var queue: [FinishedSpan] = []
    private var dropped = 0
    private var lastExport = Date()
    private var worker: Thread?
    private var workerBusy = false
    private var stopping = false
    private var warned = false
    private var exportedCount = 0

    init(endpoint: OTLPPost.Endpoint, resource: OTLPTraceEncoder.Resource, requestTimeout: TimeInterval = 3,
         batchSize: Int = 512, interval: TimeInterval = 5, maxQueued: Int = 20_000, exitAnswerWait: ExitAnswerWait = .full,
         logger: Logger = makeLogger("telemetry")) {
        self.exitAnswerWait = exitAnswerWait
        self.endpoint = endpoint
        self.resource = resource
        self.requestTimeout = requestTimeout
        self.batchSize = batchSize
        self.interval = interval
        self.maxQueued = maxQueued
        self.logger = logger
    }

    /// Spans the collector accepted so far (tests, diagnostics).
    var exported: Int { condition.lock(); defer { condition.unlock() }; return exportedCount }

    func finished(_ span: FinishedSpan) {
        condition.lock()
        defer { condition.unlock() }
        guard !stopping else { return }
        if queue.count >= maxQueued {
            queue.removeFirst(queue.count - maxQueued + 1)
            dropped += 1
        }
        queue.append(span)
        guard queue.count >= batchSize || -lastExport.timeIntervalSinceNow >= interval else { return }
        if worker == nil {
            let thread = Thread { [self] in backgroundLoop() }
            thread.name = "firebuild-otlp-export"
            worker = thread
            workerBusy = true
            thread.start()
        }
        condition.signal()
    }

    private func backgroundLoop() {
        condition.lock()
        while !stopping {
            let due = queue.count >= batchSize || (!queue.isEmpty && -lastExport.timeIntervalSinceNow >= interval)
            if !due {
                workerBusy = false
                _ = condition.wait(until: lastExport.addingTimeInterval(interval))
                workerBusy = true
                continue
            }
            let batch = Array(queue.prefix(batchSize))
            queue.removeFirst(batch.count)
            lastExport = Date()
            condition.unlock()
            send(batch, timeout: requestTimeout)
            condition.lock()
        }
        workerBusy = false
        condition.broadcast()
        condition.unlock()
    }

    /// Sends what is left, waiting at most `timeout` (a running background export included).
    /// Returns false when spans could not all be handed over in time.
    @discardableResult
    func shutdown(timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        stopping = true
        condition.broadcast()
        while workerBusy {
            if !condition.wait(until: deadline) { break }
        }
        let inTime = !workerBusy
        let rest = queue
        queue = []
        let droppedCount = dropped
        condition.unlock()
        if droppedCount > 0 {
            logger.warning("tracing: \(droppedCount) spans dropped (the collector did not keep up)",
                           metadata: ["dropped": "\(droppedCount)"])
        }
        guard inTime else {
            warnOnce("the collector did not answer within \(Int(timeout))s")
            return false
        }
        let started = DispatchTime.now().uptimeNanoseconds, startedCPU = Self.threadCPUNanos()
        defer {
            // What tracing adds to a command's exit: `--log-level debug` shows it (bench/tracing).
            let ms = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
            let cpu = Double(Self.threadCPUNanos() - startedCPU) / 1e6
            logger.debug("tracing: final export", metadata: ["spans": "\(rest.count)", "ms": .string(String(format: "%.3f", ms)),
                                                            "cpu-ms": .string(String(format: "%.3f", cpu))])
        }
        var ok = true
        var pending = rest[...]
        while !pending.isEmpty {
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else {
                warnOnce("the collector did not answer within \(Int(timeout))s")
                return false
            }
            let batch = Array(pending.prefix(batchSize))
            pending = pending.dropFirst(batch.count)
            var answerWait: TimeInterval?
            if case .fractionOfRunTime(let f) = exitAnswerWait {
                answerWait = f * Double(DispatchTime.now().uptimeNanoseconds - created) / 1e9
            }
            ok = send(batch, timeout: min(requestTimeout, remaining), answerWait: answerWait) && ok
        }
        return ok
    }

    static func threadCPUNanos() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
    }

    /// One request; failures become a single warning for the whole process.
    @discardableResult
    private func send(_ spans: [FinishedSpan], timeout: TimeInterval, answerWait: TimeInterval? = nil) -> Bool {
        let body = OTLPTraceEncoder.exportRequest(spans, resource: resource)
        let problem: String
        do {
            guard let status = try OTLPPost.send(body, to: endpoint, timeout: timeout, answerWait: answerWait) else {
                logger.debug("tracing: spans sent, the collector's answer not awaited at exit", metadata: ["spans": "\(spans.count)"])
                return true
            }
            if (200..<300).contains(status) {
                condition.lock(); exportedCount += spans.count; condition.unlock()
                return true
            }
            problem = "the collector answered HTTP \(status)"
        } catch let error as FirebuildError {
            // "POST <url>: reason": the warning names the endpoint already.
            let prefix = "POST \(endpoint.url): "
            problem = error.message.hasPrefix(prefix) ? String(error.message.dropFirst(prefix.count)) : error.message
        } catch {
            problem = String(describing: error)
        }
        warnOnce(problem)
        return false
    }

    private func warnOnce(_ problem: String) {
        condition.lock()
        let first = !warned
        warned = true
        condition.unlock()
        if first {
            logger.warning("tracing: cannot export spans to \(endpoint.url): \(problem); spans are dropped, the command is not affected",
                           metadata: ["endpoint": .string(endpoint.url)])
        } else {
            logger.debug("tracing: export failed again: \(problem)")
        }
    }
}
