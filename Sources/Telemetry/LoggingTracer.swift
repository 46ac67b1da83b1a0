import FirebuildCore
import Foundation
import Logging
import Tracing

/// Log metadata (`trace-id`, `span-id`) of a span, formatted once when the span starts and kept
/// in its context: every log line inside the span then costs a dictionary lookup, not hex formatting.
enum SpanLogIDsKey: InstrumentationContextKey {
    typealias Value = Logger.Metadata
}

/// Wraps the exporting tracer: stores each span's log ids in its context, and with
/// `--tracing-log-enable` (`logs`) logs every finished span (name, duration, ids, status) at info
/// through swift-log, so a trace can be read without a collector. Parents, ids and export are
/// the base tracer's.
struct LoggingTracer<Base: Tracer>: Tracer {
    let base: Base
    let logger: Logger
    /// Reads trace-id/span-id out of a context (OTel's provider, filtered).
    let ids: Logger.MetadataProvider
    let logs: Bool

    func startSpan<Instant: TracerInstant>(_ operationName: String, context: @autoclosure () -> InstrumentationContext,
                                           ofKind kind: SpanKind, at instant: @autoclosure () -> Instant,
                                           function: String, file fileID: String, line: UInt) -> LoggingSpan<Base.Span> {
        let span = base.startSpan(operationName, context: context(), ofKind: kind, at: instant(),
                                  function: function, file: fileID, line: line)
        var context = span.context
        context[SpanLogIDsKey.self] = InstrumentationContext.$current.withValue(span.context) { ids.get() }
        return LoggingSpan(base: span, context: context, logger: logger, start: DispatchTime.now().uptimeNanoseconds, logs: logs)
    }

    func activeSpan(identifiedBy context: InstrumentationContext) -> LoggingSpan<Base.Span>? {
        // A handle on a running span: ending it through this handle must not log twice.
        base.activeSpan(identifiedBy: context).map {
            LoggingSpan(base: $0, context: context, logger: logger, start: DispatchTime.now().uptimeNanoseconds, logs: false)
        }
    }

    func forceFlush() { base.forceFlush() }

    func extract<Carrier, Extract>(_ carrier: Carrier, into context: inout InstrumentationContext, using extractor: Extract)
    where Extract: Extractor, Extract.Carrier == Carrier {
        base.extract(carrier, into: &context, using: extractor)
    }

    func inject<Carrier, Inject>(_ context: InstrumentationContext, into carrier: inout Carrier, using injector: Inject)
    where Inject: Injector, Inject.Carrier == Carrier {
        base.inject(context, into: &carrier, using: injector)
    }
}

final class LoggingSpan<Base: Span>: Span, @unchecked Sendable {
    private let base: Base
    let context: InstrumentationContext
    private let logger: Logger
    private let start: UInt64
    private let logs: Bool
    private let lock = NSLock()
    private var failure: String?

    init(base: Base, context: InstrumentationContext, logger: Logger, start: UInt64, logs: Bool) {
        self.base = base
        self.context = context
        self.logger = logger
        self.start = start
        self.logs = logs
    }

    var operationName: String {
        get { base.operationName }
        set { base.operationName = newValue }
    }
    var attributes: SpanAttributes {
        get { base.attributes }
        set { base.attributes = newValue }
    }
    var isRecording: Bool { base.isRecording }

    func setStatus(_ status: SpanStatus) {
        if status.code == .error {
            lock.lock()
            if failure == nil || status.message != nil { failure = status.message ?? "error" }
            lock.unlock()
        }
        base.setStatus(status)
    }

    func addEvent(_ event: SpanEvent) { base.addEvent(event) }

    func recordError<Instant: TracerInstant>(_ error: Error, attributes: SpanAttributes, at instant: @autoclosure () -> Instant) {
        lock.lock()
        if failure == nil { failure = String(describing: error) }
        lock.unlock()
        base.recordError(error, attributes: attributes, at: instant())
    }

    func addLink(_ link: SpanLink) { base.addLink(link) }

    func end<Instant: TracerInstant>(at instant: @autoclosure () -> Instant) {
        base.end(at: instant())
        guard logs else { return }
        let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1_000_000
        var metadata: Logger.Metadata = context[SpanLogIDsKey.self] ?? [:]
        metadata["span"] = .string(base.operationName)
        metadata["duration-ms"] = .string(String(format: "%.3f", ms))
        lock.lock()
        let failure = self.failure
        lock.unlock()
        if let failure {
            metadata["status"] = "error"
            metadata["error"] = .string(failure)
        } else {
            metadata["status"] = "ok"
        }
        logger.info("span finished", metadata: metadata)
    }
}
