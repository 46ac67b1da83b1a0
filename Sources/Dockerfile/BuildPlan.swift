import FirebuildCore

/// What a stage starts from.
public enum StageBase: Equatable, Sendable {
    case scratch
    /// An image reference (variables expanded).
    case image(String)
    /// An earlier stage of the same Dockerfile.
    case stage(index: Int)
}

/// One instruction ready for the build engine: variables expanded, with the environment in force.
public struct EvaluatedInstruction: Equatable, Sendable {
    public var instruction: Instruction
    public var node: Node
    public var startLine: Int
    public var endLine: Int
    /// ENV and ARG values in force for this instruction (what a RUN sees), in order.
    public var environment: Environment
    /// The stage's SHELL, USER and WORKDIR at this instruction.
    public var shell: [String]
    public var user: String
    public var workingDir: String
    /// For COPY/RUN --mount: the stages it reads from (by index).
    public var sourceStages: [Int]
    /// True when the instruction came from the base image's ONBUILD triggers.
    public var isOnBuild: Bool
}

/// A stage in build order.
public struct PlannedStage: Equatable, Sendable {
    public var index: Int
    public var name: String?
    public var base: StageBase
    public var platform: Platform
    public var dependsOn: [Int]
    public var steps: [EvaluatedInstruction]
    /// The image config the stage produces (as far as it is known without running anything).
    public var config: ImageConfig
    /// ENV and ARG values in force at the end of the stage (a child stage starts from them).
    public var finalEnvironment: Environment
    public var startLine: Int
}

/// The stages needed for a target, in build order, each fully evaluated.
public struct BuildPlan: Sendable {
    public var stages: [PlannedStage]
    /// The index of the target stage (the last element of `stages`).
    public var target: Int
    /// Global ARG values after `--build-arg` overrides (what FROM lines saw).
    public var globalArgs: Environment
    public var warnings: [ParseWarning]

    public var targetStage: PlannedStage? { stages.first { $0.index == target } }

    /// Evaluates `parsed` for `target` (nil: the last stage).
    /// - baseConfig: the config of a base image (reference, platform) → nil means unknown/empty.
    public static func make(from parsed: ParsedDockerfile, buildArgs: [String: String] = [:], target: String? = nil,
                            targetPlatform: Platform = .linuxAMD64, buildPlatform: Platform = .linuxAMD64,
                            baseConfig: (String, Platform) throws -> ImageConfig? = { _, _ in nil }) throws -> BuildPlan {
        try withoutActuallyEscaping(baseConfig) { baseConfig in
            var planner = Planner(parsed: parsed, buildArgs: buildArgs, targetPlatform: targetPlatform,
                                  buildPlatform: buildPlatform, baseConfig: baseConfig)
            return try planner.plan(target: target)
        }
    }
}

/// A raw stage after splitting the instruction list at FROM lines.
struct RawStage {
    var index: Int
    var from: FromInstruction
    var fromNode: Node
    var commands: [(Node, Instruction)]
}

struct Planner {
    let parsed: ParsedDockerfile
    let buildArgs: [String: String]
    let targetPlatform: Platform
    let buildPlatform: Platform
    let baseConfig: (String, Platform) throws -> ImageConfig?
    var lex: ShellLex
    var warnings: [ParseWarning] = []

    init(parsed: ParsedDockerfile, buildArgs: [String: String], targetPlatform: Platform, buildPlatform: Platform,
         baseConfig: @escaping (String, Platform) throws -> ImageConfig?) {
        self.parsed = parsed
        self.buildArgs = buildArgs
        self.targetPlatform = targetPlatform
        self.buildPlatform = buildPlatform
        self.baseConfig = baseConfig
        self.lex = ShellLex(escapeToken: parsed.escapeToken.unicodeScalars.first ?? "\\")
    }

    func fail(_ message: String, _ line: Int) -> FirebuildError { parsed.error(message, line: line) }

    /// Splits into meta ARGs and stages (BuildKit's instructions.Parse).
    func split() throws -> (meta: [(Node, [ArgDeclaration])], stages: [RawStage]) {
        var meta: [(Node, [ArgDeclaration])] = []
        var stages: [RawStage] = []
        for node in parsed.instructions {
            let ins = try parsed.typed(node)
            if case .from(let f) = ins {
                stages.append(RawStage(index: stages.count, from: f, fromNode: node, commands: []))
                continue
            }
            if stages.isEmpty {
                if case .arg(let decls) = ins { meta.append((node, decls)); continue }
                throw fail("no build stage in current context", node.startLine)
            }
            stages[stages.count - 1].commands.append((node, ins))
        }
        if stages.isEmpty { throw fail("the Dockerfile has no FROM instruction", parsed.instructions.first?.startLine ?? 1) }
        return (meta, stages)
    }

    func expand(_ word: String, _ env: Environment, line: Int) throws -> String {
        do { return try lex.process(word, env: { env[$0] }).word } catch let e as LineError { throw fail(e.message, line) }
    }

