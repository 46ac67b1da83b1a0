import Foundation

/// Who a file is without reading it: path, device, inode, size and modification time. A file
/// replaced by rename (how firebuild writes everything) or rewritten gets another identity, so
/// caches key on it instead of hashing large files on every use.
public enum FileIdentity {
    /// nil when the file cannot be stat'ed.
    public static func of(_ path: String) -> String? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return "\(path):\(st.st_dev):\(st.st_ino):\(st.st_size):\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
    }
}
