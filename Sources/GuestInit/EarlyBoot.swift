// Early boot: firebuild-init as the initramfs's /init. firebuild appends the init to the kernel's
// initrd as /init (Runtime/BootFiles.swift), overriding the initrd's shell /init, and this does in
// one process what that script does with a fork per step: mount the API filesystems, load the
// modules listed in /lib/modules/load-order (finit_module, no insmod), mount the root disk, put
// this init on a tmpfs at /run of the new root (the stored image is never modified), move
// /proc /sys /dev, switch root, and then either continue as the normal PID 1 (the usual case:
// `firebuild.init=/run/firebuild-init`) or exec the chosen init (an image's own, or another
// firebuild-init it ships). Under TCG this saves the shell, ~11 insmod forks, the copy of the init
// and its second start. The shell /init stays the fallback for initrds booted without the segment.
#if canImport(Glibc)
import Glibc
#endif
import CSyscalls
import Guest

enum EarlyBoot {
    static let newRoot = "/newroot"
    /// Where the init is placed in the new root; the host passes `firebuild.init=` with this path.
    static let placedInit = "/run/firebuild-init"
    static let modulesDir = "/lib/modules"
    /// How long the root device may take to appear (the shell waits 1000 x 10 ms too).
    static let rootWait = 10.0

    /// True when the kernel started this process as PID 1 from the initramfs: as `/init` (how the
    /// kernel runs it; never after a switch_root, a disk boot without initrd, or a test's
    /// `unshare --pid … chroot DIR /sbin/firebuild-init`) on a ramfs or tmpfs root.
    static var isInitramfsInit: Bool {
        getpid() == 1 && String(cString: fb_argv0()) == "/init" && fb_root_is_initramfs() == 1
    }

    /// Returns only when this process goes on as PID 1 of the new root; otherwise execs the
    /// chosen init or powers off with a console message.
    static func run() {
        mountAPIFilesystems()
        BootTrace.mark("initrd")
        let cmdline = Posix.readText("/proc/cmdline") ?? ""
        let config = EarlyBootConfig.parse(cmdline: cmdline)
        let names = EarlyBootFiles.moduleList(Posix.readText(modulesDir + "/load-order") ?? "")
        let (now, later) = config.pause ? BootPause.split(names) : (names, [])
        var modules = loadModules(now)
        BootTrace.mark("modules")
        if config.pause {
            // The disk and network drivers load now (a module load is ~0.1 s under TCG) but bind
            // to their devices only after the pause, when a restored VM has its own devices.
            holdVirtioProbes(true)
            modules += loadModules(later)
            BootTrace.mark("late-modules")
            pauseForHost(cmdline: cmdline)
            holdVirtioProbes(false)
            BootTrace.mark("devices")
        }
        let device = waitForRoot(config.root, loaded: modules)
        mountRoot(device, config: config)
        BootTrace.mark("rootfs")
        let placed = placeInit()
        BootTrace.mark("init-placed")
        let lexists: (String) -> Bool = { path in var st = stat(); return lstat(newRoot + path, &st) == 0 }
        guard let target = config.chooseInit(exists: lexists) else {
            fail("no init found in the root filesystem (tried \(config.initCandidates.joined(separator: " ")))")
        }
        let inProcess = (placed && target == placedInit) || isThisExecutable(newRoot + target)
        BootTrace.mark("switch-root")
        moveAPIFilesystems()
        removeInitramfsFiles()
        guard fb_enter_new_root(newRoot) == 0 else { fail("cannot switch to the root filesystem: \(errorText())") }
        if inProcess {
            BootTrace.mark("switched")  // only this path records it: tests tell the two apart by it
            return
        }
        execInit(target)
    }

    // MARK: steps

    /// /proc is usually mounted already (the C constructor does it before the Swift runtime starts).
    static func mountAPIFilesystems() {
        for (type, dir, nosuid, noexec, data) in [("proc", "/proc", 1, 1, nil), ("sysfs", "/sys", 1, 1, nil),
                                                  ("devtmpfs", "/dev", 1, 0, "mode=0755")] as [(String, String, Int32, Int32, String?)] {
            if fb_is_mountpoint(dir) == 1 { continue }
            mkdir(dir, 0o755)
            _ = fb_mount(type, dir, type, nosuid, 0, noexec, data)
        }
    }

