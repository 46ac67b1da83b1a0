/// Turns one logical line into a `Node`: keyword, builder flags, then the per-instruction argument
/// rules of BuildKit's line parsers (JSON or shell form, key=value pairs, whitespace lists…).
struct NodeBuilder {
    let escape: Unicode.Scalar

    func node(fromLine line: String, comments: [String]) throws -> Node {
        let trimmed = line.goTrimmed
        let (cmd, restRaw) = Self.splitFirstWord(trimmed)
        var flags: [String] = []
        var rest = ""
        if let restRaw {
            (rest, flags) = extractFlags(restRaw)
            rest = rest.goTrimmed
        }
        var node = Node(value: cmd, flags: flags, original: line, comments: comments)
        switch cmd.lowercased() {
        case "add", "copy", "volume":
            (node.args, node.isJSON) = try maybeJSONToList(rest)
        case "cmd", "entrypoint", "run", "shell":
            (node.args, node.isJSON) = try maybeJSON(rest)
        case "arg":
            node.args = words(rest)
        case "env":
            node.args = try nameVal(rest, key: "ENV")
        case "label":
            node.args = try nameVal(rest, key: "LABEL")
        case "expose", "from":
            node.args = Self.whitespaceList(rest)
        case "healthcheck":
            (node.args, node.isJSON) = try healthConfig(rest)
        case "maintainer", "stopsignal", "user", "workdir":
            node.args = rest.isEmpty ? [] : [rest]
        case "onbuild":
            if !rest.isEmpty { node.children = [try self.node(fromLine: rest, comments: [])] }
        default:
            node.args = [""]  // BuildKit keeps an empty argument node for unknown instructions
        }
        return node
    }

    /// `[\t\v\f\r ]`: the separator class of BuildKit's `reWhitespace` (no newline, ASCII only).
    @inline(__always) static func isSep(_ c: Unicode.Scalar) -> Bool {
        c == " " || c == "\t" || c == "\u{0B}" || c == "\u{0C}" || c == "\r"
    }

    static func splitFirstWord(_ s: String) -> (String, String?) {
        let u = s.unicodeScalars
        guard let i = u.firstIndex(where: isSep) else { return (s, nil) }
        var j = i
        while j < u.endIndex && isSep(u[j]) { j = u.index(after: j) }
        return (String(u[..<i]), String(u[j...]))
    }

    static func whitespaceList(_ s: String) -> [String] {
        if s.isEmpty { return [] }
        var out: [String] = []
        var cur = String.UnicodeScalarView()
        var lastWasSep = false
        for c in s.unicodeScalars {
            if isSep(c) {
                if !lastWasSep { out.append(String(cur)); cur = String.UnicodeScalarView() }
                lastWasSep = true
            } else {
                cur.append(c)
                lastWasSep = false
            }
        }
        out.append(String(cur))
        return out
    }

    /// Leading `--flag[=value]` words (quotes and escapes removed); `--` ends them.
    /// Works on bytes as BuildKit does (flags are ASCII in practice).
    func extractFlags(_ line: String) -> (rest: String, flags: [String]) {
        let b = Array(line.utf8)
        var flags: [String] = []
        var word: [UInt8] = []
        var pos = 0
        enum Phase { case spaces, word, quote }
        var phase = Phase.spaces
        var quote: UInt8 = 0
        var blankOK = false
        let esc = UInt8(truncatingIfNeeded: escape.value)
        func rest(_ p: Int) -> String { String(decoding: b[p...], as: UTF8.self) }
        while pos <= b.count {
            let ch: UInt8 = pos < b.count ? b[pos] : 0
            if phase == .spaces {
                if pos == b.count { break }
                if isASCIISpace(ch) { pos += 1; continue }
                if ch != UInt8(ascii: "-") || pos + 1 == b.count || b[pos + 1] != UInt8(ascii: "-") {
                    return (rest(pos), flags)
                }
                phase = .word
            }
            if pos == b.count {
                let w = String(decoding: word, as: UTF8.self)
                if w != "--" && (blankOK || !w.isEmpty) { flags.append(w) }
                break
            }
            if phase == .word {
                if isASCIISpace(ch) {
                    let w = String(decoding: word, as: UTF8.self)
                    phase = .spaces
                    if w == "--" { return (rest(pos), flags) }
                    if blankOK || !w.isEmpty { flags.append(w) }
                    word.removeAll(keepingCapacity: true)
                    blankOK = false
                    pos += 1
                    continue
                }
                if ch == UInt8(ascii: "'") || ch == UInt8(ascii: "\"") {
                    quote = ch; blankOK = true; phase = .quote; pos += 1
                    continue
                }
                var c = ch
                if ch == esc {
                    if pos + 1 == b.count { pos += 1; continue }
                    pos += 1
                    c = b[pos]
                }
                word.append(c)
                pos += 1
                continue
            }
            // in quote
            if ch == quote { phase = .word; pos += 1; continue }
            var c = ch
            if ch == esc {
                if pos + 1 == b.count { phase = .word; pos += 1; continue }
                pos += 1
                c = b[pos]
            }
            word.append(c)
            pos += 1
        }
        return ("", flags)
    }

