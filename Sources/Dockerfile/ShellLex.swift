import FirebuildCore

/// BuildKit's shell-word expansion for Dockerfiles: quotes, escapes, `$VAR`, `${VAR}`, `${VAR:-w}`,
/// `${VAR:+w}`, `${VAR?w}`, `${VAR:?w}`, `${VAR#p}`, `${VAR##p}`, `${VAR%p}`, `${VAR%%p}`,
/// `${VAR/p/r}`, `${VAR//p/r}`, and word splitting. No command substitution, no arithmetic.
public struct ShellLex: Sendable {
    public var escapeToken: Unicode.Scalar
    /// Keep quote characters in the result (used to detect quoted heredoc delimiters).
    public var rawQuotes = false
    /// Keep escape characters in the result.
    public var rawEscapes = false
    /// Treat quotes as ordinary characters.
    public var skipProcessQuotes = false
    /// Leave references to unset variables as written.
    public var skipUnsetEnv = false

    public init(escapeToken: Unicode.Scalar = "\\") {
        self.escapeToken = escapeToken
    }

    /// The outcome of one expansion: the joined word, the split words and which names were (un)defined.
    public struct Result: Sendable {
        public var word: String
        public var words: [String]
        public var matched: Set<String>
        public var unmatched: Set<String>
    }

    /// Expands `word` into a single string (ProcessWord). Throws FirebuildError(.parse).
    public func processWord(_ word: String, env: (String) -> String?) throws -> String {
        do { return try process(word, env: env).word } catch let e as LineError { throw FirebuildError(.parse, e.message) }
    }

    /// Expands `word` and splits it into words on unquoted white space (ProcessWords).
    public func processWords(_ word: String, env: (String) -> String?) throws -> [String] {
        do { return try process(word, env: env).words } catch let e as LineError { throw FirebuildError(.parse, e.message) }
    }

    /// Expansion with the matched/unmatched variable names; throws LineError (callers add the location).
    func process(_ word: String, env: (String) -> String?) throws -> Result {
        try withoutActuallyEscaping(env) { env in
            var w = ShellWordState(lex: self, input: Array(word.unicodeScalars), env: env)
            do {
                let (s, words) = try w.processStopOn(Unicode.Scalar?.none, rawEscapes: rawEscapes)
                return Result(word: s, words: words, matched: w.matched, unmatched: w.unmatched)
            } catch let e as LineError {
                throw LineError("failed to process \(GoQuote.quote(word)): \(e.message)")
            }
        }
    }
}

/// Accumulates split words the way BuildKit does (quoted text and escapes never split).
private struct WordsBuilder {
    var buf = String.UnicodeScalarView()
    var words: [String] = []
    var inWord = false

    mutating func addChar(_ c: Unicode.Scalar) {
        if goIsSpace(c.value) {
            if inWord && !buf.isEmpty {
                words.append(String(buf))
                buf = String.UnicodeScalarView()
                inWord = false
            }
        } else {
            addRawChar(c)
        }
    }

    mutating func addRawChar(_ c: Unicode.Scalar) { buf.append(c); inWord = true }
    mutating func addString(_ s: String) { for c in s.unicodeScalars { addChar(c) } }
    mutating func addRawString(_ s: String) { buf.append(contentsOf: s.unicodeScalars); inWord = true }

    mutating func finish() -> [String] {
        if !buf.isEmpty { words.append(String(buf)); buf = String.UnicodeScalarView() }
        return words
    }
}

private struct ShellWordState {
    let lex: ShellLex
    let input: [Unicode.Scalar]
    let env: (String) -> String?
    var pos = 0
    var rawEscapes: Bool
    var matched: Set<String> = []
    var unmatched: Set<String> = []

    init(lex: ShellLex, input: [Unicode.Scalar], env: @escaping (String) -> String?) {
        self.lex = lex
        self.input = input
        self.env = env
        self.rawEscapes = lex.rawEscapes
    }

