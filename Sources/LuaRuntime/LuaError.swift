import FirebuildCore

/// A failure of Lua code: syntax, runtime (any `error(...)`, including those raised by Swift
/// bindings), or memory. `message` starts with `file:line:` whenever Lua knows it;
/// `traceback` is Lua's `stack traceback:` block (empty for syntax and memory errors).
public struct LuaScriptError: Error, CustomStringConvertible, Equatable {
    public enum Kind: String, Sendable {
        case syntax, runtime, memory, errorHandler, other
    }

    public var kind: Kind
    public var message: String
    public var traceback: String

    public init(kind: Kind, message: String, traceback: String = "") {
        self.kind = kind
        self.message = message
        self.traceback = traceback
    }

    /// The message followed by the traceback, as printed to the user.
    public var description: String {
        traceback.isEmpty ? message : message + "\n" + traceback
    }

    /// The same failure as a `FirebuildError` (code `.recipe`), for callers that only handle those.
    public var firebuildError: FirebuildError {
        FirebuildError(.recipe, description)
    }

    /// Splits the single string our message handler produces (`msg\nstack traceback:\n…`).
    static func split(_ full: String) -> (message: String, traceback: String) {
        if let r = full.range(of: "\nstack traceback:") {
            return (String(full[..<r.lowerBound]), String(full[full.index(after: r.lowerBound)...]))
        }
        return (full, "")
    }
}

/// A bad argument passed to a Swift binding; the message follows Lua's own wording
/// (`bad argument #1 to 'fs.read' (string expected, got nil)`).
public struct LuaArgumentError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
