import Foundation
import Testing
@testable import LuaRuntime

@Suite struct SandboxTests {
    @Test(arguments: [
        ("io.open('/etc/hostname')", "io is disabled in recipes; run with --unsafe to allow it"),
        ("os.execute('true')", "os.execute is disabled in recipes; run with --unsafe to allow it"),
        ("os.remove('/tmp/x')", "os.remove is disabled in recipes; run with --unsafe to allow it"),
        ("os.exit(3)", "os.exit is disabled in recipes; run with --unsafe to allow it"),
        ("loadfile('/etc/hostname')", "loadfile is disabled in recipes; run with --unsafe to allow it"),
        ("dofile('/etc/hostname')", "dofile is disabled in recipes; run with --unsafe to allow it"),
        ("debug.getinfo(1)", "debug is disabled in recipes; run with --unsafe to allow it"),
        ("require('io').open('/etc/hostname')", "io is disabled in recipes; run with --unsafe to allow it"),
        ("package.loadlib('x', 'y')", "package.loadlib is disabled in recipes; run with --unsafe to allow it"),
    ])
    func refusedWithAClearMessage(code: String, message: String) throws {
        let vm = try LuaVM()
        let e = luaError { try vm.run("local x = 1\n" + code, chunkName: "@recipe.lua") }
        #expect(e?.message == "recipe.lua:2: " + message)
    }

    @Test func allowedLibrariesWork() throws {
        let vm = try LuaVM()
        let r = try vm.run("""
            return type(os.time()), type(os.clock()), os.date('!%Y', 0), os.getenv('PATH') ~= nil,
                   string.format('%d', 3), table.concat({1, 2}, ','), math.max(1, 2), utf8.char(72),
                   coroutine.wrap(function() coroutine.yield(7) end)(), select('#', pcall(error, 'e'))
            """)
        #expect(r.map(\.description) == ["number", "number", "1970", "true", "3", "1,2", "2", "H", "7", "2"])
    }

    @Test func loadIsTextOnly() throws {
        let vm = try LuaVM()
        let r = try vm.run("return load('return 1 + 1')(), load(string.dump(function() end))")
        #expect(r[0].integer == 2)
        #expect(r[1].isNil)
        let why = try vm.run("local f, e = load(string.dump(function() end)) return e")
        #expect(why.first?.string?.contains("--unsafe") == true)
    }

    @Test func binaryRecipeIsRefused() throws {
        try withTempDir { dir in
            let vm = try LuaVM(options: LuaOptions(unsafe: true))
            let dump = try #require(try vm.run("return string.dump(function() return 1 end)").first?.bytes)
            try Data(dump).write(to: URL(fileURLWithPath: dir + "/bin.lua"))
            let e = luaError { try LuaVM().runFile(dir + "/bin.lua") }
            #expect(e?.message.contains("precompiled (binary) Lua chunks are refused") == true)
            // With --unsafe it loads.
            #expect(try LuaVM(options: LuaOptions(unsafe: true)).runFile(dir + "/bin.lua").first?.integer == 1)
        }
    }

    @Test func unsafeAllowsIoAndOsExecute() throws {
        try withTempDir { dir in
            let vm = try LuaVM(options: LuaOptions(unsafe: true))
            let r = try vm.run("""
                local f = assert(io.open('\(dir)/out.txt', 'w')) f:write('hi') f:close()
                local ok = os.execute('true')
                return ok, io.open('\(dir)/out.txt'):read('a')
                """)
            #expect(r[0].bool == true)
            #expect(r[1].string == "hi")
        }
    }

    @Test func requireSearchOrder() throws {
        try withTempDir { dir in
            let recipeDir = dir + "/recipes", cwdLua = dir + "/cwd/lua", project = dir + "/project/lua"
            // `shared` exists in all three; `mid` in the last two; `deep` only in the project.
            for (where_, names) in [(recipeDir, ["shared"]), (cwdLua, ["shared", "mid"]), (project, ["shared", "mid", "deep"])] {
                for name in names { try write("return '\(where_)'", to: "\(where_)/\(name).lua") }
            }
            try write("return 'init'", to: project + "/pkg/init.lua")
            try write("return 'dotted'", to: project + "/firebuild/extra.lua")
            let vm = try LuaVM(options: LuaOptions(searchPaths: [recipeDir, cwdLua, project]))
            let r = try vm.run("return require 'shared', require 'mid', require 'deep', require 'pkg', (require 'firebuild.extra')")
            #expect(r.map(\.description) == [recipeDir, cwdLua, project, "init", "dotted"])
            let e = luaError { try vm.run("require 'missing'") }
            #expect(e?.message.contains("module 'missing' not found") == true)
            #expect(e?.message.contains("\(recipeDir)/missing.lua") == true)
            #expect(e?.message.contains("cpath") == false)
        }
    }

    @Test func searchPathsWithSeparatorsAreRefused() {
        #expect(throws: (any Error).self) { try LuaVM(options: LuaOptions(searchPaths: ["/tmp/a;b"])) }
    }
}
