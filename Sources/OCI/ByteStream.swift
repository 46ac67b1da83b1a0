import CZlib
import CZstd
import FirebuildCore
import Foundation

/// A pull-based byte stream: `read` fills up to `buffer.count` bytes and returns 0 at the end.
/// Layers are streamed through these (file → gunzip/zstd → tar), never held whole in memory.
public protocol ByteSource: AnyObject {
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

extension ByteSource {
    /// Reads exactly `buffer.count` bytes unless the stream ends first; returns how many.
    func readFully(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var done = 0
        while done < buffer.count {
            let n = try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]))
            if n == 0 { break }
            done += n
        }
        return done
    }
}

/// Reads a file descriptor it owns.
public final class FileSource: ByteSource {
    private var fd: Int32
    public let path: String

    public init(path: String) throws {
        self.path = path
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FirebuildError.posix("open", path: path) }
    }

    deinit { if fd >= 0 { close(fd) } }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let n = Foundation.read(fd, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if errno != EINTR { throw FirebuildError.posix("read", path: path) }
        }
    }
}

/// Serves bytes from memory (tests, small tars built in memory).
public final class DataSource: ByteSource {
    private let data: Data
    private var offset = 0
    public init(_ data: Data) { self.data = data }
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = min(buffer.count, data.count - offset)
        guard n > 0 else { return 0 }
        data.withUnsafeBytes { raw in
            buffer.baseAddress!.copyMemory(from: raw.baseAddress! + offset, byteCount: n)
        }
        offset += n
        return n
    }
}

/// Hashes everything read through it (diffIDs are the sha256 of the uncompressed tar).
public final class HashingSource: ByteSource {
    private let inner: ByteSource
    private var hasher = StreamingSHA256()
    public private(set) var count: Int64 = 0
    public init(_ inner: ByteSource) { self.inner = inner }
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = try inner.read(into: buffer)
        if n > 0 {
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[..<n]))
            count += Int64(n)
        }
        return n
    }
    /// Reads to the end (tar readers stop at the end-of-archive blocks) and returns the digest.
    public func drainAndFinalize() throws -> ContentDigest {
        var buf = [UInt8](repeating: 0, count: 64 * 1024)
        while try buf.withUnsafeMutableBytes({ try read(into: $0) }) > 0 {}
        return hasher.finalize()
    }
}

/// Lets the first bytes be looked at (compression magic) without losing them.
final class PeekSource: ByteSource {
    private let inner: ByteSource
    private var head: [UInt8] = []
    private var headOffset = 0

    init(_ inner: ByteSource) { self.inner = inner }

    func peek(_ n: Int) throws -> [UInt8] {
        if head.count - headOffset < n {
            var more = [UInt8](repeating: 0, count: n)
            let got = try more.withUnsafeMutableBytes { try inner.readFully(into: $0) }
            head = Array(head[headOffset...]) + more[..<got]
            headOffset = 0
        }
        return Array(head[headOffset..<min(head.count, headOffset + n)])
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if headOffset < head.count {
            let n = min(buffer.count, head.count - headOffset)
            head.withUnsafeBytes { raw in buffer.baseAddress!.copyMemory(from: raw.baseAddress! + headOffset, byteCount: n) }
            headOffset += n
            return n
        }
        return try inner.read(into: buffer)
    }
}

public enum Compression: String, Sendable {
    case none, gzip, zstd

    /// Decides by magic bytes, not by media type: docker-archive layers and `image import`
    /// tarballs carry no media type, and registries sometimes mislabel.
    public static func wrap(_ source: ByteSource, what: String) throws -> (ByteSource, Compression) {
        let peek = PeekSource(source)
        let magic = try peek.peek(4)
        if magic.count >= 2, magic[0] == 0x1F, magic[1] == 0x8B { return (try GzipSource(peek, what: what), .gzip) }
        if magic == [0x28, 0xB5, 0x2F, 0xFD] { return (try ZstdSource(peek, what: what), .zstd) }
        return (peek, .none)
    }
}

