import Foundation
import FirebuildCore
import LuaRuntime
@testable import Recipe

/// In-memory engines: they record calls so binding tests can check what the recipe API asked for
/// (the real engines have their own tests in their modules).
final class FakeEngines: RecipeImageService, RecipeBuilder, RecipeRunner {
    var images: [String: RecipeImage] = [:]
    var calls: [String] = []
    var builds: [RecipeBuildRequest] = []
    var runs: [RecipeRunRequest] = []
    var trees: [String: [String]] = [:]
    /// Files of each rootfs path (what the fake editor edits).
    var files: [String: [String: Data]] = [:]
    var exitCode: Int? = 0
    var buildOutput = ["step output"]
    /// When set, images get a real (tiny) rootfs file there, so reuse stamps work.
    var rootDir: String?

    var engines: RecipeEngines {
        RecipeEngines(images: self, builder: self, runner: self, openRootfs: { [unowned self] path in FakeRootfs(engines: self, path: path) },
                      loadProfile: { name, _ in
                          guard name == "standard" else { throw FirebuildError(.notFound, "profile \(name) not found") }
                          return StoredProfileValues(mem: 512, cpu: 2, vmlinuxID: "cloud", cniNetworkName: "machines", runCache: "/srv/run")
                      })
    }

    static func canonical(_ tag: String) -> String { DryRunPlan.canonical(tag) }

    func store(_ tag: String, config: ImageConfig = ImageConfig(), source: String = "fake") -> RecipeImage {
        let t = Self.canonical(tag)
        var path = "/fake/\(t)/rootfs"
        if let rootDir {
            path = rootDir + "/" + t.replacingOccurrences(of: "/", with: "_") + ".ext4"
            FileManager.default.createFile(atPath: path, contents: Data(UUID().uuidString.utf8))
        }
        let image = RecipeImage(tag: t, rootfsPath: path, config: config, source: source)
        images[t] = image
        files[image.rootfsPath] = files[image.rootfsPath] ?? ["/etc/os-release": Data("fake\n".utf8)]
        return image
    }

    func find(_ tag: String, settings: RecipeSettings) throws -> RecipeImage? { images[Self.canonical(tag)] }
    func list(settings: RecipeSettings) throws -> [RecipeImage] { images.values.sorted { $0.tag < $1.tag } }
    func pull(reference: String, tag: String?, settings: RecipeSettings) throws -> RecipeImage {
        calls.append("pull \(reference)"); return store(tag ?? reference, source: reference)
    }
    func importArchive(file: String, tag: String?, settings: RecipeSettings) throws -> RecipeImage {
        calls.append("import \(file)"); return store(tag ?? "imported:1", source: file)
    }
    func tag(_ source: String, as destination: String, settings: RecipeSettings) throws -> RecipeImage {
        guard let s = images[Self.canonical(source)] else { throw FirebuildError(.notFound, "image \(source) not found") }
        return store(destination, config: s.config)
    }
    func remove(_ tag: String, settings: RecipeSettings) throws {
        guard images.removeValue(forKey: Self.canonical(tag)) != nil else { throw FirebuildError(.notFound, "image \(tag) not found") }
    }
    func commit(tree: String, tag: String, config: ImageConfig, sizeMiB: Int?, settings: RecipeSettings) throws -> RecipeImage {
        var listing: [String] = []
        if let e = FileManager.default.enumerator(atPath: tree) { while let p = e.nextObject() as? String { listing.append(p) } }
        trees[Self.canonical(tag)] = listing.sorted()
        return store(tag, config: config, source: "directory")
    }
    func recommit(_ image: RecipeImage, rootfs: String, config: ImageConfig, settings: RecipeSettings) throws -> RecipeImage {
        calls.append("recommit \(image.tag)")
        files[image.rootfsPath] = files[rootfs]
        var updated = image
        updated.config = config
        images[image.tag] = updated
        return updated
    }
    func checkout(_ image: RecipeImage, to path: String, settings: RecipeSettings) throws { files[path] = files[image.rootfsPath] ?? [:] }

