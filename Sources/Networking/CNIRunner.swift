import FirebuildCore
import Foundation
import Logging

/// One attachment of a sandbox (a VM) to a network: what CNI calls the runtime config.
public struct CNIAttachment: Sendable, Equatable {
    /// The VM id (`CNI_CONTAINERID`); also keys the result cache.
    public var containerID: String
    /// Path of the VM's network namespace (`CNI_NETNS`), e.g. `/var/run/netns/fb-<vmid>`.
    public var netns: String
    /// Name of the interface inside the netns (`CNI_IFNAME`).
    public var ifName: String
    /// `CNI_ARGS` pairs, e.g. `[("IP", "10.231.0.9")]` for a fixed host-local address.
    public var args: [CNIArg]
    /// `runtimeConfig` values as JSON text, passed to plugins that declare the capability
    /// (e.g. `"portMappings": "[{\"hostPort\":8080,\"containerPort\":80,\"protocol\":\"tcp\"}]"`).
    public var capabilityArgs: [String: String]

    public struct CNIArg: Sendable, Equatable, Codable {
        public var key: String
        public var value: String
        public init(_ key: String, _ value: String) {
            self.key = key
            self.value = value
        }
    }

    public init(containerID: String, netns: String, ifName: String = "eth0", args: [CNIArg] = [],
                capabilityArgs: [String: String] = [:]) {
        self.containerID = containerID
        self.netns = netns
        self.ifName = ifName
        self.args = args
        self.capabilityArgs = capabilityArgs
    }

    /// The attachment for a fixed IP (`--ip-address`): host-local reads `IP` from CNI_ARGS.
    public static func fixedIP(_ ip: String) -> CNIArg { CNIArg("IP", ip) }

    /// `CNI_ARGS` text. `IgnoreUnknown=1` goes first so plugins that do not know a key (bridge,
    /// firewall) accept it instead of failing; nil when there are no args.
    public func cniArgsString() throws -> String? {
        guard !args.isEmpty else { return nil }
        for a in args where a.key.isEmpty || a.key.contains(where: { $0 == ";" || $0 == "=" }) || a.value.contains(";") {
            throw FirebuildError(.invalidArgument, "invalid CNI argument \"\(a.key)=\(a.value)\": keys must be non-empty without ';' or '=', values without ';'")
        }
        let pairs = args.filter { $0.key != "IgnoreUnknown" }.map { "\($0.key)=\($0.value)" }
        return (["IgnoreUnknown=1"] + pairs).joined(separator: ";")
    }
}

/// Runs CNI plugin chains (spec 1.0): ADD, CHECK and DEL with `prevResult` chaining, a result cache
/// per container+network+interface, and plugin errors turned into FirebuildErrors.
///
/// `hostNamespace` is where the plugin *processes* run. In production it is nil: plugins run in
/// firebuild's own (the host's) namespace and create the bridge there. Tests set it to a sandbox
/// netns (`ip netns exec SANDBOX plugin`), so bridges, veth host ends and iptables rules land in
/// the sandbox and never touch the host.
public final class CNIRunner: @unchecked Sendable {
    public var confDir: String
    public var binDirs: [String]
    public var cacheDir: String
    /// A netns name (`ip netns exec NAME`) or path (`nsenter --net=PATH`); nil = current namespace.
    public var hostNamespace: String?
    /// Per-plugin time limit.
    public var timeout: TimeInterval = 60
    let logger = makeLogger("network")

    public init(confDir: String = FirebuildPaths.defaultCNIConfDir, binDirs: [String] = CNIRunner.defaultBinDirs,
                cacheDir: String = FirebuildPaths.defaultCNICacheDir, hostNamespace: String? = nil) {
        self.confDir = confDir
        self.binDirs = binDirs
        self.cacheDir = cacheDir
        self.hostNamespace = hostNamespace
    }

    /// `/opt/cni/bin`, `/usr/lib/cni` (Debian's containernetworking-plugins), then the folder of the
    /// running executable, where firebuild's own `tc-redirect-tap` is installed beside `firebuild`.
    public static var defaultBinDirs: [String] {
        var dirs = FirebuildPaths.defaultCNIBinDirs
        let exe = (CommandLine.arguments.first.flatMap { Command.which($0) } ?? "")
        if !exe.isEmpty {
            let resolved = (exe as NSString).resolvingSymlinksInPath
            dirs.append((resolved as NSString).deletingLastPathComponent)
        }
        return dirs
    }

    // MARK: public operations

    /// Adds the attachment to `network` (plugins in order, each getting the previous result),
    /// caches the final result and returns it. On failure the partial setup is torn down with DEL.
    @discardableResult
    public func add(network: String, attachment: CNIAttachment) throws -> CNIResult {
        let list = try CNIConfigLoader.load(network: network, from: confDir)
        return try add(list: list, attachment: attachment)
    }

