import Dockerfile
import FirebuildCore
import Foundation

/// One COPY/ADD source after URL and git sources were fetched.
public enum CopySource: Equatable, Sendable {
    /// A path or wildcard in the source tree (context, stage, image).
    case path(String)
    /// A file downloaded by `ADD <url>` (never unpacked; Docker gives it mode 0600).
    case download(hostPath: String, fileName: String)
    /// A git checkout (`ADD <git url>`): its contents are copied.
    case checkout(hostDirectory: String)
    /// A heredoc body (`COPY <<EOF /dest`).
    case inline(name: String, data: String)
}

/// The typed COPY/ADD options the planner needs, expanded.
public struct CopySpec: Equatable, Sendable {
    public var isAdd: Bool
    public var sources: [CopySource]
    public var destination: String
    public var workingDir: String
    public var chown: String?
    public var chmod: String?
    public var parents: Bool
    public var excludes: [String]
    public var unpack: Bool?

    public init(isAdd: Bool = false, sources: [CopySource], destination: String, workingDir: String = "/",
                chown: String? = nil, chmod: String? = nil, parents: Bool = false, excludes: [String] = [], unpack: Bool? = nil) {
        self.isAdd = isAdd; self.sources = sources; self.destination = destination; self.workingDir = workingDir
        self.chown = chown; self.chmod = chmod; self.parents = parents; self.excludes = excludes; self.unpack = unpack
    }
}

/// Turns a COPY/ADD into exact file operations with Docker's rules:
/// - a relative destination is under WORKDIR; a destination ending in `/`, an existing directory or
///   several sources mean "copy into this directory", else the single source becomes that path;
/// - copying a directory copies its contents (never the directory itself, unless `--parents`);
/// - wildcards use Go's filepath.Match; a wildcard matching nothing is allowed, a missing plain path is not;
/// - context files belong to root unless `--chown`; stage/image/tar files keep their owners;
/// - `--chmod` applies to every copied file and directory; `ADD` unpacks local tar archives.
public struct CopyPlanner {
    public var tree: SourceTree
    /// Scratch space for unpacking archives.
    public var scratchDir: String
    /// What already exists at a guest path (nil: nothing), to decide "into a directory".
    public var existing: (String) throws -> SourceTree.Kind?

    public init(tree: SourceTree, scratchDir: String, existing: @escaping (String) throws -> SourceTree.Kind? = { _ in nil }) {
        self.tree = tree
        self.scratchDir = scratchDir
        self.existing = existing
    }

