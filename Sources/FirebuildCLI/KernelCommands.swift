import ArgumentParser
import FirebuildCore
import Foundation
import Store
import VM

/// `firebuild kernel …`: import, list, inspect, remove kernels; build initrds and kernels.
struct KernelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernel",
        abstract: "Manage guest kernels: import, ls, inspect, rm, initrd, build.",
        subcommands: [KernelImportCommand.self, KernelListCommand.self, KernelInspectCommand.self, KernelRemoveCommand.self,
                      KernelInitrdCommand.self, KernelBuildCommand.self]
    )
}

/// The kernel storage root flag, named as the original tool named it.
struct KernelStorageOptions: ParsableArguments {
    @Option(name: .customLong("storage-provider.directory.kernel-storage-root"),
            help: "Directory holding kernels (default: $FIREBUILD_HOME/kernels or /var/lib/firebuild/kernels).")
    var kernelStorageRoot: String?

    var store: KernelStore { KernelStore(root: kernelStorageRoot) }
}

/// Errors leave as one line on stderr and the error's exit status, not a Swift dump.
func runReportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as FirebuildError {
        FileHandle.standardError.write(Data("firebuild: \(error.description)\n".utf8))
        throw ExitCode(error.exitCode)
    }
}

struct KernelRecordView: Encodable {
    var id: String
    var version: String?
    var source: String?
    var vmlinux: String
    var vmlinuxSize: Int64
    var vmlinuxDigest: String?
    var bzImage: String?
    var initrd: String?
    var initrdSize: Int64?
    var initrdSource: String?
    var createdAt: String

    init(_ k: StoredKernel) {
        id = k.record.id
        version = k.record.version
        source = k.record.source
        vmlinux = k.vmlinuxPath
        vmlinuxSize = k.record.vmlinuxSize
        vmlinuxDigest = k.record.vmlinuxDigest?.description
        bzImage = k.bzImagePath
        initrd = k.initrdPath
        initrdSize = k.record.initrdSize
        initrdSource = k.record.initrdSource
        createdAt = ISO8601DateFormatter().string(from: k.record.createdAt)
    }

    static func json<T: Encodable>(_ value: T) throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try e.encode(value), as: UTF8.self)
    }
}

struct KernelImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import a kernel (bzImage or ELF vmlinux); a bzImage is also unpacked to the ELF Firecracker needs.", discussion: "EXAMPLES:\n  firebuild kernel import --id cloud --path /boot/vmlinuz-6.1.0-57-cloud-amd64\n  firebuild kernel import --id fc --path ./vmlinux")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var storage: KernelStorageOptions
    @Option(help: "Kernel id (letters, digits, . _ -).") var id: String
    @Option(help: "Kernel image: a bzImage such as /boot/vmlinuz-… or an ELF vmlinux.") var path: String
    @Option(help: "An initrd to store with the kernel.") var initrd: String?
    @Flag(help: "Replace a kernel with the same id.") var replace = false

    func run() throws {
        try global.apply()
        try runReportingErrors {
            let k = try KernelImporter(store: storage.store).import(id: id, path: path, initrd: initrd, replace: replace)
            print("imported kernel \(k.record.id) (\(k.record.version ?? "unknown version"), vmlinux \(k.record.vmlinuxSize) bytes)")
        }
    }
}

struct KernelListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List stored kernels.", discussion: "EXAMPLES:\n  firebuild kernel ls\n  firebuild kernel ls --json")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var storage: KernelStorageOptions
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        try global.apply()
        try runReportingErrors {
            let kernels = try storage.store.list()
            if json {
                print(try KernelRecordView.json(kernels.map(KernelRecordView.init)))
                return
            }
            let rows = kernels.map { k in
                [k.record.id, k.record.version ?? "-", String(k.record.vmlinuxSize), k.bzImagePath == nil ? "no" : "yes",
                 k.initrdPath == nil ? "no" : "yes"]
            }
            let header = ["ID", "VERSION", "VMLINUX BYTES", "BZIMAGE", "INITRD"]
            let widths = header.indices.map { i in ([header] + rows).map { $0[i].count }.max() ?? 0 }
            for row in [header] + rows {
                print(row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }
                    .joined(separator: "  ").trimmingCharacters(in: .whitespaces))
            }
        }
    }
}

struct KernelInspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Show a kernel's metadata as JSON.", discussion: "EXAMPLES:\n  firebuild kernel inspect cloud")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var storage: KernelStorageOptions
    @Argument(help: "Kernel id.") var id: String

    func run() throws {
        try global.apply()
        try runReportingErrors {
            print(try KernelRecordView.json(KernelRecordView(try storage.store.get(id))))
        }
    }
}

struct KernelRemoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove a stored kernel.", discussion: "EXAMPLES:\n  firebuild kernel rm cloud")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var storage: KernelStorageOptions
    @Argument(help: "Kernel id.") var id: String

    func run() throws {
        try global.apply()
        try runReportingErrors {
            try storage.store.remove(id)
            print("removed kernel \(id)")
        }
    }
}

struct KernelInitrdCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "initrd",
        abstract: "Build a small initrd (busybox + virtio modules) for a stored kernel and store it with the kernel.", discussion: "EXAMPLES:\n  firebuild kernel initrd --from-kernel cloud")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var storage: KernelStorageOptions
    @Option(name: .customLong("from-kernel"), help: "Id of the stored kernel.") var fromKernel: String
    @Option(name: .customLong("modules-dir"), help: "The kernel's modules (default /lib/modules/<version from the image>).")
    var modulesDir: String?
    @Option(help: "Static busybox to put in the initrd.") var busybox: String = "/bin/busybox"

    func run() throws {
        try global.apply()
        try runReportingErrors {
            let (k, mods) = try InitrdBuilder.buildAndStore(kernelID: fromKernel, store: storage.store, modulesDirectory: modulesDir,
                                                            busyboxPath: busybox)
            print("built initrd for \(fromKernel): \(k.record.initrdSize ?? 0) bytes, modules: \(mods.map(\.name).joined(separator: " "))")
        }
    }
}

struct KernelBuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Build a vmlinux from Linux sources (a directory or git-URL#ref) with a config file, and store it.", discussion: "EXAMPLES:\n  firebuild kernel build --source ~/src/linux --config baseos/kernel/microvm-6.1.config --id microvm-6.1")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var storage: KernelStorageOptions
    @Option(help: "Linux source tree directory, or git URL with optional #branch/tag/commit.") var source: String
    @Option(help: "Kernel .config to start from (e.g. baseos/kernel/microvm-6.1.config).") var config: String
    @Option(help: "Kernel id to store the result as.") var id: String
    @Option(help: "Parallel make jobs.") var jobs: Int = 2
    @Option(name: .customLong("work-dir"), help: "Where git sources are cloned (default $FIREBUILD_HOME/builds).") var workDir: String?
    @Flag(help: "Replace a kernel with the same id.") var replace = false

    func run() throws {
        try global.apply()
        try runReportingErrors {
            let builder = KernelBuilder(source: try .init(parsing: source), configFile: config, jobs: jobs,
                                        workDirectory: workDir ?? FirebuildPaths().buildsDir)
            let k = try builder.build(id: id, store: storage.store, replace: replace)
            print("built kernel \(k.record.id) (\(k.record.version ?? "unknown version"), vmlinux \(k.record.vmlinuxSize) bytes)")
        }
    }
}
