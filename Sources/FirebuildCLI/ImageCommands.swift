import ArgumentParser
import FirebuildCore
import Foundation
import OCI
import RootFS
import Store

/// `firebuild image …`: the image store (the original had no such commands).
struct ImageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image", abstract: "Pull, import, list, inspect, tag and remove root filesystem images.",
        subcommands: [ImagePull.self, ImageImport.self, ImageList.self, ImageInspect.self, ImageTagCommand.self,
                      ImageRemove.self, ImagePrune.self])
}

/// Size flags shared by commands that make an ext4 image.
struct SizeOptions: ParsableArguments {
    @Option(name: [.customLong("filesystem-size-mbs"), .customLong("size")], help: "Absolute filesystem size in MiB.")
    var sizeMiB: UInt64?

    @Option(name: .customLong("headroom"), help: "Free space on top of the content: MiB (256) or percent (25%). Default 20%, at least 64 MiB.")
    var headroom: String?

    @Flag(name: .customLong("reproducible"), help: "Fixed UUID, hash seed and times, so the same tree gives the same bytes.")
    var reproducible = false

    func validate() throws {
        if sizeMiB != nil && headroom != nil {
            throw ValidationError("--filesystem-size-mbs and --headroom are mutually exclusive")
        }
        if let headroom { _ = try SizeSpec(headroom: headroom) }
    }

    func spec(global: GlobalOptions) throws -> SizeSpec {
        if let sizeMiB { return .absoluteMiB(sizeMiB) }
        var overrides = SettingOverrides()
        overrides.headroom = headroom
        return try global.resolveSettings(overrides).headroom.value
    }
}

/// Registry flags for pulls.
struct RegistryOptions: ParsableArguments {
    @Option(name: .customLong("platform"), help: "os/arch[/variant] to pick from multi-platform images.")
    var platform: String = "linux/amd64"

    @Option(name: .customLong("insecure-registry"), help: "Registry host spoken to over plain HTTP (repeatable).")
    var insecureRegistries: [String] = []

}

/// (Option groups cannot be built with init() and read, so callers without registry flags pass none.)
func makeService(_ global: GlobalOptions, _ storage: StorageOptions, insecureRegistries: [String] = []) throws -> ImageService {
    try ImageService(storage: try global.resolveStorage(storage), registry: RegistryClient(insecureRegistries: insecureRegistries))
}

struct ImagePull: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pull", abstract: "Pull an image from a registry into the store.", discussion: "EXAMPLES:\n  firebuild image pull alpine:3.19\n  firebuild image pull 127.0.0.1:5000/acme/app:1 --tag acme/app:1 --insecure-registry 127.0.0.1:5000")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var storage: StorageOptions
    @OptionGroup var registry: RegistryOptions
    @OptionGroup var size: SizeOptions
    @Argument(help: "Image reference, e.g. alpine:3.19 or 127.0.0.1:5000/acme/app@sha256:…") var reference: String
    @Option(name: .customLong("tag"), help: "Store tag (default: derived from the reference).") var tag: String?

    func run() throws {
        try global.apply()
        let target = try tag.map { try ImageTag(parsing: $0) }
        let service = try makeService(global, storage, insecureRegistries: registry.insecureRegistries)
        let options = ImageBuildOptions(size: try size.spec(global: global), reproducible: size.reproducible,
                                        platform: try Platform(parsing: registry.platform))
        let image = try service.pull(reference, tag: target, options: options)
        print(image.tag.description)
    }
}

