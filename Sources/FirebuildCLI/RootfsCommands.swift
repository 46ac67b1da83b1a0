import ArgumentParser
import FirebuildCore
import Foundation
import OCI
import Store

/// `firebuild rootfs`: a root filesystem from an image (all layers, run steps included, unlike
/// the original's history replay). Sources are checked in `sourceKind`, so further sources
/// (a Dockerfile build) slot in as one more case.
struct RootfsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rootfs", abstract: "Build a VMM root file system from an image.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var storage: StorageOptions
    @OptionGroup var registry: RegistryOptions
    @OptionGroup var size: SizeOptions

    @Option(name: .customLong("docker-image"), help: "Image reference whose layers become the root filesystem.")
    var dockerImage: String?

    @Option(name: .customLong("docker-image-base"), help: "Accepted for compatibility with the original; not needed (every layer is used).")
    var dockerImageBase: String?

    @Option(name: .customLong("tag"), help: "Store tag, org/name:version.")
    var tag: String

    enum SourceKind { case dockerImage(String) }

    func sourceKind() throws -> SourceKind {
        if let dockerImage, !dockerImage.isEmpty { return .dockerImage(dockerImage) }
        throw ValidationError("name what to build from: --docker-image REF")
    }

    func validate() throws {
        _ = try sourceKind()
        _ = try ImageTag(parsing: tag)
    }

    func run() throws {
        try global.apply()
        let target = try ImageTag(parsing: tag)
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
        }
    }
}
