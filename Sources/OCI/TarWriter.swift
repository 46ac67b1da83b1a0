import FirebuildCore
import Foundation

/// Writes ustar archives, with a PAX header when a name, link, number or xattr does not fit
/// ustar. Used to build layers (and, in tests, deliberately hostile ones: it writes names
/// exactly as given, `..` and absolute paths included).
public final class TarWriter {
    private var sink: (UnsafeRawBufferPointer) throws -> Void
    private var finished = false

    /// Writes through `sink` (a file, a hasher, memory).
    public init(sink: @escaping (UnsafeRawBufferPointer) throws -> Void) {
        self.sink = sink
    }

    /// Collects the archive in memory.
    public static func inMemory() -> (TarWriter, () -> Data) {
        let box = DataBox()
        let writer = TarWriter { box.data.append(contentsOf: $0) }
        return (writer, { box.data })
    }

    private final class DataBox { var data = Data() }

    public func add(_ entry: TarEntry, data: Data = Data()) throws {
        var e = entry
        if e.kind == .file { e.size = Int64(data.count) }
        try writeHeader(e)
        if e.kind == .file {
            try emit(data)
            try pad(Int64(data.count))
        }
    }

    /// Streams a file's content as the data of `entry` (its size must match the file).
    public func add(_ entry: TarEntry, contentsOf source: ByteSource) throws {
        try writeHeader(entry)
        var buf = [UInt8](repeating: 0, count: 64 * 1024)
        var written: Int64 = 0
        while true {
            let n = try buf.withUnsafeMutableBytes { try source.read(into: $0) }
            if n == 0 { break }
            try buf.withUnsafeBytes { try sink(UnsafeRawBufferPointer(rebasing: $0[..<n])) }
            written += Int64(n)
        }
        guard written == entry.size else {
            throw FirebuildError(.io, "tar member \(entry.name): expected \(entry.size) bytes, read \(written)")
        }
        try pad(written)
    }

    /// Convenience for tests and small layers.
    public func file(_ name: String, _ content: String, mode: UInt32 = 0o644, uid: Int = 0, gid: Int = 0) throws {
        try add(TarEntry(name: name, kind: .file, mode: mode, uid: uid, gid: gid), data: Data(content.utf8))
    }

    public func directory(_ name: String, mode: UInt32 = 0o755) throws {
        try add(TarEntry(name: name.hasSuffix("/") ? name : name + "/", kind: .directory, mode: mode))
    }

    public func symlink(_ name: String, to target: String) throws {
        try add(TarEntry(name: name, kind: .symlink, mode: 0o777, linkName: target))
    }

    public func hardLink(_ name: String, to target: String) throws {
        try add(TarEntry(name: name, kind: .hardLink, linkName: target))
    }

    /// Writes the two zero blocks that end an archive.
    public func finish() throws {
        guard !finished else { return }
        finished = true
        try emit(Data(count: 1024))
    }

    // MARK: - encoding

    private func emit(_ data: Data) throws {
        try data.withUnsafeBytes { try sink($0) }
    }

    private func pad(_ size: Int64) throws {
        let n = Int((512 - size % 512) % 512)
        if n > 0 { try emit(Data(count: n)) }
    }

    private func writeHeader(_ e: TarEntry) throws {
        var pax: [(String, [UInt8])] = []
        if e.name.utf8.count > 100 { pax.append(("path", Array(e.name.utf8))) }
        if e.linkName.utf8.count > 100 { pax.append(("linkpath", Array(e.linkName.utf8))) }
        if e.size > 0o77777777777 { pax.append(("size", Array(String(e.size).utf8))) }
        if e.uid > 0o7777777 { pax.append(("uid", Array(String(e.uid).utf8))) }
        if e.gid > 0o7777777 { pax.append(("gid", Array(String(e.gid).utf8))) }
        if e.mtime != e.mtime.rounded(.down) || e.mtime < 0 || e.mtime > 0o77777777777 {
            pax.append(("mtime", Array(String(format: "%.9f", e.mtime).utf8)))
        }
        for key in e.xattrs.keys.sorted() {
            pax.append(("SCHILY.xattr." + key, e.xattrs[key] ?? []))
        }
        if !pax.isEmpty {
            var body: [UInt8] = []
            for (key, value) in pax { body += TarWriter.paxRecord(key, value) }
            var h = TarEntry(name: "PaxHeaders/" + String(e.name.suffix(80)), kind: .file, mode: 0o644)
            h.size = Int64(body.count)
            try emit(Data(block(h, typeflag: UInt8(ascii: "x"))))
            try emit(Data(body))
            try pad(Int64(body.count))
        }
        let type: UInt8 = switch e.kind {
        case .file: UInt8(ascii: "0")
        case .hardLink: UInt8(ascii: "1")
        case .symlink: UInt8(ascii: "2")
        case .characterDevice: UInt8(ascii: "3")
        case .blockDevice: UInt8(ascii: "4")
        case .directory: UInt8(ascii: "5")
        case .fifo: UInt8(ascii: "6")
        }
        try emit(Data(block(e, typeflag: type)))
    }

    static func paxRecord(_ key: String, _ value: [UInt8]) -> [UInt8] {
        // The length prefix counts itself, so find the fixed point.
        let rest = 1 + key.utf8.count + 1 + value.count + 1
        var length = rest + 1
        while String(length).utf8.count + rest != length { length = String(length).utf8.count + rest }
        return Array("\(length) \(key)=".utf8) + value + [UInt8(ascii: "\n")]
    }

    private func block(_ e: TarEntry, typeflag: UInt8) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 512)
        func put(_ s: [UInt8], _ offset: Int, _ length: Int) {
            for (i, c) in s.prefix(length).enumerated() { b[offset + i] = c }
        }
        func octal(_ v: Int64, _ offset: Int, _ length: Int) {
            let clamped = max(0, min(v, Int64(pow(8.0, Double(length - 1))) - 1))
            let s = String(clamped, radix: 8)
            put(Array((String(repeating: "0", count: max(0, length - 1 - s.count)) + s).utf8), offset, length - 1)
        }
        put(Array(e.name.utf8), 0, 100)
        octal(Int64(e.mode), 100, 8)
        octal(Int64(e.uid), 108, 8)
        octal(Int64(e.gid), 116, 8)
        octal(e.kind == .file ? e.size : 0, 124, 12)
        octal(Int64(e.mtime.rounded(.down)), 136, 12)
        b[156] = typeflag
        put(Array(e.linkName.utf8), 157, 100)
        put(Array("ustar\0".utf8), 257, 6)
        put(Array("00".utf8), 263, 2)
        put(Array(e.uname.utf8), 265, 32)
        put(Array(e.gname.utf8), 297, 32)
        octal(Int64(e.devMajor), 329, 8)
        octal(Int64(e.devMinor), 337, 8)
        for i in 148..<156 { b[i] = UInt8(ascii: " ") }
        let sum = b.reduce(0) { $0 + Int64($1) }
        let s = String(sum, radix: 8)
        put(Array((String(repeating: "0", count: max(0, 6 - s.count)) + s).utf8), 148, 6)
        b[154] = 0
        b[155] = UInt8(ascii: " ")
        return b
    }
}
