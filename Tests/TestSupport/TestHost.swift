import Foundation

/// What the end-to-end tests of several modules look for on the machine (the Debian cloud
/// kernel, the static guest init, the built tc-redirect-tap plugin, the CNI plugins), found the
/// same way everywhere. Nothing here is a fixture file: tests build theirs at run time.
public enum TestHost {
    /// The package's root folder (this file is Tests/TestSupport/TestHost.swift).
    public static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// Where Debian's containernetworking-plugins installs the CNI plugins.
    public static let cniPluginDir = "/usr/lib/cni"

    /// The newest Debian cloud kernel (bzImage) in /boot, when installed.
    public static var cloudKernel: String? {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: "/boot")) ?? []
        return files.filter { $0.hasPrefix("vmlinuz-") && $0.hasSuffix("-cloud-amd64") }.sorted().last.map { "/boot/" + $0 }
    }

    /// The static guest init: `$FIREBUILD_INIT`, else this checkout's `make init` output.
    public static var staticInit: String? {
        let env = ProcessInfo.processInfo.environment["FIREBUILD_INIT"]
        let local = packageRoot + "/.build-static/firebuild-init-static"
        return [env, local].compactMap { $0 }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// The built `tc-redirect-tap`: next to the test bundle in the build folder.
    public static var tapPluginDir: String? { builtProduct("tc-redirect-tap").map { ($0 as NSString).deletingLastPathComponent } }

    /// The built `firebuild` executable (`make test` builds every product before the tests).
    public static var firebuildBinary: String? { builtProduct("firebuild") }

    /// A product of this package's build, found next to the running test bundle.
    public static func builtProduct(_ name: String) -> String? {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        var dir = (exe as NSString).deletingLastPathComponent
        // The xctest bundle may be a directory inside the bin folder.
        for _ in 0..<4 {
            if FileManager.default.isExecutableFile(atPath: dir + "/" + name) { return dir + "/" + name }
            dir = (dir as NSString).deletingLastPathComponent
        }
        return nil
    }

    /// The CNI plugin folders of a test network: Debian's plugins, then our tap plugin.
    public static var cniBinDirs: [String] { [cniPluginDir, tapPluginDir ?? "/nonexistent"] }

    /// Why the CNI end-to-end tests cannot run here (nil: they can).
    public static var cniMissing: String? {
        if geteuid() != 0 { return "needs root (creates network namespaces)" }
        for tool in ["ip", "tc", "iptables", "nsenter"] where which(tool) == nil {
            return "needs \(tool): apt-get install -y iproute2 iptables util-linux"
        }
        for p in ["bridge", "host-local", "firewall"] where !FileManager.default.isExecutableFile(atPath: "\(cniPluginDir)/\(p)") {
            return "needs CNI plugin \(p): apt-get install -y containernetworking-plugins"
        }
        if tapPluginDir == nil { return "needs the built tc-redirect-tap: swift build --product tc-redirect-tap" }
        return nil
    }

    public static func which(_ tool: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin"
        return path.split(separator: ":").map { "\($0)/\(tool)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

/// The CNI network every networked end-to-end test uses: bridge (host-local IPAM with a default
/// route, optionally DNS) → firewall → optionally tc-redirect-tap (VMs need it, veth tests not).
public struct TestNetworkConfig {
    public var name: String
    public var bridge: String
    /// The first three octets of the /24, e.g. "10.210.7".
    public var subnetPrefix: String
    public var ipamDir: String
    public var withTap = true
    public var dns = false
    public var hairpin = true

    public init(name: String, bridge: String, subnetPrefix: String, ipamDir: String) {
        self.name = name; self.bridge = bridge; self.subnetPrefix = subnetPrefix; self.ipamDir = ipamDir
    }

    public var gateway: String { "\(subnetPrefix).1" }

    public func conflist() throws -> Data {
        var bridgePlugin: [String: Any] = [
            "type": "bridge", "bridge": bridge, "isGateway": true, "ipMasq": false, "hairpinMode": hairpin,
            "ipam": ["type": "host-local", "dataDir": ipamDir,
                     "ranges": [[["subnet": "\(subnetPrefix).0/24", "gateway": gateway]]],
                     "routes": [["dst": "0.0.0.0/0"]]],
        ]
        if dns { bridgePlugin["dns"] = ["nameservers": [gateway]] }
        var plugins: [[String: Any]] = [bridgePlugin, ["type": "firewall", "backend": "iptables"]]
        if withTap { plugins.append(["type": "tc-redirect-tap"]) }
        let list: [String: Any] = ["cniVersion": "1.0.0", "name": name, "plugins": plugins]
        return try JSONSerialization.data(withJSONObject: list, options: [.prettyPrinted, .sortedKeys])
    }

    /// Writes `<confDir>/<file>` (default `10-<name>.conflist`).
    public func write(confDir: String, file: String? = nil) throws {
        try conflist().write(to: URL(fileURLWithPath: "\(confDir)/\(file ?? "10-\(name).conflist")"))
    }
}
