import Foundation
import Testing
import FirebuildCore
@testable import Dockerfile

/// Locates BuildKit's golden files: `<package root>/../shared/conformance/buildkit` (CI layout), also
/// trying one level higher (worktrees under /work/wt) and $FIREBUILD_SHARED.
enum ConformanceDir {
    static let url: URL? = {
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        var candidates = [
            packageRoot.appendingPathComponent("../shared/conformance/buildkit"),
            packageRoot.appendingPathComponent("../../shared/conformance/buildkit"),
        ]
        if let env = ProcessInfo.processInfo.environment["FIREBUILD_SHARED"] {
            candidates.insert(URL(fileURLWithPath: env).appendingPathComponent("conformance/buildkit"), at: 0)
        }
        return candidates.first { FileManager.default.fileExists(atPath: $0.appendingPathComponent("parser").path) }?
            .standardizedFileURL
    }()

    static func require() throws -> URL {
        guard let url else {
            Issue.record("BuildKit conformance files not found: expected ../shared/conformance/buildkit beside the package root")
            throw CancellationError()
        }
        return url
    }

    static func read(_ relative: String) throws -> Data {
        try Data(contentsOf: try require().appendingPathComponent(relative))
    }
}

/// The 33 positive cases of moby/buildkit frontend/dockerfile/parser/testfiles.
let positiveCases = [
    "ADD-COPY-with-JSON", "args", "brimstone-consuldock", "brimstone-docker-consul", "continue-at-eof",
    "continueIndent", "cpuguy83-nagios", "docker", "env", "escape-after-comment", "escape-nonewline",
    "escape-with-syntax", "escape", "escapes", "flags", "health", "influxdb",
    "jeztah-invalid-json-json-inside-string-double", "jeztah-invalid-json-json-inside-string",
    "jeztah-invalid-json-single-quotes", "jeztah-invalid-json-unterminated-bracket",
    "jeztah-invalid-json-unterminated-string", "json", "kartar-entrypoint-oddities",
    "lk4d4-the-edge-case-generator", "mail", "multiple-volumes", "mumble", "nginx", "tf2", "trailing-backslash",
    "weechat", "znc",
]

let negativeCases = ["empty_dockerfile", "env_no_value", "only_comments", "shykes-nested-json"]

@Suite struct ParserConformanceTests {
    @Test func conformanceDirectoryIsPresentAndComplete() throws {
        let dir = try ConformanceDir.require().appendingPathComponent("parser/testfiles")
        let listed = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(listed == positiveCases.sorted())
    }

    @Test(arguments: positiveCases)
    func testfile(_ name: String) throws {
        let input = try ConformanceDir.read("parser/testfiles/\(name)/Dockerfile")
        let expected = String(decoding: try ConformanceDir.read("parser/testfiles/\(name)/result"), as: UTF8.self)
        let parsed = try Dockerfile.parse(bytes: [UInt8](input), fileName: name)
        #expect(parsed.dump() + "\n" == expected)
    }

    @Test(arguments: negativeCases)
    func negative(_ name: String) throws {
        let input = try ConformanceDir.read("parser/testfiles-negative/\(name)/Dockerfile")
        let error = #expect(throws: FirebuildError.self) {
            _ = try Dockerfile.parse(bytes: [UInt8](input), fileName: name)
        }
        #expect(error?.code == .parse)
    }

    @Test func lineNumbers() throws {
        let input = try ConformanceDir.read("parser/testfile-line/Dockerfile")
        let parsed = try Dockerfile.parse(bytes: [UInt8](input))
        let ranges = parsed.instructions.map { [$0.startLine, $0.endLine] }
        #expect(ranges == [[5, 5], [11, 12], [17, 31]])
    }
}

@Suite struct ShellConformanceTests {
    static let env: [String: String] = ["PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "NULL": ""]

    struct EnvCase: CustomTestStringConvertible, Sendable {
        var line: Int, platform: String, source: String, expected: String
        var testDescription: String { "line \(line): \(source)" }
    }

    /// Every A and U case of envVarTest (the 2 W cases are Windows-only and skipped).
    static func envCases() -> [EnvCase] {
        guard let data = try? ConformanceDir.read("shell/envVarTest") else { return [] }
        var out: [EnvCase] = []
        for (i, raw) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if raw.hasPrefix("#") { continue }
            let line = String(raw).trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            let parts = line.split(separator: "|", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            guard parts.count == 3 else { continue }
            if parts[0] == "W" { continue }
            out.append(EnvCase(line: i + 1, platform: parts[0], source: parts[1], expected: parts[2]))
        }
        return out
    }

    @Test func envVarTestHasAllCases() throws {
        _ = try ConformanceDir.require()
        #expect(Self.envCases().count == 228)
    }

    @Test(arguments: envCases())
    func envVar(_ c: EnvCase) throws {
        let lex = ShellLex(escapeToken: "\\")
        if c.expected == "error" {
            #expect(throws: (any Error).self) { try lex.processWord(c.source, env: { Self.env[$0] }) }
        } else {
            #expect(try lex.processWord(c.source, env: { Self.env[$0] }) == c.expected)
        }
    }

    struct WordsCase: CustomTestStringConvertible, Sendable {
        var line: Int, env: [String: String], source: String, expected: [String]
        var testDescription: String { "line \(line): \(source)" }
    }

    static func wordsCases() -> [WordsCase] {
        guard let data = try? ConformanceDir.read("shell/wordsTest") else { return [] }
        var env: [String: String] = [:]
        var out: [WordsCase] = []
        for (i, raw) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = String(raw)
            if line.hasPrefix("#") || line.isEmpty { continue }
            if line.hasPrefix("ENV ") {
                let kv = line.dropFirst(3).drop(while: { $0 == " " })
                let parts = kv.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                env[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
                continue
            }
            let parts = line.split(separator: "|", omittingEmptySubsequences: false)
            guard parts.count == 2 else { continue }
            let source = parts[0].trimmingCharacters(in: .whitespaces)
            let expected = String(parts[1].drop(while: { $0 == " " })).split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            out.append(WordsCase(line: i + 1, env: env, source: source, expected: expected))
        }
        return out
    }

    @Test func wordsTestHasAllCases() throws {
        _ = try ConformanceDir.require()
        #expect(Self.wordsCases().count == 24)
    }

    @Test(arguments: wordsCases())
    func words(_ c: WordsCase) {
        let lex = ShellLex(escapeToken: "\\")
        let result = (try? lex.processWords(c.source, env: { c.env[$0] })) ?? ["error"]
        #expect(result == c.expected)
    }
}

