import Build
import FirebuildCore
import Foundation
import Guest
import RootFS
import Runtime
import Store
import VM

// The real engines behind the recipe seam: the same types the CLI commands call (Store
// `ImageStore`/`ImageService`, Build `BuildEngine` + `StoreImageProvider`, Runtime `RunEngine`,
// RootFS `Ext4Editor`/`Ext4Inspector`, Store `ProfileStore`). Each call builds them from the
// recipe's current settings, so `firebuild.settings{…}` takes effect at once.

extension RecipeEngines {
    public static var live: RecipeEngines {
        let images = LiveImages()
        return RecipeEngines(images: images, builder: LiveBuilder(images: images), runner: LiveRunner(),
                             openRootfs: { try Ext4FileEditor(image: $0) },
                             loadProfile: { name, settings in try LiveProfiles.load(name, settings: settings) })
    }
}

extension RecipeSettings {
    /// The store locations, as `--storage-provider.directory.*` flags would give them.
    var storage: StorageConfig {
        StorageConfig(rootfsRoot: effectiveRootfsRoot, kernelRoot: effectiveKernelRoot,
                      contentRoot: FirebuildPaths(home: home).contentStore)
    }

    /// Run cache layout (runs/, builds/, cache/) as the CLI derives it from `--run-cache`.
    var runPaths: FirebuildPaths { FirebuildPaths(home: effectiveRunCache) }
}

/// Images: `ImageStore` for lookups and edits, `ImageService` for pulls, imports and trees.
final class LiveImages: RecipeImageService {
    func store(_ settings: RecipeSettings) -> ImageStore { ImageStore(config: settings.storage) }
    func service(_ settings: RecipeSettings) throws -> ImageService { try ImageService(storage: settings.storage) }

    static func recipeImage(_ s: StoredImage) -> RecipeImage {
        RecipeImage(tag: s.tag.description, rootfsPath: s.rootfsPath, config: s.metadata.config,
                    source: s.metadata.source.reference ?? s.metadata.source.kind.rawValue)
    }

    func find(_ tag: String, settings: RecipeSettings) throws -> RecipeImage? {
        try store(settings).find(try ImageTag(parsing: tag)).map(Self.recipeImage)
    }

    func list(settings: RecipeSettings) throws -> [RecipeImage] { store(settings).list().map(Self.recipeImage) }

    func pull(reference: String, tag: String?, settings: RecipeSettings) throws -> RecipeImage {
        Self.recipeImage(try service(settings).pull(reference, tag: try tag.map { try ImageTag(parsing: $0) }))
    }

    func importArchive(file: String, tag: String?, settings: RecipeSettings) throws -> RecipeImage {
        let target = try tag.map { try ImageTag(parsing: $0) } ?? ImageTag.derived(fromReference: (file as NSString).lastPathComponent
            .replacingOccurrences(of: ".tar", with: ""))
        return Self.recipeImage(try service(settings).importImage(file, tag: target))
    }

    func tag(_ source: String, as destination: String, settings: RecipeSettings) throws -> RecipeImage {
        Self.recipeImage(try store(settings).tag(try ImageTag(parsing: source), as: try ImageTag(parsing: destination)))
    }

    func remove(_ tag: String, settings: RecipeSettings) throws { try store(settings).remove(try ImageTag(parsing: tag)) }

    func commit(tree: String, tag: String, config: ImageConfig, sizeMiB: Int?, settings: RecipeSettings) throws -> RecipeImage {
        let metadata = ImageMetadata(config: config, source: ImageOrigin(kind: .directory, reference: tree))
        let size: SizeSpec = sizeMiB.map { .absoluteMiB(UInt64(max(1, $0))) } ?? .default
        return Self.recipeImage(try service(settings).commitTree(tree, metadata: metadata, as: try ImageTag(parsing: tag), size: size))
    }

