import CLua
import CLuaShim
import FirebuildCore
import Foundation

/// A Swift function callable from Lua. Lua holds only a light-userdata pointer to it (the
/// trampoline's upvalue); the VM keeps the box alive for its own lifetime.
final class FunctionBox {
    unowned let vm: LuaVM
    let name: String
    /// Stack slots before the first argument (1 for methods: `self`).
    let offset: Int32
    let body: LuaFunction

    init(vm: LuaVM, name: String, offset: Int32 = 0, body: @escaping LuaFunction) {
        self.vm = vm
        self.name = name
        self.offset = offset
        self.body = body
    }
}

/// A userdata type registered with `LuaVM.registerType`.
struct RegisteredType {
    let name: String
    /// NUL-terminated copy of `name` for the C side, freed never (types live as long as the process
    /// may push them; a handful per VM).
    let cName: UnsafeMutablePointer<CChar>
    /// Identity of the metatable, to check userdata without any allocating call.
    let metatable: UnsafeRawPointer
}

extension LuaVM {
    /// The C → Swift entry points. Both are non-throwing and never call a raising Lua API.
    static let installCallbacks: Void = {
        fb_set_callbacks({ L, box, message, length in
            guard let L, let box, let message, let length else { return Int32(FB_CALL_ERROR) }
            let function = Unmanaged<FunctionBox>.fromOpaque(box).takeUnretainedValue()
            return function.vm.dispatch(function, on: L, message: message, length: length)
        }, { object in
            guard let object else { return }
            Unmanaged<AnyObject>.fromOpaque(object).release()
        })
    }()

    /// Runs a binding for the trampoline: returns the number of results pushed, or an error
    /// code with the message in `message` (raised by the trampoline after we returned).
    func dispatch(_ function: FunctionBox, on L: OpaquePointer,
                  message: UnsafeMutablePointer<UnsafePointer<CChar>?>, length: UnsafeMutablePointer<Int>) -> Int32 {
        let top = lua_gettop(L)
        activeStates.append(L)
        defer { activeStates.removeLast() }
        do {
            let args = LuaArgs(vm: self, L: L, offset: function.offset, functionName: function.name)
            let results = try function.body(args)
            lua_settop(L, top)
            guard lua_checkstack(L, Int32(clamping: results.count + 8)) != 0 else {
                throw LuaScriptError(kind: .memory, message: "not enough memory for \(results.count) results")
            }
            for result in results { try push(result, on: L) }
            return Int32(results.count)
        } catch let error as LuaScriptError where error.kind == .runtime || error.kind == .other {
            // A Lua error from a nested call (a hook): re-raise its message as is, it already
            // names the line that failed.
            lua_settop(L, top)
            if (try? push(.string(error.message), on: L)) != nil { return Int32(FB_CALL_RAISE_TOP) }
            setError(error.message, message, length)
            return Int32(FB_CALL_ERROR)
        } catch {
            lua_settop(L, top)
            let text: String
            switch error {
            case let e as FirebuildError: text = e.description
            case let e as LuaArgumentError: text = e.message
            case let e as LuaScriptError: text = e.message
            default: text = String(describing: error)
            }
            setError(text, message, length)
            return Int32(FB_CALL_ERROR)
        }
    }

    private func setError(_ text: String, _ message: UnsafeMutablePointer<UnsafePointer<CChar>?>,
                          _ length: UnsafeMutablePointer<Int>) {
        let bytes = Array(text.utf8)
        if errorCapacity < bytes.count + 1 {
            free(errorBuffer)
            errorCapacity = max(256, bytes.count + 1)
            errorBuffer = malloc(errorCapacity)?.assumingMemoryBound(to: CChar.self)
            if errorBuffer == nil { errorCapacity = 0 }
        }
        guard let buffer = errorBuffer else {
            message.pointee = nil
            length.pointee = 0
            return
        }
        bytes.withUnsafeBufferPointer { src in
            UnsafeMutableRawPointer(buffer).copyMemory(from: src.baseAddress!, byteCount: bytes.count)
        }
        buffer[bytes.count] = 0
        message.pointee = UnsafePointer(buffer)
        length.pointee = bytes.count
    }

    // MARK: userdata

    /// Registers a Swift class as a Lua userdata type named `name` (e.g. `firebuild.Image`):
    /// values of this class can then be passed to Lua as `.userdata(object)`. Lua holds a
    /// retained reference, released by `__gc`; the same object always maps to the same Lua
    /// value while it is alive. Methods are called as `obj:method(...)` and receive the object
    /// and the arguments after `self`.
    public func registerType<T: AnyObject>(_ type: T.Type, name: String,
                                           methods: [String: (T, LuaArgs) throws -> [LuaValue]] = [:],
                                           tostring: ((T) -> String)? = nil) throws {
        try checkUsable()
        let id = ObjectIdentifier(T.self)
        guard types[id] == nil else { throw FirebuildError(.alreadyExists, "Swift type \(T.self) is already registered as a Lua type") }
        let L = currentState
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        let short = name.split(separator: ".").last.map(String.init) ?? name

        try check(fb_newtable(L, 0, Int32(clamping: methods.count)), "creating the methods of \(name)")
        for (methodName, method) in methods.sorted(by: { $0.key < $1.key }) {
            try push(.string(methodName), on: L)
            let qualified = "\(short):\(methodName)"
            try push(function: FunctionBox(vm: self, name: qualified, offset: 1) { args in
                try method(try args.selfObject(as: T.self, method: methodName), args)
            }, on: L)
            try check(fb_rawset(L, -3), "adding method \(qualified)")
        }
        if let tostring {
            try push(function: FunctionBox(vm: self, name: "\(short):__tostring", offset: 1) { args in
                [.string(tostring(try args.selfObject(as: T.self, method: "__tostring")))]
            }, on: L)
        }
        guard let cName = strdup(name) else { throw LuaScriptError(kind: .memory, message: "not enough memory") }
        var metatable: UnsafeRawPointer?
        let status = fb_register_type(L, cName, tostring == nil ? 0 : 1, &metatable)
        guard status == LUA_OK, let metatable else {
            free(cName)
            throw FirebuildError(.alreadyExists, "cannot register Lua type \(name): the name is taken or memory ran out")
        }
        types[id] = RegisteredType(name: name, cName: cName, metatable: metatable)
    }

    func pushObject(_ object: AnyObject, on L: OpaquePointer) throws {
        guard let info = types[ObjectIdentifier(Swift.type(of: object))] else {
            throw LuaArgumentError("Swift type \(Swift.type(of: object)) is not registered as a Lua type (LuaVM.registerType)")
        }
        let retained = Unmanaged.passRetained(object).toOpaque()
        var reused: Int32 = 0
        let status = fb_push_box(L, retained, info.cName, &reused)
        // On failure, or when an existing userdata was reused, our +1 was not handed to Lua.
        if status != LUA_OK || reused != 0 { Unmanaged<AnyObject>.fromOpaque(retained).release() }
        try check(status, "pushing a \(info.name)")
    }

    func object<T: AnyObject>(at index: Int32, on L: OpaquePointer, as type: T.Type) -> T? {
        guard let info = types[ObjectIdentifier(T.self)], let p = fb_testbox(L, index, info.metatable) else { return nil }
        return Unmanaged<AnyObject>.fromOpaque(p).takeUnretainedValue() as? T
    }
}
