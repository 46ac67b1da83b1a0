import FirebuildCore
import Foundation

/// Facts read from a Linux x86 boot image (bzImage) header, per Documentation/x86/boot.rst.
public struct BzImageHeader: Equatable, Sendable {
    /// Boot protocol version, e.g. 0x020f.
    public var protocolVersion: UInt16
    /// Sectors of real-mode setup code (the compressed kernel starts after them).
    public var setupSectors: Int
    /// The first word of the kernel version string (`6.1.0-57-cloud-amd64`), if the header has one.
    public var version: String?
    /// The whole version string (`6.1.0-57-cloud-amd64 (debian-kernel@…) #1 SMP …`).
    public var versionString: String?

    /// Offset of the protected-mode kernel (setup sectors plus the boot sector).
    public var setupEnd: Int { (setupSectors + 1) * 512 }

    /// Parses the header; nil when `data` is not a bzImage (no `HdrS` magic at 0x202).
    public init?(_ data: Data) {
        guard data.count > 0x260, data.readLE32(0x202) == 0x5372_6448 else { return nil }  // "HdrS"
        protocolVersion = data.readLE16(0x206)
        let sects = Int(data[data.startIndex + 0x1F1])
        setupSectors = sects == 0 ? 4 : sects
        // kernel_version (0x20E) points at a NUL-terminated string, relative to 0x200.
        let ptr = Int(data.readLE16(0x20E))
        if ptr > 0, 0x200 + ptr < data.count {
            let start = data.startIndex + 0x200 + ptr
            let end = data[start...].prefix(256).firstIndex(of: 0) ?? min(start + 256, data.endIndex)
            let text = String(decoding: data[start..<end], as: UTF8.self)
            versionString = text
            version = text.split(separator: " ").first.map(String.init)
        }
    }
}

/// Minimal ELF header checks: enough to tell a whole, loadable vmlinux from garbage or a truncated stream.
public enum ELFImage {
    public struct Info: Equatable, Sendable {
        public var is64Bit: Bool
        public var machine: UInt16
        public var type: UInt16
        public var entry: UInt64
        public var programHeaders: Int
        /// True when a PT_INTERP header exists (a dynamically linked program).
        public var hasInterpreter: Bool
    }

    /// Parses and validates the header and every program header (each segment must lie within the file).
    public static func inspect(_ data: Data) -> Info? {
        guard data.count >= 64, data.prefix(4) == Data([0x7F, 0x45, 0x4C, 0x46]) else { return nil }
        let b = data.startIndex
        let cls = data[b + 4], endian = data[b + 5], version = data[b + 6]
        guard (cls == 1 || cls == 2), endian == 1, version == 1 else { return nil }  // little-endian only (x86/arm64)
        let is64 = cls == 2
        let type = data.readLE16(16), machine = data.readLE16(18)
        let entry: UInt64, phoff: UInt64, phentsize: Int, phnum: Int
        if is64 {
            entry = data.readLE64(24); phoff = data.readLE64(32)
            phentsize = Int(data.readLE16(54)); phnum = Int(data.readLE16(56))
            guard data.readLE16(52) == 64, phentsize == 56 else { return nil }
        } else {
            entry = UInt64(data.readLE32(24)); phoff = UInt64(data.readLE32(28))
            phentsize = Int(data.readLE16(42)); phnum = Int(data.readLE16(44))
            guard data.readLE16(40) == 52, phentsize == 32 else { return nil }
        }
        guard phnum > 0, phoff < UInt64(data.count), Int(phoff) + phnum * phentsize <= data.count else { return nil }
        var interp = false
        for i in 0..<phnum {
            let o = Int(phoff) + i * phentsize
            let ptype = data.readLE32(o)
            let off: UInt64 = is64 ? data.readLE64(o + 8) : UInt64(data.readLE32(o + 4))
            let filesz: UInt64 = is64 ? data.readLE64(o + 32) : UInt64(data.readLE32(o + 16))
            // A truncated decompression shows up here: a segment reaching past the end of the data.
            guard off <= UInt64(data.count), filesz <= UInt64(data.count) - off else { return nil }
            if ptype == 3 { interp = true }
        }
        return Info(is64Bit: is64, machine: machine, type: type, entry: entry, programHeaders: phnum, hasInterpreter: interp)
    }

    /// Reads the file and inspects it.
    public static func inspect(path: String) -> Info? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return inspect(data)
    }
}

/// The kernel release from a `Linux version X ...` banner inside an uncompressed kernel.
public func kernelVersionFromBanner(_ data: Data) -> String? {
    let needle = Data("Linux version ".utf8)
    var search = data.startIndex..<data.endIndex
    while let r = data.range(of: needle, in: search) {
        let start = r.upperBound
        let end = data[start...].prefix(128).firstIndex(where: { $0 == 0x20 || $0 == 0 || $0 == 0x0A }) ?? start
        if end > start {
            let v = String(decoding: data[start..<end], as: UTF8.self)
            // Skip format strings such as "Linux version %s".
            if v.first?.isNumber == true { return v }
        }
        search = r.upperBound..<data.endIndex
    }
    return nil
}

extension Data {
    func readLE16(_ offset: Int) -> UInt16 {
        let i = startIndex + offset
        return UInt16(self[i]) | UInt16(self[i + 1]) << 8
    }

    func readLE32(_ offset: Int) -> UInt32 {
        let i = startIndex + offset
        return UInt32(self[i]) | UInt32(self[i + 1]) << 8 | UInt32(self[i + 2]) << 16 | UInt32(self[i + 3]) << 24
    }

    func readLE64(_ offset: Int) -> UInt64 {
        UInt64(readLE32(offset)) | UInt64(readLE32(offset + 4)) << 32
    }
}
