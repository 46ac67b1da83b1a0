// A batch of COPY entries (Sources/Guest/FileBatch.swift), applied in order with the same
// semantics as the single requests; the first failure stops the batch and names its entry.
#if canImport(Glibc)
import Glibc
#endif
import Guest

extension Supervisor {
    func applyFileBatch(_ frame: Frame) throws {
        let batch = try FileBatch(frame: frame)
        for (i, entry) in batch.entries.enumerated() {
            do {
                switch entry {
                case .mkdir(let req): try makeDirectory(req)
                case .copy(let req): try copyFromDisk(req, id: frame.id)
                case .symlink(let req): try makeSymlink(req)
                }
            } catch {
                throw GuestError(.io, "entry \(i + 1) of \(batch.entries.count) (\(entry.path)): \(error)")
            }
        }
    }

    func makeSymlink(_ req: SymlinkRequest) throws {
        try checkAbsolute(req.path)
        let parent = Posix.dirname(req.path)
        if !Posix.exists(parent) { try makeDirectory(MkdirRequest(path: parent, mode: 0o755)) }
        unlink(req.path)
        if symlink(req.target, req.path) != 0 { throw GuestError.posix("symlink", req.path) }
        if req.owner != nil || req.uid != nil {
            guard let owner = try UserDatabase.resolveOwner(owner: req.owner, uid: req.uid, gid: req.gid, root: options.root) else { return }
            if lchown(req.path, owner.uid, owner.gid) != 0 { throw GuestError.posix("chown", req.path) }
        }
    }
}
