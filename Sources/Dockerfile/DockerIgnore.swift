import FirebuildCore
import Foundation

/// `.dockerignore` with Docker's semantics (moby/patternmatcher): patterns are cleaned paths relative to
/// the context root (a leading `/` is dropped), `*` and `?` stop at `/`, `**` spans directories, `[...]`
/// classes and `\` escapes work, `!` re-includes, the last matching pattern wins, and a pattern that
/// matches a directory excludes everything below it.
///
/// Docker still reads the Dockerfile and `.dockerignore` when they are excluded (they are needed to
/// build), but COPY/ADD cannot see them: the build reads the Dockerfile on its own, so this matcher
/// reports the plain pattern result for every path.
public struct DockerIgnore: Sendable {
    struct Pattern: Sendable {
        var text: String
        var exclusion: Bool
        var glob: IgnoreGlob
    }

    let patterns: [Pattern]

    /// Patterns as lines of a `.dockerignore` (comments and blank lines allowed).
    public init(patterns lines: [String]) throws {
        var out: [Pattern] = []
        for (i, raw) in lines.enumerated() {
            var line = raw
            if i == 0, line.hasPrefix("\u{FEFF}") { line.removeFirst() }
            if line.hasPrefix("#") { continue }
            line = line.goTrimmed
            if line.isEmpty { continue }
            var exclusion = false
            if line.hasPrefix("!") {
                exclusion = true
                line = String(line.dropFirst()).goTrimmed
            }
            if !line.isEmpty {
                line = Self.cleanPath(line)
                if line.count > 1 && line.hasPrefix("/") { line.removeFirst() }
            }
            if line.isEmpty { continue }
            do { out.append(Pattern(text: line, exclusion: exclusion, glob: try IgnoreGlob(line))) } catch {
                throw FirebuildError(.parse, "invalid .dockerignore pattern \(GoQuote.quote(raw)): \(error)",
                                     location: ".dockerignore:\(i + 1)")
            }
        }
        patterns = out
    }

    /// Reads `.dockerignore` content.
    public init(contents: String) throws {
        try self.init(patterns: contents.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.hasSuffix("\r") ? String($0.dropLast()) : String($0)
        })
    }

    /// Loads `<contextDir>/.dockerignore` (none: nothing excluded).
    public static func load(contextDir: String) throws -> DockerIgnore {
        let path = (contextDir as NSString).appendingPathComponent(".dockerignore")
        guard FileManager.default.fileExists(atPath: path) else { return try DockerIgnore(patterns: []) }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FirebuildError(.io, "cannot read \(path)")
        }
        return try DockerIgnore(contents: String(decoding: data, as: UTF8.self))
    }

    /// True when any `!` pattern exists (excluded directories must then still be walked).
    public var hasExceptions: Bool { patterns.contains { $0.exclusion } }

    /// Whether `relativePath` (relative to the context root, `/`-separated) is excluded: the path or one
    /// of its parent directories matches, and the last deciding pattern is not an exception.
    public func isExcluded(_ relativePath: String, isDirectory: Bool = false) -> Bool {
        let path = Self.cleanPath(relativePath).trimmingPrefix("/")
        if path.isEmpty || path == "." { return false }
        let parts = path.split(separator: "/").map(String.init)
        var matched = false
        for p in patterns {
            if p.exclusion != matched { continue }
            var match = p.glob.matches(path)
            if !match && parts.count > 1 {
                for i in 1..<parts.count where p.glob.matches(parts[0..<i].joined(separator: "/")) {
                    match = true
                    break
                }
            }
            if match { matched = !p.exclusion }
        }
        return matched
    }

    /// Files, symlinks and directories of `contextDir` that are not excluded, as sorted relative paths
    /// (directories included so empty ones are kept).
    public func includedPaths(in contextDir: String) throws -> [(path: String, isDirectory: Bool)] {
        var out: [(String, Bool)] = []
        func walk(_ rel: String) throws {
            let abs = rel.isEmpty ? contextDir : (contextDir as NSString).appendingPathComponent(rel)
            let names: [String]
            do { names = try FileManager.default.contentsOfDirectory(atPath: abs).sorted() } catch {
                throw FirebuildError(.io, "cannot list \(abs): \(error.localizedDescription)")
            }
            for name in names {
                let childRel = rel.isEmpty ? name : rel + "/" + name
                let childAbs = (contextDir as NSString).appendingPathComponent(childRel)
                var st = stat()
                guard lstat(childAbs, &st) == 0 else { throw FirebuildError.posix("lstat", path: childAbs) }
                let isDir = (st.st_mode & S_IFMT) == S_IFDIR
                let excluded = isExcluded(childRel, isDirectory: isDir)
                if !excluded { out.append((childRel, isDir)) }
                if isDir && (!excluded || hasExceptions) { try walk(childRel) }
            }
        }
        try walk("")
        return out.map { (path: $0.0, isDirectory: $0.1) }
    }

    /// Go's filepath.Clean for `/`-separated paths (relative stays relative).
    static func cleanPath(_ p: String) -> String {
        let absolute = p.hasPrefix("/")
        var parts: [Substring] = []
        for c in p.split(separator: "/", omittingEmptySubsequences: true) {
            if c == "." { continue }
            if c == ".." {
                if let last = parts.last, last != ".." { parts.removeLast() } else if !absolute { parts.append(c) }
                continue
            }
            parts.append(c)
        }
        let joined = parts.joined(separator: "/")
        if absolute { return "/" + joined }
        return joined.isEmpty ? "." : joined
    }
}

