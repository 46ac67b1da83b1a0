import CLua
import CLuaShim
import FirebuildCore
import Foundation

/// The signature of every Swift function callable from Lua.
public typealias LuaFunction = (LuaArgs) throws -> [LuaValue]

/// One Lua 5.4 state running one recipe.
///
/// Confinement: a `lua_State` is not thread-safe, so a VM may only be used on the thread that
/// created it; other threads get a `FirebuildError(.internal)` instead of a data race.
///
/// Safety: Lua raises errors with longjmp, which must never cross a Swift frame. So this type
/// calls only non-raising Lua API functions directly (`lua_type`, `lua_to*`, `lua_rawgeti`,
/// `lua_settop`, pushes of numbers/booleans); everything that can raise or allocate goes through
/// a `CLuaShim` entry point that runs it under `lua_pcall`. Swift bindings never raise either:
/// they return to a C trampoline, which raises after Swift returned (see `LuaArgs`).
public final class LuaVM {
    let L: OpaquePointer
    public let options: LuaOptions
    private let owner: pthread_t
    private var closed = false

    /// Boxes of every Swift function pushed to Lua; the VM owns them (Lua holds plain pointers).
    var functionBoxes: [FunctionBox] = []
    /// Userdata types by Swift type.
    var types: [ObjectIdentifier: RegisteredType] = [:]
    /// The Lua thread currently running a binding (a coroutine's, when called from one):
    /// nested calls from Swift must use it, not the main state.
    var activeStates: [OpaquePointer] = []
    /// Registry references released by `LuaFunctionRef.deinit`, freed at the next safe point.
    var pendingUnrefs: [Int32] = []
    /// Holds the last binding error message while the C trampoline copies it into Lua.
    var errorBuffer: UnsafeMutablePointer<CChar>?
    var errorCapacity = 0

    /// Creates a state with the standard library opened and, unless `options.unsafe`, the
    /// recipe sandbox applied (see `LuaSandbox`).
    public init(options: LuaOptions = LuaOptions()) throws {
        LuaVM.installCallbacks
        guard let state = fb_newstate(max(0, options.memoryLimit)) else {
            throw FirebuildError(.invalidArgument,
                                 "cannot create a Lua state within the memory limit of \(LuaOptions.formatMemorySize(options.memoryLimit)); raise --memory-limit")
        }
        L = state
        self.options = options
        owner = pthread_self()
        guard fb_openlibs(L) == LUA_OK else {
            throw FirebuildError(.invalidArgument,
                                 "cannot open the Lua standard library within the memory limit of \(LuaOptions.formatMemorySize(options.memoryLimit)); raise --memory-limit")
        }
        try LuaSandbox.apply(to: self)
    }

    deinit {
        close()
    }

    /// Closes the state: every userdata is finalized, releasing the Swift objects it held.
    /// Further use throws. Called automatically on deinit.
    public func close() {
        guard !closed else { return }
        closed = true
        fb_close(L)
        free(errorBuffer)
        errorBuffer = nil
    }

    /// Bytes currently allocated by Lua.
    public var memoryUsed: Int { closed ? 0 : fb_memory_used(L) }

    /// Runs a full garbage collection (finalizers included).
    public func collectGarbage() throws {
        try checkUsable()
        _ = fb_gc_collect(currentState)
    }

    // MARK: running code

