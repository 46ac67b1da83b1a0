import FirebuildCore
import Foundation
import LuaRuntime

/// A stored (or, in a dry run, planned) image: `:tag()`, `:config()` (OCI names), `:path()`.
public final class ImageObject {
    public var image: RecipeImage
    let planned: Bool

    init(_ image: RecipeImage, planned: Bool = false) {
        self.image = image
        self.planned = planned
    }
}

/// `firebuild.image.get(tag)`, `.exists(tag)`, `.ls()`, `.pull{ref=, tag=}`, `.import{file=, tag=}`,
/// `.tag(src, dst)`, `.rm(tag)`, `.from_files{tag=, dirs=, files=, symlinks=, config=, size_mib=}`,
/// `.from_directory{dir=, tag=, config=, size_mib=}`.
public enum ImageBinding: RecipeBinding {
    public static func register(into firebuild: LuaModule, vm: LuaVM, context: RecipeContext) throws {
        let session = context.session
        let plan = session.plan
        func images() -> RecipeImageService { session.engines.images }
        func planned(_ tag: String, _ source: String, config: ImageConfig = ImageConfig()) -> LuaValue {
            .userdata(ImageObject(RecipeImage(tag: tag, rootfsPath: session.settings.effectiveRootfsRoot + "/" + tag, config: config,
                                              source: source), planned: true))
        }

        try vm.registerType(ImageObject.self, name: "firebuild.Image", methods: [
            "tag": { i, _ in [.string(i.image.tag)] },
            "path": { i, _ in [.string(i.image.rootfsPath)] },
            "config": { i, _ in [ConfigConversion.toLua(i.image.config)] },
            "source": { i, _ in [i.image.source.map(LuaValue.string) ?? .nil] },
        ], tostring: { "firebuild.Image(\($0.image.tag))" })
        try RootfsObject.register(in: vm)

        let image = firebuild.table("image")
        image.function("get") { args in
            let tag = try args.string(1)
            guard let found = try images().find(tag, settings: session.settings) else {
                if context.dryRun, plan.isPlanned(tag) { return [planned(tag, "planned")] }
                throw FirebuildError(.notFound, "image \(tag) not found in \(session.settings.effectiveRootfsRoot); build, pull or import it first")
            }
            return [.userdata(ImageObject(found))]
        }
        image.function("exists") { args in
            let tag = try args.string(1)
            return [.boolean(try images().find(tag, settings: session.settings) != nil || (context.dryRun && plan.isPlanned(tag)))]
        }
        image.function("ls") { _ in
            [.table(LuaTable(array: try images().list(settings: session.settings).map { .userdata(ImageObject($0)) }))]
        }
        image.function("pull") { args in
            let o = try OptionTable(args, function: "firebuild.image.pull", keys: ["ref", "tag"])
            let ref = try o.requiredString("ref"), tag = try o.string("tag")
            if context.dryRun {
                let t = tag ?? ref
                plan.record("image", "pull \(ref)" + (tag.map { " as \($0)" } ?? ""), tag: t)
                return [planned(t, ref)]
            }
            return [.userdata(ImageObject(try images().pull(reference: ref, tag: tag, settings: session.settings)))]
        }
        image.function("import") { args in
            let o = try OptionTable(args, function: "firebuild.image.import", keys: ["file", "tag"])
            let file = context.resolve(try o.requiredString("file")), tag = try o.string("tag")
            if context.dryRun {
                plan.record("image", "import \(file)" + (tag.map { " as \($0)" } ?? ""), tag: tag)
                return [planned(tag ?? file, file)]
            }
            return [.userdata(ImageObject(try images().importArchive(file: file, tag: tag, settings: session.settings)))]
        }
        image.function("tag") { args in
            let source = try tagArgument(args, 1), destination = try args.string(2)
            if context.dryRun {
                plan.record("image", "tag \(source) as \(destination)", tag: destination)
                return [planned(destination, source)]
            }
            return [.userdata(ImageObject(try images().tag(source, as: destination, settings: session.settings)))]
        }
        image.function("rm") { args in
            let tag = try tagArgument(args, 1)
            if context.dryRun { plan.record("image", "remove \(tag)") } else { try images().remove(tag, settings: session.settings) }
            return []
        }
        image.function("from_directory") { args in
            let o = try OptionTable(args, function: "firebuild.image.from_directory", keys: ["dir", "tag", "config", "size_mib"])
            let dir = context.resolve(try o.requiredString("dir")), tag = try o.requiredString("tag")
            let config = try o.luaTable("config").map { try ConfigConversion.fromLua($0, function: "firebuild.image.from_directory") } ?? ImageConfig()
            if context.dryRun {
                plan.record("image", "store directory \(dir) as \(tag)", tag: tag)
                return [planned(tag, dir, config: config)]
            }
            guard FileManager.default.fileExists(atPath: dir) else { throw FirebuildError(.notFound, "firebuild.image.from_directory: \(dir) does not exist") }
            return [.userdata(ImageObject(try images().commit(tree: dir, tag: tag, config: config, sizeMiB: try o.int("size_mib"), settings: session.settings)))]
        }
        image.function("from_files") { args in
            let o = try OptionTable(args, function: "firebuild.image.from_files", keys: ["tag", "dirs", "files", "symlinks", "config", "size_mib"])
            let tag = try o.requiredString("tag")
            let config = try o.luaTable("config").map { try ConfigConversion.fromLua($0, function: "firebuild.image.from_files") } ?? ImageConfig()
            let tree = try FileTree(o, resolve: context.resolve)
            if context.dryRun {
                plan.record("image", "store \(tree.count) files and directories as \(tag)", tag: tag)
                return [planned(tag, "files", config: config)]
            }
            let staging = session.settings.effectiveRunCache + "/tmp/tree-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            defer { try? FileManager.default.removeItem(atPath: staging) }
            try tree.materialize(at: staging)
            return [.userdata(ImageObject(try images().commit(tree: staging, tag: tag, config: config, sizeMiB: try o.int("size_mib"), settings: session.settings)))]
        }
    }

