import Dockerfile
import FirebuildCore
import Foundation

/// One `RUN --mount`, resolved on the host before any VM boots (BuildKit's semantics).
enum StepMount: Equatable {
    /// Files of the context (or of `from=`'s tree), staged into the guest's /run tmpfs for this RUN
    /// and bind-mounted at `target`; `ops` is the COPY plan into `staging` (also the cache key input).
    case bind(target: String, staging: String, mountSource: String, ops: [FileOp], readOnly: Bool)
    case tmpfs(target: String, size: Int64?)
    /// A persistent cache directory, one ext4 disk per `id` (see CacheMountStore). `seed`: the host
    /// directory (`from=` stage or image, `source=` in it) a new cache starts with.
    case cache(target: String, id: String, sharing: RunMount.Sharing, readOnly: Bool, mode: UInt32?, uid: UInt32?, gid: UInt32?,
               seed: String? = nil)
    /// A build secret: a file at `target` and/or an environment variable `env`.
    case secret(id: String, target: String?, env: String?, required: Bool, mode: UInt32, uid: UInt32, gid: UInt32)

    var target: String? {
        switch self {
        case .bind(let t, _, _, _, _), .tmpfs(let t, _), .cache(let t, _, _, _, _, _, _, _): return t
        case .secret(_, let t, _, _, _, _, _): return t
        }
    }
}

extension StageStepPlanner {
    /// The guest directory a step's bind sources and secrets are staged in (a tmpfs: never in the image).
    static let stagingRoot = "/run/firebuild-mounts"
    /// The current step's staging (removed after the step; cache mount points live beside it).
    static let stepStaging = stagingRoot + "/step"

    /// Resolves a RUN's mounts and the cache key parts they add: bind mounts add what they
    /// expose (every file's bytes), cache/tmpfs/secret mounts only their declaration, never
    /// their content (BuildKit: a cache mount's content or a secret's value never invalidates).
    func mounts(_ r: RunInstruction, step: EvaluatedInstruction, location: String) throws -> (mounts: [StepMount], keyParts: [String]) {
        var mounts: [StepMount] = []
        var parts: [String] = []
        for (i, m) in r.mounts.enumerated() {
            func target(_ t: String?) throws -> String {
                guard let t, !t.isEmpty else {
                    throw FirebuildError(.invalidArgument, "RUN --mount=type=\(m.type.rawValue) needs a target (target=/path)", location: location)
                }
                return t.hasPrefix("/") ? BuildPath.clean(t) : BuildPath.join(step.workingDir, t)
            }
            switch m.type {
            case .ssh:
                throw FirebuildError(.unsupported, "RUN --mount=type=ssh is not supported: firebuild build VMs have no SSH agent. Fetch private sources on the host (put them in the build context, or use ADD with a git URL), or pass a deploy key with --secret id=ID,src=PATH and RUN --mount=type=secret,id=ID", location: location)
            case .tmpfs:
                let t = try target(m.target)
                mounts.append(.tmpfs(target: t, size: m.sizeLimit))
                parts += ["mount=tmpfs", t, m.sizeLimit.map(String.init) ?? "-"]
            case .cache:
                let t = try target(m.target)
                let id = m.id ?? t
                let sharing = m.sharing ?? .shared
                // BuildKit: `from=` (a stage or image) and `source=` (a directory in it) give a new
                // cache its first contents; an existing cache keeps what it holds.
                var seed: String?
                var seedPart = "-"
                if let from = m.from {
                    let source = m.source ?? "/"
                    let rel = BuildPath.contextRelative(source)
                    let f = try fromTree(from, [source])
                    guard rel.isEmpty || f.tree.entry(rel)?.kind == .directory else {
                        throw FirebuildError(.notFound, "RUN --mount=type=cache,from=\(from): source \"\(source)\" is not a directory in \(f.tree.label)", location: location)
                    }
                    seed = f.tree.hostPath(rel)
                    seedPart = "from=\(f.identity):\(rel)"
                }
                mounts.append(.cache(target: t, id: id, sharing: sharing, readOnly: m.readOnly, mode: m.mode, uid: m.uid, gid: m.gid, seed: seed))
                parts += ["mount=cache", t, id, sharing.rawValue, "\(m.readOnly)", seedPart]
            case .secret:
                let id = m.id ?? m.source ?? m.target.map(BuildPath.basename) ?? ""
                guard !id.isEmpty else { throw FirebuildError(.invalidArgument, "RUN --mount=type=secret needs an id", location: location) }
                // BuildKit: the file goes to /run/secrets/ID unless only `env=` was asked for.
                let t: String? = m.target != nil ? try target(m.target) : (m.env == nil ? "/run/secrets/" + id : nil)
                mounts.append(.secret(id: id, target: t, env: m.env, required: m.required, mode: m.mode ?? 0o400, uid: m.uid ?? 0, gid: m.gid ?? 0))
                parts += ["mount=secret", id, t ?? "-", m.env ?? "-", "\(m.required)", String(m.mode ?? 0o400, radix: 8), "\(m.uid ?? 0):\(m.gid ?? 0)"]
            case .bind:
                let t = try target(m.target)
                let source = m.source ?? "."
                let rel = BuildPath.contextRelative(source)
                let tree: SourceTree
                var identity = ""
                if let from = m.from {
                    let f = try fromTree(from, [source])
                    tree = f.tree
                    identity = "from=" + f.identity
                } else {
                    tree = try context.tree(for: [source], scratch: scratch)
                }
                guard let entry = tree.entry(rel) else {
                    throw FirebuildError(.notFound, "RUN --mount=type=bind source \"\(source)\" not found in the \(tree.label)", location: location)
                }
                let staging = "\(Self.stepStaging)/m\(i)"
                let spec = CopySpec(sources: [.path(source)], destination: staging + "/")
                let ops = try CopyPlanner(tree: tree, scratchDir: scratch).plan(spec)
                let mountSource = entry.kind == .directory ? staging : staging + "/" + BuildPath.basename(rel.isEmpty ? "." : rel)
                mounts.append(.bind(target: t, staging: staging, mountSource: mountSource, ops: ops, readOnly: m.readOnly))
                parts += ["mount=bind", t, "\(m.readOnly)", identity, try StepKey.contentDigest(ops)]
            }
        }
        return (mounts, parts)
    }
}