    var peek: Unicode.Scalar? { pos < input.count ? input[pos] : nil }
    mutating func next() -> Unicode.Scalar? {
        guard pos < input.count else { return nil }
        defer { pos += 1 }
        return input[pos]
    }

    mutating func getEnv(_ name: String) -> String? {
        if let v = env(name) { matched.insert(name); return v }
        unmatched.insert(name)
        return nil
    }

    mutating func processStopOn(_ stop: Unicode.Scalar?, rawEscapes raw: Bool) throws -> (String, [String]) {
        let saved = rawEscapes
        rawEscapes = raw
        defer { rawEscapes = saved }
        var result = String.UnicodeScalarView()
        var words = WordsBuilder()
        while let ch = peek {
            if let stop, ch == stop {
                pos += 1
                return (String(result), words.finish())
            }
            if ch == "$" {
                let s = try processDollar()
                result.append(contentsOf: s.unicodeScalars)
                words.addString(s)
            } else if ch == "<" {
                let s = processPossibleHeredoc()
                result.append(contentsOf: s.unicodeScalars)
                words.addRawString(s)
            } else if !lex.skipProcessQuotes && (ch == "'" || ch == "\"") {
                let s = ch == "'" ? try processSingleQuote() : try processDoubleQuote()
                result.append(contentsOf: s.unicodeScalars)
                words.addRawString(s)
            } else {
                pos += 1
                if ch == lex.escapeToken {
                    if rawEscapes { words.addRawChar(ch); result.append(ch) }
                    guard let n = next() else { break }
                    words.addRawChar(n)
                    result.append(n)
                } else {
                    words.addChar(ch)
                    result.append(ch)
                }
            }
        }
        if let stop {
            throw LineError("unexpected end of statement while looking for matching \(stop)")
        }
        return (String(result), words.finish())
    }

    mutating func processSingleQuote() throws -> String {
        var out = String.UnicodeScalarView()
        if let open = next(), lex.rawQuotes { out.append(open) }
        while true {
            guard let ch = next() else {
                throw LineError("unexpected end of statement while looking for matching single-quote")
            }
            if ch == "'" {
                if lex.rawQuotes { out.append(ch) }
                return String(out)
            }
            out.append(ch)
        }
    }

    mutating func processDoubleQuote() throws -> String {
        var out = String.UnicodeScalarView()
        if let open = next(), lex.rawQuotes { out.append(open) }
        while true {
            guard let p = peek else {
                throw LineError("unexpected end of statement while looking for matching double-quote")
            }
            if p == "\"" {
                pos += 1
                if lex.rawQuotes { out.append(p) }
                return String(out)
            }
            if p == "$" {
                out.append(contentsOf: try processDollar().unicodeScalars)
                continue
            }
            pos += 1
            var ch = p
            if ch == lex.escapeToken {
                if rawEscapes { out.append(ch) }
                guard let n = peek else { continue }
                if n == "\"" || n == "$" || n == lex.escapeToken { ch = n; pos += 1 }
            }
            out.append(ch)
        }
    }

    static func isSpecialParam(_ c: Unicode.Scalar) -> Bool {
        "@*#?-$!0".unicodeScalars.contains(c)
    }

    /// Go's unicode.IsDigit (category Nd) and unicode.IsLetter (category L).
    static func isDigit(_ c: Unicode.Scalar) -> Bool {
        if c.isASCII { return c >= "0" && c <= "9" }
        return c.properties.generalCategory == .decimalNumber
    }

