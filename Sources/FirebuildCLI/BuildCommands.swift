import ArgumentParser
import Build
import Dockerfile
import FirebuildCore
import Foundation

/// Flags shared by `rootfs --dockerfile` and `baseos`.
struct BuildFlags: ParsableArguments {
    @Option(name: .customLong("dockerfile"), help: "Dockerfile: a path, Dockerfile text, an http(s):// URL, or git+https://host/repo.git:/path/Dockerfile#ref (also git+ssh://, ssh://, git://).")
    var dockerfile: String?

    @Option(name: .customLong("context"), help: "Build context directory (default: the Dockerfile's folder; for git sources a folder of the checkout).")
    var context: String?

    @Option(name: .customLong("build-arg"), help: "A build argument K=V (repeatable).")
    var buildArgs: [String] = []

    @Flag(name: .customLong("no-cache"), help: "Do not use or fill the step cache.")
    var noCache = false

    @Option(name: .customLong("timeout"), help: "Fail the build after this many seconds.")
    var timeout: Double?

    @Option(name: .customLong("step-timeout"), help: "Fail a step that prints nothing for this many seconds.")
    var stepTimeout: Double = 900

    @Option(name: .customLong("vmlinux-id"), help: "Kernel (from `firebuild kernel ls`) the build VMs boot.")
    var vmlinuxID: String?

    @Option(name: .customLong("mem"), help: "Build VM memory in MiB.")
    var mem: Int = 512

    @Option(name: .customLong("cpu"), help: "Build VM vCPUs.")
    var cpu: Int = 1

    @Option(name: .customLong("filesystem-size-mbs"), help: "Size of the resulting ext4 file system in MiB (default: content plus headroom).")
    var filesystemSizeMBs: Int?

    func buildArgMap() throws -> [String: String] {
        var out: [String: String] = [:]
        for a in buildArgs {
            let parts = a.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty else {
                // Docker: `--build-arg K` takes K from the environment.
                if parts.count == 1, !a.isEmpty, let v = ProcessInfo.processInfo.environment[a] { out[a] = v; continue }
                throw ValidationError("--build-arg \(a): expected KEY=VALUE")
            }
            out[String(parts[0])] = String(parts[1])
        }
        return out
    }

    func machine() -> BuildMachine { BuildMachine(kernelID: vmlinuxID, memMiB: mem, vcpus: cpu) }
}

/// `firebuild rootfs --dockerfile … --tag T`: builds in microVMs and stores the result.
struct RootfsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rootfs", abstract: "Build a VMM root file system from a Dockerfile.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var build: BuildFlags

    @Option(name: .customLong("tag"), help: "Tag of the result: org/name:version.")
    var tag: String

    @Option(name: [.customLong("target"), .customLong("dockerfile-stage")], help: "The stage to build (default: the last).")
    var target: String?

    @Option(name: .customLong("pre-build-command"), help: "Shell command run in the build VM before the Dockerfile steps (repeatable).")
    var preBuild: [String] = []

    @Option(name: .customLong("post-build-command"), help: "Shell command run in the build VM after the Dockerfile steps (repeatable).")
    var postBuild: [String] = []

    @Option(name: .customLong("cni-network-name"), help: "Give RUN steps network through this CNI network (default: none, loopback only).")
    var cniNetworkName: String?

    func run() throws {
        try global.apply()
        guard let dockerfile = build.dockerfile else { throw ValidationError("--dockerfile is required") }
        _ = try DirectoryImageProvider.relativePath(tag)
        let request = BuildRequest(dockerfile: dockerfile, context: build.context, tag: tag, target: target,
                                   buildArgs: try build.buildArgMap(), noCache: build.noCache, timeout: build.timeout,
                                   stepInactivityTimeout: build.stepTimeout, machine: build.machine(),
                                   preBuildCommands: preBuild, postBuildCommands: postBuild,
                                   filesystemSizeMiB: build.filesystemSizeMBs, cniNetworkName: cniNetworkName)
        let result = try BuildEngine(images: DirectoryImageProvider()).build(request)
        print("built \(result.tag) in \(String(format: "%.1f", result.duration)) s: \(result.stepsRun) steps run, \(result.stepsCached) cached, \(result.vmBoots) VM boot(s)")
    }
}

