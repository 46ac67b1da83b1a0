import FirebuildCore
import Foundation

/// Which context paths COPY may see (`.dockerignore`). Paths are relative to the context root.
public struct ContextFilter: Sendable {
    public var isExcluded: @Sendable (_ relativePath: String, _ isDirectory: Bool) -> Bool
    /// When false, an excluded directory can still hold re-included (`!pattern`) entries: walk into it.
    public var excludedDirectoriesAreFinal: Bool

    public init(excludedDirectoriesAreFinal: Bool = true, isExcluded: @escaping @Sendable (String, Bool) -> Bool) {
        self.isExcluded = isExcluded
        self.excludedDirectoriesAreFinal = excludedDirectoriesAreFinal
    }

    public static let none = ContextFilter { _, _ in false }
}

/// A host directory COPY/ADD reads from: the build context, another stage's files extracted from
/// its disk, an image's rootfs, a git checkout or a download directory.
public struct SourceTree: Sendable {
    public var root: String
    public var filter: ContextFilter
    /// Keep the owners found on disk (stage/image sources, tar archives); the context's files are
    /// always given to root, as Docker does.
    public var preserveOwnership: Bool
    public var label: String

    public init(root: String, filter: ContextFilter = .none, preserveOwnership: Bool = false, label: String = "build context") {
        self.root = root
        self.filter = filter
        self.preserveOwnership = preserveOwnership
        self.label = label
    }

    public enum Kind: Equatable, Sendable { case file, directory, symlink, other }

    public struct Entry: Equatable, Sendable {
        public var relativePath: String
        public var kind: Kind
        public var mode: UInt32
        public var uid: Int
        public var gid: Int
        public var linkTarget: String?
    }

    public func hostPath(_ rel: String) -> String { rel.isEmpty ? root : root + "/" + rel }

    /// lstat of one entry; nil when it does not exist or is filtered out.
    public func entry(_ rel: String) -> Entry? {
        var st = stat()
        guard lstat(hostPath(rel), &st) == 0 else { return nil }
        let kind: Kind = switch st.st_mode & S_IFMT {
        case S_IFREG: .file
        case S_IFDIR: .directory
        case S_IFLNK: .symlink
        default: .other
        }
        if !rel.isEmpty && filter.isExcluded(rel, kind == .directory) {
            // A filtered directory may still contain re-included entries; report it as present.
            if !(kind == .directory && !filter.excludedDirectoriesAreFinal) { return nil }
        }
        var target: String?
        if kind == .symlink { target = try? FileManager.default.destinationOfSymbolicLink(atPath: hostPath(rel)) }
        return Entry(relativePath: rel, kind: kind, mode: UInt32(st.st_mode & 0o7777), uid: Int(st.st_uid),
                     gid: Int(st.st_gid), linkTarget: target)
    }

    /// The entry a symlink finally points to, resolved inside this tree (an absolute target is
    /// taken from the tree's root, `..` never climbs above it), as BuildKit resolves COPY sources.
    public func resolveLink(_ e: Entry) throws -> Entry {
        var current = e
        for _ in 0..<40 where current.kind == .symlink {
            let target = current.linkTarget ?? ""
            let base = target.hasPrefix("/") ? "/" : BuildPath.dirname("/" + current.relativePath)
            let rel = BuildPath.contextRelative(BuildPath.join(base, target))
            guard let next = entry(rel) else {
                throw FirebuildError(.notFound, "\(e.relativePath) in the \(label) is a symlink to \(e.linkTarget ?? ""), which is not in the \(label)")
            }
            current = next
        }
        guard current.kind != .symlink else {
            throw FirebuildError(.invalidArgument, "\(e.relativePath) in the \(label): too many levels of symbolic links")
        }
        return current
    }

    /// Names in a directory, sorted (byte order, like Go's filepath.Walk) so plans are reproducible.
    public func children(_ rel: String) throws -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: hostPath(rel)).sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        } catch {
            throw FirebuildError(.io, "cannot list \(hostPath(rel)) in the \(label): \(error.localizedDescription)")
        }
    }

    /// Every entry below `rel` (excluded), depth first, honouring the filter.
    public func walk(_ rel: String) throws -> [Entry] {
        var out: [Entry] = []
        for name in try children(rel) {
            let childRel = rel.isEmpty ? name : rel + "/" + name
            guard let e = entry(childRel) else { continue }
            let excluded = filter.isExcluded(childRel, e.kind == .directory)
            if e.kind == .directory {
                let sub = try walk(childRel)
                // An excluded directory is kept only as the parent of re-included entries.
                if !excluded || !sub.isEmpty { out.append(e) }
                out += sub
            } else if !excluded {
                out.append(e)
            }
        }
        return out
    }

    /// Expands a wildcard source (Go filepath.Match per path component) to matching entries.
    public func glob(_ pattern: String) throws -> [Entry] {
        let parts = pattern.split(separator: "/").map(String.init)
        var current: [String] = [""]
        for (i, part) in parts.enumerated() {
            var next: [String] = []
            for dir in current {
                if !GoGlob.hasMeta(part) {
                    let rel = dir.isEmpty ? part : dir + "/" + part
                    if entry(rel) != nil { next.append(rel) }
                    continue
                }
                guard let d = entry(dir), d.kind == .directory || dir.isEmpty else { continue }
                for name in try children(dir) where try GoGlob.match(part, name) {
                    let rel = dir.isEmpty ? name : dir + "/" + name
                    guard let e = entry(rel) else { continue }
                    if i < parts.count - 1 && e.kind != .directory { continue }
                    next.append(rel)
                }
            }
            current = next
        }
        return current.compactMap { entry($0) }
    }
}
