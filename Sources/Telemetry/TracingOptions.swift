import FirebuildCore
import Foundation

/// Tracing settings as the command line and profiles give them. Command-line values win; a
/// profile fills in what the command line left unset (`merged(withProfile…)`).
public struct TracingOptions: Sendable, Equatable {
    /// OTLP/HTTP port of a local collector or Jaeger ≥ 1.35 (`COLLECTOR_OTLP_ENABLED=true`).
    public static let defaultCollectorHostPort = "127.0.0.1:4318"

    /// Export spans to the collector.
    public var enabled: Bool
    /// `host:port` (or a full http(s) URL) of the OTLP/HTTP collector; nil means the default.
    public var collectorHostPort: String?
    /// Also log each finished span through swift-log (works without a collector).
    public var logSpans: Bool

    public init(enabled: Bool = false, collectorHostPort: String? = nil, logSpans: Bool = false) {
        self.enabled = enabled
        self.collectorHostPort = collectorHostPort
        self.logSpans = logSpans
    }

    /// Anything to do at all: export or log spans.
    public var isActive: Bool { enabled || logSpans }

    /// Fills unset values from a profile. Flags are switches, so a profile can turn tracing on
    /// but the command line cannot turn a profile's `true` off; that matches the original.
    public func merged(withProfile enabled: Bool?, collectorHostPort: String?, logEnable: Bool?) -> TracingOptions {
        TracingOptions(enabled: self.enabled || (enabled ?? false),
                       collectorHostPort: self.collectorHostPort ?? collectorHostPort,
                       logSpans: self.logSpans || (logEnable ?? false))
    }

    /// The OTLP/HTTP traces URL: `host:port` → `http://host:port/v1/traces`; a URL without a path
    /// gets `/v1/traces`; a URL with a path is used as given.
    public func tracesEndpoint() throws -> String {
        try TracingOptions.endpoint(from: collectorHostPort ?? TracingOptions.defaultCollectorHostPort)
    }

    public static func endpoint(from value: String) throws -> String {
        // Trimmed by hand: Foundation's CharacterSet costs a first-use setup in every process.
        let text = String(value.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
        let flag = "--tracing-collector-host-port"
        if text.lowercased().hasPrefix("http://") || text.lowercased().hasPrefix("https://") {
            guard let url = CollectorURL(text) else {
                throw FirebuildError(.invalidArgument, "\(flag) \"\(value)\" is not a valid URL; use host:port, e.g. 127.0.0.1:4318")
            }
            if let port = url.port { try checkPort(port, value) }
            let path = url.target
            return path.isEmpty || path == "/" ? text.trimmingSuffix("/") + "/v1/traces" : text
        }
        // host:port, where host may be a bracketed IPv6 address.
        guard let colon = text.lastIndex(of: ":") else {
            throw FirebuildError(.invalidArgument, "\(flag) \"\(value)\" has no port; use host:port, e.g. 127.0.0.1:4318")
        }
        let host = String(text[..<colon])
        let portText = String(text[text.index(after: colon)...])
        guard !host.isEmpty, !host.contains("/"), let port = Int(portText) else {
            throw FirebuildError(.invalidArgument, "\(flag) \"\(value)\" is not host:port; e.g. 127.0.0.1:4318")
        }
        if host.contains(":") && !(host.hasPrefix("[") && host.hasSuffix("]")) {
            throw FirebuildError(.invalidArgument, "\(flag) \"\(value)\": write an IPv6 address in brackets, e.g. [::1]:4318")
        }
        try checkPort(port, value)
        return "http://\(host):\(port)/v1/traces"
    }

    private static func checkPort(_ port: Int, _ value: String) throws {
        guard (1...65535).contains(port) else {
            throw FirebuildError(.invalidArgument, "--tracing-collector-host-port \"\(value)\": port \(port) is out of range 1-65535")
        }
        // The original firebuild sent Jaeger's UDP agent protocol to 6831; we speak OTLP/HTTP.
        if port == 6831 || port == 6832 || port == 14268 {
            throw FirebuildError(.invalidArgument, "--tracing-collector-host-port \"\(value)\": port \(port) is a legacy Jaeger port; "
                + "firebuild exports OTLP/HTTP, which Jaeger ≥ 1.35 and the OpenTelemetry Collector accept on port 4318")
        }
    }
}

extension String {
    fileprivate func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}
