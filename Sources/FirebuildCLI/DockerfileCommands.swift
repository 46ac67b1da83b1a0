import ArgumentParser
import Dockerfile
import FirebuildCore
import Foundation

/// `firebuild dockerfile …`: inspect Dockerfiles without building (AST dump, stages and config, lint).
struct DockerfileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dockerfile",
        abstract: "Inspect a Dockerfile: parse tree, build stages and image config, lint warnings.",
        subcommands: [DockerfileDump.self, DockerfileStages.self, DockerfileLint.self, DockerfileBench.self]
    )
}

func readDockerfile(_ path: String) throws -> ParsedDockerfile {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw FirebuildError(.notFound, "cannot read Dockerfile \(path): check the path exists and is readable")
    }
    return try Dockerfile.parse(bytes: [UInt8](data), fileName: (path as NSString).lastPathComponent)
}

struct DockerfileDump: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "dump", abstract: "Print BuildKit's AST dump of a Dockerfile.", discussion: "EXAMPLES:\n  firebuild dockerfile dump ./Dockerfile")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Path to the Dockerfile.") var file: String

    func run() throws {
        try global.apply()
        print(try readDockerfile(file).dump())
    }
}

struct DockerfileStages: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stages", abstract: "Print the stages needed for a target, in build order, and its image config (JSON).", discussion: "EXAMPLES:\n  firebuild dockerfile stages ./Dockerfile --target runtime --build-arg VERSION=1.2")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Path to the Dockerfile.") var file: String
    @Option(name: .customLong("target"), help: "Stage to build (default: the last one).") var target: String?
    @Option(name: .customLong("build-arg"), help: "Build argument KEY=VALUE (repeatable).") var buildArgs: [String] = []
    @Option(name: .customLong("platform"), help: "Target platform (default linux/amd64).") var platform: String?

    func run() throws {
        try global.apply()
        var args: [String: String] = [:]
        for a in buildArgs {
            guard let eq = a.firstIndex(of: "=") else {
                throw FirebuildError(.invalidArgument, "--build-arg \(a): expected KEY=VALUE")
            }
            args[String(a[..<eq])] = String(a[a.index(after: eq)...])
        }
        var tp = Platform.linuxAMD64
        if let platform {
            guard let p = Platform(parsing: platform) else {
                throw FirebuildError(.invalidArgument, "--platform \(platform): expected os/arch[/variant]")
            }
            tp = p
        }
        let plan = try BuildPlan.make(from: try readDockerfile(file), buildArgs: args, target: target, targetPlatform: tp)
        print(try plan.summaryJSON())
    }
}

struct DockerfileLint: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "lint", abstract: "Print lint warnings (BuildKit rule names).", discussion: "EXAMPLES:\n  firebuild dockerfile lint ./Dockerfile")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Path to the Dockerfile.") var file: String

    func run() throws {
        try global.apply()
        let path = file
        for w in try readDockerfile(file).lint() {
            print("\(path):\(w.line): \(w.rule) - \(w.message)")
        }
    }
}

/// Hidden: parse and evaluate every Dockerfile under DIR repeatedly; prints MB/s and files/s.
struct DockerfileBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "Benchmark the parser.", discussion: "EXAMPLES:\n  firebuild dockerfile bench ./corpus",
                                                    shouldDisplay: false)
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Directory with Dockerfiles (searched recursively).") var dir: String
    @Option(help: "Target input size in MB (files are cycled).") var megabytes: Int = 8

    func run() throws {
        try global.apply()
        let r = try DockerfileBenchmark.run(directory: dir, targetBytes: megabytes * 1_000_000)
        print(String(format: "%d files, %.2f MB in %.3f s: %.1f MB/s, %.0f files/s (%d rejected, as BuildKit rejects them)",
                     r.files, Double(r.bytes) / 1e6, r.seconds, Double(r.bytes) / 1e6 / r.seconds,
                     Double(r.files) / r.seconds, r.failures))
    }
}
