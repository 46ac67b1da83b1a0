import Foundation

/// The scratch directory of one build, `<run cache>/builds/b<time>-<random>`: its layers when
/// `--no-cache`, its VMs' run directories, content disks, extracted sources. The build holds a
/// lock inside it for its whole life, so `purge` can tell what a killed build left behind from a
/// build that is still running.
public final class BuildScratch {
    public static let lockName = ".build.lock"
    public let path: String
    private let lock: FileLock

    private init(path: String, lock: FileLock) {
        self.path = path
        self.lock = lock
    }

    /// Creates and locks a new scratch directory under `buildsDir`.
    public static func create(in buildsDir: String, now: Date = Date()) throws -> BuildScratch {
        let path = "\(buildsDir)/b\(Int(now.timeIntervalSince1970))-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let lock = FileLock(path: path + "/" + lockName)
        try lock.lock(timeout: 0)
        return BuildScratch(path: path, lock: lock)
    }

    /// Deletes the directory (the build is over), then lets go of the lock.
    public func remove() {
        try? FileManager.default.removeItem(atPath: path)
        lock.unlock()
    }

    /// Names `create` gives (other folders under builds/, such as kernel source clones, are not ours).
    public static func isScratchName(_ name: String) -> Bool {
        let parts = name.split(separator: "-", omittingEmptySubsequences: false)
        return parts.count == 2 && parts[0].hasPrefix("b") && parts[0].count > 1 && parts[0].dropFirst().allSatisfy(\.isNumber)
            && !parts[1].isEmpty && parts[1].allSatisfy(\.isNumber)
    }

    /// Scratch directories of builds that are gone (their lock is free), each handed to
    /// `cleanup` (stop the VMs it started) and then deleted. A directory without a lock file is
    /// only taken once it is an hour old: its build may be starting right now.
    @discardableResult
    public static func purgeAbandoned(in buildsDir: String, now: Date = Date(), cleanup: (String) -> Void) -> [String] {
        let fm = FileManager.default
        var removed: [String] = []
        for name in ((try? fm.contentsOfDirectory(atPath: buildsDir)) ?? []).sorted() where isScratchName(name) {
            let dir = buildsDir + "/" + name
            let lockPath = dir + "/" + lockName
            if !fm.fileExists(atPath: lockPath) {
                let age = (try? fm.attributesOfItem(atPath: dir)[.modificationDate] as? Date).map { now.timeIntervalSince($0) } ?? 0
                guard age > 3600 else { continue }
            }
            let lock = FileLock(path: lockPath)
            guard (try? lock.lock(timeout: 0)) != nil else { continue }  // still running
            cleanup(dir)
            try? fm.removeItem(atPath: dir)
            lock.unlock()
            removed.append(name)
        }
        return removed
    }
}
