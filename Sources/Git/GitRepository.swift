import CGit2
import CGit2Shim
import FirebuildCore
import Foundation

/// A git source as firebuild's flags write it: `URL#ref` (ref = branch, tag or commit; optional).
public struct GitSource: Equatable, Sendable {
    public var url: String
    public var ref: String?

    /// Splits `URL#ref`. A plain local directory is not a git source (see `isGitURL`).
    public init(parsing text: String) {
        if let hash = text.lastIndex(of: "#") {
            url = String(text[..<hash])
            let r = String(text[text.index(after: hash)...])
            ref = r.isEmpty ? nil : r
        } else {
            url = text
            ref = nil
        }
    }

    /// True for URLs libgit2 clones (`https://`, `http://`, `git://`, `ssh://`, `file://`, `user@host:path`, `*.git`).
    public static func isGitURL(_ text: String) -> Bool {
        let base = GitSource(parsing: text).url
        if ["https://", "http://", "git://", "ssh://", "file://"].contains(where: { base.hasPrefix($0) }) { return true }
        if base.hasSuffix(".git") { return true }
        if let at = base.firstIndex(of: "@"), let colon = base.firstIndex(of: ":"), at < colon, !base.hasPrefix("/") { return true }
        return text.contains("#") && !FileManager.default.fileExists(atPath: text)
    }
}

/// Clone and checkout through libgit2 (no git binary needed).
public enum GitRepository {
    private static let initOnce: Void = {
        git_libgit2_init()
    }()

    static func check(_ rc: Int32, _ what: String) throws {
        guard rc >= 0 else {
            let msg = String(cString: fb_git_last_error_message())
            throw FirebuildError(.network, "git \(what) failed: \(msg)")
        }
    }

    /// Clones `url` into `directory` (which must not exist or be empty) and checks out `ref`
    /// (a branch, tag or commit; the remote's default branch when nil). Returns the commit id.
    @discardableResult
    public static func clone(url: String, to directory: String, ref: String? = nil) throws -> String {
        _ = initOnce
        var options = git_clone_options()
        try check(fb_git_clone_options_init(&options), "clone options")
        options.checkout_opts.checkout_strategy = GIT_CHECKOUT_SAFE.rawValue
        var repo: OpaquePointer?
        try check(git_clone(&repo, url, directory, &options), "clone \(url)")
        defer { git_repository_free(repo) }
        if let ref {
            return try checkout(repo: repo, ref: ref, url: url)
        }
        return try headCommit(repo: repo)
    }

    static func checkout(repo: OpaquePointer?, ref: String, url: String) throws -> String {
        var object: OpaquePointer?
        // Remote branches exist as origin/<name> after a clone; tags and commits resolve directly.
        var found = false
        for spec in [ref, "origin/\(ref)", "refs/tags/\(ref)"] where git_revparse_single(&object, repo, spec) == 0 {
            found = true
            break
        }
        guard found else {
            throw FirebuildError(.notFound, "git ref \"\(ref)\" not found in \(url): give a branch, tag or commit that exists")
        }
        defer { git_object_free(object) }
        var commit: OpaquePointer?
        try check(git_object_peel(&commit, object, GIT_OBJECT_COMMIT), "peel \(ref) to a commit")
        defer { git_object_free(commit) }
        var checkout = git_checkout_options()
        try check(fb_git_checkout_options_init(&checkout), "checkout options")
        checkout.checkout_strategy = GIT_CHECKOUT_FORCE.rawValue
        try check(git_checkout_tree(repo, commit, &checkout), "checkout \(ref)")
        guard let oid = git_object_id(commit) else { throw FirebuildError(.internal, "git: commit without id") }
        try check(git_repository_set_head_detached(repo, oid), "detach HEAD at \(ref)")
        return hex(oid)
    }

    static func headCommit(repo: OpaquePointer?) throws -> String {
        var oid = git_oid()
        try check(git_reference_name_to_id(&oid, repo, "HEAD"), "resolve HEAD")
        return hex(&oid)
    }

    static func hex(_ oid: UnsafePointer<git_oid>) -> String {
        var buf = [CChar](repeating: 0, count: 41)
        git_oid_tostr(&buf, 41, oid)
        return String(cString: buf)
    }
}
