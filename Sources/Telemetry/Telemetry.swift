import FirebuildCore
import Foundation
import Logging
import OTel
import ServiceLifecycle
import Tracing

/// The tracing backend of one process: an OpenTelemetry tracer exporting OTLP/HTTP protobuf
/// (batched, in the background) plus, with `logSpans`, a swift-log line per finished span.
/// Modules never see this type: they create spans with `FirebuildTracing` (FirebuildCore).
public final class TelemetryBackend: @unchecked Sendable {
    /// The tracer to bootstrap globally (CLI) or to scope with `withTracer` (tests).
    public let tracer: any Tracer
    private let group: ServiceGroup
    private let finished = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var stopped = false

    /// Metadata provider adding `trace-id` and `span-id` to log lines written inside a span.
    public static let logMetadataProvider = Logger.MetadataProvider {
        InstrumentationContext.current?[SpanLogIDsKey.self] ?? [:]
    }

    /// Formats the ids from OTel's span context (once per span, see `SpanLogIDsKey`).
    static let otelIDs: Logger.MetadataProvider = {
        var keys = OTel.Configuration.LoggingMetadataProviderConfiguration.default
        keys.traceIDKey = "trace-id"
        keys.spanIDKey = "span-id"
        keys.traceFlagsKey = "trace-flags"
        let otel = OTel.makeLoggingMetadataProvider(configuration: keys)
        return Logger.MetadataProvider {
            let all = otel.get()
            var out: Logger.Metadata = [:]
            if let t = all["trace-id"] { out["trace-id"] = t }
            if let s = all["span-id"] { out["span-id"] = s }
            return out
        }
    }()

    /// Builds the tracer and starts its background exporter. Nothing is global here.
    public init(options: TracingOptions, serviceName: String = "firebuild") throws {
        var config = OTel.Configuration.default
        config.serviceName = serviceName
        config.resourceAttributes["service.version"] = FirebuildVersion.current
        config.logs.enabled = false
        config.metrics.enabled = false
        config.traces.enabled = true
        config.traces.sampler = .alwaysOn
        // Export problems (collector down) are warnings on our own log, never a failed command.
        var diagnostics = makeLogger("telemetry")
        diagnostics.logLevel = .warning
        config.diagnosticLogger = .custom(diagnostics)
        config.diagnosticLogLevel = .warning
        if options.enabled {
            config.traces.exporter = .otlp
            config.traces.otlpExporter.protocol = .httpProtobuf
            config.traces.otlpExporter.endpoint = try options.tracesEndpoint()
            config.traces.otlpExporter.timeout = .seconds(3)
            config.traces.otlpExporter.compression = .none
        } else {
            config.traces.exporter = .none
        }
        // A CLI run is short: export as soon as a batch is there; shutdown flushes the rest.
        config.traces.batchSpanProcessor.scheduleDelay = .milliseconds(500)
        config.traces.batchSpanProcessor.exportTimeout = .seconds(3)

        let base: any Tracer, service: any Service
        do {
            let backend = try OTel.makeTracingBackend(configuration: config)
            (base, service) = (backend.factory, backend.service)
        } catch {
            throw FirebuildError(.invalidArgument, "cannot set up tracing: \(error)")
        }
        tracer = Self.wrap(base, logs: options.logSpans)
        group = ServiceGroup(configuration: .init(services: [service], logger: diagnostics))
        let group = self.group, finished = self.finished
        Task.detached {
            do { try await group.run() } catch { diagnostics.warning("tracing exporter stopped: \(error)") }
            finished.signal()
        }
    }

    private static func wrap<T: Tracer>(_ base: T, logs: Bool) -> any Tracer {
        LoggingTracer(base: base, logger: makeLogger("trace"), ids: otelIDs, logs: logs)
    }

    /// Flushes spans still buffered and stops the exporter, waiting at most `timeout` (a
    /// collector that is down must not hold the command's exit). Returns false on timeout.
    /// Safe to call more than once.
    @discardableResult
    public func shutdown(timeout: TimeInterval = 5) -> Bool {
        lock.lock()
        if stopped { lock.unlock(); return true }
        stopped = true
        lock.unlock()
        tracer.forceFlush()
        let group = self.group
        Task.detached { await group.triggerGracefulShutdown() }
        return finished.wait(timeout: .now() + timeout) == .success
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
        let b = try TelemetryBackend(options: options)
        InstrumentationSystem.bootstrap(b.tracer)
        FirebuildLogging.metadataProvider = TelemetryBackend.logMetadataProvider
        backend = b
    }

    /// Flushes and stops the exporter (bounded wait); call before the process exits.
    public static func shutdown(timeout: TimeInterval = 5) {
        lock.lock()
        let b = backend
        lock.unlock()
        if let b, !b.shutdown(timeout: timeout) {
            makeLogger("telemetry").warning("tracing: spans not all exported within \(Int(timeout))s; giving up",
                                            metadata: ["timeout-s": "\(Int(timeout))"])
        }
    }

    public static var isActive: Bool {
        lock.lock()
        defer { lock.unlock() }
        return backend != nil
    }
}