/// Where a build secret's value comes from (`--secret id=ID,src=PATH` or `id=ID,env=VAR`).
public enum BuildSecretSource: Equatable, Sendable {
    case file(String)
    case env(String)

    /// Parses one `--secret` value as docker buildx does: `id=ID[,src|source=PATH][,env=VAR][,type=file|env]`;
    /// with neither src nor env the value is the environment variable named ID.
    public static func parse(_ spec: String) throws -> (id: String, source: BuildSecretSource) {
        var id: String?, src: String?, env: String?, type: String?
        for field in spec.split(separator: ",", omittingEmptySubsequences: true) {
            let kv = field.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard kv.count == 2, !kv[1].isEmpty else {
                throw FirebuildError(.invalidArgument, "--secret \(spec): expected key=value fields, e.g. id=npmrc,src=$HOME/.npmrc or id=TOKEN,env=TOKEN")
            }
            let value = String(kv[1])
            switch kv[0].lowercased() {
            case "id": id = value
            case "src", "source": src = value
            case "env": env = value
            case "type": type = value
            default:
                throw FirebuildError(.invalidArgument, "--secret \(spec): unknown field '\(kv[0])' (use id, src, env or type)")
            }
        }
        guard let id, !id.isEmpty else { throw FirebuildError(.invalidArgument, "--secret \(spec): id=… is required") }
        switch (type?.lowercased(), src, env) {
        case (_, .some, .some): throw FirebuildError(.invalidArgument, "--secret \(spec): give src or env, not both")
        case ("env", .some(let s), nil), (nil, nil, .some(let s)), ("env", nil, .some(let s)): return (id, .env(s))
        case ("env", nil, nil), (nil, nil, nil): return (id, .env(id))
        case ("file", .some(let s), nil), (nil, .some(let s), nil): return (id, .file(s))
        case ("file", nil, nil): return (id, .file(id))
        default: throw FirebuildError(.invalidArgument, "--secret \(spec): type must be file or env")
        }
    }

    /// The secret's bytes; nil when an environment variable is unset. A named file that cannot be read is an error.
    func value(id: String) throws -> [UInt8]? {
        switch self {
        case .env(let name):
            return ProcessInfo.processInfo.environment[name].map { Array($0.utf8) }
        case .file(let path):
            guard let data = FileManager.default.contents(atPath: path) else {
                throw FirebuildError(.notFound, "secret \(id): cannot read \(path) (given with --secret id=\(id),src=…)")
            }
            return [UInt8](data)
        }
    }
}
