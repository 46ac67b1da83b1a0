/// Go's `strconv.Quote`, reproduced so the AST dump matches BuildKit's golden files byte for byte.
/// Printable runes (Go's `unicode.IsPrint`: letters, marks, numbers, punctuation, symbols and
/// the ASCII space) stay literal; everything else is escaped the way Go escapes it.
enum GoQuote {
    static func quote(_ s: String) -> String {
        var out = "\""
        out.reserveCapacity(s.utf8.count + 2)
        for scalar in s.unicodeScalars {
            let v = scalar.value
            switch v {
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case 0x07: out += "\\a"
            case 0x08: out += "\\b"
            case 0x0C: out += "\\f"
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0x0B: out += "\\v"
            default:
                if v >= 0x20 && v < 0x7F {
                    out.unicodeScalars.append(scalar)
                } else if v < 0x20 || v == 0x7F {
                    out += "\\x" + hex(v, width: 2)
                } else if isPrint(scalar) {
                    out.unicodeScalars.append(scalar)
                } else if v < 0x10000 {
                    out += "\\u" + hex(v, width: 4)
                } else {
                    out += "\\U" + hex(v, width: 8)
                }
            }
        }
        out += "\""
        return out
    }

    /// Go's `%q` of a `[]string`: `["a" "b"]`.
    static func quoteList(_ list: [String]) -> String {
        "[" + list.map(quote).joined(separator: " ") + "]"
    }

    private static func hex(_ v: UInt32, width: Int) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }

    /// Go's unicode.IsPrint for non-ASCII: categories L, M, N, P, S (spaces other than U+0020 are not printable).
    static func isPrint(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
             .nonspacingMark, .spacingMark, .enclosingMark,
             .decimalNumber, .letterNumber, .otherNumber,
             .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation,
             .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol:
            return true
        default:
            return false
        }
    }
}

/// Go's `unicode.IsSpace`.
@inline(__always)
func goIsSpace(_ v: UInt32) -> Bool {
    switch v {
    case 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
        return true
    default:
        return v >= 0x2000 && v <= 0x200A
    }
}

@inline(__always)
func isASCIISpace(_ b: UInt8) -> Bool {
    b == 0x20 || (b >= 0x09 && b <= 0x0D)
}

extension String {
    /// Go's strings.TrimSpace (Unicode white space at both ends).
    var goTrimmed: String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !goIsSpace($0.value) }) else { return "" }
        let last = scalars.lastIndex(where: { !goIsSpace($0.value) }) ?? first
        return String(scalars[first...last])
    }

    var goTrimmedLeft: String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !goIsSpace($0.value) }) else { return "" }
        return String(scalars[first...])
    }
}
