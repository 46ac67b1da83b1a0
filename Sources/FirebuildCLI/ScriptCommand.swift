import ArgumentParser
import FirebuildCore
import Foundation
import LuaRuntime
import Recipe

/// `firebuild script RECIPE.lua [--unsafe] [--memory-limit N] [--dry-run] [-- ARGS…]`
public struct ScriptCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "script",
        abstract: "Run a Lua recipe.",
        discussion: """
            The recipe gets `require "firebuild"` (the firebuild API), string, table, math, utf8, \
            coroutine and a restricted os (time, clock, date, getenv). io, os.execute, loadfile and \
            binary chunks need --unsafe. Modules are searched next to the recipe, then in ./lua, \
            then in firebuild's own Lua library. Arguments after -- are in the global `arg` \
            (arg[0] is the recipe path).

            EXAMPLES:
              firebuild script recipes/hello.lua
              firebuild script build.lua --dry-run -- --tag myapp:1.0
              firebuild script tools.lua --unsafe --memory-limit 1G
            """
    )

    @OptionGroup public var global: GlobalOptions

    @Argument(help: "The recipe to run (a .lua file).")
    public var recipe: String

    @Flag(name: .customLong("unsafe"), help: "Give the recipe the full Lua standard library (io, os.execute, loadfile, C modules).")
    public var unsafe = false

    @Option(name: .customLong("memory-limit"), help: "Memory the recipe's Lua heap may use, e.g. 256M, 1G (0 = unlimited).")
    public var memoryLimit: String = "512M"

    @Flag(name: .customLong("dry-run"), help: "Describe what the recipe would build or run without doing it.")
    public var dryRun = false

    @Argument(parsing: .postTerminator, help: "Arguments for the recipe (after --).")
    public var args: [String] = []

    public init() {}

    public func validate() throws {
        do {
            _ = try LuaOptions.parseMemorySize(memoryLimit)
        } catch let e as FirebuildError {
            throw ValidationError(e.message)
        }
    }

    public func run() throws {
        try global.apply()
        FirebuildTracing.currentSpan()?.attributes[FirebuildSpanKey.recipe] = recipe
        let options = ScriptOptions(unsafe: unsafe, memoryLimit: try LuaOptions.parseMemorySize(memoryLimit), dryRun: dryRun)
        let result = ScriptRunner.run(path: recipe, args: args, options: options)
        if !result.output.isEmpty { print(result.output, terminator: "") }
        if result.exitCode != 0 {
            FileHandle.standardError.write(Data((result.errorOutput + "\n").utf8))
            throw ExitCode(result.exitCode)
        }
    }
}
