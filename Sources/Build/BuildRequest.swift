import Dockerfile
import FirebuildCore
import Foundation

/// Everything `firebuild rootfs --dockerfile` (and the Lua `build` call) can ask for.
public struct BuildRequest: Sendable {
    /// `--dockerfile`: a path, literal text, an http(s) URL or a git URL.
    public var dockerfile: String
    public var context: String?
    public var tag: String
    public var target: String?
    public var buildArgs: [String: String]
    public var noCache: Bool
    /// Whole-build deadline in seconds.
    public var timeout: TimeInterval?
    /// A step that prints nothing for this long is considered hung and fails the build.
    public var stepInactivityTimeout: TimeInterval
    public var machine: BuildMachine
    /// Run in the target stage's VM before / after its Dockerfile steps (`/bin/sh -c`, root, `/`), as the original did.
    public var preBuildCommands: [String]
    public var postBuildCommands: [String]
    public var filesystemSizeMiB: Int?
    /// RUN steps get network through this CNI network, attached like `firebuild run` attaches a VM;
    /// none (loopback only) when nil. `RUN --network=none` steps get loopback only either way.
    public var cniNetworkName: String?
    /// Where the CNI configuration, plugins and result cache are (used with `cniNetworkName`).
    public var cni = BuildCNISettings()
    /// Where build output lines go (`[stage 1/2 step 3/7] …`).
    public var output: @Sendable (String) -> Void
    /// Build secrets by id, for `RUN --mount=type=secret` (`--secret id=ID,src=PATH|env=VAR`).
    /// Their values are read when a step needs them, never logged nor part of a cache key.
    public var secrets: [String: BuildSecretSource] = [:]
    /// Step callbacks (recipe hooks); called on the building thread, or the step's output reader for `onOutput`.
    nonisolated(unsafe) public var observer: BuildObserver?

    public init(dockerfile: String, context: String? = nil, tag: String, target: String? = nil, buildArgs: [String: String] = [:],
                noCache: Bool = false, timeout: TimeInterval? = nil, stepInactivityTimeout: TimeInterval = 900,
                machine: BuildMachine = BuildMachine(), preBuildCommands: [String] = [], postBuildCommands: [String] = [],
                filesystemSizeMiB: Int? = nil, cniNetworkName: String? = nil,
                output: @escaping @Sendable (String) -> Void = { print($0) }, observer: BuildObserver? = nil) {
        self.dockerfile = dockerfile; self.context = context; self.tag = tag; self.target = target
        self.buildArgs = buildArgs; self.noCache = noCache; self.timeout = timeout
        self.stepInactivityTimeout = stepInactivityTimeout; self.machine = machine
        self.preBuildCommands = preBuildCommands; self.postBuildCommands = postBuildCommands
        self.filesystemSizeMiB = filesystemSizeMiB; self.cniNetworkName = cniNetworkName; self.output = output
        self.observer = observer
    }
}

public struct BuildResult: Sendable {
    public var tag: String
    public var config: ImageConfig
    /// VMs booted: one per stage that had uncached steps.
    public var vmBoots: Int
    public var stepsRun: Int
    public var stepsCached: Int
    public var duration: TimeInterval
    /// Files COPY/ADD wrote from the build VMs' content disks (the rest went over the channel).
    public var filesFromContentDisk = 0
    /// Of `vmBoots`, the VMs started from a boot template instead of booting the kernel.
    public var vmRestores = 0
    /// Boot templates saved by this build (each an extra boot of a VM that runs no step: the
    /// first build VM of a machine shape on this run cache).
    public var bootTemplatesSaved = 0
}
