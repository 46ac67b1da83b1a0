import FirebuildCore
import Foundation

/// Where `--dockerfile` points. Every form the original accepted, with its defects fixed:
/// relative ADD/COPY of URL-loaded Dockerfiles work, `.dockerignore` applies to every context,
/// `#ref` may be any branch, tag or commit.
public enum DockerfileSource: Equatable, Sendable {
    /// A Dockerfile on disk (the context defaults to its folder).
    case file(String)
    /// Literal Dockerfile text (no context unless `--context` is given).
    case text(String)
    /// `http(s)://…/Dockerfile`: relative sources resolve against the URL's folder.
    case http(String)
    /// `git+https://host/repo.git:/path/to/Dockerfile#ref` and the ssh/git forms: the context is the checkout.
    case git(repository: String, dockerfilePath: String, ref: String?)

    static let instructionWords: Set<String> = [
        "FROM", "ARG", "RUN", "COPY", "ADD", "ENV", "LABEL", "EXPOSE", "VOLUME", "USER", "WORKDIR", "SHELL",
        "CMD", "ENTRYPOINT", "STOPSIGNAL", "HEALTHCHECK", "ONBUILD", "MAINTAINER",
    ]

    /// Classifies a `--dockerfile` value. A path that does not exist is an error unless the value is
    /// plainly Dockerfile text (it has a newline, or starts with an instruction or a `#` comment).
    public static func classify(_ spec: String, fileExists: (String) -> Bool = { FileManager.default.fileExists(atPath: $0) }) throws -> DockerfileSource {
        let trimmed = spec.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty {
            throw FirebuildError(.invalidArgument, "--dockerfile is empty: give a path, a URL, a git URL or Dockerfile text")
        }
        let lower = trimmed.lowercased()
        for (prefix, scheme) in [("git+https://", "https://"), ("git+http://", "http://"), ("git+ssh://", "ssh://"),
                                 ("ssh://", "ssh://"), ("git://", "git://")] where lower.hasPrefix(prefix) && !trimmed.contains("\n") {
            return try parseGit(scheme + trimmed.dropFirst(prefix.count), original: spec)
        }
        if (lower.hasPrefix("http://") || lower.hasPrefix("https://")) && !trimmed.contains("\n") {
            return .http(trimmed)
        }
        if spec.contains("\n") { return .text(spec) }
        if fileExists(spec) { return .file(spec) }
        let first = trimmed.split(separator: " ", maxSplits: 1).first.map { $0.uppercased() } ?? ""
        if instructionWords.contains(first) || trimmed.hasPrefix("#") { return .text(spec) }
        throw FirebuildError(.notFound, "Dockerfile \(spec) does not exist (not a path, URL, git URL or Dockerfile text)")
    }

    /// `scheme://host[:port]/path/repo.git[:/path/to/Dockerfile][#ref]`.
    static func parseGit(_ url: String, original: String) throws -> DockerfileSource {
        var rest = url
        var ref: String?
        if let hash = rest.lastIndex(of: "#") {
            let r = String(rest[rest.index(after: hash)...])
            ref = r.isEmpty ? nil : r
            rest = String(rest[..<hash])
        }
        guard let schemeEnd = rest.range(of: "://") else {
            throw FirebuildError(.invalidArgument, "invalid git Dockerfile URL \(original)")
        }
        let afterScheme = rest[schemeEnd.upperBound...]
        // The repository path starts at the first '/' after the host (a ':' before it is a port).
        guard let pathStart = afterScheme.firstIndex(of: "/") else {
            throw FirebuildError(.invalidArgument, "git Dockerfile URL \(original) has no repository path; expected scheme://host/repo.git:/path/to/Dockerfile#ref")
        }
        let path = afterScheme[pathStart...]
        var repo = String(rest[..<pathStart]) + path
        var dockerfile = "Dockerfile"
        if let colon = path.lastIndex(of: ":") {
            repo = String(rest[..<pathStart]) + path[..<colon]
            dockerfile = String(path[path.index(after: colon)...])
            if dockerfile.isEmpty || dockerfile == "/" {
                throw FirebuildError(.invalidArgument, "git Dockerfile URL \(original) names no Dockerfile after ':'")
            }
        }
        let rel = BuildPath.contextRelative(dockerfile)
        guard !rel.isEmpty else { throw FirebuildError(.invalidArgument, "git Dockerfile URL \(original): bad Dockerfile path \(dockerfile)") }
        return .git(repository: repo, dockerfilePath: rel, ref: ref)
    }

    /// A short description for logs and image metadata.
    public var description: String {
        switch self {
        case .file(let p): return p
        case .text: return "<inline Dockerfile>"
        case .http(let u): return u
        case let .git(repo, path, ref): return "\(repo):/\(path)" + (ref.map { "#\($0)" } ?? "")
        }
    }
}