    func build(_ request: RecipeBuildRequest, observer: RecipeBuildObserver?, settings: RecipeSettings) throws -> RecipeImage {
        builds.append(request)
        let text = request.dockerfile.flatMap { FileManager.default.contents(atPath: $0) }.map { String(decoding: $0, as: UTF8.self) }
            ?? request.dockerfile ?? ""
        let lines = text.split(separator: "\n").map(String.init).filter { !$0.isEmpty && !$0.hasPrefix("#") }
        let steps = lines.enumerated().map { BuildStepInfo(stage: "0", index: $0.offset + 1, count: lines.count, instruction: $0.element) }
        let image = store(request.tag, config: ImageConfig(cmd: ["/bin/sh"]), source: "dockerfile")
        try observer?.beforeBuild(stages: ["0"], steps: steps)
        for step in steps {
            try observer?.beforeStep(step)
            for line in buildOutput { try observer?.onOutput(step, line: line) }
            try observer?.afterStep(step, outcome: BuildStepOutcome(cached: false, seconds: 0.5), rootfs: FakeRootfs(engines: self, path: image.rootfsPath))
        }
        return images[image.tag]!
    }

    func start(_ request: RecipeRunRequest, settings: RecipeSettings) throws -> RecipeVMInfo {
        guard images[Self.canonical(request.run.from)] != nil else { throw FirebuildError(.notFound, "image \(request.run.from) not found") }
        runs.append(request)
        return RecipeVMInfo(id: request.run.name ?? "vm\(runs.count)", ip: request.run.cniNetworkName == nil ? nil : "10.0.0.\(runs.count + 1)",
                            image: request.run.from)
    }
    func exec(id: String, argv: [String], timeout: TimeInterval?, settings: RecipeSettings) throws -> RecipeExecResult {
        calls.append("exec \(id) \(argv.joined(separator: " "))")
        return RecipeExecResult(code: argv.last == "false" ? 1 : 0, stdout: Data((argv.last ?? "").utf8), stderr: Data())
    }
    func logs(id: String, settings: RecipeSettings) throws -> String { "console of \(id)" }
    func wait(id: String, timeout: TimeInterval, settings: RecipeSettings) throws -> Int? { calls.append("wait \(id)"); return exitCode }
    func stop(id: String, timeout: TimeInterval, settings: RecipeSettings) throws { calls.append("stop \(id)") }
    func inspect(id: String, settings: RecipeSettings) throws -> Data { Data(#"{"VMMID":"\#(id)","Running":true,"Mem":128}"#.utf8) }
    func list(settings: RecipeSettings) throws -> [RecipeVMInfo] { runs.enumerated().map { RecipeVMInfo(id: $0.element.run.name ?? "vm\($0.offset + 1)", ip: nil) } }
    func purge(settings: RecipeSettings) throws -> [String] { calls.append("purge"); return ["old1"] }
}

final class FakeRootfs: RootfsEditor {
    let engines: FakeEngines
    let path: String
    init(engines: FakeEngines, path: String) {
        self.engines = engines
        self.path = path
    }
    var tree: [String: Data] {
        get { engines.files[path] ?? [:] }
        set { engines.files[path] = newValue }
    }
    func read(_ p: String) throws -> Data {
        guard let d = tree[p] else { throw FirebuildError(.notFound, "\(p) not found in the image") }
        return d
    }
    func exists(_ p: String) throws -> Bool { tree[p] != nil }
    func write(_ p: String, data: Data, mode: UInt32, uid: UInt32, gid: UInt32) throws { tree[p] = data; engines.calls.append("write \(p) \(String(mode, radix: 8)) \(uid):\(gid)") }
    func mkdir(_ p: String, mode: UInt32) throws { engines.calls.append("mkdir \(p)") }
    func chmod(_ p: String, mode: UInt32) throws { engines.calls.append("chmod \(p) \(String(mode, radix: 8))") }
    func remove(_ p: String, recursive: Bool) throws {
        guard tree.removeValue(forKey: p) != nil else { throw FirebuildError(.notFound, "\(p) not found in the image") }
    }
    func list(_ d: String) throws -> [String] { tree.keys.filter { $0.hasPrefix(d) }.sorted() }
}

/// A VM whose session uses `engines`.
func recipeVM(path: String, engines: FakeEngines, dryRun: Bool = false) throws -> LuaVM {
    let context = RecipeContext(recipePath: path, dryRun: dryRun, environment: [:], logger: CapturedLogs().logger)
    context.session.engines = engines.engines
    return try ScriptRunner.makeVM(context: context, options: ScriptOptions(dryRun: dryRun))
}
