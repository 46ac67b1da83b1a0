import FirebuildCore
import Foundation

/// The run cache: one directory per VM under `<run-cache>/runs/<vmm-id>`, holding its
/// metadata, console log, sockets and copy-on-write disk. Every later command (`ls`,
/// `inspect`, `exec`, `kill`, `purge`) works from this state alone.
public struct RunCache: Sendable {
    public let root: String

    public init(root: String = FirebuildPaths().runCache) {
        self.root = root
    }

    public var runsDir: String { root + "/runs" }
    public func directory(for id: String) -> String { "\(runsDir)/\(id)" }
    public func metadataPath(for id: String) -> String { directory(for: id) + "/metadata.json" }
    private func lockPath(for id: String) -> String { "\(root)/locks/run-\(id).lock" }

    /// Creates the VM's directory; a second VM with the same id is refused (names are ids).
    public func create(id: String) throws -> String {
        try FileManager.default.createDirectory(atPath: runsDir, withIntermediateDirectories: true)
        let dir = directory(for: id)
        guard mkdir(dir, 0o700) == 0 else {
            if errno == EEXIST {
                throw FirebuildError(.alreadyExists,
                    "a VM named \"\(id)\" already exists in \(runsDir); choose another --name, or `firebuild kill --vmm-id \(id)` / `firebuild purge` it")
            }
            throw FirebuildError.posix("mkdir", path: dir)
        }
        return dir
    }

    /// Writes the record (0600: it names files and networks of the host).
    public func save(_ record: RunRecord) throws {
        try FileLock.withLock(lockPath(for: record.vmmID)) {
            try AtomicFile.writeJSON(record, to: metadataPath(for: record.vmmID), mode: 0o600)
        }
    }

    /// Appends a side effect to the record before it is made (see `RunRecord.sideEffects`).
    public func record(_ effect: RunRecord.SideEffect, for id: String) throws {
        try FileLock.withLock(lockPath(for: id)) {
            var r = try load(id: id)
            if !r.sideEffects.contains(effect) { r.sideEffects.append(effect) }
            try AtomicFile.writeJSON(r, to: metadataPath(for: id), mode: 0o600)
        }
    }

    public func load(id: String) throws -> RunRecord {
        let path = metadataPath(for: id)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FirebuildError(.notFound, "no VM \"\(id)\" in the run cache \(runsDir) (see `firebuild ls`)")
        }
        do {
            return try JSONDecoder().decode(RunRecord.self, from: data)
        } catch {
            throw FirebuildError(.parse, "run metadata \(path) is unreadable: \(error); `firebuild purge` removes it")
        }
    }

    /// Every VM directory, with its record when readable.
    public func list() -> [(id: String, record: RunRecord?)] {
        let ids = (try? FileManager.default.contentsOfDirectory(atPath: runsDir)) ?? []
        return ids.sorted().map { id in (id, try? load(id: id)) }
    }

    public func remove(id: String) throws {
        let dir = directory(for: id)
        if FileManager.default.fileExists(atPath: dir) {
            try FileManager.default.removeItem(atPath: dir)
        }
        unlink(lockPath(for: id))
    }
}

/// Whether a process is alive: `kill(pid, 0)`, where EPERM still means it exists.
public func processIsRunning(_ pid: Int32) -> Bool {
    guard pid > 0 else { return false }
    if kill(pid, 0) == 0 { return !isZombie(pid) }
    return errno == EPERM
}

private func isZombie(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return false }
    let rest = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces)
    return rest.hasPrefix("Z")
}
