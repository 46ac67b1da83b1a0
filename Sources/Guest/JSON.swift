// A small JSON value type with an encoder and a parser, because the guest init links this
// module statically and must not pull in Foundation (JSONEncoder/JSONSerialization).
// Numbers are kept as Int64 or Double; object keys keep their insertion order so encoded
// messages are deterministic (useful in tests and when diffing logs).

public enum JSON: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSON])
    case object([(String, JSON)])

    public static func == (a: JSON, b: JSON) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case let (.double(x), .double(y)): return x == y
        case let (.int(x), .double(y)), let (.double(y), .int(x)): return Double(x) == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    // MARK: accessors (nil when the value has another type)

    public subscript(key: String) -> JSON? {
        if case let .object(pairs) = self { return pairs.last(where: { $0.0 == key })?.1 }
        return nil
    }
    public var string: String? { if case let .string(s) = self { return s }; return nil }
    public var bool: Bool? { if case let .bool(b) = self { return b }; return nil }
    public var int: Int64? {
        switch self {
        case let .int(i): return i
        case let .double(d) where d == d.rounded() && abs(d) < 9.0e18: return Int64(d)
        default: return nil
        }
    }
    public var double: Double? {
        switch self {
        case let .int(i): return Double(i)
        case let .double(d): return d
        default: return nil
        }
    }
    public var array: [JSON]? { if case let .array(a) = self { return a }; return nil }
    public var isNull: Bool { if case .null = self { return true }; return false }
    public var stringArray: [String]? {
        guard let a = array else { return nil }
        var out: [String] = []
        for v in a { guard let s = v.string else { return nil }; out.append(s) }
        return out
    }

    // MARK: encoding

    public func encoded() -> String {
        var out = ""
        encode(into: &out)
        return out
    }

    public var bytes: [UInt8] { Array(encoded().utf8) }

    func encode(into out: inout String) {
        switch self {
        case .null: out += "null"
        case let .bool(b): out += b ? "true" : "false"
        case let .int(i): out += String(i)
        case let .double(d): out += d.isFinite ? String(d) : "null"
        case let .string(s): JSON.encodeString(s, into: &out)
        case let .array(a):
            out += "["
            for (i, v) in a.enumerated() { if i > 0 { out += "," }; v.encode(into: &out) }
            out += "]"
        case let .object(pairs):
            out += "{"
            for (i, (k, v)) in pairs.enumerated() {
                if i > 0 { out += "," }
                JSON.encodeString(k, into: &out); out += ":"; v.encode(into: &out)
            }
            out += "}"
        }
    }

    static func encodeString(_ s: String, into out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        out += "\""
    }

    // MARK: parsing

    public static func parse(_ text: String) throws -> JSON { try parse(Array(text.utf8)) }

    public static func parse(_ bytes: [UInt8]) throws -> JSON {
        var p = JSONParser(bytes: bytes)
        p.skipSpace()
        let v = try p.value(depth: 0)
        p.skipSpace()
        guard p.pos == bytes.count else { throw p.error("trailing characters") }
        return v
    }
}

/// Builds JSON objects in a fixed key order and drops nil optionals, so message encoders stay short.
public struct ObjectBuilder {
    public private(set) var pairs: [(String, JSON)] = []
    public init() {}
    public mutating func set(_ key: String, _ value: JSON?) { if let value { pairs.append((key, value)) } }
    public mutating func set(_ key: String, _ value: String?) { set(key, value.map(JSON.string)) }
    public mutating func set(_ key: String, _ value: Int?) { set(key, value.map { JSON.int(Int64($0)) }) }
    public mutating func set(_ key: String, _ value: Double?) { set(key, value.map(JSON.double)) }
    public mutating func set(_ key: String, _ value: Bool?) { set(key, value.map(JSON.bool)) }
    public mutating func set(_ key: String, _ value: [String]?) { set(key, value.map { JSON.array($0.map(JSON.string)) }) }
    public var json: JSON { .object(pairs) }
}

struct JSONParser {
    let bytes: [UInt8]
    var pos = 0

    func error(_ what: String) -> GuestError {
        GuestError(.protocolError, "invalid JSON at byte \(pos): \(what)")
    }