    @discardableResult
    public func add(list: CNINetworkConfigList, attachment: CNIAttachment) throws -> CNIResult {
        try FirebuildTracing.span("cni.add", attributes: [FirebuildSpanKey.network: list.name,
                                                          FirebuildSpanKey.vmID: attachment.containerID]) { span in
            let result = try addTraced(list: list, attachment: attachment)
            span.attributes[FirebuildSpanKey.ip] = result.ips.map(\.address).joined(separator: ",")
            return result
        }
    }

    private func addTraced(list: CNINetworkConfigList, attachment: CNIAttachment) throws -> CNIResult {
        var prev: Data?
        for i in list.plugins.indices {
            do {
                prev = try invoke("ADD", list: list, index: i, attachment: attachment, prevResult: prev)
            } catch {
                // The spec leaves cleanup to the runtime: DEL the whole list so IPAM leases and
                // half-made devices do not leak. Plugins must tolerate DEL of what they never added.
                logger.warning("CNI ADD failed; rolling back with DEL", metadata: ["network": .string(list.name)])
                _ = try? runDelete(list: list, attachment: attachment, prevResult: prev)
                throw error
            }
        }
        guard let raw = prev else {
            throw FirebuildError(.network, "CNI network \(list.name) produced no result")
        }
        let result = try CNIResult.parse(raw, from: list.pluginTypes.last ?? "chain")
        try CNIResultCache(dir: cacheDir).store(list: list, attachment: attachment, rawResult: raw)
        return result
    }

    /// Verifies the attachment is still as ADD left it (spec ≥ 0.4.0). Needs the cached result.
    public func check(network: String, attachment: CNIAttachment) throws {
        let cache = CNIResultCache(dir: cacheDir)
        guard let entry = try cache.load(network: network, containerID: attachment.containerID, ifName: attachment.ifName) else {
            throw FirebuildError(.notFound, "no cached CNI result for \(attachment.containerID) on network \(network) (\(cacheDir)); was it added?")
        }
        let list = try entry.configList()
        if list.disableCheck { return }
        guard CNIRunner.versionAtLeast(list.cniVersion, "0.4.0") else {
            throw FirebuildError(.unsupported, "CNI CHECK needs cniVersion 0.4.0 or later; network \(network) is \(list.cniVersion)")
        }
        for i in list.plugins.indices {
            _ = try invoke("CHECK", list: list, index: i, attachment: attachment, prevResult: entry.rawResult)
        }
    }

    /// Removes the attachment (plugins in reverse order, each getting the cached ADD result) and
    /// forgets the cached result. Uses the cached config when there is one, so a changed or deleted
    /// conflist cannot strand an attachment. Every plugin is tried; the first error is thrown after.
    public func delete(network: String, attachment: CNIAttachment) throws {
        try FirebuildTracing.span("cni.del", attributes: [FirebuildSpanKey.network: network,
                                                          FirebuildSpanKey.vmID: attachment.containerID]) { span in
            if let ips = try deleteTraced(network: network, attachment: attachment) { span.attributes[FirebuildSpanKey.ip] = ips }
        }
    }

    /// Returns the addresses the attachment had (from the cached result), for the span.
    private func deleteTraced(network: String, attachment: CNIAttachment) throws -> String? {
        let cache = CNIResultCache(dir: cacheDir)
        let entry = try cache.load(network: network, containerID: attachment.containerID, ifName: attachment.ifName)
        let ips = entry.flatMap { try? CNIResult.parse($0.rawResult, from: "cache") }?.ips.map(\.address).joined(separator: ",")
        let list = try entry?.configList() ?? CNIConfigLoader.load(network: network, from: confDir)
        try runDelete(list: list, attachment: attachment, prevResult: entry?.rawResult)
        try cache.remove(network: network, containerID: attachment.containerID, ifName: attachment.ifName)
        return ips
    }

    /// The result ADD cached for this attachment, if any.
    public func cachedResult(network: String, containerID: String, ifName: String) throws -> CNIResult? {
        guard let entry = try CNIResultCache(dir: cacheDir).load(network: network, containerID: containerID, ifName: ifName) else {
            return nil
        }
        return try CNIResult.parse(entry.rawResult, from: "cache")
    }

    /// The CNI versions a plugin supports (`CNI_COMMAND=VERSION`).
    public func supportedVersions(ofPlugin type: String) throws -> [String] {
        let out = try exec(type: type, command: "VERSION", env: [:], stdin: Data("{\"cniVersion\":\"\(CNIResult.specVersion)\"}".utf8))
        guard let obj = try? JSONSerialization.jsonObject(with: out) as? [String: Any],
              let versions = obj["supportedVersions"] as? [String] else {
            throw FirebuildError(.parse, "CNI plugin \(type) printed an invalid VERSION answer: \(String(decoding: out.prefix(200), as: UTF8.self))")
        }
        return versions
    }

