import Foundation
import Testing
@testable import LuaRuntime

@Suite struct LuaVMTests {
    @Test func runsCodeAndConvertsValues() throws {
        let vm = try LuaVM()
        let r = try vm.run("return 1, 2.5, 'x', true, nil, {1, 2, a = 'b', [10] = 3}")
        #expect(r.count == 6)
        #expect(r[0].integer == 1)
        #expect(r[1].double == 2.5)
        #expect(r[2].string == "x")
        #expect(r[3].bool == true)
        #expect(r[4].isNil)
        let t = try #require(r[5].table)
        #expect(t.array.count == 2)
        #expect(t["a"].string == "b")
        #expect(t[10].integer == 3)
    }

    @Test func roundTripsValuesThroughGlobals() throws {
        let vm = try LuaVM()
        try vm.setGlobal("g", ["name": "x", "list": [1, 2, 3], "bin": .bytes([0xff, 0, 0x41])])
        let r = try vm.run("return g.name, #g.list, g.list[3], #g.bin, g.bin:byte(1)")
        #expect(r.map(\.description) == ["x", "3", "3", "3", "255"])
        #expect(try vm.global("g").table?["list"].table?.array.count == 3)
    }

    @Test func cyclicTablesAreRefusedNotLooped() throws {
        let vm = try LuaVM()
        let e = luaError { _ = try vm.run("local t = {} t.t = t return t") }
        // Reading results happens in Swift: a LuaArgumentError, not a LuaScriptError.
        #expect(e?.message.contains("contains itself") == true)
    }

    @Test func functionRefsAreCallableLater() throws {
        let vm = try LuaVM()
        let r = try vm.run("local n = 0 return function(a, b) n = n + 1 return a + b, n end")
        let f = try #require(r.first?.function)
        #expect(try f.call(2, 3).map(\.description) == ["5", "1"])
        #expect(try f.call(1, 1).map(\.description) == ["2", "2"])
        let failing = try #require(try vm.run("return function() error('hook failed') end", chunkName: "@hooks.lua").first?.function)
        let e = luaError { try failing.call() }
        #expect(e?.message == "hooks.lua:1: hook failed")
        #expect(e?.traceback.hasPrefix("stack traceback:") == true)
    }

    @Test func memorySizesParse() throws {
        #expect(try LuaOptions.parseMemorySize("256M") == 256 << 20)
        #expect(try LuaOptions.parseMemorySize("1G") == 1 << 30)
        #expect(try LuaOptions.parseMemorySize("512MiB") == 512 << 20)
        #expect(try LuaOptions.parseMemorySize("64k") == 64 << 10)
        #expect(try LuaOptions.parseMemorySize("1000") == 1000)
        #expect(throws: (any Error).self) { try LuaOptions.parseMemorySize("lots") }
        #expect(throws: (any Error).self) { try LuaOptions.parseMemorySize("12T") }
        #expect(LuaOptions.formatMemorySize(512 << 20) == "512 MiB")
    }

    @Test func memoryCapGivesACleanErrorAndTheVMSurvives() throws {
        let vm = try LuaVM(options: LuaOptions(memoryLimit: 64 << 20))
        let e = luaError {
            try vm.run("t = {} while true do t[#t+1] = string.rep('x', 1e6) end", chunkName: "@runaway.lua")
        }
        #expect(e?.kind == .memory)
        #expect(e?.message.hasPrefix("not enough memory") == true)
        #expect(e?.message.contains("64 MiB") == true)
        #expect(vm.memoryUsed <= 64 << 20)
        // The state is still usable once the garbage is dropped.
        try vm.run("t = nil collectgarbage()")
        #expect(try vm.run("return 40 + 2").first?.integer == 42)
        #expect(vm.memoryUsed < 8 << 20)
    }

    @Test func otherThreadsAreRefused() throws {
        let vm = try LuaVM()
        nonisolated(unsafe) var failed = false
        nonisolated(unsafe) let shared = vm
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            do { _ = try shared.run("return 1") } catch { failed = true }
            done.signal()
        }
        done.wait()
        #expect(failed)
    }
}
