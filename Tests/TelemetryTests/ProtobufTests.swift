import Foundation
import Testing
import Tracing
@testable import Telemetry

/// The hand-written protobuf encoder against bytes worked out from the wire-format spec, and
/// whole OTLP requests decoded back by the test's own decoder (`OTLPWire`).
@Suite struct ProtobufTests {
    @Test(arguments: [
        (UInt64(0), [0x00]), (1, [0x01]), (127, [0x7F]), (128, [0x80, 0x01]), (150, [0x96, 0x01]),
        (300, [0xAC, 0x02]), (16_384, [0x80, 0x80, 0x01]),
        (UInt64.max, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
    ] as [(UInt64, [UInt8])])
    func varints(value: UInt64, expected: [UInt8]) {
        var w = ProtobufWriter()
        w.varint(value)
        #expect(w.bytes == expected)
    }

    @Test func scalarFieldsHaveKeyAndWireType() {
        var w = ProtobufWriter()
        w.varintField(1, 150)                 // key 0x08 (field 1, varint)
        w.stringField(2, "testing")           // key 0x12 (field 2, length-delimited)
        w.fixed64Field(7, 1)                  // key 0x39 (field 7, fixed64), little-endian
        w.fixed32Field(16, 1)                 // key 133 = 0x85 0x01 (field 16, fixed32)
        w.int64Field(3, -1)                   // two's complement: 10 bytes
        w.doubleField(4, 1.0)                 // 0x3FF0000000000000 little-endian
        #expect(w.bytes == [0x08, 0x96, 0x01,
                            0x12, 0x07] + Array("testing".utf8) + [
                            0x39, 1, 0, 0, 0, 0, 0, 0, 0,
                            0x85, 0x01, 1, 0, 0, 0,
                            0x18, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01,
                            0x21, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F])
    }

    @Test func proto3DefaultsAreOmittedUnlessInAOneof() {
        var w = ProtobufWriter()
        w.varintField(1, 0)
        w.stringField(2, "")
        w.fixed64Field(3, 0)
        w.bytesField(4, [])
        w.messageField(5) { _ in }
        #expect(w.bytes.isEmpty)
        w.stringField(1, "", always: true)
        w.boolField(2, false, always: true)
        w.messageField(3, always: true) { _ in }
        #expect(w.bytes == [0x0A, 0x00, 0x10, 0x00, 0x1A, 0x00])
    }

    @Test func nestedMessagesAreLengthPrefixed() {
        var w = ProtobufWriter()
        w.messageField(3) { $0.varintField(1, 150) }   // the spec's "embedded message" example
        #expect(w.bytes == [0x1A, 0x03, 0x08, 0x96, 0x01])
        var long = ProtobufWriter()
        long.stringField(1, String(repeating: "x", count: 200))
        #expect(Array(long.bytes.prefix(3)) == [0x0A, 0xC8, 0x01])   // length 200 is a 2-byte varint
    }

    static func span(_ name: String, ids: SpanIdentity, parent: SpanIdentity? = nil, attributes: SpanAttributes = [:],
                     status: SpanStatus? = nil, events: [FinishedSpan.Event] = []) -> FinishedSpan {
        FinishedSpan(ids: ids, parent: parent, name: name, kind: .internal, startNanos: 1, endNanos: 2,
                     attributes: attributes, events: events, links: [], status: status)
    }

    @Test func oneSpanEncodesToKnownBytes() {
        let ids = SpanIdentity(traceHigh: 1, traceLow: 2, spanID: 3)
        var w = ProtobufWriter()
        OTLPTraceEncoder.encode(Self.span("a", ids: ids, attributes: ["k": "v"]), into: &w)
        let expected: [UInt8] = [0x0A, 0x10, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2,  // trace_id = 1
                                 0x12, 0x08, 0, 0, 0, 0, 0, 0, 0, 3,                          // span_id = 2
                                 0x2A, 0x01, 0x61,                                            // name = 5
                                 0x30, 0x01,                                                  // kind = 6 (INTERNAL)
                                 0x39, 1, 0, 0, 0, 0, 0, 0, 0,                                // start = 7
                                 0x41, 2, 0, 0, 0, 0, 0, 0, 0,                                // end = 8
                                 0x4A, 0x08, 0x0A, 0x01, 0x6B, 0x12, 0x03, 0x0A, 0x01, 0x76,  // attributes = 9
                                 0x85, 0x01, 1, 0, 0, 0]                                      // flags = 16 (sampled)
        #expect(w.bytes == expected)
        #expect(ids.traceHex == "00000000000000010000000000000002")
        #expect(ids.spanHex == "0000000000000003")
    }

    @Test func exportRequestDecodesBackToTheTree() throws {
        let root = SpanIdentity.newRoot()
        let child = root.newChild()
        let spans = [
            Self.span("root", ids: root, attributes: ["firebuild.image": "alpine:3.20", "n": 7, "neg": -3, "ok": true, "empty": ""]),
            Self.span("child", ids: child, parent: root, status: SpanStatus(code: .error, message: "boom"),
                      events: [.init(name: "exception", nanos: 2, attributes: ["exception.message": "boom"])]),
        ]
        let resource = TelemetryBackend.resource(serviceName: "firebuild", environment: [:])
        let body = OTLPTraceEncoder.exportRequest(spans, resource: resource)
        let decoded = OTLPWire.spans(fromExportRequest: body)
        #expect(decoded.count == 2)
        let r = try #require(decoded.first { $0.name == "root" })
        let c = try #require(decoded.first { $0.name == "child" })
        #expect(r.traceID == root.traceHex && r.spanID == root.spanHex && r.parentSpanID.isEmpty)
        #expect(c.traceID == root.traceHex && c.parentSpanID == root.spanHex && c.spanID == child.spanHex)
        #expect(r.attributes == ["firebuild.image": "alpine:3.20", "n": "7", "neg": "-3", "ok": "true", "empty": ""])
        #expect(c.statusCode == 2 && c.statusMessage == "boom" && c.events == ["exception"])
        #expect(r.startNanos == 1 && r.endNanos == 2)
        #expect(Self.resourceAttributes(body)["service.name"] == "firebuild")
        #expect(Self.resourceAttributes(body)["service.version"]?.isEmpty == false)
    }

    /// ExportTraceServiceRequest.1 ResourceSpans → .1 Resource → .1 KeyValue (string values).
    static func resourceAttributes(_ body: [UInt8]) -> [String: String] {
        var out: [String: String] = [:]
        for resourceSpans in OTLPWire.messages(body, 1) {
            for resource in OTLPWire.messages(resourceSpans, 1) {
                for kv in OTLPWire.messages(resource, 1) {
                    let key = OTLPWire.messages(kv, 1).first.map(OTLPWire.string) ?? ""
                    let value = OTLPWire.messages(kv, 2).first.flatMap { OTLPWire.messages($0, 1).first }.map(OTLPWire.string) ?? ""
                    out[key] = value
                }
            }
        }
        return out
    }

    @Test func traceparentRoundTrips() throws {
        let ids = SpanIdentity(traceHigh: 0x4bf92f3577b34da6, traceLow: 0xa3ce929d0e0e4736, spanID: 0x00f067aa0ba902b7)
        #expect(ids.traceparent == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        let parsed = try #require(SpanIdentity.parse(traceparent: ids.traceparent))
        #expect(parsed.traceHex == ids.traceHex && parsed.spanHex == ids.spanHex && parsed.flags == 1)
        for bad in ["", "00-0000000000000000000000000000000-00f067aa0ba902b7-01", "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"] {
            #expect(SpanIdentity.parse(traceparent: bad) == nil, "\(bad)")
        }
    }
}