    /// BuildKit's parseWords: whitespace-separated words, quotes and escapes kept verbatim.
    func words(_ rest: String) -> [String] {
        let u = Array(rest.unicodeScalars)
        var out: [String] = []
        var cur = String.UnicodeScalarView()
        enum Phase { case spaces, word, quote }
        var phase = Phase.spaces
        var quote: Unicode.Scalar = "\0"
        var blankOK = false
        var pos = 0
        while pos <= u.count {
            if phase == .spaces {
                if pos == u.count { break }
                if goIsSpace(u[pos].value) { pos += 1; continue }
                phase = .word
            }
            if pos == u.count {
                if blankOK || !cur.isEmpty { out.append(String(cur)) }
                break
            }
            var ch = u[pos]
            if phase == .word {
                if goIsSpace(ch.value) {
                    phase = .spaces
                    if blankOK || !cur.isEmpty { out.append(String(cur)) }
                    cur = String.UnicodeScalarView()
                    blankOK = false
                    pos += 1
                    continue
                }
                if ch == "'" || ch == "\"" { quote = ch; blankOK = true; phase = .quote }
                if ch == escape {
                    if pos + 1 == u.count { pos += 1; continue }
                    cur.append(ch)
                    pos += 1
                    ch = u[pos]
                }
                cur.append(ch)
                pos += 1
                continue
            }
            // in quote
            if ch == quote { phase = .word }
            if ch == escape && quote != "'" {
                if pos + 1 == u.count { phase = .word; pos += 1; continue }
                pos += 1
                cur.append(ch)
                ch = u[pos]
            }
            cur.append(ch)
            pos += 1
        }
        return out
    }

    /// ENV/LABEL: `key value` (legacy, one pair) or `k=v k2=v2`; dumped as key, value, separator triples.
    func nameVal(_ rest: String, key: String) throws -> [String] {
        let ws = words(rest)
        guard let first = ws.first else { return [] }
        if !first.contains("=") {
            let (k, v) = Self.splitFirstWord(rest)
            guard let v else { throw LineError("\(key) must have two arguments") }
            return [k, v, ""]
        }
        var out: [String] = []
        for w in ws {
            guard let eq = w.firstIndex(of: "=") else {
                throw LineError("Syntax error - can't find = in \(GoQuote.quote(w)). Must be of the form: name=value")
            }
            out += [String(w[..<eq]), String(w[w.index(after: eq)...]), "="]
        }
        return out
    }

    func maybeJSON(_ rest: String) throws -> ([String], Bool) {
        if rest.isEmpty { return ([], false) }
        switch GoJSON.stringArray(rest) {
        case .strings(let a): return (a, true)
        case .notStrings: throw LineError("when using JSON array syntax, arrays must be comprised of strings only")
        case .invalid: return ([rest], false)
        }
    }

    func maybeJSONToList(_ rest: String) throws -> ([String], Bool) {
        switch GoJSON.stringArray(rest) {
        case .strings(let a): return (a, true)
        case .notStrings: throw LineError("when using JSON array syntax, arrays must be comprised of strings only")
        case .invalid: return (Self.whitespaceList(rest), false)
        }
    }

    /// HEALTHCHECK: the type word, then the command in JSON or shell form.
    func healthConfig(_ rest: String) throws -> ([String], Bool) {
        let b = Array(rest.utf8)
        var sep = 0
        while sep < b.count && !isASCIISpace(b[sep]) { sep += 1 }
        var next = sep
        while next < b.count && isASCIISpace(b[next]) { next += 1 }
        if sep == 0 { return ([], false) }
        let typ = String(decoding: b[..<sep], as: UTF8.self)
        let (cmd, json) = try maybeJSON(String(decoding: b[next...], as: UTF8.self))
        return ([typ] + cmd, json)
    }
}
