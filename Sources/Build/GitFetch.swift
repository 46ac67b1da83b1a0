import FirebuildCore
import Foundation

/// Git clones for git Dockerfile sources and `ADD <git url>`.
public enum GitFetch {
    public static func clone(url: String, to directory: String, ref: String?) throws -> String {
        throw FirebuildError(.unsupported, "git sources need the Git module (libgit2), not merged yet")
    }
}
