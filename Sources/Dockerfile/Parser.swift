import FirebuildCore

/// The Dockerfile front end's entry point.
public enum Dockerfile {
    /// Parses Dockerfile text into instructions with BuildKit's exact rules (directives, continuations,
    /// comments inside continuations, heredocs, JSON/shell forms, flags). Throws FirebuildError(.parse)
    /// with `location` "FILE:LINE" and BuildKit's wording.
    public static func parse(text: String, fileName: String = "Dockerfile") throws -> ParsedDockerfile {
        var p = LineParser(bytes: Array(text.utf8), fileName: fileName)
        return try p.run()
    }

    /// Parses raw bytes (invalid UTF-8 is repaired to U+FFFD).
    public static func parse(bytes: [UInt8], fileName: String = "Dockerfile") throws -> ParsedDockerfile {
        var p = LineParser(bytes: bytes, fileName: fileName)
        return try p.run()
    }
}

/// BuildKit's bufio.Scanner cannot hold a line longer than this; it rejects such files.
let maxLineLength = 64 * 1024 - 1

/// Physical-line scanner plus the logical-line assembly of BuildKit's `parser.Parse`.
struct LineParser {
    let bytes: [UInt8]
    let fileName: String
    var pos = 0
    var currentLine = 0
    var escape: UInt8 = UInt8(ascii: "\\")
    var directivesDone = false
    var directives: [Directive] = []
    var warnings: [ParseWarning] = []

    init(bytes: [UInt8], fileName: String) {
        self.bytes = bytes
        self.fileName = fileName
    }

    func error(_ message: String, line: Int) -> FirebuildError {
        FirebuildError(.parse, message, location: "\(fileName):\(max(line, 1))")
    }

    /// Next physical line including its "\n" (nil at end of input).
    mutating func nextLine() throws -> Range<Int>? {
        guard pos < bytes.count else { return nil }
        let start = pos
        var i = pos
        while i < bytes.count && bytes[i] != UInt8(ascii: "\n") { i += 1 }
        let end = i < bytes.count ? i + 1 : i
        if i - start > maxLineLength {
            throw error("dockerfile line greater than max allowed size of \(maxLineLength)", line: currentLine + 1)
        }
        pos = end
        return start..<end
    }

    /// Strips trailing "\r" and "\n" bytes (Go's bytes.TrimRight(src, "\r\n")).
    func trimNewline(_ r: Range<Int>) -> Range<Int> {
        var e = r.upperBound
        while e > r.lowerBound && (bytes[e - 1] == 0x0A || bytes[e - 1] == 0x0D) { e -= 1 }
        return r.lowerBound..<e
    }

    /// Strips leading Unicode white space (decoding UTF-8 only where needed).
    func trimLeadingSpace(_ r: Range<Int>) -> Range<Int> {
        var s = r.lowerBound
        while s < r.upperBound {
            let b = bytes[s]
            if isASCIISpace(b) { s += 1; continue }
            if b == 0xC2, s + 1 < r.upperBound, bytes[s + 1] == 0x85 || bytes[s + 1] == 0xA0 { s += 2; continue }
            if b == 0xE1 || b == 0xE2 || b == 0xE3, s + 2 < r.upperBound {
                let v = (UInt32(b & 0x0F) << 12) | (UInt32(bytes[s + 1] & 0x3F) << 6) | UInt32(bytes[s + 2] & 0x3F)
                if goIsSpace(v) { s += 3; continue }
            }
            break
        }
        return s..<r.upperBound
    }

    func isComment(_ r: Range<Int>) -> Bool {
        let t = trimLeadingSpace(r)
        return !t.isEmpty && bytes[t.lowerBound] == UInt8(ascii: "#")
    }

    func string(_ r: Range<Int>) -> String {
        String(decoding: bytes[r], as: UTF8.self)
    }

    /// Continuation: the line ends with the escape token plus optional blanks, and the token is
    /// not itself escaped (or starts the line). Returns the line without it.
    func trimContinuation(_ r: Range<Int>) -> (Range<Int>, continued: Bool) {
        var e = r.upperBound
        while e > r.lowerBound && (bytes[e - 1] == 0x20 || bytes[e - 1] == 0x09) { e -= 1 }
        guard e > r.lowerBound, bytes[e - 1] == escape else { return (r, false) }
        let tokenAt = e - 1
        if tokenAt == r.lowerBound { return (r.lowerBound..<tokenAt, true) }
        if bytes[tokenAt - 1] == escape { return (r, false) }
        return (r.lowerBound..<tokenAt, true)
    }

    /// Parser directives: `# name = value` lines before anything else.
    mutating func checkDirective(_ r: Range<Int>) throws -> Bool {
        guard !directivesDone else { return false }
        guard !r.isEmpty, bytes[r.lowerBound] == UInt8(ascii: "#") else { directivesDone = true; return false }
        let body = string(trimLeadingSpace(r.lowerBound + 1..<r.upperBound))
        guard let (key, value) = Self.matchDirective(body) else { directivesDone = true; return false }
        let k = key.lowercased()
        guard ["syntax", "escape", "check"].contains(k) else { directivesDone = true; return false }
        if directives.contains(where: { $0.name == k }) {
            throw error("only one \(k) parser directive can be used", line: currentLine)
        }
        directives.append(Directive(name: k, value: value, line: currentLine + 1))
        if k == "escape" {
            guard value == "\\" || value == "`" else {
                throw error("invalid escape token '\(value)' does not match ` or \\", line: currentLine)
            }
            escape = value == "`" ? UInt8(ascii: "`") : UInt8(ascii: "\\")
            return true
        }
        return true
    }