    public func plan(_ spec: CopySpec) throws -> [FileOp] {
        let keyword = spec.isAdd ? "ADD" : "COPY"
        var dest = spec.destination
        if !dest.hasPrefix("/") { dest = BuildPath.join(spec.workingDir, dest) + (dest.hasSuffix("/") || dest == "." ? "/" : "") }
        let trailingSlash = dest.hasSuffix("/") || spec.destination == "." || spec.destination.hasSuffix("/.")
        let destPath = BuildPath.clean(dest)
        if spec.sources.count > 1 && !trailingSlash {
            throw FirebuildError(.invalidArgument, "When using \(keyword) with more than one source file, the destination must be a directory and end with a /")
        }
        let owner = try spec.chown.map(BuildPath.parseChown)
        let chmod = try spec.chmod.map(BuildPath.parseChmod)
        var ctx = Context(owner: owner, chmod: chmod, excludes: spec.excludes, ops: [], existingDirectories: [])

        // Resolve every source first: the count of matches decides "into a directory" too.
        var resolved: [(CopySource, [SourceTree.Entry])] = []
        for src in spec.sources {
            guard case .path(let raw) = src else { resolved.append((src, [])); continue }
            let rel = BuildPath.contextRelative(raw)
            if GoGlob.hasMeta(rel) {
                resolved.append((src, try tree.glob(rel)))
            } else if let e = tree.entry(rel) {
                resolved.append((src, [e]))
            } else {
                throw FirebuildError(.notFound, "\(keyword) source \"\(raw)\" not found in the \(tree.label)"
                    + " (check the path and .dockerignore; sources are relative to the context root)")
            }
        }
        let matchCount = resolved.reduce(0) { $0 + max(1, $1.1.count) }
        let existingKind = try existing(destPath)
        let intoDirectory = trailingSlash || matchCount > 1 || existingKind == .directory
        // An existing destination directory keeps its own mode and owner (unless --chown/--chmod).
        if existingKind == .directory && owner == nil && chmod == nil { ctx.existingDirectories.insert(destPath) }

        for (src, entries) in resolved {
            switch src {
            case .inline(let name, let data):
                let target = intoDirectory ? BuildPath.join(destPath, name) : destPath
                ctx.ops.append(.file(path: target, content: .bytes(Array(data.utf8)), mode: chmod ?? 0o644, owner: owner))
            case .download(let host, let name):
                let target = intoDirectory ? BuildPath.join(destPath, name) : destPath
                ctx.ops.append(.file(path: target, content: .host(host), mode: chmod ?? 0o600, owner: owner))
            case .checkout(let dir):
                let t = SourceTree(root: dir, filter: .none, preserveOwnership: false, label: "git checkout")
                try ctx.copyContents(of: "", in: t, to: destPath)
            case .path(let raw):
                for e in entries {
                    let pivot = spec.parents ? parentsRelative(raw: raw, matched: e.relativePath) : nil
                    // A source that is itself a symlink is followed (BuildKit's FollowSymlinks for
                    // COPY/ADD sources): the target's content and metadata under the source's name.
                    // Symlinks inside copied directories stay symlinks.
                    let followed = e.kind == .symlink ? try tree.resolveLink(e) : e
                    try copyEntry(followed, name: BuildPath.basename(e.relativePath), pivot: pivot, spec: spec,
                                  intoDirectory: intoDirectory, dest: destPath, ctx: &ctx)
                }
            }
        }
        // The directory receiving the copied entries, when missing, belongs to root (or the --chown
        // user), never to the owner a --from file keeps: otherwise the guest would create it with the
        // first file's owner. BuildKit creates it 0755 the same way.
        let receiving = intoDirectory ? destPath : BuildPath.dirname(destPath)
        if receiving != "/", !ctx.ops.isEmpty, !ctx.ops.contains(where: { $0.path == receiving }), try existing(receiving) != .directory {
            ctx.ops.insert(.directory(path: receiving, mode: 0o755, owner: owner ?? .ids(uid: 0, gid: 0)), at: 0)
        }
        return ctx.ops
    }

    /// `--parents`: the path kept under the destination is the part after a `/./` pivot, else the whole
    /// context-relative path.
    func parentsRelative(raw: String, matched: String) -> String {
        let cleaned = raw.hasPrefix("/") ? String(raw.dropFirst()) : raw
        guard let r = cleaned.range(of: "/./") ?? (cleaned.hasPrefix("./") ? cleaned.range(of: "./") : nil) else { return matched }
        let prefix = BuildPath.contextRelative(String(cleaned[..<r.lowerBound]))
        guard !prefix.isEmpty, matched.hasPrefix(prefix + "/") else { return matched }
        return String(matched.dropFirst(prefix.count + 1))
    }

    /// `name`: the source's own name (differs from `e`'s when `e` is a followed symlink's target).
    func copyEntry(_ e: SourceTree.Entry, name: String, pivot: String?, spec: CopySpec, intoDirectory: Bool, dest: String,
                   ctx: inout Context) throws {
        if ctx.isExcludedByFlag(e.relativePath, base: "") { return }
        switch e.kind {
        case .directory:
            let target = pivot.map { BuildPath.join(dest, $0) } ?? dest
            if let pivot, !pivot.isEmpty {
                ctx.ensureParents(of: target, under: dest)
                ctx.ops.append(.directory(path: target, mode: ctx.chmod ?? e.mode, owner: ctx.owner ?? tree.owner(e)))
            }
            try ctx.copyContents(of: e.relativePath, in: tree, to: target)
        case .file where spec.isAdd && spec.unpack != false:
            if let format = ArchiveFormat.detect(path: tree.hostPath(e.relativePath)) {
                let dir = scratchDir + "/unpack-\(ctx.ops.count)-\(UInt32.random(in: 0...UInt32.max))"
                try Archive.extract(tree.hostPath(e.relativePath), format: format, into: dir)
                let t = SourceTree(root: dir, filter: .none, preserveOwnership: true, label: "archive \(e.relativePath)")
                let target = pivot.map { BuildPath.join(dest, BuildPath.dirname($0)) } ?? dest
                try ctx.copyContents(of: "", in: t, to: target)
                return
            }
            fallthrough
        case .file, .symlink, .other:
            let target: String
            if let pivot { target = BuildPath.join(dest, pivot); ctx.ensureParents(of: target, under: dest) }
            else { target = intoDirectory ? BuildPath.join(dest, name) : dest }
            try ctx.appendLeaf(e, in: tree, at: target)
        }
    }

