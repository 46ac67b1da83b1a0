import FirebuildCore
import Foundation

/// Compares image configs key by key (Docker field names). Env is compared in order.
enum ConfigComparison {
    /// Labels only buildah writes (its own version stamp).
    static let buildahLabels: Set<String> = ["io.buildah.version"]

    /// Empty and absent mean the same in an image config (buildah writes `"Cmd": []`,
    /// `"Volumes": {}`; firebuild omits them). `ArgsEscaped` is a Windows-only flag.
    static func normalized(_ config: ImageConfig) -> ImageConfig {
        var c = config
        if c.env?.isEmpty == true { c.env = nil }
        if c.cmd?.isEmpty == true { c.cmd = nil }
        if c.entrypoint?.isEmpty == true { c.entrypoint = nil }
        if c.exposedPorts?.isEmpty == true { c.exposedPorts = nil }
        if c.volumes?.isEmpty == true { c.volumes = nil }
        if c.shell?.isEmpty == true { c.shell = nil }
        if c.onBuild?.isEmpty == true { c.onBuild = nil }
        if c.user?.isEmpty == true { c.user = nil }
        if c.workingDir?.isEmpty == true { c.workingDir = nil }
        if let labels = c.labels {
            let kept = labels.filter { !buildahLabels.contains($0.key) }
            c.labels = kept.isEmpty ? nil : kept
        }
        c.argsEscaped = nil
        return c
    }

    /// One line per key whose values differ.
    static func differences(firebuild: ImageConfig, buildah: ImageConfig) throws -> [String] {
        let f = try fields(normalized(firebuild)), b = try fields(normalized(buildah))
        var out: [String] = []
        for key in Set(f.keys).union(b.keys).sorted() where f[key] != b[key] {
            out.append("\(key): firebuild \(f[key] ?? "absent") | buildah \(b[key] ?? "absent")")
        }
        return out
    }

    /// Each top-level key as canonical JSON (sorted keys), so values compare as text.
    static func fields(_ c: ImageConfig) throws -> [String: String] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let object = try JSONSerialization.jsonObject(with: try encoder.encode(c)) as? [String: Any] ?? [:]
        var out: [String: String] = [:]
        for (k, v) in object {
            let data = try JSONSerialization.data(withJSONObject: v, options: [.sortedKeys, .fragmentsAllowed, .withoutEscapingSlashes])
            out[k] = String(decoding: data, as: UTF8.self)
        }
        return out
    }

    /// buildah 1.28 departs from Docker in three ways the corpus hits; this rewrites its config to
    /// what Docker (BuildKit's dockerfile2llb) produces, so firebuild is held to Docker's result:
    /// 1. CMD/ENTRYPOINT in shell form ignore SHELL in buildah (`/bin/sh -c`); Docker runs them
    ///    through SHELL ("The SHELL instruction … affects the shell form of RUN, CMD and ENTRYPOINT").
    /// 2. buildah moves a variable of the base image that ENV sets again to the end of Env; Docker
    ///    replaces it in place (dockerfile2llb `addEnv`), so base variables keep the base's order
    ///    in front of the ones the Dockerfile added.
    /// 3. `EXPOSE 8000-8002` stays one key `8000-8002/tcp` in buildah; Docker expands the range
    ///    (`nat.ParsePortSpecs`) into 8000/tcp, 8001/tcp, 8002/tcp.
    static func dockerEquivalent(ofBuildah config: ImageConfig, baseEnv: [String]) -> ImageConfig {
        var c = config
        if let shell = c.shell, shell != ["/bin/sh", "-c"] {
            func reshell(_ argv: [String]?) -> [String]? {
                guard let argv, argv.count == 3, Array(argv.prefix(2)) == ["/bin/sh", "-c"] else { return argv }
                return shell + [argv[2]]
            }
            c.cmd = reshell(c.cmd)
            c.entrypoint = reshell(c.entrypoint)
        }
        if let env = c.env {
            func key(_ e: String) -> String { String(e.split(separator: "=", maxSplits: 1).first ?? "") }
            let baseKeys = baseEnv.map(key)
            let fromBase = baseKeys.compactMap { k in env.first { key($0) == k } }
            c.env = fromBase + env.filter { !baseKeys.contains(key($0)) }
        }
        if let ports = c.exposedPorts {
            var out: [String: EmptyObject] = [:]
            for p in ports.keys {
                let parts = p.split(separator: "/", maxSplits: 1).map(String.init)
                let range = parts[0].split(separator: "-").compactMap { Int($0) }
                let proto = parts.count > 1 ? parts[1] : "tcp"
                if range.count == 2, range[0] <= range[1] {
                    for n in range[0]...range[1] { out["\(n)/\(proto)"] = EmptyObject() }
                } else {
                    out[p] = EmptyObject()
                }
            }
            c.exposedPorts = out
        }
        return c
    }

    /// The Docker-format config of a `buildah inspect --type image` document.
    static func buildahConfig(inspectJSON: Data) throws -> ImageConfig {
        guard let doc = try JSONSerialization.jsonObject(with: inspectJSON) as? [String: Any],
              let docker = doc["Docker"] as? [String: Any], let config = docker["config"] else {
            throw FirebuildError(.invalidArgument, "buildah inspect output has no Docker.config")
        }
        return try JSONDecoder().decode(ImageConfig.self, from: try JSONSerialization.data(withJSONObject: config))
    }
}
