/// The glob patterns of `${v#p}`, `${v%p}` and `${v/p/r}`: `*` (any run), `?` (one character), escapes
/// `\*`, `\?`, `\\` (and `\}`, `\/` which just drop the backslash); everything else is literal. Like the
/// Go regular expressions BuildKit compiles them to, `*` and `?` never match a newline.
struct ShellPattern {
    enum Token: Equatable { case literal(Unicode.Scalar), any, star }
    let tokens: [Token]

    init(_ pattern: [Unicode.Scalar]) throws {
        var out: [Token] = []
        var i = 0
        while i < pattern.count {
            let c = pattern[i]
            i += 1
            switch c {
            case "*": out.append(.star)
            case "?": out.append(.any)
            case "\\":
                if i < pattern.count, pattern[i] == "}" || pattern[i] == "/" { continue }
                guard i < pattern.count, pattern[i] == "*" || pattern[i] == "?" || pattern[i] == "\\" else {
                    let bad = i < pattern.count ? String(pattern[i]) : ""
                    let text = String(String.UnicodeScalarView(pattern))
                    throw LineError("invalid pattern (\(text)) in substitution: invalid escape '\\\(bad)'")
                }
                out.append(.literal(pattern[i]))
                i += 1
            default: out.append(.literal(c))
            }
        }
        tokens = out
    }

    /// For each k, whether text[start..<start+k] matches the whole pattern (an NFA run, O(len·pattern)).
    func matchLengths(_ text: [Unicode.Scalar], from start: Int) -> [Int] {
        let m = tokens.count
        var current = [Bool](repeating: false, count: m + 1)
        var results: [Int] = []
        func close(_ set: inout [Bool]) {
            for j in 0..<m where set[j] && tokens[j] == .star { set[j + 1] = true }
        }
        current[0] = true
        close(&current)
        var k = 0
        while true {
            if current[m] { results.append(k) }
            let p = start + k
            guard p < text.count else { break }
            let c = text[p]
            var next = [Bool](repeating: false, count: m + 1)
            var any = false
            for j in 0..<m where current[j] {
                switch tokens[j] {
                case .literal(let l): if l == c { next[j + 1] = true; any = true }
                case .any: if c != "\n" { next[j + 1] = true; any = true }
                case .star: if c != "\n" { next[j] = true; any = true }
                }
            }
            guard any else { break }
            close(&next)
            current = next
            k += 1
        }
        return results
    }

    /// Length of the shortest (or longest) prefix of `text` matching the pattern.
    func prefixMatch(_ text: [Unicode.Scalar], longest: Bool) -> Int? {
        let l = matchLengths(text, from: 0)
        return longest ? l.last : l.first
    }

    /// Length of the shortest (or longest) suffix of `text` matching the pattern.
    func suffixMatch(_ text: [Unicode.Scalar], longest: Bool) -> Int? {
        let starts = longest ? Array(0...text.count) : Array((0...text.count).reversed())
        for s in starts where matchLengths(text, from: s).last == text.count - s { return text.count - s }
        return nil
    }

    /// Leftmost, longest match at or after `from`.
    func find(_ text: [Unicode.Scalar], from: Int) -> (Int, Int)? {
        var s = from
        while s <= text.count {
            if let n = matchLengths(text, from: s).last { return (s, s + n) }
            s += 1
        }
        return nil
    }

    /// `${v/p/r}` (first match) and `${v//p/r}` (all matches; an empty match right after a match is skipped).
    func replace(in value: String, with replacement: String, all: Bool) -> String {
        let text = Array(value.unicodeScalars)
        var out = String.UnicodeScalarView()
        let repl = replacement.unicodeScalars
        if !all {
            guard let (a, b) = find(text, from: 0) else { return value }
            out.append(contentsOf: text[..<a])
            out.append(contentsOf: repl)
            out.append(contentsOf: text[b...])
            return String(out)
        }
        var searchPos = 0
        var lastEnd = 0
        while searchPos <= text.count, let (a, b) = find(text, from: searchPos) {
            out.append(contentsOf: text[lastEnd..<a])
            if b > lastEnd || a == 0 { out.append(contentsOf: repl) }
            lastEnd = b
            searchPos = searchPos + 1 > b ? searchPos + 1 : b
        }
        out.append(contentsOf: text[lastEnd...])
        return String(out)
    }
}
