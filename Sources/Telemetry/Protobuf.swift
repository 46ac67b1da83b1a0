/// The protobuf wire format, write side only, for the few OTLP messages we send: varints,
/// fixed64/fixed32, and length-delimited fields (strings, bytes, nested messages). Field
/// numbers live with the messages (`OTLPTraceEncoder`); proto3 rules apply: zero scalars and
/// empty strings are not written, except members of a `oneof` (`always: true`), whose presence
/// is the value (an attribute whose value is `""`, `0` or `false`).
struct ProtobufWriter {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    // Wire types (the low 3 bits of a field key).
    private static let varintType: UInt64 = 0, fixed64Type: UInt64 = 1, lengthType: UInt64 = 2, fixed32Type: UInt64 = 5

    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    private mutating func key(_ field: Int, _ type: UInt64) {
        varint(UInt64(field) << 3 | type)
    }

    /// uint32/uint64/enum/bool fields; int64 goes through its two's complement bit pattern
    /// (10 bytes for negatives), as protobuf's `int64` does.
    mutating func varintField(_ field: Int, _ value: UInt64, always: Bool = false) {
        guard always || value != 0 else { return }
        key(field, Self.varintType)
        varint(value)
    }

    mutating func int64Field(_ field: Int, _ value: Int64, always: Bool = false) {
        varintField(field, UInt64(bitPattern: value), always: always)
    }

    mutating func boolField(_ field: Int, _ value: Bool, always: Bool = false) {
        varintField(field, value ? 1 : 0, always: always)
    }

    /// fixed64 (timestamps in nanoseconds) and double: 8 bytes little-endian.
    mutating func fixed64Field(_ field: Int, _ value: UInt64, always: Bool = false) {
        guard always || value != 0 else { return }
        key(field, Self.fixed64Type)
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func doubleField(_ field: Int, _ value: Double, always: Bool = false) {
        fixed64Field(field, value.bitPattern, always: always)
    }

    mutating func fixed32Field(_ field: Int, _ value: UInt32) {
        guard value != 0 else { return }
        key(field, Self.fixed32Type)
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func bytesField(_ field: Int, _ value: [UInt8]) {
        guard !value.isEmpty else { return }
        key(field, Self.lengthType)
        varint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    mutating func stringField(_ field: Int, _ value: String, always: Bool = false) {
        guard always || !value.isEmpty else { return }
        key(field, Self.lengthType)
        var v = value
        v.withUTF8 { utf8 in
            varint(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    /// A nested message. Written even when empty where `always` says so (an AnyValue holding
    /// an empty string must still be present, or the attribute would have no value at all).
    mutating func messageField(_ field: Int, always: Bool = false, _ build: (inout ProtobufWriter) -> Void) {
        var inner = ProtobufWriter()
        build(&inner)
        guard always || !inner.bytes.isEmpty else { return }
        key(field, Self.lengthType)
        varint(UInt64(inner.bytes.count))
        bytes.append(contentsOf: inner.bytes)
    }
}
