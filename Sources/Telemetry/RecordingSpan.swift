import FirebuildCore
import Foundation
import Logging
import Tracing

/// A finished span as exported: everything OTLP's `Span` message carries that we use.
struct FinishedSpan: Sendable {
    struct Event: Sendable {
        var name: String
        var nanos: UInt64
        var attributes: SpanAttributes
    }
    struct Link: Sendable {
        var ids: SpanIdentity
        var attributes: SpanAttributes
    }
    var ids: SpanIdentity
    var parent: SpanIdentity?
    var name: String
    var kind: SpanKind
    var startNanos: UInt64
    var endNanos: UInt64
    var attributes: SpanAttributes
    var events: [Event]
    var links: [Link]
    var status: SpanStatus?
}

/// One span of this process, recorded in memory until it ends, then handed to the tracer
/// (export and/or a log line). Thread-safe: a span may be annotated from worker threads.
final class RecordingSpan: Tracing.Span, @unchecked Sendable {
    let ids: SpanIdentity
    private let parentContext: InstrumentationContext
    private let parentIDs: SpanIdentity?
    private let kind: SpanKind
    private let startNanos: UInt64
    private let sink: SpanSink
    private let lock = NSLock()
    private var name: String
    private var attrs = SpanAttributes()
    private var events: [FinishedSpan.Event] = []
    private var links: [FinishedSpan.Link] = []
    private var status: SpanStatus?
    private var ended = false

    init(name: String, ids: SpanIdentity, parent: SpanIdentity?, parentContext: InstrumentationContext,
         kind: SpanKind, startNanos: UInt64, sink: SpanSink) {
        self.name = name
        self.ids = ids
        self.parentIDs = parent
        self.parentContext = parentContext
        self.kind = kind
        self.startNanos = startNanos
        self.sink = sink
    }

    /// The caller's context plus this span. Built on demand so the span does not hold a
    /// context that holds the span (a reference cycle).
    var context: InstrumentationContext {
        var c = parentContext
        c[SpanContextKey.self] = SpanContextValue(ids: ids, span: self)
        return c
    }

    var operationName: String {
        get { locked { name } }
        set { locked { if !ended { name = newValue } } }
    }

    var attributes: SpanAttributes {
        get { locked { attrs } }
        set { locked { if !ended { attrs = newValue } } }
    }

    var isRecording: Bool { locked { !ended } }

    /// OTel rules: `ok` is final; otherwise the last status set wins.
    func setStatus(_ newStatus: SpanStatus) {
        locked {
            guard !ended, status?.code != .ok else { return }
            status = newStatus
        }
    }

    func addEvent(_ event: SpanEvent) {
        locked {
            guard !ended else { return }
            events.append(.init(name: event.name, nanos: event.nanosecondsSinceEpoch, attributes: event.attributes))
        }
    }

    /// An `exception` event with the OTel semantic-convention attributes.
    func recordError<Instant: TracerInstant>(_ error: Error, attributes: SpanAttributes, at instant: @autoclosure () -> Instant) {
        var a = attributes
        a["exception.type"] = String(reflecting: type(of: error))
        a["exception.message"] = String(describing: error)
        let nanos = instant().nanosecondsSinceEpoch
        locked {
            guard !ended else { return }
            events.append(.init(name: "exception", nanos: nanos, attributes: a))
        }
    }

    func addLink(_ link: SpanLink) {
        guard let other = link.context[SpanContextKey.self]?.ids else { return }
        locked {
            guard !ended else { return }
            links.append(.init(ids: other, attributes: link.attributes))
        }
    }

    /// Ends the span once; later calls (e.g. through an `activeSpan` handle) do nothing.
    func end<Instant: TracerInstant>(at instant: @autoclosure () -> Instant) {
        let endNanos = instant().nanosecondsSinceEpoch
        let finished: FinishedSpan? = locked {
            guard !ended else { return nil }
            ended = true
            return FinishedSpan(ids: ids, parent: parentIDs, name: name, kind: kind, startNanos: startNanos,
                                endNanos: max(endNanos, startNanos), attributes: attrs, events: events, links: links,
                                status: status)
        }
        if let finished { sink.finished(finished) }
    }

    private func locked<T>(_ body: () -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body()
    }
}

/// Where finished spans go: the exporter, the span log, or both.
protocol SpanSink: Sendable {
    func finished(_ span: FinishedSpan)
}
