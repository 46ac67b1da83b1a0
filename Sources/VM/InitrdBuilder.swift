import FirebuildCore
import Foundation
import Logging
import Store

/// Builds the small initrd a modular kernel (Debian's cloud kernel) needs to reach its root disk:
/// busybox-static, the virtio modules with their dependencies, and an /init that loads them,
/// mounts the root disk and switch_roots into the real init. About 2.5x faster to boot than a
/// distribution initramfs, which spends seconds in udev.
///
/// firebuild's own VMs rarely run that /init: Runtime/BootFiles appends the static firebuild-init
/// as `/init`, which does the same work in one process (GuestInit/EarlyBoot.swift: finit_module for
/// each name in /lib/modules/load-order, no forks) and goes on as PID 1. The script remains the
/// fallback (an initrd booted without the segment, or an init without that mode), so both must
/// keep the same contract: load-order, the kernel parameters below, and the console messages.
public struct InitrdBuilder: Sendable {
    /// Modules wanted, in load order; each is included with its dependencies when the kernel has it
    /// as a module, and skipped when it is built in or absent (optional devices: net, vsock).
    public static let wantedModules = [
        "virtio_ring", "virtio", "virtio_mmio", "virtio_blk", "virtio_console",
        "failover", "net_failover", "virtio_net",
        "vsock", "vmw_vsock_virtio_transport_common", "vmw_vsock_virtio_transport",
        // The entropy device: without it, under TCG (no RDRAND), the guest's CRNG takes about a
        // second of jitter sampling to initialise and every blocking getrandom() waits for it.
        "virtio_rng",
        "ext4",
    ]

    public var busyboxPath: String
    public var modulesDirectory: String
    public var modules: [String]

    public init(modulesDirectory: String, busyboxPath: String = "/bin/busybox", modules: [String] = InitrdBuilder.wantedModules) {
        self.modulesDirectory = modulesDirectory
        self.busyboxPath = busyboxPath
        self.modules = modules
    }

    /// `/lib/modules/<version>` for a stored kernel, from its recorded version.
    public static func modulesDirectory(for kernel: StoredKernel) throws -> String {
        guard let version = kernel.record.version else {
            throw FirebuildError(.invalidArgument, "kernel \"\(kernel.record.id)\" has no recorded version; pass --modules-dir /lib/modules/<version>")
        }
        return "/lib/modules/\(version)"
    }

    /// One module chosen for the initrd: its canonical name and file.
    public struct Module: Equatable, Sendable {
        public var name: String
        public var path: String
    }

