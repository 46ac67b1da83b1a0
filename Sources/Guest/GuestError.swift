#if canImport(Glibc)
import Glibc
#endif

/// The error type of the Guest module. It cannot be FirebuildError because FirebuildCore uses
/// Foundation; the VM module maps it (`code` lines up with FirebuildError.Code names).
public struct GuestError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Code: String, Sendable {
        case invalidArgument, notFound, io, timeout, protocolError, closed, guest, permission, unsupported
    }
    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    /// Wraps errno into a readable error naming the operation and the path.
    public static func posix(_ operation: String, _ path: String = "", errno err: Int32 = errno) -> GuestError {
        let reason = String(cString: strerror(err))
        let code: Code = switch err {
        case ENOENT: .notFound
        case EACCES, EPERM: .permission
        case ETIMEDOUT: .timeout
        default: .io
        }
        return GuestError(code, path.isEmpty ? "\(operation): \(reason)" : "\(operation) \(path): \(reason)")
    }
}
