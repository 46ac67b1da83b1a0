// Bulk file transfer into a VM. Streaming file bytes over the host channel costs the guest one
// small read per 4 KiB (virtio-serial) plus two copies in guest memory, which under TCG caps a
// COPY at ~80 MB/s. Instead the host packs the files into a raw, read-only disk attached at
// boot and the guest copies each file with O_DIRECT on both sides: the data moves by DMA only
// (disk -> guest buffer -> root disk), with no page-cache copies emulated by the guest CPU.
//
// Layout of a content disk (every offset and the total size are multiples of `alignment`):
//
//   offset 0     one header block: "FIREBUILD-CONTENT-DISK-1\n" + token + "\n", zero padded
//   offset 4096  file bytes, each file starting on a 4 KiB boundary and zero padded to the next
//
// The token (random, per VM) is how the guest finds the right /dev/vdX without depending on
// the VMM's device order or serial numbers.

public enum ContentDiskFormat {
    public static let magic = "FIREBUILD-CONTENT-DISK-1\n"
    /// O_DIRECT needs offsets, lengths and buffers aligned to the logical block size (512 on
    /// virtio-blk); 4 KiB also matches the page size and ext4's block size.
    public static let alignment = 4096

    public static func header(token: String) -> [UInt8] {
        var block = Array((magic + token + "\n").utf8)
        block += [UInt8](repeating: 0, count: alignment - block.count % alignment)
        return block
    }

    /// The token in a header block, if it is one.
    public static func token(inHeader block: [UInt8]) -> String? {
        let m = Array(magic.utf8)
        guard block.count >= m.count, Array(block[0..<m.count]) == m else { return nil }
        let rest = block[m.count...].prefix { $0 != 0x0A && $0 != 0 }
        return rest.isEmpty ? nil : String(decoding: rest, as: UTF8.self)
    }

    public static func aligned(_ n: Int) -> Int { (n + alignment - 1) / alignment * alignment }
}

/// Writes `target` (a WriteFileRequest: path, mode, owner, parents) with `length` bytes read at
/// `offset` of the content disk whose header carries `disk`. Atomic like writeFile. Travels as an
/// entry of a FileBatch.
public struct DiskCopyRequest: Equatable, Sendable, GuestMessage {
    public var target: WriteFileRequest
    public var disk: String
    public var offset: Int
    public var length: Int

    public init(target: WriteFileRequest, disk: String, offset: Int, length: Int) {
        self.target = target; self.disk = disk; self.offset = offset; self.length = length
    }

    public init(json j: JSON) throws {
        target = try WriteFileRequest(json: j)
        disk = try Field.string(j, "disk")
        offset = try Field.optInt(j, "offset") ?? -1
        length = try Field.optInt(j, "length") ?? -1
        guard offset >= 0, offset % ContentDiskFormat.alignment == 0, length >= 0 else {
            throw GuestError(.invalidArgument, "a content-disk copy needs a 4 KiB aligned offset and a length (got \(offset), \(length))")
        }
    }

    public var json: JSON {
        guard case .object(var pairs) = target.json else { return target.json }
        pairs += [("disk", .string(disk)), ("offset", .int(Int64(offset))), ("length", .int(Int64(length)))]
        return .object(pairs)
    }
}