    func recommit(_ image: RecipeImage, rootfs: String, config: ImageConfig, settings: RecipeSettings) throws -> RecipeImage {
        let tag = try ImageTag(parsing: image.tag)
        let store = store(settings)
        var metadata = try store.get(tag).metadata
        metadata.config = config
        metadata.created = Date()
        var details = metadata.source.details ?? [:]
        details["edited-by"] = "recipe hooks"
        metadata.source.details = details
        // `move`: the edited copy is ours (run cache); renamed in when on the store's filesystem.
        return Self.recipeImage(try store.commit(rootfs: rootfs, metadata: metadata, as: tag, move: true))
    }

    func checkout(_ image: RecipeImage, to path: String, settings: RecipeSettings) throws {
        _ = try store(settings).checkout(try ImageTag(parsing: image.tag), to: path)
    }
}

/// Builds: `BuildEngine` over the store (as `firebuild rootfs --dockerfile`), or a pull for
/// `docker_image` (as `firebuild rootfs --docker-image`).
final class LiveBuilder: RecipeBuilder {
    let images: LiveImages
    let logger = makeLogger("recipe")
    init(images: LiveImages) { self.images = images }

    func build(_ r: RecipeBuildRequest, observer: RecipeBuildObserver?, settings: RecipeSettings) throws -> RecipeImage {
        let tag = try ImageTag(parsing: r.tag)
        if let reference = r.dockerImage {
            guard r.preBuildCommands.isEmpty, r.postBuildCommands.isEmpty else {
                throw FirebuildError(.unsupported, "firebuild.\(r.kind.rawValue) \(r.tag): pre/post build commands need a Dockerfile; docker_image only converts the image (wrap it: dockerfile = \"FROM \(reference)\\nRUN …\")")
            }
            if let base = r.dockerImageBase { logger.debug("docker_image_base is not needed: every layer of the image is applied", metadata: ["base": .string(base)]) }
            let pulled = try images.service(settings).pull(reference, tag: tag)
            return LiveImages.recipeImage(pulled)
        }
        guard let dockerfile = r.dockerfile else {
            throw FirebuildError(.invalidArgument, "firebuild.\(r.kind.rawValue) \(r.tag): give dockerfile or docker_image")
        }
        let storage = settings.storage
        var machine = BuildMachine(kernelID: r.vmlinuxID, kernelStoreRoot: storage.kernelRoot)
        if let mem = r.mem { machine.memMiB = mem }
        if let cpu = r.cpu { machine.vcpus = cpu }
        let adapter = observer.map(ObserverAdapter.init)
        var request = BuildRequest(dockerfile: dockerfile, context: r.context, tag: tag.description, target: r.target,
                                   buildArgs: r.buildArgs, noCache: r.noCache, timeout: r.timeout, machine: machine,
                                   preBuildCommands: r.preBuildCommands, postBuildCommands: r.postBuildCommands,
                                   filesystemSizeMiB: r.filesystemSizeMiB, cniNetworkName: r.cniNetworkName,
                                   observer: adapter)
        // The build VMs' network uses the session's CNI settings, as `vm.run` does.
        request.cni = BuildCNISettings(confDir: r.cniConfDir ?? settings.cniConfDir, binDirs: settings.cniBinDirs,
                                       cacheDir: settings.cniCacheDir, hostNamespace: settings.hostNetns)
        request.secrets = r.secrets.mapValues { $0.hasPrefix("env:") ? .env(String($0.dropFirst(4))) : .file($0) }
        let engine = BuildEngine(images: StoreImageProvider(storage: storage), paths: settings.runPaths)
        try withGuestInit(settings) { _ = try engine.build(request) }
        guard let built = try images.store(settings).find(tag) else {
            throw FirebuildError(.internal, "the build of \(r.tag) finished but the store has no such tag")
        }
        return LiveImages.recipeImage(built)
    }

