import CSyscalls
import FirebuildCore
import Foundation
import Guest
import VM

/// The COPY/ADD sources of one build VM packed into a read-only raw disk (layout in
/// Sources/Guest/ContentDisk.swift), so the guest copies them by DMA instead of receiving them
/// over the host channel. The files are known before the VM boots; the disk is filled by a
/// background thread while the VM boots, and the first COPY waits for it.
///
/// Anything that cannot use the disk (a file the plan did not foresee, a source changed since it
/// was packed, a failed fill, no room for the disk) falls back to the channel: never a wrong byte.
final class StageContentDisk: @unchecked Sendable {
    /// Free space left on the scratch filesystem after the disk is made, or no disk.
    static let reserveBytes: Int64 = 256 << 20
    private static let logger = makeLogger("build")

    struct Entry: Equatable {
        var offset: Int
        var length: Int
        /// dev, inode, size and mtime when packed: a file changed since must not be used.
        var identity: String
    }

    let path: String
    let token: String
    let entries: [String: Entry]
    private let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var fillError: Error?
    private var finished = false
    private var cancelled = false

    var vmDisk: VMDisk { VMDisk(path: path, readOnly: true, format: .raw) }

    /// Lays out every distinct regular file, in order. Every file goes on the disk: large ones for
    /// the DMA copy, small ones so that a whole tree travels as batches of metadata (FileBatch)
    /// instead of one round trip per file; the cost is up to 4 KiB of padding per file, in a
    /// scratch file that lives as long as the VM. Pure.
    static func layout(_ files: [(path: String, size: Int, identity: String)]) -> (entries: [String: Entry], order: [String], size: Int) {
        var entries: [String: Entry] = [:]
        var order: [String] = []
        var offset = ContentDiskFormat.alignment  // block 0 is the header
        for f in files where entries[f.path] == nil {
            entries[f.path] = Entry(offset: offset, length: f.size, identity: f.identity)
            order.append(f.path)
            offset += ContentDiskFormat.aligned(f.size)
        }
        return (entries, order, offset)
    }

    /// A disk for `hostFiles` under `directory`, or nil when none is worth it (nothing large
    /// enough, or not enough free space: the channel still works).
    static func make(hostFiles: [String], directory: String, name: String) -> StageContentDisk? {
        var files: [(path: String, size: Int, identity: String)] = []
        for p in hostFiles {
            guard let id = identity(p) else { continue }
            files.append((p, id.size, id.text))
        }
        let plan = layout(files)
        guard !plan.order.isEmpty else { return nil }
        var fs = statvfs()
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        guard statvfs(directory, &fs) == 0,
              Int64(fs.f_bavail) * Int64(fs.f_frsize) - Int64(plan.size) > reserveBytes else {
            Self.logger.debug("no content disk: \(plan.size) bytes do not fit in \(directory)")
            return nil
        }
        do {
            let disk = try StageContentDisk(path: "\(directory)/\(name).content", entries: plan.entries, size: plan.size)
            disk.startFill(order: plan.order)
            return disk
        } catch {
            Self.logger.debug("no content disk: \(error)")
            return nil
        }
    }

    private init(path: String, entries: [String: Entry], size: Int) throws {
        self.path = path
        self.entries = entries
        token = (0..<4).map { _ in String(format: "%08x", UInt32.random(in: 0...UInt32.max)) }.joined()
        // Header and final size now, before QEMU opens the file; the bytes follow during the boot.
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FirebuildError.posix("create", path: path) }
        defer { close(fd) }
        let header = ContentDiskFormat.header(token: token)
        guard header.withUnsafeBytes({ pwrite(fd, $0.baseAddress, $0.count, 0) }) == header.count, ftruncate(fd, off_t(size)) == 0 else {
            let e = FirebuildError.posix("write", path: path); unlink(path); throw e
        }
    }

    private func startFill(order: [String]) {
        let entries = self.entries
        let thread = Thread { [self] in
            let started = Date()
            do {
                let out = open(path, O_WRONLY | O_CLOEXEC)
                guard out >= 0 else { throw FirebuildError.posix("open", path: path) }
                defer { close(out) }
                for p in order {
                    if lock.withLock({ cancelled }) { break }
                    guard let e = entries[p] else { continue }
                    try Self.copy(p, length: e.length, into: out, at: e.offset)
                }
                Self.logger.debug("content disk \(path): \(order.count) file(s) in \(Int(Date().timeIntervalSince(started) * 1000)) ms")
            } catch {
                lock.withLock { fillError = error }
            }
            lock.withLock { finished = true }
            done.signal()
        }
        thread.name = "content-disk"
        thread.start()
    }

    /// Copies in the kernel (copy_file_range); read/write where the filesystems cannot.
    static func copy(_ source: String, length: Int, into out: Int32, at offset: Int) throws {
        let fd = open(source, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FirebuildError.posix("open", path: source) }
        defer { close(fd) }
        var inOff: Int64 = 0
        var outOff = Int64(offset)
        var left = length
        while left > 0 {
            let n = fb_copy_file_range(fd, &inOff, out, &outOff, left)
            if n > 0 { left -= n; continue }
            if n == 0 { throw FirebuildError(.io, "\(source) is shorter than when it was planned") }
            if errno == EINTR { continue }
            guard errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP else {
                throw FirebuildError.posix("copy", path: source)
            }
            var buf = [UInt8](repeating: 0, count: 1 << 20)
            while left > 0 {
                let r = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, min(left, $0.count), off_t(inOff)) }
                if r < 0, errno == EINTR { continue }
                guard r > 0 else { throw FirebuildError.posix("read", path: source) }
                guard buf.withUnsafeBytes({ pwrite(out, $0.baseAddress, r, off_t(outOff)) }) == r else {
                    throw FirebuildError.posix("write", path: "the content disk")
                }
                inOff += Int64(r); outOff += Int64(r); left -= r
            }
        }
    }

    /// Where `hostPath`'s bytes are on the disk, once the fill is done; nil when the channel must
    /// carry it (not packed, changed since, or the fill failed).
    func location(of hostPath: String) -> Entry? {
        guard let e = entries[hostPath] else { return nil }
        waitFilled()
        guard lock.withLock({ fillError == nil }), Self.identity(hostPath)?.text == e.identity else { return nil }
        return e
    }

    private func waitFilled() {
        if lock.withLock({ finished }) { return }
        done.wait()
        done.signal()  // later waiters return at once
    }

    /// Stops the fill and deletes the disk (after the VM that used it is gone).
    func remove() {
        lock.withLock { cancelled = true }
        waitFilled()
        unlink(path)
    }

    static func identity(_ path: String) -> (size: Int, text: String)? {
        var st = stat()
        guard stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return nil }
        return (Int(st.st_size), "\(st.st_dev):\(st.st_ino):\(st.st_size):\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)")
    }
}
