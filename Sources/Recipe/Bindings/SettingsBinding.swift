import FirebuildCore
import LuaRuntime

/// `firebuild.settings{home=, run_cache=, rootfs_storage_root=, kernel_storage_root=, cni_conf_dir=,
/// cni_bin_dir=, cni_cache_dir=, host_netns=, vmm=, guest_init=, profile_conf_dir=}`: points every
/// later call of the recipe at these locations (the CLI's storage, run-cache and CNI flags).
/// Returns the settings in effect as a table; `firebuild.settings()` only reads them.
public enum SettingsBinding: RecipeBinding {
    public static func register(into firebuild: LuaModule, vm: LuaVM, context: RecipeContext) throws {
        let session = context.session
        firebuild.function("settings") { args in
            if !args.isNil(1) {
                let o = try OptionTable(args, function: "firebuild.settings", keys: RecipeSettings.optionKeys)
                var updated = session.settings
                try updated.apply(o, resolve: context.resolve)
                session.settings = updated
            }
            return [.table(session.settings.luaTable)]
        }
    }
}
