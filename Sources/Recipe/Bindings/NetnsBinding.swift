import FirebuildCore
import Foundation
import LuaRuntime
import Networking

/// A network namespace made by a recipe (`firebuild.netns.create{name=}`), typically the sandbox
/// standing in for the host: `firebuild.settings{host_netns = ns:name()}`.
public final class NetnsObject {
    public let name: String
    let dryRun: Bool
    var deleted = false

    init(name: String, dryRun: Bool) {
        self.name = name
        self.dryRun = dryRun
    }
}

/// `firebuild.netns.create{name=}`, `.delete(name)`, `.exists(name)`; objects have `:name()`,
/// `:path()`, `:exec(argv)` (`{code=, stdout=, stderr=}`), `:delete()`.
public enum NetnsBinding: RecipeBinding {
    public static func register(into firebuild: LuaModule, vm: LuaVM, context: RecipeContext) throws {
        let plan = context.session.plan
        try vm.registerType(NetnsObject.self, name: "firebuild.Netns", methods: [
            "name": { ns, _ in [.string(ns.name)] },
            "path": { ns, _ in [.string(try NetworkNamespace(name: ns.name).path)] },
            "exec": { ns, args in
                let argv = try ExecArgs.argv(args, 1, function: "Netns:exec")
                if ns.dryRun {
                    plan.record("exec", "run \(argv.joined(separator: " ")) in network namespace \(ns.name)")
                    return [ExecArgs.result(code: 0, stdout: Data(), stderr: Data())]
                }
                let r = try NetworkNamespace(name: ns.name).command(argv[0], Array(argv.dropFirst()), timeout: 120).run()
                return [ExecArgs.result(code: Int(r.status), stdout: r.stdout, stderr: r.stderr)]
            },
            "delete": { ns, _ in
                if ns.dryRun {
                    plan.record("netns", "delete network namespace \(ns.name)")
                } else {
                    try NetworkNamespace(name: ns.name).delete()
                }
                ns.deleted = true
                return []
            },
        ], tostring: { "firebuild.Netns(\($0.name))" })

        let netns = firebuild.table("netns")
        netns.function("create") { args in
            let o = try OptionTable(args, function: "firebuild.netns.create", keys: ["name", "reuse"])
            let name = try o.requiredString("name")
            let ns = try NetworkNamespace(name: name)
            if context.dryRun {
                plan.record("netns", "create network namespace \(name)")
            } else if try !ns.exists || !(o.bool("reuse") ?? false) {
                try NetworkNamespace.create(name)
            }
            return [.userdata(NetnsObject(name: name, dryRun: context.dryRun))]
        }
        netns.function("delete") { args in
            let ns = try NetworkNamespace(name: try args.string(1))
            if context.dryRun { plan.record("netns", "delete network namespace \(ns.name)") } else { try ns.delete() }
            return []
        }
        netns.function("exists") { args in
            [.boolean(try NetworkNamespace(name: try args.string(1)).exists)]
        }
    }
}

/// Shared helpers for `exec`-like methods: a command is a string (run by `/bin/sh -c`) or an
/// argv table; the result is `{code=, stdout=, stderr=}`.
enum ExecArgs {
    static func argv(_ args: LuaArgs, _ index: Int, function: String) throws -> [String] {
        switch args.type(index) {
        case .string:
            return ["/bin/sh", "-c", try args.string(index)]
        case .table:
            let t = try args.table(index)
            let list = try t.array.map { v -> String in
                guard let s = OptionTable.scalarString(v) else {
                    throw FirebuildError(.invalidArgument, "\(function): every argv element must be a string")
                }
                return s
            }
            guard !list.isEmpty, t.fields.isEmpty else {
                throw FirebuildError(.invalidArgument, "\(function) needs a command: a string (run by /bin/sh -c) or a non-empty list such as {\"ls\", \"-l\"}")
            }
            return list
        default:
            throw FirebuildError(.invalidArgument,
                "bad argument #\(index) to '\(function)' (command expected: a string or a list of strings, got \(args.type(index).name))")
        }
    }

    static func result(code: Int, stdout: Data, stderr: Data) -> LuaValue {
        var t = LuaTable()
        t["code"] = .integer(Int64(code))
        t["stdout"] = .bytes([UInt8](stdout))
        t["stderr"] = .bytes([UInt8](stderr))
        return .table(t)
    }
}
