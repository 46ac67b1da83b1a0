import Dockerfile
import FirebuildCore
import Foundation

/// A filesystem-changing step ready to run, with its cache key. Steps that only change the
/// image config (ENV, LABEL, CMD…) need no VM: the plan already folded them into the config.
struct StageStep {
    enum Action {
        case run(argv: [String], env: [String], user: String?, workdir: String)
        case files(CopySpec, SourceTree)
        case mkdirs([String], owner: String?)
    }

    var action: Action
    var key: String
    var line: Int
    var label: String
    /// `RUN --network=`: "none" runs the step in a namespace with loopback only; "default" and
    /// "host" use the build VM's network (the CNI network, or none without one).
    var network = "default"
    /// RUN --mount mounts (RunMounts.swift), set up for this step's process only.
    var mounts: [StepMount] = []
    /// Host files a COPY/ADD writes into the guest (its content disk is packed from these).
    var hostFiles: [String] = []
}

/// Turns a planned stage into steps and keys. COPY sources are resolved (and hashed) here, before
/// any VM boots, so a fully cached stage costs only hashing.
struct StageStepPlanner {
    var context: BuildContext
    var scratch: String
    /// Host trees of `COPY --from` sources (stage results or images), extracted on demand.
    var fromTree: (String, [String]) throws -> (tree: SourceTree, identity: String)
    /// The Dockerfile's name, for error locations.
    var fileName = "Dockerfile"

    func steps(_ stage: PlannedStage, pre: [String], post: [String], startKey: String) throws -> [StageStep] {
        var out: [StageStep] = []
        var parent = startKey
        func add(_ action: StageStep.Action, line: Int, label: String, parts: [String], mounts: [StepMount] = []) {
            let key = StepKey.key(parent: parent, parts: parts)
            out.append(StageStep(action: action, key: key, line: line, label: label, mounts: mounts))
            parent = key
        }
        for cmd in pre {
            add(.run(argv: ["/bin/sh", "-c", cmd], env: ["PATH=" + defaultPathEnv], user: nil, workdir: "/"),
                line: stage.startLine, label: "pre-build: \(cmd)", parts: ["pre", cmd])
        }
        for step in stage.steps {
            let label = step.node.original.split(separator: "\n").first.map(String.init) ?? step.instruction.keyword
            let common = StepKey.common(step)
            switch step.instruction {
            case .run(let r):
                let (mounts, mountParts) = try self.mounts(r, step: step, location: "\(fileName):\(step.startLine)")
                let argv = Self.argv(r, shell: step.shell)
                add(.run(argv: argv, env: step.environment.list, user: step.user.isEmpty ? nil : step.user, workdir: step.workingDir),
                    line: step.startLine, label: label, parts: common + ["run", argv.joined(separator: "\u{0}"), "net=" + r.network] + mountParts,
                    mounts: mounts)
                out[out.count - 1].network = r.network
                out[out.count - 1].hostFiles = mounts.flatMap { m -> [String] in
                    guard case .bind(_, _, _, let ops, _) = m else { return [] }
                    return Self.hostFiles(ops)
                }
            case .copy(let c):
                let (spec, tree, identity) = try copySpec(c, step: step)
                let planner = CopyPlanner(tree: tree, scratchDir: scratch)
                let ops = try planner.plan(spec)
                add(.files(spec, tree), line: step.startLine, label: label,
                    parts: common + ["copy", "\(spec)", identity, try StepKey.contentDigest(ops)])
                out[out.count - 1].hostFiles = Self.hostFiles(ops)
            case .workdir(let wd):
                add(.mkdirs([wd], owner: step.user.isEmpty ? nil : step.user), line: step.startLine, label: label,
                    parts: common + ["workdir", wd])
            case .volume(let vols):
                let paths = vols.map { $0.hasPrefix("/") ? $0 : BuildPath.join(step.workingDir, $0) }
                add(.mkdirs(paths, owner: nil), line: step.startLine, label: label, parts: common + ["volume"] + paths)
            default:
                continue
            }
        }
        for cmd in post {
            add(.run(argv: ["/bin/sh", "-c", cmd], env: ["PATH=" + defaultPathEnv], user: nil, workdir: "/"),
                line: stage.startLine, label: "post-build: \(cmd)", parts: ["post", cmd])
        }
        return out
    }

    static func hostFiles(_ ops: [FileOp]) -> [String] {
        ops.compactMap {
            if case .file(_, .host(let path), _, _) = $0 { return path }
            return nil
        }
    }

    /// RUN's argv: exec form as is; shell form through SHELL, heredocs appended for the shell to
    /// read, a bare `RUN <<EOF` runs the heredoc body as the script (BuildKit's behaviour).
    static func argv(_ r: RunInstruction, shell: [String]) -> [String] {
        switch r.command {
        case .exec(let a):
            return a
        case .shell(let cmd):
            if let h = r.heredocs.first, r.heredocs.count == 1, cmd.trimmingCharacters(in: .whitespaces).hasPrefix("<<") {
                return shell + [h.chomp ? h.chompedContent : h.content]
            }
            var script = cmd
            for h in r.heredocs { script += "\n" + h.content + (h.content.hasSuffix("\n") || h.content.isEmpty ? "" : "\n") + h.name }
            return shell + [script]
        }
    }

    func copySpec(_ c: CopyInstruction, step: EvaluatedInstruction) throws -> (CopySpec, SourceTree, String) {
        var sources: [CopySource] = c.inlineSources.map { .inline(name: $0.path, data: $0.data) }
        var localPaths: [String] = []
        for s in c.sources {
            if c.isAdd, s.hasPrefix("http://") || s.hasPrefix("https://") {
                if s.hasSuffix(".git") || s.contains(".git#") {
                    sources.append(.checkout(hostDirectory: try RemoteSources.gitCheckout(s, scratch: scratch, keepGitDir: c.keepGitDir ?? false)))
                } else {
                    let (path, name) = try RemoteSources.download(s, checksum: c.checksum, scratch: scratch)
                    sources.append(.download(hostPath: path, fileName: name))
                }
            } else if c.isAdd, s.hasPrefix("git@") || s.hasPrefix("git://") || s.hasPrefix("ssh://") {
                sources.append(.checkout(hostDirectory: try RemoteSources.gitCheckout(s, scratch: scratch, keepGitDir: c.keepGitDir ?? false)))
            } else {
                sources.append(.path(s))
                localPaths.append(s)
            }
        }
        let tree: SourceTree
        var identity = ""
        if let from = c.from {
            let t = try fromTree(from, localPaths)
            tree = t.tree
            identity = "from=" + t.identity
        } else {
            tree = try context.tree(for: localPaths, scratch: scratch)
        }
        let spec = CopySpec(isAdd: c.isAdd, sources: sources, destination: c.destination, workingDir: step.workingDir,
                            chown: c.chown, chmod: c.chmod, parents: c.parents, excludes: c.excludes, unpack: c.unpack)
        return (spec, tree, identity)
    }
}
