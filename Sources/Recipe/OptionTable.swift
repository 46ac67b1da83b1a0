import FirebuildCore
import Foundation
import LuaRuntime

/// The one table of options every recipe call takes (`firebuild.vm.run{from = "a:1", mem = 256}`),
/// checked once for all bindings: unknown keys (typos such as `memory` for `mem`), wrong types and
/// missing required keys are errors that name the function and list the valid keys. The trampoline
/// prefixes the recipe line, so the user reads
/// `recipes/x.lua:7: unknown option "memory" for firebuild.vm.run (did you mean "mem"?); valid: cpu, …`.
///
/// Option names are the CLI flags in snake_case (`--vmlinux-id` → `vmlinux_id`).
public struct OptionTable {
    /// Qualified name for messages (`firebuild.vm.run`, `hooks of firebuild.rootfs`).
    public let function: String
    public let table: LuaTable
    public let validKeys: [String]

    /// Checks `table` against `keys`: every key must be a string naming a known option.
    public init(_ table: LuaTable, function: String, keys: [String]) throws {
        self.function = function
        self.table = table
        self.validKeys = keys.sorted()
        if !table.array.isEmpty {
            throw FirebuildError(.invalidArgument,
                "\(function) takes a table of named options (e.g. \(function){ \(validKeys.first ?? "name") = … }), "
                + "not a list; valid: \(validKeys.joined(separator: ", "))")
        }
        let known = Set(keys)
        for key in table.fields.keys {
            guard case .string(let name) = key else {
                throw FirebuildError(.invalidArgument, "\(function): option names must be strings, got \(key.value.typeName) key \(key); valid: \(validKeys.joined(separator: ", "))")
            }
            if !known.contains(name) {
                let hint = Self.suggestion(for: name, among: validKeys).map { " (did you mean \"\($0)\"?)" } ?? ""
                throw FirebuildError(.invalidArgument,
                    "unknown option \"\(name)\" for \(function)\(hint); valid: \(validKeys.joined(separator: ", "))")
            }
        }
    }

    /// The options table passed as argument `index` (absent or nil = no options, unless `required`).
    public init(_ args: LuaArgs, _ index: Int = 1, function: String, keys: [String], required: Bool = true) throws {
        if args.isNil(index) {
            guard !required else {
                throw FirebuildError(.invalidArgument,
                    "\(function) needs a table of options: \(function){ … }; valid: \(keys.sorted().joined(separator: ", "))")
            }
            try self.init(LuaTable(), function: function, keys: keys)
            return
        }
        guard args.type(index) == .table else {
            throw FirebuildError(.invalidArgument,
                "\(function) takes a table of options (\(function){ … }), got a \(args.type(index).name); valid: \(keys.sorted().joined(separator: ", "))")
        }
        try self.init(try args.table(index), function: function, keys: keys)
    }

    public subscript(key: String) -> LuaValue { table[key] }

    public func has(_ key: String) -> Bool { !table[key].isNil }

    private func typeError(_ key: String, _ expected: String) -> FirebuildError {
        FirebuildError(.invalidArgument, "option \"\(key)\" of \(function) must be \(expected), got \(describe(table[key]))")
    }

    private func describe(_ v: LuaValue) -> String {
        switch v {
        case .string(let s): return "the string \"\(s.count > 40 ? String(s.prefix(40)) + "…" : s)\""
        case .integer, .number: return "the number \(v)"
        case .boolean(let b): return b ? "true" : "false"
        default: return "a \(v.typeName)"
        }
    }

    private func missing(_ key: String, _ expected: String) -> FirebuildError {
        FirebuildError(.invalidArgument, "\(function) needs option \"\(key)\" (\(expected))")
    }

    // MARK: typed getters (nil when absent)

    public func string(_ key: String) throws -> String? {
        switch table[key] {
        case .nil: return nil
        case .string(let s): return s
        case .bytes(let b): return String(decoding: b, as: UTF8.self)
        case .integer(let i): return String(i)
        default: throw typeError(key, "a string")
        }
    }

    public func requiredString(_ key: String) throws -> String {
        guard let s = try string(key) else { throw missing(key, "a string") }
        guard !s.isEmpty else { throw FirebuildError(.invalidArgument, "option \"\(key)\" of \(function) must not be empty") }
        return s
    }

    public func int(_ key: String) throws -> Int? {
        switch table[key] {
        case .nil: return nil
        case .integer(let i): return Int(clamping: i)
        case .number(let d):
            guard let i = LuaValue.number(d).integer else { throw typeError(key, "an integer") }
            return Int(clamping: i)
        default: throw typeError(key, "an integer")
        }
    }

