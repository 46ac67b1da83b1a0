import Foundation

/// The runtime configuration of an image, with the OCI/Docker field names (`Env`, `Cmd`, …).
/// One type shared by the Dockerfile evaluator, the OCI reader, the store's metadata and the
/// guest metadata, so a config never changes shape between modules. `Shell` and `OnBuild` are
/// Docker v2 extensions (OCI has no such fields); they are kept because builds need them.
public struct ImageConfig: Codable, Equatable, Sendable {
    public var user: String?
    public var exposedPorts: [String: EmptyObject]?
    public var env: [String]?
    public var entrypoint: [String]?
    public var cmd: [String]?
    public var volumes: [String: EmptyObject]?
    public var workingDir: String?
    public var labels: [String: String]?
    public var stopSignal: String?
    public var healthcheck: Healthcheck?
    public var shell: [String]?
    public var onBuild: [String]?
    public var argsEscaped: Bool?

    public init(user: String? = nil, exposedPorts: [String: EmptyObject]? = nil, env: [String]? = nil,
                entrypoint: [String]? = nil, cmd: [String]? = nil, volumes: [String: EmptyObject]? = nil,
                workingDir: String? = nil, labels: [String: String]? = nil, stopSignal: String? = nil,
                healthcheck: Healthcheck? = nil, shell: [String]? = nil, onBuild: [String]? = nil) {
        self.user = user
        self.exposedPorts = exposedPorts
        self.env = env
        self.entrypoint = entrypoint
        self.cmd = cmd
        self.volumes = volumes
        self.workingDir = workingDir
        self.labels = labels
        self.stopSignal = stopSignal
        self.healthcheck = healthcheck
        self.shell = shell
        self.onBuild = onBuild
    }

    enum CodingKeys: String, CodingKey {
        case user = "User", exposedPorts = "ExposedPorts", env = "Env", entrypoint = "Entrypoint", cmd = "Cmd"
        case volumes = "Volumes", workingDir = "WorkingDir", labels = "Labels", stopSignal = "StopSignal"
        case healthcheck = "Healthcheck", shell = "Shell", onBuild = "OnBuild", argsEscaped = "ArgsEscaped"
    }

    /// `Env` as an ordered list of (key, value); later duplicates win, as in Docker.
    public var environment: [(key: String, value: String)] {
        var out: [(String, String)] = []
        for entry in env ?? [] {
            let parts = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let k = String(parts[0]), v = parts.count > 1 ? String(parts[1]) : ""
            if let i = out.firstIndex(where: { $0.0 == k }) { out[i].1 = v } else { out.append((k, v)) }
        }
        return out.map { (key: $0.0, value: $0.1) }
    }

    /// Sets one variable, keeping its position if present (Docker's ENV semantics).
    public mutating func setEnv(_ key: String, _ value: String) {
        var list = env ?? []
        if let i = list.firstIndex(where: { $0.hasPrefix(key + "=") || $0 == key }) {
            list[i] = "\(key)=\(value)"
        } else {
            list.append("\(key)=\(value)")
        }
        env = list
    }
}

/// The `{}` values of `ExposedPorts` and `Volumes`.
public struct EmptyObject: Codable, Equatable, Sendable {
    public init() {}
}

/// Docker's HEALTHCHECK configuration. Durations are nanoseconds, as Docker stores them.
public struct Healthcheck: Codable, Equatable, Sendable {
    public var test: [String]?
    public var interval: Int64?
    public var timeout: Int64?
    public var startPeriod: Int64?
    public var startInterval: Int64?
    public var retries: Int?

    public init(test: [String]? = nil, interval: Int64? = nil, timeout: Int64? = nil, startPeriod: Int64? = nil,
                startInterval: Int64? = nil, retries: Int? = nil) {
        self.test = test
        self.interval = interval
        self.timeout = timeout
        self.startPeriod = startPeriod
        self.startInterval = startInterval
        self.retries = retries
    }

    enum CodingKeys: String, CodingKey {
        case test = "Test", interval = "Interval", timeout = "Timeout", startPeriod = "StartPeriod"
        case startInterval = "StartInterval", retries = "Retries"
    }
}
