import FirebuildCore
import Foundation
import Logging
import Tracing

/// The tracing backend of one process: our tracer (`OTLPTracer`), exporting OTLP/HTTP
/// protobuf (`--tracing-enable`) and/or logging each finished span (`--tracing-log-enable`).
/// Modules never see this type: they create spans with `FirebuildTracing` (FirebuildCore).
public final class TelemetryBackend: @unchecked Sendable {
    /// The tracer to bootstrap globally (CLI) or to scope with `withTracer` (tests).
    public let tracer: any Tracer
    let exporter: OTLPExporter?
    private let lock = NSLock()
    private var stopped = false

    /// Metadata provider adding `trace-id` and `span-id` to log lines written inside a span:
    /// a task-local read and the span's precomputed metadata, no formatting per line.
    public static let logMetadataProvider = Logger.MetadataProvider {
        InstrumentationContext.current?[SpanContextKey.self]?.ids.logMetadata ?? [:]
    }

    /// Builds the tracer. Nothing is global here and no thread or connection is started.
    /// `awaitEveryAnswer` false (the CLI) bounds the wait for the collector's answer at exit
    /// to 1 % of the run time (see `OTLPExporter.ExitAnswerWait`); true checks every answer.
    public init(options: TracingOptions, serviceName: String = "firebuild", awaitEveryAnswer: Bool = true,
                environment: [String: String] = TracingOptions.otelEnvironment()) throws {
        var sinks: [SpanSink] = []
        if options.enabled {
            let exporter = OTLPExporter(endpoint: try options.exportEndpoint(environment: environment),
                                        resource: Self.resource(serviceName: serviceName, environment: environment),
                                        requestTimeout: try TracingOptions.exportTimeout(environment: environment),
                                        exitAnswerWait: awaitEveryAnswer ? .full : .fractionOfRunTime(0.01))
            self.exporter = exporter
            sinks.append(exporter)
        } else {
            exporter = nil
        }
        if options.logSpans { sinks.append(SpanLog(logger: makeLogger("trace"))) }
        tracer = OTLPTracer(sink: sinks.count == 1 ? sinks[0] : SpanSinks(sinks: sinks))
    }

    /// `service.name` and `service.version` (what Jaeger lists services by), plus
    /// `OTEL_RESOURCE_ATTRIBUTES` (`key=value,…`) and `OTEL_SERVICE_NAME` as OTel SDKs read them.
    static func resource(serviceName: String, environment: [String: String]) -> OTLPTraceEncoder.Resource {
        var attributes: [String: String] = [:]
        for pair in (environment["OTEL_RESOURCE_ATTRIBUTES"] ?? "").split(separator: ",") {
            let kv = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if kv.count == 2, !kv[0].isEmpty { attributes[kv[0]] = kv[1].removingPercentEncoding ?? kv[1] }
        }
        attributes["service.name"] = environment["OTEL_SERVICE_NAME"].flatMap { $0.isEmpty ? nil : $0 } ?? serviceName
        attributes["service.version"] = FirebuildVersion.current
        attributes["telemetry.sdk.name"] = "firebuild"
        attributes["telemetry.sdk.language"] = "swift"
        attributes["process.pid"] = String(getpid())
        return OTLPTraceEncoder.Resource(
            attributes: attributes.sorted { $0.key < $1.key }.map { ($0.key, SpanAttribute.string($0.value)) },
            scopeName: "firebuild", scopeVersion: FirebuildVersion.current)
    }

    /// Sends the spans still buffered, waiting at most `timeout` (a collector that is down
    /// must not hold the command's exit). Returns false when not everything went out in time
    /// (the exporter has then already warned if the collector failed). Safe to call twice.
    @discardableResult
    public func shutdown(timeout: TimeInterval = 5) -> Bool {
        lock.lock()
        if stopped { lock.unlock(); return true }
        stopped = true
        lock.unlock()
        return exporter?.shutdown(timeout: timeout) ?? true
    }
}

/// The process-wide tracing of the CLI: bootstrapped once, flushed before exit.
public enum FirebuildTelemetry {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var backend: TelemetryBackend?

    /// Starts tracing as `options` ask (nothing when inactive) and joins the logs to it.
    /// The instrumentation system can be bootstrapped once per process: later calls are ignored.
    public static func bootstrap(_ options: TracingOptions) throws {
        lock.lock()
        defer { lock.unlock() }
        guard backend == nil, options.isActive else { return }
        let b = try TelemetryBackend(options: options, awaitEveryAnswer: false)
        InstrumentationSystem.bootstrap(b.tracer)
        FirebuildLogging.metadataProvider = TelemetryBackend.logMetadataProvider
        backend = b
    }

    /// Sends the remaining spans (bounded wait); call before the process exits. Problems
    /// (collector down, too slow) are one warning from the exporter, never an error.
    public static func shutdown(timeout: TimeInterval = 5) {
        lock.lock()
        let b = backend
        lock.unlock()
        b?.shutdown(timeout: timeout)
    }

    public static var isActive: Bool {
        lock.lock()
        defer { lock.unlock() }
        return backend != nil
    }
}