    /// Resolves the wanted modules against modules.dep, dependencies first, each once.
    public func resolveModules() throws -> [Module] {
        let depPath = modulesDirectory + "/modules.dep"
        guard let text = try? String(contentsOfFile: depPath, encoding: .utf8) else {
            throw FirebuildError(.notFound, "\(depPath) not found: install the kernel's modules (e.g. apt-get install linux-image-<version>) or pass --modules-dir")
        }
        var deps: [String: (path: String, deps: [String])] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard let file = parts.first else { continue }
            let depFiles = parts.count > 1 ? parts[1].split(separator: " ").map(String.init) : []
            deps[Self.moduleName(String(file))] = (String(file), depFiles.map(Self.moduleName))
        }
        var ordered: [Module] = []
        var seen: Set<String> = []
        func visit(_ name: String, depth: Int) {
            guard depth < 32, !seen.contains(name), let entry = deps[name] else { return }
            seen.insert(name)
            // modules.dep lists dependencies so that the last one must be loaded first.
            for d in entry.deps.reversed() { visit(d, depth: depth + 1) }
            let full = entry.path.hasPrefix("/") ? entry.path : modulesDirectory + "/" + entry.path
            ordered.append(Module(name: name, path: full))
        }
        for m in modules { visit(Self.canonical(m), depth: 0) }
        return ordered
    }

    /// `kernel/drivers/block/virtio_blk.ko.xz` → `virtio_blk` (dashes and underscores are one to the kernel).
    static func moduleName(_ file: String) -> String {
        var base = (file as NSString).lastPathComponent
        for ext in [".xz", ".zst", ".gz"] where base.hasSuffix(ext) { base.removeLast(ext.count) }
        if base.hasSuffix(".ko") { base.removeLast(3) }
        return canonical(base)
    }

    static func canonical(_ name: String) -> String { name.replacingOccurrences(of: "-", with: "_") }

    /// Module bytes, decompressed: busybox insmod loads plain .ko files only.
    static func moduleData(_ path: String) throws -> Data {
        if path.hasSuffix(".ko.xz") { return try Command("xz", ["-dc", path]).check().stdout }
        if path.hasSuffix(".ko.zst") { return try Command("zstd", ["-dc", path]).check().stdout }
        if path.hasSuffix(".ko.gz") { return try Command("gzip", ["-dc", path]).check().stdout }
        guard let data = FileManager.default.contents(atPath: path) else { throw FirebuildError.posix("read", path: path) }
        return data
    }

    /// The gzip-compressed newc cpio archive.
    public func build() throws -> (archive: Data, modules: [Module]) {
        guard let busybox = FileManager.default.contents(atPath: busyboxPath) else {
            throw FirebuildError(.notFound, "busybox not found at \(busyboxPath): apt-get install busybox-static")
        }
        guard let elf = ELFImage.inspect(busybox), !elf.hasInterpreter else {
            throw FirebuildError(.unsupported, "\(busyboxPath) is not a static executable; the initrd has no libc: apt-get install busybox-static")
        }
        let mods = try resolveModules()
        var cpio = CpioWriter()
        for dir in ["bin", "dev", "proc", "sys", "newroot", "lib", "lib/modules", "run", "tmp"] { cpio.directory(dir) }
        cpio.characterDevice("dev/console", major: 5, minor: 1)
        cpio.characterDevice("dev/null", major: 1, minor: 3, mode: 0o666)
        cpio.file("bin/busybox", contents: busybox, mode: 0o755)
        cpio.symlink("bin/sh", target: "busybox")
        for m in mods { cpio.file("lib/modules/\(m.name).ko", contents: try Self.moduleData(m.path)) }
        cpio.file("lib/modules/load-order", contents: Data((mods.map(\.name).joined(separator: "\n") + "\n").utf8))
        cpio.file("init", contents: Data(Self.initScript.utf8), mode: 0o755)
        return (try Gzip.compress(cpio.finish()), mods)
    }

    /// Builds the initrd for a stored kernel and stores it as that kernel's initrd.
    @discardableResult
    public static func buildAndStore(kernelID: String, store: KernelStore, modulesDirectory: String? = nil,
                                     busyboxPath: String = "/bin/busybox") throws -> (kernel: StoredKernel, modules: [Module]) {
        let kernel = try store.get(kernelID)
        let dir = try modulesDirectory ?? Self.modulesDirectory(for: kernel)
        let builder = InitrdBuilder(modulesDirectory: dir, busyboxPath: busyboxPath)
        let (archive, mods) = try builder.build()
        let tmp = store.root + "/.initrd-\(kernelID)-\(getpid())"
        try AtomicFile.write(archive, to: tmp)
        defer { unlink(tmp) }
        let stored = try store.setInitrd(id: kernelID, from: tmp, source: "built:\(dir)")
        makeLogger("vm").info("built initrd", metadata: ["kernel": .string(kernelID), "modules": "\(mods.count)", "bytes": "\(archive.count)"])
        return (stored, mods)
    }

    /// The initrd's /init. Parameters come from /proc/cmdline: `root=` (default /dev/vda),
    /// `rootfstype=`, `ro`/`rw`, `firebuild.init=` or `init=` (default /sbin/firebuild-init, then /sbin/init).
    /// /proc, /sys and /dev are moved, not unmounted: a static Swift init needs /proc from its first instruction.
    public static let initScript = #"""
    #!/bin/busybox sh
    # firebuild initrd: load virtio modules, mount the root disk, switch_root into the real init.
    B=/bin/busybox
    # Milestones (guest uptime, read with the shell's builtin `read`: no fork) for the init's
    # ready frame, so the host can tell where boot time goes.
    mark() { read -r t _ </proc/uptime && FIREBUILD_BOOT_PHASES="${FIREBUILD_BOOT_PHASES:+$FIREBUILD_BOOT_PHASES }$1=$t"; }
    $B mount -t proc proc /proc
    mark initrd
    $B mount -t sysfs sysfs /sys
    $B mount -t devtmpfs devtmpfs /dev
    for m in $($B cat /lib/modules/load-order); do
        $B insmod /lib/modules/$m.ko 2>/dev/null
    done
    mark modules
    root=/dev/vda; mode=rw; fstype=; init=; fbinit=
    for arg in $($B cat /proc/cmdline); do
        case "$arg" in
            root=*) root="${arg#root=}" ;;
            rootfstype=*) fstype="${arg#rootfstype=}" ;;
            ro) mode=ro ;;
            rw) mode=rw ;;
            init=*) init="${arg#init=}" ;;
            firebuild.init=*) fbinit="${arg#firebuild.init=}" ;;
        esac
    done
    fail() {
        echo "firebuild-initrd: $*" >/dev/console
        $B sync
        $B poweroff -f
    }
    case "$root" in
        /dev/*) ;;
        *) root=$($B findfs "$root" 2>/dev/null) || fail "cannot find root device $root" ;;
    esac
    i=0
    while [ ! -b "$root" ] && [ $i -lt 1000 ]; do $B usleep 10000; i=$((i+1)); done
    [ -b "$root" ] || fail "root device $root did not appear (loaded: $($B cat /lib/modules/load-order | $B tr '\n' ' '))"
    $B mount -o $mode ${fstype:+-t $fstype} "$root" /newroot || fail "cannot mount $root on /newroot"
    mark rootfs
    exists() { [ -e "/newroot$1" ] || [ -L "/newroot$1" ]; }
    # firebuild appends a segment holding its static init: put it on a tmpfs in the new root,
    # so the stored image is never modified.
    if [ -x /firebuild-init ]; then
        $B mkdir -p /newroot/run 2>/dev/null
        $B mount -t tmpfs -o mode=0755,nosuid tmpfs /newroot/run && $B cp /firebuild-init /newroot/run/firebuild-init \
            || fail "cannot place firebuild-init in /run of the root filesystem"
        mark init-copied
    fi
    target=
    for c in "$fbinit" "$init" /sbin/firebuild-init /sbin/init; do
        if [ -n "$c" ] && exists "$c"; then target="$c"; break; fi
    done
    [ -n "$target" ] || fail "no init found in the root filesystem (tried ${fbinit:-} ${init:-} /sbin/firebuild-init /sbin/init)"
    mark switch-root
    export FIREBUILD_BOOT_PHASES
    # The Swift runtime seeds its hashing with a blocking getrandom() before main(); until the
    # kernel's CRNG is ready (about 1 s under TCG without an entropy device) that stalls our init.
    # Its hash tables only hold trusted data; it drops the variable so nothing it starts inherits it.
    case "$target" in */firebuild-init) export SWIFT_DETERMINISTIC_HASHING=1 ;; esac
    for d in proc sys dev; do
        [ -d /newroot/$d ] || $B mkdir -p /newroot/$d 2>/dev/null
        if [ -d /newroot/$d ]; then $B mount --move /$d /newroot/$d; else $B umount /$d 2>/dev/null; fi
    done
    exec $B switch_root /newroot "$target"
    """#
}
