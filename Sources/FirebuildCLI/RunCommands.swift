import ArgumentParser
import FirebuildCore
import Foundation
import Guest
import Runtime
import Store
import VM

/// Flags every VM lifecycle command shares: where the run cache, stores and CNI live.
struct RuntimeOptions: ParsableArguments {
    @Option(name: .customLong("run-cache"), help: "Run cache directory (runs/, builds/).")
    var runCache: String?

    @OptionGroup var storage: StorageOptions

    @Option(name: .customLong("cni-conf-dir"), help: "CNI network configurations.")
    var cniConfDir: String = FirebuildPaths.defaultCNIConfDir

    @Option(name: .customLong("cni-bin-dir"), help: "CNI plugin directory (repeatable; default /opt/cni/bin then /usr/lib/cni).")
    var cniBinDir: [String] = []

    @Option(name: .customLong("cni-cache-dir"), help: "CNI result cache.")
    var cniCacheDir: String = FirebuildPaths.defaultCNICacheDir

    @Option(name: .customLong("cni-host-netns"),
            help: "Run CNI plugins and iptables inside this network namespace instead of the host's (sandboxes, tests).")
    var cniHostNetns: String?

    @Option(name: .customLong("vmm"), help: "VMM to use: qemu or firecracker.")
    var vmm: String?

    func settings(_ global: GlobalOptions) throws -> RunSettings {
        var overrides = SettingOverrides()
        overrides.vmm = vmm
        overrides.runCache = runCache.map(absolutePath)
        let resolved = try global.resolveSettings(overrides)
        let cacheRoot = resolved.runCache.value
        guard !cacheRoot.isEmpty, cacheRoot != "/" else {
            throw FirebuildError(.invalidArgument, "--run-cache must not be empty or /")
        }
        // The run cache holds runs/ and builds/; FIREBUILD_HOME-style paths hang off it.
        let paths = FirebuildPaths(home: cacheRoot)
        let kind = try VMMSelection.kind(named: resolved.vmm.value, firecrackerConfigured: false)
        let storageConfig = try global.resolveStorage(storage)
        return RunSettings(paths: paths, rootfsStorageRoot: storageConfig.rootfsRoot, kernelStorageRoot: storageConfig.kernelRoot,
                           cniConfDir: cniConfDir, cniBinDirs: cniBinDir.isEmpty ? FirebuildPaths.defaultCNIBinDirs : cniBinDir,
                           cniCacheDir: cniCacheDir, hostNamespace: cniHostNetns, vmm: kind)
    }
}

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run a microVM from a stored root filesystem.",
        discussion: """
        The VM boots from a copy-on-write overlay of the image; firebuild-init starts the image's
        ENTRYPOINT/CMD as its USER in its WORKDIR. Arguments after -- replace CMD.

        EXAMPLES:
          firebuild run --from _/busybox:1 --vmlinux-id cloud -- echo hello
          firebuild run --from app/web:1 --name web1 --cni-network-name machines --port 8080:80 --daemonize
          firebuild run --from app/web:1 --env-file prod.env --env MODE=prod --ssh-user debian --identity-file ~/.ssh/id_ed25519.pub
        """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var runtime: RuntimeOptions

    @Option(help: "Image tag to run (org/name:version).") var from: String
    @Option(help: "VM name and id: up to 20 letters and digits.") var name: String?
    @Option(help: "Guest host name (random when absent).") var hostname: String?
    @Option(help: "Environment variable KEY=value (repeatable; applied after env files).") var env: [String] = []
    @Option(name: .customLong("env-file"), help: "File of KEY=value lines (repeatable, in order).") var envFile: [String] = []
    @Option(name: .customLong("ssh-user"), help: "User whose authorized_keys get the identity files.") var sshUser: String?
    @Option(name: .customLong("identity-file"), help: "SSH public key file (repeatable).") var identityFile: [String] = []
    @Flag(help: "Return once the guest is ready and leave the VM running.") var daemonize = false
    @Option(help: "Memory in MiB.") var mem: Int = 128
    @Option(help: "Number of vCPUs.") var cpu: Int = 1
    @Option(name: .customLong("cni-network-name"), help: "CNI network to attach the VM to.") var cniNetworkName: String?
    @Option(name: .customLong("vmlinux-id"), help: "Stored kernel to boot (default: the only one stored).") var vmlinuxID: String?
    @Option(name: .customLong("kernel-args"), help: "Kernel command line.") var kernelArgs: String?
    @Option(name: .customLong("ip-address"), help: "Fixed guest address from the network's host-local range.") var ipAddress: String?
    @Option(help: "Publish [iface:][host-port:]dest-port[/tcp|/udp] (repeatable).") var port: [String] = []
    @Option(help: "Init to boot: firebuild (default) or image (the image's own /sbin/init).") var `init`: String = "firebuild"
    @Option(name: .customLong("shutdown-timeout"), help: "Seconds a graceful stop may take before it is forced.") var shutdownTimeout: Double = 15
    @Argument(parsing: .postTerminator, help: "Command replacing the image's CMD.") var command: [String] = []

    func run() throws {
        try global.apply()
        guard ["firebuild", "image"].contains(`init`) else {
            throw FirebuildError(.invalidArgument, "--init must be firebuild or image")
        }
        var req = RunRequest(from: from)
        req.name = name; req.hostname = hostname; req.env = env; req.envFiles = envFile; req.sshUser = sshUser
        req.identityFiles = identityFile; req.daemonize = daemonize; req.memMiB = mem; req.cpus = cpu
        req.cniNetworkName = cniNetworkName; req.vmlinuxID = vmlinuxID; req.kernelArgs = kernelArgs; req.ipAddress = ipAddress
        req.ports = port; req.command = command.isEmpty ? nil : command; req.initImage = `init` == "image"
        req.shutdownTimeout = shutdownTimeout
        let engine = RunEngine(settings: try runtime.settings(global))
        let code = try engine.run(req) { stream, bytes in
            (stream == .stderr ? FileHandle.standardError : FileHandle.standardOutput).write(Data(bytes))
        }
        if daemonize {
            print(req.name ?? "")
        }
        if code != 0 { throw ExitCode(code) }
    }
}

