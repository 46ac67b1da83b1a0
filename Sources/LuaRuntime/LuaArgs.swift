import CLua
import CLuaShim
import FirebuildCore
import Foundation

/// The arguments of one call of a Swift binding, read on demand from the Lua stack.
/// Valid only during the call. Indices are 1-based as in Lua; for methods, 1 is the first
/// argument after `self`. Checks throw `LuaArgumentError` worded like Lua's own
/// (`bad argument #1 to 'fs.read' (string expected, got nil)`); the trampoline then raises
/// it as a Lua error prefixed with the calling line.
public struct LuaArgs {
    public let vm: LuaVM
    let L: OpaquePointer
    /// Stack index of argument 0 (0 for functions, 1 for methods: `self` sits at 1).
    let offset: Int32
    /// Qualified name used in messages (`fs.read`, `Image:tag`).
    public let functionName: String

    init(vm: LuaVM, L: OpaquePointer, offset: Int32, functionName: String) {
        self.vm = vm
        self.L = L
        self.offset = offset
        self.functionName = functionName
    }

    /// Number of arguments passed.
    public var count: Int { max(0, Int(lua_gettop(L) - offset)) }

    private func slot(_ i: Int) -> Int32 { offset + Int32(i) }

    public func type(_ i: Int) -> LuaType {
        guard i >= 1, i <= count else { return .none }
        return LuaType(rawValue: lua_type(L, slot(i))) ?? .none
    }

    /// True when the argument is nil or absent.
    public func isNil(_ i: Int) -> Bool { type(i) == .none || type(i) == .nil }

    public func value(_ i: Int) throws -> LuaValue {
        guard i >= 1, i <= count else { return .nil }
        do {
            return try vm.value(at: slot(i), on: L)
        } catch let e as LuaArgumentError {
            throw LuaArgumentError("bad argument #\(i) to '\(functionName)' (\(e.message))")
        }
    }

    /// Every argument, converted.
    public func all() throws -> [LuaValue] {
        guard count > 0 else { return [] }
        return try (1...count).map { try value($0) }
    }

    public func error(_ i: Int, expected: String) -> LuaArgumentError {
        LuaArgumentError("bad argument #\(i) to '\(functionName)' (\(expected) expected, got \(type(i).name))")
    }

    /// A string argument; numbers are converted as Lua does (`luaL_checkstring`).
    public func string(_ i: Int) throws -> String {
        switch type(i) {
        case .string, .number:
            if let s = try value(i).string { return s }
            throw LuaArgumentError("bad argument #\(i) to '\(functionName)' (string is not valid UTF-8)")
        default: throw error(i, expected: "string")
        }
    }

    public func optionalString(_ i: Int) throws -> String? {
        isNil(i) ? nil : try string(i)
    }

    /// Any argument as Lua's `tostring` shows it (honours `__tostring`, e.g. of userdata).
    public func tostring(_ i: Int) -> String {
        guard i >= 1, i <= count else { return "nil" }
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        guard fb_tostring(L, slot(i)) == LUA_OK, case .string(let s) = vm.readString(at: -1, on: L) else {
            return (try? value(i).description) ?? type(i).name
        }
        return s
    }

    /// A string argument as raw bytes (any content, not only UTF-8).
    public func bytes(_ i: Int) throws -> [UInt8] {
        switch type(i) {
        case .string, .number: return try value(i).bytes ?? []
        default: throw error(i, expected: "string")
        }
    }

    public func integer(_ i: Int) throws -> Int64 {
        guard type(i) == .number || type(i) == .string else { throw error(i, expected: "number") }
        let v = try value(i)
        if let n = v.integer { return n }
        if let s = v.string, let n = Int64(s.trimmingCharacters(in: .whitespaces)) { return n }
        throw LuaArgumentError("bad argument #\(i) to '\(functionName)' (number has no integer representation)")
    }

    public func optionalInteger(_ i: Int) throws -> Int64? {
        isNil(i) ? nil : try integer(i)
    }

    public func number(_ i: Int) throws -> Double {
        guard type(i) == .number || type(i) == .string else { throw error(i, expected: "number") }
        let v = try value(i)
        if let d = v.double { return d }
        if let s = v.string, let d = Double(s.trimmingCharacters(in: .whitespaces)) { return d }
        throw error(i, expected: "number")
    }

    /// Lua truthiness of the argument (absent = false).
    public func boolean(_ i: Int) -> Bool {
        guard i >= 1, i <= count else { return false }
        return lua_toboolean(L, slot(i)) != 0
    }

    public func table(_ i: Int) throws -> LuaTable {
        guard type(i) == .table, let t = try value(i).table else { throw error(i, expected: "table") }
        return t
    }

    public func optionalTable(_ i: Int) throws -> LuaTable? {
        isNil(i) ? nil : try table(i)
    }

    /// A function argument, as a reference callable later (hooks).
    public func function(_ i: Int) throws -> LuaFunctionRef {
        guard type(i) == .function, let f = try value(i).function else { throw error(i, expected: "function") }
        return f
    }

    public func optionalFunction(_ i: Int) throws -> LuaFunctionRef? {
        isNil(i) ? nil : try function(i)
    }

    /// A userdata of a registered type; checked by metatable identity (never raises).
    public func userdata<T: AnyObject>(_ i: Int, as type: T.Type) throws -> T {
        guard let object = vm.object(at: slot(i), on: L, as: T.self) else {
            let name = vm.types[ObjectIdentifier(T.self)]?.name ?? "\(T.self)"
            throw error(i, expected: name)
        }
        return object
    }

    /// `self` of a method call.
    func selfObject<T: AnyObject>(as type: T.Type, method: String) throws -> T {
        guard offset >= 1, let object = vm.object(at: offset, on: L, as: T.self) else {
            let name = vm.types[ObjectIdentifier(T.self)]?.name ?? "\(T.self)"
            let got = lua_gettop(L) >= 1 ? (LuaType(rawValue: lua_type(L, 1))?.name ?? "no value") : "no value"
            throw LuaArgumentError("calling '\(method)' on bad self (\(name) expected, got \(got)); use obj:\(method)(...)")
        }
        return object
    }
}