    mutating func skipSpace() {
        while pos < bytes.count, bytes[pos] == 0x20 || bytes[pos] == 0x0A || bytes[pos] == 0x0D || bytes[pos] == 0x09 {
            pos += 1
        }
    }

    mutating func value(depth: Int) throws -> JSON {
        guard depth < 128 else { throw error("nesting deeper than 128") }
        guard pos < bytes.count else { throw error("unexpected end") }
        switch bytes[pos] {
        case UInt8(ascii: "{"):
            pos += 1
            var pairs: [(String, JSON)] = []
            skipSpace()
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(pairs) }
            while true {
                skipSpace()
                guard pos < bytes.count, bytes[pos] == UInt8(ascii: "\"") else { throw error("expected key") }
                let key = try string()
                skipSpace()
                try expect(":")
                skipSpace()
                pairs.append((key, try value(depth: depth + 1)))
                skipSpace()
                if try endOrComma("}") { return .object(pairs) }
            }
        case UInt8(ascii: "["):
            pos += 1
            var items: [JSON] = []
            skipSpace()
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
            while true {
                skipSpace()
                items.append(try value(depth: depth + 1))
                skipSpace()
                if try endOrComma("]") { return .array(items) }
            }
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        default: return try number()
        }
    }

    mutating func expect(_ c: Unicode.Scalar) throws {
        guard pos < bytes.count, bytes[pos] == UInt8(ascii: c) else { throw error("expected '\(c)'") }
        pos += 1
    }

    mutating func endOrComma(_ close: Unicode.Scalar) throws -> Bool {
        guard pos < bytes.count else { throw error("unexpected end") }
        if bytes[pos] == UInt8(ascii: close) { pos += 1; return true }
        if bytes[pos] == UInt8(ascii: ",") { pos += 1; return false }
        throw error("expected ',' or '\(close)'")
    }

    mutating func literal(_ word: String) throws {
        let w = Array(word.utf8)
        guard pos + w.count <= bytes.count, Array(bytes[pos..<pos + w.count]) == w else { throw error("expected \(word)") }
        pos += w.count
    }

    mutating func number() throws -> JSON {
        let start = pos
        var isFloat = false
        while pos < bytes.count {
            let c = bytes[pos]
            if (c >= 0x30 && c <= 0x39) || c == UInt8(ascii: "-") || c == UInt8(ascii: "+") { pos += 1; continue }
            if c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") { isFloat = true; pos += 1; continue }
            break
        }
        guard pos > start, let text = String(validating: bytes[start..<pos], as: UTF8.self) else { throw error("expected a value") }
        if !isFloat, let i = Int64(text) { return .int(i) }
        guard let d = Double(text) else { throw error("bad number \(text)") }
        return .double(d)
    }

    mutating func hex4() throws -> UInt32 {
        guard pos + 4 <= bytes.count, let s = String(validating: bytes[pos..<pos + 4], as: UTF8.self),
              let v = UInt32(s, radix: 16) else { throw error("bad \\u escape") }
        pos += 4
        return v
    }

    mutating func string() throws -> String {
        pos += 1  // opening quote
        var out = [UInt8]()
        while true {
            guard pos < bytes.count else { throw error("unterminated string") }
            let c = bytes[pos]; pos += 1
            if c == UInt8(ascii: "\"") { break }
            if c != UInt8(ascii: "\\") { out.append(c); continue }
            guard pos < bytes.count else { throw error("unterminated escape") }
            let e = bytes[pos]; pos += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "u"):
                var v = try hex4()
                if v >= 0xD800 && v < 0xDC00 {  // surrogate pair
                    guard pos + 2 <= bytes.count, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") else {
                        throw error("lone surrogate")
                    }
                    pos += 2
                    let lo = try hex4()
                    guard lo >= 0xDC00 && lo < 0xE000 else { throw error("bad surrogate pair") }
                    v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00)
                }
                guard let scalar = Unicode.Scalar(v) else { throw error("bad code point") }
                out.append(contentsOf: Array(String(Character(scalar)).utf8))
            default: throw error("bad escape")
            }
        }
        guard let s = String(validating: out, as: UTF8.self) else { throw error("string is not UTF-8") }
        return s
    }
}
