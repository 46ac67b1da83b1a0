import Foundation
import Logging
import Tracing

/// W3C trace context ids of one span: a 16-byte trace id and an 8-byte span id, random, never
/// all zero. The hex forms (what Jaeger shows and log lines carry) are formatted once, here,
/// so every log line written inside the span costs a context lookup, not formatting.
final class SpanIdentity: Sendable {
    let traceHigh: UInt64, traceLow: UInt64
    let spanID: UInt64
    /// W3C trace flags; bit 0 = sampled (we record everything we start).
    let flags: UInt8
    let traceHex: String
    let spanHex: String
    /// `trace-id` and `span-id` for log lines (`TelemetryBackend.logMetadataProvider`).
    let logMetadata: Logger.Metadata

    init(traceHigh: UInt64, traceLow: UInt64, spanID: UInt64, flags: UInt8 = 1) {
        self.traceHigh = traceHigh
        self.traceLow = traceLow
        self.spanID = spanID
        self.flags = flags
        traceHex = Self.hex(traceHigh) + Self.hex(traceLow)
        spanHex = Self.hex(spanID)
        logMetadata = ["trace-id": .string(traceHex), "span-id": .string(spanHex)]
    }

    /// A new root: new trace id and span id.
    static func newRoot() -> SpanIdentity {
        var rng = SystemRandomNumberGenerator()
        var high: UInt64 = 0, low: UInt64 = 0
        while high | low == 0 { (high, low) = (rng.next(), rng.next()) }
        return SpanIdentity(traceHigh: high, traceLow: low, spanID: nonZero(&rng))
    }

    /// A child: the parent's trace, a new span id.
    func newChild() -> SpanIdentity {
        var rng = SystemRandomNumberGenerator()
        return SpanIdentity(traceHigh: traceHigh, traceLow: traceLow, spanID: Self.nonZero(&rng), flags: flags)
    }

    private static func nonZero(_ rng: inout SystemRandomNumberGenerator) -> UInt64 {
        var v: UInt64 = 0
        while v == 0 { v = rng.next() }
        return v
    }

    /// Big-endian bytes, as OTLP's `bytes trace_id` / `span_id` fields carry them.
    var traceBytes: [UInt8] { Self.bigEndian(traceHigh) + Self.bigEndian(traceLow) }
    var spanBytes: [UInt8] { Self.bigEndian(spanID) }

    static func bigEndian(_ v: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: v >> (56 - 8 * UInt64($0))) }
    }

    private static let digits = Array("0123456789abcdef".utf8)

    static func hex(_ v: UInt64) -> String {
        String(unsafeUninitializedCapacity: 16) { buffer in
            for i in 0..<16 { buffer[i] = digits[Int((v >> (60 - 4 * UInt64(i))) & 0xF)] }
            return 16
        }
    }

    // MARK: W3C traceparent: "00-<32 hex trace id>-<16 hex span id>-<2 hex flags>"

    var traceparent: String {
        let f = String(flags, radix: 16)
        return "00-\(traceHex)-\(spanHex)-" + (f.count == 1 ? "0" + f : f)
    }

    /// Parses a traceparent header; nil when malformed or all-zero (then a new trace starts).
    static func parse(traceparent value: String) -> SpanIdentity? {
        let parts = value.trimmingCharacters(in: .whitespaces).split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 4, parts[0].count == 2, parts[0] != "ff", parts[1].count == 32, parts[2].count == 16,
              parts[3].count == 2,
              let high = UInt64(parts[1].prefix(16), radix: 16), let low = UInt64(parts[1].suffix(16), radix: 16),
              let span = UInt64(parts[2], radix: 16), let flags = UInt8(parts[3], radix: 16),
              high | low != 0, span != 0
        else { return nil }
        return SpanIdentity(traceHigh: high, traceLow: low, spanID: span, flags: flags)
    }
}

/// What a context carries for our tracer: the ids of the span it belongs to and, for a span
/// of this process, the span itself (so `activeSpan(identifiedBy:)` and child spans find it).
/// A context extracted from a traceparent header has ids only.
struct SpanContextValue: Sendable {
    let ids: SpanIdentity
    let span: RecordingSpan?
}

enum SpanContextKey: InstrumentationContextKey {
    typealias Value = SpanContextValue
}
