import Dockerfile
import FirebuildCore
import Foundation
import LuaRuntime

/// `firebuild.dockerfile.parse(path_or_text, {build_args = {K = V}, target = "name"})`: the same
/// parser and stage planner `firebuild dockerfile stages` uses, as Lua tables:
/// `{target = "name", stages = {{index, name, base, platform, depends_on, config, steps = {{
/// keyword, line, end_line, original, env, user, workdir}}}}, warnings = {{rule, message, line}}}`.
/// Text containing a newline is a Dockerfile; anything else is a path relative to the recipe.
public enum DockerfileBinding: RecipeBinding {
    public static func register(into firebuild: LuaModule, vm: LuaVM, context: RecipeContext) throws {
        let dockerfile = firebuild.table("dockerfile")
        dockerfile.function("parse") { args in
            let source = try args.string(1)
            let options = try args.optionalTable(2) ?? LuaTable()
            let known: Set<String> = ["build_args", "target"]
            for case .string(let key) in options.fields.keys where !known.contains(key) {
                throw FirebuildError(.invalidArgument,
                    "unknown option \"\(key)\" for firebuild.dockerfile.parse; valid: \(known.sorted().joined(separator: ", "))")
            }
            var buildArgs: [String: String] = [:]
            if case .table(let t) = options["build_args"] {
                for (k, v) in t.fields {
                    guard case .string(let name) = k, let value = v.string else {
                        throw FirebuildError(.invalidArgument, "build_args must map names to strings")
                    }
                    buildArgs[name] = value
                }
            }
            let target = options["target"].string
            let (text, name): (String, String)
            if source.contains("\n") {
                (text, name) = (source, "Dockerfile")
            } else {
                let path = context.resolve(source)
                guard let data = FileManager.default.contents(atPath: path) else {
                    throw FirebuildError(.notFound, "dockerfile.parse: \(source) not found (looked at \(path))")
                }
                (text, name) = (String(decoding: data, as: UTF8.self), source)
            }
            let plan = try BuildPlan.make(from: try Dockerfile.parse(text: text, fileName: name), buildArgs: buildArgs, target: target)
            return [.table(try table(plan))]
        }
    }

    static func table(_ plan: BuildPlan) throws -> LuaTable {
        func stageName(_ i: Int) -> String { plan.stages.first { $0.index == i }?.name ?? "stage-\(i)" }
        var out = LuaTable()
        out["target"] = .string(stageName(plan.target))
        out["stages"] = .table(LuaTable(array: try plan.stages.map { stage in
            var s = LuaTable()
            s["index"] = .integer(Int64(stage.index))
            if let name = stage.name { s["name"] = .string(name) }
            switch stage.base {
            case .scratch: s["base"] = "scratch"
            case .image(let ref): s["base"] = .string(ref)
            case .stage(let i): s["base"] = .string(stageName(i))
            }
            s["platform"] = .string(stage.platform.description)
            s["depends_on"] = .table(LuaTable(array: stage.dependsOn.map { .integer(Int64($0)) }))
            s["config"] = try jsonValue(JSONEncoder().encode(stage.config))
            s["steps"] = .table(LuaTable(array: stage.steps.map { step in
                var t = LuaTable()
                t["keyword"] = .string(step.node.keyword)
                t["line"] = .integer(Int64(step.startLine))
                t["end_line"] = .integer(Int64(step.endLine))
                t["original"] = .string(step.node.original)
                t["env"] = LuaValue(step.environment.list)
                t["user"] = .string(step.user)
                t["workdir"] = .string(step.workingDir)
                return .table(t)
            }))
            return .table(s)
        }))
        out["warnings"] = .table(LuaTable(array: plan.warnings.map { w in
            .table(LuaTable(fields: ["rule": .string(w.rule), "message": .string(w.message), "line": .integer(Int64(w.line))]))
        }))
        return out
    }

    /// JSON (as Foundation decodes it) to Lua values: objects become tables with string keys.
    static func jsonValue(_ data: Data) throws -> LuaValue {
        func convert(_ any: Any) -> LuaValue {
            switch any {
            case let s as String: return .string(s)
            // Linux Foundation decodes JSON booleans as Bool, numbers as NSNumber (no bridging).
            case let b as Bool: return .boolean(b)
            case let n as NSNumber:
                return n.doubleValue == n.doubleValue.rounded() ? .integer(n.int64Value) : .number(n.doubleValue)
            case let a as [Any]: return .table(LuaTable(array: a.map(convert)))
            case let d as [String: Any]:
                var t = LuaTable()
                for (k, v) in d { t[k] = convert(v) }
                return .table(t)
            default: return .nil
            }
        }
        return convert(try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]))
    }
}
