import Foundation
import Testing
import FirebuildCore
import LuaRuntime
@testable import Recipe

@Suite struct ScriptRunnerTests {
    func run(_ path: String, args: [String] = [], unsafe: Bool = false, memory: Int = LuaOptions.defaultMemoryLimit) -> ScriptResult {
        let context = RecipeContext(recipePath: path, unsafe: unsafe, args: args, logger: CapturedLogs().logger)
        return ScriptRunner.run(path: path, args: args, options: ScriptOptions(unsafe: unsafe, memoryLimit: memory), context: context)
    }

    @Test func errorOnLine3ExitsOneAndNamesTheLine() throws {
        try withTempDir { dir in
            try write("-- a recipe\nlocal fb = require 'firebuild'\nerror(\"x\")\n", to: dir + "/hello.lua")
            let result = run(dir + "/hello.lua")
            #expect(result.exitCode == 1)
            #expect(result.errorOutput.contains("hello.lua:3: x"))
            #expect(result.errorOutput.contains("stack traceback:"))
        }
    }

    @Test func successExitsZeroAndSeesArgs() throws {
        try withTempDir { dir in
            try write("""
                local check = require 'firebuild.assert'
                check.equal({ arg[0], arg[1], arg[2] }, { '\(dir)/ok.lua', 'one', 'two' })
                check.equal({ ... }, { 'one', 'two' })
                """, to: dir + "/ok.lua")
            let good = run(dir + "/ok.lua", args: ["one", "two"])
            #expect(good.exitCode == 0, "\(good.errorOutput)")
            let bad = run(dir + "/ok.lua", args: ["one"])
            #expect(bad.exitCode == 1)
            #expect(bad.errorOutput.contains("ok.lua:2: expected {"))
        }
    }

    @Test func missingRecipeIsANotFoundError() {
        let result = run("/nonexistent/recipe.lua")
        #expect(result.exitCode == 1)
        #expect(result.errorOutput.contains("/nonexistent/recipe.lua not found"))
    }

    @Test func sandboxAndUnsafe() throws {
        try withTempDir { dir in
            try write("local f = io.open('\(dir)/w.txt', 'w')\nf:write('x')\nf:close()\nos.execute('true')\n", to: dir + "/io.lua")
            let refused = run(dir + "/io.lua")
            #expect(refused.exitCode == 1)
            #expect(refused.errorOutput.contains("io.lua:1: io is disabled in recipes; run with --unsafe to allow it"))
            let allowed = run(dir + "/io.lua", unsafe: true)
            #expect(allowed.exitCode == 0, "\(allowed.errorOutput)")
            #expect(FileManager.default.fileExists(atPath: dir + "/w.txt"))
        }
    }

    @Test func runawayMemoryIsACleanError() throws {
        try withTempDir { dir in
            try write("t={} while true do t[#t+1]=string.rep(\"x\",1e6) end\n", to: dir + "/big.lua")
            let result = run(dir + "/big.lua", memory: 32 << 20)
            #expect(result.exitCode == 1)
            #expect(result.errorOutput.contains("not enough memory"))
            #expect(result.errorOutput.contains("--memory-limit"))
        }
    }

    @Test func modulesNextToTheRecipeWin() throws {
        try withTempDir { dir in
            try write("return 'local'", to: dir + "/r/firebuild/assert.lua")
            try write("assert(require('firebuild.assert') == 'local')\nassert(require('helper').x == 1)", to: dir + "/r/main.lua")
            try write("return { x = 1 }", to: dir + "/r/helper.lua")
            let context = RecipeContext(recipePath: dir + "/r/main.lua", logger: CapturedLogs().logger)
            let result = ScriptRunner.run(path: dir + "/r/main.lua", context: context)
            #expect(result.exitCode == 0, "\(result.errorOutput)")
        }
    }

    @Test func defaultSearchPathsOrder() throws {
        try withTempDir { dir in
            try FileManager.default.createDirectory(atPath: dir + "/prefix/lua/firebuild", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: dir + "/prefix/bin/debug", withIntermediateDirectories: true)
            let found = ScriptRunner.defaultSearchPaths(recipeDir: "recipes", environment: [:],
                                                        executablePath: dir + "/prefix/bin/debug/firebuild")
            #expect(found == ["recipes", "./lua", dir + "/prefix/lua"])
            let env = ScriptRunner.defaultSearchPaths(recipeDir: "recipes", environment: ["FIREBUILD_LUA_PATH": "/a:/b"],
                                                      executablePath: dir + "/prefix/bin/debug/firebuild")
            #expect(env == ["recipes", "./lua", "/a", "/b"])
            // The installed layout: PREFIX/bin/firebuild and PREFIX/share/firebuild/lua.
            try FileManager.default.createDirectory(atPath: dir + "/usr/share/firebuild/lua/firebuild", withIntermediateDirectories: true)
            let installed = ScriptRunner.libraryDirectories(environment: [:], executablePath: dir + "/usr/bin/firebuild")
            #expect(installed == [dir + "/usr/share/firebuild/lua"])
        }
    }

    @Test func projectLibraryIsFoundFromTheTestExecutable() {
        // The test binary lives under .build/ of this package, whose lua/ holds firebuild/assert.lua.
        let dirs = ScriptRunner.libraryDirectories(environment: [:], executablePath: ScriptRunner.currentExecutablePath())
        #expect(dirs.count == 1)
        #expect(FileManager.default.fileExists(atPath: (dirs.first ?? "") + "/firebuild/assert.lua"))
    }

    @Test func helloRecipeRuns() throws {
        // recipes/hello.lua of this package, found next to the lua/ library.
        guard let lib = ScriptRunner.libraryDirectories(environment: [:], executablePath: ScriptRunner.currentExecutablePath()).first
        else { Issue.record("project lua/ not found"); return }
        let hello = (lib as NSString).deletingLastPathComponent + "/recipes/hello.lua"
        let logs = CapturedLogs()
        let context = RecipeContext(recipePath: hello, args: ["Ada"], logger: logs.logger)
        let result = ScriptRunner.run(path: hello, args: ["Ada"], context: context)
        #expect(result.exitCode == 0, "\(result.errorOutput)")
        #expect(logs.events.first?.metadata["who"] == .string("Ada"))
    }
}
