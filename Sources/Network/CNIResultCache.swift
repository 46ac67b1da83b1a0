import FirebuildCore
import Foundation

/// The ADD results the runner keeps so CHECK and DEL get `prevResult` (and the config that was
/// used), one file per network+container+interface under `<cache-dir>/results/`, in libcni's
/// `cniCacheV1` shape so tools that read libcni caches understand it.
public struct CNIResultCache: Sendable {
    public var dir: String

    public init(dir: String) {
        self.dir = dir
    }

    public struct Entry: Sendable {
        public var containerId: String
        public var ifName: String
        public var networkName: String
        /// The config list bytes (base64 in the file).
        public var config: Data
        public var cniArgs: [[String]]
        /// The final ADD result, kept as raw JSON so it is replayed as the plugin printed it.
        public var rawResult: Data

        func encoded() throws -> Data {
            var obj: [String: Any] = ["kind": "cniCacheV1", "containerId": containerId, "ifName": ifName,
                                      "networkName": networkName, "config": config.base64EncodedString(),
                                      "result": try JSONSerialization.jsonObject(with: rawResult)]
            if !cniArgs.isEmpty { obj["cniArgs"] = cniArgs }
            return try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        }

        static func decode(_ data: Data) -> Entry? {
            guard let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  obj["kind"] as? String == "cniCacheV1",
                  let cid = obj["containerId"] as? String, let ifName = obj["ifName"] as? String,
                  let net = obj["networkName"] as? String,
                  let configText = obj["config"] as? String, let config = Data(base64Encoded: configText),
                  let result = obj["result"] as? [String: Any],
                  let raw = try? JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]) else { return nil }
            return Entry(containerId: cid, ifName: ifName, networkName: net, config: config,
                         cniArgs: obj["cniArgs"] as? [[String]] ?? [], rawResult: raw)
        }

        public func configList() throws -> CNINetworkConfigList {
            try CNINetworkConfigList(data: config, source: "cached config of \(containerId)")
        }
    }

    public func path(network: String, containerID: String, ifName: String) throws -> String {
        for part in [network, containerID, ifName] where part.isEmpty || part.contains("/") || part == ".." {
            throw FirebuildError(.invalidArgument, "invalid CNI cache key part \"\(part)\": must be non-empty without '/'")
        }
        return "\(dir)/results/\(network)-\(containerID)-\(ifName)"
    }

    func store(list: CNINetworkConfigList, attachment: CNIAttachment, rawResult: Data) throws {
        let entry = Entry(containerId: attachment.containerID, ifName: attachment.ifName, networkName: list.name,
                          config: list.rawBytes, cniArgs: attachment.args.map { [$0.key, $0.value] }, rawResult: rawResult)
        let p = try path(network: list.name, containerID: attachment.containerID, ifName: attachment.ifName)
        try AtomicFile.write(try entry.encoded(), to: p, mode: 0o600)
    }

    public func load(network: String, containerID: String, ifName: String) throws -> Entry? {
        let p = try path(network: network, containerID: containerID, ifName: ifName)
        guard let data = FileManager.default.contents(atPath: p) else { return nil }
        guard let entry = Entry.decode(data) else {
            throw FirebuildError(.parse, "corrupt CNI cache file \(p); remove it and clean up the VM's netns by hand")
        }
        return entry
    }

    public func remove(network: String, containerID: String, ifName: String) throws {
        let p = try path(network: network, containerID: containerID, ifName: ifName)
        if unlink(p) != 0 && errno != ENOENT { throw FirebuildError.posix("remove", path: p) }
    }
}
