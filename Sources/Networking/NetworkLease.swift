import FirebuildCore
import Foundation

/// A network attachment owned by a running process instead of the run cache: build VMs live only
/// as long as their `firebuild rootfs` process. The lease file is written *before* the namespace
/// and the CNI ADD are made, and the owner holds an exclusive flock on `<id>.lock` for as long as
/// the attachment exists. The kernel drops that lock when the owner dies, however it dies, so
/// `firebuild purge` can tell abandoned leases (lock free) from live ones (lock held) without pids.
public struct NetworkLease: Codable, Equatable, Sendable {
    public var vmID: String
    public var network: String
    public var namespace: String
    public var fixedIP: String?
    /// The CNI settings the ADD used: DEL must use the same ones.
    public var cniConfDir: String
    public var cniBinDirs: [String]
    public var cniCacheDir: String
    public var cniHostNamespace: String?
    /// The VMM process (set once it runs), so purge can stop a VMM its owner left behind.
    public var vmmPID: Int32?
    public var vmmStartTime: UInt64?

    public init(vmID: String, network: String, namespace: String, fixedIP: String? = nil, runner: CNIRunner) {
        self.vmID = vmID
        self.network = network
        self.namespace = namespace
        self.fixedIP = fixedIP
        cniConfDir = runner.confDir
        cniBinDirs = runner.binDirs
        cniCacheDir = runner.cacheDir
        cniHostNamespace = runner.hostNamespace
    }

    /// A runner with the lease's CNI settings.
    public func runner() -> CNIRunner {
        CNIRunner(confDir: cniConfDir, binDirs: cniBinDirs, cacheDir: cniCacheDir, hostNamespace: cniHostNamespace)
    }
}

/// The lease files, one pair per VM under `dir` (`<run-cache>/network-leases`).
public struct NetworkLeaseStore: Sendable {
    public let dir: String

    public init(dir: String) {
        self.dir = dir
    }

    public init(runCache: String) {
        self.init(dir: runCache + "/network-leases")
    }

    func file(_ vmID: String) -> String { "\(dir)/\(vmID).json" }
    func lockFile(_ vmID: String) -> String { "\(dir)/\(vmID).lock" }

    /// Takes the lease's lock and writes it; the returned lock must be kept until `release`.
    public func acquire(_ lease: NetworkLease) throws -> FileLock {
        guard !lease.vmID.isEmpty, !lease.vmID.contains("/"), !lease.vmID.hasPrefix(".") else {
            throw FirebuildError(.invalidArgument, "invalid VM id \"\(lease.vmID)\" for a network lease")
        }
        let lock = FileLock(path: lockFile(lease.vmID))
        try lock.lock(timeout: 0)
        do {
            try update(lease)
        } catch {
            lock.unlock()
            throw error
        }
        return lock
    }

    /// Rewrites a held lease (e.g. once the VMM pid is known).
    public func update(_ lease: NetworkLease) throws {
        try AtomicFile.writeJSON(lease, to: file(lease.vmID), mode: 0o600)
    }

    /// Forgets a lease whose attachment is gone; the lease file goes first, then the lock.
    public func release(_ vmID: String, lock: FileLock) {
        unlink(file(vmID))
        unlink(lockFile(vmID))
        lock.unlock()
    }

    public func load(_ vmID: String) throws -> NetworkLease? {
        guard let data = FileManager.default.contents(atPath: file(vmID)) else { return nil }
        do {
            return try JSONDecoder().decode(NetworkLease.self, from: data)
        } catch {
            throw FirebuildError(.parse, "network lease \(file(vmID)) is unreadable: \(error); remove it, then delete the namespace fb-\(vmID) by hand")
        }
    }

    /// VM ids with a lease file.
    public func ids() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted()
    }

    /// Calls `cleanUp` for every lease whose owner is gone (its lock is free), holding the lock
    /// meanwhile, and removes the lease when `cleanUp` succeeds. Live leases are skipped.
    /// Returns the ids cleaned up; the first error is thrown after all were tried.
    @discardableResult
    public func reclaimAbandoned(_ cleanUp: (NetworkLease) throws -> Void) throws -> [String] {
        var reclaimed: [String] = []
        var firstError: Error?
        for id in ids() {
            let lock = FileLock(path: lockFile(id))
            guard (try? lock.lock(timeout: 0)) != nil else { continue }  // its owner is alive
            do {
                // The owner may have released it between the listing and the lock.
                guard let lease = try load(id) else { lock.unlock(); unlink(lockFile(id)); continue }
                try cleanUp(lease)
                release(id, lock: lock)
                reclaimed.append(id)
            } catch {
                lock.unlock()
                if firstError == nil { firstError = error }
            }
        }
        if let firstError { throw firstError }
        return reclaimed
    }
}