struct ImageImport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import", abstract: "Import a docker-archive, an OCI layout (directory or tar) or a rootfs tarball.", discussion: "EXAMPLES:\n  firebuild image import app.tar --tag acme/app:1\n  firebuild image import ./oci-layout --tag acme/app:1")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var storage: StorageOptions
    @OptionGroup var size: SizeOptions
    @Argument(help: "File or directory to import.") var location: String
    @Option(name: .customLong("tag"), help: "Store tag, org/name:version.") var tag: String

    func run() throws {
        try global.apply()
        let target = try ImageTag(parsing: tag)
        let service = try makeService(global, storage)
        let path = location.contains(":") && !FileManager.default.fileExists(atPath: location) ? location : absolutePath(location)
        let image = try service.importImage(path, tag: target,
                                            options: ImageBuildOptions(size: try size.spec(global: global), reproducible: size.reproducible))
        print(image.tag.description)
    }
}

struct ImageList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List stored images.", discussion: "EXAMPLES:\n  firebuild image ls\n  firebuild image ls --json")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var storage: StorageOptions
    @Flag(name: .customLong("json"), help: "Print a JSON array of image metadata.") var json = false

    func run() throws {
        try global.apply()
        let images = ImageStore(config: try global.resolveStorage(storage)).list()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            encoder.dateEncodingStrategy = .iso8601
            print(String(decoding: try encoder.encode(images.map(\.metadata)), as: UTF8.self))
            return
        }
        print(ImageList.table(images))
    }

    static func table(_ images: [StoredImage]) -> String {
        let formatter = ISO8601DateFormatter()
        var rows = [["TAG", "SIZE", "CREATED", "SOURCE"]]
        for image in images {
            let m = image.metadata
            rows.append([image.tag.description, humanBytes(m.rootfsSize), formatter.string(from: m.created),
                         m.source.reference ?? m.source.kind.rawValue])
        }
        let widths = (0..<4).map { c in rows.map { $0[c].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { i, cell in i == 3 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
        }.joined(separator: "\n")
    }
}

func humanBytes(_ n: UInt64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(n), i = 0
    while value >= 1024 && i < units.count - 1 { value /= 1024; i += 1 }
    return i == 0 ? "\(n) B" : String(format: "%.1f %@", value, units[i])
}

struct ImageInspect: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Print an image's metadata as JSON.", discussion: "EXAMPLES:\n  firebuild image inspect acme/app:1")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var storage: StorageOptions
    @Argument(help: "Image tag.") var tag: String

    func run() throws {
        try global.apply()
        let image = try ImageStore(config: try global.resolveStorage(storage)).get(try ImageTag(parsing: tag))
        FileHandle.standardOutput.write(try image.metadata.encoded())
    }
}

struct ImageTagCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tag", abstract: "Give an image another tag (a copy-on-write copy).", discussion: "EXAMPLES:\n  firebuild image tag acme/app:1 acme/app:stable")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var storage: StorageOptions
    @Argument(help: "Existing tag.") var source: String
    @Argument(help: "New tag.") var destination: String

    func run() throws {
        try global.apply()
        let store = ImageStore(config: try global.resolveStorage(storage))
        print(try store.tag(try ImageTag(parsing: source), as: try ImageTag(parsing: destination)).tag.description)
    }
}

struct ImageRemove: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove images from the store.", discussion: "EXAMPLES:\n  firebuild image rm acme/app:1")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var storage: StorageOptions
    @Argument(help: "Image tags.") var tags: [String]

    func validate() throws {
        if tags.isEmpty { throw ValidationError("name at least one image tag to remove") }
    }

    func run() throws {
        try global.apply()
        let store = ImageStore(config: try global.resolveStorage(storage))
        let parsed = try tags.map { try ImageTag(parsing: $0) }  // all valid before removing any
        for tag in parsed {
            try store.remove(tag)
            print(tag.description)
        }
    }
}

struct ImagePrune: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "prune", abstract: "Delete registry blobs no stored image needs.", discussion: "EXAMPLES:\n  firebuild image prune")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var storage: StorageOptions

    func run() throws {
        try global.apply()
        let report = try makeService(global, storage).prune()
        print("removed \(report.removedBlobs.count) blobs, freed \(humanBytes(report.freedBytes))")
    }
}
