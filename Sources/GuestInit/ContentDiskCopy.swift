// COPY/ADD bytes from a content disk (see Sources/Guest/ContentDisk.swift): O_DIRECT on the
// block device and, where the target filesystem allows it, on the file being written, so the
// bytes move by DMA and the guest CPU (slow when emulated) never copies them.
#if canImport(Glibc)
import Glibc
#endif
import CSyscalls
import Guest

extension Supervisor {
    func copyFromDisk(_ req: DiskCopyRequest, id: UInt32) throws {
        try checkAbsolute(req.target.path)
        let source = try contentDisk(req.disk)
        // Below one block nothing could be written directly: a plain write, no fcntl dance.
        let file = try createTemporary(req.target, id: id, flags: req.length >= ContentDiskFormat.alignment ? fb_o_direct() : 0)
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
        if ContentDiskFormat.aligned(length) <= windowSize / 4 {
            return try writeBlocks(target, try windowed(source, offset: offset, length: length), length)
        }
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
            try writeBlocks(target, buffer, useful)
            done += useful
        }
    }

    /// Writes `count` bytes from an aligned buffer: whole blocks as they are (O_DIRECT when the
    /// target has it), then the partial last block with O_DIRECT switched off.
    static func writeBlocks(_ target: Int32, _ p: UnsafeMutableRawPointer, _ count: Int) throws {
        let whole = count / ContentDiskFormat.alignment * ContentDiskFormat.alignment
        try write(target, p, whole)
        if whole < count {
            let flags = fcntl(target, F_GETFL)
            if flags >= 0, flags & fb_o_direct() != 0 { _ = fcntl(target, F_SETFL, flags & ~fb_o_direct()) }
            try write(target, p + whole, count - whole)
        }
    }

    /// Small files of a tree sit next to each other on the disk: they are served from a 1 MiB
    /// window read once, one disk request per window instead of one per file.
    static let windowSize = 1 << 20
    nonisolated(unsafe) static let window = UnsafeMutableRawPointer.allocate(byteCount: windowSize, alignment: ContentDiskFormat.alignment)
    nonisolated(unsafe) static var windowAt: (fd: Int32, start: Int, count: Int)?

    /// The bytes at `offset` (through the end of their last block), from the window, refilled
    /// from `offset` when they are not in it.
    static func windowed(_ source: Int32, offset: Int, length: Int) throws -> UnsafeMutableRawPointer {
        let need = ContentDiskFormat.aligned(length)
        if let w = windowAt, w.fd == source, offset >= w.start, offset + need <= w.start + w.count {
            return window + (offset - w.start)
        }
        windowAt = nil
        var got = 0
        while got < need {
            let n = pread(source, window + got, windowSize - got, off_t(offset + got))
            if n < 0 { if errno == EINTR { continue }; throw GuestError.posix("read content disk") }
            if n == 0 { throw GuestError(.io, "the content disk ends at \(offset + got), before \(offset + length)") }
            got += n
        }
        windowAt = (source, offset, got)
        return window
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
