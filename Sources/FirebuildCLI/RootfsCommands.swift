import ArgumentParser
import FirebuildCore
import Foundation
import Build
import Networking
import OCI
import Store

/// `firebuild rootfs`: a root filesystem from a Dockerfile (built in microVMs) or from an image
/// (all layers, run steps included, unlike the original's history replay), stored under a tag.
struct RootfsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rootfs", abstract: "Build a VMM root file system from a Dockerfile or an image.",
        discussion: """
        With --dockerfile every RUN executes inside a microVM (one per stage). Without \
        --cni-network-name RUN steps have no network (loopback only); with it each build VM is \
        attached to that CNI network like `firebuild run` attaches a VM (its own namespace, the \
        conflist ending in tc-redirect-tap), and detached when its stage ends (`firebuild purge` \
        cleans up after a killed build). `RUN --network=none` runs one step with loopback only; \
        `--network=host` is the build VM's network, the same as the default.

        With --docker-image the image's layers are applied in order (no daemon).

        EXAMPLES:
          firebuild rootfs --dockerfile ./app/Dockerfile --tag acme/app:1
          firebuild rootfs --dockerfile 'git+https://github.com/hashicorp/docker-consul.git:/0.X/Dockerfile#master' --tag hashicorp/consul:1.9.4 --build-arg CONSUL_VERSION=1.9.4
          firebuild rootfs --dockerfile ./app/Dockerfile --tag acme/app:1 --cni-network-name machines
          firebuild rootfs --docker-image postgres:13 --tag library/postgres:13
        """)
    @OptionGroup var global: GlobalOptions
    @OptionGroup var storage: StorageOptions
    @OptionGroup var registry: RegistryOptions
    @OptionGroup var size: SizeOptions
    @OptionGroup var build: BuildFlags

    @Option(name: .customLong("docker-image"), help: "Image reference whose layers become the root filesystem.")
    var dockerImage: String?

    @Option(name: .customLong("docker-image-base"), help: "Accepted for compatibility with the original; not needed (every layer is used).")
    var dockerImageBase: String?

    @Option(name: .customLong("tag"), help: "Store tag, org/name:version.")
    var tag: String

    @Option(name: [.customLong("target"), .customLong("dockerfile-stage")], help: "The stage to build (default: the last).")
    var target: String?

    @Option(name: .customLong("pre-build-command"), help: "Shell command run in the build VM before the Dockerfile steps (repeatable).")
    var preBuild: [String] = []

    @Option(name: .customLong("post-build-command"), help: "Shell command run in the build VM after the Dockerfile steps (repeatable).")
    var postBuild: [String] = []

    @OptionGroup var network: BuildNetworkOptions

    enum SourceKind { case dockerImage(String), dockerfile(String) }

    func sourceKind() throws -> SourceKind {
        switch (dockerImage.flatMap { $0.isEmpty ? nil : $0 }, build.dockerfile.flatMap { $0.isEmpty ? nil : $0 }) {
        case (let image?, nil): return .dockerImage(image)
        case (nil, let dockerfile?): return .dockerfile(dockerfile)
        case (.some, .some): throw ValidationError("give either --dockerfile or --docker-image, not both")
        case (nil, nil): throw ValidationError("name what to build from: --dockerfile PATH|URL|TEXT or --docker-image REF")
        }
    }

    func validate() throws {
        _ = try sourceKind()
        _ = try ImageTag(parsing: tag)
    }

    func run() throws {
        try global.apply()
        let target = try ImageTag(parsing: tag)
        let storageConfig = try global.resolveStorage(storage)
        switch try sourceKind() {
        case .dockerImage(let reference):
            if let dockerImageBase {
                makeLogger("cli").debug("--docker-image-base is not needed: every layer of the image is applied",
                                        metadata: ["base": .string(dockerImageBase)])
            }
            let service = try makeService(global, storage, insecureRegistries: registry.insecureRegistries)
            let options = ImageBuildOptions(size: try size.spec(global: global), reproducible: size.reproducible,
                                            platform: try Platform(parsing: registry.platform))
            print(try service.pull(reference, tag: target, options: options).tag.description)
        case .dockerfile(let dockerfile):
            var request = BuildRequest(dockerfile: dockerfile, context: build.context, tag: target.description, target: self.target,
                                       buildArgs: try build.buildArgMap(), noCache: build.noCache, timeout: build.timeout,
                                       stepInactivityTimeout: build.stepTimeout,
                                       machine: build.machine(kernelRoot: storageConfig.kernelRoot),
                                       preBuildCommands: preBuild, postBuildCommands: postBuild,
                                       filesystemSizeMiB: size.sizeMiB.map { Int($0) }, cniNetworkName: network.cniNetworkName)
            request.cni = network.settings
            request.secrets = try build.secretMap()
            let provider = StoreImageProvider(storage: storageConfig, insecureRegistries: registry.insecureRegistries)
            let result = try BuildEngine(images: provider, paths: try build.paths(global)).build(request)
            print("built \(result.tag) in \(String(format: "%.1f", result.duration)) s: \(result.stepsRun) steps run, \(result.stepsCached) cached, \(result.vmBoots) VM boot(s)\(result.vmRestores > 0 ? ", \(result.vmRestores) from a boot template" : "")\(result.bootTemplatesSaved > 0 ? " (\(result.bootTemplatesSaved) boot template(s) saved first)" : "")")
        }
    }
}

/// Network of build VMs, shared by `rootfs --dockerfile` and `baseos`: the CNI flags of `firebuild run`.
struct BuildNetworkOptions: ParsableArguments {
    @Option(name: .customLong("cni-network-name"),
            help: "Give RUN steps network through this CNI network (default: none, loopback only).")
    var cniNetworkName: String?

    @Option(name: .customLong("cni-conf-dir"), help: "CNI network configurations (with --cni-network-name).")
    var cniConfDir: String = FirebuildPaths.defaultCNIConfDir

    @Option(name: .customLong("cni-bin-dir"),
            help: "CNI plugin directory (repeatable; default /opt/cni/bin, /usr/lib/cni, then firebuild's own folder).")
    var cniBinDir: [String] = []

    @Option(name: .customLong("cni-cache-dir"), help: "CNI result cache.")
    var cniCacheDir: String = FirebuildPaths.defaultCNICacheDir

    @Option(name: .customLong("cni-host-netns"),
            help: "For tests and sandboxes: run CNI plugins inside this network namespace instead of the host's.")
    var cniHostNetns: String?

    func validate() throws {
        if cniNetworkName?.isEmpty == true { throw ValidationError("--cni-network-name must not be empty") }
        if let ns = cniHostNetns, !ns.contains("/") { _ = try NetworkNamespace(name: ns) }
    }

    var settings: BuildCNISettings {
        BuildCNISettings(confDir: absolutePath(cniConfDir), binDirs: cniBinDir.isEmpty ? CNIRunner.defaultBinDirs : cniBinDir.map(absolutePath),
                         cacheDir: absolutePath(cniCacheDir), hostNamespace: cniHostNetns)
    }
}
