import FirebuildCore

/// One lint finding, named after BuildKit's check rules (docs.docker.com/go/dockerfile/rule/…).
public struct LintWarning: Equatable, Sendable, CustomStringConvertible {
    public var rule: String
    public var message: String
    public var line: Int
    public var fileName: String

    public var description: String { "\(fileName):\(line): \(rule) - \(message)" }
}

extension ParsedDockerfile {
    /// BuildKit's build checks that need no base image: LegacyKeyValueFormat, JSONArgsRecommended,
    /// UndefinedVar, UndefinedArgInFrom, WorkdirRelativePath, StageNameCasing, FromAsCasing,
    /// MaintainerDeprecated, ConsistentInstructionCasing, MultipleInstructionsDisallowed,
    /// ReservedStageName, SecretsUsedInArgOrEnv, NoEmptyContinuation. Variables a base image defines
    /// are unknown here, so UndefinedVar only assumes PATH for image bases.
    public func lint(buildArgs: [String: String] = [:]) throws -> [LintWarning] {
        var out: [LintWarning] = []
        func warn(_ rule: String, _ message: String, _ line: Int) {
            out.append(LintWarning(rule: rule, message: message, line: line, fileName: fileName))
        }
        for w in warnings { warn(w.rule, w.message, w.line) }
        let typed = try typedInstructions()
        // ConsistentInstructionCasing: compare against the majority casing.
        let lower = instructions.filter { $0.value == $0.value.lowercased() }.count
        let upper = instructions.filter { $0.value == $0.value.uppercased() }.count
        let majorityUpper = upper >= lower
        var globals: Set<String> = ["BUILDPLATFORM", "BUILDOS", "BUILDOSVERSION", "BUILDARCH", "BUILDVARIANT",
                                    "TARGETPLATFORM", "TARGETOS", "TARGETOSVERSION", "TARGETARCH", "TARGETVARIANT",
                                    "TARGETSTAGE"]
        var seenFrom = false
        var defined: Set<String> = []
        var workdirSet = false
        var counts: [String: Int] = [:]
        let lex = ShellLex(escapeToken: escapeToken.unicodeScalars.first ?? "\\")
        func check(_ word: String, _ line: Int, in set: Set<String>) {
            guard let r = try? lex.process(word, env: { set.contains($0) ? "" : nil }) else { return }
            for name in r.unmatched.sorted() where buildArgs[name] == nil {
                warn("UndefinedVar", "Usage of undefined variable '$\(name)'", line)
            }
        }
        func flushCounts() {
            for (k, n) in counts.sorted(by: { $0.key < $1.key }) where n > 1 {
                warn("MultipleInstructionsDisallowed",
                     "Multiple \(k) instructions should not be used in the same stage because only the last one will be used",
                     instructions.last?.startLine ?? 1)
            }
            counts = [:]
        }
        let secretWord = ["apikey", "auth", "credential", "credentials", "key", "password", "pword", "passwd", "secret", "token"]
        func checkSecret(_ name: String, _ kind: String, _ line: Int) {
            let parts = name.lowercased().split(whereSeparator: { $0 == "_" || $0 == "-" || $0 == "." }).map(String.init)
            if parts.contains(where: { secretWord.contains($0) }) {
                warn("SecretsUsedInArgOrEnv", "Do not use ARG or ENV instructions for sensitive data (\(kind) \(GoQuote.quote(name)))", line)
            }
        }
        for (node, ins) in typed {
            let line = node.startLine
            let isUpper = node.value == node.value.uppercased()
            let isLower = node.value == node.value.lowercased()
            if (majorityUpper && !isUpper) || (!majorityUpper && !isLower) {
                warn("ConsistentInstructionCasing", "Command '\(node.value)' should match the case of the command majority (\(majorityUpper ? "uppercase" : "lowercase"))", line)
            }
            switch ins {
            case .from(let f):
                if seenFrom { flushCounts() }
                seenFrom = true
                workdirSet = false
                check(f.image, line, in: globals)
                if let p = f.platform { check(p, line, in: globals) }
                defined = ["PATH"]
                let args = node.args
                if args.count == 3 {
                    if args[2] != args[2].lowercased() {
                        warn("StageNameCasing", "Stage name '\(args[2])' should be lowercase", line)
                    }
                    let fromUpper = node.value == node.value.uppercased(), fromLower = node.value == node.value.lowercased()
                    if (fromUpper && args[1] != args[1].uppercased()) || (fromLower && args[1] != args[1].lowercased()) {
                        warn("FromAsCasing", "'\(args[1])' and '\(node.value)' keywords' casing do not match", line)
                    }
                    if ["scratch", "context"].contains(args[2].lowercased()) {
                        warn("ReservedStageName", "Stage name should not use the same name as reserved stage \(GoQuote.quote(args[2].lowercased()))", line)
                    }
                }
            case .arg(let decls):
                for d in decls {
                    if let v = d.defaultValue { check(v, line, in: seenFrom ? defined : globals) }
                    checkSecret(d.name, "ARG", line)
                    if seenFrom { defined.insert(d.name) } else { globals.insert(d.name) }
                }
            case .env(let kvs):
                for kv in kvs {
                    if kv.legacyFormat {
                        warn("LegacyKeyValueFormat", "\"\(node.value.uppercased()) key=value\" should be used instead of legacy \"\(node.value.uppercased()) key value\" format", line)
                    }
                    check(kv.value, line, in: defined)
                    checkSecret(kv.key, "ENV", line)
                }
                for kv in kvs { defined.insert(kv.key) }
            case .label(let kvs):
                for kv in kvs {
                    if kv.legacyFormat {
                        warn("LegacyKeyValueFormat", "\"LABEL key=value\" should be used instead of legacy \"LABEL key value\" format", line)
                    }
                    check(kv.key, line, in: defined)
                    check(kv.value, line, in: defined)
                }
            case .cmd(let f), .entrypoint(.some(let f)):
                if case .shell = f {
                    warn("JSONArgsRecommended", "JSON arguments recommended for \(node.value.uppercased()) to prevent unintended behavior related to OS signals", line)
                }
                counts[node.value.uppercased(), default: 0] += 1
            case .entrypoint(.none):
                counts["ENTRYPOINT", default: 0] += 1
            case .healthcheck:
                counts["HEALTHCHECK", default: 0] += 1
            case .workdir(let p):
                check(p, line, in: defined)
                if !p.hasPrefix("/") && !p.hasPrefix("$") && !workdirSet {
                    warn("WorkdirRelativePath", "Relative workdir \(GoQuote.quote(p)) can have unexpected results if the base image changes", line)
                }
                workdirSet = true
            case .maintainer:
                warn("MaintainerDeprecated", "Maintainer instruction is deprecated in favor of using label", line)
            case .copy(let c):
                for s in c.sources + [c.destination] { check(s, line, in: defined) }
            case .user(let u): check(u, line, in: defined)
            case .volume(let v): for x in v { check(x, line, in: defined) }
            case .expose(let ports): for p in ports { check(p, line, in: defined) }
            case .stopSignal(let s): check(s, line, in: defined)
            default: break
            }
        }
        flushCounts()
        return out
    }
}
