import FirebuildCore
import Foundation

/// Local archives `ADD` unpacks (Docker: "identity, gzip, bzip2 or xz"; BuildKit adds zstd).
public enum ArchiveFormat: String, Equatable, Sendable {
    case tar, gzip, bzip2, xz, zstd

    /// Recognises an archive by its magic bytes; a compressed file that is not a tar inside is
    /// not an archive (Docker copies such files as they are).
    public static func detect(path: String) -> ArchiveFormat? {
        guard let fh = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? fh.close() }
        let head = [UInt8]((try? fh.read(upToCount: 512)) ?? Data())
        let format: ArchiveFormat
        if head.starts(with: [0x1F, 0x8B]) { format = .gzip }
        else if head.starts(with: Array("BZh".utf8)) { format = .bzip2 }
        else if head.starts(with: [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) { format = .xz }
        else if head.starts(with: [0x28, 0xB5, 0x2F, 0xFD]) { format = .zstd }
        else if isTarHeader(head) { return .tar }
        else { return nil }
        // Peek inside: decompress the first block and look for a tar header.
        guard let tool = format.decompressor,
              let out = try? Command("/bin/sh", ["-c", "\(tool) -dc < \"$1\" 2>/dev/null | head -c 512", "sh", path]).run()
        else { return nil }
        return isTarHeader([UInt8](out.stdout)) ? format : nil
    }

    var decompressor: String? {
        switch self {
        case .tar: return nil
        case .gzip: return "gzip"
        case .bzip2: return "bzip2"
        case .xz: return "xz"
        case .zstd: return "zstd"
        }
    }

    /// ustar / GNU tar magic at offset 257, or a v7 header whose checksum is right.
    static func isTarHeader(_ b: [UInt8]) -> Bool {
        guard b.count >= 512 else { return false }
        if Array(b[257..<262]) == Array("ustar".utf8) { return true }
        let stored = String(decoding: b[148..<156], as: UTF8.self).trimmingCharacters(in: CharacterSet(charactersIn: " \0"))
        guard let sum = Int(stored, radix: 8), b[0] != 0 else { return false }
        var computed = 0
        for (i, byte) in b[0..<512].enumerated() { computed += (148..<156).contains(i) ? 32 : Int(byte) }
        return computed == sum
    }
}

public enum Archive {
    /// Unpacks with GNU tar into a fresh directory, keeping owners and modes (we run as root) and
    /// refusing paths that climb out (GNU tar strips leading `/` and rejects `..` members).
    public static func extract(_ path: String, format: ArchiveFormat, into dir: String) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var args = ["-x", "-f", path, "-C", dir, "--no-overwrite-dir", "--same-permissions"]
        if getuid() == 0 { args.append("--same-owner") } else { args.append("--no-same-owner") }
        switch format {
        case .tar: break
        case .gzip: args.append("--gzip")
        case .bzip2: args.append("--bzip2")
        case .xz: args.append("--xz")
        case .zstd: args.append("--zstd")
        }
        do { try Command("tar", args).check() } catch let e as FirebuildError {
            throw FirebuildError(.parse, "cannot unpack archive \(path) for ADD: \(e.message)")
        }
    }
}
