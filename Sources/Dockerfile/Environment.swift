/// An ordered variable list with Docker's replace-in-place semantics (ENV and ARG values in force).
public struct Environment: Equatable, Sendable {
    public private(set) var entries: [(key: String, value: String)] = []
    private var index: [String: Int] = [:]

    public init() {}

    public init(_ pairs: [(String, String)]) {
        for (k, v) in pairs { set(k, v) }
    }

    /// From OCI `Env` strings (`K=V`).
    public init(envList: [String]) {
        for e in envList {
            if let eq = e.firstIndex(of: "=") { set(String(e[..<eq]), String(e[e.index(after: eq)...])) } else { set(e, "") }
        }
    }

    public subscript(key: String) -> String? {
        index[key].map { entries[$0].value }
    }

    public mutating func set(_ key: String, _ value: String) {
        if let i = index[key] { entries[i].value = value } else {
            index[key] = entries.count
            entries.append((key, value))
        }
    }

    public var keys: [String] { entries.map(\.key) }

    /// `K=V` strings, in order.
    public var list: [String] { entries.map { "\($0.key)=\($0.value)" } }

    public static func == (a: Environment, b: Environment) -> Bool { a.list == b.list }
}

/// The default PATH BuildKit gives Linux images and RUN steps that have none.
public let defaultPathEnv = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/// A target or build platform (`linux/amd64`, `linux/arm/v7`).
public struct Platform: Equatable, Sendable, CustomStringConvertible {
    public var os: String
    public var architecture: String
    public var variant: String

    public init(os: String = "linux", architecture: String = "amd64", variant: String = "") {
        self.os = os
        self.architecture = architecture
        self.variant = variant
    }

    public static let linuxAMD64 = Platform()

    /// Parses `os/arch[/variant]` or a bare `arch` (normalising aliases such as aarch64 and x86_64).
    public init?(parsing s: String) {
        let parts = s.lowercased().split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard (1...3).contains(parts.count), !parts.contains("") else { return nil }
        var arch = parts.count == 1 ? parts[0] : parts[1]
        var variant = parts.count == 3 ? parts[2] : ""
        switch arch {
        case "x86_64", "x86-64": arch = "amd64"
        case "aarch64": arch = "arm64"; if variant == "v8" { variant = "" }
        case "armhf": arch = "arm"; variant = variant.isEmpty ? "v7" : variant
        case "armel": arch = "arm"; variant = variant.isEmpty ? "v6" : variant
        case "i386", "i686": arch = "386"
        default: break
        }
        self.init(os: parts.count == 1 ? "linux" : parts[0], architecture: arch, variant: variant)
    }

    public var description: String { variant.isEmpty ? "\(os)/\(architecture)" : "\(os)/\(architecture)/\(variant)" }
}
