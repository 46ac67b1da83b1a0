import FirebuildCore

/// Shell form (run through the stage's SHELL) or exec form (a JSON array run directly).
public enum CommandForm: Equatable, Sendable {
    case shell(String)
    case exec([String])

    /// The argv an image config stores: exec form as is, shell form prefixed with the shell.
    public func argv(shell: [String]) -> [String] {
        switch self {
        case .exec(let a): return a
        case .shell(let s): return shell + [s]
        }
    }
}

public struct KeyValue: Equatable, Sendable {
    public var key: String
    public var value: String
    /// `ENV key value` (no `=`): BuildKit's LegacyKeyValueFormat.
    public var legacyFormat: Bool
}

public struct ArgDeclaration: Equatable, Sendable {
    public var name: String
    public var defaultValue: String?
}

/// A `COPY <<EOF dest` source: the heredoc body becomes a file named after the delimiter.
public struct InlineSource: Equatable, Sendable {
    public var path: String
    public var data: String
    public var expand: Bool
}

/// COPY and ADD with every flag BuildKit knows.
public struct CopyInstruction: Equatable, Sendable {
    public var isAdd: Bool
    public var sources: [String]
    public var inlineSources: [InlineSource]
    public var destination: String
    public var from: String?
    public var chown: String?
    public var chmod: String?
    public var link: Bool
    public var parents: Bool
    public var excludes: [String]
    /// ADD only.
    public var checksum: String?
    public var keepGitDir: Bool?
    public var unpack: Bool?
}

public struct RunInstruction: Equatable, Sendable {
    public var command: CommandForm
    /// Heredoc bodies (`RUN <<EOF`), in order.
    public var heredocs: [Heredoc]
    /// The raw `--mount` values; `mounts` holds them parsed (with variables expanded once evaluated).
    public var mountSpecs: [String]
    public var mounts: [RunMount]
    /// `default`, `none` or `host`.
    public var network: String
    /// `sandbox` or `insecure`.
    public var security: String
    public var devices: [String]
}

public struct FromInstruction: Equatable, Sendable {
    public var image: String
    /// The stage name, lower-cased as BuildKit stores it.
    public var name: String?
    public var platform: String?
}

public struct OnbuildInstruction: Equatable, Sendable {
    /// The trigger text stored in the image config (`RUN echo hi`).
    public var expression: String
    public var trigger: Node
}

/// One typed Dockerfile instruction.
public enum Instruction: Equatable, Sendable {
    case from(FromInstruction)
    case run(RunInstruction)
    case copy(CopyInstruction)  // COPY and ADD (see `isAdd`)
    case env([KeyValue])
    case arg([ArgDeclaration])
    case label([KeyValue])
    case expose([String])
    case volume([String])
    case user(String)
    case workdir(String)
    case shell([String])
    case cmd(CommandForm)
    /// nil for `ENTRYPOINT []` (clears the entrypoint).
    case entrypoint(CommandForm?)
    case stopSignal(String)
    /// `Test` is `["NONE"]`, `["CMD", args…]` or `["CMD-SHELL", command]`.
    case healthcheck(Healthcheck)
    case onbuild(OnbuildInstruction)
    case maintainer(String)

    public var keyword: String {
        switch self {
        case .from: return "FROM"
        case .run: return "RUN"
        case .copy(let c): return c.isAdd ? "ADD" : "COPY"
        case .env: return "ENV"
        case .arg: return "ARG"
        case .label: return "LABEL"
        case .expose: return "EXPOSE"
        case .volume: return "VOLUME"
        case .user: return "USER"
        case .workdir: return "WORKDIR"
        case .shell: return "SHELL"
        case .cmd: return "CMD"
        case .entrypoint: return "ENTRYPOINT"
        case .stopSignal: return "STOPSIGNAL"
        case .healthcheck: return "HEALTHCHECK"
        case .onbuild: return "ONBUILD"
        case .maintainer: return "MAINTAINER"
        }
    }
}
