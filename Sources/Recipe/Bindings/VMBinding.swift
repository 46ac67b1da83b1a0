import FirebuildCore
import Foundation
import LuaRuntime

/// A VM started by a recipe.
public final class VMObject {
    public let id: String
    public var info: RecipeVMInfo
    let planned: Bool
    var exitCode: Int?
    var stopped = false
    var onExit: HookCaller?

    init(info: RecipeVMInfo, planned: Bool) {
        id = info.id
        self.info = info
        self.planned = planned
    }
}

/// `firebuild.vm.run{…}` → VM object (`:id()`, `:ip()`, `:exec(cmd)`, `:logs()`, `:wait_port(port, timeout)`,
/// `:wait(timeout)`, `:stop()`, `:inspect()`), `vm.ls()`, `vm.purge()`. Same `RunEngine` as `firebuild run`.
public enum VMBinding: RecipeBinding {
    static let runKeys = ["from", "profile", "name", "hostname", "daemonize", "env", "env_files", "ports", "cmd", "mem", "cpu", "kernel",
                          "vmlinux_id", "network", "cni_network_name", "ip_address", "kernel_args", "ssh_user", "identity_files",
                          "init_image", "shutdown_timeout", "boot_timeout", "vmm", "ready_port", "ready_timeout", "hooks"]
    static let hookKeys = ["on_start", "on_ready", "on_exit"]

    public static func register(into firebuild: LuaModule, vm: LuaVM, context: RecipeContext) throws {
        let session = context.session
        let plan = session.plan
        func runner() -> RecipeRunner { session.engines.runner }

        func stop(_ v: VMObject, timeout: TimeInterval) throws {
            guard !v.stopped else { return }
            if v.planned { plan.record("vm", "stop VM \(v.id)") } else { try runner().stop(id: v.id, timeout: timeout, settings: session.settings) }
            v.stopped = true
            try v.onExit?.call([.userdata(v), v.exitCode.map { .integer(Int64($0)) } ?? .nil])
            v.onExit = nil
        }

        func waitPort(_ v: VMObject, port: Int, timeout: TimeInterval) throws -> Double {
            if v.planned {
                plan.record("wait", "wait for port \(port) of VM \(v.id)")
                return 0
            }
            guard let ip = v.info.ip else {
                throw FirebuildError(.invalidArgument, "VM \(v.id) has no IP address: run it with a network (network = firebuild.network{…})")
            }
            return try HostProbe.waitForPort(host: ip, port: port, timeout: timeout, netns: session.settings.hostNetns)
        }

        try vm.registerType(VMObject.self, name: "firebuild.VM", methods: [
            "id": { v, _ in [.string(v.id)] },
            "ip": { v, _ in [v.info.ip.map(LuaValue.string) ?? .nil] },
            "exec": { v, args in
                let argv = try ExecArgs.argv(args, 1, function: "VM:exec")
                let o = try OptionTable(args, 2, function: "VM:exec", keys: ["timeout"], required: false)
                if v.planned {
                    plan.record("exec", "run \(argv.joined(separator: " ")) in VM \(v.id)")
                    return [ExecArgs.result(code: 0, stdout: Data(), stderr: Data())]
                }
                let r = try runner().exec(id: v.id, argv: argv, timeout: try o.double("timeout"), settings: session.settings)
                return [ExecArgs.result(code: r.code, stdout: r.stdout, stderr: r.stderr)]
            },
            "logs": { v, _ in
                if v.planned { return [.string("")] }
                return [.string(try runner().logs(id: v.id, settings: session.settings))]
            },
            "wait_port": { v, args in
                let port = Int(clamping: try args.integer(1))
                let timeout = args.isNil(2) ? 60 : try args.number(2)
                return [.number(try waitPort(v, port: port, timeout: timeout))]
            },
            "wait": { v, args in
                let timeout = args.isNil(1) ? 3600 : try args.number(1)
                if v.planned { plan.record("wait", "wait for VM \(v.id) to exit"); return [.integer(0)] }
                guard let code = try runner().wait(id: v.id, timeout: timeout, settings: session.settings) else { return [.nil] }
                v.exitCode = code
                return [.integer(Int64(code))]
            },
            "stop": { v, args in
                let o = try OptionTable(args, 1, function: "VM:stop", keys: ["timeout"], required: false)
                try stop(v, timeout: try o.double("timeout") ?? 15)
                return []
            },
            "inspect": { v, _ in
                if v.planned { return [.table(LuaTable())] }
                let data = try runner().inspect(id: v.id, settings: session.settings)
                return [ConfigConversion.jsonToLua((try? JSONSerialization.jsonObject(with: data)) ?? [:])]
            },
        ], tostring: { "firebuild.VM(\($0.id))" })

        let vmTable = firebuild.table("vm")
        vmTable.function("run") { args in
            let o = try OptionTable(args, function: "firebuild.vm.run", keys: runKeys)
            let req = try request(o, context: context)
            let hooks = try o.luaTable("hooks").map { try OptionTable($0, function: "hooks of firebuild.vm.run", keys: hookKeys) }
            func hook(_ name: String) throws -> HookCaller? { try hooks?.function(name).map { HookCaller(name: name, function: $0) } }
            let onStart = try hook("on_start"), onReady = try hook("on_ready"), onExit = try hook("on_exit")
            let readyPort = try o.int("ready_port"), readyTimeout = try o.double("ready_timeout") ?? 120

            let v: VMObject
            if context.dryRun {
                let run = req.run
                if !plan.isPlanned(run.from), (try? session.engines.images.find(run.from, settings: session.settings)) == nil {
                    plan.record("note", "image \(run.from) is neither stored nor built earlier in this recipe")
                }
                let name = run.name ?? "vm\(plan.steps.count + 1)"
                plan.record("vm", "run \(run.from) as \(name) (mem \(run.memMiB) MiB, \(run.cpus) vCPU"
                    + (run.cniNetworkName.map { ", network \($0)" } ?? "") + (run.ports.isEmpty ? "" : ", ports \(run.ports.joined(separator: " "))")
                    + (run.command.map { ", cmd \($0.joined(separator: " "))" } ?? "") + (req.daemonize ? "" : ", foreground") + ")")
                v = VMObject(info: RecipeVMInfo(id: name, ip: nil), planned: true)
            } else {
                v = VMObject(info: try runner().start(req, settings: session.settings), planned: false)
            }
            v.onExit = onExit
            do {
                try onStart?.call([.userdata(v)])
                if let readyPort { _ = try waitPort(v, port: readyPort, timeout: readyTimeout) }
                try onReady?.call([.userdata(v)])
                if !req.daemonize {
                    // Foreground, as `firebuild run` without --daemonize: until the workload exits.
                    if v.planned { plan.record("wait", "wait for VM \(v.id) to exit") } else {
                        v.exitCode = try runner().wait(id: v.id, timeout: .infinity, settings: session.settings)
                    }
                    try stop(v, timeout: req.run.shutdownTimeout)
                }
            } catch {
                // A failing hook or readiness check must not leave the VM running.
                v.onExit = nil
                if !v.stopped && !v.planned { try? runner().stop(id: v.id, timeout: 5, settings: session.settings) }
                v.stopped = true
                throw error
            }
            return [.userdata(v)]
        }

        vmTable.function("ls") { _ in
            if context.dryRun { return [.table(LuaTable())] }
            return [.table(LuaTable(array: try runner().list(settings: session.settings).map { info in
                var t = LuaTable()
                t["id"] = .string(info.id)
                t["running"] = .boolean(info.running)
                if let ip = info.ip { t["ip"] = .string(ip) }
                if let image = info.image { t["image"] = .string(image) }
                return .table(t)
            }))]
        }

        vmTable.function("purge") { _ in
            if context.dryRun { plan.record("vm", "purge stopped VMs"); return [.table(LuaTable())] }
            return [LuaValue(try runner().purge(settings: session.settings))]
        }
    }

