import Dockerfile
import FirebuildCore
import Foundation
import Logging
import VM

/// Builds a Dockerfile into a tagged ext4 root filesystem, one microVM per stage with uncached
/// steps, every step's disk state an immutable qcow2 layer of the cache.
public final class BuildEngine {
    public let images: ImageProvider
    public let cache: BuildCache
    public let paths: FirebuildPaths
    let logger = makeLogger("build")

    public init(images: ImageProvider, cache: BuildCache? = nil, paths: FirebuildPaths = FirebuildPaths()) {
        self.images = images
        self.paths = paths
        self.cache = cache ?? BuildCache(root: paths.buildCache)
    }

    /// Where a stage's filesystem currently is: a cached layer (step key) or a base.
    struct ChainPoint {
        var stepKey: String?
        var baseKey: String
        var path: String
        var key: String { stepKey ?? "base:" + baseKey }
    }

    struct StageOutcome {
        var point: ChainPoint
        var config: ImageConfig
        var rawImage: String?
        /// Mount targets the guest init had to create (the stage's base lacked them): see MountStubs.
        var mountStubs: [String] = []
    }

    public func build(_ request: BuildRequest) throws -> BuildResult {
        try FirebuildTracing.span("build", attributes: [FirebuildSpanKey.tag: request.tag.description]) { span in
            let result = try buildTraced(request)
            span.attributes["firebuild.build.vm_boots"] = result.vmBoots
            span.attributes["firebuild.build.steps_run"] = result.stepsRun
            span.attributes["firebuild.build.steps_cached"] = result.stepsCached
            return result
        }
    }

