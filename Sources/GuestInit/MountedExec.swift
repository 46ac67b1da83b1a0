// RUN --mount in the guest. An exec with mounts starts this binary again as a helper
// (`--exec-mounted`, as root): it enters a private mount namespace, mounts, drops to the step's
// user and execs the command. The mounts die with the process's namespace, so nothing leaks into
// the next step even when the command fails. The init itself (PID 1) never changes namespace.
#if canImport(Glibc)
import Glibc
#endif
import CSyscalls
import Guest

/// What the init hands its helper: the mounts and the identity to run the command with.
struct MountedExecSpec: GuestMessage {
    var mounts: [ExecMount]
    var uid: UInt32
    var gid: UInt32
    var groups: [UInt32]
    var workdir: String

    init(mounts: [ExecMount], uid: UInt32, gid: UInt32, groups: [UInt32], workdir: String) {
        self.mounts = mounts; self.uid = uid; self.gid = gid; self.groups = groups; self.workdir = workdir
    }

    init(json j: JSON) throws {
        mounts = try (j["mounts"]?.array ?? []).map(ExecMount.init(json:))
        uid = UInt32(truncatingIfNeeded: j["uid"]?.int ?? 0); gid = UInt32(truncatingIfNeeded: j["gid"]?.int ?? 0)
        groups = (j["groups"]?.array ?? []).compactMap { $0.int.map { UInt32(truncatingIfNeeded: $0) } }
        workdir = j["workdir"]?.string ?? "/"
    }

    var json: JSON {
        var o = ObjectBuilder()
        o.set("mounts", JSON.array(mounts.map(\.json))); o.set("uid", Int(uid)); o.set("gid", Int(gid))
        o.set("groups", JSON.array(groups.map { JSON.int(Int64($0)) })); o.set("workdir", workdir)
        return o.json
    }
}

enum MountedExec {
    static let helperFlag = "--exec-mounted"
    static let cleanupFlag = "--cleanup-mounts"
    /// Where the host stages bind sources and secrets (on the /run tmpfs: never in the image).
    static let stagingRoot = "/run/firebuild-mounts"

    /// The program and argv fb_spawn runs (as root) instead of the command itself.
    static func launch(argv: [String], mounts: [ExecMount], user: ResolvedUser, workdir: String) -> (path: String, argv: [String]) {
        let spec = MountedExecSpec(mounts: mounts, uid: user.uid, gid: user.gid, groups: user.groups, workdir: workdir)
        return ("/proc/self/exe", ["firebuild-init", helperFlag, spec.json.encoded(), "--"] + argv)
    }

