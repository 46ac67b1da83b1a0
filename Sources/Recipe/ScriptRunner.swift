import FirebuildCore
import Foundation
import LuaRuntime

/// Options of `firebuild script`.
public struct ScriptOptions {
    public var unsafe: Bool
    public var memoryLimit: Int
    public var dryRun: Bool
    /// Directories for `require`; nil = `ScriptRunner.defaultSearchPaths`.
    public var searchPaths: [String]?

    public init(unsafe: Bool = false, memoryLimit: Int = LuaOptions.defaultMemoryLimit, dryRun: Bool = false,
                searchPaths: [String]? = nil) {
        self.unsafe = unsafe
        self.memoryLimit = memoryLimit
        self.dryRun = dryRun
        self.searchPaths = searchPaths
    }
}

/// How a recipe run ended: the exit status for the CLI and what to print on stderr.
public struct ScriptResult {
    public var exitCode: Int32
    /// The error message followed by the Lua traceback; empty on success.
    public var errorOutput: String
    /// What to print on stdout at the end: the plan of a `--dry-run` (empty otherwise).
    public var output: String = ""
}

/// Runs recipes: sets up the VM (sandbox, memory cap, module search, the `firebuild` API)
/// and turns every failure into an exit status and a message naming file:line. The CLI only
/// parses flags and prints.
public enum ScriptRunner {
    public static func run(path: String, args: [String] = [], options: ScriptOptions = ScriptOptions(),
                           context: RecipeContext? = nil) -> ScriptResult {
        do {
            let ctx = context ?? RecipeContext(recipePath: path, dryRun: options.dryRun, unsafe: options.unsafe, args: args)
            let vm = try makeVM(context: ctx, options: options)
            defer { vm.close() }
            try vm.runFile(path, args: args)
            let plan = ctx.dryRun ? ctx.session.plan.render(recipe: path) : ""
            return ScriptResult(exitCode: 0, errorOutput: "", output: plan)
        } catch let error as LuaScriptError {
            return ScriptResult(exitCode: 1, errorOutput: "error: \(error.description)")
        } catch let error as FirebuildError {
            return ScriptResult(exitCode: error.exitCode, errorOutput: "error: \(error.description)")
        } catch {
            return ScriptResult(exitCode: 1, errorOutput: "error: \(error)")
        }
    }

    /// A VM with the sandbox, memory cap, search paths and every binding installed.
    public static func makeVM(context: RecipeContext, options: ScriptOptions) throws -> LuaVM {
        let paths = options.searchPaths ?? defaultSearchPaths(recipeDir: context.recipeDir)
        let vm = try LuaVM(options: LuaOptions(memoryLimit: options.memoryLimit, unsafe: options.unsafe, searchPaths: paths))
        try RecipeBindings.install(in: vm, context: context)
        return vm
    }

    /// Where `require` finds pure-Lua modules, in this order (the first match wins):
    /// 1. the recipe's own directory (`recipes/helpers.lua` next to `recipes/app.lua`);
    /// 2. `./lua` in the working directory (a project's own modules);
    /// 3. firebuild's Lua library: each directory of `$FIREBUILD_LUA_PATH` (colon-separated) if
    ///    set, otherwise the first `lua/` folder holding `firebuild/` found walking up from the
    ///    executable's directory (also `share/firebuild/lua` there, the `make install` layout).
    /// Built-in modules (`require "firebuild"`) come before all of these.
    public static func defaultSearchPaths(recipeDir: String,
                                          environment: [String: String] = ProcessInfo.processInfo.environment,
                                          executablePath: String? = currentExecutablePath()) -> [String] {
        var paths = [recipeDir, "./lua"]
        paths += libraryDirectories(environment: environment, executablePath: executablePath)
        // The same directory reached twice only lengthens "module not found" messages.
        var seen = Set<String>()
        return paths.filter { seen.insert(standardized($0)).inserted }
    }

    /// firebuild's own Lua library directories (see `defaultSearchPaths`, step 3).
    public static func libraryDirectories(environment: [String: String], executablePath: String?) -> [String] {
        if let custom = environment["FIREBUILD_LUA_PATH"], !custom.isEmpty {
            return custom.split(separator: ":").map(String.init)
        }
        guard let executablePath else { return [] }
        var dir = (executablePath as NSString).deletingLastPathComponent
        while !dir.isEmpty {
            for candidate in [dir + "/lua", dir + "/share/firebuild/lua"] where isDirectory(candidate + "/firebuild") {
                return [candidate]
            }
            if dir == "/" { break }
            dir = (dir as NSString).deletingLastPathComponent
        }
        return []
    }

    public static func currentExecutablePath() -> String? {
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
        return Bundle.main.executablePath
    }

    private static func isDirectory(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
    }

    private static func standardized(_ path: String) -> String {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        return (absolute as NSString).standardizingPath
    }
}