    /// A tag string, or an Image object standing for its tag.
    static func tagArgument(_ args: LuaArgs, _ i: Int) throws -> String {
        if args.type(i) == .userdata { return try args.userdata(i, as: ImageObject.self).image.tag }
        return try args.string(i)
    }
}

/// The tree of `firebuild.image.from_files`: directories, files (`{source = host path}` or
/// `{content = "..."}`, with `mode`, `uid`, `gid`) and symlinks, written to a staging directory.
struct FileTree {
    struct File { var path: String; var source: String?; var content: Data?; var mode: UInt32; var uid: UInt32; var gid: UInt32 }
    var dirs: [String] = []
    var files: [File] = []
    var symlinks: [(path: String, target: String)] = []
    var count: Int { dirs.count + files.count + symlinks.count }

    init(_ o: OptionTable, resolve: (String) -> String) throws {
        dirs = try o.stringList("dirs") ?? []
        for (key, value) in (try o.luaTable("files"))?.fields ?? [:] {
            guard case .string(let path) = key, case .table(let spec) = value else {
                throw FirebuildError(.invalidArgument, "firebuild.image.from_files: files must map paths to { source = … } or { content = … }")
            }
            let f = try OptionTable(spec, function: "file \(path) of firebuild.image.from_files", keys: ["source", "content", "mode", "uid", "gid"])
            let source = try f.string("source").map(resolve)
            let content = f.has("content") ? Data(f["content"].bytes ?? []) : nil
            guard (source == nil) != (content == nil) else {
                throw FirebuildError(.invalidArgument, "file \(path) of firebuild.image.from_files needs exactly one of source (a host file) or content (a string)")
            }
            let mode = f.has("mode") ? try RootfsObject.mode(f["mode"], method: "from_files") : 0o644
            files.append(File(path: path, source: source, content: content, mode: mode, uid: UInt32(clamping: try f.int("uid") ?? 0),
                              gid: UInt32(clamping: try f.int("gid") ?? 0)))
        }
        for (key, value) in (try o.luaTable("symlinks"))?.fields ?? [:] {
            guard case .string(let path) = key, let target = value.string else {
                throw FirebuildError(.invalidArgument, "firebuild.image.from_files: symlinks must map paths to target strings")
            }
            symlinks.append((path, target))
        }
        for path in dirs + files.map(\.path) + symlinks.map(\.path) {
            guard path.hasPrefix("/"), !path.split(separator: "/").contains("..") else {
                throw FirebuildError(.invalidArgument, "firebuild.image.from_files: \"\(path)\" must be an absolute path inside the image, without ..")
            }
        }
        files.sort { $0.path < $1.path }
        symlinks.sort { $0.path < $1.path }
    }

    func materialize(at root: String) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: root, withIntermediateDirectories: true)
        for d in dirs { try fm.createDirectory(atPath: root + d, withIntermediateDirectories: true) }
        for f in files {
            let dest = root + f.path
            try fm.createDirectory(atPath: (dest as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            if let source = f.source {
                guard fm.fileExists(atPath: source) else { throw FirebuildError(.notFound, "file \(f.path): source \(source) does not exist") }
                try? fm.removeItem(atPath: dest)
                try fm.copyItem(atPath: source, toPath: dest)
            } else {
                try (f.content ?? Data()).write(to: URL(fileURLWithPath: dest))
            }
            guard chmod(dest, mode_t(f.mode)) == 0, chown(dest, f.uid, f.gid) == 0 || geteuid() != 0 else {
                throw FirebuildError.posix("chmod/chown", path: dest)
            }
        }
        for l in symlinks {
            let dest = root + l.path
            try fm.createDirectory(atPath: (dest as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try? fm.removeItem(atPath: dest)
            try fm.createSymbolicLink(atPath: dest, withDestinationPath: l.target)
        }
    }
}