/// `firebuild baseos --dockerfile baseos/_/debian/bookworm-slim/Dockerfile [--tag T]`.
struct BaseosCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "baseos", abstract: "Build a base operating system image from a single-stage Dockerfile.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var build: BuildFlags

    @Option(name: .customLong("tag"), help: "Tag of the result (default: derived from FROM, e.g. _/debian:bookworm-slim).")
    var tag: String?

    func run() throws {
        try global.apply()
        guard let dockerfile = build.dockerfile else { throw ValidationError("--dockerfile is required") }
        let resolvedTag = try tag ?? Self.tagFromDockerfile(dockerfile)
        let request = BuildRequest(dockerfile: dockerfile, context: build.context, tag: resolvedTag,
                                   buildArgs: try build.buildArgMap(), noCache: build.noCache, timeout: build.timeout,
                                   stepInactivityTimeout: build.stepTimeout, machine: build.machine(),
                                   filesystemSizeMiB: build.filesystemSizeMBs)
        let result = try BuildEngine(images: DirectoryImageProvider()).build(request)
        print("built base OS \(result.tag) (\(result.stepsRun) steps run, \(result.stepsCached) cached)")
    }

    /// The original's rule: exactly one stage, unnamed; the tag is its FROM (`debian:bookworm-slim` → `_/debian:bookworm-slim`).
    static func tagFromDockerfile(_ spec: String) throws -> String {
        guard case .file(let path) = try DockerfileSource.classify(spec), let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("baseos needs --tag unless --dockerfile is a local file")
        }
        let parsed = try Dockerfile.parse(text: String(decoding: data, as: UTF8.self), fileName: path)
        let froms = try parsed.instructions.compactMap { n -> FromInstruction? in
            if case .from(let f) = try parsed.typed(n) { return f } else { return nil }
        }
        guard froms.count == 1, let from = froms.first, from.name == nil else {
            throw ValidationError("a baseos Dockerfile must have exactly one unnamed stage (found \(froms.count) FROM lines)")
        }
        var image = from.image
        if let at = image.firstIndex(of: "@") { image = String(image[..<at]) }
        let last = image.split(separator: "/").last.map(String.init) ?? image
        let nameVersion = last.contains(":") ? last : last + ":latest"
        return "_/" + nameVersion
    }
}

/// `firebuild cache ls|prune`.
struct CacheCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cache", abstract: "Inspect or prune the build step cache.",
                                                    subcommands: [List.self, Prune.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List cached build steps.")
        @OptionGroup var global: GlobalOptions
        func run() throws {
            try global.apply()
            let (entries, bases) = try BuildCache().list()
            print("KEY           PARENT        SIZE      LAST USED             STEP")
            let f = ISO8601DateFormatter()
            for e in entries {
                print("\(e.key.prefix(12))  \((e.parent ?? "base").prefix(12).padding(toLength: 12, withPad: " ", startingAt: 0))  \(String(format: "%7.1fM", Double(e.bytes) / 1_048_576))  \(f.string(from: e.lastUsed))  \(e.description)")
            }
            print("\(entries.count) steps, \(bases.count) bases")
        }
    }

    struct Prune: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "prune", abstract: "Remove cached steps (all, or unused for --older-than hours).")
        @OptionGroup var global: GlobalOptions
        @Option(name: .customLong("older-than"), help: "Only steps unused for this many hours.")
        var olderThan: Double?
        func run() throws {
            try global.apply()
            let freed = try BuildCache().prune(olderThan: olderThan.map { Date().addingTimeInterval(-$0 * 3600) })
            print(String(format: "freed %.1f MiB", Double(freed) / 1_048_576))
        }
    }
}
