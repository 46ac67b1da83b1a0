import Foundation

/// A YAML subset parser, enough for Firecracker's swagger file: block mappings and sequences,
/// plain and quoted scalars (multi-line plain scalars folded), `>`/`|` block scalars, flow
/// sequences of scalars, comments. Output: [String: Any], [Any], String, Int, Double, Bool.
struct MiniYAML {
    struct Line {
        var indent: Int
        var text: String
    }

    private var lines: [Line] = []
    private var i = 0

    static func parse(_ text: String) -> Any {
        var p = MiniYAML()
        for raw in text.components(separatedBy: "\n") {
            let stripped = Self.stripComment(raw)
            if stripped.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            let indent = stripped.prefix(while: { $0 == " " }).count
            p.lines.append(Line(indent: indent, text: String(stripped.dropFirst(indent)).trimmingCharacters(in: .whitespaces)))
        }
        return p.parseBlock(indent: 0)
    }

    /// Drops `# comment` outside quotes (a `#` must start the line or follow a space).
    static func stripComment(_ s: String) -> String {
        var out = ""
        var quote: Character?
        var prev: Character = " "
        for c in s {
            if let q = quote {
                if c == q { quote = nil }
            } else if c == "\"" || c == "'" {
                quote = c
            } else if c == "#" && prev == " " {
                break
            }
            out.append(c)
            prev = c
        }
        return out
    }

    static func splitKey(_ text: String) -> (String, String)? {
        if text.hasPrefix("- ") || text == "-" { return nil }
        var quote: Character?
        var idx = text.startIndex
        while idx < text.endIndex {
            let c = text[idx]
            if let q = quote {
                if c == q { quote = nil }
            } else if c == "\"" || c == "'" {
                quote = c
            } else if c == ":" {
                let next = text.index(after: idx)
                if next == text.endIndex || text[next] == " " {
                    let key = unquote(String(text[..<idx]).trimmingCharacters(in: .whitespaces))
                    if key.contains(" ") && !text.hasPrefix("\"") { return nil }  // prose, not a key
                    return (key, String(text[next...]).trimmingCharacters(in: .whitespaces))
                }
            }
            idx = text.index(after: idx)
        }
        return nil
    }

    static func unquote(_ s: String) -> String {
        if s.count >= 2, (s.hasPrefix("\"") && s.hasSuffix("\"")) || (s.hasPrefix("'") && s.hasSuffix("'")) {
            return String(s.dropFirst().dropLast())
        }
        return s
    }

    static func scalar(_ s: String) -> Any {
        if s.hasPrefix("\"") || s.hasPrefix("'") { return unquote(s) }
        if s.hasPrefix("[") && s.hasSuffix("]") {
            let inner = s.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
            if inner.isEmpty { return [Any]() }
            return inner.split(separator: ",").map { scalar(String($0).trimmingCharacters(in: .whitespaces)) }
        }
        if s == "true" { return true }
        if s == "false" { return false }
        if let n = Int(s) { return n }
        if let d = Double(s), s.contains(".") { return d }
        return s
    }

    mutating func parseBlock(indent: Int) -> Any {
        guard i < lines.count else { return "" }
        let first = lines[i]
        if first.text.hasPrefix("- ") || first.text == "-" { return parseSequence(indent: first.indent) }
        if Self.splitKey(first.text) != nil { return parseMapping(indent: first.indent) }
        // A plain multi-line scalar.
        var parts: [String] = []
        while i < lines.count, lines[i].indent >= indent, lines[i].indent >= first.indent {
            parts.append(lines[i].text)
            i += 1
        }
        return Self.scalar(parts.joined(separator: " "))
    }

    mutating func parseMapping(indent: Int) -> [String: Any] {
        var map: [String: Any] = [:]
        while i < lines.count, lines[i].indent == indent {
            guard let (key, rest) = Self.splitKey(lines[i].text) else { i += 1; continue }
            i += 1
            map[key] = value(after: rest, parentIndent: indent)
        }
        // Skip stray deeper lines (prose that looked like nothing we know).
        return map
    }

    mutating func value(after rest: String, parentIndent: Int) -> Any {
        if rest == ">" || rest == ">-" || rest == "|" || rest == "|-" {
            var parts: [String] = []
            while i < lines.count, lines[i].indent > parentIndent { parts.append(lines[i].text); i += 1 }
            return parts.joined(separator: rest.hasPrefix("|") ? "\n" : " ")
        }
        if !rest.isEmpty {
            // Continuation lines of a plain scalar are indented deeper.
            var parts = [rest]
            if !(rest.hasPrefix("\"") || rest.hasPrefix("[")) {
                while i < lines.count, lines[i].indent > parentIndent, Self.splitKey(lines[i].text) == nil,
                      !lines[i].text.hasPrefix("- ") {
                    parts.append(lines[i].text); i += 1
                }
            }
            return Self.scalar(parts.joined(separator: " "))
        }
        guard i < lines.count else { return "" }
        let next = lines[i]
        if next.indent > parentIndent || (next.indent == parentIndent && next.text.hasPrefix("- ")) {
            return parseBlock(indent: next.indent)
        }
        return ""
    }

    mutating func parseSequence(indent: Int) -> [Any] {
        var items: [Any] = []
        while i < lines.count, lines[i].indent == indent, lines[i].text.hasPrefix("- ") || lines[i].text == "-" {
            let content = String(lines[i].text.dropFirst(2))
            if Self.splitKey(content) != nil {
                // `- key: value` opens a mapping whose keys sit at indent + 2.
                lines[i] = Line(indent: indent + 2, text: content)
                items.append(parseMapping(indent: indent + 2))
            } else {
                i += 1
                items.append(Self.scalar(content))
            }
        }
        return items
    }
}
