import Crypto
import Foundation

/// A content digest in OCI form (`sha256:<64 hex>`).
public struct ContentDigest: Hashable, Codable, CustomStringConvertible, Sendable, Comparable {
    public let algorithm: String
    public let hex: String

    public init(algorithm: String = "sha256", hex: String) {
        self.algorithm = algorithm
        self.hex = hex
    }

    /// Parses `sha256:<hex>`; rejects other algorithms and malformed hex with a reason.
    public init(parsing text: String) throws {
        let parts = text.split(separator: ":", maxSplits: 1)
        guard parts.count == 2 else {
            throw FirebuildError(.invalidArgument, "invalid digest \"\(text)\": expected algorithm:hex, e.g. sha256:…")
        }
        let alg = String(parts[0]), hex = String(parts[1])
        guard alg == "sha256" else {
            throw FirebuildError(.unsupported, "unsupported digest algorithm \"\(alg)\" in \"\(text)\": only sha256 is supported")
        }
        guard hex.count == 64, hex.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else {
            throw FirebuildError(.invalidArgument, "invalid digest \"\(text)\": sha256 needs 64 lowercase hex characters")
        }
        self.algorithm = alg
        self.hex = hex
    }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        try self.init(parsing: text)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }

    public var description: String { "\(algorithm):\(hex)" }
    public static func < (a: ContentDigest, b: ContentDigest) -> Bool { a.description < b.description }

    public static func sha256(_ data: Data) -> ContentDigest {
        ContentDigest(hex: SHA256.hash(data: data).hexString)
    }

    public static func sha256(_ string: String) -> ContentDigest { sha256(Data(string.utf8)) }

    /// Hashes a file in 1 MiB chunks without loading it whole.
    public static func sha256(fileAt path: String) throws -> ContentDigest {
        var hasher = StreamingSHA256()
        guard let fh = FileHandle(forReadingAtPath: path) else { throw FirebuildError.posix("open", path: path) }
        defer { try? fh.close() }
        while let chunk = try fh.read(upToCount: 1 << 20), !chunk.isEmpty {
            hasher.update(chunk)
        }
        return hasher.finalize()
    }
}

/// Incremental SHA-256, for checking blobs while they stream.
public struct StreamingSHA256 {
    private var hasher = SHA256()
    public init() {}
    public mutating func update(_ data: Data) { hasher.update(data: data) }
    public mutating func update(_ buffer: UnsafeRawBufferPointer) { hasher.update(bufferPointer: buffer) }
    public func finalize() -> ContentDigest { ContentDigest(hex: hasher.finalize().hexString) }
}

extension Sequence where Element == UInt8 {
    public var hexString: String {
        let table: [UInt8] = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        for b in self {
            out.append(table[Int(b >> 4)])
            out.append(table[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
