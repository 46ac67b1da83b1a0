import ArgumentParser
import FirebuildCore
import Foundation
import Store

/// Parses repeated `key=value` flags.
func keyValues(_ items: [String], flag: String) throws -> [String: String] {
    var out: [String: String] = [:]
    for item in items {
        guard let eq = item.firstIndex(of: "="), eq != item.startIndex else {
            throw ValidationError("\(flag) \"\(item)\" must be key=value")
        }
        out[String(item[..<eq])] = String(item[item.index(after: eq)...])
    }
    return out
}

func requireProfileName(_ global: GlobalOptions) throws -> String {
    guard let name = global.profile, !name.isEmpty else { throw ValidationError("--profile NAME is required") }
    return name
}

struct ProfileCreate: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "profile-create", abstract: "Create or overwrite a profile.", discussion: "EXAMPLES:\n  firebuild profile-create --profile standard --run-cache /var/lib/firebuild --storage-provider directory --storage-provider-property-string rootfs-storage-root=/firecracker/rootfs")
    @OptionGroup var global: GlobalOptions

    @Option(name: .customLong("binary-firecracker"), help: "Firecracker binary.") var binaryFirecracker: String?
    @Option(name: .customLong("binary-jailer"), help: "Jailer binary.") var binaryJailer: String?
    @Option(name: .customLong("chroot-base"), help: "Jailer chroot base (at most 31 characters).") var chrootBase: String?
    @Option(name: .customLong("run-cache"), help: "Run cache directory.") var runCache: String?
    @Option(name: .customLong("storage-provider"), help: "Storage provider (directory).") var storageProvider: String?
    @Option(name: .customLong("storage-provider-property-string"),
            help: "Storage property key=value (rootfs-storage-root, kernel-storage-root, content-storage-root); repeatable.")
    var propertyStrings: [String] = []
    @Option(name: .customLong("storage-provider-property-int64"), help: "Integer storage property key=value; repeatable.")
    var propertyInts: [String] = []
    @Option(name: .customLong("vmm"), help: "Default VMM: qemu or firecracker.") var vmm: String?
    @Option(name: .customLong("mem"), help: "Default guest memory in MiB.") var mem: Int?
    @Option(name: .customLong("cpu"), help: "Default vCPU count.") var cpu: Int?
    @Option(name: .customLong("vmlinux-id"), help: "Default kernel id in kernel storage.") var vmlinuxID: String?
    @Option(name: .customLong("cni-network-name"), help: "Default CNI network.") var cniNetworkName: String?
    @Option(name: .customLong("headroom"), help: "Default rootfs headroom: MiB or percent.") var headroom: String?
    @Flag(name: .customLong("overwrite"), help: "Replace an existing profile.") var overwrite = false

    func validate() throws { _ = try requireProfileName(global) }

    func makeProfile() throws -> Profile {
        var ints: [String: Int64] = [:]
        for (k, v) in try keyValues(propertyInts, flag: "--storage-provider-property-int64") {
            guard let n = Int64(v) else { throw ValidationError("--storage-provider-property-int64 \(k)=\(v): \(v) is not an integer") }
            ints[k] = n
        }
        let strings = try keyValues(propertyStrings, flag: "--storage-provider-property-string")
        return Profile(binaryFirecracker: binaryFirecracker.map(absolutePath), binaryJailer: binaryJailer.map(absolutePath),
                       chrootBase: chrootBase, runCache: runCache.map(absolutePath), storageProvider: storageProvider,
                       storageStrings: strings.isEmpty ? nil : strings, storageInt64: ints.isEmpty ? nil : ints,
                       // The tracing flags are the global ones: given to profile-create, they are stored.
                       tracingEnable: global.tracingEnable ? true : nil, tracingCollectorHostPort: global.tracingCollectorHostPort,
                       tracingLogEnable: global.tracingLogEnable ? true : nil, vmm: vmm, mem: mem, cpu: cpu, vmlinuxID: vmlinuxID,
                       cniNetworkName: cniNetworkName, headroom: headroom)
    }

    func run() throws {
        try global.apply()
        let name = try requireProfileName(global)
        try ProfileStore(directory: absolutePath(global.profileConfDir)).create(name, try makeProfile(), overwrite: overwrite)
        print(name.lowercased())
    }
}

struct ProfileInspect: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "profile-inspect", abstract: "Print a profile as JSON.", discussion: "EXAMPLES:\n  firebuild profile-inspect --profile standard")
    @OptionGroup var global: GlobalOptions
    @Flag(name: .customLong("resolved"), help: "Print every effective setting and where it comes from (flag, profile, default).")
    var resolved = false

    func validate() throws { _ = try requireProfileName(global) }

    func run() throws {
        try global.apply()
        let name = try requireProfileName(global)
        let profile = try ProfileStore(directory: absolutePath(global.profileConfDir)).read(name)
        if resolved {
            print(ProfileInspect.describe(try ProfileResolver(profile: profile).resolve()))
            return
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(profile), as: UTF8.self))
    }

    static func describe(_ r: ResolvedSettings) -> String {
        func line<T>(_ name: String, _ s: Setting<T>) -> String { "\(name)=\(s.value) (\(s.source.rawValue))" }
        func opt(_ name: String, _ s: Setting<String?>) -> String { "\(name)=\(s.value ?? "") (\(s.source.rawValue))" }
        return [
            opt("binary-firecracker", r.binaryFirecracker), opt("binary-jailer", r.binaryJailer), line("chroot-base", r.chrootBase),
            line("run-cache", r.runCache), "storage-provider=\(r.storage.provider)",
            "rootfs-storage-root=\(r.storage.rootfsRoot)", "kernel-storage-root=\(r.storage.kernelRoot)",
            "content-storage-root=\(r.storage.contentRoot)", line("tracing-enable", r.tracingEnable),
            line("tracing-collector-host-port", r.tracingCollectorHostPort), line("tracing-log-enable", r.tracingLogEnable),
            line("vmm", r.vmm), line("mem", r.mem), line("cpu", r.cpu), opt("vmlinux-id", r.vmlinuxID),
            opt("cni-network-name", r.cniNetworkName), line("headroom", r.headroom),
        ].joined(separator: "\n")
    }
}

struct ProfileList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "profile-ls", abstract: "List profiles.", discussion: "EXAMPLES:\n  firebuild profile-ls")
    @OptionGroup var global: GlobalOptions

    func run() throws {
        try global.apply()
        for entry in ProfileStore(directory: absolutePath(global.profileConfDir)).list() { print(entry.name) }
    }
}

struct ProfileRemove: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "profile-rm", abstract: "Remove a profile.", discussion: "EXAMPLES:\n  firebuild profile-rm --profile standard")
    @OptionGroup var global: GlobalOptions

    func validate() throws { _ = try requireProfileName(global) }

    func run() throws {
        try global.apply()
        let name = try requireProfileName(global)
        try ProfileStore(directory: absolutePath(global.profileConfDir)).remove(name)
        print(name.lowercased())
    }
}
