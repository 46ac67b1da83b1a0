import FirebuildCore
import Foundation
import Logging

/// Applies image layers (tar, tar+gzip, tar+zstd) onto a directory, with OCI whiteout
/// semantics (image-spec layer.md):
/// - `.wh.<name>` deletes `<name>` from *lower* layers only, and is itself never created;
/// - `.wh..wh..opq` empties its directory of lower-layer content, whatever its position in
///   the tar (entries of the same layer survive);
/// - a bare `.wh.` or a whiteout of `.`/`..` is an error.
/// Every write goes through `SafeRoot`, so no member can land outside the root.
public final class LayerApplier {
    public let rootPath: String
    /// chown and device nodes need root; without it they are skipped (with one warning).
    public let preserveOwnership: Bool
    private let root: SafeRoot
    private let dirs: DirectoryCache
    private let logger = makeLogger("oci")
    private var warned: Set<String> = []
    private let euid = geteuid(), egid = getegid()

    public init(root: String, preserveOwnership: Bool? = nil) throws {
        rootPath = root
        self.root = try SafeRoot(path: root)
        dirs = DirectoryCache(root: self.root)
        self.preserveOwnership = preserveOwnership ?? (geteuid() == 0)
    }

    /// Applies layers bottom-up; each layer's uncompressed digest is checked against its
    /// diffID when one is given. `progress(layerIndex, bytesRead, totalBytes)`.
    public static func apply(layers: [LayerBlob], to rootDir: String,
                             progress: ((Int, Int64, Int64) -> Void)? = nil) throws {
        let applier = try LayerApplier(root: rootDir)
        for (i, layer) in layers.enumerated() {
            try FirebuildTracing.span("oci.apply.layer", attributes: [FirebuildSpanKey.digest: layer.digest.description,
                                                                      FirebuildSpanKey.layerIndex: i,
                                                                      FirebuildSpanKey.bytes: Int(layer.size)]) { _ in
                try applier.apply(layerAt: layer.path, expectedDiffID: layer.diffID, what: "layer \(i + 1) (\(layer.digest))") {
                    progress?(i, $0, layer.size)
                }
            }
        }
    }

    /// Applies one layer file (compression detected from its magic bytes); returns its diffID.
    @discardableResult
    public func apply(layerAt path: String, expectedDiffID: ContentDigest? = nil, what: String? = nil,
                      progress: ((Int64) -> Void)? = nil) throws -> ContentDigest {
        let file = CountingSource(try FileSource(path: path), report: progress)
        return try apply(stream: file, expectedDiffID: expectedDiffID, what: what ?? path)
    }

    /// Applies one layer read from `stream` (compressed or not; e.g. a blob still being
    /// downloaded); returns its diffID. The whole stream is read, so a source that verifies
    /// its own digest at the end (a download) has done so when this returns.
    @discardableResult
    public func apply(stream: ByteSource, expectedDiffID: ContentDigest? = nil, what: String) throws -> ContentDigest {
        let (plain, _) = try Compression.wrap(stream, what: what)
        let hashing = HashingSource(plain)
        // Decompression and hashing run a few MiB ahead on another thread while this one
        // creates the files.
        let ahead = ReadAheadSource(hashing)
        defer { ahead.stop() }
        try apply(tar: ahead, what: what)
        var scratch = [UInt8](repeating: 0, count: 64 * 1024)
        while try scratch.withUnsafeMutableBytes({ try ahead.read(into: $0) }) > 0 {}
        ahead.join()   // the producer has read the hashing source to its end
        let diffID = try hashing.drainAndFinalize()
        if let expectedDiffID, expectedDiffID != diffID {
            throw FirebuildError(.digestMismatch, "\(what): uncompressed content has digest \(diffID) but the image config says \(expectedDiffID)")
        }
        return diffID
    }

    /// Applies an uncompressed tar stream.
    public func apply(tar source: ByteSource, what: String) throws {
        let reader = TarReader(source, what: what)
        var state = LayerState()
        defer { dirs.invalidate() }
        while let entry = try reader.next() {
            try applyEntry(entry, reader: reader, state: &state, what: what)
        }
        // Directory times last: adding children changed them (setting a directory's times
        // does not touch its parent's, so the order among them does not matter).
        for (components, mtime) in state.directoryTimes {
            guard let base = components.last else { continue }
            guard let parent = try dirs.existingDirectory(Array(components.dropLast()), what: what) else { continue }
            // Only if it is still a directory: a later member of this layer may have replaced it.
            guard let st = root.lstat(at: parent, base), st.st_mode & S_IFMT == S_IFDIR else { continue }
            setTimes(parent, base, mtime, follow: false)
        }
    }

