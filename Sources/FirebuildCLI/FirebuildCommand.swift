import ArgumentParser
import FirebuildCore
import Foundation

/// The root command: subcommands are thin, each parses flags and calls one core operation.
public struct FirebuildCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "firebuild",
        abstract: "Build microVM root filesystems from Dockerfiles and OCI images, and run them as microVMs.",
        version: FirebuildVersion.current,
        subcommands: [
            VersionCommand.self,
            ImageCommand.self,
            RootfsCommand.self,
            DockerfileCommand.self,
            KernelCommand.self,
            RunCommand.self,
            LsCommand.self,
            InspectCommand.self,
            LogsCommand.self,
            ExecCommand.self,
            KillCommand.self,
            PurgeCommand.self,
            BaseosCommand.self,
            CacheCommand.self,
            ScriptCommand.self,
            ProfileCreate.self,
            ProfileInspect.self,
            ProfileList.self,
            ProfileRemove.self,
        ]
    )

    public init() {}
}

/// Options every command takes, as the original had them.
public struct GlobalOptions: ParsableArguments {
    @Option(name: .customLong("log-level"), help: "Log level: trace, debug, info, warn, error.")
    public var logLevel: String = "info"

    @Flag(name: .customLong("log-as-json"), help: "Write logs as one JSON object per line.")
    public var logAsJSON = false

    @Flag(name: .customLong("log-color"), help: "Colour the level in text logs when stderr is a terminal.")
    public var logColor = false

    @Flag(name: .customLong("log-force-color"), help: "Colour the level in text logs even when stderr is not a terminal.")
    public var logForceColor = false

    @Flag(name: .customLong("tracing-enable"), help: "Export an OpenTelemetry trace of the command (OTLP/HTTP).")
    public var tracingEnable = false

    @Option(name: .customLong("tracing-collector-host-port"),
            help: "OTLP/HTTP collector (Jaeger ≥ 1.35, OpenTelemetry Collector) as host:port or URL (default: 127.0.0.1:4318).")
    public var tracingCollectorHostPort: String?

    @Flag(name: .customLong("tracing-log-enable"), help: "Also log every finished span.")
    public var tracingLogEnable = false

    @Option(name: .customLong("profile"), help: "Name of the profile whose settings apply.")
    public var profile: String?

    @Option(name: .customLong("profile-conf-dir"), help: "Directory holding profiles.")
    public var profileConfDir: String = "/etc/firebuild/profiles"

    public init() {}

    /// Installs logging as the flags ask; called first by every command.
    public func apply() throws {
        // Build steps, pulls and logs are progress: they must reach a pipe or a CI log as they
        // happen, not when a 4 KiB stdio buffer fills or the command ends.
        setvbuf(stdout, nil, _IOLBF, 0)
        let level = try LogOptions.level(named: logLevel)
        FirebuildLogging.bootstrap(LogOptions(level: level, json: logAsJSON, color: colorEnabled))
        try applyTelemetry()
    }
}

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version",
        abstract: "Print the firebuild version.",
        discussion: """
            EXAMPLES:
              firebuild version
              firebuild version --tracing-enable --tracing-log-enable
            """
    )

    @OptionGroup var global: GlobalOptions

    func run() throws {
        try global.apply()
        print("firebuild \(FirebuildVersion.current)")
    }
}
