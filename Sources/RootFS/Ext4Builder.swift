import FirebuildCore
import Foundation
import Logging

/// How big a new root filesystem is: an absolute size, or the content plus headroom.
/// The default is content + 20% (at least 64 MiB) so a VM has room to write without growing first.
public enum SizeSpec: Equatable, Sendable {
    case absoluteMiB(UInt64)
    case headroomMiB(UInt64)
    case headroomPercent(UInt64)

    public static let `default` = SizeSpec.headroomPercent(20)
    /// Percent headroom never gives less free space than this.
    public static let minimumPercentHeadroomMiB: UInt64 = 64

    /// Parses a `--headroom` value: `N` (MiB) or `N%`.
    public init(headroom text: String) throws {
        let t = text.trimmingCharacters(in: .whitespaces)
        if t.hasSuffix("%"), let p = UInt64(t.dropLast()), p <= 10_000 {
            self = .headroomPercent(p)
        } else if let m = UInt64(t.hasSuffix("M") || t.hasSuffix("m") ? String(t.dropLast()) : t) {
            self = .headroomMiB(m)
        } else {
            throw FirebuildError(.invalidArgument, "invalid headroom \"\(text)\": use a number of MiB (e.g. 256) or a percentage (e.g. 25%)")
        }
    }
}

/// Fixed inputs that make two builds of the same tree byte-identical: filesystem UUID, directory
/// hash seed and the creation time mke2fs records (E2FSPROGS_FAKE_TIME).
public struct Reproducibility: Equatable, Sendable {
    public var uuid: UUID
    public var hashSeed: UUID
    public var timestamp: Int

    public init(uuid: UUID, hashSeed: UUID, timestamp: Int) {
        self.uuid = uuid
        self.hashSeed = hashSeed
        self.timestamp = timestamp
    }

    /// Derives both UUIDs from `seed` (e.g. the tag or a content digest), so the same input gives the same image.
    public init(seed: String, timestamp: Int = 0) {
        let h = ContentDigest.sha256("firebuild-ext4:" + seed).hex
        self.uuid = Reproducibility.uuid(fromHex: String(h.prefix(32)))
        self.hashSeed = Reproducibility.uuid(fromHex: String(h.suffix(32)))
        self.timestamp = timestamp
    }

    private static func uuid(fromHex hex: String) -> UUID {
        var bytes = [UInt8](repeating: 0, count: 16)
        let chars = Array(hex.utf8)
        for i in 0..<16 {
            bytes[i] = UInt8(String(decoding: chars[(2 * i)..<(2 * i + 2)], as: UTF8.self), radix: 16) ?? 0
        }
        bytes[6] = (bytes[6] & 0x0F) | 0x40  // version 4 layout, variant 1: a well-formed UUID
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        return UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                           bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
    }
}

public struct Ext4Options: Equatable, Sendable {
    public var size: SizeSpec
    public var label: String
    public var reproducible: Reproducibility?

    public init(size: SizeSpec = .default, label: String = "rootfs", reproducible: Reproducibility? = nil) {
        self.size = size
        self.label = label
        self.reproducible = reproducible
    }
}

public struct Ext4BuildResult: Equatable, Sendable {
    public var path: String
    public var sizeBytes: UInt64
    public var usage: TreeUsage
    public var inodeCount: UInt64
}

/// Turns a directory tree into an ext4 image with `mkfs.ext4 -d` (no mount, no root needed for
/// the image itself; ownership in the tree is preserved, so unpacking as root matters).
public enum Ext4Builder {
    static let logger = makeLogger("rootfs")

    /// Builds `image` from `tree`. The image appears complete or not at all (temp file + rename).
    @discardableResult
    public static func build(tree: String, image: String, options: Ext4Options = Ext4Options()) throws -> Ext4BuildResult {
        try FirebuildTracing.span("rootfs.mkfs", attributes: [FirebuildSpanKey.program: "mkfs.ext4"]) { span in
            let result = try buildTraced(tree: tree, image: image, options: options)
            span.attributes[FirebuildSpanKey.bytes] = Int(result.sizeBytes)
            return result
        }
    }