    struct LayerState {
        /// Paths this layer wrote, with all their ancestors ("touched"); whiteouts spare them.
        var touched: Set<String> = []
        var directoryTimes: [([String], Double)] = []
        mutating func touch(_ components: [String]) {
            // Members come grouped by directory: once the parent is in, so are its ancestors.
            if components.count > 1, touched.contains(DirectoryCache.key(components.dropLast())) {
                touched.insert(DirectoryCache.key(components[...]))
                return
            }
            for i in 1...max(1, components.count) where i <= components.count {
                touched.insert(components[..<i].joined(separator: "/"))
            }
        }
    }

    private func applyEntry(_ entry: TarEntry, reader: TarReader, state: inout LayerState, what: String) throws {
        let components = try SafeRoot.components(of: entry.name, what: what)
        guard let base = components.last else {
            // The root itself: only a directory makes sense; its attributes apply to the root.
            guard entry.kind == .directory else {
                throw FirebuildError(.permission, "\(what): refusing member \"\(entry.name)\": it would replace the root directory")
            }
            try setMetadata(entry, dir: root.fd, ".", what: what)
            return
        }
        if base.hasPrefix(".wh.") {
            dirs.invalidate()   // whiteouts remove things: no cached directory may outlive them
            try applyWhiteout(base: base, parent: Array(components.dropLast()), entry: entry, state: &state, what: what)
            return
        }
        let parent = try dirs.directory(Array(components.dropLast()), what: what)
        state.touch(components)

        // Create first and deal with an existing object only when the name is taken (EEXIST):
        // on a fresh tree that saves an lstat per member.
        switch entry.kind {
        case .directory:
            try makeDirectory(entry, parent: parent, base, components: components, state: &state, what: what)
        case .file:
            try writeFile(entry, reader: reader, dir: parent, base, components: components, what: what)
        case .symlink:
            try createReplacing(parent, base, components, "symlink") { symlinkat(entry.linkName, parent, base) == 0 }
            try setMetadata(entry, dir: parent, base, what: what)
        case .hardLink:
            try hardLink(entry, dir: parent, base, components: components, what: what)
        case .characterDevice, .blockDevice, .fifo:
            let type: mode_t = entry.kind == .fifo ? S_IFIFO : (entry.kind == .characterDevice ? S_IFCHR : S_IFBLK)
            if entry.kind != .fifo && !preserveOwnership {
                warnOnce("devices", "not running as root: device nodes (e.g. \(display(components))) are skipped")
                if root.lstat(at: parent, base) != nil { try replace(parent, base) }   // still hides the lower one
                return
            }
            let dev = makeDevice(entry.devMajor, entry.devMinor)
            do {
                try createReplacing(parent, base, components, "mknod") { mknodat(parent, base, type | 0o600, dev) == 0 }
            } catch let error as FirebuildError where error.code == .permission && entry.kind != .fifo {
                warnOnce("devices", "cannot create device nodes here (EPERM); skipped \(display(components)) and any others")
                return
            }
            try setMetadata(entry, dir: parent, base, what: what)
        }
    }

    /// Runs `make` (a create call); when the name is taken by a lower layer's object or an
    /// earlier member, that object (a whole directory included) is removed and `make` runs again.
    private func createReplacing(_ parent: Int32, _ base: String, _ components: [String], _ op: String,
                                 _ make: () -> Bool) throws {
        if make() { return }
        guard errno == EEXIST else { throw FirebuildError.posix(op, path: display(components)) }
        try replace(parent, base)
        guard make() else { throw FirebuildError.posix(op, path: display(components)) }
    }

    /// Removes `base` in `parent`. Cached directories may be under it: all are dropped but
    /// `parent` itself (removing a child never changes where `parent` is).
    private func replace(_ parent: Int32, _ base: String) throws {
        dirs.invalidate(keeping: parent)
        try root.removeTree(at: parent, base)
    }

    private func makeDirectory(_ entry: TarEntry, parent: Int32, _ base: String, components: [String],
                               state: inout LayerState, what: String) throws {
        if mkdirat(parent, base, 0o700) != 0 {
            guard errno == EEXIST else { throw FirebuildError.posix("mkdir", path: display(components)) }
            if let st = root.lstat(at: parent, base), st.st_mode & S_IFMT == S_IFDIR {
                // Both directories: keep the content, take the new attributes.
            } else {
                try replace(parent, base)
                guard mkdirat(parent, base, 0o700) == 0 else { throw FirebuildError.posix("mkdir", path: display(components)) }
            }
        }
        let fd = openat(parent, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw FirebuildError.posix("open directory", path: display(components)) }
        do {
            try setMetadata(entry, fd: fd, what: what)
        } catch {
            close(fd)
            throw error
        }
        dirs.adopt(components, fd: fd)   // its members usually follow: they find it open
        state.directoryTimes.append((components, entry.mtime))
    }