/// Streaming gunzip (zlib, windowBits 15+32: gzip or zlib header auto-detected). Concatenated
/// gzip members are read as one stream, as gzip(1) does.
public final class GzipSource: ByteSource {
    private let inner: ByteSource
    private let what: String
    private var stream = z_stream()
    private var input = [UInt8](repeating: 0, count: 256 * 1024)
    private var inputEOF = false
    private var finished = false

    public init(_ inner: ByteSource, what: String) throws {
        self.inner = inner
        self.what = what
        let rc = inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else { throw FirebuildError(.internal, "\(what): inflateInit2 failed (\(rc))") }
    }

    deinit { inflateEnd(&stream) }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard !finished, buffer.count > 0 else { return 0 }
        return try input.withUnsafeMutableBytes { inBuf -> Int in
            stream.next_out = buffer.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.avail_out = uInt(buffer.count)
            while stream.avail_out == uInt(buffer.count) {
                if stream.avail_in == 0 && !inputEOF {
                    let n = try inner.read(into: inBuf)
                    if n == 0 { inputEOF = true }
                    stream.next_in = inBuf.baseAddress!.assumingMemoryBound(to: Bytef.self)
                    stream.avail_in = uInt(n)
                }
                let rc = inflate(&stream, Z_NO_FLUSH)
                if rc == Z_STREAM_END {
                    // Another member may follow; skip trailing zero padding some tools add.
                    if stream.avail_in == 0 && !inputEOF {
                        let n = try inner.read(into: inBuf)
                        if n == 0 { inputEOF = true }
                        stream.next_in = inBuf.baseAddress!.assumingMemoryBound(to: Bytef.self)
                        stream.avail_in = uInt(n)
                    }
                    if stream.avail_in == 0 || stream.next_in.pointee == 0 {
                        finished = true
                        break
                    }
                    inflateReset(&stream)
                    continue
                }
                if rc == Z_BUF_ERROR && stream.avail_in == 0 && inputEOF {
                    throw FirebuildError(.parse, "\(what): gzip data ends early (truncated download or file)")
                }
                guard rc == Z_OK || rc == Z_BUF_ERROR else {
                    let msg = stream.msg.map { String(cString: $0) } ?? "code \(rc)"
                    throw FirebuildError(.parse, "\(what): corrupt gzip data: \(msg)")
                }
            }
            return buffer.count - Int(stream.avail_out)
        }
    }
}

/// Streaming zstd (ZSTD_decompressStream); multiple frames are read in sequence.
public final class ZstdSource: ByteSource {
    private let inner: ByteSource
    private let what: String
    private let dctx: OpaquePointer
    private var input = [UInt8](repeating: 0, count: 128 * 1024)
    private var inPos = 0
    private var inSize = 0
    private var inputEOF = false
    private var lastResult = 0

    public init(_ inner: ByteSource, what: String) throws {
        self.inner = inner
        self.what = what
        guard let ctx = ZSTD_createDCtx() else { throw FirebuildError(.internal, "\(what): ZSTD_createDCtx failed") }
        dctx = ctx
    }

    deinit { ZSTD_freeDCtx(dctx) }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard buffer.count > 0 else { return 0 }
        while true {
            if inPos == inSize && !inputEOF {
                inSize = try input.withUnsafeMutableBytes { try inner.read(into: $0) }
                inPos = 0
                if inSize == 0 { inputEOF = true }
            }
            if inPos == inSize && inputEOF {
                if lastResult != 0 { throw FirebuildError(.parse, "\(what): zstd data ends early (truncated)") }
                return 0
            }
            var out = ZSTD_outBuffer(dst: buffer.baseAddress, size: buffer.count, pos: 0)
            let rc = input.withUnsafeBytes { raw -> Int in
                var inb = ZSTD_inBuffer(src: raw.baseAddress, size: inSize, pos: inPos)
                let r = ZSTD_decompressStream(dctx, &out, &inb)
                inPos = inb.pos
                return r
            }
            if ZSTD_isError(rc) != 0 {
                throw FirebuildError(.parse, "\(what): corrupt zstd data: \(String(cString: ZSTD_getErrorName(rc)))")
            }
            lastResult = rc
            if out.pos > 0 { return out.pos }
        }
    }
}
