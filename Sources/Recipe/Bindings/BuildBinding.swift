import FirebuildCore
import Foundation
import LuaRuntime

/// `firebuild.rootfs{…}` and `firebuild.baseos{…}`: the `firebuild rootfs` / `firebuild baseos`
/// builds, through the Build engine, with hooks. A tag that exists and was built by a recipe from
/// the same inputs is reused without starting a build (`rebuild = true` forces one); otherwise the
/// build cache makes unchanged steps free.
public enum BuildBinding: RecipeBinding {
    static let rootfsKeys = ["dockerfile", "docker_image", "docker_image_base", "context", "tag", "target", "build_args", "no_cache",
                             "pre_build_commands", "post_build_commands", "filesystem_size_mbs", "network", "cni_network_name",
                             "mem", "cpu", "kernel", "vmlinux_id", "timeout", "hooks", "rebuild", "secrets"]
    static let baseosKeys = ["dockerfile", "context", "tag", "build_args", "filesystem_size_mbs", "hooks", "rebuild", "no_cache", "secrets"]

    public static func register(into firebuild: LuaModule, vm: LuaVM, context: RecipeContext) throws {
        firebuild.function("rootfs") { args in
            let o = try OptionTable(args, function: "firebuild.rootfs", keys: rootfsKeys)
            return [try build(o, kind: .rootfs, context: context)]
        }
        firebuild.function("baseos") { args in
            let o = try OptionTable(args, function: "firebuild.baseos", keys: baseosKeys)
            return [try build(o, kind: .baseos, context: context)]
        }
    }

    static func request(_ o: OptionTable, kind: RecipeBuildRequest.Kind, context: RecipeContext) throws -> RecipeBuildRequest {
        var r = RecipeBuildRequest(tag: try o.requiredString("tag"))
        r.kind = kind
        if let d = try o.string("dockerfile") {
            // A path relative to the recipe when such a file exists; otherwise text or a URL.
            let resolved = context.resolve(d)
            r.dockerfile = !d.contains("\n") && FileManager.default.fileExists(atPath: resolved) ? resolved : d
        }
        if kind == .rootfs {
            r.dockerImage = try o.string("docker_image")
            r.dockerImageBase = try o.string("docker_image_base")
        }
        guard (r.dockerfile == nil) != (r.dockerImage == nil) else {
            throw FirebuildError(.invalidArgument, kind == .rootfs
                ? "firebuild.rootfs needs exactly one of dockerfile (path, URL, git URL or text) or docker_image"
                : "firebuild.baseos needs option \"dockerfile\"")
        }
        if r.dockerImage != nil && r.dockerImageBase == nil {
            throw FirebuildError(.invalidArgument, "firebuild.rootfs: docker_image needs docker_image_base (the base OS tag to build on)")
        }
        r.context = try o.string("context").map(context.resolve)
            ?? r.dockerfile.flatMap { FileManager.default.fileExists(atPath: $0) ? ($0 as NSString).deletingLastPathComponent : nil }
        r.buildArgs = try o.stringMap("build_args") ?? [:]
        r.noCache = try o.bool("no_cache") ?? false
        // secrets = { npmrc = "secrets/npmrc", token = "env:API_TOKEN" }: files relative to the recipe.
        for (id, value) in try o.stringMap("secrets") ?? [:] {
            r.secrets[id] = value.hasPrefix("env:") ? value : context.resolve(value)
        }
        r.filesystemSizeMiB = try o.int("filesystem_size_mbs")
        if kind == .rootfs {
            r.target = try o.string("target")
            r.preBuildCommands = try o.stringList("pre_build_commands") ?? []
            r.postBuildCommands = try o.stringList("post_build_commands") ?? []
            if let net = try o.object("network", as: NetworkObject.self, typeName: "a firebuild.Network") {
                r.cniNetworkName = net.spec.name
                r.cniConfDir = net.confDir
            } else {
                r.cniNetworkName = try o.string("network") ?? o.string("cni_network_name")
            }
            r.mem = try o.int("mem")
            r.cpu = try o.int("cpu")
            if let k = try o.object("kernel", as: KernelObject.self, typeName: "a firebuild.Kernel") { r.vmlinuxID = k.id } else {
                r.vmlinuxID = try o.string("kernel") ?? o.string("vmlinux_id")
            }
            r.timeout = try o.double("timeout")
        }
        return r
    }

    static func build(_ o: OptionTable, kind: RecipeBuildRequest.Kind, context: RecipeContext) throws -> LuaValue {
        let session = context.session
        let req = try request(o, kind: kind, context: context)
        let hooks = try o.luaTable("hooks").map { try OptionTable($0, function: "hooks of firebuild.\(kind.rawValue)", keys: LuaBuildObserver.keys) }
        let observer = try hooks.map(LuaBuildObserver.init)
        let what = req.dockerImage.map { "image \($0) on \(req.dockerImageBase ?? "")" }
            ?? (req.dockerfile.map { $0.contains("\n") ? "inline Dockerfile" : "Dockerfile \($0)" } ?? "")
        if context.dryRun {
            session.plan.record("build", "\(kind.rawValue) \(req.tag) from \(what)"
                + (req.buildArgs.isEmpty ? "" : " with build args \(req.buildArgs.keys.sorted().joined(separator: ", "))")
                + (observer == nil ? "" : " (with hooks)"), tag: req.tag)
            return .userdata(ImageObject(RecipeImage(tag: req.tag, rootfsPath: session.settings.effectiveRootfsRoot + "/" + req.tag,
                                                     config: ImageConfig(), source: what), planned: true))
        }
        let images = session.engines.images
        let record = BuildInputs(settings: session.settings)
        let inputs = try BuildInputs.digest(req, excluding: [session.settings.home, session.settings.effectiveRunCache,
                                                             session.settings.effectiveRootfsRoot])
        if !(try o.bool("rebuild") ?? false), !req.noCache, let existing = try images.find(req.tag, settings: session.settings),
           record.matches(tag: existing.tag, inputs: inputs, rootfs: existing.rootfsPath) {
            context.logger.info("image reused: inputs unchanged", metadata: ["tag": .string(existing.tag)])
            return .userdata(ImageObject(existing))
        }
        var built = try session.engines.builder.build(req, observer: observer, settings: session.settings)
        if let observer {
            built = try afterBuild(built, observer: observer, engines: session.engines, settings: session.settings)
        }
        try record.save(tag: built.tag, inputs: inputs, rootfs: built.rootfsPath)
        return .userdata(ImageObject(built))
    }