    /// Full path of a plugin binary, searched in `binDirs` in order.
    public func pluginPath(_ type: String) throws -> String {
        for dir in binDirs {
            let path = "\(dir)/\(type)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw FirebuildError(.notFound, "CNI plugin \"\(type)\" not found in \(binDirs.joined(separator: ":")); install containernetworking-plugins (Debian) or pass --cni-bin-dir")
    }

    // MARK: internals

    private func runDelete(list: CNINetworkConfigList, attachment: CNIAttachment, prevResult: Data?) throws {
        var firstError: Error?
        for i in list.plugins.indices.reversed() {
            do {
                _ = try invoke("DEL", list: list, index: i, attachment: attachment, prevResult: prevResult)
            } catch {
                logger.warning("CNI DEL failed", metadata: ["plugin": .string(list.pluginTypes[i]), "error": .string("\(error)")])
                if firstError == nil { firstError = error }
            }
        }
        if let firstError { throw firstError }
    }

    /// Runs one plugin of the list; returns its stdout (the result for ADD).
    private func invoke(_ command: String, list: CNINetworkConfigList, index: Int, attachment: CNIAttachment,
                        prevResult: Data?) throws -> Data {
        let type = list.pluginTypes[index]
        var conf = list.plugins[index]
        conf["name"] = list.name
        conf["cniVersion"] = list.cniVersion
        if let prevResult {
            conf["prevResult"] = try JSONSerialization.jsonObject(with: prevResult)
        }
        if let caps = conf["capabilities"] as? [String: Any] {
            var rc: [String: Any] = [:]
            for (key, value) in attachment.capabilityArgs where (caps[key] as? Bool) == true {
                rc[key] = (try? JSONSerialization.jsonObject(with: Data(value.utf8), options: [.fragmentsAllowed])) ?? value
            }
            if !rc.isEmpty { conf["runtimeConfig"] = rc }
        }
        let stdin = try JSONSerialization.data(withJSONObject: conf, options: [.sortedKeys, .withoutEscapingSlashes])
        var env = ["CNI_CONTAINERID": attachment.containerID, "CNI_NETNS": attachment.netns, "CNI_IFNAME": attachment.ifName]
        if let args = try attachment.cniArgsString() { env["CNI_ARGS"] = args }
        logger.debug("CNI \(command)", metadata: ["plugin": .string(type), "network": .string(list.name),
                                                  "container": .string(attachment.containerID)])
        let out = try exec(type: type, command: command, env: env, stdin: stdin)
        if command == "ADD" && out.isEmpty {
            throw FirebuildError(.network, "CNI plugin \(type) printed no result for ADD on network \(list.name)")
        }
        return out
    }

    private func exec(type: String, command: String, env extra: [String: String], stdin: Data) throws -> Data {
        let plugin = try pluginPath(type)
        var env = ["CNI_COMMAND": command, "CNI_PATH": binDirs.joined(separator: ":"),
                   // plugins run iptables, ip, sysctl: give them root's usual PATH
                   "PATH": ProcessInfo.processInfo.environment["PATH"].map { $0 + ":/usr/sbin:/sbin" } ?? "/usr/sbin:/usr/bin:/sbin:/bin"]
        env.merge(extra) { $1 }
        let cmd: Command
        switch hostNamespace {
        case nil:
            cmd = Command(plugin, [], environment: env, stdin: stdin, timeout: timeout)
        case let ns? where ns.contains("/"):
            cmd = Command("nsenter", ["--net=\(ns)", "--", plugin], environment: env, stdin: stdin, timeout: timeout)
        case let ns?:
            cmd = Command("ip", ["netns", "exec", ns, plugin], environment: env, stdin: stdin, timeout: timeout)
        }
        let r = try cmd.run()
        // Plugins talk on stderr (warnings, debug); keep it in the log with its source, never raw.
        for line in r.stderrString.split(separator: "\n") where !line.isEmpty {
            logger.debug("\(line)", metadata: ["source": .string(type), "cni-command": .string(command)])
        }
        if r.status == 0 { return r.stdout }
        if let err = try? JSONDecoder().decode(CNIErrorResult.self, from: r.stdout) {
            throw err.asFirebuildError(plugin: type, command: command)
        }
        let text = (r.stderrString + " " + r.stdoutString).trimmingCharacters(in: .whitespacesAndNewlines)
        throw FirebuildError(.network, "CNI plugin \(type) failed \(command) with status \(r.status)\(text.isEmpty ? "" : ": \(text)")")
    }

    /// Dotted version comparison (`1.0.0` ≥ `0.4.0`).
    static func versionAtLeast(_ v: String, _ min: String) -> Bool {
        let a = v.split(separator: ".").map { Int($0) ?? 0 }, b = min.split(separator: ".").map { Int($0) ?? 0 }
        for i in 0..<max(a.count, b.count) {
            let x = i < a.count ? a[i] : 0, y = i < b.count ? b[i] : 0
            if x != y { return x > y }
        }
        return true
    }
}
