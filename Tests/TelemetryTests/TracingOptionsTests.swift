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

/// The OTEL_EXPORTER_OTLP_* variables fill in what the flags leave unset.
@Suite struct TracingEnvironmentTests {
    @Test func flagWinsThenTracesEndpointThenBaseEndpoint() throws {
        let env = ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces:4318/custom",
                   "OTEL_EXPORTER_OTLP_ENDPOINT": "http://base:4318/"]
        #expect(try TracingOptions(enabled: true, collectorHostPort: "a:1").exportEndpoint(environment: env).url == "http://a:1/v1/traces")
        #expect(try TracingOptions(enabled: true).exportEndpoint(environment: env).url == "http://traces:4318/custom")
        #expect(try TracingOptions(enabled: true).exportEndpoint(environment: ["OTEL_EXPORTER_OTLP_ENDPOINT": "http://base:4318/"]).url
                == "http://base:4318/v1/traces")
        #expect(try TracingOptions(enabled: true).exportEndpoint(environment: [:]).url == "http://127.0.0.1:4318/v1/traces")
    }

    @Test func headersAndTimeout() throws {
        let endpoint = try TracingOptions(enabled: true).exportEndpoint(environment: ["OTEL_EXPORTER_OTLP_HEADERS": "api-key=s%3Dcret, tenant = a"])
        #expect(endpoint.headers.map { "\($0.0)=\($0.1)" } == ["api-key=s=cret", "tenant=a"])
        #expect(try TracingOptions.exportTimeout(environment: [:]) == 3)
        #expect(try TracingOptions.exportTimeout(environment: ["OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "250"]) == 0.25)
    }

    @Test(arguments: [
        ["OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"],
        ["OTEL_EXPORTER_OTLP_HEADERS": "novalue"],
        ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "collector:4318"],
    ])
    func badEnvironmentIsAClearError(env: [String: String]) {
        #expect(throws: FirebuildError.self) { try TracingOptions(enabled: true).exportEndpoint(environment: env) }
    }

    @Test func badTimeoutIsAClearError() {
        #expect(throws: FirebuildError.self) { try TracingOptions.exportTimeout(environment: ["OTEL_EXPORTER_OTLP_TIMEOUT": "3s"]) }
    }

    @Test func resourceHonoursServiceNameAndAttributes() {
        let r = TelemetryBackend.resource(serviceName: "firebuild",
                                          environment: ["OTEL_SERVICE_NAME": "fb-ci", "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=ci,host.name=h%201"])
        let map = Dictionary(r.attributes.map { ($0.0, "\($0.1)") }, uniquingKeysWith: { a, _ in a })
        #expect(map["service.name"]?.contains("fb-ci") == true)
        #expect(map["deployment.environment"]?.contains("ci") == true)
        #expect(map["host.name"]?.contains("h 1") == true)
        #expect(map["service.version"] != nil)
    }
}
