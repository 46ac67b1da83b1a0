import FirebuildCore
import Foundation

/// The standard OpenTelemetry exporter variables, for what the flags leave unset:
/// `--tracing-collector-host-port` (command line or profile) wins over
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (a full URL, used as given), which wins over
/// `OTEL_EXPORTER_OTLP_ENDPOINT` (a base URL, `/v1/traces` appended), then the default
/// 127.0.0.1:4318. Headers (`OTEL_EXPORTER_OTLP_[TRACES_]HEADERS`, `key=value,…`, e.g. an
/// API key) and the timeout (`OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT`, milliseconds) apply too.
extension TracingOptions {
    func exportEndpoint(environment: [String: String]) throws -> OTLPPost.Endpoint {
        let url: String
        if collectorHostPort != nil {
            url = try tracesEndpoint()
        } else if let full = Self.variable("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", environment) {
            url = try Self.checkedURL(full, variable: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        } else if let base = Self.variable("OTEL_EXPORTER_OTLP_ENDPOINT", environment) {
            let checked = try Self.checkedURL(base, variable: "OTEL_EXPORTER_OTLP_ENDPOINT")
            url = (checked.hasSuffix("/") ? String(checked.dropLast()) : checked) + "/v1/traces"
        } else {
            url = try tracesEndpoint()
        }
        let proto = Self.variable("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", environment)
            ?? Self.variable("OTEL_EXPORTER_OTLP_PROTOCOL", environment)
        if let proto, proto != "http/protobuf" {
            throw FirebuildError(.invalidArgument, "OTEL_EXPORTER_OTLP_PROTOCOL=\(proto): firebuild exports http/protobuf only; "
                + "unset it or set it to http/protobuf (collectors accept it on port 4318)")
        }
        let headerText = Self.variable("OTEL_EXPORTER_OTLP_TRACES_HEADERS", environment)
            ?? Self.variable("OTEL_EXPORTER_OTLP_HEADERS", environment) ?? ""
        var headers: [(String, String)] = []
        for pair in headerText.split(separator: ",") {
            let kv = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard kv.count == 2, !kv[0].isEmpty, !kv[0].contains(where: { $0 == "\r" || $0 == "\n" || $0 == ":" }) else {
                throw FirebuildError(.invalidArgument, "OTEL_EXPORTER_OTLP_HEADERS: \"\(pair)\" is not key=value; "
                    + "write e.g. api-key=secret,tenant=a")
            }
            let value = kv[1].removingPercentEncoding ?? kv[1]
            guard !value.contains(where: { $0 == "\r" || $0 == "\n" }) else {
                throw FirebuildError(.invalidArgument, "OTEL_EXPORTER_OTLP_HEADERS: the value of \(kv[0]) has a line break")
            }
            headers.append((kv[0], value))
        }
        return OTLPPost.Endpoint(url: url, headers: headers)
    }

    /// Seconds one export request may take: 3 unless the environment says otherwise (the
    /// OTel default of 10 s is too long to hold a CLI's exit when a collector hangs).
    static func exportTimeout(environment: [String: String]) throws -> TimeInterval {
        guard let text = variable("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", environment)
                ?? variable("OTEL_EXPORTER_OTLP_TIMEOUT", environment) else { return 3 }
        guard let ms = Int(text), ms > 0 else {
            throw FirebuildError(.invalidArgument, "OTEL_EXPORTER_OTLP_TIMEOUT=\(text): give milliseconds, e.g. 3000")
        }
        return Double(ms) / 1000
    }

    private static func variable(_ name: String, _ environment: [String: String]) -> String? {
        guard let v = environment[name]?.trimmingCharacters(in: .whitespaces), !v.isEmpty else { return nil }
        return v
    }

    /// The variables read above, from the process environment. Looked up one by one
    /// (`ProcessInfo.environment` builds a dictionary of everything, a cost on every start).
    public static func otelEnvironment() -> [String: String] {
        var out: [String: String] = [:]
        for name in ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
                     "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS",
                     "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"] {
            if let v = getenv(name) { out[name] = String(cString: v) }
        }
        return out
    }

    private static func checkedURL(_ value: String, variable: String) throws -> String {
        guard CollectorURL(value) != nil else {
            throw FirebuildError(.invalidArgument, "\(variable)=\(value) is not an http(s) URL; e.g. http://127.0.0.1:4318")
        }
        return value
    }
}
