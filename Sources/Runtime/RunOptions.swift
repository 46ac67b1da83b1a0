import FirebuildCore
import Foundation

/// Validation and merging of `run`'s inputs, kept apart from the orchestration so each rule is
/// tested on its own.
public enum RunInputs {
    /// `--name` is the VMM id: 1 to 20 of `[a-zA-Z0-9]`, as in the original.
    public static func validateName(_ name: String) throws {
        guard (1...20).contains(name.count), name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
            throw FirebuildError(.invalidArgument, "invalid --name \"\(name)\": use 1 to 20 letters and digits (it becomes the VM id)")
        }
    }

    /// RFC 1123 host names: labels of 1-63 `[a-zA-Z0-9-]`, not starting or ending with `-`.
    public static func validateHostname(_ host: String) throws {
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        let ok = !host.isEmpty && host.count <= 253 && labels.allSatisfy { label in
            (1...63).contains(label.count) && label.first != "-" && label.last != "-"
                && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        }
        guard ok else {
            throw FirebuildError(.invalidArgument, "invalid --hostname \"\(host)\": use letters, digits and '-', in dot-separated labels of up to 63")
        }
    }

    /// A random VM id: 20 characters of `[a-z0-9]`.
    public static func randomID() -> String {
        let chars = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        return String((0..<20).map { _ in chars.randomElement()! })
    }

    /// A readable random host name (`adjective-noun`).
    public static func randomHostname() -> String {
        let adjectives = ["brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "keen", "lucid", "merry",
                          "nimble", "proud", "quiet", "rapid", "sharp", "tidy", "vivid", "witty", "zesty", "bold"]
        let nouns = ["ant", "bee", "cat", "deer", "eagle", "fox", "gull", "hare", "ibis", "jay",
                     "kite", "lynx", "mole", "newt", "owl", "puma", "quail", "raven", "seal", "wren"]
        return "\(adjectives.randomElement()!)-\(nouns.randomElement()!)"
    }

    /// Parses an env file: `KEY=value` lines, `export KEY=value`, `#` comments, blank lines,
    /// single- or double-quoted values (double quotes understand `\n`, `\"`, `\\`).
    /// Errors name the file and line, and never echo the value (it may be a secret).
    public static func parseEnvFile(_ text: String, path: String) throws -> [(String, String)] {
        var out: [(String, String)] = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.hasSuffix("\r") { line.removeLast() }
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") { line = String(line.dropFirst(7)).trimmingCharacters(in: .whitespaces) }
            guard let eq = line.firstIndex(of: "=") else {
                throw FirebuildError(.parse, "expected KEY=value", location: "\(path):\(index + 1)")
            }
            let key = String(line[..<eq]).trimmingCharacters(in: .whitespaces)
            guard isValidEnvName(key) else {
                throw FirebuildError(.parse, "invalid variable name \"\(key)\"", location: "\(path):\(index + 1)")
            }
            var value = String(line[line.index(after: eq)...]).trimmingCharacters(in: .whitespaces)
            if value.hasPrefix("\""), value.count >= 2, value.hasSuffix("\"") {
                value = unescapeDoubleQuoted(String(value.dropFirst().dropLast()))
            } else if value.hasPrefix("'"), value.count >= 2, value.hasSuffix("'") {
                value = String(value.dropFirst().dropLast())
            } else if let hash = value.range(of: " #") {
                value = String(value[..<hash.lowerBound]).trimmingCharacters(in: .whitespaces)
            }
            out.append((key, value))
        }
        return out
    }

    /// Every `--env-file` in order, then `--env`; later values win but keep the first position.
    public static func mergeEnvironment(envFiles: [String], env: [String]) throws -> [String] {
        var merged: [(String, String)] = []
        func set(_ k: String, _ v: String) {
            if let i = merged.firstIndex(where: { $0.0 == k }) { merged[i].1 = v } else { merged.append((k, v)) }
        }
        for file in envFiles {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: file, isDirectory: &isDir), !isDir.boolValue,
                  let data = FileManager.default.contents(atPath: file) else {
                throw FirebuildError(.notFound, "--env-file \(file) is not a readable regular file")
            }
            for (k, v) in try parseEnvFile(String(decoding: data, as: UTF8.self), path: file) { set(k, v) }
        }
        for item in env {
            guard let eq = item.firstIndex(of: "="), isValidEnvName(String(item[..<eq])) else {
                throw FirebuildError(.invalidArgument, "invalid --env \"\(item.prefix(while: { $0 != "=" }))…\": use --env KEY=value")
            }
            set(String(item[..<eq]), String(item[item.index(after: eq)...]))
        }
        return merged.map { "\($0.0)=\($0.1)" }
    }

    static func isValidEnvName(_ s: String) -> Bool {
        guard let first = s.first, first == "_" || (first.isASCII && first.isLetter) else { return false }
        return s.allSatisfy { $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }
    }

    private static func unescapeDoubleQuoted(_ s: String) -> String {
        var out = "", escaping = false
        for c in s {
            if escaping {
                switch c {
                case "n": out.append("\n")
                case "t": out.append("\t")
                default: out.append(c)
                }
                escaping = false
            } else if c == "\\" {
                escaping = true
            } else {
                out.append(c)
            }
        }
        return out
    }
}
