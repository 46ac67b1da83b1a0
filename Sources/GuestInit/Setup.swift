// Machine setup done by PID 1: API filesystems, network, /etc files, SSH keys, power-off.
#if canImport(Glibc)
import Glibc
#endif
import CSyscalls
import Guest

enum Setup {
    /// Mounts what every Linux userland expects. Already-mounted targets (the initrd moved /proc,
    /// /sys and /dev into the new root) are left alone.
    static func earlyMounts() {
        mount("proc", "/proc", "proc", nosuid: true, nodev: true, noexec: true)
        mount("sysfs", "/sys", "sysfs", nosuid: true, nodev: true, noexec: true)
        mount("devtmpfs", "/dev", "devtmpfs", nosuid: true, data: "mode=0755")
        mount("devpts", "/dev/pts", "devpts", nosuid: true, noexec: true, data: "newinstance,ptmxmode=0666,mode=0620,gid=5")
        mount("shm", "/dev/shm", "tmpfs", nosuid: true, nodev: true, data: "mode=1777")
        mount("tmpfs", "/run", "tmpfs", nosuid: true, nodev: true, data: "mode=0755")
        if Posix.isDirectory("/sys/fs/cgroup") {
            mount("cgroup2", "/sys/fs/cgroup", "cgroup2", nosuid: true, nodev: true, noexec: true)
        }
        for (link, target) in [("/dev/fd", "/proc/self/fd"), ("/dev/stdin", "/proc/self/fd/0"),
                               ("/dev/stdout", "/proc/self/fd/1"), ("/dev/stderr", "/proc/self/fd/2"),
                               ("/dev/ptmx", "pts/ptmx")] where !Posix.exists(link) {
            _ = symlink(target, link)
        }
    }

    /// Mounts that depend on the mode: /tmp is a tmpfs at run time only (a build keeps /tmp in the image, as Docker does).
    static func lateMounts(mode: Metadata.Mode) {
        if mode == .run { mount("tmpfs", "/tmp", "tmpfs", nosuid: true, nodev: true, data: "mode=1777") }
    }

    static func mount(_ source: String, _ target: String, _ type: String, nosuid: Bool = false, nodev: Bool = false,
                      noexec: Bool = false, data: String? = nil) {
        if fb_is_mountpoint(target) == 1 && target != "/" { return }
        try? Posix.mkdirs(target)
        if fb_mount(source, target, type, nosuid ? 1 : 0, nodev ? 1 : 0, noexec ? 1 : 0, data) != 0 && errno != EBUSY {
            log("mount \(type) on \(target): \(String(cString: strerror(errno)))")
        }
    }

    /// A kernel that starts init without /dev/console in the image leaves fds 0-2 closed.
    static func ensureStdio() {
        for fd: Int32 in 0...2 where fcntl(fd, F_GETFD) < 0 {
            var c = open("/dev/console", O_RDWR | O_NOCTTY)
            if c < 0 { c = open("/dev/null", O_RDWR) }
            if c >= 0 && c != fd { dup2(c, fd); close(c) }
        }
    }

    // MARK: metadata

    /// Applies hostname, network, /etc files and SSH keys. Errors are returned to the host.
    static func apply(_ md: Metadata, options: InitOptions) throws {
        let root = options.root
        if options.pid1Duties {
            lateMounts(mode: md.mode)
            let name = Array(md.hostname.utf8)
            if sethostname(md.hostname, name.count) != 0 { log("sethostname: \(String(cString: strerror(errno)))") }
            try configureNetwork(md.network)
        }
        // With `keep` the host still sends the address the kernel `ip=` got, for /etc/hosts.
        let address = md.network.mode == .none ? nil : md.network.address
        var dns = md.network.dns
        if dns.isEmpty && md.network.mode == .keep {
            dns = EtcFiles.pnpNameservers(Posix.readText("/proc/net/pnp") ?? "")
        }
        var files: [(String, String)] = [
            ("/etc/hostname", md.hostname + "\n"),
            ("/etc/hosts", EtcFiles.hosts(hostname: md.hostname, address: address, extra: md.extraHosts)),
        ]
        if !dns.isEmpty { files.append(("/etc/resolv.conf", EtcFiles.resolvConf(nameservers: dns, search: md.network.search))) }
        for (path, content) in files {
            try writeEtc(Posix.join(root, path), content, overlay: md.mode == .build && options.pid1Duties)
        }
        if let user = md.sshUser, !md.sshKeys.isEmpty {
            try installKeys(user: user, keys: md.sshKeys, root: root)
        }
    }