    /// `^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$` with RE2's ASCII `\s`.
    static func matchDirective(_ s: String) -> (String, String)? {
        let u = Array(s.unicodeScalars)
        func isS(_ c: Unicode.Scalar) -> Bool { c == " " || c == "\t" || c == "\n" || c == "\r" || c == "\u{0C}" }
        func isLetter(_ c: Unicode.Scalar) -> Bool { (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") }
        guard let f = u.first, isLetter(f) else { return nil }
        var i = 1
        while i < u.count && (isLetter(u[i]) || (u[i] >= "0" && u[i] <= "9")) { i += 1 }
        let key = String(String.UnicodeScalarView(u[0..<i]))
        while i < u.count && isS(u[i]) { i += 1 }
        guard i < u.count, u[i] == "=" else { return nil }
        i += 1
        while i < u.count && isS(u[i]) { i += 1 }
        var e = u.count
        while e > i && isS(u[e - 1]) { e -= 1 }
        guard e > i, !u[i..<e].contains("\n") else { return nil }
        return (key, String(String.UnicodeScalarView(u[i..<e])))
    }

    mutating func run() throws -> ParsedDockerfile {
        var nodes: [Node] = []
        var comments: [String] = []
        while var raw = try nextLine() {
            if currentLine == 0, raw.count >= 3, bytes[raw.lowerBound] == 0xEF, bytes[raw.lowerBound + 1] == 0xBB,
               bytes[raw.lowerBound + 2] == 0xBF {
                raw = raw.lowerBound + 3..<raw.upperBound
            }
            if isComment(raw) {
                // BuildKit drops the first byte of the raw line (not of the trimmed one).
                let c = string(raw.lowerBound + 1..<raw.upperBound).goTrimmed
                if c.isEmpty { comments = [] } else { comments.append(c) }
            }
            let token = trimLeadingSpace(trimNewline(raw))
            let wasDirective = try checkDirective(token)
            if wasDirective, !comments.isEmpty { comments.removeLast() }
            let content: Range<Int> = isComment(token) ? token.lowerBound..<token.lowerBound : token
            currentLine += 1
            let startLine = currentLine
            var (first, continued) = trimContinuation(content)
            if !continued && first.isEmpty { continue }

            var lineBytes = Array(bytes[first])
            var emptyContinuation = false
            while continued, let next = try nextLine() {
                currentLine += 1
                if isComment(next) { continue }
                let body = trimNewline(next)
                if trimLeadingSpace(body).isEmpty { emptyContinuation = true; continue }
                let (part, more) = trimContinuation(body)
                lineBytes.append(contentsOf: bytes[part])
                continued = more
            }
            let line = String(decoding: lineBytes, as: UTF8.self)
            if emptyContinuation {
                warnings.append(ParseWarning(rule: "NoEmptyContinuation",
                                             message: "Empty continuation line found in: \(line)", line: currentLine))
            }
            var node: Node
            do {
                node = try NodeBuilder(escape: Unicode.Scalar(escape)).node(fromLine: line, comments: comments)
            } catch let e as LineError {
                throw error(e.message, line: startLine)
            }
            if node.canContainHeredoc && line.contains("<<") {
                let docs: [Heredoc]
                do { docs = try HeredocScan.heredocs(inLine: line) } catch let e as LineError {
                    throw error(e.message, line: startLine)
                }
                for var doc in docs {
                    var body: [UInt8] = []
                    var terminated = false
                    while let l = try nextLine() {
                        currentLine += 1
                        var candidate = trimNewline(l)
                        if doc.chomp {
                            while !candidate.isEmpty && bytes[candidate.lowerBound] == 0x09 {
                                candidate = candidate.lowerBound + 1..<candidate.upperBound
                            }
                        }
                        if bytes[candidate].elementsEqual(doc.name.utf8) { terminated = true; break }
                        body.append(contentsOf: bytes[l])
                    }
                    if !terminated { throw error("unterminated heredoc", line: startLine) }
                    doc.content = String(decoding: body, as: UTF8.self)
                    node.heredocs.append(doc)
                }
            }
            node.startLine = startLine
            node.endLine = currentLine
            nodes.append(node)
            comments = []
        }
        if nodes.isEmpty { throw error("file with no instructions", line: currentLine) }
        return ParsedDockerfile(fileName: fileName, instructions: nodes, directives: directives,
                                escapeToken: Character(Unicode.Scalar(escape)), warnings: warnings)
    }
}

/// An error inside one logical line; the parser adds the location.
struct LineError: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

extension Node {
    /// Only RUN, COPY and ADD in shell form (also as ONBUILD triggers) read heredoc bodies.
    var canContainHeredoc: Bool {
        var n = self
        if n.keyword == "onbuild", let c = n.children.first { n = c }
        return ["add", "copy", "run"].contains(n.keyword) && !n.isJSON
    }
}
