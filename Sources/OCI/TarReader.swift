import FirebuildCore
import Foundation

/// One archive member, with PAX and GNU long-name records already folded in.
public struct TarEntry: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case file, hardLink, symlink, characterDevice, blockDevice, directory, fifo
    }
    public var name: String
    public var kind: Kind
    public var mode: UInt32        // permission and setuid/setgid/sticky bits (07777)
    public var uid: Int
    public var gid: Int
    public var size: Int64
    public var mtime: Double       // seconds since the epoch (PAX may carry fractions)
    public var linkName: String
    public var uname: String
    public var gname: String
    public var devMajor: UInt32
    public var devMinor: UInt32
    /// Extended attributes from PAX `SCHILY.xattr.<name>` records (value bytes as-is).
    public var xattrs: [String: [UInt8]]

    public init(name: String, kind: Kind, mode: UInt32 = 0o644, uid: Int = 0, gid: Int = 0, size: Int64 = 0,
                mtime: Double = 0, linkName: String = "", uname: String = "", gname: String = "",
                devMajor: UInt32 = 0, devMinor: UInt32 = 0, xattrs: [String: [UInt8]] = [:]) {
        self.name = name
        self.kind = kind
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.size = size
        self.mtime = mtime
        self.linkName = linkName
        self.uname = uname
        self.gname = gname
        self.devMajor = devMajor
        self.devMinor = devMinor
        self.xattrs = xattrs
    }
}

/// A streaming tar reader: ustar, GNU (`L`/`K` long names, base-256 numbers) and PAX
/// (`x` per-entry and `g` global records: path, linkpath, size, uid, gid, mtime, xattrs).
/// Call `next()` for each header, then optionally `read(into:)` for its data; unread data
/// is skipped by the following `next()`.
public final class TarReader {
    private let source: ByteSource
    private let what: String
    private var remaining: Int64 = 0   // data bytes of the current entry not yet read
    private var padding: Int64 = 0     // zero padding after the current entry's data
    private var globalPAX: [String: String] = [:]
    private var block = [UInt8](repeating: 0, count: 512)
    // Read-ahead: one big read from the source (a gunzip stream) serves hundreds of headers
    // and small members by memcpy, instead of one decompressor call per 512-byte block.
    private let buffer: UnsafeMutableRawBufferPointer
    private var bufPos = 0
    private var bufEnd = 0
    private var sourceEOF = false
    static let bufferSize = 512 * 1024

