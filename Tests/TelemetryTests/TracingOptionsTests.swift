import FirebuildCore
import Testing
@testable import Telemetry

@Suite struct TracingOptionsTests {
    @Test(arguments: [
        ("127.0.0.1:4318", "http://127.0.0.1:4318/v1/traces"),
        ("jaeger.local:4318", "http://jaeger.local:4318/v1/traces"),
        ("[::1]:4318", "http://[::1]:4318/v1/traces"),
        ("http://collector:4318", "http://collector:4318/v1/traces"),
        ("http://collector:4318/", "http://collector:4318/v1/traces"),
        ("https://otel.example.com/custom/traces", "https://otel.example.com/custom/traces"),
    ])
    func endpoints(input: String, expected: String) throws {
        #expect(try TracingOptions.endpoint(from: input) == expected)
    }

    @Test(arguments: ["127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", ":4318", "host:port", "::1:4318",
                      "127.0.0.1:6831", "http://"])
    func badEndpoints(input: String) {
        #expect(throws: FirebuildError.self) { try TracingOptions.endpoint(from: input) }
    }

    @Test func legacyJaegerPortExplainsOTLP() {
        do {
            _ = try TracingOptions.endpoint(from: "127.0.0.1:6831")
            Issue.record("expected an error")
        } catch let e as FirebuildError {
            #expect(e.code == .invalidArgument)
            #expect(e.message.contains("4318"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func defaultIsLocalOTLPHTTP() throws {
        #expect(try TracingOptions().tracesEndpoint() == "http://127.0.0.1:4318/v1/traces")
        #expect(!TracingOptions().isActive)
        #expect(TracingOptions(logSpans: true).isActive)
    }

    @Test func commandLineWinsProfileFillsGaps() {
        let cli = TracingOptions(enabled: false, collectorHostPort: "a:1", logSpans: false)
        let merged = cli.merged(withProfile: true, collectorHostPort: "b:2", logEnable: nil)
        #expect(merged == TracingOptions(enabled: true, collectorHostPort: "a:1", logSpans: false))
        let fromProfile = TracingOptions().merged(withProfile: nil, collectorHostPort: "b:2", logEnable: true)
        #expect(fromProfile == TracingOptions(enabled: false, collectorHostPort: "b:2", logSpans: true))
        #expect(TracingOptions().merged(withProfile: nil, collectorHostPort: nil, logEnable: nil) == TracingOptions())
    }
}
