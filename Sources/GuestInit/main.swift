// firebuild-init: PID 1 inside every firebuild microVM.
//
// Boot: mount the API filesystems, open the host channel (virtio-serial port or vsock, chosen by
// `firebuild.channel=` on the kernel command line), send `ready`, apply the metadata (network,
// /etc files, SSH keys), then run the workload (run mode), serve build steps (build mode) or exec
// the image's own /sbin/init (init=image). Powers the VM off when done.
//
// Test mode (`--channel-fd N --no-pid1 [--root DIR]`): no mounts, no network, no hostname, no
// power-off, never kill(-1); /etc files and passwd lookups under DIR. The unit tests drive the
// dynamically linked binary this way over a socketpair.
#if canImport(Glibc)
import Glibc
#endif
import CSyscalls
import Guest

let initVersion = "0.1.0"

struct InitOptions {
    var channelFD: Int32?
    var pid1Duties = true
    var root = "/"
    var consoleEcho = true
    /// Devices (or files) searched for content disks before the virtio disks in /sys/block.
    var contentDisks: [String] = []

    static let usage = """
    usage: firebuild-init [--channel-fd N] [--no-pid1] [--root DIR] [--quiet] [--content-disk PATH]
      PID 1 of a firebuild microVM. Normally started by the kernel; the host channel is chosen by
      kernel parameters firebuild.channel=virtio-serial|vsock, firebuild.port=NAME (default
      firebuild.0), firebuild.vsock_port=N (default 10789), firebuild.vsock_mode=connect|listen.
      --channel-fd N  use an inherited, connected descriptor as the channel (tests)
      --no-pid1       do not mount, configure the network, set the hostname, kill all or power off
      --root DIR      read /etc/passwd and /etc/group and write /etc files under DIR (tests)
      --quiet         do not copy workload output to the console
      --content-disk PATH  also look for COPY content disks here (tests; VMs scan /sys/block)
      As the initramfs's /init (initramfs-init/1) it loads the initrd's modules, mounts root= and
      switches into it first (root=, rootfstype=, ro/rw, firebuild.init=, init=).
    """

    static func parse(_ args: [String]) -> InitOptions {
        var o = InitOptions()
        var i = 1
        func value() -> String {
            i += 1
            guard i < args.count else { die("\(args[i - 1]) needs a value\n\(usage)", code: 2) }
            return args[i]
        }
        while i < args.count {
            switch args[i] {
            case "--help", "-h": print(usage); exit(0)
            case "--version": print("firebuild-init \(initVersion) (protocol \(Frame.version))"); exit(0)
            case "--channel-fd":
                guard let n = Int32(value()), n >= 0 else { die("--channel-fd needs a descriptor number", code: 2) }
                o.channelFD = n
            case "--no-pid1": o.pid1Duties = false
            case "--root": o.root = value()
            case "--quiet": o.consoleEcho = false
            case "--content-disk": o.contentDisks.append(value())
            // Build helpers the host execs as /proc/1/exe (present in any image, even scratch):
            // flush the page cache before the host snapshots the disk; create a COPY'd symlink.
            case "--sync": sync(); exit(0)
            // RUN --mount: the per-process mount helper, and the host's cleanup after the step.
            case MountedExec.helperFlag: MountedExec.run(Array(args[(i + 1)...]))
            case MountedExec.cleanupFlag: MountedExec.cleanup(Array(args[(i + 1)...]))
            case "--symlink":
                guard i + 2 < args.count else { die("--symlink needs TARGET LINKPATH", code: 2) }
                unlink(args[i + 2])
                exit(symlink(args[i + 1], args[i + 2]) == 0 ? 0 : 1)
            default:
                // The kernel passes unknown plain words of its command line to init: ignore them.
                break
            }
            i += 1
        }
        if getpid() != 1 { o.pid1Duties = false }  // never act as PID 1 when we are not
        return o
    }
}

/// Logs to the console (stderr) with a prefix; the host sees it in the VM's console log.
func log(_ message: String) {
    try? Posix.writeAll(2, "firebuild-init: \(message)\n")
}

func die(_ message: String, code: Int32 = 1) -> Never {
    log(message)
    exit(code)
}

fb_restore_environ()  // before anything reads CommandLine.arguments (see CSyscalls/early.c)
BootTrace.importInitrdPhases()
// Started by the kernel as the initramfs's /init: do the initrd's work in this process first.
if EarlyBoot.isInitramfsInit { EarlyBoot.run() }
BootTrace.mark("main")
let options = InitOptions.parse(CommandLine.arguments)
fb_ignore_sigpipe()
if options.pid1Duties {
    Setup.earlyMounts()
    Setup.ensureStdio()
    _ = fb_disable_ctrl_alt_del()
    BootTrace.mark("mounts")
} else {
    _ = fb_set_child_subreaper()
}

let supervisor: Supervisor
do {
    let spec: ChannelSpec
    if let fd = options.channelFD {
        spec = .fd(fd)
    } else {
        spec = try ChannelSpec.from(cmdline: KernelCmdline.parse(Posix.readText("/proc/cmdline") ?? ""))
    }
    let fd = try Channel.open(spec)
    BootTrace.mark("channel")
    supervisor = try Supervisor(channelFD: fd, channelName: spec.description, options: options)
} catch {
    log("cannot open the host channel: \(error)")
    Setup.finish(options: options, code: 1)
}
supervisor.run()