    private func buildTraced(_ request: BuildRequest) throws -> BuildResult {
        let started = Date()
        let deadline = request.timeout.map { started.addingTimeInterval($0) }
        // Leftovers of a killed build stay here for `firebuild purge` (the scratch's lock tells it
        // the build is gone); a finished build removes them.
        let scratchDir = try BuildScratch.create(in: paths.buildsDir, now: started)
        defer { scratchDir.remove() }
        let scratch = scratchDir.path

        let source = try DockerfileSource.classify(request.dockerfile)
        let resolved = try DockerfileResolver().resolve(source, contextOverride: request.context, scratch: scratch)
        let parsed = try Dockerfile.parse(text: resolved.text, fileName: (resolved.fileName as NSString).lastPathComponent)
        var bases: [String: BaseImage] = [:]
        func base(_ ref: String) throws -> BaseImage {
            if let b = bases[ref] { return b }
            let b = try images.baseImage(ref, platform: .linuxAMD64)
            bases[ref] = b
            return b
        }
        let plan = try BuildPlan.make(from: parsed, buildArgs: request.buildArgs, target: request.target,
                                      baseConfig: { ref, _ in try base(ref).config })
        for w in plan.warnings { logger.warning("\(parsed.fileName):\(w.line): \(w.message)") }
        if let observer = request.observer {
            let steps = plan.stages.flatMap { stage in
                stage.index == plan.target ? stage.observerSteps(pre: request.preBuildCommands, post: request.postBuildCommands)
                    : stage.observerSteps(pre: [], post: [])
            }
            try observer.beforeBuild(stages: plan.stages.map(\.observerName), steps: steps)
        }
        _ = try BootFiles.guestInit(configured: nil)  // fail before any work when `make init` was not run
        let layers = BaseLayers(cache: cache)
        var outcomes: [Int: StageOutcome] = [:]
        var counters = (boots: 0, restores: 0, templatesSaved: 0, run: 0, cached: 0, diskFiles: 0)

        for (n, stage) in plan.stages.enumerated() {
          try FirebuildTracing.span("build.stage", attributes: [FirebuildSpanKey.stage: stage.name ?? String(stage.index)]) { span in
            let isTarget = stage.index == plan.target
            let start: ChainPoint
            let stubs: [String]
            switch stage.base {
            case .scratch:
                let k = try layers.prepare(image: nil, sizeMiB: request.filesystemSizeMiB)
                start = ChainPoint(stepKey: nil, baseKey: k, path: cache.basePath(k))
                stubs = try MountStubs.absent(in: nil)
            case .image(let ref):
                let k = try layers.prepare(image: try base(ref), sizeMiB: request.filesystemSizeMiB)
                start = ChainPoint(stepKey: nil, baseKey: k, path: cache.basePath(k))
                stubs = try MountStubs.absent(in: try base(ref).rootfsPath)
            case .stage(let i):
                guard let o = outcomes[i] else { throw FirebuildError(.internal, "stage \(i) was not built before stage \(stage.index)") }
                start = o.point
                stubs = o.mountStubs
            }
            var planner = StageStepPlanner(context: resolved.context, scratch: scratch) { [unowned self] from, paths in
                try self.fromTree(from, paths: paths, plan: plan, outcomes: &outcomes, scratch: scratch, base: base)
            }
            planner.fileName = parsed.fileName
            let steps = try planner.steps(stage, pre: isTarget ? request.preBuildCommands : [],
                                          post: isTarget ? request.postBuildCommands : [], startKey: start.key)
            let runner = StageRunner(engine: self, request: request, stageLabel: "stage \(n + 1)/\(plan.stages.count)", stageName: stage.observerName,
                                     fileName: parsed.fileName, scratch: scratch, deadline: deadline)
            let (point, stats) = try runner.run(steps, from: start, noCache: request.noCache)
            counters.boots += stats.boots
            counters.restores += stats.restores
            counters.templatesSaved += stats.templatesSaved
            counters.run += stats.run
            counters.cached += stats.cached
            counters.diskFiles += stats.diskFiles
            outcomes[stage.index] = StageOutcome(point: point, config: stage.config, rawImage: nil, mountStubs: stubs)
            span.attributes["firebuild.build.steps_cached"] = stats.cached
            span.attributes["firebuild.build.steps_run"] = stats.run
          }
        }

        guard let final = outcomes[plan.target], let targetStage = plan.targetStage else {
            throw FirebuildError(.internal, "the target stage was not built")
        }
        var parent: BaseImage?
        if case .image(let ref) = targetStage.base { parent = bases[ref] }
        // Everything the stored result depends on: an unchanged rebuild whose tag already holds
        // this result exports and commits nothing (the export is most of a cached build's time).
        // Not with an observer: recipe hooks may edit the stored image after the build, so it
        // would no longer be the result the key names (recipes reuse unchanged tags themselves).
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let configJSON = (try? encoder.encode(final.config)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        let resultKey = StepKey.key(parent: final.point.key, parts: [
            "result", "size=\(request.filesystemSizeMiB.map(String.init) ?? "shrink")", final.mountStubs.joined(separator: ","),
            configJSON, parent?.reference ?? "", parent?.identity ?? "", source.description])
        if !request.noCache, request.observer == nil, images.resultKey(of: request.tag) == resultKey {
            logger.debug("unchanged result: \(request.tag) already holds it", metadata: ["result-key": "\(resultKey.prefix(12))"])
        } else {
            let image = try FirebuildTracing.span("build.export") { _ in
                try export(final.point, scratch: scratch, name: "final", sizeMiB: request.filesystemSizeMiB, shrink: true,
                           removing: final.mountStubs)
            }
            try images.commit(rootfs: image, config: final.config, tag: request.tag, parent: parent, dockerfile: source.description,
                              resultKey: resultKey)
        }
        let result = BuildResult(tag: request.tag, config: final.config, vmBoots: counters.boots, stepsRun: counters.run,
                                 stepsCached: counters.cached, duration: Date().timeIntervalSince(started),
                                 filesFromContentDisk: counters.diskFiles, vmRestores: counters.restores,
                                 bootTemplatesSaved: counters.templatesSaved)
        logger.info("built \(request.tag)", metadata: ["vm-boots": "\(result.vmBoots)", "vm-restores": "\(result.vmRestores)",
                                                      "boot-templates-saved": "\(result.bootTemplatesSaved)",
                                                      "steps-run": "\(result.stepsRun)",
                                                      "steps-cached": "\(result.stepsCached)",
                                                      "seconds": "\(String(format: "%.1f", result.duration))"])
        return result
    }

    /// A standalone raw ext4 of a chain point: qemu-img convert of the layer chain, checked,
    /// then shrunk (plus headroom) or sized as asked.
    func export(_ point: ChainPoint, scratch: String, name: String, sizeMiB: Int?, shrink: Bool, removing stubs: [String] = []) throws -> String {
        let out = "\(scratch)/\(name).raw"
        unlink(out)
        try Command("qemu-img", ["convert", "-O", "raw", point.path, out]).check()
        try MountStubs.remove(stubs, from: out)
        let fsck = try Command("e2fsck", ["-fy", out]).run()
        guard fsck.status <= 1 else { throw FirebuildError(.subprocess, "e2fsck of the built image failed: \(fsck.stdoutString.suffix(400))") }
        if let sizeMiB {
            try Command("resize2fs", ["-f", out, "\(sizeMiB)M"]).check()
        } else if shrink {
            try Command("resize2fs", ["-M", out]).check()
            var st = stat()
            if stat(out, &st) == 0 {
                let headroom = max(Int64(64 << 20), Int64(st.st_size) / 5)  // room for the VM's own writes
                let target = (Int64(st.st_size) + headroom) >> 20
                try Command("resize2fs", ["-f", out, "\(target)M"]).check()
            }
        }
        return out
    }

    /// Host files for `COPY --from=stage|index|image`: the stage's (or image's) filesystem, extracted
    /// with debugfs from a raw export, limited to the source paths' directories.
    func fromTree(_ from: String, paths: [String], plan: BuildPlan, outcomes: inout [Int: StageOutcome], scratch: String,
                  base: (String) throws -> BaseImage) throws -> (tree: SourceTree, identity: String) {
        // The extracted files are kept in the build cache under their source's identity (a stage's
        // chain key names its content; an image's file identity changes with it): a rebuild
        // neither exports the stage again nor runs debugfs.
        let stage = plan.stages.first(where: { $0.name == from.lowercased() || (Int(from) == $0.index) })
        var image: BaseImage?
        let identity: String
        if let stage, let o = outcomes[stage.index] {
            identity = "stage:" + o.point.key + "|" + o.mountStubs.joined(separator: ",")
        } else {
            let img = try base(from)
            image = img
            identity = "image:" + img.identity
        }
        let dir = cache.fromTreePath(ContentDigest.sha256(identity + "\u{0}" + paths.joined(separator: "\u{0}")).hex)
        if FileManager.default.fileExists(atPath: dir) {
            utimes(dir, nil)  // last use, for `cache prune --older-than`
        } else {
            var raw = image?.rootfsPath ?? ""
            if let stage, var o = outcomes[stage.index] {
                if o.rawImage == nil {
                    o.rawImage = try export(o.point, scratch: scratch, name: "stage-\(stage.index)", sizeMiB: nil, shrink: false,
                                            removing: o.mountStubs)
                    outcomes[stage.index] = o
                }
                raw = o.rawImage ?? ""
            }
            try cache.storeFromTree(at: dir) { tmp in try StageFiles.extract(image: raw, paths: paths, into: tmp) }
        }
        return (SourceTree(root: dir, preserveOwnership: true, label: "--from=\(from)"), identity)
    }
}