    /// Run mode writes /etc files in place (the VM has a private disk). Build mode must not bake
    /// them into the image, so it bind-mounts copies from /run over them, as Docker does for RUN.
    static func writeEtc(_ path: String, _ content: String, overlay: Bool) throws {
        if !overlay {
            try Posix.mkdirs(Posix.dirname(path))
            if let st = try? lstatKind(path), st == .symlink { unlink(path) }  // e.g. resolv.conf -> systemd stub
            // Rewritten from the metadata on every boot: no fsync (it delayed ready by a journal commit each).
            try Posix.writeFileAtomic(path, Array(content.utf8), sync: false)
            return
        }
        try Posix.mkdirs("/run/firebuild/etc")
        let copy = "/run/firebuild/etc/" + path.split(separator: "/").last.map(String.init)!
        try Posix.writeFileAtomic(copy, Array(content.utf8))
        if !Posix.exists(path) {
            try Posix.mkdirs(Posix.dirname(path))
            let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
            if fd >= 0 { close(fd) }
        }
        if fb_bind_mount(copy, path) != 0 { throw GuestError.posix("bind-mount over", path) }
    }

    static func lstatKind(_ path: String) throws -> StatResult.Kind {
        var st = stat()
        guard lstat(path, &st) == 0 else { throw GuestError.posix("lstat", path) }
        return (st.st_mode & S_IFMT) == S_IFLNK ? .symlink : .other
    }

    static func configureNetwork(_ net: NetworkConfig) throws {
        if fb_if_up("lo") != 0 { log("lo up: \(String(cString: strerror(errno)))") }
        guard net.mode == .static else { return }
        guard let addrText = net.address, let addr = EtcFiles.parseIPv4(addrText) else {
            throw GuestError(.invalidArgument, "static network needs an IPv4 address, got \(net.address ?? "none")")
        }
        let ifname = try findInterface(name: net.ifname, mac: net.mac)
        if let mtu = net.mtu, fb_if_set_mtu(ifname, Int32(mtu)) != 0 { log("mtu \(mtu) on \(ifname): \(String(cString: strerror(errno)))") }
        guard fb_if_set_ipv4(ifname, addr, EtcFiles.prefixMask(net.prefix)) == 0 else { throw GuestError.posix("set address on", ifname) }
        guard fb_if_up(ifname) == 0 else { throw GuestError.posix("bring up", ifname) }
        if let gwText = net.gateway, !gwText.isEmpty {
            guard let gw = EtcFiles.parseIPv4(gwText) else { throw GuestError(.invalidArgument, "gateway \(gwText) is not IPv4") }
            if fb_route_add_default(gw, ifname) != 0 && errno != EEXIST { throw GuestError.posix("add default route via \(gwText) on", ifname) }
        }
    }

    /// The NIC by MAC address (most reliable), else by name, else the first non-loopback one.
    static func findInterface(name: String?, mac: String?) throws -> String {
        var names: [String] = []
        if let dir = opendir("/sys/class/net") {
            while let e = readdir(dir) {
                let n = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
                if !n.hasPrefix(".") && n != "lo" { names.append(n) }
            }
            closedir(dir)
        }
        names.sort()
        if let mac {
            for n in names where (Posix.readText("/sys/class/net/\(n)/address") ?? "").trimmingCharacters().lowercased() == mac.lowercased() {
                return n
            }
        }
        if let name, names.contains(name) { return name }
        if mac == nil, name == nil, let first = names.first { return first }
        throw GuestError(.notFound, "no network interface \(name ?? "") \(mac.map { "with MAC \($0)" } ?? "") in the guest (have: \(names.joined(separator: ", ")))")
    }

    /// Adds keys to ~user/.ssh/authorized_keys once (never duplicated across boots).
    static func installKeys(user: String, keys: [String], root: String) throws {
        let u = try UserDatabase.resolve(user, root: root)
        let sshDir = Posix.join(root, (u.home == "/" ? "" : u.home) + "/.ssh")
        try Posix.mkdirs(sshDir, mode: 0o700)
        _ = chown(sshDir, u.uid, u.gid)
        _ = chmod(sshDir, 0o700)
        let file = sshDir + "/authorized_keys"
        let existing = Posix.readText(file) ?? ""
        if let merged = EtcFiles.mergeAuthorizedKeys(existing: existing, keys: keys) {
            try Posix.writeFileAtomic(file, Array(merged.utf8), mode: 0o600)
        }
        _ = chown(file, u.uid, u.gid)
    }

    // MARK: the end

    /// Stops everything and powers off (PID 1) or exits (test mode). Never returns.
    static func finish(options: InitOptions, code: Int32) -> Never {
        guard options.pid1Duties else { exit(code) }
        // Everything left gets SIGTERM, then SIGKILL; kill(-1) skips PID 1 itself.
        kill(-1, SIGTERM)
        let deadline = Posix.now() + 2
        while Posix.now() < deadline {
            var st: Int32 = 0
            let r = waitpid(-1, &st, WNOHANG)
            if r < 0 && errno == ECHILD { break }
            if r == 0 { usleep(20_000) }
        }
        kill(-1, SIGKILL)
        while waitpid(-1, nil, WNOHANG) > 0 {}
        sync()
        _ = fb_remount_root_readonly()
        sync()
        _ = fb_reboot_poweroff()
        // reboot() only returns on failure; PID 1 must not exit (kernel panic), so wait forever.
        log("power-off failed: \(String(cString: strerror(errno)))")
        while true { pause() }
    }
}