    public init(_ source: ByteSource, what: String) {
        self.source = source
        self.what = what
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: TarReader.bufferSize, alignment: 64)
    }

    deinit { buffer.deallocate() }

    public func next() throws -> TarEntry? {
        try skip(remaining + padding)
        remaining = 0
        padding = 0
        var longName: String?
        var longLink: String?
        var pax: [String: String] = [:]
        while true {
            guard try readBlock() else { return nil }       // EOF without end blocks: tolerated
            if block.allSatisfy({ $0 == 0 }) { return nil }  // end-of-archive marker
            try verifyChecksum()
            let type = block[156]
            let size = try number(124, 12, field: "size")
            guard size >= 0 else { throw corrupt("negative size") }
            switch type {
            case UInt8(ascii: "L"), UInt8(ascii: "K"):
                let text = try readSmallData(size)
                let value = String(decoding: text.prefix { $0 != 0 }, as: UTF8.self)
                if type == UInt8(ascii: "L") { longName = value } else { longLink = value }
                continue
            case UInt8(ascii: "x"), UInt8(ascii: "g"):
                let records = try parsePAX(try readSmallData(size))
                if type == UInt8(ascii: "x") { pax.merge(records) { $1 } } else { globalPAX.merge(records) { $1 } }
                continue
            default:
                break
            }
            var entry = try header(type: type, size: size)
            let merged = globalPAX.merging(pax) { $1 }
            if let n = longName { entry.name = n }
            if let l = longLink { entry.linkName = l }
            try apply(merged, to: &entry)
            // Only regular files carry data; other types are header-only whatever their size
            // field says (as GNU tar and Go's archive/tar treat them).
            if entry.kind == .file {
                remaining = entry.size
            } else {
                entry.size = 0
            }
            padding = (512 - remaining % 512) % 512
            return entry
        }
    }

    /// Reads the current entry's data; returns 0 at its end.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard remaining > 0 else { return 0 }
        let want = Int(min(Int64(buffer.count), remaining))
        let n = try readRaw(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<want]))
        if n == 0 { throw corrupt("archive ends inside an entry's data") }
        remaining -= Int64(n)
        return n
    }

    /// The next piece of the current entry's data without copying it: a view into the
    /// reader's buffer, valid until the next call on this reader. Empty at the entry's end.
    public func readChunk() throws -> UnsafeRawBufferPointer {
        guard remaining > 0 else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        if bufPos == bufEnd { try fill() }
        guard bufPos < bufEnd else { throw corrupt("archive ends inside an entry's data") }
        let n = Int(min(Int64(bufEnd - bufPos), remaining))
        let chunk = UnsafeRawBufferPointer(rebasing: buffer[bufPos..<(bufPos + n)])
        bufPos += n
        remaining -= Int64(n)
        return chunk
    }

    /// The current entry's whole data (only for small members: manifests, configs).
    public func readAll(limit: Int = 64 << 20) throws -> Data {
        guard remaining <= Int64(limit) else { throw corrupt("member of \(remaining) bytes is too large to read into memory") }
        var out = Data(count: Int(remaining))
        let total = out.count
        try out.withUnsafeMutableBytes { raw in
            var done = 0
            while done < total {
                let n = try read(into: UnsafeMutableRawBufferPointer(rebasing: raw[done...]))
                done += n
            }
        }
        return out
    }

    // MARK: - internals

    private func corrupt(_ why: String) -> FirebuildError {
        FirebuildError(.parse, "\(what): invalid tar archive: \(why)")
    }

    /// Refills the read-ahead buffer (only when it is empty).
    private func fill() throws {
        guard bufPos == bufEnd, !sourceEOF else { return }
        bufPos = 0
        bufEnd = try source.read(into: buffer)
        if bufEnd == 0 { sourceEOF = true }
    }

    /// Copies up to `dest.count` bytes of the archive; fewer only at its end.
    private func readRaw(into dest: UnsafeMutableRawBufferPointer) throws -> Int {
        var done = 0
        while done < dest.count {
            if bufPos == bufEnd { try fill() }
            guard bufPos < bufEnd else { break }
            let n = min(bufEnd - bufPos, dest.count - done)
            (dest.baseAddress! + done).copyMemory(from: buffer.baseAddress! + bufPos, byteCount: n)
            bufPos += n
            done += n
        }
        return done
    }

    private func readBlock() throws -> Bool {
        let n = try block.withUnsafeMutableBytes { try readRaw(into: $0) }
        if n == 0 { return false }
        guard n == 512 else { throw corrupt("archive ends inside a header") }
        return true
    }

    private func skip(_ count: Int64) throws {
        var left = count
        while left > 0 {
            if bufPos == bufEnd { try fill() }
            guard bufPos < bufEnd else { throw corrupt("archive ends inside an entry's data") }
            let n = Int(min(Int64(bufEnd - bufPos), left))
            bufPos += n
            left -= Int64(n)
        }
    }

    private func readSmallData(_ size: Int64) throws -> [UInt8] {
        guard size <= 16 << 20 else { throw corrupt("extended header of \(size) bytes is too large") }
        var data = [UInt8](repeating: 0, count: Int(size))
        let n = try data.withUnsafeMutableBytes { try readRaw(into: $0) }
        guard n == Int(size) else { throw corrupt("archive ends inside an extended header") }
        try skip((512 - size % 512) % 512)
        return data
    }

    private func verifyChecksum() throws {
        let stored = try number(148, 8, field: "checksum")
        var unsigned: Int64 = 0
        var signed: Int64 = 0
        for i in 0..<512 {
            let b = (148..<156).contains(i) ? UInt8(ascii: " ") : block[i]
            unsigned += Int64(b)
            signed += Int64(Int8(bitPattern: b))
        }
        guard stored == unsigned || stored == signed else { throw corrupt("header checksum mismatch (not a tar file?)") }
    }

    private func string(_ offset: Int, _ length: Int) -> String {
        let bytes = block[offset..<(offset + length)]
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// Octal (NUL/space terminated) or GNU base-256 (high bit of the first byte set).
    private func number(_ offset: Int, _ length: Int, field: String) throws -> Int64 {
        let bytes = Array(block[offset..<(offset + length)])
        if let first = bytes.first, first & 0x80 != 0 {
            var value: Int64 = Int64(first & 0x3F)
            let negative = first & 0x40 != 0
            for b in bytes.dropFirst() {
                guard value < (Int64.max >> 8) else { throw corrupt("\(field) field overflows") }
                value = (value << 8) | Int64(b)
            }
            return negative ? -value : value
        }
        // Octal digits between optional NUL/space padding, parsed by hand: this runs eight
        // times per member and Foundation's trimming dominated header parsing.
        func isPad(_ b: UInt8) -> Bool { b == 0 || b == UInt8(ascii: " ") }
        var i = 0
        while i < bytes.count, isPad(bytes[i]) { i += 1 }
        var value: Int64 = 0
        var valid = true
        while i < bytes.count, !isPad(bytes[i]) {
            let b = bytes[i]
            guard b >= UInt8(ascii: "0"), b <= UInt8(ascii: "7"), value <= (Int64.max >> 3) else { valid = false; break }
            value = value << 3 | Int64(b - UInt8(ascii: "0"))
            i += 1
        }
        while valid, i < bytes.count {
            if !isPad(bytes[i]) { valid = false }
            i += 1
        }
        guard valid else {
            let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: CharacterSet(charactersIn: " \0"))
            throw corrupt("\(field) field \"\(text)\" is not octal")
        }
        return value
    }

    private func header(type: UInt8, size: Int64) throws -> TarEntry {
        var name = string(0, 100)
        let magic = string(257, 6)
        if magic.hasPrefix("ustar") {
            let prefix = string(345, 155)
            if !prefix.isEmpty { name = prefix + "/" + name }
        }
        let kind: TarEntry.Kind
        switch type {
        // Pre-POSIX archives mark directories by a trailing slash on a NUL-typed member.
        case 0: kind = name.hasSuffix("/") ? .directory : .file
        case UInt8(ascii: "0"), UInt8(ascii: "7"): kind = .file
        case UInt8(ascii: "1"): kind = .hardLink
        case UInt8(ascii: "2"): kind = .symlink
        case UInt8(ascii: "3"): kind = .characterDevice
        case UInt8(ascii: "4"): kind = .blockDevice
        case UInt8(ascii: "5"): kind = .directory
        case UInt8(ascii: "6"): kind = .fifo
        case UInt8(ascii: "S"):
            throw FirebuildError(.unsupported, "\(what): GNU sparse member \"\(name)\" is not supported (image layers should not contain sparse files)")
        default:
            throw FirebuildError(.unsupported, "\(what): member \"\(name)\" has unknown tar type '\(Character(Unicode.Scalar(type)))'")
        }
        return TarEntry(
            name: name, kind: kind, mode: UInt32(truncatingIfNeeded: try number(100, 8, field: "mode") & 0o7777),
            uid: Int(try number(108, 8, field: "uid")), gid: Int(try number(116, 8, field: "gid")),
            size: size, mtime: Double(try number(136, 12, field: "mtime")), linkName: string(157, 100),
            uname: string(265, 32), gname: string(297, 32),
            devMajor: UInt32(truncatingIfNeeded: try number(329, 8, field: "devmajor")),
            devMinor: UInt32(truncatingIfNeeded: try number(337, 8, field: "devminor")))
    }

    /// PAX records: "<length> <key>=<value>\n", length counting the whole record.
    private func parsePAX(_ data: [UInt8]) throws -> [String: String] {
        var out: [String: String] = [:]
        var i = 0
        while i < data.count {
            guard let space = data[i...].firstIndex(of: UInt8(ascii: " ")),
                  let length = Int(String(decoding: data[i..<space], as: UTF8.self)), length > 0,
                  i + length <= data.count, data[i + length - 1] == UInt8(ascii: "\n") else {
                if data[i...].allSatisfy({ $0 == 0 }) { break }
                throw corrupt("malformed PAX extended header record")
            }
            let record = data[(space + 1)..<(i + length - 1)]
            guard let eq = record.firstIndex(of: UInt8(ascii: "=")) else { throw corrupt("PAX record without '='") }
            let key = String(decoding: record[record.startIndex..<eq], as: UTF8.self)
            // Values are kept byte-exact (xattr values are binary): Latin-1 maps bytes 1:1.
            let value = String(decoding: record[(eq + 1)...], as: UTF8.self)
            if key.hasPrefix("SCHILY.xattr.") {
                out[key] = String(record[(eq + 1)...].map { Character(Unicode.Scalar($0)) })
            } else {
                out[key] = value
            }
            i += length
        }
        return out
    }

    private func apply(_ pax: [String: String], to entry: inout TarEntry) throws {
        for (key, value) in pax {
            switch key {
            case "path": entry.name = value
            case "linkpath": entry.linkName = value
            case "size":
                guard let v = Int64(value), v >= 0 else { throw corrupt("PAX size \"\(value)\" is not a number") }
                entry.size = v
            case "uid": entry.uid = Int(value) ?? entry.uid
            case "gid": entry.gid = Int(value) ?? entry.gid
            case "uname": entry.uname = value
            case "gname": entry.gname = value
            case "mtime": entry.mtime = Double(value) ?? entry.mtime
            default:
                if key.hasPrefix("SCHILY.xattr.") {
                    let name = String(key.dropFirst("SCHILY.xattr.".count))
                    entry.xattrs[name] = value.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) }
                }
            }
        }
    }
}