    private func writeFile(_ entry: TarEntry, reader: TarReader, dir: Int32, _ base: String, components: [String], what: String) throws {
        let flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC
        var fd = openat(dir, base, flags, 0o600)
        if fd < 0 && errno == EEXIST {
            try replace(dir, base)
            fd = openat(dir, base, flags, 0o600)
        }
        guard fd >= 0 else { throw FirebuildError.posix("create", path: display(components)) }
        defer { close(fd) }
        while true {
            let chunk = try reader.readChunk()   // straight from the tar reader's buffer
            if chunk.isEmpty { break }
            var off = 0
            while off < chunk.count {
                let w = write(fd, chunk.baseAddress! + off, chunk.count - off)
                if w < 0 {
                    if errno == EINTR { continue }
                    throw FirebuildError.posix("write", path: display(components))
                }
                off += w
            }
        }
        try setMetadata(entry, fd: fd, what: what)
    }

    private func hardLink(_ entry: TarEntry, dir: Int32, _ base: String, components: [String], what: String) throws {
        let target = try SafeRoot.components(of: entry.linkName, what: what + " (hard link target)")
        guard let targetBase = target.last,
              let targetDir = try root.openDirectory(Array(target.dropLast()), create: false, what: what) else {
            throw FirebuildError(.notFound, "\(what): hard link \(display(components)) points to \"\(entry.linkName)\", which is not in the image")
        }
        defer { close(targetDir) }
        guard let st = root.lstat(at: targetDir, targetBase) else {
            throw FirebuildError(.notFound, "\(what): hard link \(display(components)) points to \"\(entry.linkName)\", which is not in the image")
        }
        guard st.st_mode & S_IFMT != S_IFDIR else {
            throw FirebuildError(.permission, "\(what): refusing hard link \(display(components)) to directory \"\(entry.linkName)\"")
        }
        // flags 0: a symlink target is linked as the symlink itself, never followed.
        // A hard link shares its target's inode and metadata: nothing else to set.
        try createReplacing(dir, base, components, "link \(entry.linkName) ->") { linkat(targetDir, targetBase, dir, base, 0) == 0 }
    }

    /// Owner, then mode (chown clears setuid/setgid), then xattrs (chown also clears
    /// security.capability), then times: through the descriptor of an object just created
    /// (no path lookups). Directory times are set at the end of the layer.
    private func setMetadata(_ entry: TarEntry, fd: Int32, what: String) throws {
        if preserveOwnership {
            if fchown(fd, uid_t(truncatingIfNeeded: entry.uid), gid_t(truncatingIfNeeded: entry.gid)) != 0 {
                throw FirebuildError.posix("chown", path: "\(what): \(entry.name)")
            }
        } else if entry.uid != euid || entry.gid != egid {
            warnOnce("owners", "not running as root: file owners from the image are not kept")
        }
        if fchmod(fd, mode_t(entry.mode & 0o7777)) != 0 {
            throw FirebuildError.posix("chmod", path: "\(what): \(entry.name)")
        }
        for key in entry.xattrs.keys.sorted() {
            let value = entry.xattrs[key] ?? []
            if Xattr.fset(fd, key, value) != 0 { try xattrFailed(key, entry: entry, isLink: false, what: what) }
        }
        if entry.kind != .directory {
            var times = LayerApplier.timespecs(entry.mtime)
            _ = futimens(fd, &times)
        }
    }

    /// The same for objects without a descriptor of their own (symlinks, device nodes, the root).
    private func setMetadata(_ entry: TarEntry, dir: Int32, _ name: String, what: String) throws {
        let isLink = entry.kind == .symlink
        if preserveOwnership {
            if fchownat(dir, name, uid_t(truncatingIfNeeded: entry.uid), gid_t(truncatingIfNeeded: entry.gid), AT_SYMLINK_NOFOLLOW) != 0 {
                throw FirebuildError.posix("chown", path: "\(what): \(entry.name)")
            }
        } else if entry.uid != euid || entry.gid != egid {
            warnOnce("owners", "not running as root: file owners from the image are not kept")
        }
        if !isLink {
            // Only reached for objects we just created or verified are not symlinks.
            if fchmodat(dir, name, mode_t(entry.mode & 0o7777), 0) != 0 {
                throw FirebuildError.posix("chmod", path: "\(what): \(entry.name)")
            }
        }
        let proc = name == "." ? "/proc/self/fd/\(dir)" : SafeRoot.procPath(dir, name)
        for key in entry.xattrs.keys.sorted() {
            let value = entry.xattrs[key] ?? []
            if Xattr.lset(proc, key, value) != 0 { try xattrFailed(key, entry: entry, isLink: isLink, what: what) }
        }
        if entry.kind != .directory { setTimes(dir, name, entry.mtime, follow: false) }
    }

