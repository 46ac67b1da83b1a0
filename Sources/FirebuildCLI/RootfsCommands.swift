import ArgumentParser
import FirebuildCore
import Foundation
import Build
import OCI
import Store

/// `firebuild rootfs`: a root filesystem from a Dockerfile (built in microVMs) or from an image
/// (all layers, run steps included, unlike the original's history replay), stored under a tag.
struct RootfsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rootfs", abstract: "Build a VMM root file system from a Dockerfile or an image.",
        discussion: """
        With --dockerfile every RUN executes inside a microVM (one per stage); without
        --cni-network-name RUN steps have no network. With --docker-image the image's layers are
        applied in order (no daemon).

        EXAMPLES:
          firebuild rootfs --dockerfile ./app/Dockerfile --tag acme/app:1
          firebuild rootfs --dockerfile 'git+https://github.com/hashicorp/docker-consul.git:/0.X/Dockerfile#master' --tag hashicorp/consul:1.9.4 --build-arg CONSUL_VERSION=1.9.4
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

    @Option(name: .customLong("cni-network-name"), help: "Give RUN steps network through this CNI network (default: none).")
    var cniNetworkName: String?

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
                                       filesystemSizeMiB: size.sizeMiB.map { Int($0) }, cniNetworkName: cniNetworkName)
            request.secrets = try build.secretMap()
            let provider = StoreImageProvider(storage: storageConfig, insecureRegistries: registry.insecureRegistries)
            let result = try BuildEngine(images: provider).build(request)
            print("built \(result.tag) in \(String(format: "%.1f", result.duration)) s: \(result.stepsRun) steps run, \(result.stepsCached) cached, \(result.vmBoots) VM boot(s)")
        }
    }
}
