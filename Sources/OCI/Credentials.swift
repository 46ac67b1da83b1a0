import FirebuildCore
import Foundation

/// A registry login.
public struct RegistryCredentials: Sendable, Equatable {
    public var username: String
    public var password: String
    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }

    /// `Authorization: Basic …` value.
    public var basicAuthorization: String {
        "Basic " + Data("\(username):\(password)".utf8).base64EncodedString()
    }
}

/// Logins from Docker's client config (`$DOCKER_CONFIG/config.json`, else
/// `~/.docker/config.json`): the `auths` map, with either a base64 `auth` ("user:pass") or
/// `username`/`password`. Credential helpers (`credsStore`, `credHelpers`) are not run.
public struct DockerConfigCredentials: Sendable {
    public var entries: [String: RegistryCredentials]

    public init(entries: [String: RegistryCredentials] = [:]) {
        self.entries = entries
    }

    public static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let dir = environment["DOCKER_CONFIG"], !dir.isEmpty { return dir + "/config.json" }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return home + "/.docker/config.json"
    }

    /// Loads the file; a missing file means no logins, a malformed one is an error.
    public static func load(path: String = defaultPath()) throws -> DockerConfigCredentials {
        guard let data = FileManager.default.contents(atPath: path) else { return DockerConfigCredentials() }
        return try parse(data, path: path)
    }

    public static func parse(_ data: Data, path: String) throws -> DockerConfigCredentials {
        struct Entry: Decodable { var auth: String?; var username: String?; var password: String? }
        struct File: Decodable { var auths: [String: Entry]? }
        let file = try JSONHelpers.decode(File.self, data, what: "docker config \(path)")
        var out: [String: RegistryCredentials] = [:]
        for (key, entry) in file.auths ?? [:] {
            if let auth = entry.auth, !auth.isEmpty {
                guard let decoded = Data(base64Encoded: auth), let text = String(data: decoded, encoding: .utf8),
                      let colon = text.firstIndex(of: ":") else {
                    throw FirebuildError(.parse, "docker config \(path): auths[\"\(key)\"].auth is not base64 of user:password")
                }
                out[normalize(key)] = RegistryCredentials(username: String(text[..<colon]),
                                                          password: String(text[text.index(after: colon)...]))
            } else if let user = entry.username, let pass = entry.password {
                out[normalize(key)] = RegistryCredentials(username: user, password: pass)
            }
        }
        return DockerConfigCredentials(entries: out)
    }

    /// The login for a registry host as written in references (`docker.io`, `host:5000`).
    public func credentials(for registry: String) -> RegistryCredentials? {
        let key = DockerConfigCredentials.normalize(registry)
        return entries[key]
    }

    /// Keys may be `https://host/v1/`, `http://host`, `host`; Docker Hub has several names.
    static func normalize(_ key: String) -> String {
        var k = key
        for scheme in ["https://", "http://"] where k.hasPrefix(scheme) { k.removeFirst(scheme.count) }
        if let slash = k.firstIndex(of: "/") { k = String(k[..<slash]) }
        if ["index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"].contains(k) { k = "docker.io" }
        return k
    }
}

/// A parsed `WWW-Authenticate` challenge: `Bearer realm="…",service="…",scope="…"`.
public struct AuthChallenge: Sendable, Equatable {
    public var scheme: String
    public var parameters: [String: String]

    public static func parse(_ header: String) -> AuthChallenge? {
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        guard let space = trimmed.firstIndex(of: " ") else {
            return trimmed.isEmpty ? nil : AuthChallenge(scheme: trimmed.lowercased(), parameters: [:])
        }
        let scheme = trimmed[..<space].lowercased()
        var params: [String: String] = [:]
        var rest = Substring(trimmed[trimmed.index(after: space)...])
        while !rest.isEmpty {
            rest = rest.drop { $0 == " " || $0 == "," }
            guard let eq = rest.firstIndex(of: "=") else { break }
            let key = rest[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
            rest = rest[rest.index(after: eq)...]
            var value = ""
            if rest.first == "\"" {
                rest = rest.dropFirst()
                var escaped = false
                var end = rest.endIndex
                for i in rest.indices {
                    let c = rest[i]
                    if escaped { value.append(c); escaped = false; continue }
                    if c == "\\" { escaped = true; continue }
                    if c == "\"" { end = i; break }
                    value.append(c)
                }
                rest = end < rest.endIndex ? rest[rest.index(after: end)...] : ""
            } else {
                let end = rest.firstIndex(of: ",") ?? rest.endIndex
                value = rest[..<end].trimmingCharacters(in: .whitespaces)
                rest = rest[end...]
            }
            params[key] = value
        }
        return AuthChallenge(scheme: scheme, parameters: params)
    }
}
