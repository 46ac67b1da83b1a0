import Foundation
import Testing
@testable import LuaRuntime

/// Counts live instances to prove that Lua's __gc releases the Swift objects it holds.
final class Tracked {
    nonisolated(unsafe) static var live = 0
    static let lock = NSLock()
    let name: String
    init(_ name: String) {
        self.name = name
        Tracked.lock.withLock { Tracked.live += 1 }
    }
    deinit { Tracked.lock.withLock { Tracked.live -= 1 } }
}

final class Point {
    var x: Int64, y: Int64
    init(x: Int64, y: Int64) { self.x = x; self.y = y }
}

@Suite(.serialized) struct BindingTests {
    func makeVM() throws -> LuaVM {
        let vm = try LuaVM()
        try vm.registerType(Point.self, name: "test.Point", methods: [
            "sum": { p, _ in [.integer(p.x + p.y)] },
            "moved": { p, args in [.userdata(Point(x: p.x + (try args.integer(1)), y: p.y))] },
        ], tostring: { p in "Point(\(p.x), \(p.y))" })
        let m = LuaModule("t")
        m.function("point") { args in [.userdata(Point(x: try args.integer(1), y: try args.integer(2)))] }
        m.function("x") { args in [.integer(try args.userdata(1, as: Point.self).x)] }
        m.function("echo") { args in try args.all() }
        m.table("nested").function("add") { args in [.integer(try args.integer(1) + (try args.integer(2)))] }
        m.value("version", "1.2.3")
        try vm.register(module: m)
        return vm
    }

    @Test func functionsValuesAndNestedTables() throws {
        let vm = try makeVM()
        let r = try vm.run("local t = require 't' return t.version, t.nested.add(2, 40), t.echo(1, 'a', nil, true)")
        #expect(r.map(\.description) == ["1.2.3", "42", "1", "a", "nil", "true"])
    }

    @Test func userdataMethodsTostringAndIdentity() throws {
        let vm = try makeVM()
        let r = try vm.run("""
            local t = require 't'
            local p = t.point(1, 2)
            local q = p:moved(10)
            return p:sum(), tostring(q), t.x(q), getmetatable(p), p == p
            """)
        #expect(r.map(\.description) == ["3", "Point(11, 2)", "11", "test.Point", "true"])
        // Passing the same Swift object twice yields the same Lua value.
        let point = Point(x: 5, y: 5)
        try vm.setGlobal("a", .userdata(point))
        try vm.setGlobal("b", .userdata(point))
        #expect(try vm.run("return a == b").first?.bool == true)
        #expect(try vm.global("a").userdata(as: Point.self) === point)
    }

    @Test func wrongSelfAndWrongTypeAreLuaErrors() throws {
        let vm = try makeVM()
        let e = luaError { try vm.run("local t = require 't' local p = t.point(1, 2) p.sum()", chunkName: "@u.lua") }
        #expect(e?.message.hasPrefix("u.lua:1: calling 'sum' on bad self") == true)
        let e2 = luaError { try vm.run("require('t').x({})", chunkName: "@u.lua") }
        #expect(e2?.message == "u.lua:1: bad argument #1 to 't.x' (test.Point expected, got table)")
    }

    @Test func unregisteredTypesAreRefused() throws {
        let vm = try makeVM()
        #expect(throws: (any Error).self) { try vm.setGlobal("x", .userdata(NSObject())) }
        #expect(throws: (any Error).self) { try vm.registerType(Point.self, name: "test.Point2") }
    }

    @Test func gcReleasesSwiftObjects() throws {
        let vm = try LuaVM()
        try vm.registerType(Tracked.self, name: "test.Tracked", methods: ["name": { o, _ in [.string(o.name)] }])
        let m = LuaModule("tracked")
        m.function("new") { args in [.userdata(Tracked(try args.string(1)))] }
        try vm.register(module: m)
        let before = Tracked.live
        try vm.run("""
            local new = require('tracked').new
            keep = {}
            for i = 1, 1000 do local o = new('o' .. i) if i % 100 == 0 then keep[#keep + 1] = o end end
            """)
        try vm.collectGarbage()
        #expect(Tracked.live - before == 10)
        try vm.run("keep = nil")
        try vm.collectGarbage()
        #expect(Tracked.live == before)
        // Closing the VM finalizes what is still referenced.
        try vm.run("last = require('tracked').new('last')")
        #expect(Tracked.live == before + 1)
        vm.close()
        #expect(Tracked.live == before)
    }

    @Test func manyBindingCallsDoNotLeak() throws {
        let vm = try makeVM()
        let loop = """
            local t = require 't'
            local n = 0
            for i = 1, 10000 do
              local p = t.point(i, i)
              n = n + p:sum() + t.nested.add(i, 1) + #t.echo('some string argument', i, {a = i})
            end
            return n
            """
        try vm.run(loop)  // warm up allocator and caches
        try vm.collectGarbage()
        let before = residentBytes()
        for _ in 0..<3 { try vm.run(loop) }
        try vm.collectGarbage()
        let growth = residentBytes() - before
        #expect(growth < 20 << 20, "RSS grew by \(growth) bytes over 30,000 iterations")
        #expect(vm.memoryUsed < 4 << 20)
        // The VM's boxes do not grow per call either (only per registered function).
        #expect(vm.functionBoxes.count < 10)
    }

    @Test func functionRefsAreReleased() throws {
        let vm = try makeVM()
        let m = LuaModule("hooks")
        nonisolated(unsafe) var stored: [LuaFunctionRef] = []
        m.function("on") { args in stored.append(try args.function(1)); return [] }
        try vm.register(module: m)
        try vm.run("local on = require('hooks').on for i = 1, 100 do on(function() return i end) end")
        #expect(try stored[41].call().first?.integer == 42)
        stored.removeAll()
        try vm.collectGarbage()  // flushes the released references first
        #expect(vm.pendingUnrefs.isEmpty)
    }

    @Test func bindingsWorkInsideCoroutines() throws {
        let vm = try makeVM()
        let m = LuaModule("cb")
        m.function("apply") { args in try args.function(1).call(try args.value(2)) }
        try vm.register(module: m)
        let r = try vm.run("""
            local apply = require('cb').apply
            local co = coroutine.wrap(function(x)
              local y = apply(function(v) return v * 2 end, x)
              coroutine.yield(y)
              return apply(function(v) return v + 1 end, y)
            end)
            return co(5), co()
            """)
        #expect(r.map(\.description) == ["10", "11"])
    }

    @Test func hookErrorsPropagateWithTheirLine() throws {
        let vm = try makeVM()
        let m = LuaModule("cb")
        m.function("apply") { args in try args.function(1).call() }
        try vm.register(module: m)
        let e = luaError {
            try vm.run("local apply = require('cb').apply\napply(function()\n  error('in hook')\nend)", chunkName: "@h.lua")
        }
        #expect(e?.message == "h.lua:3: in hook")
    }
}

@Suite struct ToStringTests {
    @Test func tostringHonoursMetamethods() throws {
        let vm = try LuaVM()
        try vm.registerType(Point.self, name: "test.Point", tostring: { p in "P\(p.x)" })
        let m = LuaModule("s")
        m.function("str") { args in (1...max(1, args.count)).map { .string(args.tostring($0)) } }
        m.function("p") { _ in [.userdata(Point(x: 7, y: 0))] }
        try vm.register(module: m)
        let r = try vm.run("local s = require 's' return s.str(s.p(), 1.5, nil, setmetatable({}, {__tostring = function() return 'T' end}))")
        #expect(r.map(\.description) == ["P7", "1.5", "nil", "T"])
    }
}
