import FirebuildCore

/// Go's `path/filepath.Match` on `/`-separated paths: `*` matches any run of non-`/` characters,
/// `?` one non-`/` character, `[a-z]` / `[^a-z]` classes, `\` escapes. COPY/ADD sources use these
/// semantics (BuildKit resolves wildcards with filepath.Match), not shell or .dockerignore rules.
public enum GoGlob {
    public static func hasMeta(_ s: String) -> Bool { s.contains { "*?[\\".contains($0) } }

    /// True when `name` matches `pattern` as a whole; throws on a malformed pattern (Go's ErrBadPattern).
    public static func match(_ pattern: String, _ name: String) throws -> Bool {
        let p = Array(pattern.unicodeScalars), n = Array(name.unicodeScalars)
        return try matchFrom(p, 0, n, 0)
    }

    static func bad(_ p: [Unicode.Scalar]) -> FirebuildError {
        FirebuildError(.invalidArgument, "syntax error in pattern \"\(String(String.UnicodeScalarView(p)))\"")
    }

    private static func matchFrom(_ p: [Unicode.Scalar], _ pi0: Int, _ n: [Unicode.Scalar], _ ni0: Int) throws -> Bool {
        var pi = pi0, ni = ni0
        while pi < p.count {
            switch p[pi] {
            case "*":
                // Collapse consecutive stars; a star never crosses '/'.
                while pi < p.count && p[pi] == "*" { pi += 1 }
                if pi == p.count { return !n[ni...].contains("/") }
                var k = ni
                while true {
                    if try matchFrom(p, pi, n, k) { return true }
                    if k >= n.count || n[k] == "/" { break }
                    k += 1
                }
                try validate(p, pi)
                return false
            case "?":
                guard ni < n.count, n[ni] != "/" else { try validate(p, pi + 1); return false }
                pi += 1; ni += 1
            case "[":
                let (matched, next) = try matchClass(p, pi, ni < n.count ? n[ni] : nil)
                guard ni < n.count, matched, n[ni] != "/" else { try validate(p, next); return false }
                pi = next; ni += 1
            case "\\":
                pi += 1
                guard pi < p.count else { throw bad(p) }
                guard ni < n.count, n[ni] == p[pi] else { try validate(p, pi + 1); return false }
                pi += 1; ni += 1
            default:
                guard ni < n.count, n[ni] == p[pi] else { try validate(p, pi + 1); return false }
                pi += 1; ni += 1
            }
        }
        return ni == n.count
    }

    /// Parses a `[...]` class at `start`; returns whether `c` is in it and the index after `]`.
    private static func matchClass(_ p: [Unicode.Scalar], _ start: Int, _ c: Unicode.Scalar?) throws -> (Bool, Int) {
        var i = start + 1
        var negated = false
        if i < p.count && p[i] == "^" { negated = true; i += 1 }
        var matched = false
        var first = true
        while true {
            guard i < p.count else { throw bad(p) }
            if p[i] == "]" && !first { i += 1; break }
            first = false
            func char() throws -> Unicode.Scalar {
                guard i < p.count else { throw bad(p) }
                if p[i] == "\\" {
                    i += 1
                    guard i < p.count else { throw bad(p) }
                } else if p[i] == "-" || p[i] == "]" {
                    throw bad(p)
                }
                let ch = p[i]
                i += 1
                return ch
            }
            let lo = try char()
            var hi = lo
            if i < p.count && p[i] == "-" { i += 1; hi = try char() }
            if let c, lo.value <= c.value && c.value <= hi.value { matched = true }
        }
        return (matched != negated, i)
    }

    /// Go reports a malformed pattern even when the name already failed to match: check the rest.
    private static func validate(_ p: [Unicode.Scalar], _ from: Int) throws {
        var i = from
        while i < p.count {
            if p[i] == "\\" {
                i += 2
                if i > p.count { throw bad(p) }
                continue
            }
            if p[i] == "[" { i = try matchClass(p, i, nil).1; continue }
            i += 1
        }
    }
}