struct LsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls", abstract: "List VMs.",
        discussion: "EXAMPLES:\n  firebuild ls\n  firebuild ls --json | jq -r '.[].IP'")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var runtime: RuntimeOptions
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        try global.apply()
        let rows = RunEngine(settings: try runtime.settings(global)).list()
        if json {
            print(try Output.json(rows))
            return
        }
        let table = [["ID", "RUNNING", "PID", "IMAGE", "IP", "STARTED"]] + rows.map { r in
            [r.id, r.running ? "yes" : "no", r.pid.map(String.init) ?? "-", r.image ?? "-", r.ip ?? "-",
             r.startedAtUTC.map { Output.date(TimeInterval($0)) } ?? "-"]
        }
        print(Output.table(table), terminator: "")
    }
}

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect", abstract: "Print a VM's run metadata as JSON.",
        discussion: "EXAMPLES:\n  firebuild inspect --vmm-id web1 | jq -r '.NetworkInterfaces[0].StaticConfiguration.IPConfiguration.IP'")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var runtime: RuntimeOptions
    @Option(name: .customLong("vmm-id"), help: "VM id.") var vmmID: String

    func run() throws {
        try global.apply()
        print(try Output.json(RunEngine(settings: try runtime.settings(global)).inspect(id: vmmID)))
    }
}

struct LogsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs", abstract: "Print a VM's console and workload output.",
        discussion: "EXAMPLES:\n  firebuild logs web1")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var runtime: RuntimeOptions
    @Argument(help: "VM id.") var id: String

    func run() throws {
        try global.apply()
        print(try RunEngine(settings: try runtime.settings(global)).logs(id: id), terminator: "")
    }
}

struct ExecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec", abstract: "Run a command in a running VM.",
        discussion: "EXAMPLES:\n  firebuild exec web1 -- cat /etc/os-release\n  firebuild exec web1 --user nobody -- id")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var runtime: RuntimeOptions
    @Option(help: "User to run as.") var user: String?
    @Option(help: "Working directory.") var workdir: String?
    @Option(help: "Environment variable KEY=value (repeatable).") var env: [String] = []
    @Argument(help: "VM id.") var id: String
    @Argument(parsing: .postTerminator, help: "Command.") var command: [String] = []

    func run() throws {
        try global.apply()
        let status = try RunEngine(settings: try runtime.settings(global)).exec(
            id: id, argv: command, env: env, user: user, workdir: workdir) { stream, bytes in
            (stream == .stderr ? FileHandle.standardError : FileHandle.standardOutput).write(Data(bytes))
        }
        if status.exitCode != 0 { throw ExitCode(status.exitCode) }
    }
}

struct KillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kill", abstract: "Stop a VM and remove everything it used.",
        discussion: "Stops gracefully (the image's STOPSIGNAL) within --shutdown-timeout, then forces.\n\nEXAMPLES:\n  firebuild kill --vmm-id web1\n  firebuild kill --vmm-id web1 --shutdown-timeout 5")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var runtime: RuntimeOptions
    @Option(name: .customLong("vmm-id"), help: "VM id.") var vmmID: String
    @Option(name: .customLong("shutdown-timeout"), help: "Seconds before the stop is forced.") var shutdownTimeout: Double = 15

    func run() throws {
        try global.apply()
        try RunEngine(settings: try runtime.settings(global)).kill(id: vmmID, timeout: shutdownTimeout)
    }
}

struct PurgeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "purge", abstract: "Remove every remnant of stopped VMs and killed builds.",
        discussion: "Namespaces, CNI state, iptables rules, jails and run-cache entries of VMs that no longer run, and the VMM processes and networks of builds that were killed (a running build holds its lease and is left alone).\n\nEXAMPLES:\n  firebuild purge")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var runtime: RuntimeOptions

    func run() throws {
        try global.apply()
        for id in try RunEngine(settings: try runtime.settings(global)).purge() { print("purged \(id)") }
    }
}