    /// The helper: `--exec-mounted SPEC -- ARGV…`. Exits 126 (setup failed) or 127 (command not found).
    static func run(_ args: [String]) -> Never {
        guard args.count >= 3, args[1] == "--" else { fail("usage: \(helperFlag) SPEC -- COMMAND…", code: 2) }
        let argv = Array(args[2...])
        let spec: MountedExecSpec
        do { spec = try MountedExecSpec(json: JSON.parse(args[0])) } catch { fail("bad mount spec: \(error)", code: 2) }
        if fb_private_mount_namespace() != 0 { fail("cannot create a mount namespace: \(String(cString: strerror(errno)))") }
        for m in spec.mounts {
            do { try mount(m) } catch { fail("RUN --mount at \(m.target): \(error)") }
        }
        if getuid() == 0 {
            var groups = spec.groups.map { gid_t($0) }
            if setgroups(groups.count, &groups) != 0 || setgid(spec.gid) != 0 || setuid(spec.uid) != 0 {
                fail("cannot switch to uid \(spec.uid): \(String(cString: strerror(errno)))")
            }
        }
        if chdir(spec.workdir) != 0 { fail("chdir to \(spec.workdir): \(String(cString: strerror(errno)))") }
        var env: [String] = []
        var p = environ
        while let s = p.pointee { env.append(String(cString: s)); p += 1 }
        let path: String
        do {
            path = try Workload.resolveExecutable(argv[0], path: Workload.lookup(env, "PATH"), workdir: spec.workdir) { c in
                var st = stat()
                return stat(c, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG && access(c, X_OK) == 0
            }
        } catch { fail("\(error)", code: 127) }
        let cArgv = argv.map { strdup($0) } + [nil]
        fb_reset_signals()
        execve(path, cArgv, environ)
        fail("exec \(path): \(String(cString: strerror(errno)))", code: errno == ENOENT ? 127 : 126)
    }

    static func fail(_ message: String, code: Int32 = 126) -> Never {
        try? Posix.writeAll(2, "firebuild-init: \(message)\n")
        exit(code)
    }

    static func errorText() -> String { String(cString: strerror(errno)) }

    static func mount(_ m: ExecMount) throws {
        switch m.kind {
        case .tmpfs:
            try Posix.mkdirs(m.target)
            let data = m.size.map { "size=\($0)" }
            if Glibc.mount("tmpfs", m.target, "tmpfs", UInt(MS_NOSUID) | UInt(MS_NODEV), data) != 0 {
                throw GuestError(.io, "mount tmpfs: \(errorText())")
            }
        case .bind:
            try bind(m.source ?? "", at: m.target, readOnly: m.readOnly)
        case .cache:
            let device = try findDevice(uuid: m.source ?? "")
            let mountPoint = "\(stagingRoot)/.cache/\(m.source ?? "")"
            try Posix.mkdirs(mountPoint)
            if fb_is_mountpoint(mountPoint) != 1 && Glibc.mount(device, mountPoint, "ext4", UInt(MS_NOSUID) | UInt(MS_NODEV), nil) != 0 {
                throw GuestError(.io, "mount cache disk \(device): \(errorText())")
            }
            let dir = mountPoint + "/cache"
            if !Posix.isDirectory(dir) {
                let mode = mode_t(m.mode ?? 0o755) & 0o7777
                guard mkdir(dir, mode) == 0, chown(dir, uid_t(m.uid ?? 0), gid_t(m.gid ?? 0)) == 0, chmod(dir, mode) == 0 else {
                    throw GuestError(.io, "create the cache directory: \(errorText())")
                }
            }
            try bind(dir, at: m.target, readOnly: m.readOnly)
        }
    }

    /// Bind-mounts a file or directory, creating the target (an empty file for a file) when missing.
    static func bind(_ source: String, at target: String, readOnly: Bool) throws {
        var st = stat()
        guard stat(source, &st) == 0 else { throw GuestError(.notFound, "bind source \(source): \(errorText())") }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            try Posix.mkdirs(target)
        } else if !Posix.exists(target) {
            try Posix.mkdirs(Posix.dirname(target))
            let fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw GuestError(.io, "create \(target): \(errorText())") }
            close(fd)
        }
        if Glibc.mount(source, target, nil, UInt(MS_BIND) | UInt(MS_REC), nil) != 0 {
            throw GuestError(.io, "bind \(source): \(errorText())")
        }
        if readOnly && Glibc.mount(nil, target, nil, UInt(MS_BIND) | UInt(MS_REMOUNT) | UInt(MS_RDONLY), nil) != 0 {
            throw GuestError(.io, "make \(target) read-only: \(errorText())")
        }
    }

    /// The virtio disk whose ext4 superblock carries `uuid` (32 hex digits, dashes allowed).
    static func findDevice(uuid: String) throws -> String {
        let want = uuid.lowercased().filter { $0 != "-" }
        guard let dir = opendir("/sys/block") else { throw GuestError.posix("opendir", "/sys/block") }
        var names: [String] = []
        while let e = readdir(dir) {
            let n = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if n.hasPrefix("vd") { names.append(n) }
        }
        closedir(dir)
        for name in names.sorted() {
            let dev = "/dev/" + name
            let fd = open(dev, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            var magic = [UInt8](repeating: 0, count: 2), id = [UInt8](repeating: 0, count: 16)
            // ext4 superblock at 1024: s_magic (0xEF53, little-endian) at +0x38, s_uuid at +0x68.
            guard pread(fd, &magic, 2, 1024 + 0x38) == 2, magic == [0x53, 0xEF], pread(fd, &id, 16, 1024 + 0x68) == 16 else { continue }
            if id.map(hex).joined() == want { return dev }
        }
        throw GuestError(.notFound, "no cache disk with filesystem UUID \(uuid) (disks: \(names.joined(separator: ", ")))")
    }

    static func hex(_ b: UInt8) -> String {
        let d = Array("0123456789abcdef")
        return String([d[Int(b >> 4)], d[Int(b & 15)]])
    }

    /// `--cleanup-mounts STAGING [TOP LEAF]…`: removes a step's staging tree, then the mount
    /// targets the helper created (LEAF, and its parents up to TOP) when they are still empty,
    /// as BuildKit removes its mount stubs, so they do not end up in the image.
    static func cleanup(_ args: [String]) -> Never {
        guard let staging = args.first else { fail("usage: \(cleanupFlag) STAGING [TOP LEAF]…", code: 2) }
        guard staging.hasPrefix(stagingRoot + "/"), !staging.contains("/../") else { fail("\(staging) is not under \(stagingRoot)", code: 2) }
        removeTree(staging)
        var i = 1
        while i + 1 < args.count {
            let top = args[i]
            var p = args[i + 1]
            while p.hasPrefix(top), removeStub(p), p != top { p = Posix.dirname(p) }
            i += 2
        }
        exit(0)
    }

    /// Removes an empty directory or an empty regular file; false when it is anything else.
    static func removeStub(_ path: String) -> Bool {
        var st = stat()
        guard lstat(path, &st) == 0 else { return true }  // already gone: keep walking up
        switch st.st_mode & S_IFMT {
        case S_IFDIR: return rmdir(path) == 0
        case S_IFREG: return st.st_size == 0 && unlink(path) == 0
        default: return false
        }
    }

    static func removeTree(_ path: String) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { unlink(path); return }
        if let dir = opendir(path) {
            var children: [String] = []
            while let e = readdir(dir) {
                let n = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
                if n != "." && n != ".." { children.append(n) }
            }
            closedir(dir)
            for c in children { removeTree(path + "/" + c) }
        }
        rmdir(path)
    }
}
