import FirebuildCore
import FirebuildTestSupport
import Foundation
import Networking
import RootFS
import Store
import VM
@testable import Runtime

/// What a real VM run needs; when something is missing the tests skip and say what.
enum RunEnv {
    static let packageRoot = TestHost.packageRoot

    static var cloudKernel: String? { TestHost.cloudKernel }

    static var staticInit: String? { TestHost.staticInit }

    static var tapPluginDir: String? { TestHost.tapPluginDir }

    static var missing: String? {
        if geteuid() != 0 { return "needs root" }
        for tool in ["qemu-system-x86_64", "qemu-img", "mkfs.ext4", "ip", "iptables", "busybox", "curl"] where Command.which(tool) == nil {
            return "needs \(tool) (make deps)"
        }
        if cloudKernel == nil { return "needs the Debian cloud kernel: apt-get install linux-image-cloud-amd64" }
        if staticInit == nil { return "needs the static guest init: make init" }
        if tapPluginDir == nil { return "needs the built tc-redirect-tap" }
        if !FileManager.default.isExecutableFile(atPath: "/usr/lib/cni/bridge") { return "needs containernetworking-plugins" }
        return nil
    }

    static var available: Bool {
        if let why = missing {
            print("skipping VM run tests: \(why)")
            return false
        }
        return true
    }
}

/// A private firebuild home (short path: sockets live under it), a stored busybox image, the
/// cloud kernel with its initrd, and a sandbox "host" namespace with a CNI network in it.
final class RunFixture {
    let id = String(UInt32.random(in: 0...UInt32.max), radix: 16)
    let home: String
    let sandbox: NetworkNamespace
    let subnet = "10.\(Int.random(in: 200...249)).\(Int.random(in: 1...250))"
    let network = "fbtnet"
    let settings: RunSettings
    var engine: RunEngine { RunEngine(settings: settings) }

    init() throws {
        home = "/tmp/fbr-\(id)"
        try FileManager.default.createDirectory(atPath: home + "/conf", withIntermediateDirectories: true)
        sandbox = try NetworkNamespace.create("fbt-r\(id)")
        var s = RunSettings(paths: FirebuildPaths(home: home), cniConfDir: home + "/conf",
                            cniBinDirs: TestHost.cniBinDirs,
                            cniCacheDir: home + "/cni-cache", hostNamespace: sandbox.name, vmm: .qemu)
        s.guestInitPath = RunEnv.staticInit
        settings = s
        try writeConflist()
    }

    func tearDown() {
        _ = try? engine.purge()
        for entry in RunCache(root: settings.runCache).list() { try? engine.teardown(id: entry.id, graceful: false, timeout: 2) }
        try? sandbox.delete()
        try? FileManager.default.removeItem(atPath: home)
    }

    var gateway: String { "\(subnet).1" }

    func writeConflist() throws {
        try TestNetworkConfig(name: network, bridge: "fbtbr\(id.prefix(8))", subnetPrefix: subnet, ipamDir: home + "/ipam")
            .write(confDir: home + "/conf")
    }

    /// The Debian cloud kernel (lz4 bzImage) with firebuild's small initrd.
    func importKernel() throws {
        let store = KernelStore(root: settings.kernelStorageRoot)
        _ = try KernelImporter(store: store).import(id: "cloud", path: RunEnv.cloudKernel!, initrd: nil)
        _ = try InitrdBuilder.buildAndStore(kernelID: "cloud", store: store)
    }

    /// A busybox image whose workload is given by `config`; `files` adds paths (relative) with contents.
    /// `executables` are paths of `files` made mode 0755 (scripts).
    func storeImage(tag: String, config: ImageConfig, files: [String: String] = [:], users: [String] = [],
                    executables: [String] = []) throws {
        let tree = home + "/tree-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: tree) }
        for d in ["bin", "sbin", "etc", "proc", "sys", "dev", "run", "tmp", "www", "root"] {
            try FileManager.default.createDirectory(atPath: "\(tree)/\(d)", withIntermediateDirectories: true)
        }
        try FileManager.default.copyItem(atPath: Command.which("busybox")!, toPath: tree + "/bin/busybox")
        for applet in ["sh", "echo", "cat", "sleep", "httpd", "id", "ls", "wget", "trap", "kill", "ip", "ifconfig", "route"] {
            try? FileManager.default.createSymbolicLink(atPath: "\(tree)/bin/\(applet)", withDestinationPath: "busybox")
        }
        var passwd = "root:x:0:0:root:/root:/bin/sh\n"
        var group = "root:x:0:\n"
        for (i, u) in users.enumerated() {
            passwd += "\(u):x:\(1000 + i):\(1000 + i):\(u):/home/\(u):/bin/sh\n"
            group += "\(u):x:\(1000 + i):\n"
        }
        try passwd.write(toFile: tree + "/etc/passwd", atomically: true, encoding: .utf8)
        try group.write(toFile: tree + "/etc/group", atomically: true, encoding: .utf8)
        for (path, text) in files {
            let full = "\(tree)/\(path)"
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: full, atomically: true, encoding: .utf8)
            if executables.contains(path) { try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: full) }
        }
        let image = home + "/img-\(UUID().uuidString.prefix(8)).ext4"
        _ = try Ext4Builder.build(tree: tree, image: image, options: Ext4Options(size: .headroomPercent(20)))
        let store = ImageStore(root: settings.rootfsStorageRoot)
        _ = try store.commit(rootfs: image, metadata: ImageMetadata(config: config, source: ImageOrigin(kind: .directory)),
                             as: try ImageTag(parsing: tag), move: true)
    }

    /// Runs a command inside the sandbox namespace (the "host" side of the VM network).
    func inSandbox(_ exe: String, _ args: [String], timeout: TimeInterval = 20) throws -> Command.Result {
        try sandbox.run(exe, args, timeout: timeout)
    }
}