    public func double(_ key: String) throws -> Double? {
        switch table[key] {
        case .nil: return nil
        case .integer(let i): return Double(i)
        case .number(let d): return d
        default: throw typeError(key, "a number")
        }
    }

    public func bool(_ key: String) throws -> Bool? {
        switch table[key] {
        case .nil: return nil
        case .boolean(let b): return b
        default: throw typeError(key, "true or false")
        }
    }

    /// A list of strings; a single string is a list of one (`ports = "80:80"`).
    public func stringList(_ key: String) throws -> [String]? {
        switch table[key] {
        case .nil: return nil
        case .string(let s): return [s]
        case .table(let t):
            guard t.fields.isEmpty else { throw typeError(key, "a list of strings") }
            return try t.array.map { v in
                guard let s = Self.scalarString(v) else { throw typeError(key, "a list of strings") }
                return s
            }
        default: throw typeError(key, "a list of strings")
        }
    }

    /// A `{ KEY = "value" }` map (`env`, `build_args`, `labels`); numbers and booleans become strings.
    public func stringMap(_ key: String) throws -> [String: String]? {
        switch table[key] {
        case .nil: return nil
        case .table(let t):
            guard t.array.isEmpty else { throw typeError(key, "a table of KEY = \"value\" pairs") }
            var out: [String: String] = [:]
            for (k, v) in t.fields {
                guard case .string(let name) = k, let s = Self.scalarString(v) else {
                    throw typeError(key, "a table of KEY = \"value\" pairs (string keys, string or number values)")
                }
                out[name] = s
            }
            return out
        default: throw typeError(key, "a table of KEY = \"value\" pairs")
        }
    }

    public func luaTable(_ key: String) throws -> LuaTable? {
        switch table[key] {
        case .nil: return nil
        case .table(let t): return t
        default: throw typeError(key, "a table")
        }
    }

    public func function(_ key: String) throws -> LuaFunctionRef? {
        switch table[key] {
        case .nil: return nil
        case .function(let f): return f
        default: throw typeError(key, "a function")
        }
    }

    /// A userdata of a registered type, or nil when absent or a string (options that take an object
    /// or its name: read the name with `string`); `typeName` is for messages (`a firebuild.Kernel`).
    public func object<T: AnyObject>(_ key: String, as type: T.Type, typeName: String) throws -> T? {
        switch table[key] {
        case .nil, .string: return nil
        case .userdata(let o):
            guard let t = o as? T else { throw typeError(key, typeName) }
            return t
        default: throw typeError(key, typeName)
        }
    }

    /// One of a fixed set of strings.
    public func choice(_ key: String, _ allowed: [String]) throws -> String? {
        guard let s = try string(key) else { return nil }
        guard allowed.contains(s) else {
            throw FirebuildError(.invalidArgument, "option \"\(key)\" of \(function) must be one of \(allowed.joined(separator: ", ")), got \"\(s)\"")
        }
        return s
    }

    static func scalarString(_ v: LuaValue) -> String? {
        switch v {
        case .string, .bytes, .integer, .number: return v.string
        case .boolean(let b): return b ? "true" : "false"
        default: return nil
        }
    }

    // MARK: suggestions

    /// The closest valid key within a small edit distance, or a key sharing the typo's stem.
    static func suggestion(for name: String, among keys: [String]) -> String? {
        var best: (key: String, distance: Int)?
        for key in keys.sorted() {
            let d = editDistance(name, key)
            if best == nil || d < best!.distance { best = (key, d) }
        }
        if let best, best.distance <= Swift.max(2, name.count / 3) { return best.key }
        // `memory` → `mem`: a key that is a prefix of the typo, or the other way round.
        return keys.filter { $0.count >= 3 && (name.hasPrefix($0) || $0.hasPrefix(name)) }.max { $0.count < $1.count }
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let x = Array(a), y = Array(b)
        if x.isEmpty { return y.count }
        if y.isEmpty { return x.count }
        var previous = Array(0...y.count)
        for i in 1...x.count {
            var current = [i] + Array(repeating: 0, count: y.count)
            for j in 1...y.count {
                let substitution: Int = previous[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1)
                let insertion: Int = current[j - 1] + 1
                let deletion: Int = previous[j] + 1
                current[j] = Swift.min(deletion, insertion, substitution)
            }
            previous = current
        }
        return previous[y.count]
    }
}
