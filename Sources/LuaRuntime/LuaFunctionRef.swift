import CLua
import CLuaShim
import FirebuildCore

/// A Lua function kept in the registry, callable later from Swift (hooks, callbacks).
/// Calls run under `lua_pcall` with a traceback handler; a Lua error becomes a thrown
/// `LuaScriptError`. Call it only on the VM's thread. Dropping the last reference releases
/// the registry slot (at the VM's next safe point).
public final class LuaFunctionRef {
    weak var vm: LuaVM?
    let ref: Int32

    init(vm: LuaVM, ref: Int32) {
        self.vm = vm
        self.ref = ref
    }

    deinit {
        vm?.pendingUnrefs.append(ref)
    }

    @discardableResult
    public func call(_ args: [LuaValue] = []) throws -> [LuaValue] {
        guard let vm else { throw FirebuildError(.internal, "the Lua VM of this function is gone") }
        return try vm.call(self, args)
    }

    @discardableResult
    public func call(_ args: LuaValue...) throws -> [LuaValue] {
        try call(args)
    }
}

extension LuaVM {
    func call(_ function: LuaFunctionRef, _ args: [LuaValue]) throws -> [LuaValue] {
        try checkUsable()
        let L = currentState
        let base = lua_gettop(L)
        defer { lua_settop(L, base) }
        guard lua_checkstack(L, Int32(clamping: args.count + 8)) != 0 else {
            throw LuaScriptError(kind: .memory, message: memoryMessage())
        }
        lua_rawgeti(L, fb_lua_registryindex(), lua_Integer(function.ref))
        for arg in args { try push(arg, on: L) }
        return try callFunction(base: base, nargs: Int32(args.count), on: L)
    }
}