    /// Runs a Lua file. Errors name `path:line:` (chunk name `@path`), with a traceback.
    /// `arg` is set as the standalone interpreter does: `arg[0]` = path, `arg[1…]` = args;
    /// the chunk also receives `args` as `...`.
    @discardableResult
    public func runFile(_ path: String, args: [String] = []) throws -> [LuaValue] {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            var isDir: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDir)
            throw FirebuildError(exists ? .io : .notFound,
                                 exists ? "cannot read \(path)\(isDir.boolValue ? ": it is a directory" : "")"
                                        : "\(path) not found: check the recipe path")
        }
        var argTable = LuaTable(array: args.map { .string($0) })
        argTable.fields[.integer(0)] = .string(path)
        try setGlobal("arg", .table(argTable))
        return try run(data, chunkName: "@" + path, args: args.map { .string($0) })
    }

    /// Runs Lua source. `chunkName` follows Lua's convention: `@file` or `=name`.
    @discardableResult
    public func run(_ source: String, chunkName: String = "=(string)", args: [LuaValue] = []) throws -> [LuaValue] {
        try run(Data(source.utf8), chunkName: chunkName, args: args)
    }

    @discardableResult
    public func run(_ source: Data, chunkName: String, args: [LuaValue] = []) throws -> [LuaValue] {
        try checkUsable()
        let L = currentState
        let base = lua_gettop(L)
        defer { lua_settop(L, base) }
        // "t" refuses precompiled bytecode: it can crash the VM and is not reviewable.
        let mode = options.unsafe ? "bt" : "t"
        let status = source.withUnsafeBytes { raw in
            fb_load(L, raw.baseAddress?.assumingMemoryBound(to: CChar.self), raw.count, chunkName, mode)
        }
        if status != LUA_OK {
            var error = scriptError(status, L)
            if error.message.contains("attempt to load a binary chunk") {
                let name = chunkName.hasPrefix("@") || chunkName.hasPrefix("=") ? String(chunkName.dropFirst()) : chunkName
                error.message = "\(name): precompiled (binary) Lua chunks are refused in recipes; run with --unsafe to allow them"
            }
            throw error
        }
        for arg in args { try push(arg, on: L) }
        return try callFunction(base: base, nargs: Int32(args.count), on: L)
    }

    // MARK: globals and modules

    public func setGlobal(_ name: String, _ value: LuaValue) throws {
        try checkUsable()
        let L = currentState
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        try push(value, on: L)
        try check(name.withCString { fb_setglobal(L, $0) }, "setting global \(name)")
    }

    public func global(_ name: String) throws -> LuaValue {
        try checkUsable()
        let L = currentState
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        try check(name.withCString { fb_getglobal(L, $0) }, "reading global \(name)")
        return try value(at: -1, on: L)
    }

    /// Makes `module` available as `require(module.name)` (stored in `package.loaded`), and as a
    /// global too when `global` is set.
    public func register(module: LuaModule, global: Bool = false) throws {
        try checkUsable()
        let L = currentState
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        try push(module: module, on: L)
        if global {
            lua_pushvalue(L, -1)
            try check(module.name.withCString { fb_setglobal(L, $0) }, "registering \(module.name)")
        }
        try check(module.name.withCString { fb_setloaded(L, $0) }, "registering \(module.name)")
    }

    // MARK: internals

    func checkUsable() throws {
        guard !closed else { throw FirebuildError(.internal, "the Lua VM is closed") }
        guard pthread_equal(owner, pthread_self()) != 0 else {
            throw FirebuildError(.internal, "a Lua VM was used from a thread other than the one that created it")
        }
        flushUnrefs()
    }

    var currentState: OpaquePointer { activeStates.last ?? L }

    func flushUnrefs() {
        guard !pendingUnrefs.isEmpty, !closed else { return }
        let refs = pendingUnrefs
        pendingUnrefs = []
        for ref in refs { _ = fb_unref(currentState, ref) }
    }

    /// Calls the function at `base + 1` with the `nargs` values above it, under pcall with a
    /// traceback handler, and returns its results (the stack is left at `base`).
    func callFunction(base: Int32, nargs: Int32, on L: OpaquePointer) throws -> [LuaValue] {
        let status = fb_pcall(L, nargs, LUA_MULTRET)
        guard status == LUA_OK else { throw scriptError(status, L) }
        let count = lua_gettop(L) - base
        guard count > 0 else { return [] }
        return try (1...count).map { try value(at: base + $0, on: L) }
    }

    /// Pops the error object a failed load/pcall left and describes it.
    func scriptError(_ status: Int32, _ L: OpaquePointer) -> LuaScriptError {
        if status == FB_ERR_NOSTACK {
            return LuaScriptError(kind: .memory, message: "not enough memory: the Lua stack cannot grow")
        }
        let text = lua_type(L, -1) == LUA_TSTRING ? readString(at: -1, on: L).string ?? "(invalid UTF-8 error message)"
            : "(error object is a \(LuaType(rawValue: lua_type(L, -1))?.name ?? "unknown") value)"
        lua_settop(L, -2)
        switch status {
        case LUA_ERRSYNTAX:
            return LuaScriptError(kind: .syntax, message: text)
        case LUA_ERRMEM:
            return LuaScriptError(kind: .memory, message: memoryMessage())
        case LUA_ERRERR:
            return LuaScriptError(kind: .errorHandler, message: "error while handling an error: \(text)")
        case LUA_ERRRUN:
            let (message, traceback) = LuaScriptError.split(text)
            return LuaScriptError(kind: .runtime, message: message, traceback: traceback)
        default:
            let (message, traceback) = LuaScriptError.split(text)
            return LuaScriptError(kind: .other, message: message, traceback: traceback)
        }
    }

    func memoryMessage() -> String {
        let limit = options.memoryLimit
        guard limit > 0 else { return "not enough memory" }
        return "not enough memory: the recipe reached its memory limit of \(LuaOptions.formatMemorySize(limit)) (raise it with --memory-limit)"
    }

    /// Turns a failed shim status into a Swift error (the shim already popped its error object).
    func check(_ status: Int32, _ what: String) throws {
        guard status != LUA_OK else { return }
        if status == LUA_ERRMEM || status == FB_ERR_NOSTACK { throw LuaScriptError(kind: .memory, message: memoryMessage()) }
        throw LuaScriptError(kind: .runtime, message: "\(what) failed")
    }
}