private extension String {
    func trimmingPrefix(_ p: String) -> String { hasPrefix(p) ? String(dropFirst(p.count)) : self }
}

/// One compiled ignore pattern (the regular expression patternmatcher builds, as a direct matcher).
struct IgnoreGlob: Sendable {
    indirect enum Token: Sendable, Equatable {
        case literal(Character)
        case star            // [^/]*
        case any             // [^/]
        case anyDirs         // (.*/)?   from "**/" or "**" inside
        case everything      // .*       from a trailing "**"
        case charClass(negated: Bool, items: [ClosedRange<Character>])
    }

    let tokens: [Token]

    init(_ pattern: String) throws {
        let c = Array(pattern)
        var out: [Token] = []
        var i = 0
        while i < c.count {
            let ch = c[i]
            i += 1
            switch ch {
            case "*":
                if i < c.count && c[i] == "*" {
                    i += 1
                    if i < c.count && c[i] == "/" { i += 1 }
                    if i == c.count {
                        out.append(.everything)
                    } else {
                        out.append(.anyDirs)
                    }
                } else {
                    out.append(.star)
                }
            case "?": out.append(.any)
            case "\\":
                guard i < c.count else { throw LineError("trailing backslash") }
                out.append(.literal(c[i]))
                i += 1
            case "[":
                var negated = false
                if i < c.count && (c[i] == "^" || c[i] == "!") { negated = true; i += 1 }
                var items: [ClosedRange<Character>] = []
                var first = true
                while i < c.count && (c[i] != "]" || first) {
                    first = false
                    var lo = c[i]
                    if lo == "\\" && i + 1 < c.count { i += 1; lo = c[i] }
                    i += 1
                    if i + 1 < c.count && c[i] == "-" && c[i + 1] != "]" {
                        var hi = c[i + 1]
                        i += 2
                        if hi == "\\" && i < c.count { hi = c[i]; i += 1 }
                        guard lo <= hi else { throw LineError("invalid character range") }
                        items.append(lo...hi)
                    } else {
                        items.append(lo...lo)
                    }
                }
                guard i < c.count else { throw LineError("missing closing ]") }
                i += 1
                out.append(.charClass(negated: negated, items: items))
            default:
                out.append(.literal(ch))
            }
        }
        tokens = out
    }

    func matches(_ path: String) -> Bool {
        let s = Array(path)
        var memo = [Int: Bool]()
        func m(_ t: Int, _ p: Int) -> Bool {
            let key = t &* (s.count + 1) &+ p
            if let v = memo[key] { return v }
            let r: Bool
            if t == tokens.count {
                r = p == s.count
            } else {
                switch tokens[t] {
                case .literal(let ch): r = p < s.count && s[p] == ch && m(t + 1, p + 1)
                case .any: r = p < s.count && s[p] != "/" && m(t + 1, p + 1)
                case .star:
                    var q = p
                    var found = m(t + 1, q)
                    while !found && q < s.count && s[q] != "/" { q += 1; found = m(t + 1, q) }
                    r = found
                case .anyDirs:
                    // empty, or any text ending with "/"
                    var found = m(t + 1, p)
                    var q = p
                    while !found && q < s.count {
                        if s[q] == "/" { found = m(t + 1, q + 1) }
                        q += 1
                    }
                    r = found
                case .everything:
                    r = true
                case .charClass(let negated, let items):
                    if p < s.count {
                        let inClass = items.contains { $0.contains(s[p]) }
                        r = inClass != negated && m(t + 1, p + 1)
                    } else { r = false }
                }
            }
            memo[key] = r
            return r
        }
        return m(0, 0)
    }
}