    /// Loads the modules in order, each with one finit_module(2). Ones already present (built in,
    /// or loaded as a dependency) are fine; other failures are remembered for the error message
    /// shown when the root device then never appears. Silent otherwise, as the shell's insmod.
    static func loadModules(_ names: [String]) -> [String] {
        var failed: [String] = []
        for name in names {
            let fd = open("\(modulesDir)/\(name).ko", O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { failed.append("\(name) (\(errorText()))"); continue }
            if fb_finit_module(fd) != 0 && errno != EEXIST { failed.append("\(name) (\(errorText()))") }
            close(fd)
        }
        return failed.isEmpty ? names : names + ["; failed:"] + failed
    }

    /// The root device node, once it exists: a path is polled for; UUID= and LABEL= are looked up
    /// in the superblocks of the block devices in /sys/class/block (as findfs does, ext2/3/4).
    static func waitForRoot(_ root: String, loaded: [String]) -> String {
        guard let spec = RootSpec.parse(root) else { fail("cannot find root device \(root)") }
        let deadline = Posix.now() + rootWait
        while true {
            switch spec {
            case let .path(p):
                var st = stat()
                if stat(p, &st) == 0 && (st.st_mode & S_IFMT) == S_IFBLK { return p }
            case .uuid, .label:
                if let found = findFilesystem(spec) { return found }
            }
            if Posix.now() >= deadline { break }
            usleep(2_000)
        }
        if case .path = spec {
            fail("root device \(root) did not appear (loaded: \(loaded.joined(separator: " ")))")
        }
        fail("cannot find root device \(root)")
    }

    static func findFilesystem(_ spec: RootSpec) -> String? {
        guard let dir = opendir("/sys/class/block") else { return nil }
        defer { closedir(dir) }
        while let e = readdir(dir) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name.hasPrefix(".") { continue }
            let dev = "/dev/" + name
            let fd = open(dev, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { continue }
            var buf = [UInt8](repeating: 0, count: FilesystemIdentity.probeSize)
            let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
            close(fd)
            if n == buf.count, let id = FilesystemIdentity.ext(buf), spec.matches(id) { return dev }
        }
        return nil
    }

    /// Mounts the root on /newroot: `rootfstype=`, else each block filesystem the kernel knows.
    static func mountRoot(_ device: String, config: EarlyBootConfig) {
        mkdir(newRoot, 0o755)
        let types = EarlyBootFiles.filesystemCandidates(requested: config.rootFSType,
                                                         procFilesystems: Posix.readText("/proc/filesystems") ?? "")
        var firstError: String?
        for type in types {
            if fb_mount_root(device, newRoot, type, config.readOnly ? 1 : 0) == 0 { return }
            if firstError == nil { firstError = "\(type): \(errorText())" }
        }
        fail("cannot mount \(device) on \(newRoot) (\(firstError ?? "no filesystem types"))")
    }

    /// A tmpfs on /newroot/run holding this executable, bind-mounted (no copy of ~8 MB): the
    /// image on disk is never modified, and `/run/firebuild-init` names the init in the new root
    /// (`firebuild.init=`, /proc/1/exe helpers). Copies when the bind mount is refused.
    static func placeInit() -> Bool {
        let run = newRoot + "/run"
        mkdir(run, 0o755)
        let target = newRoot + placedInit
        guard fb_mount("tmpfs", run, "tmpfs", 1, 0, 0, "mode=0755") == 0 else {
            fail("cannot place firebuild-init in /run of the root filesystem (tmpfs on \(run): \(errorText()))")
        }
        let fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0o755)
        guard fd >= 0 else { fail("cannot place firebuild-init in /run of the root filesystem (\(target): \(errorText()))") }
        close(fd)
        if fb_bind_mount("/proc/self/exe", target) == 0 { return true }
        guard let bytes = Posix.readFile("/proc/self/exe"), (try? Posix.writeFileAtomic(target, bytes, mode: 0o755, sync: false)) != nil else {
            fail("cannot place firebuild-init in /run of the root filesystem (copy to \(target): \(errorText()))")
        }
        return true
    }

    /// Moves /proc, /sys and /dev into the new root (a static Swift init needs /proc from its first
    /// instruction); unmounts them when the new root has no such directory.
    static func moveAPIFilesystems() {
        for d in ["/proc", "/sys", "/dev"] {
            let inNew = newRoot + d
            if !Posix.isDirectory(inNew) { mkdir(inNew, 0o755) }
            if !Posix.isDirectory(inNew) || fb_move_mount(d, inNew) != 0 { _ = fb_umount_lazy(d) }
        }
    }

    /// Deletes the initramfs's files (busybox, modules, this init's directory entry) to give their
    /// memory back, as switch_root does. Stays on the initramfs: never crosses into a mount.
    static func removeInitramfsFiles() {
        var st = stat()
        guard lstat("/", &st) == 0 else { return }
        removeTree("/", device: st.st_dev)
    }

    static func removeTree(_ path: String, device: dev_t) {
        var st = stat()
        guard lstat(path, &st) == 0, st.st_dev == device else { return }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { unlink(path); return }
        guard let dir = opendir(path) else { return }
        var names: [String] = []
        while let e = readdir(dir) {
            let n = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if n != "." && n != ".." { names.append(n) }
        }
        closedir(dir)
        for n in names { removeTree(path == "/" ? "/" + n : path + "/" + n, device: device) }
        if path != "/" { rmdir(path) }
    }

    static func isThisExecutable(_ path: String) -> Bool {
        var a = stat(), b = stat()
        return stat(path, &a) == 0 && stat("/proc/self/exe", &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino
    }

    /// Hands the machine to another init, with the milestones so far in FIREBUILD_BOOT_PHASES
    /// (a firebuild-init imports them, as after the shell /init).
    static func execInit(_ target: String) -> Never {
        let phases = BootTrace.phases.map { "\($0.name)=\($0.uptime)" }.joined(separator: " ")
        setenv("FIREBUILD_BOOT_PHASES", phases, 1)
        if target.hasSuffix("/firebuild-init") { setenv("SWIFT_DETERMINISTIC_HASHING", "1", 1) }
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup(target), nil]
        execv(target, argv)
        fail("cannot start \(target): \(errorText())")
    }

    static func errorText() -> String { String(cString: strerror(errno)) }

    /// As the shell's fail(): a line on the console, then power off (PID 1 must never exit).
    static func fail(_ message: String) -> Never {
        let fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC)
        try? Posix.writeAll(fd >= 0 ? fd : 2, "firebuild-initrd: \(message)\n")
        sync()
        _ = fb_reboot_poweroff()
        while true { pause() }
    }
}
