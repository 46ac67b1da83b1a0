import CLua
import CLuaShim
import FirebuildCore

// Conversions between LuaValue and the Lua stack. Reads use only non-raising API functions
// (`lua_type`, `lua_to*`, `lua_next` on keys it produced itself, with no Lua code running in
// between); writes of anything collectable go through the protected shims.
extension LuaVM {
    /// Pushes `value` on `L`. On failure (out of memory, invalid key) the stack is unchanged.
    func push(_ value: LuaValue, on L: OpaquePointer) throws {
        let top = lua_gettop(L)
        do {
            try pushUnchecked(value, on: L, depth: 0)
        } catch {
            lua_settop(L, top)
            throw error
        }
    }

    private func pushUnchecked(_ value: LuaValue, on L: OpaquePointer, depth: Int) throws {
        guard lua_checkstack(L, 8) != 0 else { throw LuaScriptError(kind: .memory, message: memoryMessage()) }
        switch value {
        case .nil: lua_pushnil(L)
        case .boolean(let b): lua_pushboolean(L, b ? 1 : 0)
        case .integer(let i): lua_pushinteger(L, lua_Integer(i))
        case .number(let d): lua_pushnumber(L, d)
        case .string(var s):
            let status = s.withUTF8 { buf in
                buf.withMemoryRebound(to: CChar.self) { fb_pushlstring(L, $0.baseAddress, $0.count) }
            }
            try check(status, "pushing a string")
        case .bytes(let bytes):
            let status = bytes.withUnsafeBufferPointer { buf in
                buf.withMemoryRebound(to: CChar.self) { fb_pushlstring(L, $0.baseAddress, $0.count) }
            }
            try check(status, "pushing a string")
        case .table(let table):
            guard depth < 200 else { throw LuaArgumentError("table nested more than 200 levels deep") }
            try check(fb_newtable(L, Int32(clamping: table.array.count), Int32(clamping: table.fields.count)), "creating a table")
            for (i, element) in table.array.enumerated() {
                lua_pushinteger(L, lua_Integer(i + 1))
                try pushUnchecked(element, on: L, depth: depth + 1)
                try check(fb_rawset(L, -3), "setting table element \(i + 1)")
            }
            for (key, element) in table.fields {
                if case .number(let d) = key, d.isNaN { throw LuaArgumentError("a table key cannot be NaN") }
                try pushUnchecked(key.value, on: L, depth: depth + 1)
                try pushUnchecked(element, on: L, depth: depth + 1)
                try check(fb_rawset(L, -3), "setting table field \(key)")
            }
        case .function(let ref):
            guard ref.vm === self else { throw LuaArgumentError("a Lua function cannot move between Lua VMs") }
            lua_rawgeti(L, fb_lua_registryindex(), lua_Integer(ref.ref))
        case .userdata(let object):
            try pushObject(object, on: L)
        }
    }

    /// Pushes a closure calling `box` (kept alive by the VM).
    func push(function box: FunctionBox, on L: OpaquePointer) throws {
        functionBoxes.append(box)
        try check(fb_push_swift_function(L, Unmanaged.passUnretained(box).toOpaque()), "pushing function \(box.name)")
    }

    /// Pushes a new table holding a module's functions, values and sub-tables.
    func push(module: LuaModule, on L: OpaquePointer) throws {
        guard lua_checkstack(L, 8) != 0 else { throw LuaScriptError(kind: .memory, message: memoryMessage()) }
        try check(fb_newtable(L, 0, Int32(clamping: module.entries.count)), "creating module \(module.name)")
        for (name, entry) in module.entries {
            try push(.string(name), on: L)
            switch entry {
            case .function(let body):
                try push(function: FunctionBox(vm: self, name: "\(module.name).\(name)", body: body), on: L)
            case .value(let value):
                try push(value, on: L)
            case .table(let sub):
                try push(module: sub, on: L)
            }
            try check(fb_rawset(L, -3), "setting \(module.name).\(name)")
        }
    }

    // MARK: reading

