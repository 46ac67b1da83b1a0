import CZlib
import FirebuildCore
import Foundation

/// Writes a cpio archive in the "newc" format the kernel unpacks into the initramfs
/// (Documentation/driver-api/early-userspace/buffer-format.rst): a 110-byte ASCII header,
/// the NUL-terminated name, padding to 4 bytes, the data, padding to 4 bytes; then `TRAILER!!!`.
public struct CpioWriter {
    public private(set) var data = Data()
    private var nextInode: UInt32 = 1
    private var names: Set<String> = []

    public init() {}

    public mutating func directory(_ name: String, mode: UInt32 = 0o755) {
        append(name: name, mode: 0o040000 | mode, body: Data())
    }

    public mutating func file(_ name: String, contents: Data, mode: UInt32 = 0o644) {
        append(name: name, mode: 0o100000 | mode, body: contents)
    }

    public mutating func symlink(_ name: String, target: String) {
        append(name: name, mode: 0o120777, body: Data(target.utf8))
    }

    public mutating func characterDevice(_ name: String, major: UInt32, minor: UInt32, mode: UInt32 = 0o600) {
        append(name: name, mode: 0o020000 | mode, body: Data(), rdev: (major, minor))
    }

    /// Closes the archive; nothing may be added afterwards.
    public mutating func finish() -> Data {
        append(name: "TRAILER!!!", mode: 0, body: Data(), inode: 0, nlink: 1)
        return data
    }

    public func contains(_ name: String) -> Bool { names.contains(name) }

    private mutating func append(name: String, mode: UInt32, body: Data, rdev: (UInt32, UInt32) = (0, 0),
                                 inode: UInt32? = nil, nlink: UInt32? = nil) {
        names.insert(name)
        let ino = inode ?? nextInode
        if inode == nil { nextInode += 1 }
        let isDir = mode & 0o170000 == 0o040000
        let fields: [UInt32] = [
            ino, mode, 0, 0, nlink ?? (isDir ? 2 : 1),
            0,  // mtime 0: the same inputs give the same bytes
            UInt32(body.count), 0, 0, rdev.0, rdev.1,
            UInt32(name.utf8.count + 1), 0,
        ]
        var header = "070701"
        for f in fields { header += String(format: "%08X", f) }
        data.append(contentsOf: header.utf8)
        data.append(contentsOf: name.utf8)
        data.append(0)
        pad()
        data.append(body)
        pad()
    }

    private mutating func pad() {
        while data.count % 4 != 0 { data.append(0) }
    }
}

/// gzip compression through zlib (windowBits 31 selects the gzip wrapper the kernel expects).
public enum Gzip {
    public static func compress(_ input: Data, level: Int32 = 6) throws -> Data {
        var stream = z_stream()
        var rc = deflateInit2_(&stream, level, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else { throw FirebuildError(.internal, "zlib deflateInit2 failed (\(rc))") }
        defer { deflateEnd(&stream) }
        var output = Data()
        let chunk = 1 << 16
        var buffer = [UInt8](repeating: 0, count: chunk)
        try input.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            stream.next_in = UnsafeMutablePointer(mutating: raw.bindMemory(to: Bytef.self).baseAddress)
            stream.avail_in = uInt(raw.count)
            repeat {
                try buffer.withUnsafeMutableBufferPointer { out in
                    stream.next_out = out.baseAddress
                    stream.avail_out = uInt(chunk)
                    rc = deflate(&stream, Z_FINISH)
                    guard rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR else {
                        throw FirebuildError(.internal, "zlib deflate failed (\(rc))")
                    }
                    output.append(out.baseAddress!, count: chunk - Int(stream.avail_out))
                }
            } while rc != Z_STREAM_END
        }
        return output
    }
}
