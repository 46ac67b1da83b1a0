import FirebuildCore
import Foundation
import Testing
import Tracing
@testable import Telemetry

/// The exporter against the in-test collector on 127.0.0.1: what goes over the wire, batching,
/// and a collector that is down or hangs (one warning, bounded exit, never an error).
@Suite(.serialized) struct ExporterTests {
    static func exporter(port: UInt16, batchSize: Int = 512, interval: TimeInterval = 5, timeout: TimeInterval = 3,
                         headers: [(String, String)] = []) -> OTLPExporter {
        OTLPExporter(endpoint: .init(url: "http://127.0.0.1:\(port)/v1/traces", headers: headers),
                     resource: TelemetryBackend.resource(serviceName: "firebuild", environment: [:]),
                     requestTimeout: timeout, batchSize: batchSize, interval: interval)
    }

    /// Captures warnings: logging state is process-wide, restored afterwards.
    static func capturingLogs<T>(_ body: (CaptureSink) throws -> T) rethrows -> T {
        let sink = CaptureSink()
        FirebuildLogging.bootstrap(LogOptions(level: .info, json: true))
        FirebuildLogging.setSink(sink)
        defer { FirebuildLogging.setSink(StandardErrorSink()) }
        return try body(sink)
    }

    @Test func postsOneProtobufRequestWithTheSpanTree() throws {
        let receiver = try OTLPReceiver()
        defer { receiver.stop() }
        let exporter = Self.exporter(port: receiver.port, headers: [("x-tenant", "a")])
        withTracer(OTLPTracer(sink: exporter)) {
            FirebuildTracing.span("firebuild ls", attributes: [FirebuildSpanKey.command: "ls"]) { _ in
                FirebuildTracing.span("runtime.list", attributes: [FirebuildSpanKey.bytes: 42, FirebuildSpanKey.cached: true]) { _ in
                    FirebuildTracing.event("cache hit", attributes: [FirebuildSpanKey.digest: "sha256:ab"])
                }
            }
        }
        #expect(receiver.bodies.isEmpty, "nothing is sent before shutdown for a short command")
        #expect(exporter.shutdown(timeout: 5))
        #expect(receiver.paths == ["/v1/traces"])
        #expect(receiver.contentTypes == ["application/x-protobuf"])
        #expect(receiver.headers.first?["x-tenant"] == "a")
        let spans = receiver.spans
        let root = try #require(spans.first { $0.name == "firebuild ls" })
        let child = try #require(spans.first { $0.name == "runtime.list" })
        #expect(spans.count == 2 && exporter.exported == 2)
        #expect(child.parentSpanID == root.spanID && child.traceID == root.traceID && root.parentSpanID.isEmpty)
        #expect(root.attributes[FirebuildSpanKey.command] == "ls")
        #expect(child.attributes[FirebuildSpanKey.bytes] == "42" && child.attributes[FirebuildSpanKey.cached] == "true")
        #expect(child.events == ["cache hit"])
        #expect(root.startNanos <= child.startNanos && child.endNanos <= root.endNanos && root.endNanos > 0)
        let resource = ProtobufTests.resourceAttributes(try #require(receiver.bodies.first))
        #expect(resource["service.name"] == "firebuild" && resource["service.version"] == FirebuildVersion.current)
    }

    @Test func longCommandsExportInBackgroundBatches() throws {
        let receiver = try OTLPReceiver()
        defer { receiver.stop() }
        let exporter = Self.exporter(port: receiver.port, batchSize: 3, interval: 60)
        withTracer(OTLPTracer(sink: exporter)) {
            for i in 0..<7 { FirebuildTracing.span("step \(i)") { _ in } }
        }
        // Two full batches go out while the "command" still runs.
        let deadline = Date().addingTimeInterval(10)
        while receiver.spans.count < 6 && Date() < deadline { usleep(10_000) }
        #expect(receiver.spans.count == 6)
        #expect(exporter.shutdown(timeout: 5))
        #expect(Set(receiver.spans.map(\.name)) == Set((0..<7).map { "step \($0)" }))
        #expect(receiver.spans.count == 7 && receiver.bodies.count == 3)
    }

    @Test func cliExitDoesNotWaitForASlowAnswerButDelivers() throws {
        let receiver = try OTLPReceiver()
        defer { receiver.stop() }
        receiver.answerDelay = 1
        let exporter = OTLPExporter(endpoint: .init(url: "http://127.0.0.1:\(receiver.port)/v1/traces", headers: []),
                                    resource: TelemetryBackend.resource(serviceName: "firebuild", environment: [:]),
                                    exitAnswerWait: .fractionOfRunTime(0.01))
        try Self.capturingLogs { sink in
            withTracer(OTLPTracer(sink: exporter)) { FirebuildTracing.span("firebuild ls") { _ in } }
            let start = Date()
            #expect(exporter.shutdown(timeout: 5))
            #expect(Date().timeIntervalSince(start) < 0.5, "the exit must not wait for the 1 s answer")
            #expect(!sink.lines.contains { $0.contains("\"@level\":\"warn\"") })
        }
        // The request was handed over whole: the collector has it although nobody waited.
        let deadline = Date().addingTimeInterval(5)
        while receiver.spans.isEmpty && Date() < deadline { usleep(10_000) }
        #expect(receiver.spans.map(\.name) == ["firebuild ls"])
    }

    @Test func cliExitStillReportsARefusedConnection() throws {
        let receiver = try OTLPReceiver()
        let port = receiver.port
        receiver.stop()
        let exporter = OTLPExporter(endpoint: .init(url: "http://127.0.0.1:\(port)/v1/traces", headers: []),
                                    resource: TelemetryBackend.resource(serviceName: "firebuild", environment: [:]),
                                    exitAnswerWait: .fractionOfRunTime(0.01))
        try Self.capturingLogs { sink in
            withTracer(OTLPTracer(sink: exporter)) { FirebuildTracing.span("firebuild ls") { _ in } }
            #expect(!exporter.shutdown(timeout: 5))
            #expect(sink.lines.filter { $0.contains("Connection refused") }.count == 1, "\(sink.lines)")
        }
    }

    @Test(arguments: [
        ("http://127.0.0.1:4318/v1/traces", CollectorURL?.some(.init(secure: false, host: "127.0.0.1", port: 4318, target: "/v1/traces"))),
        ("https://otel.example.com/a?b=c#frag", .init(secure: true, host: "otel.example.com", port: nil, target: "/a?b=c")),
        ("HTTP://[::1]:4318", .init(secure: false, host: "[::1]", port: 4318, target: "")),
        ("http://h?x=1", .init(secure: false, host: "h", port: nil, target: "/?x=1")),
        ("ftp://h/x", nil), ("http://", nil), ("http://user@h/x", nil), ("http://h:port/x", nil), ("http://[::1/x", nil),
        ("http://a b/x", nil),
    ])
    func collectorURLs(text: String, expected: CollectorURL?) {
        #expect(CollectorURL(text) == expected)
    }

    @Test func collectorURLConnectsWithoutBrackets() throws {
        let url = try #require(CollectorURL("http://[::1]:4318/v1/traces"))
        #expect(url.connectHost == "::1" && url.connectPort == 4318 && url.hostHeader == "[::1]:4318")
        #expect(CollectorURL("https://h")?.connectPort == 443 && CollectorURL("http://h")?.connectPort == 80)
    }

    @Test func deadCollectorWarnsOnceAndExitsFast() throws {
        let receiver = try OTLPReceiver()
        let port = receiver.port
        receiver.stop()   // nothing listens on this port any more
        try Self.capturingLogs { sink in
            let exporter = Self.exporter(port: port, batchSize: 2, interval: 60)
            withTracer(OTLPTracer(sink: exporter)) {
                for i in 0..<5 { FirebuildTracing.span("step \(i)") { _ in } }
            }
            let start = Date()
            #expect(!exporter.shutdown(timeout: 5))
            #expect(Date().timeIntervalSince(start) < 2)
            let warnings = sink.lines.filter { $0.contains("\"@level\":\"warn\"") }
            #expect(warnings.count == 1, "\(sink.lines)")
            #expect(warnings.first?.contains("cannot export spans to http://127.0.0.1:\(port)/v1/traces") == true)
            #expect(warnings.first?.contains("the command is not affected") == true)
            _ = try #require(sink.lines.first)
        }
    }

    @Test func hangingCollectorIsBoundedByTheTimeout() throws {
        // Listens (the kernel completes the handshake) but never reads or answers.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && listen(fd, 4) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        try #require(ok)
        try Self.capturingLogs { sink in
            let exporter = Self.exporter(port: UInt16(bigEndian: addr.sin_port), timeout: 0.5)
            withTracer(OTLPTracer(sink: exporter)) { FirebuildTracing.span("firebuild version") { _ in } }
            let start = Date()
            #expect(!exporter.shutdown(timeout: 5))
            #expect(Date().timeIntervalSince(start) < 2)
            #expect(sink.lines.filter { $0.contains("no answer in time") }.count == 1, "\(sink.lines)")
        }
    }

    @Test func backendWithLogSpansOnlyExportsNothing() throws {
        let backend = try TelemetryBackend(options: TracingOptions(logSpans: true))
        #expect(backend.exporter == nil)
        try Self.capturingLogs { sink in
            try withTracer(backend.tracer) {
                try FirebuildTracing.span("firebuild version") { span in
                    #expect(span.isRecording)
                    // activeSpan finds the running span; ending through it does not log twice.
                    let handle = try #require(FirebuildTracing.currentSpan())
                    handle.attributes["x"] = 1
                }
            }
            #expect(backend.shutdown())
            #expect(sink.lines.filter { $0.contains("span finished") }.count == 1)
        }
    }

    @Test func traceparentIsInjectedAndExtracted() throws {
        let tracer = OTLPTracer(sink: SpanSinks(sinks: []))
        var headers: [String: String] = [:]
        let span = tracer.startSpan("client", context: .topLevel, ofKind: .client, at: DefaultTracerClock.now,
                                    function: #function, file: #fileID, line: #line)
        tracer.inject(span.context, into: &headers, using: DictionaryInjector())
        #expect(headers["traceparent"] == "00-\(span.ids.traceHex)-\(span.ids.spanHex)-01")
        var extracted = InstrumentationContext.topLevel
        tracer.extract(headers, into: &extracted, using: DictionaryExtractor())
        let server = tracer.startSpan("server", context: extracted, ofKind: .server, at: DefaultTracerClock.now,
                                      function: #function, file: #fileID, line: #line)
        #expect(server.ids.traceHex == span.ids.traceHex)
        #expect(tracer.activeSpan(identifiedBy: extracted) == nil, "a remote parent is not a local span")
        #expect(tracer.activeSpan(identifiedBy: server.context) === server)
        server.end()
        #expect(tracer.activeSpan(identifiedBy: server.context) == nil)
    }
}

struct DictionaryInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
}

struct DictionaryExtractor: Extractor {
    func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
}
