import Foundation
import Logging
import Testing
import FirebuildCore
import LuaRuntime
@testable import Recipe

@Suite struct RecipeBindingTests {
    @Test func versionApiAndDryRun() throws {
        let vm = try recipeVM(path: "r.lua", dryRun: true)
        let r = try vm.run("local fb = require 'firebuild' return fb.version, fb.api(1), fb.dry_run")
        #expect(r.map(\.description) == [FirebuildVersion.current, "1", "true"])
    }

    @Test func apiRejectsOtherVersions() throws {
        let vm = try recipeVM(path: "r.lua")
        #expect(throws: LuaScriptError.self) { try vm.run("require('firebuild').api(2)", chunkName: "@app.lua") }
        do {
            try vm.run("require('firebuild').api(2)", chunkName: "@app.lua")
        } catch let e as LuaScriptError {
            #expect(e.message.hasPrefix("app.lua:1: this recipe needs firebuild recipe API 2"))
            #expect(e.message.contains("provides API 1"))
        }
    }

    @Test func envReadsTheContextEnvironment() throws {
        let vm = try recipeVM(path: "r.lua", environment: ["FB_TEST": "yes"])
        let r = try vm.run("local fb = require 'firebuild' return fb.env('FB_TEST'), fb.env('FB_NOPE'), fb.env('FB_NOPE', 'dflt')")
        #expect(r.map(\.description) == ["yes", "nil", "dflt"])
    }

    @Test func logGoesThroughSwiftLogWithFields() throws {
        let logs = CapturedLogs()
        let vm = try recipeVM(path: "r.lua", logs: logs)
        try vm.run("""
            local log = require('firebuild').log
            log.info('hello', { who = 'ada', n = 3, nested = { a = 1 }, list = { 'x', 'y' } })
            log.warn('careful')
            log.debug('details')
            log.error(42)
            """)
        let events = logs.events
        #expect(events.map(\.level) == [.info, .warning, .debug, .error])
        #expect(events.map(\.message) == ["hello", "careful", "details", "42"])
        #expect(events[0].metadata["who"] == .string("ada"))
        #expect(events[0].metadata["n"] == .string("3"))
        #expect(events[0].metadata["nested"] == .dictionary(["a": .string("1")]))
        #expect(events[0].metadata["list"] == .array([.string("x"), .string("y")]))
    }

    @Test func fsResolvesAgainstTheRecipeDirectory() throws {
        try withTempDir { dir in
            try write("data\n", to: dir + "/recipes/files/a.txt")
            try Data([0xff, 0x00, 0x41]).write(to: URL(fileURLWithPath: dir + "/recipes/files/b.bin"))
            let vm = try recipeVM(path: dir + "/recipes/app.lua")
            let r = try vm.run("""
                local fs = require('firebuild').fs
                local bin = fs.read('files/b.bin')
                return fs.read('files/a.txt'), #bin, bin:byte(1), fs.exists('files/a.txt'), fs.exists('nope'),
                       fs.exists('\(dir)/recipes/files')
                """)
            #expect(r.map(\.description) == ["data\n", "3", "255", "true", "false", "true"])
        }
    }

    @Test func fsReadErrorsNameTheRecipeLine() throws {
        try withTempDir { dir in
            let vm = try recipeVM(path: dir + "/app.lua")
            do {
                try vm.run("local fs = require('firebuild').fs\nfs.read('missing.txt')", chunkName: "@app.lua")
                Issue.record("expected an error")
            } catch let e as LuaScriptError {
                #expect(e.message.hasPrefix("app.lua:2: fs.read: missing.txt not found"))
            }
        }
    }

    @Test func fsGlob() throws {
        try withTempDir { dir in
            for f in ["a.lua", "b.lua", "c.txt", ".hidden.lua", "src/x.c", "src/deep/y.c", "src/deep/z.h", "src/.git/k.c"] {
                try write("", to: "\(dir)/r/\(f)")
            }
            let vm = try recipeVM(path: dir + "/r/app.lua")
            func glob(_ p: String) throws -> [String] {
                try vm.run("return require('firebuild').fs.glob(...)", args: [.string(p)]).first?.table?.array.map(\.description) ?? []
            }
            #expect(try glob("*.lua") == ["a.lua", "b.lua"])
            #expect(try glob("?.txt") == ["c.txt"])
            #expect(try glob("[ab].lua") == ["a.lua", "b.lua"])
            #expect(try glob("[!a].lua") == ["b.lua"])
            #expect(try glob("src/**/*.c") == ["src/deep/y.c", "src/x.c"])
            #expect(try glob("**/*.h") == ["src/deep/z.h"])
            #expect(try glob(".*.lua") == [".hidden.lua"])
            #expect(try glob("nothing*") == [])
            #expect(try glob("\(dir)/r/*.txt") == ["\(dir)/r/c.txt"])
        }
    }
}

@Suite struct GlobMatchTests {
    @Test(arguments: [
        ("*", "abc", true), ("a*c", "abc", true), ("a*c", "abd", false), ("*.lua", "x.lua", true),
        ("*.lua", ".x.lua", false), ("a?c", "abc", true), ("a?c", "ac", false), ("[a-c]x", "bx", true),
        ("[a-c]x", "dx", false), ("[!a-c]x", "dx", true), ("[^a]", "a", false), ("[]]", "]", true),
        ("\\*", "*", true), ("\\*", "a", false), ("*a*b*", "xxaxxbxx", true), ("*a*b", "xxaxxbxxc", false),
    ])
    func segmentMatching(pattern: String, name: String, expected: Bool) {
        #expect(Glob.matches(pattern, name) == expected)
    }

    @Test func unterminatedClassIsAnError() {
        #expect(throws: FirebuildError.self) { try Glob.expand("[abc", relativeTo: "/tmp") }
    }
}
