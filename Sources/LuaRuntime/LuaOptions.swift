import FirebuildCore
import Foundation

/// How a `LuaVM` is set up. One VM runs one recipe.
public struct LuaOptions: Sendable, Equatable {
    /// Default memory cap of a recipe: 512 MiB.
    public static let defaultMemoryLimit = 512 << 20

    /// Bytes the Lua heap may use (0 = unlimited). Past it, allocations fail and the running
    /// chunk gets a clean `not enough memory` error; the process and the VM survive.
    public var memoryLimit: Int
    /// The full standard library (`io`, `os.execute`, `loadfile`, binary chunks, C modules).
    public var unsafe: Bool
    /// Directories searched by `require` for pure-Lua modules, in order: `dir/?.lua`, then
    /// `dir/?/init.lua` for each. Built-in modules (`LuaVM.register(module:)`) come first.
    public var searchPaths: [String]

    public init(memoryLimit: Int = LuaOptions.defaultMemoryLimit, unsafe: Bool = false, searchPaths: [String] = []) {
        self.memoryLimit = memoryLimit
        self.unsafe = unsafe
        self.searchPaths = searchPaths
    }

    /// `package.path` for `searchPaths`. Lua uses `;` as separator and `?` as placeholder, so a
    /// directory containing either cannot be expressed: refused with a clear error.
    public func packagePath() throws -> String {
        var templates: [String] = []
        for dir in searchPaths {
            if dir.contains(";") || dir.contains("?") {
                throw FirebuildError(.invalidArgument,
                                     "Lua module directory \"\(dir)\" contains ';' or '?', which package.path cannot express; move or rename it")
            }
            let base = dir.hasSuffix("/") ? String(dir.dropLast()) : dir
            templates.append("\(base)/?.lua")
            templates.append("\(base)/?/init.lua")
        }
        return templates.joined(separator: ";")
    }

    /// Parses a size such as `256M`, `1G`, `512MiB`, `64k` or a plain byte count.
    /// Suffixes are binary (K = 1024). `0` means unlimited.
    public static func parseMemorySize(_ text: String) throws -> Int {
        let s = text.trimmingCharacters(in: .whitespaces)
        let digits = s.prefix(while: { $0.isNumber })
        var unit = s.dropFirst(digits.count).lowercased()
        if unit.hasSuffix("ib") { unit = String(unit.dropLast(2)) } else if unit.hasSuffix("b") { unit = String(unit.dropLast()) }
        let shift: Int? = switch unit {
        case "": 0
        case "k": 10
        case "m": 20
        case "g": 30
        default: nil
        }
        guard let n = Int(digits), let shift, n <= (Int.max >> shift) else {
            throw FirebuildError(.invalidArgument, "invalid memory size \"\(text)\": use a number with an optional K, M or G suffix, e.g. 256M")
        }
        return n << shift
    }

    /// `536870912` → `512 MiB`, for messages.
    public static func formatMemorySize(_ bytes: Int) -> String {
        for (shift, name) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] where bytes >= 1 << shift && bytes % (1 << shift) == 0 {
            return "\(bytes >> shift) \(name)"
        }
        return "\(bytes) bytes"
    }
}
