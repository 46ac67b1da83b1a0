import FirebuildCore
import Foundation

/// One change to an ext4 image, applied without mounting it (recipe hooks `rootfs:write`,
/// `rootfs:chmod`, `rootfs:remove` use these to patch images).
public enum Ext4Edit: Equatable, Sendable {
    public enum NodeType: String, Sendable { case character, block, fifo }
    /// Copies a host file in, replacing what is there. `mode` nil keeps the host file's permissions.
    case writeFile(source: String, path: String, mode: UInt32? = nil, uid: UInt32 = 0, gid: UInt32 = 0)
    case writeData(Data, path: String, mode: UInt32 = 0o644, uid: UInt32 = 0, gid: UInt32 = 0)
    /// Creates missing parents too (mode 0755, root-owned); an existing directory only gets mode/owner set.
    case mkdir(path: String, mode: UInt32 = 0o755, uid: UInt32 = 0, gid: UInt32 = 0)
    case chmod(path: String, mode: UInt32)
    case chown(path: String, uid: UInt32, gid: UInt32)
    case symlink(path: String, target: String, uid: UInt32 = 0, gid: UInt32 = 0)
    case mknod(path: String, type: NodeType, major: UInt32 = 0, minor: UInt32 = 0, mode: UInt32 = 0o644, uid: UInt32 = 0, gid: UInt32 = 0)
    /// Removes a file, link or node; a directory only with `recursive` (or when empty).
    case remove(path: String, recursive: Bool = false)
}

/// Applies edits through one `debugfs -w -f` script. Everything is checked against the image
/// before the script runs (a failed debugfs command can leave a half-done change), and every
/// command runs from the entry's parent directory: debugfs resolves the last component of an
/// absolute path against its *current* directory for mknod/rm, which corrupts the image otherwise.
public struct Ext4Editor {
    public let image: String
    private var known: [String: Ext4Stat.FileType?] = [:]
    private var lines: [String] = []
    private var tempDir: String?

    public init(image: String) {
        self.image = image
    }

    public static func apply(_ edits: [Ext4Edit], to image: String) throws {
        var editor = Ext4Editor(image: image)
        try editor.apply(edits)
    }

    public mutating func apply(_ edits: [Ext4Edit]) throws {
        guard FileManager.default.fileExists(atPath: image) else { throw FirebuildError(.notFound, "image \(image) does not exist") }
        lines = []
        known = [:]
        let tmp = NSTemporaryDirectory() + "firebuild-edit-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        tempDir = tmp
        defer { try? FileManager.default.removeItem(atPath: tmp); tempDir = nil }
        for edit in edits { try plan(edit) }
        guard !lines.isEmpty else { return }
        let script = tmp + "/script"
        try lines.joined(separator: "\n").appending("\n").write(toFile: script, atomically: true, encoding: .utf8)
        let result = try Command("debugfs", ["-w", "-f", script, image]).run()
        let errors = Ext4Inspector.debugfsErrors(result.stderrString)
        guard result.status == 0, errors.isEmpty else {
            throw FirebuildError(.subprocess, "editing \(image) with debugfs failed: \(errors.joined(separator: "; "))")
        }
    }

    // MARK: planning

    static func normalize(_ path: String) throws -> String {
        guard path.hasPrefix("/") else {
            throw FirebuildError(.invalidArgument, "image path \"\(path)\" must be absolute (start with /)")
        }
        let parts = path.split(separator: "/").filter { $0 != "." }
        guard !parts.contains("..") else {
            throw FirebuildError(.invalidArgument, "image path \"\(path)\" must not contain ..")
        }
        return "/" + parts.joined(separator: "/")
    }

    private static func split(_ path: String) -> (parent: String, base: String) {
        let parent = (path as NSString).deletingLastPathComponent
        return (parent.isEmpty ? "/" : parent, (path as NSString).lastPathComponent)
    }

    private mutating func type(of path: String) throws -> Ext4Stat.FileType? {
        if let cached = known[path] { return cached }
        let t: Ext4Stat.FileType?
        do {
            t = try Ext4Inspector.stat(image: image, path: path).type
        } catch let e as FirebuildError where e.code == .notFound {
            t = nil
        }
        known[path] = t
        return t
    }

    private static func typeBits(_ t: Ext4Stat.FileType) -> UInt32 {
        switch t {
        case .regular: 0o100000
        case .directory: 0o040000
        case .symlink: 0o120000
        case .characterDevice: 0o020000
        case .blockDevice: 0o060000
        case .fifo: 0o010000
        case .socket: 0o140000
        case .unknown: 0
        }
    }

    private mutating func emit(inParentOf path: String, _ command: (String) throws -> String) throws {
        let (parent, base) = Ext4Editor.split(path)
        lines.append("cd \(try Ext4Inspector.quote(parent))")
        lines.append(try command(try Ext4Inspector.quote(base)))
    }

    private mutating func setAttributes(_ path: String, type t: Ext4Stat.FileType, mode: UInt32?, uid: UInt32?, gid: UInt32?) throws {
        try emit(inParentOf: path) { q in
            var out: [String] = []
            if let mode { out.append("set_inode_field \(q) mode 0\(String(Ext4Editor.typeBits(t) | (mode & 0o7777), radix: 8))") }
            if let uid { out.append("set_inode_field \(q) uid \(uid)") }
            if let gid { out.append("set_inode_field \(q) gid \(gid)") }
            return out.joined(separator: "\n")
        }
    }

    private mutating func ensureParent(of path: String) throws {
        let (parent, _) = Ext4Editor.split(path)
        try makeDirectories(parent)
    }

