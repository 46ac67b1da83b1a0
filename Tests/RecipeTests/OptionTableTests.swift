import Foundation
import Testing
import FirebuildCore
import LuaRuntime
@testable import Recipe

@Suite struct OptionTableTests {
    func table(_ fields: [String: LuaValue]) -> LuaTable {
        var t = LuaTable()
        for (k, v) in fields { t[k] = v }
        return t
    }

    @Test func unknownKeyNamesFunctionSuggestionAndValidKeys() throws {
        do {
            _ = try OptionTable(table(["memory": 256]), function: "firebuild.vm.run", keys: ["mem", "cpu", "from"])
            Issue.record("expected an error")
        } catch let e as FirebuildError {
            #expect(e.message == "unknown option \"memory\" for firebuild.vm.run (did you mean \"mem\"?); valid: cpu, from, mem")
        }
    }

    @Test(arguments: [
        ("mem", LuaValue.string("x"), "option \"mem\" of f must be an integer, got the string \"x\""),
        ("name", LuaValue.integer(3), ""),
        ("name", LuaValue.boolean(true), "option \"name\" of f must be a string, got true"),
        ("flag", LuaValue.string("yes"), "option \"flag\" of f must be true or false, got the string \"yes\""),
        ("env", LuaValue.table(LuaTable(array: ["a"])), "option \"env\" of f must be a table of KEY = \"value\" pairs, got a table"),
        ("ports", LuaValue.table(LuaTable(array: [.table(LuaTable())])), "option \"ports\" of f must be a list of strings, got a table"),
    ])
    func typedGettersCheckTypes(key: String, value: LuaValue, expected: String) throws {
        let o = try OptionTable(table([key: value]), function: "f", keys: ["mem", "name", "flag", "env", "ports"])
        do {
            switch key {
            case "mem": _ = try o.int(key)
            case "name": _ = try o.string(key)
            case "flag": _ = try o.bool(key)
            case "env": _ = try o.stringMap(key)
            default: _ = try o.stringList(key)
            }
            #expect(expected.isEmpty, "expected an error: \(expected)")
        } catch let e as FirebuildError {
            #expect(e.message == expected)
        }
    }

    @Test func gettersConvertListsMapsAndNumbers() throws {
        var env = LuaTable()
        env["A"] = "1"
        env["N"] = 2
        let o = try OptionTable(table(["ports": "80:80", "env": .table(env), "mem": .number(256.0), "name": "x"]),
                                function: "f", keys: ["ports", "env", "mem", "name", "absent"])
        #expect(try o.stringList("ports") == ["80:80"])
        #expect(try o.stringMap("env") == ["A": "1", "N": "2"])
        #expect(try o.int("mem") == 256)
        #expect(try o.requiredString("name") == "x")
        #expect(try o.string("absent") == nil)
        #expect(throws: FirebuildError.self) { try o.requiredString("absent") }
    }

    @Test func listsAndNonStringKeysAreRejected() {
        #expect(throws: FirebuildError.self) { try OptionTable(LuaTable(array: ["a"]), function: "f", keys: ["a"]) }
        #expect(throws: FirebuildError.self) { try OptionTable(LuaTable(fields: [.integer(5): "x"]), function: "f", keys: ["a"]) }
    }

    @Test(arguments: [("memory", "mem"), ("daemonise", "daemonize"), ("vmlinux", "vmlinux_id"), ("zzzzzz", nil)] as [(String, String?)])
    func suggestions(typo: String, expected: String?) {
        #expect(OptionTable.suggestion(for: typo, among: ["mem", "daemonize", "vmlinux_id", "cpu"]) == expected)
    }

    @Test func errorFromARecipeNamesTheRecipeLine() throws {
        try withTempDir { dir in
            let vm = try recipeVM(path: dir + "/r.lua")
            do {
                try vm.run("local fb = require 'firebuild'\n\nfb.network{ name = 'n', subnet = '10.9.0.0/24', sbnet = 1 }\n",
                           chunkName: "@recipes/x.lua")
                Issue.record("expected an error")
            } catch let e as LuaScriptError {
                #expect(e.message.hasPrefix("recipes/x.lua:3: unknown option \"sbnet\" for firebuild.network (did you mean \"subnet\"?); valid: bridge, conf_dir,"))
            }
        }
    }
}
