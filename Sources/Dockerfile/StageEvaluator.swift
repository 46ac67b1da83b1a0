import FirebuildCore

/// Walks one stage's instructions with the ENV/ARG values in force at each line, expanding words
/// where BuildKit does and building the stage's image config.
struct StageEvaluator {
    let planner: Planner
    let stage: RawStage
    let globals: Environment
    let byName: [String: Int]
    let stageCount: Int
    var config: ImageConfig
    var env: Environment
    var onBuildTriggers: [String]
    var cmdSet = false

    static let defaultShell = ["/bin/sh", "-c"]

    init(planner: Planner, stage: RawStage, start: StageStart, globals: Environment, byName: [String: Int], stageCount: Int) {
        self.planner = planner
        self.stage = stage
        self.globals = globals
        self.byName = byName
        self.stageCount = stageCount
        self.config = start.config
        self.env = start.environment ?? Environment(envList: start.config.env ?? [])
        self.onBuildTriggers = start.onBuild
    }

    func fail(_ message: String, _ line: Int) -> FirebuildError { planner.fail(message, line) }

    func expand(_ word: String, line: Int) throws -> String { try planner.expand(word, env, line: line) }

    mutating func run() throws -> [EvaluatedInstruction] {
        var steps: [EvaluatedInstruction] = []
        // The base image's ONBUILD triggers run first, as if written right after FROM.
        for trigger in onBuildTriggers {
            let parsed: ParsedDockerfile
            do { parsed = try Dockerfile.parse(text: trigger, fileName: "\(planner.parsed.fileName) (ONBUILD)") } catch {
                throw fail("invalid ONBUILD trigger \(GoQuote.quote(trigger)) in base image: \(error)", stage.fromNode.startLine)
            }
            for var node in parsed.instructions {
                node.startLine = stage.fromNode.startLine
                node.endLine = stage.fromNode.endLine
                let ins = try parsed.typed(node)
                if case .onbuild = ins { throw fail("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed", node.startLine) }
                if case .from = ins { throw fail("FROM isn't allowed as an ONBUILD trigger", node.startLine) }
                steps.append(try step(node, ins, isOnBuild: true))
            }
        }
        for (node, ins) in stage.commands { steps.append(try step(node, ins, isOnBuild: false)) }
        return steps
    }

    var shell: [String] { config.shell ?? Self.defaultShell }

