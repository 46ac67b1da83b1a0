import FirebuildCore
import Foundation

/// Extended attributes of a path without following symlinks. Glibc's <sys/xattr.h> is not part
/// of Swift's Glibc module, so the functions are looked up in libc at run time.
public enum XAttr {
    private typealias List = @convention(c) (UnsafePointer<CChar>, UnsafeMutablePointer<CChar>?, Int) -> Int
    private typealias Get = @convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeMutableRawPointer?, Int) -> Int
    private typealias Set = @convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeRawPointer?, Int, Int32) -> Int32

    private static func symbol<T>(_ name: String, as: T.Type) -> T? {
        guard let handle = dlopen(nil, RTLD_NOW), let sym = dlsym(handle, name) else { return nil }
        return unsafeBitCast(sym, to: T.self)
    }

    private static let llist = symbol("llistxattr", as: List.self)
    private static let lget = symbol("lgetxattr", as: Get.self)
    private static let lset = symbol("lsetxattr", as: Set.self)

    /// Attribute names of `path` (empty when it has none or the filesystem has no xattrs).
    public static func names(_ path: String) -> [String] {
        guard let llist else { return [] }
        let size = llist(path, nil, 0)
        guard size > 0 else { return [] }
        var buffer = [CChar](repeating: 0, count: size)
        let got = llist(path, &buffer, size)
        guard got > 0 else { return [] }
        return buffer[0..<got].split(separator: 0).map { String(decoding: $0.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
    }

    public static func get(_ path: String, _ name: String) -> Data? {
        guard let lget else { return nil }
        let size = lget(path, name, nil, 0)
        guard size >= 0 else { return nil }
        var data = Data(count: size)
        let got = data.withUnsafeMutableBytes { lget(path, name, $0.baseAddress, size) }
        return got >= 0 ? data.prefix(got) : nil
    }

    public static func set(_ path: String, _ name: String, _ value: Data) throws {
        guard let lset else { throw FirebuildError(.unsupported, "this C library has no lsetxattr") }
        let rc = value.withUnsafeBytes { lset(path, name, $0.baseAddress, value.count, 0) }
        guard rc == 0 else { throw FirebuildError.posix("setxattr \(name)", path: path) }
    }
}
