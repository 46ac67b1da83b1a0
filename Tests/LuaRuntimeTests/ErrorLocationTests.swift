import Foundation
import Testing
import FirebuildCore
@testable import LuaRuntime

@Suite struct ErrorLocationTests {
    func vm(paths: [String] = []) throws -> LuaVM {
        let vm = try LuaVM(options: LuaOptions(searchPaths: paths))
        let m = LuaModule("firebuild")
        m.table("fs").function("read") { args in
            let path = try args.string(1)
            throw FirebuildError(.notFound, "file \"\(path)\" not found")
        }
        try vm.register(module: m)
        return vm
    }

    @Test func syntaxErrorNamesFileAndLine() throws {
        try withTempDir { dir in
            try write("local a = 1\nlocal b = = 2\n", to: dir + "/bad.lua")
            let e = luaError { try self.vm().runFile(dir + "/bad.lua") }
            #expect(e?.kind == .syntax)
            #expect(e?.message.contains("bad.lua:2:") == true)
        }
    }

    @Test func runtimeErrorNamesFileAndLineWithTraceback() throws {
        try withTempDir { dir in
            try write("-- hello\nlocal x = 1\nerror(\"x\")\n", to: dir + "/hello.lua")
            let e = luaError { try self.vm().runFile(dir + "/hello.lua") }
            #expect(e?.kind == .runtime)
            #expect(e?.message.hasSuffix("hello.lua:3: x") == true)
            #expect(e?.traceback.contains("stack traceback:") == true)
            #expect(e?.traceback.contains("hello.lua:3") == true)
        }
    }

    @Test func errorInRequiredModuleNamesTheModuleLine() throws {
        try withTempDir { dir in
            try write("local M = {}\nfunction M.f()\n  error('inside module')\nend\nreturn M\n", to: dir + "/mod.lua")
            try write("local m = require 'mod'\nm.f()\n", to: dir + "/main.lua")
            let e = luaError { try self.vm(paths: [dir]).runFile(dir + "/main.lua") }
            #expect(e?.message.hasSuffix("mod.lua:3: inside module") == true)
            #expect(e?.traceback.contains("main.lua:2") == true)
        }
    }

    @Test func syntaxErrorInRequiredModuleNamesTheModuleLine() throws {
        try withTempDir { dir in
            try write("return {\n  a = ,\n}\n", to: dir + "/broken.lua")
            try write("require 'broken'\n", to: dir + "/main.lua")
            let e = luaError { try self.vm(paths: [dir]).runFile(dir + "/main.lua") }
            #expect(e?.message.contains("broken.lua:2:") == true)
        }
    }

    @Test func bindingErrorNamesTheCallingRecipeLine() throws {
        try withTempDir { dir in
            try write("local fb = require 'firebuild'\n\nlocal s = fb.fs.read('x')\n", to: dir + "/app.lua")
            let e = luaError { try self.vm().runFile(dir + "/app.lua") }
            #expect(e?.message.hasSuffix("app.lua:3: file \"x\" not found") == true)
        }
    }

    @Test func badArgumentIsWordedLikeLua() throws {
        let e = luaError { try self.vm().run("require('firebuild').fs.read()", chunkName: "@app.lua") }
        #expect(e?.message == "app.lua:1: bad argument #1 to 'firebuild.fs.read' (string expected, got no value)")
    }

    @Test func bindingErrorsAreCatchableWithPcall() throws {
        let r = try vm().run("local ok, e = pcall(function() return require('firebuild').fs.read('y') end) return ok, e",
                             chunkName: "@p.lua")
        #expect(r[0].bool == false)
        #expect(r[1].string == "p.lua:1: file \"y\" not found")
    }

    @Test func nonStringErrorsAreDescribed() throws {
        let e = luaError { try self.vm().run("error({code = 1})") }
        #expect(e?.message == "(error object is a table value)")
        let e2 = luaError { try self.vm().run("error(setmetatable({}, {__tostring = function() return 'custom' end}))") }
        #expect(e2?.message == "custom")
    }
}