    /// The value at `index` of `L`, converted to Swift (tables are copied).
    func value(at index: Int32, on L: OpaquePointer) throws -> LuaValue {
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        var visiting = Set<UnsafeRawPointer>()
        return try read(lua_absindex(L, index), on: L, visiting: &visiting, depth: 0)
    }

    func readString(at index: Int32, on L: OpaquePointer) -> LuaValue {
        var length = 0
        guard let p = lua_tolstring(L, index, &length) else { return .nil }  // only called on strings: no conversion
        let buffer = UnsafeRawBufferPointer(start: p, count: length).bindMemory(to: UInt8.self)
        if let s = String(validating: buffer, as: UTF8.self) { return .string(s) }
        return .bytes(Array(buffer))
    }

    private func read(_ index: Int32, on L: OpaquePointer, visiting: inout Set<UnsafeRawPointer>, depth: Int) throws -> LuaValue {
        switch lua_type(L, index) {
        case LUA_TNONE, LUA_TNIL:
            return .nil
        case LUA_TBOOLEAN:
            return .boolean(lua_toboolean(L, index) != 0)
        case LUA_TNUMBER:
            if lua_isinteger(L, index) != 0 { return .integer(Int64(lua_tointegerx(L, index, nil))) }
            return .number(lua_tonumberx(L, index, nil))
        case LUA_TSTRING:
            return readString(at: index, on: L)
        case LUA_TTABLE:
            return .table(try readTable(index, on: L, visiting: &visiting, depth: depth))
        case LUA_TFUNCTION:
            lua_pushvalue(L, index)
            var ref: Int32 = 0
            try check(fb_ref(L, &ref), "referencing a function")
            return .function(LuaFunctionRef(vm: self, ref: ref))
        case LUA_TUSERDATA:
            if let object = fb_tobox(L, index) {
                return .userdata(Unmanaged<AnyObject>.fromOpaque(object).takeUnretainedValue())
            }
            throw LuaArgumentError("a userdata not created by firebuild cannot be passed to Swift")
        default:
            let name = LuaType(rawValue: lua_type(L, index))?.name ?? "unknown"
            throw LuaArgumentError("a \(name) value cannot be passed to Swift")
        }
    }

    private func readTable(_ index: Int32, on L: OpaquePointer, visiting: inout Set<UnsafeRawPointer>, depth: Int) throws -> LuaTable {
        guard let identity = lua_topointer(L, index) else { return LuaTable() }
        guard !visiting.contains(identity) else { throw LuaArgumentError("a table that contains itself cannot be passed to Swift") }
        guard depth < 100 else { throw LuaArgumentError("table nested more than 100 levels deep") }
        guard lua_checkstack(L, 4) != 0 else { throw LuaScriptError(kind: .memory, message: memoryMessage()) }
        visiting.insert(identity)
        defer { visiting.remove(identity) }

        var integers: [Int64: LuaValue] = [:]
        var fields: [LuaKey: LuaValue] = [:]
        lua_pushnil(L)
        while lua_next(L, index) != 0 {
            let value = try read(lua_absindex(L, -1), on: L, visiting: &visiting, depth: depth + 1)
            switch lua_type(L, -2) {
            case LUA_TNUMBER:
                if lua_isinteger(L, -2) != 0 { integers[Int64(lua_tointegerx(L, -2, nil))] = value }
                else { fields[.number(lua_tonumberx(L, -2, nil))] = value }
            case LUA_TSTRING:
                if case .string(let key) = readString(at: -2, on: L) { fields[.string(key)] = value }
            case LUA_TBOOLEAN:
                fields[.boolean(lua_toboolean(L, -2) != 0)] = value
            default:
                break  // tables, functions, userdata as keys have no Swift key form
            }
            lua_settop(L, -2)  // pop the value, keep the key for lua_next
        }
        var array: [LuaValue] = []
        var n: Int64 = 1
        while let element = integers.removeValue(forKey: n) {
            array.append(element)
            n += 1
        }
        for (k, v) in integers { fields[.integer(k)] = v }
        return LuaTable(array: array, fields: fields)
    }
}
