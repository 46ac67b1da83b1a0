import FirebuildCore
import Foundation
import LuaRuntime

/// A root filesystem handed to `after_step(step, result, rootfs)` and `after_build(rootfs)` hooks:
/// `:read(path)`, `:exists(path)`, `:write(path, data, {mode=, uid=, gid=})`, `:mkdir(path, {mode=})`,
/// `:chmod(path, mode)`, `:remove(path, {recursive=})`, `:ls(dir)`, `:label(key, value)`.
/// Valid only while its hook runs: the image is stored when the hook returns.
public final class RootfsObject {
    let editor: RootfsEditor
    var labels: [String: String] = [:]
    var changed = false
    var open = true

    init(editor: RootfsEditor) {
        self.editor = editor
    }

    func checkOpen(_ method: String) throws {
        guard open else {
            throw FirebuildError(.invalidArgument, "rootfs:\(method): this rootfs belongs to a hook that has returned; edit it inside the hook")
        }
    }

    /// `420`, `"0644"` or `"644"` (octal, as chmod takes it).
    static func mode(_ v: LuaValue, method: String) throws -> UInt32 {
        switch v {
        case .integer(let i) where (0...0o7777).contains(i): return UInt32(i)
        case .string(let s):
            if let m = UInt32(s, radix: 8), m <= 0o7777 { return m }
        default: break
        }
        throw FirebuildError(.invalidArgument, "rootfs:\(method): mode must be a number (420) or an octal string (\"0644\"), got \(v)")
    }

    static func register(in vm: LuaVM) throws {
        func opts(_ args: LuaArgs, _ i: Int, _ method: String, _ keys: [String]) throws -> OptionTable {
            try OptionTable(args, i, function: "rootfs:\(method)", keys: keys, required: false)
        }
        try vm.registerType(RootfsObject.self, name: "firebuild.Rootfs", methods: [
            "read": { r, args in
                try r.checkOpen("read")
                return [.bytes([UInt8](try r.editor.read(try args.string(1))))]
            },
            "exists": { r, args in
                try r.checkOpen("exists")
                return [.boolean(try r.editor.exists(try args.string(1)))]
            },
            "write": { r, args in
                try r.checkOpen("write")
                let path = try args.string(1)
                let data = try args.bytes(2)
                let o = try opts(args, 3, "write", ["mode", "uid", "gid"])
                let mode = o.has("mode") ? try mode(o["mode"], method: "write") : 0o644
                try r.editor.write(path, data: Data(data), mode: mode, uid: UInt32(clamping: try o.int("uid") ?? 0),
                                   gid: UInt32(clamping: try o.int("gid") ?? 0))
                r.changed = true
                return []
            },
            "mkdir": { r, args in
                try r.checkOpen("mkdir")
                let o = try opts(args, 2, "mkdir", ["mode"])
                try r.editor.mkdir(try args.string(1), mode: o.has("mode") ? try mode(o["mode"], method: "mkdir") : 0o755)
                r.changed = true
                return []
            },
            "chmod": { r, args in
                try r.checkOpen("chmod")
                try r.editor.chmod(try args.string(1), mode: try mode(try args.value(2), method: "chmod"))
                r.changed = true
                return []
            },
            "remove": { r, args in
                try r.checkOpen("remove")
                let o = try opts(args, 2, "remove", ["recursive"])
                try r.editor.remove(try args.string(1), recursive: try o.bool("recursive") ?? false)
                r.changed = true
                return []
            },
            "ls": { r, args in
                try r.checkOpen("ls")
                return [LuaValue(try r.editor.list(try args.string(1)))]
            },
            "label": { r, args in
                try r.checkOpen("label")
                r.labels[try args.string(1)] = try args.string(2)
                r.changed = true
                return []
            },
        ], tostring: { _ in "firebuild.Rootfs" })
    }
}

/// Calls a recipe hook and names it in failures: `after_build hook failed: recipes/app.lua:12: boom`.
struct HookCaller {
    let name: String
    let function: LuaFunctionRef

    @discardableResult
    func call(_ args: [LuaValue]) throws -> [LuaValue] {
        do {
            return try function.call(args)
        } catch let e as LuaScriptError {
            throw FirebuildError(.recipe, "\(name) hook failed: \(e.message)")
        }
    }
}

/// Build hooks of a `rootfs{}`/`baseos{}` call, as the Build engine's observer.
final class LuaBuildObserver: RecipeBuildObserver {
    static let keys = ["before_build", "before_step", "after_step", "on_output", "after_build"]
    let beforeBuildHook, beforeStepHook, afterStepHook, onOutputHook, afterBuildHook: HookCaller?
    /// Labels set by `rootfs:label` in `after_step` hooks, applied to the image config at the end.
    var labels: [String: String] = [:]

    init(_ o: OptionTable) throws {
        func hook(_ name: String) throws -> HookCaller? { try o.function(name).map { HookCaller(name: name, function: $0) } }
        beforeBuildHook = try hook("before_build")
        beforeStepHook = try hook("before_step")
        afterStepHook = try hook("after_step")
        onOutputHook = try hook("on_output")
        afterBuildHook = try hook("after_build")
    }

    static func stepTable(_ s: BuildStepInfo) -> LuaValue {
        var t = LuaTable()
        t["stage"] = .string(s.stage)
        t["index"] = .integer(Int64(s.index))
        t["count"] = .integer(Int64(s.count))
        t["instruction"] = .string(s.instruction)
        return .table(t)
    }

    func beforeBuild(stages: [String], steps: [BuildStepInfo]) throws {
        guard let h = beforeBuildHook else { return }
        var plan = LuaTable()
        plan["stages"] = LuaValue(stages)
        plan["steps"] = .table(LuaTable(array: steps.map(Self.stepTable)))
        try h.call([.table(plan)])
    }

    func beforeStep(_ step: BuildStepInfo) throws {
        try beforeStepHook?.call([Self.stepTable(step)])
    }

    func onOutput(_ step: BuildStepInfo, line: String) throws {
        try onOutputHook?.call([Self.stepTable(step), .string(line)])
    }

    func afterStep(_ step: BuildStepInfo, outcome: BuildStepOutcome, rootfs: RootfsEditor?) throws {
        guard let h = afterStepHook else { return }
        var result = LuaTable()
        result["cached"] = .boolean(outcome.cached)
        result["seconds"] = .number(outcome.seconds)
        let object = rootfs.map(RootfsObject.init)
        defer { object?.open = false }
        try h.call([Self.stepTable(step), .table(result), object.map { .userdata($0) } ?? .nil])
        if let object { labels.merge(object.labels) { _, new in new } }
    }
}
