// COPY/ADD bytes from a content disk (see Sources/Guest/ContentDisk.swift): O_DIRECT on the
// block device and, where the target filesystem allows it, on the file being written, so the
// bytes move by DMA and the guest CPU (slow when emulated) never copies them.
#if canImport(Glibc)
import Glibc
#endif
import CSyscalls
import Guest

extension Supervisor {
    func copyFromDisk(_ frame: Frame) throws { try copyFromDisk(try DiskCopyRequest(frame: frame), id: frame.id) }

    func copyFromDisk(_ req: DiskCopyRequest, id: UInt32) throws {
        try checkAbsolute(req.target.path)
        let source = try contentDisk(req.disk)
        let file = try createTemporary(req.target, id: id, flags: fb_o_direct())
        do {
            try DirectCopy.copy(from: source, offset: req.offset, length: req.length, to: file.fd)
        } catch {
            close(file.fd); unlink(file.tmpPath)
            throw GuestError(.io, "writing \(req.target.path) from the content disk: \(error)")
        }
        close(file.fd)
        try install(file)
    }

    /// The block device whose first block carries `token`, opened once per VM.
    func contentDisk(_ token: String) throws -> Int32 {
        if let fd = contentDisks[token] { return fd }
        for path in options.contentDisks + DirectCopy.blockDevices().map({ "/dev/" + $0 }) {
            let fd = open(path, O_RDONLY | O_CLOEXEC | fb_o_direct())
            if fd < 0 { continue }
            if let found = DirectCopy.readHeaderToken(fd), found == token {
                contentDisks[token] = fd
                return fd
            }
            close(fd)
        }
        throw GuestError(.notFound, "no content disk with token \(token) is attached to this VM")
    }
}

enum DirectCopy {
    /// One aligned transfer buffer for the init's lifetime (the event loop is single-threaded).
    static let bufferSize = 4 << 20
    nonisolated(unsafe) static let buffer = UnsafeMutableRawPointer.allocate(byteCount: bufferSize, alignment: ContentDiskFormat.alignment)

    /// virtio-blk disks (`vda`, `vdb`, …) in /sys/block.
    static func blockDevices() -> [String] {
        guard let dir = opendir("/sys/block") else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let e = readdir(dir) {
            let n = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if n.hasPrefix("vd") { names.append(n) }
        }
        return names.sorted()
    }

    static func readHeaderToken(_ fd: Int32) -> String? {
        let n = pread(fd, buffer, ContentDiskFormat.alignment, 0)
        guard n == ContentDiskFormat.alignment else { return nil }
        return ContentDiskFormat.token(inHeader: Array(UnsafeRawBufferPointer(start: buffer, count: n)))
    }

    /// Copies `length` bytes at `offset` of `source` to `target` (at its current position).
    /// Whole blocks are written as read (aligned, O_DIRECT when the target has it); the partial
    /// last block is written after O_DIRECT is switched off, since direct writes must be aligned.
    static func copy(from source: Int32, offset: Int, length: Int, to target: Int32) throws {
        var done = 0
        while done < length {
            let want = min(bufferSize, ContentDiskFormat.aligned(length - done))
            var got = 0
            while got < want {
                let n = pread(source, buffer + got, want - got, off_t(offset + done + got))
                if n < 0 { if errno == EINTR { continue }; throw GuestError.posix("read content disk") }
                if n == 0 { throw GuestError(.io, "the content disk ends at \(offset + done + got), before \(offset + length)") }
                got += n
            }
            let useful = min(want, length - done)
            let whole = useful / ContentDiskFormat.alignment * ContentDiskFormat.alignment
            try write(target, buffer, whole)
            if whole < useful {
                let flags = fcntl(target, F_GETFL)
                if flags >= 0, flags & fb_o_direct() != 0 { _ = fcntl(target, F_SETFL, flags & ~fb_o_direct()) }
                try write(target, buffer + whole, useful - whole)
            }
            done += useful
        }
    }

    static func write(_ fd: Int32, _ p: UnsafeMutableRawPointer, _ count: Int) throws {
        var off = 0
        while off < count {
            let n = Glibc.write(fd, p + off, count - off)
            if n < 0 { if errno == EINTR { continue }; throw GuestError.posix("write") }
            off += n
        }
    }
}
