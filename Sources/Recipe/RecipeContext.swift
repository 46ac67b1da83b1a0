import FirebuildCore
import Foundation
import Logging
import LuaRuntime

/// What every binding knows about the recipe being run.
public struct RecipeContext {
    /// The recipe path as the user gave it (`recipes/app.lua`); also its Lua chunk name.
    public var recipePath: String
    /// The recipe's directory (`recipes`, or `.`): relative paths in bindings resolve against it.
    public var recipeDir: String
    /// `--dry-run`: bindings with effects (build, run, write) describe them instead.
    public var dryRun: Bool
    /// `--unsafe`: the full Lua standard library is available.
    public var unsafe: Bool
    /// Arguments after `--` (also `arg[1…]` in Lua).
    public var args: [String]
    /// Environment visible to `firebuild.env`.
    public var environment: [String: String]
    /// Logger for `firebuild.log.*` (module `recipe`).
    public var logger: Logger
    /// Settings and dry-run plan, shared by every binding of this run.
    public let session: RecipeSession
    public var settings: RecipeSettings { session.settings }

    public init(recipePath: String, dryRun: Bool = false, unsafe: Bool = false, args: [String] = [],
                environment: [String: String] = ProcessInfo.processInfo.environment,
                logger: Logger = makeLogger("recipe"), settings: RecipeSettings? = nil) {
        self.recipePath = recipePath
        let dir = (recipePath as NSString).deletingLastPathComponent
        self.recipeDir = dir.isEmpty ? "." : dir
        self.dryRun = dryRun
        self.unsafe = unsafe
        self.args = args
        self.environment = environment
        self.logger = logger
        self.session = RecipeSession(settings: settings ?? RecipeSettings(environment: environment))
    }

    /// A path from a recipe, resolved against the recipe's directory (absolute paths unchanged).
    public func resolve(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        if recipeDir == "." { return path }
        return recipeDir + "/" + path
    }
}

/// One area of the recipe API (log, fs, image, vm, …). Each lives in its own file under
/// `Recipe/Bindings/` and adds functions (and userdata types, through `vm`) to the shared
/// `firebuild` table. To add one: write the type, then list it in `RecipeBindings.all`.
public protocol RecipeBinding {
    static func register(into firebuild: LuaModule, vm: LuaVM, context: RecipeContext) throws
}

public enum RecipeBindings {
    /// Every binding, in registration order.
    public static let all: [RecipeBinding.Type] = [
        CoreBinding.self,
        LogBinding.self,
        FSBinding.self,
        DockerfileBinding.self,
        SettingsBinding.self,
        NetnsBinding.self,
        KernelBinding.self,
        NetworkBinding.self,
        ProbeBinding.self,
        ImageBinding.self,
        BuildBinding.self,
        ProfileBinding.self,
        VMBinding.self,
    ]

    /// Builds the `firebuild` module for `context` and registers it in `vm` (`require "firebuild"`).
    public static func install(in vm: LuaVM, context: RecipeContext, bindings: [RecipeBinding.Type] = all) throws {
        let firebuild = LuaModule("firebuild")
        for binding in bindings {
            try binding.register(into: firebuild, vm: vm, context: context)
        }
        try vm.register(module: firebuild)
        if bindings.contains(where: { $0 == ProfileBinding.self }) {
            try vm.run(ProfileBinding.luaSetup, chunkName: "=firebuild.profile")
        }
    }
}
