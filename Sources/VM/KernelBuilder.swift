import FirebuildCore
import Foundation
import Git
import Logging
import Store

/// `firebuild kernel build`: a vmlinux from Linux sources (a local tree or `git-URL#ref`) and a
/// config file, imported into the kernel store. The build itself is plain kbuild:
/// `make olddefconfig` (new options take their defaults) then `make -jN vmlinux`.
public struct KernelBuilder: Sendable {
    public enum Source: Equatable, Sendable {
        case directory(String)
        case git(GitSource)

        /// A path that exists is a local tree; anything else that looks like a URL is cloned.
        public init(parsing text: String) throws {
            if FileManager.default.fileExists(atPath: text) {
                self = .directory(text)
            } else if GitSource.isGitURL(text) {
                self = .git(GitSource(parsing: text))
            } else {
                throw FirebuildError(.invalidArgument, "kernel source \"\(text)\" is neither an existing directory nor a git URL (URL#ref)")
            }
        }
    }

    public var source: Source
    public var configFile: String
    public var jobs: Int
    /// Where git sources are cloned (a fresh directory under it per build).
    public var workDirectory: String

    public init(source: Source, configFile: String, jobs: Int = 2, workDirectory: String = FirebuildPaths().buildsDir) {
        self.source = source
        self.configFile = configFile
        self.jobs = jobs
        self.workDirectory = workDirectory
    }

    /// The make invocations for a tree at `tree` (pure; tested without building a kernel).
    public func makeCommands(tree: String) -> [Command] {
        [Command("make", ["-C", tree, "olddefconfig"]),
         Command("make", ["-C", tree, "-j\(max(1, jobs))", "vmlinux"])]
    }

    /// Gets the tree: the directory itself, or a libgit2 clone checked out at the ref.
    public func prepareTree() throws -> (tree: String, commit: String?, cleanup: String?) {
        switch source {
        case .directory(let dir):
            guard FileManager.default.fileExists(atPath: dir + "/Makefile") else {
                throw FirebuildError(.invalidArgument, "\(dir) has no Makefile: pass the top of a Linux source tree")
            }
            return (dir, nil, nil)
        case .git(let git):
            let dir = workDirectory + "/kernel-src-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            try FileManager.default.createDirectory(atPath: workDirectory, withIntermediateDirectories: true)
            let commit = try GitRepository.clone(url: git.url, to: dir, ref: git.ref)
            return (dir, commit, dir)
        }
    }

    /// Builds and stores the kernel as `id`.
    @discardableResult
    public func build(id: String, store: KernelStore, replace: Bool = false) throws -> StoredKernel {
        try KernelStore.validate(id: id)
        guard FileManager.default.isReadableFile(atPath: configFile) else {
            throw FirebuildError(.notFound, "kernel config \(configFile) cannot be read (see baseos/kernel/microvm-6.1.config)")
        }
        let logger = makeLogger("vm")
        let (tree, commit, cleanup) = try prepareTree()
        defer { if let cleanup { try? FileManager.default.removeItem(atPath: cleanup) } }
        try? FileManager.default.removeItem(atPath: tree + "/.config")
        try FileManager.default.copyItem(atPath: configFile, toPath: tree + "/.config")
        for command in makeCommands(tree: tree) {
            logger.info("kernel build", metadata: ["step": .string(command.describe())])
            try command.check(logger: logger)
        }
        let description: String
        switch source {
        case .directory(let dir): description = dir
        case .git(let git): description = "\(git.url)#\(git.ref ?? "HEAD")@\(commit ?? "?")"
        }
        let stored = try KernelImporter(store: store).import(id: id, path: tree + "/vmlinux", replace: replace,
                                                             sourceDescription: description)
        if let commit { logger.info("kernel built", metadata: ["id": .string(id), "commit": .string(commit)]) }
        return stored
    }
}
