import FirebuildCore
import Foundation

// <sys/xattr.h> is not part of Swift's Glibc module map; these are the plain glibc symbols
// (stable C ABI: pointers, size_t, int), declared here rather than adding a C target.
@_silgen_name("lsetxattr")
private func c_lsetxattr(_ path: UnsafePointer<CChar>, _ name: UnsafePointer<CChar>,
                         _ value: UnsafeRawPointer?, _ size: Int, _ flags: Int32) -> Int32
@_silgen_name("fsetxattr")
private func c_fsetxattr(_ fd: Int32, _ name: UnsafePointer<CChar>,
                         _ value: UnsafeRawPointer?, _ size: Int, _ flags: Int32) -> Int32
@_silgen_name("lgetxattr")
private func c_lgetxattr(_ path: UnsafePointer<CChar>, _ name: UnsafePointer<CChar>,
                         _ value: UnsafeMutableRawPointer?, _ size: Int) -> Int
@_silgen_name("llistxattr")
private func c_llistxattr(_ path: UnsafePointer<CChar>, _ list: UnsafeMutablePointer<CChar>?, _ size: Int) -> Int

/// Extended attributes of a path, never following a final symlink.
public enum Xattr {
    /// Returns 0 or -1 with errno set, like the C call.
    static func lset(_ path: String, _ name: String, _ value: [UInt8]) -> Int32 {
        value.withUnsafeBytes { c_lsetxattr(path, name, $0.baseAddress, value.count, 0) }
    }

    /// The same on an open descriptor (no path lookup).
    static func fset(_ fd: Int32, _ name: String, _ value: [UInt8]) -> Int32 {
        value.withUnsafeBytes { c_fsetxattr(fd, name, $0.baseAddress, value.count, 0) }
    }

    /// The value of `name`, or nil when absent or unreadable.
    public static func get(_ path: String, _ name: String) -> [UInt8]? {
        let size = c_lgetxattr(path, name, nil, 0)
        guard size >= 0 else { return nil }
        var buf = [UInt8](repeating: 0, count: size)
        let n = buf.withUnsafeMutableBytes { c_lgetxattr(path, name, $0.baseAddress, size) }
        return n >= 0 ? Array(buf[..<n]) : nil
    }

    /// Names of the attributes on `path`.
    public static func list(_ path: String) -> [String] {
        let size = c_llistxattr(path, nil, 0)
        guard size > 0 else { return [] }
        var buf = [CChar](repeating: 0, count: size)
        let n = c_llistxattr(path, &buf, size)
        guard n > 0 else { return [] }
        return buf[..<n].split(separator: 0).map { String(decoding: $0.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
    }
}

/// glibc's gnu_dev_makedev (a macro-backed inline Swift cannot see).
func makeDevice(_ major: UInt32, _ minor: UInt32) -> dev_t {
    let ma = UInt64(major), mi = UInt64(minor)
    return dev_t(((ma & 0xFFF) << 8) | ((ma & ~0xFFF) << 32) | (mi & 0xFF) | ((mi & ~0xFF) << 12))
}
