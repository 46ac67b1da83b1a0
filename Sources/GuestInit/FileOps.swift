// Build-step file operations: streamed file writes (COPY/ADD), mkdir, chown, stat. Paths are
// absolute guest paths, used as given (never joined under WORKDIR); owners are resolved in the
// image's own /etc/passwd and /etc/group, so `--chown=node:node` works.
#if canImport(Glibc)
import Glibc
#endif
import CSyscalls
import Guest

struct OpenFile {
    var fd: Int32
    var tmpPath: String
    var path: String
    var mode: UInt32
    var owner: (uid: UInt32, gid: UInt32)?
    var failure: String?
}

extension Supervisor {
    func checkAbsolute(_ path: String) throws {
        guard path.hasPrefix("/") else { throw GuestError(.invalidArgument, "guest path \(path) must be absolute") }
    }

    /// Creates missing directories of `path`, giving new ones `owner` (BuildKit does the same for COPY --chown).
    func createDirectories(_ path: String, mode: mode_t, owner: (uid: UInt32, gid: UInt32)?) throws {
        if path.isEmpty || Posix.isDirectory(path) { return }
        try createDirectories(Posix.dirname(path), mode: 0o755, owner: owner)
        if mkdir(path, mode) != 0 && errno != EEXIST { throw GuestError.posix("mkdir", path) }
        if let owner { _ = lchown(path, owner.uid, owner.gid) }
    }

    func openFile(_ frame: Frame) throws {
        let req = try WriteFileRequest(frame: frame)
        try checkAbsolute(req.path)
        guard files[frame.id] == nil else { throw GuestError(.invalidArgument, "file request id \(frame.id) is already open") }
        // Failures are reported once, at fileEnd, after the data frames were consumed.
        do {
            files[frame.id] = try createTemporary(req, id: frame.id, flags: 0)
        } catch {
            files[frame.id] = OpenFile(fd: -1, tmpPath: "", path: req.path, mode: req.mode, owner: nil, failure: "\(error)")
        }
    }

    /// Resolves the owner, creates missing parents and opens a temporary file beside `req.path`
    /// (installed by `install`), with extra open `flags`.
    func createTemporary(_ req: WriteFileRequest, id: UInt32, flags: Int32) throws -> OpenFile {
        var file = OpenFile(fd: -1, tmpPath: "", path: req.path, mode: req.mode, owner: nil, failure: nil)
        file.owner = try UserDatabase.resolveOwner(owner: req.owner, uid: req.uid, gid: req.gid, root: options.root)
        let dir = Posix.dirname(req.path)
        if req.parents { try createDirectories(dir, mode: 0o755, owner: file.owner) }
        if Posix.isDirectory(req.path) { throw GuestError(.invalidArgument, "\(req.path) is a directory") }
        let base = req.path.split(separator: "/").last.map(String.init) ?? "file"
        file.tmpPath = "\(dir == "/" ? "" : dir)/.fbw-\(id)-\(base)"
        file.fd = open(file.tmpPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | flags, 0o600)
        // tmpfs and some other filesystems refuse O_DIRECT: plain writes there.
        if file.fd < 0, flags != 0, errno == EINVAL { file.fd = open(file.tmpPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600) }
        if file.fd < 0 { throw GuestError.posix("create", file.tmpPath) }
        return file
    }

    func writeFileData(_ frame: Frame) {
        guard var file = files[frame.id], file.failure == nil else { return }
        do { try Posix.writeAll(file.fd, frame.body) } catch { file.failure = "\(error)"; files[frame.id] = file }
    }

    func closeFile(_ frame: Frame) throws {
        guard let file = files.removeValue(forKey: frame.id) else {
            throw GuestError(.invalidArgument, "no open file for request \(frame.id)")
        }
        if file.fd >= 0 { close(file.fd) }
        if let failure = file.failure {
            if !file.tmpPath.isEmpty { unlink(file.tmpPath) }
            throw GuestError(.io, "writing \(file.path): \(failure)")
        }
        try install(file)
        send(Frame(.ok, id: frame.id))
    }

