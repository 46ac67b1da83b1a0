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
            DockerfileCommand.self,
            ScriptCommand.self,
            KernelCommand.self,
            RunCommand.self,
            LsCommand.self,
            InspectCommand.self,
            LogsCommand.self,
            ExecCommand.self,
            KillCommand.self,
            PurgeCommand.self,
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

    @Flag(name: .customLong("log-color"), help: "Colour the level in text logs.")
    public var logColor = false

    @Option(name: .customLong("profile"), help: "Name of the profile whose settings apply.")
    public var profile: String?

    @Option(name: .customLong("profile-conf-dir"), help: "Directory holding profiles.")
    public var profileConfDir: String = "/etc/firebuild/profiles"

    public init() {}

    /// Installs logging as the flags ask; called first by every command.
    public func apply() throws {
        let level = try LogOptions.level(named: logLevel)
        FirebuildLogging.bootstrap(LogOptions(level: level, json: logAsJSON, color: logColor))
    }
}

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print the firebuild version.")

    @OptionGroup var global: GlobalOptions

    func run() throws {
        try global.apply()
        print("firebuild \(FirebuildVersion.current)")
    }
}
