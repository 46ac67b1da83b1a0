import FirebuildCore
import Foundation
import Logging
import Store

/// Finds the compressed kernel inside a bzImage and decompresses it to an ELF vmlinux, as the
/// kernel's scripts/extract-vmlinux does: scan for each format's magic after the setup code,
/// decompress from there with the format's CLI tool, keep the first output that is a valid ELF.
public enum VmlinuxExtractor {
    public struct Format: Sendable, Equatable {
        public var name: String
        public var magic: [UInt8]
        public var tool: String
        public var arguments: [String]
    }

    /// The formats Linux can compress its payload with (CONFIG_KERNEL_*).
    public static let formats: [Format] = [
        Format(name: "gzip", magic: [0x1F, 0x8B, 0x08], tool: "gzip", arguments: ["-dc"]),
        Format(name: "xz", magic: [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00], tool: "xz", arguments: ["-dc", "--single-stream"]),
        Format(name: "lz4", magic: [0x02, 0x21, 0x4C, 0x18], tool: "lz4", arguments: ["-dc"]),
        Format(name: "zstd", magic: [0x28, 0xB5, 0x2F, 0xFD], tool: "zstd", arguments: ["-dc"]),
        Format(name: "bzip2", magic: Array("BZh".utf8), tool: "bzip2", arguments: ["-dc"]),
        Format(name: "lzma", magic: [0x5D, 0x00, 0x00, 0x00], tool: "lzma", arguments: ["-dc"]),
    ]

    public struct Candidate: Equatable, Sendable {
        public var offset: Int
        public var format: Format
    }

    /// Every magic match after `start`, in file order (lowest offset is the likeliest payload).
    public static func candidates(in data: Data, from start: Int, limit: Int = 48) -> [Candidate] {
        var found: [Candidate] = []
        for format in formats {
            var search = (data.startIndex + min(start, data.count))..<data.endIndex
            var hits = 0
            while hits < 8, let r = data.range(of: Data(format.magic), in: search) {
                found.append(Candidate(offset: r.lowerBound - data.startIndex, format: format))
                hits += 1
                search = r.upperBound..<data.endIndex
            }
        }
        return Array(found.sorted { $0.offset < $1.offset }.prefix(limit))
    }

    /// Decompresses the payload of `bzImage` into an ELF. The tools read a temporary file holding
    /// the bytes from the candidate offset on (a pipe would break when a tool rejects the data early).
    public static func extract(bzImage data: Data, logger: Logger = makeLogger("vm")) throws -> (elf: Data, format: String, offset: Int) {
        let start = BzImageHeader(data)?.setupEnd ?? 0
        let list = candidates(in: data, from: start)
        guard !list.isEmpty else {
            throw FirebuildError(.unsupported, "no compressed kernel payload found (looked for gzip, xz, lz4, zstd, bzip2, lzma magic); is this a Linux bzImage?")
        }
        let tmp = FileManager.default.temporaryDirectory.path + "/fb-extract-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { unlink(tmp) }
        var missingTools: Set<String> = []
        for c in list {
            guard Command.which(c.format.tool) != nil else { missingTools.insert(c.format.tool); continue }
            guard FileManager.default.createFile(atPath: tmp, contents: data[(data.startIndex + c.offset)...]) else {
                throw FirebuildError.posix("write", path: tmp)
            }
            // Trailing bytes after the stream make most tools exit non-zero; the output still counts.
            guard let result = try? Command(c.format.tool, c.format.arguments + [tmp], timeout: 120).run() else { continue }
            if ELFImage.inspect(result.stdout) != nil {
                logger.debug("found \(c.format.name) kernel payload", metadata: ["offset": "\(c.offset)"])
                return (result.stdout, c.format.name, c.offset)
            }
        }
        let hint = missingTools.isEmpty ? "" : " (missing decompressors: \(missingTools.sorted().joined(separator: ", ")); install them)"
        throw FirebuildError(.unsupported, "could not extract an ELF vmlinux from the bzImage: none of \(list.count) candidate payloads decompressed to a valid ELF\(hint)")
    }
}

/// Imports kernels into the store in both forms: the ELF vmlinux (Firecracker, QEMU PVH) and,
/// when given one, the bzImage (QEMU, and its header names the modules version).
public struct KernelImporter: Sendable {
    public var store: KernelStore
    public init(store: KernelStore = KernelStore()) {
        self.store = store
    }

    /// `path` is a bzImage or an ELF vmlinux; `initrd` an optional initrd to store with it.
    @discardableResult
    public func `import`(id: String, path: String, initrd: String? = nil, replace: Bool = false,
                         sourceDescription: String? = nil) throws -> StoredKernel {
        try KernelStore.validate(id: id)
        if !replace && store.exists(id) {
            throw FirebuildError(.alreadyExists, "kernel \"\(id)\" already exists in \(store.root); remove it first (firebuild kernel rm \(id)) or pass --replace")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FirebuildError(.notFound, "kernel image \(path) cannot be read; pass a bzImage (e.g. /boot/vmlinuz-*) or an ELF vmlinux")
        }
        if let initrd, !FileManager.default.isReadableFile(atPath: initrd) {
            throw FirebuildError(.notFound, "initrd \(initrd) cannot be read")
        }
        let logger = makeLogger("vm")
        let vmlinux: Data
        var bzImage: Data?
        var version: String?
        if ELFImage.inspect(data) != nil {
            vmlinux = data
            version = kernelVersionFromBanner(data)
        } else if let header = BzImageHeader(data) {
            let extracted = try VmlinuxExtractor.extract(bzImage: data, logger: logger)
            vmlinux = extracted.elf
            bzImage = data
            version = header.version ?? kernelVersionFromBanner(extracted.elf)
            logger.info("extracted vmlinux", metadata: ["format": .string(extracted.format), "bytes": "\(vmlinux.count)"])
        } else {
            throw FirebuildError(.unsupported, "\(path) is neither an ELF vmlinux nor a bzImage (no ELF magic, no HdrS boot header)")
        }
        return try store.create(id: id, replace: replace) { staging in
            try vmlinux.write(to: URL(fileURLWithPath: staging + "/" + KernelStore.vmlinuxName))
            var record = KernelRecord(id: id, version: version, source: sourceDescription ?? path, vmlinuxSize: Int64(vmlinux.count),
                                      vmlinuxDigest: ContentDigest.sha256(vmlinux))
            if let bzImage {
                try bzImage.write(to: URL(fileURLWithPath: staging + "/" + KernelStore.bzImageName))
                record.bzImageSize = Int64(bzImage.count)
            }
            if let initrd {
                try FileManager.default.copyItem(atPath: initrd, toPath: staging + "/" + KernelStore.initrdName)
                record.initrdSize = KernelStore.fileSize(staging + "/" + KernelStore.initrdName)
                record.initrdSource = "imported:\(initrd)"
            }
            return record
        }
    }
}
