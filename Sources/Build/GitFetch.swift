import FirebuildCore
import Foundation
import Git

/// Git clones (libgit2) for git Dockerfile sources and `ADD <git url>`.
public enum GitFetch {
    /// Clones into `directory` at `ref` (branch, tag or commit) and returns the commit id.
    public static func clone(url: String, to directory: String, ref: String?) throws -> String {
        try GitRepository.clone(url: url, to: directory, ref: ref)
    }
}