    /// The Build engine finds the guest init itself (FIREBUILD_INIT overrides); a recipe's
    /// `guest_init` setting is passed the same way for the duration of the build.
    func withGuestInit(_ settings: RecipeSettings, _ body: () throws -> Void) throws {
        guard let path = settings.guestInit else { return try body() }
        let previous = ProcessInfo.processInfo.environment["FIREBUILD_INIT"]
        setenv("FIREBUILD_INIT", path, 1)
        defer { if let previous { setenv("FIREBUILD_INIT", previous, 1) } else { unsetenv("FIREBUILD_INIT") } }
        try body()
    }
}

/// Build's observer in front of the recipe's. The live engine never exposes a step's
/// filesystem (it is a running VM's qcow2 overlay), so `after_step` hooks get `rootfs = nil`.
/// Output lines arrive on the guest channel's reader thread while the building thread waits, and
/// a Lua state belongs to one thread: they are queued and handed to `on_output` on the building
/// thread just before `after_step` (so per step, not live).
final class ObserverAdapter: BuildObserver, @unchecked Sendable {
    let target: RecipeBuildObserver
    private let lock = NSLock()
    private var pending: [(BuildStepInfo, String)] = []
    init(_ target: RecipeBuildObserver) { self.target = target }

    func flush() throws {
        lock.lock(); let lines = pending; pending = []; lock.unlock()
        for (step, line) in lines { try target.onOutput(step, line: line) }
    }
    func beforeBuild(stages: [String], steps: [BuildStepInfo]) throws { try target.beforeBuild(stages: stages, steps: steps) }
    func beforeStep(_ step: BuildStepInfo) throws { try flush(); try target.beforeStep(step) }
    func onOutput(_ step: BuildStepInfo, line: String) throws { lock.lock(); pending.append((step, line)); lock.unlock() }
    func afterStep(_ step: BuildStepInfo, outcome: BuildStepOutcome) throws {
        try flush()
        try target.afterStep(step, outcome: outcome, rootfs: nil)
    }
}

/// A root filesystem file edited with debugfs (hooks get a private copy, never the stored file).
final class Ext4FileEditor: RootfsEditor {
    let image: String
    init(image: String) throws {
        guard FileManager.default.fileExists(atPath: image) else { throw FirebuildError(.notFound, "root filesystem \(image) does not exist") }
        self.image = image
    }
    func read(_ path: String) throws -> Data { try Ext4Inspector.readFile(image: image, path: path) }
    func exists(_ path: String) throws -> Bool { try Ext4Inspector.exists(image: image, path: path) }
    func write(_ path: String, data: Data, mode: UInt32, uid: UInt32, gid: UInt32) throws {
        try Ext4Editor.apply([.writeData(data, path: path, mode: mode, uid: uid, gid: gid)], to: image)
    }
    func mkdir(_ path: String, mode: UInt32) throws { try Ext4Editor.apply([.mkdir(path: path, mode: mode)], to: image) }
    func chmod(_ path: String, mode: UInt32) throws { try Ext4Editor.apply([.chmod(path: path, mode: mode)], to: image) }
    func remove(_ path: String, recursive: Bool) throws { try Ext4Editor.apply([.remove(path: path, recursive: recursive)], to: image) }
    func list(_ directory: String) throws -> [String] { try Ext4Inspector.list(image: image, directory: directory) }
}

/// Stored profiles (`firebuild profile-create`) as vm.run defaults.
enum LiveProfiles {
    static func load(_ name: String, settings: RecipeSettings) throws -> StoredProfileValues {
        let p = try ProfileStore(directory: settings.profileConfDir).read(name)
        let storage = p.storageStrings ?? [:]
        return StoredProfileValues(mem: p.mem, cpu: p.cpu, vmlinuxID: p.vmlinuxID, cniNetworkName: p.cniNetworkName, vmm: p.vmm,
                                   runCache: p.runCache, rootfsStorageRoot: storage["rootfs-storage-root"],
                                   kernelStorageRoot: storage["kernel-storage-root"])
    }
}