    /// Runs `after_build(rootfs)` on a private copy and stores the copy when the hook changed it
    /// (labels from `after_step` hooks too).
    static func afterBuild(_ image: RecipeImage, observer: LuaBuildObserver, engines: RecipeEngines,
                           settings: RecipeSettings) throws -> RecipeImage {
        var labels = observer.labels
        var edited: String?
        defer { if let edited { try? FileManager.default.removeItem(atPath: edited) } }
        if let hook = observer.afterBuildHook {
            let copy = settings.effectiveRunCache + "/tmp/after-build-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).ext4"
            try FileManager.default.createDirectory(atPath: (copy as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try engines.images.checkout(image, to: copy, settings: settings)
            edited = copy
            let object = RootfsObject(editor: try engines.openRootfs(copy))
            defer { object.open = false }
            try hook.call([.userdata(object)])
            labels.merge(object.labels) { _, new in new }
            if !object.changed { edited = nil; try? FileManager.default.removeItem(atPath: copy) }
        }
        guard edited != nil || !labels.isEmpty else { return image }
        var config = image.config
        if !labels.isEmpty { config.labels = (config.labels ?? [:]).merging(labels) { _, new in new } }
        if edited == nil {
            let copy = settings.effectiveRunCache + "/tmp/relabel-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).ext4"
            try engines.images.checkout(image, to: copy, settings: settings)
            edited = copy
        }
        return try engines.images.recommit(image, rootfs: edited!, config: config, settings: settings)
    }
}

/// What a recipe built each tag from, so a re-run can reuse the tag: `<run cache>/recipes/inputs/…`.
struct BuildInputs {
    let dir: String

    init(settings: RecipeSettings) {
        dir = settings.recipeStateDir + "/inputs"
    }

    struct Record: Codable { var tag: String; var inputs: String; var rootfsSize: Int64; var rootfsModified: Double }

    /// Digest of the request and of what it reads: the Dockerfile's text and the context's file
    /// list with sizes and modification times.
    /// `excluding`: firebuild's own state directories, when they sit inside the context.
    static func digest(_ r: RecipeBuildRequest, excluding: [String] = []) throws -> String {
        var h = StreamingSHA256()
        func add(_ s: String) { h.update(Data((s + "\u{0}").utf8)) }
        add(r.kind.rawValue); add(r.tag); add(r.target ?? ""); add(r.dockerImage ?? ""); add(r.dockerImageBase ?? "")
        for (k, v) in r.buildArgs.sorted(by: { $0.key < $1.key }) { add("\(k)=\(v)") }
        for c in r.preBuildCommands { add("pre:" + c) }
        for c in r.postBuildCommands { add("post:" + c) }
        add("\(r.filesystemSizeMiB ?? 0)")
        if let d = r.dockerfile {
            if FileManager.default.fileExists(atPath: d), let data = FileManager.default.contents(atPath: d) { h.update(data) } else { add(d) }
        }
        if let c = r.context, let walker = FileManager.default.enumerator(atPath: c) {
            var entries: [String] = []
            while let rel = walker.nextObject() as? String {
                if rel == ".git" || excluding.contains(c + "/" + rel) { walker.skipDescendants(); continue }
                var st = stat()
                guard lstat(c + "/" + rel, &st) == 0 else { continue }
                entries.append("\(rel) \(st.st_size) \(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec) \(st.st_mode)")
                if entries.count > 200_000 { break }
            }
            for e in entries.sorted() { add(e) }
        }
        return h.finalize().hex
    }

    private func path(_ tag: String) -> String {
        dir + "/" + ContentDigest.sha256(Data(tag.utf8)).hex.prefix(32) + ".json"
    }

    private static func fileStamp(_ path: String) -> (Int64, Double)? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return (Int64(st.st_size), Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9)
    }

    func matches(tag: String, inputs: String, rootfs: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: path(tag)),
              let r = try? JSONDecoder().decode(Record.self, from: data), let stamp = Self.fileStamp(rootfs) else { return false }
        return r.tag == tag && r.inputs == inputs && r.rootfsSize == stamp.0 && r.rootfsModified == stamp.1
    }

    func save(tag: String, inputs: String, rootfs: String) throws {
        guard let stamp = Self.fileStamp(rootfs) else { return }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try AtomicFile.writeJSON(Record(tag: tag, inputs: inputs, rootfsSize: stamp.0, rootfsModified: stamp.1), to: path(tag))
    }
}