    private static func buildTraced(tree: String, image: String, options: Ext4Options) throws -> Ext4BuildResult {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: tree, isDirectory: &isDir), isDir.boolValue else {
            throw FirebuildError(.notFound, "rootfs source \(tree) is not a directory")
        }
        guard options.label.utf8.count <= 16 else {
            throw FirebuildError(.invalidArgument, "ext4 label \"\(options.label)\" is longer than 16 bytes")
        }
        let start = DispatchTime.now()
        let usage = try SizeEstimator.usage(of: tree)
        let estimated = DispatchTime.now()
        var size = try plannedBytes(usage: usage, spec: options.size)
        let inodes = inodeCount(usage: usage, sizeBytes: size)
        let dir = (image as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: dir.isEmpty ? "." : dir, withIntermediateDirectories: true)
        let tmp = (dir.isEmpty ? "." : dir) + "/." + (image as NSString).lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { unlink(tmp) }

        // The estimate is conservative, but exotic trees (huge directories, many xattrs) can still
        // overflow it; with an automatic size, retry a little bigger instead of failing the build.
        var attempt = 0
        while true {
            attempt += 1
            unlink(tmp)
            let result = try mkfsCommand(tree: tree, output: tmp, sizeBytes: size, inodes: max(inodes, size / Ext4Geometry.bytesPerInode),
                                         options: options).run()
            // mkfs is quiet (-q) but may warn; keep what it said in the log, tagged with its source.
            for line in (result.stdoutString + result.stderrString).split(separator: "\n") where !line.isEmpty {
                logger.debug("\(line)", metadata: ["source": "mkfs.ext4"])
            }
            if result.status == 0 { break }
            let err = result.stderrString.trimmingCharacters(in: .whitespacesAndNewlines)
            let outOfSpace = err.contains("Could not allocate") || err.contains("No space left") || err.contains("No free space")
            if outOfSpace, case .absoluteMiB(let mib) = options.size {
                throw FirebuildError(.invalidArgument, "the content of \(tree) does not fit in \(mib) MiB; pass a larger size (mkfs.ext4: \(err))")
            }
            guard outOfSpace, attempt < 4 else {
                throw FirebuildError(.subprocess, "mkfs.ext4 failed building \(image) from \(tree) (status \(result.status)): \(err)")
            }
            size = roundUpMiB(size + size / 4 + 16 * Ext4Geometry.mebibyte)
            logger.debug("filesystem estimate too small, retrying", metadata: ["size": "\(size)"])
        }
        guard rename(tmp, image) == 0 else { throw FirebuildError.posix("rename", path: "\(tmp) -> \(image)") }
        func seconds(_ a: DispatchTime, _ b: DispatchTime) -> String {
            String(format: "%.3f", Double(b.uptimeNanoseconds - a.uptimeNanoseconds) / 1e9)
        }
        logger.debug("built ext4 image", metadata: ["image": .string(image), "bytes": "\(size)",
                                                    "estimate_seconds": .string(seconds(start, estimated)),
                                                    "mkfs_seconds": .string(seconds(estimated, DispatchTime.now()))])
        return Ext4BuildResult(path: image, sizeBytes: size, usage: usage, inodeCount: max(inodes, size / Ext4Geometry.bytesPerInode))
    }

    static func mkfsCommand(tree: String, output: String, sizeBytes: UInt64, inodes: UInt64, options: Ext4Options) -> Command {
        // -T default: images under 512 MiB would otherwise get the "small" profile (1 KiB blocks).
        // -m 0: no root-reserved blocks; in a microVM root is the only user and headroom is explicit.
        var args = ["-q", "-F", "-t", "ext4", "-T", "default", "-b", "4096", "-I", "256", "-m", "0",
                    "-L", options.label, "-N", String(inodes)]
        var env = ProcessInfo.processInfo.environment
        if let r = options.reproducible {
            args += ["-U", r.uuid.uuidString.lowercased(), "-E", "hash_seed=\(r.hashSeed.uuidString.lowercased())"]
            env["E2FSPROGS_FAKE_TIME"] = String(r.timestamp)
        }
        args += ["-d", tree, output, "\(sizeBytes / 1024)k"]
        return Command("mkfs.ext4", args, environment: env)
    }

    /// Bytes the filesystem needs for `usage` under `spec`, a whole number of MiB.
    public static func plannedBytes(usage: TreeUsage, spec: SizeSpec) throws -> UInt64 {
        let minimal = minimalBytes(dataBytes: usage.dataBytes, inodes: usage.inodes)
        switch spec {
        case .absoluteMiB(let mib):
            let bytes = mib * Ext4Geometry.mebibyte
            guard bytes >= minimal else {
                throw FirebuildError(.invalidArgument,
                    "a \(mib) MiB filesystem cannot hold this content: it needs at least \(minimal / Ext4Geometry.mebibyte) MiB; pass a larger size or use headroom instead")
            }
            return bytes
        case .headroomMiB(let mib):
            return minimalBytes(dataBytes: usage.dataBytes + mib * Ext4Geometry.mebibyte, inodes: usage.inodes)
        case .headroomPercent(let p):
            let extra = max(SizeSpec.minimumPercentHeadroomMiB * Ext4Geometry.mebibyte, usage.dataBytes * p / 100)
            return minimalBytes(dataBytes: usage.dataBytes + extra, inodes: usage.inodes)
        }
    }

    /// Content plus ext4's own metadata: journal, inode tables, bitmaps, group descriptors and
    /// superblock backups (about 2%), found by a short fixed-point iteration since overhead depends on size.
    static func minimalBytes(dataBytes: UInt64, inodes: UInt64) -> UInt64 {
        var total = dataBytes
        for _ in 0..<5 {
            let blocks = total / Ext4Geometry.blockSize
            let inodeTable = max(inodes + inodes / 10 + 256, total / Ext4Geometry.bytesPerInode) * Ext4Geometry.inodeSize
            let journal = Ext4Geometry.journalBlocks(forBlocks: blocks) * Ext4Geometry.blockSize
            total = dataBytes + inodeTable + journal + total / 50 + 2 * Ext4Geometry.mebibyte
        }
        return max(8 * Ext4Geometry.mebibyte, roundUpMiB(total))
    }

    static func inodeCount(usage: TreeUsage, sizeBytes: UInt64) -> UInt64 {
        max(usage.inodes + usage.inodes / 10 + 256, sizeBytes / Ext4Geometry.bytesPerInode)
    }

    static func roundUpMiB(_ bytes: UInt64) -> UInt64 {
        (bytes + Ext4Geometry.mebibyte - 1) / Ext4Geometry.mebibyte * Ext4Geometry.mebibyte
    }

    /// Grows an image (and its filesystem) to `toMiB`. Shrinking is refused: a rootfs only grows.
    public static func grow(image: String, toMiB: UInt64) throws {
        var st = stat()
        guard stat(image, &st) == 0 else { throw FirebuildError.posix("stat", path: image) }
        let current = UInt64(st.st_size)
        let target = toMiB * Ext4Geometry.mebibyte
        if target == current { return }
        guard target > current else {
            throw FirebuildError(.invalidArgument,
                "cannot grow \(image) to \(toMiB) MiB: it is already \(current / Ext4Geometry.mebibyte) MiB and shrinking is not supported")
        }
        // resize2fs insists on a freshly checked filesystem. e2fsck exit 1 means "errors fixed": fine.
        let fsck = try Command("e2fsck", ["-fy", image]).run()
        guard fsck.status <= 1 else {
            throw FirebuildError(.subprocess, "e2fsck found errors it could not fix in \(image) (status \(fsck.status)): \(fsck.stdoutString)")
        }
        try Command("resize2fs", [image, "\(target / 1024)K"]).check(logger: logger)
    }
}

extension SizeSpec: CustomStringConvertible {
    /// The flag syntax back: `25%`, `256` (MiB of headroom) or `size 512 MiB`.
    public var description: String {
        switch self {
        case .absoluteMiB(let m): "size \(m) MiB"
        case .headroomMiB(let m): "\(m)"
        case .headroomPercent(let p): "\(p)%"
        }
    }
}
