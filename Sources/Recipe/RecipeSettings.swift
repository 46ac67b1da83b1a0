import FirebuildCore
import Foundation
import LuaRuntime

/// Where a recipe's bindings keep and find everything: the same settings the CLI takes as flags
/// (`--run-cache`, `--storage-provider.directory.*-storage-root`, `--cni-*`), set from the recipe with
/// `firebuild.settings{…}`. Defaults come from `$FIREBUILD_HOME` (or /var/lib/firebuild) and the
/// CNI defaults. `home` moves every path at once; a path given explicitly wins over `home`.
public struct RecipeSettings: Equatable, Sendable {
    public var home: String
    public var runCache: String?
    public var rootfsStorageRoot: String?
    public var kernelStorageRoot: String?
    public var cniConfDir: String
    public var cniBinDirs: [String]
    public var cniCacheDir: String
    /// The namespace standing in for the host: CNI plugins, iptables and host-side connections
    /// (`vm:wait_port`, `firebuild.http.get`) run inside it. nil = the real host namespace.
    public var hostNetns: String?
    public var vmm: String
    public var guestInit: String?
    public var profileConfDir: String

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        home = environment["FIREBUILD_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? "/var/lib/firebuild"
        cniConfDir = FirebuildPaths.defaultCNIConfDir
        cniBinDirs = Self.defaultCNIBinDirs()
        cniCacheDir = FirebuildPaths.defaultCNICacheDir
        vmm = "qemu"
        profileConfDir = FirebuildPaths.defaultProfileConfDir
    }

    public var paths: FirebuildPaths { FirebuildPaths(home: home) }
    public var effectiveRunCache: String { runCache ?? paths.runCache }
    public var effectiveRootfsRoot: String { rootfsStorageRoot ?? paths.rootfsStorageRoot }
    public var effectiveKernelRoot: String { kernelStorageRoot ?? paths.kernelStorageRoot }
    /// Recipe bookkeeping (inputs of tags built by recipes, for reuse on re-runs).
    public var recipeStateDir: String { effectiveRunCache + "/recipes" }
    public var locksDir: String { effectiveRunCache + "/locks" }

    /// The CNI defaults plus the directory of the running executable, where `tc-redirect-tap` is
    /// built or installed beside `firebuild`.
    static func defaultCNIBinDirs() -> [String] {
        var dirs = FirebuildPaths.defaultCNIBinDirs
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            let dir = (exe as NSString).deletingLastPathComponent
            if !dirs.contains(dir) { dirs.append(dir) }
        }
        return dirs
    }

    /// Option names of `firebuild.settings{…}`.
    public static let optionKeys = [
        "home", "run_cache", "rootfs_storage_root", "kernel_storage_root", "cni_conf_dir", "cni_bin_dir", "cni_cache_dir",
        "host_netns", "vmm", "guest_init", "profile_conf_dir",
    ]

    /// Applies `firebuild.settings{…}` options. `host_netns = false` goes back to the host namespace.
    public mutating func apply(_ o: OptionTable, resolve: (String) -> String) throws {
        if let v = try o.string("home") {
            home = resolve(v)
            // A new home moves the CNI conf and cache dirs too, unless given: a private home
            // (tests, the demo) must not write into /etc/cni or /var/lib/cni.
            if !o.has("cni_conf_dir") { cniConfDir = home + "/cni/conf.d" }
            if !o.has("cni_cache_dir") { cniCacheDir = home + "/cni/cache" }
        }
        if let v = try o.string("run_cache") { runCache = resolve(v) }
        if let v = try o.string("rootfs_storage_root") { rootfsStorageRoot = resolve(v) }
        if let v = try o.string("kernel_storage_root") { kernelStorageRoot = resolve(v) }
        if let v = try o.string("cni_conf_dir") { cniConfDir = resolve(v) }
        if let v = try o.stringList("cni_bin_dir") { cniBinDirs = v.map(resolve) + Self.defaultCNIBinDirs().filter { !v.contains($0) } }
        if let v = try o.string("cni_cache_dir") { cniCacheDir = resolve(v) }
        if case .boolean(false) = o["host_netns"] {
            hostNetns = nil
        } else if let v = try o.string("host_netns") {
            hostNetns = v.isEmpty ? nil : v
        }
        if let v = try o.choice("vmm", ["qemu", "firecracker"]) { vmm = v }
        if let v = try o.string("guest_init") { guestInit = resolve(v) }
        if let v = try o.string("profile_conf_dir") { profileConfDir = resolve(v) }
        for (name, path) in [("home", home), ("run_cache", effectiveRunCache)] where path == "/" || path.isEmpty {
            throw FirebuildError(.invalidArgument, "firebuild.settings: \(name) must not be \"\(path)\"")
        }
    }

    /// The settings as a Lua table (what `firebuild.settings()` returns).
    public var luaTable: LuaTable {
        var t = LuaTable()
        t["home"] = .string(home)
        t["run_cache"] = .string(effectiveRunCache)
        t["rootfs_storage_root"] = .string(effectiveRootfsRoot)
        t["kernel_storage_root"] = .string(effectiveKernelRoot)
        t["cni_conf_dir"] = .string(cniConfDir)
        t["cni_bin_dir"] = LuaValue(cniBinDirs)
        t["cni_cache_dir"] = .string(cniCacheDir)
        t["vmm"] = .string(vmm)
        t["profile_conf_dir"] = .string(profileConfDir)
        if let hostNetns { t["host_netns"] = .string(hostNetns) }
        if let guestInit { t["guest_init"] = .string(guestInit) }
        return t
    }
}
