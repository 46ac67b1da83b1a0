import Foundation

/// A Lua value as Swift sees it. Tables are copied (snapshots, see `LuaTable`); functions are
/// registry references callable later; userdata are the Swift objects they hold.
public enum LuaValue {
    case `nil`
    case boolean(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    /// A Lua string that is not valid UTF-8 (file contents, binary data). Pushed as a Lua string.
    case bytes([UInt8])
    case table(LuaTable)
    case function(LuaFunctionRef)
    /// A Swift object of a type registered with `LuaVM.registerType`.
    case userdata(AnyObject)

    public var isNil: Bool {
        if case .nil = self { return true }
        return false
    }

    /// Lua truthiness: everything but nil and false.
    public var isTruthy: Bool {
        switch self {
        case .nil: return false
        case .boolean(let b): return b
        default: return true
        }
    }

    public var bool: Bool? {
        if case .boolean(let b) = self { return b }
        return nil
    }

    /// The string, also for numbers (Lua converts them the same way) and UTF-8 `bytes`.
    public var string: String? {
        switch self {
        case .string(let s): return s
        case .bytes(let b): return String(bytes: b, encoding: .utf8)
        case .integer(let i): return String(i)
        case .number(let d): return LuaValue.format(d)
        default: return nil
        }
    }

    /// The raw bytes of a string value.
    public var bytes: [UInt8]? {
        switch self {
        case .string(let s): return Array(s.utf8)
        case .bytes(let b): return b
        default: return string.map { Array($0.utf8) }
        }
    }

    /// The integer, also for floats with an exact integer value (as Lua's `math.tointeger`).
    public var integer: Int64? {
        switch self {
        case .integer(let i): return i
        case .number(let d):
            guard d.rounded() == d, d >= -9.223372036854775808e18, d < 9.223372036854775808e18 else { return nil }
            return Int64(d)
        default: return nil
        }
    }

    public var double: Double? {
        switch self {
        case .integer(let i): return Double(i)
        case .number(let d): return d
        default: return nil
        }
    }

    public var table: LuaTable? {
        if case .table(let t) = self { return t }
        return nil
    }

    public var function: LuaFunctionRef? {
        if case .function(let f) = self { return f }
        return nil
    }

    public func userdata<T: AnyObject>(as type: T.Type) -> T? {
        if case .userdata(let o) = self { return o as? T }
        return nil
    }

    /// The Lua type name (`nil`, `boolean`, `number`, `string`, `table`, `function`, `userdata`).
    public var typeName: String {
        switch self {
        case .nil: return "nil"
        case .boolean: return "boolean"
        case .integer, .number: return "number"
        case .string, .bytes: return "string"
        case .table: return "table"
        case .function: return "function"
        case .userdata: return "userdata"
        }
    }

    /// `%.14g` like Lua's own number formatting, so messages look the same on both sides.
    static func format(_ d: Double) -> String {
        if d.isNaN { return d.sign == .minus ? "-nan" : "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        let s = String(format: "%.14g", d)
        return s.contains(where: { ".eEn".contains($0) }) ? s : s + ".0"
    }
}

extension LuaValue: CustomStringConvertible {
    public var description: String {
        switch self {
        case .nil: return "nil"
        case .boolean(let b): return b ? "true" : "false"
        case .integer(let i): return String(i)
        case .number(let d): return LuaValue.format(d)
        case .string(let s): return s
        case .bytes(let b): return String(decoding: b, as: UTF8.self)
        case .table(let t): return t.description
        case .function: return "function"
        case .userdata(let o): return "userdata(\(type(of: o)))"
        }
    }
}

extension LuaValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral {
    public init(nilLiteral: ()) { self = .nil }
    public init(booleanLiteral value: Bool) { self = .boolean(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: LuaValue...) { self = .table(LuaTable(array: elements)) }
    public init(dictionaryLiteral elements: (String, LuaValue)...) {
        var t = LuaTable()
        for (k, v) in elements { t.fields[.string(k)] = v }
        self = .table(t)
    }
}

extension LuaValue {
    /// Convenience constructors for Swift values.
    public init(_ s: String) { self = .string(s) }
    public init(_ i: Int) { self = .integer(Int64(i)) }
    public init(_ b: Bool) { self = .boolean(b) }
    public init(_ d: Double) { self = .number(d) }
    public init(_ list: [String]) { self = .table(LuaTable(array: list.map { .string($0) })) }
    public init(_ dict: [String: String]) {
        var t = LuaTable()
        for (k, v) in dict { t.fields[.string(k)] = .string(v) }
        self = .table(t)
    }
}

/// A table key Swift can hold. Tables, functions and userdata used as keys are not copied.
public enum LuaKey: Hashable, CustomStringConvertible, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    case string(String)
    case integer(Int64)
    case number(Double)
    case boolean(Bool)

    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }

    public var value: LuaValue {
        switch self {
        case .string(let s): return .string(s)
        case .integer(let i): return .integer(i)
        case .number(let d): return .number(d)
        case .boolean(let b): return .boolean(b)
        }
    }

    public var description: String { value.description }
}

/// A snapshot of a Lua table: its sequence `1..n` in `array`, every other key in `fields`.
/// Copying (rather than referencing) keeps Swift code free of Lua API calls and lifetimes.
public struct LuaTable: CustomStringConvertible {
    public var array: [LuaValue]
    public var fields: [LuaKey: LuaValue]

    public init(array: [LuaValue] = [], fields: [LuaKey: LuaValue] = [:]) {
        self.array = array
        self.fields = fields
    }

    /// `t.name`: `.nil` when absent.
    public subscript(key: String) -> LuaValue {
        get { fields[.string(key)] ?? .nil }
        // Assigning nil removes the key, as in Lua. (A ternary `isNil ? nil : newValue` would
        // type the `nil` literal as `LuaValue.nil` through ExpressibleByNilLiteral and store it.)
        set {
            if newValue.isNil {
                fields.removeValue(forKey: .string(key))
            } else {
                fields[.string(key)] = newValue
            }
        }
    }

    /// `t[i]`, 1-based as in Lua.
    public subscript(index: Int) -> LuaValue {
        if index >= 1 && index <= array.count { return array[index - 1] }
        return fields[.integer(Int64(index))] ?? .nil
    }

    public var isEmpty: Bool { array.isEmpty && fields.isEmpty }

    /// The string-keyed fields, for tables used as records or option sets.
    public var stringFields: [String: LuaValue] {
        var out: [String: LuaValue] = [:]
        for (k, v) in fields { if case .string(let s) = k { out[s] = v } }
        return out
    }

    public var description: String {
        var parts = array.map { $0.description }
        for k in fields.keys.map({ $0.description }).sorted() {
            if let v = fields.first(where: { $0.key.description == k })?.value { parts.append("\(k)=\(v)") }
        }
        return "{" + parts.joined(separator: ", ") + "}"
    }
}

/// What `lua_type` reports, for argument checks and messages.
public enum LuaType: Int32, Sendable {
    case none = -1, `nil` = 0, boolean, lightUserdata, number, string, table, function, userdata, thread

    public var name: String {
        switch self {
        case .none: return "no value"
        case .nil: return "nil"
        case .boolean: return "boolean"
        case .lightUserdata, .userdata: return "userdata"
        case .number: return "number"
        case .string: return "string"
        case .table: return "table"
        case .function: return "function"
        case .thread: return "thread"
        }
    }
}
