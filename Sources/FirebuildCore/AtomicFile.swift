import Foundation

/// Writes that are never seen half-done: data goes to a temporary file in the same directory,
/// is flushed to disk, then renamed over the destination.
public enum AtomicFile {
    public static func write(_ data: Data, to path: String, mode: mode_t = 0o644) throws {
        let dir = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: dir.isEmpty ? "." : dir, withIntermediateDirectories: true)
        let tmp = "\(path).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw FirebuildError.posix("create", path: tmp) }
        var ok = false
        defer {
            if !ok { unlink(tmp) }
        }
        try data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    let e = errno
                    close(fd)
                    throw FirebuildError.posix("write", path: tmp, errno: e)
                }
                offset += n
            }
        }
        // The mode passed to open() is filtered by the umask; metadata files must be exact.
        fchmod(fd, mode)
        fsync(fd)
        close(fd)
        guard rename(tmp, path) == 0 else { throw FirebuildError.posix("rename", path: path) }
        ok = true
    }

    public static func write(_ string: String, to path: String, mode: mode_t = 0o644) throws {
        try write(Data(string.utf8), to: path, mode: mode)
    }

    /// Encodes `value` as pretty, key-sorted JSON and writes it atomically.
    public static func writeJSON<T: Encodable>(_ value: T, to path: String, mode: mode_t = 0o644) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var data = try encoder.encode(value)
        data.append(0x0A)
        try write(data, to: path, mode: mode)
    }

    /// Moves a fully prepared temporary directory into place (rename is atomic on one filesystem).
    public static func publishDirectory(_ tmp: String, as path: String) throws {
        let parent = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        guard rename(tmp, path) == 0 else { throw FirebuildError.posix("rename", path: "\(tmp) -> \(path)") }
    }
}
