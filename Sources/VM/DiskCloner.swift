import FirebuildCore
import Foundation

/// Gives each VM a private, writable copy of a stored root filesystem without copying it:
/// QEMU gets a qcow2 overlay backed by the raw image (KiBs until the guest writes), Firecracker,
/// which only takes raw files, a reflinked sparse copy (instant on XFS/btrfs, a sparse copy elsewhere).
public enum DiskCloner {
    /// Clones `base` (a raw ext4 image) to `destination` for `vmm` and returns the disk to attach.
    /// `size` (bytes), when larger than the base, grows the virtual disk (the guest may resize2fs).
    public static func clone(base: String, to destination: String, for vmm: VMMKind, size: Int64? = nil) throws -> VMDisk {
        switch vmm {
        case .qemu:
            try qcow2Overlay(base: base, overlay: destination, size: size)
            return VMDisk(path: destination, format: .qcow2)
        case .firecracker:
            try reflinkCopy(from: base, to: destination, size: size)
            return VMDisk(path: destination, format: .raw)
        }
    }

    /// `qemu-img create -f qcow2 -F raw -b BASE OVERLAY [SIZE]`. The base path is made absolute:
    /// qcow2 resolves a relative backing path against the overlay's directory, not ours.
    public static func qcow2Overlay(base: String, overlay: String, size: Int64? = nil) throws {
        let absBase = absolute(base)
        guard FileManager.default.fileExists(atPath: absBase) else {
            throw FirebuildError(.notFound, "base image \(absBase) does not exist")
        }
        var args = ["create", "-q", "-f", "qcow2", "-F", "raw", "-b", absBase, overlay]
        if let size { args.append(String(size)) }
        try Command("qemu-img", args).check()
    }

    /// `cp --reflink=auto --sparse=always`, then an optional grow with truncate.
    public static func reflinkCopy(from base: String, to destination: String, size: Int64? = nil) throws {
        guard FileManager.default.fileExists(atPath: base) else {
            throw FirebuildError(.notFound, "base image \(base) does not exist")
        }
        try Command("cp", ["--reflink=auto", "--sparse=always", base, destination]).check()
        if let size, let current = fileSize(destination), size > current {
            guard truncate(destination, off_t(size)) == 0 else { throw FirebuildError.posix("truncate", path: destination) }
        }
    }

    /// Bytes actually allocated on disk (st_blocks × 512): what a clone really costs.
    public static func allocatedBytes(_ path: String) -> Int64? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Int64(st.st_blocks) * 512
    }

    static func fileSize(_ path: String) -> Int64? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Int64(st.st_size)
    }

    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }
}