    mutating func plan(target: String?) throws -> BuildPlan {
        let (meta, raw) = try split()
        // Stage names: unique, case-insensitive (names are stored lower-cased).
        var byName: [String: Int] = [:]
        for s in raw {
            guard let n = s.from.name else { continue }
            if byName[n] != nil { throw fail("duplicate stage name \(GoQuote.quote(n))", s.fromNode.startLine) }
            byName[n] = s.index
        }
        let targetIndex: Int
        if let target, !target.isEmpty {
            guard let i = byName[target.lowercased()] else {
                throw FirebuildError(.invalidArgument, "target stage \(GoQuote.quote(target)) could not be found"
                    + (byName.isEmpty ? "" : " (stages: \(byName.keys.sorted().joined(separator: ", ")))"))
            }
            targetIndex = i
        } else {
            targetIndex = raw.count - 1
        }
        let globals = try globalArgs(meta: meta, targetName: raw[targetIndex].from.name)

        // Resolve bases and dependencies for every stage (cheap), then evaluate the reachable ones.
        var bases: [StageBase] = []
        var deps: [[Int]] = []
        var platforms: [Platform] = []
        for s in raw {
            let line = s.fromNode.startLine
            let image = try expand(s.from.image, globals, line: line)
            if image.isEmpty { throw fail("base name (\(s.from.image)) should not be blank", line) }
            var platform = targetPlatform
            if let p = s.from.platform {
                let v = try expand(p, globals, line: line)
                if v.isEmpty { throw fail("empty platform value from expression \(p)", line) }
                guard let parsedPlatform = Platform(parsing: v) else { throw fail("failed to parse platform \(p)", line) }
                platform = parsedPlatform
            }
            platforms.append(platform)
            var d: [Int] = []
            if let i = byName[image.lowercased()], i < s.index {
                bases.append(.stage(index: i))
                d.append(i)
            } else if image.lowercased() == "scratch" {
                bases.append(.scratch)
            } else {
                bases.append(.image(image))
            }
            for (node, ins) in s.commands {
                for ref in stageReferences(ins) {
                    if let i = try resolveStageRef(ref, byName: byName, count: raw.count, line: node.startLine) {
                        if i >= s.index {
                            throw fail("cannot copy from stage \(GoQuote.quote(ref)), it needs to be defined before current stage \(GoQuote.quote(s.from.name ?? "stage-\(s.index)"))", node.startLine)
                        }
                        if !d.contains(i) { d.append(i) }
                    }
                }
            }
            deps.append(d)
        }
        // Reachable from the target; deps always point backwards so index order is a build order.
        var needed = Set<Int>()
        var stack = [targetIndex]
        while let i = stack.popLast() {
            if needed.insert(i).inserted { stack.append(contentsOf: deps[i]) }
        }
        var planned: [Int: PlannedStage] = [:]
        for i in needed.sorted() {
            let s = raw[i]
            var start: StageStart
            switch bases[i] {
            case .stage(let b):
                guard let parent = planned[b] else { throw fail("internal: stage \(b) not planned", s.fromNode.startLine) }
                start = StageStart(config: parent.config, environment: parent.finalEnvironment, onBuild: [])
            case .scratch:
                start = StageStart(config: ImageConfig(env: ["PATH=" + defaultPathEnv]), environment: nil, onBuild: [])
            case .image(let ref):
                let cfg = try baseConfig(ref, platforms[i]) ?? ImageConfig(env: ["PATH=" + defaultPathEnv])
                start = StageStart(config: cfg, environment: nil, onBuild: cfg.onBuild ?? [])
                start.config.onBuild = nil
            }
            var evaluator = StageEvaluator(planner: self, stage: s, start: start, globals: globals,
                                           byName: byName, stageCount: raw.count)
            let steps = try evaluator.run()
            planned[i] = PlannedStage(index: i, name: s.from.name, base: bases[i], platform: platforms[i],
                                      dependsOn: deps[i].sorted(), steps: steps, config: evaluator.config,
                                      finalEnvironment: evaluator.env, startLine: s.fromNode.startLine)
        }
        return BuildPlan(stages: needed.sorted().compactMap { planned[$0] }, target: targetIndex,
                         globalArgs: globals, warnings: parsed.warnings + warnings)
    }

    /// Predefined platform ARGs, then the meta ARGs before the first FROM, with --build-arg overrides.
    func globalArgs(meta: [(Node, [ArgDeclaration])], targetName: String?) throws -> Environment {
        var env = Environment()
        let predefined: [(String, String)] = [
            ("BUILDPLATFORM", buildPlatform.description), ("BUILDOS", buildPlatform.os), ("BUILDOSVERSION", ""),
            ("BUILDARCH", buildPlatform.architecture), ("BUILDVARIANT", buildPlatform.variant),
            ("TARGETPLATFORM", targetPlatform.description), ("TARGETOS", targetPlatform.os), ("TARGETOSVERSION", ""),
            ("TARGETARCH", targetPlatform.architecture), ("TARGETVARIANT", targetPlatform.variant),
            ("TARGETSTAGE", targetName ?? "default"),
        ]
        for (k, v) in predefined { env.set(k, buildArgs[k] ?? v) }
        for (node, decls) in meta {
            for d in decls {
                if let v = buildArgs[d.name] {
                    env.set(d.name, v)
                } else if let def = d.defaultValue {
                    env.set(d.name, try expand(def, env, line: node.startLine))
                }
            }
        }
        return env
    }

    /// `COPY --from` and `RUN --mount=from=` references.
    func stageReferences(_ ins: Instruction) -> [String] {
        switch ins {
        case .copy(let c): return c.from.map { [$0] } ?? []
        case .run(let r): return r.mounts.compactMap(\.from)
        default: return []
        }
    }

    /// A stage index for a reference, or nil when it names an image.
    func resolveStageRef(_ ref: String, byName: [String: Int], count: Int, line: Int) throws -> Int? {
        if let n = Int(ref) {
            guard n >= 0 && n < count else { throw fail("invalid stage index \(n)", line) }
            return n
        }
        return byName[ref.lowercased()]
    }
}

/// Where a stage starts: the base config and (for stage bases) the parent's environment.
struct StageStart {
    var config: ImageConfig
    var environment: Environment?
    var onBuild: [String]
}

