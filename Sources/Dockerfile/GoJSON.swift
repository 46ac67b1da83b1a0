/// The part of Go's encoding/json that BuildKit's exec-form detection relies on: the text must be a
/// syntactically valid JSON document (Go's grammar, nesting limit 10000) that is an array; if any element
/// is not a string, it is an error rather than a fallback to shell form.
enum GoJSON {
    enum ArrayResult: Equatable { case strings([String]), notStrings, invalid }

    static let maxDepth = 10000

    static func stringArray(_ text: String) -> ArrayResult {
        let trimmed = text.goTrimmedLeft
        guard trimmed.hasPrefix("[") else { return .invalid }
        var p = Scanner(bytes: Array(trimmed.utf8))
        return p.topLevel()
    }

    struct Scanner {
        let bytes: [UInt8]
        var i = 0

        mutating func skipWS() {
            while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x09 || bytes[i] == 0x0A || bytes[i] == 0x0D { i += 1 }
        }

        mutating func topLevel() -> ArrayResult {
            skipWS()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "[") else { return .invalid }
            i += 1
            var strings: [String] = []
            var allStrings = true
            skipWS()
            if i < bytes.count, bytes[i] == UInt8(ascii: "]") {
                i += 1
            } else {
                while true {
                    skipWS()
                    guard i < bytes.count else { return .invalid }
                    if bytes[i] == UInt8(ascii: "\"") {
                        guard let s = string() else { return .invalid }
                        strings.append(s)
                    } else {
                        allStrings = false
                        guard value(depth: 1) else { return .invalid }
                    }
                    skipWS()
                    guard i < bytes.count else { return .invalid }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    if bytes[i] == UInt8(ascii: "]") { i += 1; break }
                    return .invalid
                }
            }
            skipWS()
            guard i == bytes.count else { return .invalid }
            return allStrings ? .strings(strings) : .notStrings
        }

        /// Validates one value (iteratively for containers, so deep nesting cannot overflow the stack).
        mutating func value(depth: Int) -> Bool {
            var stack: [UInt8] = []  // "[" or "{"
            var depth = depth
            while true {
                skipWS()
                guard i < bytes.count else { return false }
                let c = bytes[i]
                var closedScalar = true
                switch c {
                case UInt8(ascii: "["), UInt8(ascii: "{"):
                    depth += 1
                    if depth > GoJSON.maxDepth { return false }
                    stack.append(c)
                    i += 1
                    skipWS()
                    guard i < bytes.count else { return false }
                    if c == UInt8(ascii: "[") && bytes[i] == UInt8(ascii: "]") { i += 1; stack.removeLast(); depth -= 1; break }
                    if c == UInt8(ascii: "{") && bytes[i] == UInt8(ascii: "}") { i += 1; stack.removeLast(); depth -= 1; break }
                    if c == UInt8(ascii: "{") { guard objectKey() else { return false } }
                    closedScalar = false
                case UInt8(ascii: "\""):
                    guard string() != nil else { return false }
                case UInt8(ascii: "t"): guard literal("true") else { return false }
                case UInt8(ascii: "f"): guard literal("false") else { return false }
                case UInt8(ascii: "n"): guard literal("null") else { return false }
                default:
                    guard number() else { return false }
                }
                if !closedScalar { continue }
                // after a complete value: close containers or continue with the next element
                while true {
                    guard let top = stack.last else { return true }
                    skipWS()
                    guard i < bytes.count else { return false }
                    if bytes[i] == UInt8(ascii: ",") {
                        i += 1
                        if top == UInt8(ascii: "{") { skipWS(); guard objectKey() else { return false } }
                        break
                    }
                    let close = top == UInt8(ascii: "[") ? UInt8(ascii: "]") : UInt8(ascii: "}")
                    guard bytes[i] == close else { return false }
                    i += 1
                    stack.removeLast()
                    depth -= 1
                }
            }
        }

        mutating func objectKey() -> Bool {
            skipWS()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\""), string() != nil else { return false }
            skipWS()
            guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { return false }
            i += 1
            return true
        }

        mutating func literal(_ word: String) -> Bool {
            for b in word.utf8 {
                guard i < bytes.count, bytes[i] == b else { return false }
                i += 1
            }
            return true
        }

        mutating func digits() -> Int {
            let s = i
            while i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39 { i += 1 }
            return i - s
        }

        mutating func number() -> Bool {
            if i < bytes.count, bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard i < bytes.count else { return false }
            if bytes[i] == UInt8(ascii: "0") { i += 1 } else if digits() == 0 { return false }
            if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
                i += 1
                if digits() == 0 { return false }
            }
            if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
                i += 1
                if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
                if digits() == 0 { return false }
            }
            return true
        }

        static func hexValue(_ b: UInt8) -> UInt32? {
            switch b {
            case 0x30...0x39: return UInt32(b - 0x30)
            case 0x61...0x66: return UInt32(b - 0x61 + 10)
            case 0x41...0x46: return UInt32(b - 0x41 + 10)
            default: return nil
            }
        }

        mutating func hex4() -> UInt32? {
            guard i + 4 <= bytes.count else { return nil }
            var v: UInt32 = 0
            for k in 0..<4 {
                guard let h = Self.hexValue(bytes[i + k]) else { return nil }
                v = v << 4 | h
            }
            i += 4
            return v
        }

        /// A JSON string starting at `"`; nil when malformed (control characters, bad escapes, unterminated).
        mutating func string() -> String? {
            i += 1
            var out: [UInt8] = []
            while i < bytes.count {
                let b = bytes[i]
                if b == UInt8(ascii: "\"") { i += 1; return String(decoding: out, as: UTF8.self) }
                if b < 0x20 { return nil }
                if b != UInt8(ascii: "\\") { out.append(b); i += 1; continue }
                i += 1
                guard i < bytes.count else { return nil }
                let e = bytes[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    guard var v = hex4() else { return nil }
                    if v >= 0xD800 && v < 0xDC00 {
                        // a high surrogate needs a following \uDC00-\uDFFF, otherwise U+FFFD (Go's rule)
                        let save = i
                        if i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") {
                            i += 2
                            if let lo = hex4(), lo >= 0xDC00 && lo < 0xE000 {
                                v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00)
                            } else { i = save; v = 0xFFFD }
                        } else { v = 0xFFFD }
                    } else if v >= 0xDC00 && v < 0xE000 {
                        v = 0xFFFD
                    }
                    let scalar = Unicode.Scalar(v) ?? "\u{FFFD}"
                    out.append(contentsOf: Array(String(scalar).utf8))
                default:
                    return nil
                }
            }
            return nil
        }
    }
}
