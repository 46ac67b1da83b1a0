import FirebuildCore
import Foundation
import Logging
import Testing
import Tracing
@testable import Telemetry

final class CaptureSink: LogSink, @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []
    func write(_ line: String) { lock.lock(); stored.append(line); lock.unlock() }
    var lines: [String] { lock.lock(); defer { lock.unlock() }; return stored }
}

/// Shared logging state (sink, metadata provider) is process-wide: one suite, serialized.
@Suite(.serialized) struct TelemetryExportTests {
    /// Runs the blocking shutdown off the cooperative pool the exporter itself needs.
    func shutdown(_ backend: TelemetryBackend, timeout: TimeInterval) async -> Bool {
        await withCheckedContinuation { c in
            // A thread of its own: blocked global-queue or cooperative threads must not delay the flush.
            Thread { c.resume(returning: backend.shutdown(timeout: timeout)) }.start()
        }
    }

    @Test func spanTreeErrorsAndTraceIDReachTheCollector() async throws {
        let receiver = try OTLPReceiver()
        defer { receiver.stop() }
        let sink = CaptureSink()
        FirebuildLogging.bootstrap(LogOptions(level: .debug, json: true))
        FirebuildLogging.setSink(sink)
        FirebuildLogging.metadataProvider = TelemetryBackend.logMetadataProvider
        defer {
            FirebuildLogging.setSink(StandardErrorSink())
            FirebuildLogging.metadataProvider = nil
        }

        let backend = try TelemetryBackend(options: TracingOptions(enabled: true,
                                                                   collectorHostPort: "127.0.0.1:\(receiver.port)",
                                                                   logSpans: true))
        let logger = makeLogger("test")
        withTracer(backend.tracer) {
            FirebuildTracing.span("firebuild image pull", attributes: [FirebuildSpanKey.image: "alpine:3.20"]) { _ in
                logger.info("inside root")
                FirebuildTracing.span("oci.resolve") { _ in
                    FirebuildTracing.span("oci.layer", attributes: [FirebuildSpanKey.layerIndex: 0]) { _ in }
                }
                do {
                    try FirebuildTracing.span("oci.unpack") { _ in
                        throw FirebuildError(.digestMismatch, "layer sha256:ab has the wrong digest")
                    }
                } catch {}
            }
        }
        #expect(await shutdown(backend, timeout: 15))

        let spans = receiver.spans
        #expect(receiver.paths.allSatisfy { $0 == "/v1/traces" }, "paths: \(receiver.paths)")
        #expect(receiver.contentTypes.allSatisfy { $0.hasPrefix("application/x-protobuf") })
        #expect(Set(spans.map(\.name)) == ["firebuild image pull", "oci.resolve", "oci.layer", "oci.unpack"])
        let byName = Dictionary(spans.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let root = try #require(byName["firebuild image pull"])
        let resolve = try #require(byName["oci.resolve"])
        let layer = try #require(byName["oci.layer"])
        let unpack = try #require(byName["oci.unpack"])

        // One trace, the right parents.
        #expect(root.traceID.count == 32)
        #expect(spans.allSatisfy { $0.traceID == root.traceID })
        #expect(root.parentSpanID.isEmpty)
        #expect(resolve.parentSpanID == root.spanID)
        #expect(layer.parentSpanID == resolve.spanID)
        #expect(unpack.parentSpanID == root.spanID)
        #expect(root.attributes[FirebuildSpanKey.image] == "alpine:3.20")
        #expect(layer.attributes[FirebuildSpanKey.layerIndex] == "0")

        // The failure is a span error (status ERROR = 2, message, exception event), not baggage;
        // the parent that handled it stays unset (0).
        #expect(unpack.statusCode == 2)
        #expect(unpack.statusMessage.contains("wrong digest"))
        #expect(unpack.events.contains("exception"))
        #expect(unpack.attributes[FirebuildSpanKey.errorCode] == "digestMismatch")
        #expect(root.statusCode == 0)

        // The log line written inside the root span carries the exported trace id.
        let inside = try #require(sink.lines.first { $0.contains("inside root") })
        let object = try #require(JSONSerialization.jsonObject(with: Data(inside.utf8)) as? [String: Any])
        #expect(object["trace-id"] as? String == root.traceID)
        #expect(object["span-id"] as? String == root.spanID)

        // --tracing-log-enable: one "span finished" line per span, the failed one marked.
        let finished = sink.lines.filter { $0.contains("span finished") }
        #expect(finished.count == 4)
        #expect(finished.contains { $0.contains("\"status\":\"error\"") && $0.contains("oci.unpack") })
    }

    @Test func collectorDownDoesNotHangShutdown() async throws {
        // A port nothing listens on: export fails, shutdown still returns within the bound.
        let receiver = try OTLPReceiver()
        let port = receiver.port
        receiver.stop()
        let backend = try TelemetryBackend(options: TracingOptions(enabled: true, collectorHostPort: "127.0.0.1:\(port)"))
        withTracer(backend.tracer) {
            FirebuildTracing.span("firebuild version") { _ in }
        }
        let start = Date()
        _ = await shutdown(backend, timeout: 8)
        #expect(Date().timeIntervalSince(start) < 9)
    }

    @Test func noTracerMeansNoSpansAndNoTraceID() throws {
        let sink = CaptureSink()
        FirebuildLogging.bootstrap(LogOptions(level: .debug, json: true))
        FirebuildLogging.setSink(sink)
        FirebuildLogging.metadataProvider = TelemetryBackend.logMetadataProvider
        defer {
            FirebuildLogging.setSink(StandardErrorSink())
            FirebuildLogging.metadataProvider = nil
        }
        let value = FirebuildTracing.span("firebuild version") { span -> Int in
            makeLogger("test").info("untraced")
            #expect(!span.isRecording)
            return 42
        }
        #expect(value == 42)
        #expect(sink.lines.count == 1)
        #expect(!sink.lines[0].contains("trace-id"))
    }
}
