import Foundation
import Tracing

/// Span attribute keys shared by every module, so one phase is named the same way everywhere
/// (Jaeger searches by these). Values are strings unless noted.
public enum FirebuildSpanKey {
    public static let command = "firebuild.command"          // "image pull", the root span
    public static let image = "firebuild.image"              // image reference as the user wrote it
    public static let tag = "firebuild.tag"                  // store tag
    public static let digest = "firebuild.digest"            // sha256:… of a manifest, layer or rootfs
    public static let layerIndex = "firebuild.layer.index"   // Int, 0-based
    public static let bytes = "firebuild.bytes"              // Int, bytes moved or written
    public static let stage = "firebuild.build.stage"        // build stage name or index
    public static let stepLine = "firebuild.step.line"       // Int, Dockerfile line of the step
    public static let step = "firebuild.step"                // the instruction, e.g. "RUN apt-get …"
    public static let cached = "firebuild.cached"            // Bool, the step or layer came from cache
    public static let vmID = "firebuild.vm.id"
    public static let network = "firebuild.network"          // CNI network name
    public static let ip = "firebuild.ip"
    public static let program = "firebuild.program"          // child program run (mkfs.ext4, qemu…)
    public static let recipe = "firebuild.recipe"            // Lua recipe path
    public static let errorCode = "firebuild.error.code"     // FirebuildError code of a failed span
}

/// One-line spans for modules. Without a bootstrapped tracer (the default, and whenever
/// tracing is off) these cost a task-local read and nothing is recorded.
///
///     try FirebuildTracing.span("oci.pull.layer", attributes: [FirebuildSpanKey.digest: digest]) { span in
///         try download(layer)
///     }
///
/// A thrown error is recorded on the span (`recordError`, with the FirebuildError code as an
/// attribute) and the span status becomes error with the message, then the error is rethrown.
public enum FirebuildTracing {
    public typealias Attributes = [String: any SpanAttributeConvertible]

    @discardableResult
    public static func span<T>(_ name: String, attributes: Attributes = [:], kind: SpanKind = .internal,
                               function: String = #function, file: String = #fileID, line: UInt = #line,
                               _ body: (any Span) throws -> T) rethrows -> T {
        let span = InstrumentationSystem.tracer.startSpan(name, context: InstrumentationContext.current ?? .topLevel,
                                                          ofKind: kind, at: DefaultTracerClock.now,
                                                          function: function, file: file, line: line) as any Span
        defer { span.end() }
        set(attributes, on: span)
        do {
            return try InstrumentationContext.$current.withValue(span.context) { try body(span) }
        } catch {
            fail(span, error)
            throw error
        }
    }

    @discardableResult
    public static func span<T>(_ name: String, attributes: Attributes = [:], kind: SpanKind = .internal,
                               function: String = #function, file: String = #fileID, line: UInt = #line,
                               _ body: (any Span) async throws -> T) async rethrows -> T {
        let span = InstrumentationSystem.tracer.startSpan(name, context: InstrumentationContext.current ?? .topLevel,
                                                          ofKind: kind, at: DefaultTracerClock.now,
                                                          function: function, file: file, line: line) as any Span
        defer { span.end() }
        set(attributes, on: span)
        do {
            return try await InstrumentationContext.$current.withValue(span.context) { try await body(span) }
        } catch {
            fail(span, error)
            throw error
        }
    }

    /// Records a failure on a span without throwing (for errors a phase handles itself but an
    /// operator should still see, e.g. a failed cleanup).
    public static func fail(_ span: any Span, _ error: Error) {
        var extra = SpanAttributes()
        let message: String
        if let fe = error as? FirebuildError {
            extra[FirebuildSpanKey.errorCode] = fe.code.rawValue
            // Also on the span itself, so traces can be searched by error kind.
            span.attributes[FirebuildSpanKey.errorCode] = fe.code.rawValue
            message = fe.description
        } else {
            message = String(describing: error)
        }
        span.recordError(error, attributes: extra)
        span.setStatus(SpanStatus(code: .error, message: message))
    }

    /// Adds an event (a point in time inside a span), e.g. "cache hit".
    public static func event(_ name: String, attributes: Attributes = [:]) {
        guard let span = currentSpan() else { return }
        var attrs = SpanAttributes()
        for (k, v) in attributes { attrs[k] = v.toSpanAttribute() }
        span.addEvent(SpanEvent(name: name, attributes: attrs))
    }

    /// The span the calling code runs in, if a tracer is recording one.
    public static func currentSpan() -> (any Span)? {
        guard let context = InstrumentationContext.current else { return nil }
        return InstrumentationSystem.tracer.activeSpan(identifiedBy: context)
    }

    private static func set(_ attributes: Attributes, on span: any Span) {
        guard !attributes.isEmpty, span.isRecording else { return }
        span.attributes.merge(attributesFrom(attributes))
    }

    static func attributesFrom(_ attributes: Attributes) -> SpanAttributes {
        var out = SpanAttributes()
        for (k, v) in attributes { out[k] = v.toSpanAttribute() }
        return out
    }
}

/// The span context of the caller, carried to a worker thread: task-locals do not follow
/// `Thread.detachNewThread` or `DispatchQueue`, so spans opened there would start new traces.
///
///     let trace = FirebuildTracing.capture()
///     Thread.detachNewThread { trace.run { FirebuildTracing.span("oci.pull.layer") { _ in … } } }
/// The tracer is captured too: tests scope one with `withTracer`, which is task-local as well.
public struct TraceContext: @unchecked Sendable {
    let context: InstrumentationContext?
    let tracer: any Tracer

    public func run<T>(_ body: () throws -> T) throws -> T {
        guard let context else { return try body() }
        return try withTracer(tracer) { () throws -> T in
            try InstrumentationContext.$current.withValue(context) { try body() }
        }
    }
}

extension FirebuildTracing {
    public static func capture() -> TraceContext {
        TraceContext(context: InstrumentationContext.current, tracer: InstrumentationSystem.tracer)
    }
}
