import FirebuildCore
import Foundation
import LuaRuntime

/// `firebuild.profile{mem=, cpu=, kernel=, network=, env=, env_files=, ports=, ssh_user=, identity_files=,
/// vmm=, kernel_args=}`: a checked run profile, a plain table merged under `firebuild.vm.run` options
/// (`vm.run{profile = p, …}`; the call's own options win). `firebuild.profile.load(name)` reads a
/// stored profile (`firebuild profile-create`) as such a table, with its storage settings under
/// `settings` (pass them to `firebuild.settings`).
public enum ProfileBinding: RecipeBinding {
    static let keys = ["mem", "cpu", "kernel", "network", "env", "env_files", "ports", "ssh_user", "identity_files", "vmm", "kernel_args"]

    public static func register(into firebuild: LuaModule, vm: LuaVM, context: RecipeContext) throws {
        let session = context.session
        firebuild.function("_profile_make") { args in
            let o = try OptionTable(args, function: "firebuild.profile", keys: keys)
            _ = try o.int("mem"); _ = try o.int("cpu"); _ = try o.stringMap("env"); _ = try o.stringList("ports")
            _ = try o.stringList("env_files"); _ = try o.stringList("identity_files"); _ = try o.choice("vmm", ["qemu", "firecracker"])
            return [.table(o.table)]
        }
        firebuild.function("_profile_load") { args in
            let name = try args.string(1)
            guard let load = session.engines.loadProfile else {
                throw FirebuildError(.unsupported, "reading stored profile \(name) needs the profile store, which these engines do not provide")
            }
            let p = try load(name, session.settings)
            var t = LuaTable()
            if let v = p.mem { t["mem"] = .integer(Int64(v)) }
            if let v = p.cpu { t["cpu"] = .integer(Int64(v)) }
            if let v = p.vmlinuxID { t["kernel"] = .string(v) }
            if let v = p.cniNetworkName { t["network"] = .string(v) }
            if let v = p.vmm { t["vmm"] = .string(v) }
            var s = LuaTable()
            if let v = p.runCache { s["run_cache"] = .string(v) }
            if let v = p.rootfsStorageRoot { s["rootfs_storage_root"] = .string(v) }
            if let v = p.kernelStorageRoot { s["kernel_storage_root"] = .string(v) }
            t["settings"] = .table(s)
            return [.table(t)]
        }
    }

    /// `firebuild.profile` is both callable and a table with `load`, set up in Lua. Errors are
    /// re-raised at level 2 so they name the recipe's line, not this wrapper's.
    static let luaSetup = """
        local fb = require "firebuild"
        local make, load = fb._profile_make, fb._profile_load
        fb._profile_make, fb._profile_load = nil, nil
        local function relay(fn, arg)
          local ok, result = pcall(fn, arg)
          if ok then return result end
          error((tostring(result):gsub("^firebuild%.profile:%d+: ", "")), 2)  -- the wrappers tail-call relay: 2 is the recipe
        end
        fb.profile = setmetatable({ load = function(name) return relay(load, name) end },
          { __call = function(_, opts) return relay(make, opts) end, __name = "firebuild.profile" })
        """

    /// The `profile` option of vm.run: a table (from firebuild.profile or literal) or a stored profile name.
    static func profileTable(_ value: LuaValue, context: RecipeContext) throws -> LuaTable? {
        switch value {
        case .nil: return nil
        case .table(var t):
            t["settings"] = .nil
            _ = try OptionTable(t, function: "profile of firebuild.vm.run", keys: keys)
            return t
        case .string(let name):
            guard let load = context.session.engines.loadProfile else {
                throw FirebuildError(.unsupported, "reading stored profile \(name) needs the profile store, which these engines do not provide")
            }
            let p = try load(name, context.settings)
            var t = LuaTable()
            if let v = p.mem { t["mem"] = .integer(Int64(v)) }
            if let v = p.cpu { t["cpu"] = .integer(Int64(v)) }
            if let v = p.vmlinuxID { t["kernel"] = .string(v) }
            if let v = p.cniNetworkName { t["network"] = .string(v) }
            if let v = p.vmm { t["vmm"] = .string(v) }
            return t
        default:
            throw FirebuildError(.invalidArgument, "option \"profile\" of firebuild.vm.run must be a table (firebuild.profile{…}) or a stored profile name")
        }
    }
}

/// The parts of a stored profile recipes use.
public struct StoredProfileValues: Equatable, Sendable {
    public var mem: Int?
    public var cpu: Int?
    public var vmlinuxID: String?
    public var cniNetworkName: String?
    public var vmm: String?
    public var runCache: String?
    public var rootfsStorageRoot: String?
    public var kernelStorageRoot: String?
    public init(mem: Int? = nil, cpu: Int? = nil, vmlinuxID: String? = nil, cniNetworkName: String? = nil, vmm: String? = nil,
                runCache: String? = nil, rootfsStorageRoot: String? = nil, kernelStorageRoot: String? = nil) {
        self.mem = mem; self.cpu = cpu; self.vmlinuxID = vmlinuxID; self.cniNetworkName = cniNetworkName; self.vmm = vmm
        self.runCache = runCache; self.rootfsStorageRoot = rootfsStorageRoot; self.kernelStorageRoot = kernelStorageRoot
    }
}
