import Dockerfile
import FirebuildCore
import Foundation
import HTTP

/// The files COPY/ADD read from: a local directory (a folder, a git checkout) or the folder of a
/// URL-loaded Dockerfile. `.dockerignore` applies to every kind.
public struct BuildContext: Sendable {
    public enum Kind: Equatable, Sendable {
        case directory(String)
        /// Base URL ending in `/`; sources are fetched on demand (no listing over HTTP).
        case remote(String)
        /// Literal Dockerfile text without `--context`.
        case none
    }

    public var kind: Kind
    public var filter: ContextFilter

    public init(kind: Kind, filter: ContextFilter = .none) {
        self.kind = kind
        self.filter = filter
    }

    /// A local directory context with its `.dockerignore`.
    public static func directory(_ path: String) throws -> BuildContext {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else {
            throw FirebuildError(.notFound, "build context \(path) is not a directory")
        }
        let abs = URL(fileURLWithPath: path).standardizedFileURL.path
        let ignore = try DockerIgnore.load(contextDir: abs)
        return BuildContext(kind: .directory(abs), filter: .dockerignore(ignore))
    }

    /// The source tree COPY/ADD plans against. Remote contexts download the named plain paths
    /// (wildcards and directories cannot be listed over HTTP) into `scratch` first.
    public func tree(for sources: [String], scratch: String, http: HTTPClient = .shared) throws -> SourceTree {
        switch kind {
        case .directory(let dir):
            return SourceTree(root: dir, filter: filter, preserveOwnership: false, label: "build context \(dir)")
        case .none:
            if sources.isEmpty { return SourceTree(root: scratch, label: "empty context") }
            throw FirebuildError(.invalidArgument, "COPY/ADD of \(sources.joined(separator: ", ")) needs a build context: the Dockerfile was given as text, pass --context DIR")
        case .remote(let base):
            let root = scratch + "/remote-context"
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            for src in sources {
                let rel = BuildPath.contextRelative(src)
                if GoGlob.hasMeta(rel) || rel.isEmpty {
                    throw FirebuildError(.unsupported, "COPY/ADD source \"\(src)\": a Dockerfile loaded over HTTP can only copy single files named exactly (no wildcards or directories); use a git URL or a local context")
                }
                if filter.isExcluded(rel, false) { continue }  // reported as not found by the planner
                let local = root + "/" + rel
                if FileManager.default.fileExists(atPath: local) { continue }
                try FileManager.default.createDirectory(atPath: BuildPath.dirname(local), withIntermediateDirectories: true)
                let url = base + rel.split(separator: "/").map { $0.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? String($0) }.joined(separator: "/")
                let resp = try http.download(HTTPRequest(url: url), to: local)
                guard resp.isSuccess else {
                    unlink(local)
                    throw FirebuildError(.notFound, "COPY/ADD source \"\(src)\": GET \(url) answered \(resp.status)")
                }
            }
            return SourceTree(root: root, filter: filter, preserveOwnership: false, label: "context \(base)")
        }
    }
}

extension ContextFilter {
    public static func dockerignore(_ ignore: DockerIgnore) -> ContextFilter {
        ContextFilter(excludedDirectoriesAreFinal: !ignore.hasExceptions) { ignore.isExcluded($0, isDirectory: $1) }
    }
}

/// A Dockerfile ready to plan: its text, a name for error messages and its context.
public struct ResolvedDockerfile: Sendable {
    public var text: String
    public var fileName: String
    public var source: DockerfileSource
    public var context: BuildContext
    /// Commit checked out for git sources (recorded in the image metadata).
    public var commit: String?
}

/// Fetches a Dockerfile and sets up its context.
public struct DockerfileResolver {
    public var http: HTTPClient
    /// Clones `url` into a directory at `ref` (branch, tag or commit); returns the commit id.
    public var gitClone: (_ url: String, _ directory: String, _ ref: String?) throws -> String

    public init(http: HTTPClient = .shared, gitClone: @escaping (String, String, String?) throws -> String = GitFetch.clone) {
        self.http = http
        self.gitClone = gitClone
    }

    /// `contextOverride` is `--context`: a directory, or for git sources a folder inside the checkout.
    public func resolve(_ source: DockerfileSource, contextOverride: String?, scratch: String) throws -> ResolvedDockerfile {
        switch source {
        case .file(let path):
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue,
                  let data = FileManager.default.contents(atPath: path) else {
                throw FirebuildError(.notFound, "Dockerfile \(path) is not a readable file")
            }
            let ctx = try BuildContext.directory(contextOverride ?? BuildPath.dirname(absolute(path)))
            return ResolvedDockerfile(text: String(decoding: data, as: UTF8.self), fileName: path, source: source, context: ctx)
        case .text(let text):
            let ctx = try contextOverride.map(BuildContext.directory) ?? BuildContext(kind: .none)
            return ResolvedDockerfile(text: text, fileName: "Dockerfile", source: source, context: ctx)
        case .http(let url):
            let resp = try http.send(HTTPRequest(url: url))
            guard resp.isSuccess else {
                throw FirebuildError(.network, "GET \(url) answered \(resp.status): cannot load the Dockerfile")
            }
            let ctx: BuildContext
            if let contextOverride {
                ctx = try BuildContext.directory(contextOverride)
            } else {
                let base = Self.folderURL(of: resp.effectiveURL.isEmpty ? url : resp.effectiveURL)
                var filter = ContextFilter.none
                if let ign = try? http.send(HTTPRequest(url: base + ".dockerignore")), ign.isSuccess {
                    filter = .dockerignore(try DockerIgnore(contents: ign.bodyString))
                }
                ctx = BuildContext(kind: .remote(base), filter: filter)
            }
            return ResolvedDockerfile(text: resp.bodyString, fileName: url, source: source, context: ctx)
        case let .git(repo, path, ref):
            let checkout = scratch + "/git-context"
            let commit = try gitClone(repo, checkout, ref)
            let file = checkout + "/" + path
            guard let data = FileManager.default.contents(atPath: file) else {
                throw FirebuildError(.notFound, "\(path) does not exist in \(repo)\(ref.map { " at \($0)" } ?? "")")
            }
            var ctxDir = checkout
            if let contextOverride {
                let rel = BuildPath.contextRelative(contextOverride)
                ctxDir = rel.isEmpty ? checkout : checkout + "/" + rel
            }
            return ResolvedDockerfile(text: String(decoding: data, as: UTF8.self), fileName: source.description,
                                      source: source, context: try BuildContext.directory(ctxDir), commit: commit)
        }
    }

    /// `https://h/a/b/Dockerfile?x` → `https://h/a/b/`.
    public static func folderURL(of url: String) -> String {
        var u = url
        if let q = u.firstIndex(where: { $0 == "?" || $0 == "#" }) { u = String(u[..<q]) }
        guard let slash = u.lastIndex(of: "/"), let scheme = u.range(of: "://"), slash >= scheme.upperBound else { return u + "/" }
        return String(u[...slash])
    }

    func absolute(_ p: String) -> String {
        p.hasPrefix("/") ? p : FileManager.default.currentDirectoryPath + "/" + p
    }
}