    struct Context {
        var owner: OwnerSpec?
        var chmod: UInt32?
        var excludes: [String]
        var ops: [FileOp]
        var existingDirectories: Set<String>

        /// `--exclude` patterns match the path relative to the copied source and the context path.
        func isExcludedByFlag(_ rel: String, base: String) -> Bool {
            guard !excludes.isEmpty else { return false }
            let inner = base.isEmpty ? rel : String(rel.dropFirst(base.count + 1))
            for p in excludes {
                let pat = BuildPath.contextRelative(p)
                if (try? GoGlob.match(pat, rel)) == true || (try? GoGlob.match(pat, inner)) == true { return true }
                if (try? GoGlob.match(pat, BuildPath.basename(rel))) == true && !pat.contains("/") { return true }
            }
            return false
        }

        mutating func ensureParents(of target: String, under dest: String) {
            var dirs: [String] = []
            var d = BuildPath.dirname(target)
            while d.count > dest.count && d.hasPrefix(dest) { dirs.append(d); d = BuildPath.dirname(d) }
            for dir in dirs.reversed() where !ops.contains(where: { $0.path == dir }) {
                ops.append(.directory(path: dir, mode: 0o755, owner: owner))
            }
        }

        mutating func copyContents(of rel: String, in tree: SourceTree, to target: String) throws {
            // The directory copied into is created 0755 (root or --chown), never given the mode of the
            // host folder it came from (a 0700 temp dir would otherwise lock users out of /app), nor
            // --chmod's: `--chmod=0640` would leave it without x, unusable. buildah and Docker up to
            // 28.0 do the same (BuildKit briefly applied --chmod to it, moby/moby#49851). Directories
            // inside the copied tree do get --chmod. Found by the buildah acceptance test.
            if !ops.contains(where: { $0.path == target }) && !existingDirectories.contains(target) {
                ops.append(.directory(path: target, mode: 0o755, owner: owner ?? .ids(uid: 0, gid: 0)))
            }
            for e in try tree.walk(rel) {
                if isExcludedByFlag(e.relativePath, base: rel) { continue }
                let sub = rel.isEmpty ? e.relativePath : String(e.relativePath.dropFirst(rel.count + 1))
                let path = BuildPath.join(target, sub)
                if e.kind == .directory {
                    ops.append(.directory(path: path, mode: chmod ?? e.mode, owner: owner ?? tree.owner(e)))
                } else {
                    try appendLeaf(e, in: tree, at: path)
                }
            }
        }

        mutating func appendLeaf(_ e: SourceTree.Entry, in tree: SourceTree, at path: String) throws {
            let o = owner ?? tree.owner(e)
            switch e.kind {
            case .symlink:
                ops.append(.symlink(path: path, target: e.linkTarget ?? "", owner: o))
            case .file:
                ops.append(.file(path: path, content: .host(tree.hostPath(e.relativePath)), mode: chmod ?? e.mode, owner: o))
            case .other:
                throw FirebuildError(.unsupported, "\(e.relativePath) in the \(tree.label) is a device, socket or fifo; COPY only copies files, directories and symlinks")
            case .directory:
                ops.append(.directory(path: path, mode: chmod ?? e.mode, owner: o))
            }
        }
    }
}

extension SourceTree {
    /// The owner an entry keeps when no `--chown` is given: root for the context, its own otherwise.
    func owner(_ e: Entry) -> OwnerSpec? {
        preserveOwnership ? .ids(uid: e.uid, gid: e.gid) : .ids(uid: 0, gid: 0)
    }
}
