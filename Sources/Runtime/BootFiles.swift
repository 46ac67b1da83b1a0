import FirebuildCore
import Foundation
import VM

/// The guest init and the initrd a VM boots with. The stored image is never modified: the
/// static `firebuild-init` travels in a second initramfs segment appended to the kernel's
/// initrd (the kernel unpacks concatenated cpio archives in order), and the initrd's /init
/// copies it onto a tmpfs in the new root before `switch_root`.
public enum BootFiles {
    /// Name of the init inside the appended initramfs segment.
    public static let initName = "firebuild-init"

    /// Finds the statically linked guest init: `$FIREBUILD_INIT`, the configured path, next to
    /// this executable, or in the package's build tree (`make init` writes it there).
    public static func guestInit(configured: String?) throws -> String {
        var candidates: [String] = []
        if let env = ProcessInfo.processInfo.environment["FIREBUILD_INIT"] { candidates.append(env) }
        if let configured { candidates.append(configured) }
        let exe = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath().deletingLastPathComponent()
        candidates.append(exe.appendingPathComponent("firebuild-init-static").path)
        var dir = exe
        for _ in 0..<6 {
            candidates.append(dir.appendingPathComponent(".build-static/firebuild-init-static").path)
            dir = dir.deletingLastPathComponent()
        }
        candidates.append(FileManager.default.currentDirectoryPath + "/.build-static/firebuild-init-static")
        candidates.append("/usr/local/lib/firebuild/firebuild-init")
        if let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) { return found }
        throw FirebuildError(.notFound,
            "the static guest init (firebuild-init) was not found; build it with `make init`, or point FIREBUILD_INIT at it (looked in: \(candidates.joined(separator: ", ")))")
    }

    static func fileIdentity(_ path: String) -> String {
        var st = stat()
        guard stat(path, &st) == 0 else { return "missing:\(path)" }
        return "\(path):\(st.st_dev):\(st.st_ino):\(st.st_size):\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
    }

    /// The kernel's initrd with the init appended, cached by content under `cacheDir`.
    public static func initrd(kernelInitrd: String, guestInit: String, cacheDir: String) throws -> String {
        // Keyed by file identity (inode, size, mtime), not content: hashing ~8 MB on every run
        // showed up in boot-to-ready times, and both files are replaced by rename when rebuilt.
        let key = ContentDigest.sha256("\(fileIdentity(kernelInitrd))+\(fileIdentity(guestInit))")
        let path = "\(cacheDir)/initrd-\(key.hex.prefix(16)).img"
        if FileManager.default.fileExists(atPath: path) { return path }
        guard let base = FileManager.default.contents(atPath: kernelInitrd) else {
            throw FirebuildError.posix("read", path: kernelInitrd)
        }
        guard let initData = FileManager.default.contents(atPath: guestInit) else {
            throw FirebuildError.posix("read", path: guestInit)
        }
        var cpio = CpioWriter()
        cpio.file(initName, contents: initData, mode: 0o755)
        var combined = base
        // Each segment must start 4-byte aligned; the kernel skips the zero padding.
        while combined.count % 4 != 0 { combined.append(0) }
        combined.append(try Gzip.compress(cpio.finish(), level: 1))
        try AtomicFile.write(combined, to: path, mode: 0o644)
        return path
    }
}