    private func xattrFailed(_ key: String, entry: TarEntry, isLink: Bool, what: String) throws {
        let e = errno
        if e == ENOTSUP || e == EPERM && (isLink || !preserveOwnership) {
            warnOnce("xattr-\(key)", "cannot set extended attribute \(key) on \(entry.name) (\(String(cString: strerror(e)))); skipped")
            return
        }
        throw FirebuildError.posix("setxattr \(key)", path: "\(what): \(entry.name)", errno: e)
    }

    static func timespecs(_ mtime: Double) -> [timespec] {
        let sec = Int(mtime.rounded(.down))
        let nsec = Int((mtime - Double(sec)) * 1e9)
        return [timespec(tv_sec: sec, tv_nsec: nsec), timespec(tv_sec: sec, tv_nsec: nsec)]
    }

    private func setTimes(_ dir: Int32, _ name: String, _ mtime: Double, follow: Bool) {
        var times = LayerApplier.timespecs(mtime)
        _ = utimensat(dir, name, &times, follow ? 0 : AT_SYMLINK_NOFOLLOW)
    }

    // MARK: - whiteouts

    private func applyWhiteout(base: String, parent: [String], entry: TarEntry, state: inout LayerState, what: String) throws {
        if base == ".wh..wh..opq" {
            guard let dir = try root.openDirectory(parent, create: false, what: what) else { return }
            defer { close(dir) }
            let prefix = parent.joined(separator: "/")
            for child in try root.listDirectory(dir) {
                try removeLower(dir: dir, child, path: prefix.isEmpty ? child : prefix + "/" + child, state: state)
            }
            return
        }
        let target = String(base.dropFirst(".wh.".count))
        if target.isEmpty {
            throw FirebuildError(.parse, "\(what): invalid whiteout \"\(entry.name)\": a bare .wh. names nothing (image-spec layer.md)")
        }
        if target == "." || target == ".." {
            throw FirebuildError(.permission, "\(what): refusing whiteout \"\(entry.name)\": it would delete a parent directory")
        }
        if target.hasPrefix(".wh.") { return }   // aufs metadata (.wh..wh.plnk, .wh..wh.aufs): no meaning here
        guard let dir = try root.openDirectory(parent, create: false, what: what) else { return }
        defer { close(dir) }
        try removeLower(dir: dir, target, path: (parent + [target]).joined(separator: "/"), state: state)
    }

    /// Deletes what lower layers put at `path`, sparing anything this layer wrote there.
    private func removeLower(dir: Int32, _ name: String, path: String, state: LayerState) throws {
        guard let st = root.lstat(at: dir, name) else { return }
        guard state.touched.contains(path) else {
            dirs.invalidate()
            try root.removeTree(at: dir, name)
            return
        }
        guard st.st_mode & S_IFMT == S_IFDIR else { return }
        let sub = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard sub >= 0 else { throw FirebuildError.posix("open directory", path: path) }
        defer { close(sub) }
        for child in try root.listDirectory(sub) {
            try removeLower(dir: sub, child, path: path + "/" + child, state: state)
        }
    }

    private func display(_ components: [String]) -> String { "/" + components.joined(separator: "/") }

    private func warnOnce(_ key: String, _ message: String) {
        guard !warned.contains(key) else { return }
        warned.insert(key)
        logger.warning("\(message)")
    }
}

/// Counts bytes read (layer progress is reported in compressed bytes, as stored).
final class CountingSource: ByteSource {
    private let inner: ByteSource
    private let report: ((Int64) -> Void)?
    private(set) var count: Int64 = 0
    private var lastReport: Int64 = 0
    init(_ inner: ByteSource, report: ((Int64) -> Void)?) {
        self.inner = inner
        self.report = report
    }
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = try inner.read(into: buffer)
        count += Int64(n)
        if let report, n == 0 || count - lastReport >= 1 << 20 {
            lastReport = count
            report(count)
        }
        return n
    }
}
