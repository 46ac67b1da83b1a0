/// A table of Swift functions, values and sub-tables, built in Swift and registered with
/// `LuaVM.register(module:)`. Several bindings can add to the same module and to the same
/// sub-tables (`table(_:)` returns the existing one):
///
///     let firebuild = LuaModule("firebuild")
///     firebuild.value("version", "0.1.0")
///     firebuild.table("log").function("info") { args in
///         logger.info("\(try args.string(1))")
///         return []
///     }
///
/// A name registered twice keeps the last definition.
public final class LuaModule {
    public enum Entry {
        case function(LuaFunction)
        case value(LuaValue)
        case table(LuaModule)
    }

    /// Qualified name, used for `require` (top level) and in error messages (`firebuild.fs`).
    public let name: String
    private var order: [String] = []
    private var byName: [String: Entry] = [:]

    public init(_ name: String) {
        self.name = name
    }

    /// Entries in definition order.
    public var entries: [(String, Entry)] { order.compactMap { key in byName[key].map { (key, $0) } } }

    public subscript(name: String) -> Entry? { byName[name] }

    public func function(_ name: String, _ body: @escaping LuaFunction) {
        set(name, .function(body))
    }

    public func value(_ name: String, _ value: LuaValue) {
        set(name, .value(value))
    }

    /// The sub-table `name`, created on first use.
    @discardableResult
    public func table(_ name: String) -> LuaModule {
        if case .table(let existing)? = byName[name] { return existing }
        let sub = LuaModule("\(self.name).\(name)")
        set(name, .table(sub))
        return sub
    }

    /// Builds into the sub-table `name`.
    public func table(_ name: String, _ build: (LuaModule) throws -> Void) rethrows {
        try build(table(name))
    }

    private func set(_ name: String, _ entry: Entry) {
        if byName[name] == nil { order.append(name) }
        byName[name] = entry
    }
}

/// The name the brief and the bindings use for a module under construction.
public typealias LuaModuleBuilder = LuaModule