    /// Options (profile first, then the call's own) as a run request.
    static func request(_ call: OptionTable, context: RecipeContext) throws -> RecipeRunRequest {
        var merged = LuaTable()
        if let profile = try ProfileBinding.profileTable(call["profile"], context: context) {
            merged = profile
        }
        for (k, v) in call.table.fields where k != .string("profile") && k != .string("hooks") { merged.fields[k] = v }
        let o = try OptionTable(merged, function: "firebuild.vm.run", keys: runKeys)
        var from: String
        if let image = try o.object("from", as: ImageObject.self, typeName: "a tag or a firebuild.Image") {
            from = image.image.tag
        } else {
            from = try o.requiredString("from")
        }
        var r = RecipeRunRequest(from: from)
        r.daemonize = try o.bool("daemonize") ?? true
        r.run.name = try o.string("name")
        r.run.hostname = try o.string("hostname")
        r.run.env = (try o.stringMap("env") ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        r.run.envFiles = (try o.stringList("env_files") ?? []).map(context.resolve)
        r.run.ports = try o.stringList("ports") ?? []
        if case .string(let s) = o["cmd"] { r.run.command = ["/bin/sh", "-c", s] } else { r.run.command = try o.stringList("cmd") }
        r.run.memMiB = try o.int("mem") ?? 128
        r.run.cpus = try o.int("cpu") ?? 1
        if let k = try o.object("kernel", as: KernelObject.self, typeName: "a kernel id or a firebuild.Kernel") { r.run.vmlinuxID = k.id } else {
            r.run.vmlinuxID = try o.string("kernel") ?? o.string("vmlinux_id")
        }
        if let net = try o.object("network", as: NetworkObject.self, typeName: "a network name or a firebuild.Network") {
            r.run.cniNetworkName = net.spec.name
            r.cniConfDir = net.confDir
        } else {
            r.run.cniNetworkName = try o.string("network") ?? o.string("cni_network_name")
        }
        r.run.ipAddress = try o.string("ip_address")
        r.run.kernelArgs = try o.string("kernel_args")
        r.run.sshUser = try o.string("ssh_user")
        r.run.identityFiles = (try o.stringList("identity_files") ?? []).map(context.resolve)
        r.run.initImage = try o.bool("init_image") ?? false
        r.run.shutdownTimeout = try o.double("shutdown_timeout") ?? 15
        r.run.bootTimeout = try o.double("boot_timeout") ?? 120
        r.vmm = try o.choice("vmm", ["qemu", "firecracker"])
        guard r.run.memMiB >= 16, r.run.cpus >= 1, r.run.cpus <= 32 else {
            throw FirebuildError(.invalidArgument, "firebuild.vm.run: mem must be at least 16 (MiB) and cpu between 1 and 32")
        }
        if !r.run.ports.isEmpty && r.run.cniNetworkName == nil {
            throw FirebuildError(.invalidArgument, "firebuild.vm.run: ports need a network (network = firebuild.network{…})")
        }
        return r
    }
}
