import Foundation

/// The one error type every firebuild module throws. `code` says what kind of failure it is
/// (and maps to the exit status); `message` says what happened, where, and how to fix it.
public struct FirebuildError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Code: String, Sendable, CaseIterable {
        case invalidArgument      // bad flag, option, reference, tag…
        case notFound             // image, tag, kernel, VM, file
        case alreadyExists
        case parse                // Dockerfile, JSON, tar, config
        case io                   // filesystem errors
        case network              // HTTP, registry, CNI
        case digestMismatch
        case unsupported
        case permission
        case timeout
        case subprocess           // a child process failed
        case guest                // the guest init reported an error
        case recipe               // a Lua recipe failed
        case conflict             // lock held, state changed under us
        case `internal`
    }

    public var code: Code
    public var message: String
    /// Where the error happened, when known (file:line of a Dockerfile or recipe).
    public var location: String?

    public init(_ code: Code, _ message: String, location: String? = nil) {
        self.code = code
        self.message = message
        self.location = location
    }

    public var description: String {
        if let location { return "\(location): \(message)" }
        return message
    }

    /// Exit status for the CLI: 1 for user-facing failures, 2 for usage errors.
    public var exitCode: Int32 { code == .invalidArgument ? 2 : 1 }
}

extension FirebuildError {
    /// Wraps a POSIX errno into a readable error naming the operation and path.
    public static func posix(_ operation: String, path: String, errno err: Int32 = errno) -> FirebuildError {
        let reason = String(cString: strerror(err))
        let code: Code = switch err {
        case ENOENT: .notFound
        case EEXIST: .alreadyExists
        case EACCES, EPERM: .permission
        default: .io
        }
        return FirebuildError(code, "\(operation) \(path): \(reason)")
    }
}
