import FirebuildCore
import Foundation
import Logging
import Tracing

/// firebuild's tracer: spans recorded in memory with W3C ids, handed when they end to the
/// OTLP exporter (`--tracing-enable`) and/or logged (`--tracing-log-enable`). Replaces
/// swift-otel, whose SwiftNIO exporter cost ~10 ms per command just to start and stop.
struct OTLPTracer: Tracer {
    typealias Span = RecordingSpan

    let sink: SpanSink

    func startSpan<Instant: TracerInstant>(_ operationName: String, context: @autoclosure () -> InstrumentationContext,
                                           ofKind kind: SpanKind, at instant: @autoclosure () -> Instant,
                                           function: String, file fileID: String, line: UInt) -> RecordingSpan {
        let parentContext = context()
        let parent = parentContext[SpanContextKey.self]?.ids
        let ids = parent?.newChild() ?? SpanIdentity.newRoot()
        return RecordingSpan(name: operationName, ids: ids, parent: parent, parentContext: parentContext, kind: kind,
                             startNanos: instant().nanosecondsSinceEpoch, sink: sink)
    }

    /// The running span a context belongs to (nil once it ended, or for a remote parent).
    func activeSpan(identifiedBy context: InstrumentationContext) -> RecordingSpan? {
        guard let span = context[SpanContextKey.self]?.span, span.isRecording else { return nil }
        return span
    }

    /// Export happens at shutdown and in background batches; nothing to force here.
    func forceFlush() {}

    // W3C trace context propagation (`traceparent`), for requests to services that trace too.
    static let traceparentHeader = "traceparent"

    func extract<Carrier, Extract>(_ carrier: Carrier, into context: inout InstrumentationContext, using extractor: Extract)
    where Extract: Extractor, Extract.Carrier == Carrier {
        guard let value = extractor.extract(key: Self.traceparentHeader, from: carrier),
              let ids = SpanIdentity.parse(traceparent: value) else { return }
        context[SpanContextKey.self] = SpanContextValue(ids: ids, span: nil)
    }

    func inject<Carrier, Inject>(_ context: InstrumentationContext, into carrier: inout Carrier, using injector: Inject)
    where Inject: Injector, Inject.Carrier == Carrier {
        guard let ids = context[SpanContextKey.self]?.ids else { return }
        injector.inject(ids.traceparent, forKey: Self.traceparentHeader, into: &carrier)
    }
}

/// `--tracing-log-enable`: one info line per finished span (name, duration, ids, status), so a
/// trace can be read without a collector.
struct SpanLog: SpanSink {
    let logger: Logger

    func finished(_ span: FinishedSpan) {
        var metadata = span.ids.logMetadata
        metadata["span"] = .string(span.name)
        metadata["duration-ms"] = .string(String(format: "%.3f", Double(span.endNanos - span.startNanos) / 1_000_000))
        if let status = span.status, status.code == .error {
            metadata["status"] = "error"
            metadata["error"] = .string(status.message ?? "error")
        } else {
            metadata["status"] = "ok"
        }
        logger.info("span finished", metadata: metadata)
    }
}

/// Several sinks (export and log).
struct SpanSinks: SpanSink {
    let sinks: [SpanSink]
    func finished(_ span: FinishedSpan) { sinks.forEach { $0.finished(span) } }
}
