import ArgumentParser
import Build
import Dockerfile
import FirebuildCore
import Foundation
import Store

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

    @Option(name: .customLong("run-cache"), help: "Run cache directory (build cache, build networks, cache mounts; default: the profile's, then FIREBUILD_HOME).")
    var runCache: String?

    /// Where the build keeps its cache and leases: flag, then profile, then default — the same
    /// place `firebuild purge` and `cache ls|prune` look.
    func paths(_ global: GlobalOptions) throws -> FirebuildPaths { try CacheCommand.paths(global, runCache) }

    @Option(name: .customLong("secret"), help: "A build secret for RUN --mount=type=secret: id=ID,src=PATH or id=ID,env=VAR (repeatable; never stored in the image or the cache).")
    var secrets: [String] = []

    func secretMap() throws -> [String: BuildSecretSource] {
        var out: [String: BuildSecretSource] = [:]
        for s in secrets {
            let (id, source) = try BuildSecretSource.parse(s)
            if out[id] != nil { throw ValidationError("--secret id=\(id) is given twice") }
            out[id] = source
        }
        return out
    }

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

    func machine(kernelRoot: String) -> BuildMachine {
        BuildMachine(kernelID: vmlinuxID, kernelStoreRoot: kernelRoot, memMiB: mem, vcpus: cpu)
    }
}

/// `firebuild baseos --dockerfile baseos/_/debian/bookworm-slim/Dockerfile [--tag T]`.
struct BaseosCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "baseos", abstract: "Build a base operating system image from a single-stage Dockerfile.", discussion: "RUN steps have no network (loopback only) unless --cni-network-name is given (see `firebuild rootfs --help`).\n\nEXAMPLES:\n  firebuild baseos --dockerfile baseos/_/debian/bookworm-slim/Dockerfile\n  firebuild baseos --dockerfile baseos/_/alpine/3.19/Dockerfile --tag _/alpine:3.19")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var storage: StorageOptions
    @OptionGroup var build: BuildFlags
    @OptionGroup var size: SizeOptions
    @OptionGroup var network: BuildNetworkOptions

    @Option(name: .customLong("tag"), help: "Tag of the result (default: derived from FROM, e.g. _/debian:bookworm-slim).")
    var tag: String?

    func run() throws {
        try global.apply()
        guard let dockerfile = build.dockerfile else { throw ValidationError("--dockerfile is required") }
        let resolvedTag = try tag ?? Self.tagFromDockerfile(dockerfile)
        let storageConfig = try global.resolveStorage(storage)
        var request = BuildRequest(dockerfile: dockerfile, context: build.context, tag: resolvedTag,
                                   buildArgs: try build.buildArgMap(), noCache: build.noCache, timeout: build.timeout,
                                   stepInactivityTimeout: build.stepTimeout, machine: build.machine(kernelRoot: storageConfig.kernelRoot),
                                   filesystemSizeMiB: size.sizeMiB.map { Int($0) }, cniNetworkName: network.cniNetworkName)
        request.cni = network.settings
        request.secrets = try build.secretMap()
        let result = try BuildEngine(images: StoreImageProvider(storage: storageConfig), paths: try build.paths(global)).build(request)
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

    /// The run cache the builds use: flag, then profile, then default.
    static func paths(_ global: GlobalOptions, _ runCache: String?) throws -> FirebuildPaths {
        var overrides = SettingOverrides()
        overrides.runCache = runCache.map(absolutePath)
        let root = try global.resolveSettings(overrides).runCache.value
        guard !root.isEmpty, root != "/" else { throw ValidationError("--run-cache must not be empty or /") }
        return FirebuildPaths(home: root)
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List cached build steps.", discussion: "EXAMPLES:\n  firebuild cache ls")
        @OptionGroup var global: GlobalOptions
        @Option(name: .customLong("run-cache"), help: "Run cache directory (default: the profile's, then FIREBUILD_HOME).")
        var runCache: String?
        func run() throws {
            try global.apply()
            let paths = try CacheCommand.paths(global, runCache)
            let (entries, bases) = try BuildCache(root: paths.buildCache).list()
            print("KEY           PARENT        SIZE      LAST USED             STEP")
            let f = ISO8601DateFormatter()
            for e in entries {
                print("\(e.key.prefix(12))  \((e.parent ?? "base").prefix(12).padding(toLength: 12, withPad: " ", startingAt: 0))  \(String(format: "%7.1fM", Double(e.bytes) / 1_048_576))  \(f.string(from: e.lastUsed))  \(e.description)")
            }
            let mounts = CacheMountStore(root: paths.runCache + "/build-cache-mounts").list()
            let templates = BootTemplates(runCache: paths.runCache).list()
            print("\(entries.count) steps, \(bases.count) bases, \(templates.count) boot templates ("
                  + String(format: "%.1f MiB", Double(templates.reduce(0) { $0 + $1.bytes }) / 1_048_576) + ")")
            if !mounts.isEmpty {
                print("\nCACHE MOUNT (RUN --mount=type=cache)     SIZE      LAST USED")
                for m in mounts {
                    print("\(m.id.padding(toLength: 38, withPad: " ", startingAt: 0))  \(String(format: "%7.1fM", Double(m.bytes) / 1_048_576))  \(f.string(from: m.lastUsed))")
                }
            }
        }
    }

    struct Prune: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "prune", abstract: "Remove cached steps, RUN --mount=type=cache directories and boot templates (all, or unused for --older-than hours).", discussion: "Cache mounts a running build holds are kept. A pruned boot template is saved again by the next build VM of its shape.\n\nEXAMPLES:\n  firebuild cache prune\n  firebuild cache prune --older-than 48\n  firebuild cache prune --keep-mounts")
        @OptionGroup var global: GlobalOptions
        @Option(name: .customLong("older-than"), help: "Only steps (and cache mounts) unused for this many hours.")
        var olderThan: Double?
        @Flag(name: .customLong("keep-mounts"), help: "Keep RUN --mount=type=cache directories; prune only cached steps.")
        var keepMounts = false
        @Option(name: .customLong("run-cache"), help: "Run cache directory (default: the profile's, then FIREBUILD_HOME).")
        var runCache: String?
        func run() throws {
            try global.apply()
            let paths = try CacheCommand.paths(global, runCache)
            let cutoff = olderThan.map { Date().addingTimeInterval(-$0 * 3600) }
            var freed = try BuildCache(root: paths.buildCache).prune(olderThan: cutoff)
            if !keepMounts { freed += try CacheMountStore(root: paths.runCache + "/build-cache-mounts").prune(olderThan: cutoff) }
            freed += BootTemplates(runCache: paths.runCache).prune(olderThan: cutoff)
            print(String(format: "freed %.1f MiB", Double(freed) / 1_048_576))
        }
    }
}