    static func isLetter(_ c: Unicode.Scalar) -> Bool {
        if c.isASCII { return (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") }
        switch c.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    mutating func processName() -> String {
        var name = String.UnicodeScalarView()
        while let ch = peek {
            if name.isEmpty && Self.isDigit(ch) {
                while let d = peek, Self.isDigit(d) { name.append(d); pos += 1 }
                return String(name)
            }
            if name.isEmpty && Self.isSpecialParam(ch) {
                pos += 1
                return String(ch)
            }
            if !Self.isLetter(ch) && !Self.isDigit(ch) && ch != "_" { break }
            name.append(ch)
            pos += 1
        }
        return String(name)
    }

    mutating func processPossibleHeredoc() -> String {
        pos += 1
        guard peek == "<" else { return "<" }
        pos += 1
        var s = "<<"
        while let c = peek, c == "\t" || c == "\r" || c == " " { s.unicodeScalars.append(c); pos += 1 }
        return s
    }

    mutating func processDollar() throws -> String {
        pos += 1
        if peek != "{" {
            let name = processName()
            if name.isEmpty { return "$" }
            let v = getEnv(name)
            if v == nil && lex.skipUnsetEnv { return "$" + name }
            return v ?? ""
        }
        pos += 1
        guard let first = peek else { throw LineError("syntax error: missing '}'") }
        if first == "{" || first == "}" || first == ":" { throw LineError("syntax error: bad substitution") }
        let name = processName()
        let op = next()
        var chs = op.map { String($0) } ?? ""
        switch op {
        case "}":
            let v = getEnv(name)
            if v == nil && lex.skipUnsetEnv { return "${\(name)}" }
            return v ?? ""
        case ":", "+", "-", "?", "#", "%":
            var ch = op
            let nullIsUnset = op == ":"
            if nullIsUnset {
                ch = next()
                chs += ch.map { String($0) } ?? ""
            }
            let raw = ch == "#" || ch == "%"
            if nullIsUnset && raw { throw LineError("unsupported modifier (\(chs)) in substitution") }
            let word: String
            do { (word, _) = try processStopOn("}", rawEscapes: raw) } catch {
                if peek == nil { throw LineError("syntax error: missing '}'") }
                throw error
            }
            let value = getEnv(name)
            if lex.skipUnsetEnv && value == nil { return "${\(name)\(chs)\(word)}" }
            switch ch {
            case "-":
                if let value, !(nullIsUnset && value.isEmpty) { return value }
                return word
            case "+":
                if let value, !(nullIsUnset && value.isEmpty) { return word }
                return ""
            case "?":
                guard let value else { throw LineError("\(name): \(word.isEmpty ? "is not allowed to be unset" : word)") }
                if nullIsUnset && value.isEmpty {
                    throw LineError("\(name): \(word.isEmpty ? "is not allowed to be empty" : word)")
                }
                return value
            case "#", "%":
                var pattern = Array(word.unicodeScalars)
                var greedy = false
                if let f = pattern.first, f == ch { greedy = true; pattern.removeFirst() }
                let glob = try ShellPattern(pattern)
                let v = Array((value ?? "").unicodeScalars)
                if ch == "#" {
                    guard let n = glob.prefixMatch(v, longest: greedy) else { return value ?? "" }
                    return String(String.UnicodeScalarView(v[n...]))
                }
                guard let n = glob.suffixMatch(v, longest: greedy) else { return value ?? "" }
                return String(String.UnicodeScalarView(v[..<(v.count - n)]))
            default:
                throw LineError("unsupported modifier (\(chs)) in substitution")
            }
        case "/":
            let all = peek == "/"
            if all { pos += 1 }
            let pattern: String, replacement: String
            do { (pattern, _) = try processStopOn("/", rawEscapes: true) } catch {
                if peek == nil { throw LineError("syntax error: missing '/' in ${}") }
                throw error
            }
            do { (replacement, _) = try processStopOn("}", rawEscapes: true) } catch {
                if peek == nil { throw LineError("syntax error: missing '}'") }
                throw error
            }
            let value = getEnv(name)
            if lex.skipUnsetEnv && value == nil { return "${\(name)/\(pattern)/\(replacement)}" }
            let glob = try ShellPattern(Array(pattern.unicodeScalars))
            return glob.replace(in: value ?? "", with: replacement, all: all)
        default:
            throw LineError("unsupported modifier (\(chs)) in substitution")
        }
    }
}
