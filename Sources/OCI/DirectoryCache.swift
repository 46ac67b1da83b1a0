import FirebuildCore
import Foundation

/// Open descriptors of the directories a layer is writing into, by member path
/// ("usr/share/doc"). Tar members come grouped by directory, so almost every member finds
/// its parent here instead of walking from the root (two syscalls per path component).
///
/// Why it stays safe: a cached descriptor is what `SafeRoot` resolved (symlinks inside the
/// root, never followed by the kernel). The only way the same path could later resolve to
/// something else is that some component is removed or replaced, and every removal in the
/// applier goes through `invalidate()` first. Creating entries never changes how an
/// existing path resolves.
final class DirectoryCache {
    private let root: SafeRoot
    private var fds: [String: Int32] = [:]
    /// Bounded so a huge layer cannot exhaust descriptors; when full, start over.
    private let capacity: Int

    init(root: SafeRoot, capacity: Int = 256) {
        self.root = root
        self.capacity = capacity
    }

    deinit { invalidate() }

    static func key(_ components: ArraySlice<String>) -> String { components.joined(separator: "/") }

    /// The directory at `components` (created 0755 when missing, like `SafeRoot.openDirectory`
    /// with `create`). The descriptor belongs to the cache: do not close it.
    func directory(_ components: [String], what: String) throws -> Int32 {
        let key = DirectoryCache.key(components[...])
        if let fd = fds[key] { return fd }
        if let last = components.last, let parent = fds[DirectoryCache.key(components.dropLast())],
           let fd = try step(parent, last) {
            insert(key, fd)
            return fd
        }
        guard let fd = try root.openDirectory(components, create: true, what: what) else {
            throw FirebuildError(.internal, "\(what): cannot open directory /\(key)")
        }
        insert(key, fd)
        return fd
    }

    /// The directory at `components` if there is one (nothing is created); owned by the cache.
    func existingDirectory(_ components: [String], what: String) throws -> Int32? {
        let key = DirectoryCache.key(components[...])
        if let fd = fds[key] { return fd }
        guard let fd = try root.openDirectory(components, create: false, what: what) else { return nil }
        insert(key, fd)
        return fd
    }

    /// One component below a cached directory, when it is a plain directory or missing
    /// (then created). Symlinks and anything odd return nil: the full walk handles them.
    private func step(_ parent: Int32, _ name: String) throws -> Int32? {
        guard !name.isEmpty, name != ".", name != ".." else { return nil }
        var st = stat()
        if fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) != 0 {
            guard errno == ENOENT, mkdirat(parent, name, 0o755) == 0 || errno == EEXIST else { return nil }
        } else if st.st_mode & S_IFMT != S_IFDIR {
            return nil
        }
        let fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        return fd >= 0 ? fd : nil
    }

    /// Hands a directory the applier just opened (a new directory member) to the cache.
    func adopt(_ components: [String], fd: Int32) {
        let key = DirectoryCache.key(components[...])
        if let old = fds[key], old != fd { close(old) }
        fds[key] = nil
        insert(key, fd)
    }

    private func insert(_ key: String, _ fd: Int32) {
        if fds.count >= capacity { invalidate() }
        fds[key] = fd
    }

    /// Forgets everything: call before anything under the root is removed or replaced.
    /// `keeping` survives (with its path): the directory a child is being removed from.
    func invalidate(keeping: Int32? = nil) {
        var kept: (String, Int32)?
        for (key, fd) in fds {
            if fd == keeping { kept = (key, fd) } else { close(fd) }
        }
        fds.removeAll(keepingCapacity: true)
        if let kept { fds[kept.0] = kept.1 }
    }
}
