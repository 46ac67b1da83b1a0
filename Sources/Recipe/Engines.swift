import Build
import FirebuildCore
import Foundation
import Runtime

// The seam between the recipe bindings and firebuild's engines. Bindings check options, record
// dry-run plans and call hooks; the work itself goes to the same engine types the CLI commands call
// (Store `ImageStore`/`ImageService`, Build `BuildEngine`, Runtime `RunEngine`, RootFS
// `Ext4Editor`), through these protocols. `RecipeEngines.live` (LiveEngines.swift) wires the real
// ones; tests can pass their own.

/// An image in the store, as recipes see it.
public struct RecipeImage: Equatable, Sendable {
    /// Canonical tag (`org/name:version`).
    public var tag: String
    /// The ext4 root filesystem file.
    public var rootfsPath: String
    public var config: ImageConfig
    /// Where it came from (`dockerfile`, `docker-image`, a reference, `directory`, …).
    public var source: String?

    public init(tag: String, rootfsPath: String, config: ImageConfig, source: String? = nil) {
        self.tag = tag
        self.rootfsPath = rootfsPath
        self.config = config
        self.source = source
    }
}

public protocol RecipeImageService: AnyObject {
    func find(_ tag: String, settings: RecipeSettings) throws -> RecipeImage?
    func list(settings: RecipeSettings) throws -> [RecipeImage]
    /// `firebuild image pull`: a registry image converted to ext4 and tagged (default tag from the reference).
    func pull(reference: String, tag: String?, settings: RecipeSettings) throws -> RecipeImage
    /// `firebuild image import`: a docker-archive/OCI-layout tarball.
    func importArchive(file: String, tag: String?, settings: RecipeSettings) throws -> RecipeImage
    func tag(_ source: String, as destination: String, settings: RecipeSettings) throws -> RecipeImage
    func remove(_ tag: String, settings: RecipeSettings) throws
    /// An ext4 image made from a directory tree, stored under `tag` (Dockerfile-free images).
    func commit(tree: String, tag: String, config: ImageConfig, sizeMiB: Int?, settings: RecipeSettings) throws -> RecipeImage
    /// Replaces the stored image's root filesystem and config (after hooks edited a copy).
    func recommit(_ image: RecipeImage, rootfs: String, config: ImageConfig, settings: RecipeSettings) throws -> RecipeImage
    /// A private copy of the image's root filesystem to edit.
    func checkout(_ image: RecipeImage, to path: String, settings: RecipeSettings) throws
}

/// `firebuild rootfs` / `firebuild baseos` as one request.
public struct RecipeBuildRequest: Equatable, Sendable {
    public enum Kind: String, Sendable { case rootfs, baseos }
    public var kind: Kind = .rootfs
    /// Dockerfile path, URL, git URL or literal text.
    public var dockerfile: String?
    /// `docker_image` (with `docker_image_base`): build from an existing image instead.
    public var dockerImage: String?
    public var dockerImageBase: String?
    public var context: String?
    public var tag: String
    public var target: String?
    public var buildArgs: [String: String] = [:]
    public var noCache = false
    public var preBuildCommands: [String] = []
    public var postBuildCommands: [String] = []
    public var filesystemSizeMiB: Int?
    public var cniNetworkName: String?
    public var cniConfDir: String?
    public var mem: Int?
    public var cpu: Int?
    public var vmlinuxID: String?
    public var timeout: TimeInterval?
    /// Build secrets by id (RUN --mount=type=secret): an absolute file path, or `env:VAR`.
    public var secrets: [String: String] = [:]

    public init(tag: String) {
        self.tag = tag
    }
}

/// What the builder reports to hooks: the Build engine's step types (Build `BuildObserver`).
public typealias BuildStepInfo = Build.BuildStepInfo
public typealias BuildStepOutcome = Build.BuildStepOutcome

/// Edits to a root filesystem without booting it (debugfs-based, RootFS `Ext4Editor`).
public protocol RootfsEditor: AnyObject {
    func read(_ path: String) throws -> Data
    func exists(_ path: String) throws -> Bool
    func write(_ path: String, data: Data, mode: UInt32, uid: UInt32, gid: UInt32) throws
    func mkdir(_ path: String, mode: UInt32) throws
    func chmod(_ path: String, mode: UInt32) throws
    func remove(_ path: String, recursive: Bool) throws
    func list(_ directory: String) throws -> [String]
}

