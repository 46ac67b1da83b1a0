import FirebuildCore
import Foundation

/// One CNI network configuration list (spec 1.0 `.conflist`), or a single `.conf` wrapped as a list
/// of one plugin (what libcni does too). Plugin configs stay raw JSON objects: each plugin owns its
/// own keys, and the runner only adds `name`, `cniVersion`, `prevResult` and `runtimeConfig`.
public struct CNINetworkConfigList: @unchecked Sendable {
    public var name: String
    public var cniVersion: String
    public var disableCheck: Bool
    /// Plugin configurations in chain order; each has at least a string `type`.
    public var plugins: [[String: Any]]
    /// The file it was loaded from (nil when built in memory).
    public var source: String?
    /// The exact bytes loaded, cached with results so DEL works after the file changed.
    public var rawBytes: Data

    public var pluginTypes: [String] { plugins.compactMap { $0["type"] as? String } }

    /// Parses a `.conflist` (has `plugins`) or a single plugin `.conf` (has `type`).
    public init(data: Data, source: String? = nil) throws {
        let whereText = source.map { " in \($0)" } ?? ""
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw FirebuildError(.parse, "invalid JSON\(whereText): \(error.localizedDescription)")
        }
        guard let top = object as? [String: Any] else {
            throw FirebuildError(.parse, "CNI config\(whereText) must be a JSON object")
        }
        guard let name = top["name"] as? String, !name.isEmpty else {
            throw FirebuildError(.parse, "CNI config\(whereText) has no \"name\": every network needs one")
        }
        let version = (top["cniVersion"] as? String) ?? "0.2.0"
        var plugins: [[String: Any]]
        if let list = top["plugins"] {
            guard let array = list as? [[String: Any]], !array.isEmpty else {
                throw FirebuildError(.parse, "CNI config list \"\(name)\"\(whereText): \"plugins\" must be a non-empty array of objects")
            }
            plugins = array
        } else if top["type"] is String {
            plugins = [top]  // a single .conf
        } else {
            throw FirebuildError(.parse, "CNI config \"\(name)\"\(whereText) has neither \"plugins\" nor \"type\"")
        }
        for (i, p) in plugins.enumerated() {
            guard let type = p["type"] as? String, !type.isEmpty else {
                throw FirebuildError(.parse, "CNI config list \"\(name)\"\(whereText): plugin #\(i + 1) has no \"type\"")
            }
            // A plugin type is a file name in the bin dirs; a path would escape them.
            guard !type.contains("/") else {
                throw FirebuildError(.parse, "CNI config list \"\(name)\"\(whereText): plugin type \"\(type)\" must be a bare name, not a path")
            }
        }
        self.name = name
        self.cniVersion = version
        self.disableCheck = (top["disableCheck"] as? Bool) ?? false
        self.plugins = plugins
        self.source = source
        // Store a list even for a wrapped .conf, so the cache always replays a list.
        if top["plugins"] != nil {
            self.rawBytes = data
        } else {
            let wrapped: [String: Any] = ["cniVersion": version, "name": name, "plugins": plugins]
            self.rawBytes = (try? JSONSerialization.data(withJSONObject: wrapped, options: [.sortedKeys])) ?? data
        }
    }

    public init(contentsOf path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FirebuildError(.notFound, "cannot read CNI config \(path)")
        }
        try self.init(data: data, source: path)
    }
}

/// Finds network configurations in a directory (`--cni-conf-dir`).
public enum CNIConfigLoader {
    /// Every `.conflist`, `.conf` and `.json` file in `dir`, in lexical order (as libcni sorts them).
    public static func files(in dir: String) throws -> [String] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: dir)
        } catch {
            throw FirebuildError(.notFound, "CNI config directory \(dir) cannot be read; create it or pass --cni-conf-dir")
        }
        return names.filter { $0.hasSuffix(".conflist") || $0.hasSuffix(".conf") || $0.hasSuffix(".json") }
            .sorted().map { "\(dir)/\($0)" }
    }

    /// The first config list whose `name` is `network`. Files that fail to parse are skipped unless
    /// nothing matches, in which case their errors are part of the message.
    public static func load(network: String, from dir: String) throws -> CNINetworkConfigList {
        var problems: [String] = []
        var seen: [String] = []
        for file in try files(in: dir) {
            do {
                let list = try CNINetworkConfigList(contentsOf: file)
                if list.name == network { return list }
                seen.append(list.name)
            } catch let e as FirebuildError {
                problems.append(e.message)
            }
        }
        var message = "no CNI network named \"\(network)\" in \(dir)"
        message += seen.isEmpty ? " (no valid configs there)" : " (found: \(seen.joined(separator: ", ")))"
        if !problems.isEmpty { message += "; skipped invalid files: \(problems.joined(separator: "; "))" }
        message += "; pass --cni-network-name with one of them or add a .conflist"
        throw FirebuildError(.notFound, message)
    }
}
