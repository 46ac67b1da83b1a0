/// Recognising heredoc markers (`<<EOF`, `<<-EOF`, `3<<'EOF'`, `<<"EOF"`) the way BuildKit does:
/// the line is split into shell words (quotes and escapes kept, variables untouched) and each word
/// that looks like `N<<-WORD` (WORD without `<`) becomes a heredoc.
enum HeredocScan {
    static func heredocs(inLine line: String) throws -> [Heredoc] {
        var lex = ShellLex(escapeToken: "\\")
        lex.rawQuotes = true
        lex.rawEscapes = true
        lex.skipUnsetEnv = true
        // BuildKit ignores lexing errors here (an unbalanced quote simply yields no heredoc).
        let words = (try? lex.process(line, env: { _ in nil }).words) ?? []
        var docs: [Heredoc] = []
        for w in words {
            if let d = try parse(w) { docs.append(d) }
        }
        return docs
    }

    /// Matches `^(\d*)<<(-?)\s*([^<]*)$` and resolves the delimiter word; nil when `src` is no heredoc.
    static func parse(_ src: String) throws -> Heredoc? {
        let u = Array(src.unicodeScalars)
        var i = 0
        while i < u.count, u[i] >= "0", u[i] <= "9" { i += 1 }
        let fdText = String(String.UnicodeScalarView(u[0..<i]))
        guard i + 1 < u.count, u[i] == "<", u[i + 1] == "<" else { return nil }
        i += 2
        var chomp = false
        if i < u.count, u[i] == "-" { chomp = true; i += 1 }
        while i < u.count, u[i] == " " || u[i] == "\t" || u[i] == "\n" || u[i] == "\r" || u[i] == "\u{0C}" { i += 1 }
        let rest = Array(u[i...])
        if rest.contains("<") || rest.contains("\n") { return nil }
        if rest.isEmpty { return nil }
        let restText = String(String.UnicodeScalarView(rest))
        var lex = ShellLex(escapeToken: "\\")
        lex.skipUnsetEnv = true
        let words = try lex.process(restText, env: { _ in nil }).words
        guard words.count == 1 else { return nil }
        lex.rawQuotes = true
        let raw = try lex.process(restText, env: { _ in nil }).words
        guard raw.count == words.count else {
            throw LineError("internal lexing of heredoc produced inconsistent results: \(restText)")
        }
        func quotes(_ s: String) -> Int { s.unicodeScalars.filter { $0 == "'" || $0 == "\"" }.count }
        // Go's ParseUint: an overflowing fd parses as 0.
        let fd = Int(fdText) ?? 0
        return Heredoc(name: words[0], fileDescriptor: fd, expand: quotes(words[0]) == quotes(raw[0]), chomp: chomp)
    }
}