    mutating func step(_ node: Node, _ ins: Instruction, isOnBuild: Bool) throws -> EvaluatedInstruction {
        let line = node.startLine
        var stepEnv = env
        let before = (shell: shell, user: config.user ?? "", wd: config.workingDir.flatMap { $0.isEmpty ? nil : $0 } ?? "/")
        var sources: [Int] = []
        var out = ins
        switch ins {
        case .env(let kvs):
            let expanded = try kvs.map { KeyValue(key: try expand($0.key, line: line), value: try expand($0.value, line: line),
                                                   legacyFormat: $0.legacyFormat) }
            for kv in expanded {
                env.set(kv.key, kv.value)
                config.setEnv(kv.key, kv.value)
            }
            out = .env(expanded)
        case .label(let kvs):
            let expanded = try kvs.map { KeyValue(key: try expand($0.key, line: line), value: try expand($0.value, line: line),
                                                   legacyFormat: $0.legacyFormat) }
            var labels = config.labels ?? [:]
            for kv in expanded { labels[kv.key] = kv.value }
            config.labels = labels
            out = .label(expanded)
        case .arg(let decls):
            var resolved: [ArgDeclaration] = []
            for d in decls {
                var value: String?
                if let v = planner.buildArgs[d.name] {
                    value = v
                } else if let def = d.defaultValue {
                    value = try expand(def, line: line)
                } else if let g = globals[d.name] {
                    value = g
                }
                if let value { env.set(d.name, value) }
                resolved.append(ArgDeclaration(name: d.name, defaultValue: value))
            }
            out = .arg(resolved)
        case .copy(var c):
            if let from = c.from {
                let check = try planner.expand(from, Environment(), line: line)
                if check != from {
                    throw fail("variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround", line)
                }
                if let i = try planner.resolveStageRef(from, byName: byName, count: stageCount, line: line) { sources = [i] }
            }
            c.sources = try c.sources.map { try expand($0, line: line) }
            c.destination = try expand(c.destination, line: line)
            c.chown = try c.chown.map { try expand($0, line: line) }
            c.chmod = try c.chmod.map { try expand($0, line: line) }
            c.checksum = try c.checksum.map { try expand($0, line: line) }
            for i in c.inlineSources.indices where c.inlineSources[i].expand {
                c.inlineSources[i].data = try expand(c.inlineSources[i].data, line: line)
            }
            out = .copy(c)
        case .run(var r):
            r.mounts = try r.mountSpecs.map { spec in
                do {
                    return try RunMount.parse(spec, expand: { v in
                        do { return try planner.lex.process(v, env: { env[$0] }).word } catch let e as LineError {
                            throw LineError(e.message)
                        }
                    })
                } catch let e as LineError { throw fail(e.message, line) }
            }
            for m in r.mounts {
                if let f = m.from, let i = try planner.resolveStageRef(f, byName: byName, count: stageCount, line: line),
                   !sources.contains(i) { sources.append(i) }
            }
            if stepEnv["PATH"] == nil { stepEnv.set("PATH", defaultPathEnv) }
            out = .run(r)
        case .workdir(let p):
            let v = try expand(p, line: line)
            let wd = v.hasPrefix("/") ? PathUtil.clean(v) : PathUtil.clean("/" + (config.workingDir ?? "") + "/" + v)
            config.workingDir = wd
            out = .workdir(wd)
        case .user(let u):
            let v = try expand(u, line: line)
            config.user = v
            out = .user(v)
        case .volume(let vols):
            let expanded = try vols.map { try expand($0, line: line) }
            var map = config.volumes ?? [:]
            for v in expanded {
                if v.isEmpty { throw fail("VOLUME specified can not be an empty string", line) }
                map[v] = EmptyObject()
            }
            config.volumes = map
            out = .volume(expanded)
        case .stopSignal(let s):
            let v = try expand(s, line: line)
            guard Signals.isValid(v) else { throw fail("Invalid signal: \(v)", line) }
            config.stopSignal = v
            out = .stopSignal(v)
        case .expose(let ports):
            var words: [String] = []
            for p in ports {
                do { words += try planner.lex.process(p, env: { env[$0] }).words } catch let e as LineError { throw fail(e.message, line) }
            }
            var map = config.exposedPorts ?? [:]
            for w in words {
                guard let specs = PortSpec.parse(w) else { throw fail("invalid containerPort: \(w)", line) }
                for s in specs { map[s] = EmptyObject() }
            }
            config.exposedPorts = map
            out = .expose(words)
        case .cmd(let form):
            config.cmd = form.argv(shell: shell)
            cmdSet = true
        case .entrypoint(let form):
            config.entrypoint = form?.argv(shell: shell)
            // Docker: a new ENTRYPOINT drops a CMD inherited from the base (not one set in this stage).
            if !cmdSet { config.cmd = nil }
        case .shell(let s):
            config.shell = s
        case .healthcheck(let hc):
            config.healthcheck = hc
        case .onbuild(let o):
            config.onBuild = (config.onBuild ?? []) + [o.expression]
        case .maintainer, .from:
            break
        }
        return EvaluatedInstruction(instruction: out, node: node, startLine: node.startLine, endLine: node.endLine,
                                    environment: stepEnv, shell: before.shell, user: before.user,
                                    workingDir: before.wd, sourceStages: sources, isOnBuild: isOnBuild)
    }
}

enum PathUtil {
    /// Go's path.Clean for absolute paths.
    static func clean(_ p: String) -> String {
        var parts: [Substring] = []
        for c in p.split(separator: "/", omittingEmptySubsequences: true) {
            if c == "." { continue }
            if c == ".." { if !parts.isEmpty { parts.removeLast() }; continue }
            parts.append(c)
        }
        return "/" + parts.joined(separator: "/")
    }
}

/// EXPOSE specs: `80`, `80/udp`, `8000-8002/tcp` → `80/tcp` keys.
enum PortSpec {
    static func parse(_ s: String) -> [String]? {
        let parts = s.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let proto = parts.count > 1 ? parts[1].lowercased() : "tcp"
        guard ["tcp", "udp", "sctp"].contains(proto) else { return nil }
        let range = parts[0].split(separator: "-", omittingEmptySubsequences: false)
        guard (1...2).contains(range.count), let lo = UInt16(range[0]) else { return nil }
        let hi = range.count == 2 ? UInt16(range[1]) : lo
        guard let hi, hi >= lo else { return nil }
        return (lo...hi).map { "\($0)/\(proto)" }
    }
}

/// Signal names Docker accepts for STOPSIGNAL (with or without SIG), or a number.
enum Signals {
    static let names: Set<String> = [
        "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL", "PIPE", "POLL",
        "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP", "TTIN", "TTOU", "URG", "USR1",
        "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ", "UNUSED",
    ]

    static func isValid(_ s: String) -> Bool {
        if let n = Int(s) { return n > 0 && n < 65 }
        var name = s.uppercased()
        if name.hasPrefix("SIG") { name.removeFirst(3) }
        if name.hasPrefix("RTMIN") || name.hasPrefix("RTMAX") { return true }
        return names.contains(name)
    }
}