    private mutating func makeDirectories(_ path: String) throws {
        if path == "/" { return }
        switch try type(of: path) {
        case .directory?: return
        case nil:
            try ensureParent(of: path)
            try emit(inParentOf: path) { "mkdir \($0)" }
            known[path] = .directory
            try setAttributes(path, type: .directory, mode: 0o755, uid: 0, gid: 0)
        case let other?:
            throw FirebuildError(.conflict, "cannot create directory \(path) in \(image): a \(other.rawValue) is in the way")
        }
    }

    private mutating func requireExisting(_ path: String, for what: String) throws -> Ext4Stat.FileType {
        guard let t = try type(of: path) else {
            throw FirebuildError(.notFound, "cannot \(what) \(path) in \(image): no such file or directory")
        }
        return t
    }

    /// Clears the way for a new entry at `path`: a file is replaced, a directory is not.
    private mutating func replaceable(_ path: String) throws {
        guard path != "/" else { throw FirebuildError(.invalidArgument, "cannot replace / in \(image)") }
        try ensureParent(of: path)
        if let t = try type(of: path) {
            guard t != .directory else {
                throw FirebuildError(.conflict, "cannot write \(path) in \(image): it is a directory")
            }
            try emit(inParentOf: path) { "rm \($0)" }
            known[path] = .some(nil)
        }
    }

    private mutating func plan(_ edit: Ext4Edit) throws {
        switch edit {
        case let .writeFile(source, rawPath, mode, uid, gid):
            let path = try Ext4Editor.normalize(rawPath)
            var st = stat()
            guard stat(source, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
                throw FirebuildError(.notFound, "cannot copy \(source) into \(image): not a readable regular file")
            }
            try replaceable(path)
            let src = try Ext4Inspector.quote(source)
            try emit(inParentOf: path) { "write \(src) \($0)" }
            known[path] = .regular
            try setAttributes(path, type: .regular, mode: mode ?? UInt32(st.st_mode & 0o7777), uid: uid, gid: gid)
        case let .writeData(data, rawPath, mode, uid, gid):
            guard let tempDir else { throw FirebuildError(.internal, "editor has no scratch directory") }
            let source = tempDir + "/data-\(lines.count)"
            try data.write(to: URL(fileURLWithPath: source))
            try plan(.writeFile(source: source, path: rawPath, mode: mode, uid: uid, gid: gid))
        case let .mkdir(rawPath, mode, uid, gid):
            let path = try Ext4Editor.normalize(rawPath)
            try makeDirectories(path)
            try setAttributes(path, type: .directory, mode: mode, uid: uid, gid: gid)
        case let .chmod(rawPath, mode):
            let path = try Ext4Editor.normalize(rawPath)
            let t = try requireExisting(path, for: "chmod")
            try setAttributes(path, type: t, mode: mode, uid: nil, gid: nil)
        case let .chown(rawPath, uid, gid):
            let path = try Ext4Editor.normalize(rawPath)
            let t = try requireExisting(path, for: "chown")
            try setAttributes(path, type: t, mode: nil, uid: uid, gid: gid)
        case let .symlink(rawPath, target, uid, gid):
            let path = try Ext4Editor.normalize(rawPath)
            try replaceable(path)
            let qt = try Ext4Inspector.quote(target)
            try emit(inParentOf: path) { "symlink \($0) \(qt)" }
            known[path] = .symlink
            try setAttributes(path, type: .symlink, mode: nil, uid: uid, gid: gid)
        case let .mknod(rawPath, nodeType, major, minor, mode, uid, gid):
            let path = try Ext4Editor.normalize(rawPath)
            try replaceable(path)
            let spec: String
            let t: Ext4Stat.FileType
            switch nodeType {
            case .fifo: spec = "p"; t = .fifo
            case .character: spec = "c \(major) \(minor)"; t = .characterDevice
            case .block: spec = "b \(major) \(minor)"; t = .blockDevice
            }
            try emit(inParentOf: path) { "mknod \($0) \(spec)" }
            known[path] = t
            // debugfs creates nodes with mode 0000.
            try setAttributes(path, type: t, mode: mode, uid: uid, gid: gid)
        case let .remove(rawPath, recursive):
            let path = try Ext4Editor.normalize(rawPath)
            guard path != "/" else { throw FirebuildError(.invalidArgument, "refusing to remove / from \(image)") }
            guard let t = try type(of: path) else { return }  // already absent: removal is idempotent
            try remove(path, type: t, recursive: recursive)
        }
    }

    private mutating func remove(_ path: String, type t: Ext4Stat.FileType, recursive: Bool) throws {
        if t == .directory {
            let children = try currentChildren(of: path)
            guard children.isEmpty || recursive else {
                throw FirebuildError(.conflict, "cannot remove directory \(path) from \(image): it is not empty (remove it recursively)")
            }
            for child in children {
                let childPath = path + "/" + child
                if let ct = try type(of: childPath) { try remove(childPath, type: ct, recursive: true) }
            }
            try emit(inParentOf: path) { "rmdir \($0)" }
        } else {
            try emit(inParentOf: path) { "rm \($0)" }
        }
        known[path] = .some(nil)
    }

    /// Entries of a directory as they will be when the script reaches this point: what the image
    /// has, plus what earlier edits created, minus what they removed.
    private mutating func currentChildren(of dir: String) throws -> [String] {
        var names = Set<String>()
        if let onDisk = try? Ext4Inspector.list(image: image, directory: dir) {
            names.formUnion(onDisk.filter { $0 != "lost+found" || dir != "/" })
        }
        for (p, _) in known where (p as NSString).deletingLastPathComponent == dir && p != dir {
            names.insert((p as NSString).lastPathComponent)
        }
        var live: [String] = []
        for name in names.sorted() where try type(of: dir + "/" + name) != nil { live.append(name) }
        return live
    }
}
