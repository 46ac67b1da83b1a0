import Tracing

/// Encodes finished spans as an OTLP `ExportTraceServiceRequest` (protobuf), the body of
/// POST /v1/traces. Field numbers from opentelemetry-proto:
///   collector/trace/v1: ExportTraceServiceRequest { resource_spans = 1 }
///   trace/v1: ResourceSpans { resource = 1; scope_spans = 2 }  ScopeSpans { scope = 1; spans = 2 }
///     Span { trace_id = 1; span_id = 2; parent_span_id = 4; name = 5; kind = 6;
///            start_time_unix_nano = 7 (fixed64); end_time_unix_nano = 8 (fixed64);
///            attributes = 9; events = 11; links = 13; status = 15; flags = 16 (fixed32) }
///     Span.Event { time_unix_nano = 1 (fixed64); name = 2; attributes = 3 }
///     Span.Link { trace_id = 1; span_id = 2; attributes = 4; flags = 6 (fixed32) }
///     Status { message = 2; code = 3 (UNSET 0, OK 1, ERROR 2) }
///   resource/v1: Resource { attributes = 1 }
///   common/v1: InstrumentationScope { name = 1; version = 2 }  KeyValue { key = 1; value = 2 }
///     AnyValue oneof { string = 1; bool = 2; int = 3 (int64); double = 4; array = 5 }
///     ArrayValue { values = 1 }
enum OTLPTraceEncoder {
    struct Resource: Sendable {
        var attributes: [(String, SpanAttribute)]
        var scopeName: String
        var scopeVersion: String
    }

    static func exportRequest(_ spans: [FinishedSpan], resource: Resource) -> [UInt8] {
        var request = ProtobufWriter(capacity: 256 + spans.count * 160)
        request.messageField(1) { resourceSpans in
            resourceSpans.messageField(1) { r in
                for (key, value) in resource.attributes { keyValue(&r, 1, key, value) }
            }
            resourceSpans.messageField(2) { scopeSpans in
                scopeSpans.messageField(1) { scope in
                    scope.stringField(1, resource.scopeName)
                    scope.stringField(2, resource.scopeVersion)
                }
                for span in spans {
                    scopeSpans.messageField(2, always: true) { encode(span, into: &$0) }
                }
            }
        }
        return request.bytes
    }

    static func encode(_ span: FinishedSpan, into w: inout ProtobufWriter) {
        w.bytesField(1, span.ids.traceBytes)
        w.bytesField(2, span.ids.spanBytes)
        if let parent = span.parent { w.bytesField(4, parent.spanBytes) }
        w.stringField(5, span.name)
        w.varintField(6, kind(span.kind))
        w.fixed64Field(7, span.startNanos)
        w.fixed64Field(8, span.endNanos)
        attributes(&w, 9, span.attributes)
        for event in span.events {
            w.messageField(11, always: true) { e in
                e.fixed64Field(1, event.nanos)
                e.stringField(2, event.name)
                attributes(&e, 3, event.attributes)
            }
        }
        for link in span.links {
            w.messageField(13, always: true) { l in
                l.bytesField(1, link.ids.traceBytes)
                l.bytesField(2, link.ids.spanBytes)
                attributes(&l, 4, link.attributes)
                l.fixed32Field(6, UInt32(link.ids.flags))
            }
        }
        if let status = span.status {
            w.messageField(15) { s in
                s.stringField(2, status.message ?? "")
                s.varintField(3, status.code == .ok ? 1 : 2)
            }
        }
        w.fixed32Field(16, UInt32(span.ids.flags))
    }

    static func kind(_ kind: SpanKind) -> UInt64 {
        switch kind {
        case .internal: 1
        case .server: 2
        case .client: 3
        case .producer: 4
        case .consumer: 5
        }
    }

    /// Attributes in key order, so the same span always encodes to the same bytes.
    static func attributes(_ w: inout ProtobufWriter, _ field: Int, _ attributes: SpanAttributes) {
        var pairs: [(String, SpanAttribute)] = []
        pairs.reserveCapacity(attributes.count)
        attributes.forEach { pairs.append(($0, $1)) }
        for (key, value) in pairs.sorted(by: { $0.0 < $1.0 }) { keyValue(&w, field, key, value) }
    }

    static func keyValue(_ w: inout ProtobufWriter, _ field: Int, _ key: String, _ value: SpanAttribute) {
        w.messageField(field, always: true) { kv in
            kv.stringField(1, key)
            kv.messageField(2, always: true) { anyValue(&$0, value) }
        }
    }

    static func anyValue(_ w: inout ProtobufWriter, _ value: SpanAttribute) {
        func array<T>(_ items: [T], _ one: @escaping (inout ProtobufWriter, T) -> Void) {
            w.messageField(5, always: true) { a in
                for item in items { a.messageField(1, always: true) { one(&$0, item) } }
            }
        }
        switch value {
        case .string(let s): w.stringField(1, s, always: true)
        case .bool(let b): w.boolField(2, b, always: true)
        case .int32(let i): w.int64Field(3, Int64(i), always: true)
        case .int64(let i): w.int64Field(3, i, always: true)
        case .double(let d): w.doubleField(4, d, always: true)
        case .stringConvertible(let c): w.stringField(1, c.description, always: true)
        case .stringArray(let a): array(a) { $0.stringField(1, $1, always: true) }
        case .boolArray(let a): array(a) { $0.boolField(2, $1, always: true) }
        case .int32Array(let a): array(a) { $0.int64Field(3, Int64($1), always: true) }
        case .int64Array(let a): array(a) { $0.int64Field(3, $1, always: true) }
        case .doubleArray(let a): array(a) { $0.doubleField(4, $1, always: true) }
        case .stringConvertibleArray(let a): array(a) { $0.stringField(1, $1.description, always: true) }
        default: w.stringField(1, String(describing: value), always: true)
        }
    }
}