/// The build callbacks recipe `hooks` plug into: Build's `BuildObserver` plus the step's root
/// filesystem in `afterStep`. Any throw fails the build with that error. `rootfs` is nil when the
/// engine cannot expose the step's filesystem cheaply (the live Build engine never does: a step's
/// filesystem is a running VM's qcow2 overlay); `after_build` always gets the stored image.
public protocol RecipeBuildObserver: AnyObject {
    func beforeBuild(stages: [String], steps: [BuildStepInfo]) throws
    func beforeStep(_ step: BuildStepInfo) throws
    func onOutput(_ step: BuildStepInfo, line: String) throws
    func afterStep(_ step: BuildStepInfo, outcome: BuildStepOutcome, rootfs: RootfsEditor?) throws
}

public protocol RecipeBuilder: AnyObject {
    func build(_ request: RecipeBuildRequest, observer: RecipeBuildObserver?, settings: RecipeSettings) throws -> RecipeImage
}

/// `firebuild run` as one request (flags in Swift form).
public struct RecipeRunRequest: Sendable {
    /// What `firebuild run` takes; the recipe's options fill it.
    public var run: RunRequest
    /// false: the recipe waits for the workload (`vm:wait()`, `on_exit`); VMs start daemonized either way.
    public var daemonize = true
    /// Per VM, where the recipe's settings would otherwise decide: a `firebuild.network{…}` object's
    /// conf dir, and `vmm = "qemu"|"firecracker"`.
    public var cniConfDir: String?
    public var vmm: String?

    public init(from: String) {
        run = RunRequest(from: from)
    }
}

public struct RecipeVMInfo: Equatable, Sendable {
    public var id: String
    public var ip: String?
    public var running: Bool
    public var image: String?
    public init(id: String, ip: String?, running: Bool = true, image: String? = nil) {
        self.id = id
        self.ip = ip
        self.running = running
        self.image = image
    }
}

public struct RecipeExecResult: Equatable, Sendable {
    public var code: Int
    public var stdout: Data
    public var stderr: Data
    public init(code: Int, stdout: Data, stderr: Data) {
        self.code = code
        self.stdout = stdout
        self.stderr = stderr
    }
}

public protocol RecipeRunner: AnyObject {
    /// Boots the VM and returns once its guest is ready (the recipe keeps control: a foreground run
    /// is `vm:wait()`).
    func start(_ request: RecipeRunRequest, settings: RecipeSettings) throws -> RecipeVMInfo
    func exec(id: String, argv: [String], timeout: TimeInterval?, settings: RecipeSettings) throws -> RecipeExecResult
    func logs(id: String, settings: RecipeSettings) throws -> String
    /// Waits up to `timeout` for the workload to exit; its exit code, or nil when still running.
    func wait(id: String, timeout: TimeInterval, settings: RecipeSettings) throws -> Int?
    func stop(id: String, timeout: TimeInterval, settings: RecipeSettings) throws
    /// `firebuild inspect` as JSON.
    func inspect(id: String, settings: RecipeSettings) throws -> Data
    func list(settings: RecipeSettings) throws -> [RecipeVMInfo]
    func purge(settings: RecipeSettings) throws -> [String]
}

/// The engines a recipe run uses.
public struct RecipeEngines {
    public var images: RecipeImageService
    public var builder: RecipeBuilder
    public var runner: RecipeRunner
    /// Opens an ext4 root filesystem file for editing (hooks' `rootfs` objects).
    public var openRootfs: (String) throws -> RootfsEditor
    /// Reads a stored profile (`--profile-conf-dir` from the settings); nil when unavailable.
    public var loadProfile: ((String, RecipeSettings) throws -> StoredProfileValues)?

    public init(images: RecipeImageService, builder: RecipeBuilder, runner: RecipeRunner,
                openRootfs: @escaping (String) throws -> RootfsEditor,
                loadProfile: ((String, RecipeSettings) throws -> StoredProfileValues)? = nil) {
        self.images = images
        self.builder = builder
        self.runner = runner
        self.openRootfs = openRootfs
        self.loadProfile = loadProfile
    }
}
