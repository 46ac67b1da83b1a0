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
    private let logger = makeLogger("oci")
    private var warned: Set<String> = []

    public init(root: String, preserveOwnership: Bool? = nil) throws {
        rootPath = root
        self.root = try SafeRoot(path: root)
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
        let label = what ?? path
        let file = CountingSource(try FileSource(path: path), report: progress)
        let (plain, _) = try Compression.wrap(file, what: label)
        let hashing = HashingSource(plain)
        try apply(tar: hashing, what: label)
        let diffID = try hashing.drainAndFinalize()
        if let expectedDiffID, expectedDiffID != diffID {
            throw FirebuildError(.digestMismatch, "\(label): uncompressed content has digest \(diffID) but the image config says \(expectedDiffID)")
        }
        return diffID
    }

    /// Applies an uncompressed tar stream.
    public func apply(tar source: ByteSource, what: String) throws {
        let reader = TarReader(source, what: what)
        var state = LayerState()
        while let entry = try reader.next() {
            try applyEntry(entry, reader: reader, state: &state, what: what)
        }
        // Directory times last: adding children changed them. Deepest first.
        for (components, mtime) in state.directoryTimes.sorted(by: { $0.0.count > $1.0.count }) {
            guard let dir = try root.openDirectory(components, create: false, what: what) else { continue }
            setTimes(dir, ".", mtime, follow: true)
            close(dir)
        }
    }

    struct LayerState {
        /// Paths this layer wrote, with all their ancestors ("touched"); whiteouts spare them.
        var touched: Set<String> = []
        var directoryTimes: [([String], Double)] = []
        mutating func touch(_ components: [String]) {
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
        let parentComponents = Array(components.dropLast())

        if base.hasPrefix(".wh.") {
            try applyWhiteout(base: base, parent: parentComponents, entry: entry, state: &state, what: what)
            return
        }
        guard let parent = try root.openDirectory(parentComponents, create: true, what: what) else { return }
        defer { close(parent) }
        state.touch(components)

        let existing = root.lstat(at: parent, base)
        let existingIsDir = existing.map { $0.st_mode & S_IFMT == S_IFDIR } ?? false
        if entry.kind == .directory && existingIsDir {
            // Both directories: keep the content, take the new attributes.
        } else if existing != nil {
            try root.removeTree(at: parent, base)
        }

        switch entry.kind {
        case .directory:
            if !existingIsDir && mkdirat(parent, base, 0o700) != 0 {
                throw FirebuildError.posix("mkdir", path: display(components))
            }
            try setMetadata(entry, dir: parent, base, what: what)
            state.directoryTimes.append((components, entry.mtime))
            return
        case .file:
            try writeFile(entry, reader: reader, dir: parent, base, components: components)
        case .symlink:
            guard symlinkat(entry.linkName, parent, base) == 0 else { throw FirebuildError.posix("symlink", path: display(components)) }
        case .hardLink:
            try hardLink(entry, dir: parent, base, components: components, what: what)
            return  // a hard link shares its target's inode and metadata
        case .characterDevice, .blockDevice, .fifo:
            let type: mode_t = entry.kind == .fifo ? S_IFIFO : (entry.kind == .characterDevice ? S_IFCHR : S_IFBLK)
            if entry.kind != .fifo && !preserveOwnership {
                warnOnce("devices", "not running as root: device nodes (e.g. \(display(components))) are skipped")
                return
            }
            let dev = makeDevice(entry.devMajor, entry.devMinor)
            if mknodat(parent, base, type | 0o600, dev) != 0 {
                if errno == EPERM && entry.kind != .fifo {
                    warnOnce("devices", "cannot create device nodes here (EPERM); skipped \(display(components)) and any others")
                    return
                }
                throw FirebuildError.posix("mknod", path: display(components))
            }
        }
        try setMetadata(entry, dir: parent, base, what: what)
    }

    private func writeFile(_ entry: TarEntry, reader: TarReader, dir: Int32, _ base: String, components: [String]) throws {
        let fd = openat(dir, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FirebuildError.posix("create", path: display(components)) }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: 256 * 1024)
        while true {
            let n = try buf.withUnsafeMutableBytes { try reader.read(into: $0) }
            if n == 0 { break }
            var off = 0
            while off < n {
                let w = buf.withUnsafeBytes { write(fd, $0.baseAddress! + off, n - off) }
                if w < 0 {
                    if errno == EINTR { continue }
                    throw FirebuildError.posix("write", path: display(components))
                }
                off += w
            }
        }
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
        guard linkat(targetDir, targetBase, dir, base, 0) == 0 else {
            throw FirebuildError.posix("link \(entry.linkName) ->", path: display(components))
        }
    }

    /// Owner, then mode (chown clears setuid/setgid), then xattrs (chown also clears
    /// security.capability), then times.
    private func setMetadata(_ entry: TarEntry, dir: Int32, _ name: String, what: String) throws {
        let isLink = entry.kind == .symlink
        if preserveOwnership {
            if fchownat(dir, name, uid_t(truncatingIfNeeded: entry.uid), gid_t(truncatingIfNeeded: entry.gid), AT_SYMLINK_NOFOLLOW) != 0 {
                throw FirebuildError.posix("chown", path: "\(what): \(entry.name)")
            }
        } else if entry.uid != geteuid() || entry.gid != getegid() {
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
            let rc = Xattr.lset(proc, key, value)
            if rc != 0 {
                let e = errno
                if e == ENOTSUP || e == EPERM && (isLink || !preserveOwnership) {
                    warnOnce("xattr-\(key)", "cannot set extended attribute \(key) on \(entry.name) (\(String(cString: strerror(e)))); skipped")
                    continue
                }
                throw FirebuildError.posix("setxattr \(key)", path: "\(what): \(entry.name)", errno: e)
            }
        }
        if entry.kind != .directory { setTimes(dir, name, entry.mtime, follow: false) }
    }

    private func setTimes(_ dir: Int32, _ name: String, _ mtime: Double, follow: Bool) {
        let sec = Int(mtime.rounded(.down))
        let nsec = Int((mtime - Double(sec)) * 1e9)
        var times = [timespec(tv_sec: sec, tv_nsec: nsec), timespec(tv_sec: sec, tv_nsec: nsec)]
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
