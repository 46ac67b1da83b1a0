import FirebuildCore
import Foundation
import Guest

/// Sends a COPY's file operations to the guest: runs of directories, content-disk files and
/// symlinks go in batches (one round trip per `batchLimit` entries); what a batch cannot carry
/// (bytes that are not on the content disk) goes one request at a time (`StageRunner.apply`),
/// in order.
struct FileOpApplier {
    static let batchLimit = 512
    let runner: StageRunner
    let conn: GuestConnection
    let content: StageContentDisk?
    /// Called before every operation (the watchdog's activity clock).
    var touch: () -> Void = {}

    /// Applies `ops` in order; returns how many files came from the content disk.
    func apply(_ ops: [FileOp]) throws -> Int {
        var batch: [FileBatchEntry] = []
        var fromDisk = 0
        func flush() throws {
            guard !batch.isEmpty else { return }
            try conn.applyFileBatch(FileBatch(batch), timeout: 600)
            batch.removeAll()
        }
        for op in ops {
            touch()
            if let entry = entry(op) {
                if case .copy = entry { fromDisk += 1 }
                batch.append(entry)
                if batch.count >= Self.batchLimit { try flush() }
            } else {
                try flush()
                try runner.apply(op, conn: conn)
            }
        }
        try flush()
        return fromDisk
    }

    func entry(_ op: FileOp) -> FileBatchEntry? {
        let owner = OwnerSpec.requestFields
        switch op {
        case let .directory(path, mode, o):
            let (n, u, g) = owner(o)
            return .mkdir(MkdirRequest(path: path, mode: mode, owner: n, uid: u, gid: g))
        case let .file(path, .host(local), mode, o):
            guard let disk = content, let at = disk.location(of: local) else { return nil }
            let (n, u, g) = owner(o)
            return .copy(DiskCopyRequest(target: WriteFileRequest(path: path, mode: mode, owner: n, uid: u, gid: g),
                                         disk: disk.token, offset: at.offset, length: at.length))
        case .file:
            return nil
        case let .symlink(path, target, o):
            let (n, u, g) = owner(o)
            return .symlink(SymlinkRequest(path: path, target: target, owner: n, uid: u, gid: g))
        }
    }
}
