import FirebuildCore
import Foundation
import LuaRuntime

/// Image configs between Lua and Swift, with the OCI field names (`Cmd`, `Env`, `ExposedPorts`, …)
/// so a recipe reads the same names as `firebuild inspect` and the image spec.
enum ConfigConversion {
    static let keys = ["Cmd", "Entrypoint", "Env", "ExposedPorts", "Labels", "StopSignal", "User", "Volumes", "WorkingDir"]

    static func toLua(_ c: ImageConfig) -> LuaValue {
        var t = LuaTable()
        if let v = c.user { t["User"] = .string(v) }
        if let v = c.env { t["Env"] = LuaValue(v) }
        if let v = c.entrypoint { t["Entrypoint"] = LuaValue(v) }
        if let v = c.cmd { t["Cmd"] = LuaValue(v) }
        if let v = c.workingDir { t["WorkingDir"] = .string(v) }
        if let v = c.labels { t["Labels"] = LuaValue(v) }
        if let v = c.stopSignal { t["StopSignal"] = .string(v) }
        if let v = c.exposedPorts { t["ExposedPorts"] = LuaValue(v.keys.sorted()) }
        if let v = c.volumes { t["Volumes"] = LuaValue(v.keys.sorted()) }
        return .table(t)
    }

    /// A config from a Lua table; `Cmd`/`Entrypoint` may be a string (run by `/bin/sh -c`), `Env` a
    /// list of `K=V` or a `{K = V}` map, `ExposedPorts`/`Volumes` lists (`"80/tcp"`, `"/data"`).
    static func fromLua(_ table: LuaTable, function: String, base: ImageConfig = ImageConfig()) throws -> ImageConfig {
        let o = try OptionTable(table, function: "config of \(function)", keys: keys)
        var c = base
        if let v = try o.string("User") { c.user = v }
        if let v = try o.string("WorkingDir") { c.workingDir = v }
        if let v = try o.string("StopSignal") { c.stopSignal = v }
        if let v = try command(o, "Cmd") { c.cmd = v }
        if let v = try command(o, "Entrypoint") { c.entrypoint = v }
        if case .table(let t) = o["Env"], t.array.isEmpty, !t.fields.isEmpty {
            c.env = (try o.stringMap("Env") ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        } else if let v = try o.stringList("Env") {
            c.env = v
        }
        if let v = try o.stringMap("Labels") { c.labels = v }
        if let v = try o.stringList("ExposedPorts") {
            c.exposedPorts = Dictionary(uniqueKeysWithValues: v.map { ($0.contains("/") ? $0 : $0 + "/tcp", EmptyObject()) })
        }
        if let v = try o.stringList("Volumes") { c.volumes = Dictionary(uniqueKeysWithValues: v.map { ($0, EmptyObject()) }) }
        return c
    }

    static func command(_ o: OptionTable, _ key: String) throws -> [String]? {
        if case .string(let s) = o[key] { return ["/bin/sh", "-c", s] }
        return try o.stringList(key)
    }

    /// JSON (from `inspect`) as a Lua value: objects → tables, arrays → sequences.
    static func jsonToLua(_ any: Any) -> LuaValue {
        switch any {
        case let s as String: return .string(s)
        case let n as NSNumber:
            if String(cString: n.objCType) == "c" { return .boolean(n.boolValue) }
            if n.doubleValue.rounded() == n.doubleValue, abs(n.doubleValue) < 9e15 { return .integer(n.int64Value) }
            return .number(n.doubleValue)
        case let a as [Any]: return .table(LuaTable(array: a.map(jsonToLua)))
        case let d as [String: Any]:
            var t = LuaTable()
            for (k, v) in d { t[k] = jsonToLua(v) }
            return .table(t)
        default: return .nil
        }
    }
}