    /// Gives a finished temporary file its owner and mode and renames it into place.
    func install(_ file: OpenFile) throws {
        // Owner before mode: chown clears setuid/setgid bits.
        if let o = file.owner, lchown(file.tmpPath, o.uid, o.gid) != 0 {
            let e = GuestError.posix("chown", file.path); unlink(file.tmpPath); throw e
        }
        if chmod(file.tmpPath, mode_t(file.mode & 0o7777)) != 0 || rename(file.tmpPath, file.path) != 0 {
            let e = GuestError.posix("install", file.path); unlink(file.tmpPath); throw e
        }
    }

    func makeDirectory(_ frame: Frame) throws { try makeDirectory(try MkdirRequest(frame: frame)) }

    func makeDirectory(_ req: MkdirRequest) throws {
        try checkAbsolute(req.path)
        let owner = try UserDatabase.resolveOwner(owner: req.owner, uid: req.uid, gid: req.gid, root: options.root)
        if req.parents {
            try createDirectories(req.path, mode: mode_t(req.mode & 0o7777), owner: owner)
        } else if mkdir(req.path, mode_t(req.mode & 0o7777)) != 0 && errno != EEXIST {
            throw GuestError.posix("mkdir", req.path)
        }
        guard Posix.isDirectory(req.path) else { throw GuestError(.invalidArgument, "\(req.path) exists and is not a directory") }
        if let owner, lchown(req.path, owner.uid, owner.gid) != 0 { throw GuestError.posix("chown", req.path) }
        if chmod(req.path, mode_t(req.mode & 0o7777)) != 0 { throw GuestError.posix("chmod", req.path) }
    }

    func changeOwner(_ frame: Frame) throws {
        let req = try ChownRequest(frame: frame)
        try checkAbsolute(req.path)
        guard let owner = try UserDatabase.resolveOwner(owner: req.owner, uid: req.uid, gid: req.gid, root: options.root) else {
            throw GuestError(.invalidArgument, "chown \(req.path) needs an owner or uid/gid")
        }
        try chownTree(req.path, owner.uid, owner.gid, recursive: req.recursive)
    }

    func chownTree(_ path: String, _ uid: UInt32, _ gid: UInt32, recursive: Bool) throws {
        if lchown(path, uid, gid) != 0 { throw GuestError.posix("chown", path) }
        guard recursive, Posix.isDirectory(path), (try? Setup.lstatKind(path)) != .symlink else { return }
        guard let dir = opendir(path) else { throw GuestError.posix("opendir", path) }
        var children: [String] = []
        while let e = readdir(dir) {
            let n = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if n != "." && n != ".." { children.append(n) }
        }
        closedir(dir)
        for c in children { try chownTree(path == "/" ? "/" + c : path + "/" + c, uid, gid, recursive: true) }
    }

    func statPath(_ frame: Frame) throws -> StatResult {
        let req = try StatRequest(frame: frame)
        var st = stat()
        let rc = req.followLinks ? stat(req.path, &st) : lstat(req.path, &st)
        if rc != 0 {
            if errno == ENOENT || errno == ENOTDIR { return StatResult(exists: false) }
            throw GuestError.posix("stat", req.path)
        }
        let kind: StatResult.Kind = switch st.st_mode & S_IFMT {
        case S_IFREG: .file
        case S_IFDIR: .directory
        case S_IFLNK: .symlink
        default: .other
        }
        var target: String?
        if kind == .symlink {
            var buf = [CChar](repeating: 0, count: 4097)
            let n = readlink(req.path, &buf, 4096)
            if n >= 0 { target = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        }
        return StatResult(exists: true, kind: kind, mode: UInt32(st.st_mode & 0o7777), uid: Int(st.st_uid),
                          gid: Int(st.st_gid), size: Int(st.st_size), linkTarget: target)
    }
}
