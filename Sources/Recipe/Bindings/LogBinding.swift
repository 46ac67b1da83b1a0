import FirebuildCore
import Logging
import LuaRuntime

/// `firebuild.log.debug|info|warn|error(message, fields)`: swift-log through the `recipe`
/// logger; `fields` (a table) becomes structured metadata (`key=value` in text, JSON fields).
public enum LogBinding: RecipeBinding {
    public static func register(into firebuild: LuaModule, vm: LuaVM, context: RecipeContext) throws {
        let log = firebuild.table("log")
        let logger = context.logger
        for (name, level) in [("debug", Logger.Level.debug), ("info", .info), ("warn", .warning), ("error", .error)] {
            log.function(name) { args in
                let message = args.tostring(1)
                let fields = try args.optionalTable(2)
                logger.log(level: level, "\(message)", metadata: fields.map(metadata))
                return []
            }
        }
    }

    /// A Lua table as log metadata: string keys become fields, nested tables nest.
    static func metadata(_ table: LuaTable) -> Logger.Metadata {
        var out: Logger.Metadata = [:]
        for (i, v) in table.array.enumerated() { out[String(i + 1)] = value(v) }
        for (k, v) in table.fields { out[k.description] = value(v) }
        return out
    }

    static func value(_ v: LuaValue) -> Logger.MetadataValue {
        guard case .table(let t) = v else { return .string(v.description) }
        if t.fields.isEmpty { return .array(t.array.map(value)) }
        return .dictionary(metadata(t))
    }
}
