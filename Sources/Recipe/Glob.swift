import FirebuildCore
import Foundation

/// Shell-style path globbing for recipes.
///
/// In one path segment: `*` (any run of characters), `?` (one character), `[abc]`, `[a-z]`,
/// `[!a]` / `[^a]` (classes), `\x` (a literal x). A whole segment `**` matches zero or more
/// directories (`src/**/*.c`); a trailing `**` matches everything below. As in shells, names
/// starting with `.` are matched only by a segment that starts with `.` itself, and `**`
/// does not enter hidden or symlinked directories (no loops).
public enum Glob {
    /// The paths matching `pattern`, sorted. A relative pattern is resolved against `base` and
    /// the results are relative too (`src/a.c`); an absolute pattern gives absolute paths.
    public static func expand(_ pattern: String, relativeTo base: String) throws -> [String] {
        guard !pattern.isEmpty else { throw FirebuildError(.invalidArgument, "fs.glob: empty pattern") }
        let absolute = pattern.hasPrefix("/")
        let segments = pattern.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        for segment in segments where !isValid(segment) {
            throw FirebuildError(.invalidArgument, "fs.glob: unterminated [ in pattern \"\(pattern)\"")
        }
        var results = Set<String>()
        walk(display: absolute ? "/" : "", fsDir: absolute ? "/" : base, segments: segments[...], into: &results)
        return results.sorted()
    }

    /// Whether `name` (one path segment) matches `pattern` (one segment, no `/`).
    public static func matches(_ pattern: String, _ name: String) -> Bool {
        let p = Array(pattern.unicodeScalars), n = Array(name.unicodeScalars)
        if n.first == "." && p.first != "." { return false }
        return match(p[...], n[...])
    }

    // MARK: walking

    private static func walk(display: String, fsDir: String, segments: ArraySlice<String>, into results: inout Set<String>) {
        guard let segment = segments.first else { return }
        let rest = segments.dropFirst()
        if segment == "**" {
            walk(display: display, fsDir: fsDir, segments: rest, into: &results)  // zero directories
            for child in children(of: fsDir) where !child.hasPrefix(".") {
                let path = join(fsDir, child), shown = join(display, child)
                if rest.isEmpty { results.insert(shown) }
                if isPlainDirectory(path) { walk(display: shown, fsDir: path, segments: segments, into: &results) }
            }
        } else if !hasMagic(segment) {
            let name = unescape(segment)
            let path = join(fsDir, name), shown = join(display, name)
            if rest.isEmpty {
                if exists(path) { results.insert(shown) }
            } else if isDirectory(path) {
                walk(display: shown, fsDir: path, segments: rest, into: &results)
            }
        } else {
            for child in children(of: fsDir) where matches(segment, child) {
                let path = join(fsDir, child), shown = join(display, child)
                if rest.isEmpty { results.insert(shown) } else if isDirectory(path) {
                    walk(display: shown, fsDir: path, segments: rest, into: &results)
                }
            }
        }
    }

    private static func join(_ dir: String, _ name: String) -> String {
        if dir.isEmpty { return name }
        return dir.hasSuffix("/") ? dir + name : dir + "/" + name
    }

    private static func children(of dir: String) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: dir.isEmpty ? "." : dir)) ?? []
    }

    private static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    private static func isDirectory(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
    }

    /// A directory that is not a symlink (what `**` may descend into).
    private static func isPlainDirectory(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    // MARK: matching one segment

    private static func hasMagic(_ s: String) -> Bool { s.contains { "*?[\\".contains($0) } }

    private static func unescape(_ s: String) -> String {
        var out = "", escaped = false
        for c in s {
            if c == "\\" && !escaped { escaped = true; continue }
            out.append(c)
            escaped = false
        }
        return out
    }

    private static func isValid(_ segment: String) -> Bool {
        let p = Array(segment.unicodeScalars)
        var i = 0
        while i < p.count {
            if p[i] == "\\" { i += 2; continue }
            if p[i] == "[" {
                guard classEnd(p, i) != nil else { return false }
            }
            i += 1
        }
        return true
    }

    /// Index just past the `]` closing the class that starts at `start` (`[`).
    private static func classEnd(_ p: [Unicode.Scalar], _ start: Int) -> Int? {
        var i = start + 1
        if i < p.count && (p[i] == "!" || p[i] == "^") { i += 1 }
        if i < p.count && p[i] == "]" { i += 1 }  // a leading ] is literal
        while i < p.count {
            if p[i] == "]" { return i + 1 }
            i += 1
        }
        return nil
    }

    private static func classMatches(_ p: [Unicode.Scalar], _ start: Int, _ end: Int, _ c: Unicode.Scalar) -> Bool {
        var i = start + 1
        var negate = false
        if p[i] == "!" || p[i] == "^" { negate = true; i += 1 }
        var found = false
        var first = true
        while i < end - 1 {
            if p[i] == "]" && !first { break }
            first = false
            if i + 2 < end - 1 && p[i + 1] == "-" {
                if p[i].value <= c.value && c.value <= p[i + 2].value { found = true }
                i += 3
            } else {
                if p[i] == c { found = true }
                i += 1
            }
        }
        return found != negate
    }

    /// Iterative matcher with single-star backtracking: linear for typical patterns.
    private static func match(_ pattern: ArraySlice<Unicode.Scalar>, _ name: ArraySlice<Unicode.Scalar>) -> Bool {
        let p = Array(pattern), n = Array(name)
        var pi = 0, ni = 0
        var starP = -1, starN = 0
        while ni < n.count {
            if pi < p.count {
                switch p[pi] {
                case "*":
                    starP = pi
                    starN = ni
                    pi += 1
                    continue
                case "?":
                    pi += 1
                    ni += 1
                    continue
                case "[":
                    if let end = classEnd(p, pi), classMatches(p, pi, end, n[ni]) {
                        pi = end
                        ni += 1
                        continue
                    }
                case "\\" where pi + 1 < p.count:
                    if p[pi + 1] == n[ni] {
                        pi += 2
                        ni += 1
                        continue
                    }
                default:
                    if p[pi] == n[ni] {
                        pi += 1
                        ni += 1
                        continue
                    }
                }
            }
            guard starP >= 0 else { return false }
            pi = starP + 1
            starN += 1
            ni = starN
        }
        while pi < p.count && p[pi] == "*" { pi += 1 }
        return pi == p.count
    }
}
