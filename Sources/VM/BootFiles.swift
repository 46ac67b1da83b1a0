import FirebuildCore
import Foundation

/// The guest init and the initrd a VM boots with. The stored image is never modified: the
/// static `firebuild-init` travels in a second initramfs segment appended to the kernel's
/// initrd (the kernel unpacks concatenated cpio archives in order, later files replacing earlier
/// ones). It goes in as `/init`, replacing the initrd's shell script: the kernel starts it
/// directly and it does the script's work in-process (GuestInit/EarlyBoot.swift), then continues
/// as PID 1 from a tmpfs /run in the new root. An older init without that mode travels as
/// `/firebuild-init`, which the shell /init copies there instead.
public enum BootFiles {
    /// Name of the init in the new root's /run (`firebuild.init=/run/firebuild-init`).
    public static let initName = "firebuild-init"

    /// Found in the binary of an init that can run as the initramfs's /init (its --help text).
    static let earlyBootMarker = Data("initramfs-init/1".utf8)

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

    /// The kernel's initrd with the init appended, cached by content under `cacheDir`.
    public static func initrd(kernelInitrd: String, guestInit: String, cacheDir: String) throws -> String {
        // Keyed by file identity (inode, size, mtime), not content: hashing ~8 MB on every run
        // showed up in boot-to-ready times, and both files are replaced by rename when rebuilt.
        let identity = { (path: String) in FileIdentity.of(path) ?? "missing:\(path)" }
        let key = ContentDigest.sha256("v2+\(identity(kernelInitrd))+\(identity(guestInit))")
        let path = "\(cacheDir)/initrd-\(key.hex.prefix(16)).img"
        if FileManager.default.fileExists(atPath: path) { return path }
        guard let stored = FileManager.default.contents(atPath: kernelInitrd) else {
            throw FirebuildError.posix("read", path: kernelInitrd)
        }
        let base = inflated(stored)
        guard let initData = FileManager.default.contents(atPath: guestInit) else {
            throw FirebuildError.posix("read", path: guestInit)
        }
        var combined = base
        // Each segment must start 4-byte aligned; the kernel skips the zero padding.
        while combined.count % 4 != 0 { combined.append(0) }
        combined.append(segment(guestInit: initData))
        try AtomicFile.write(combined, to: path, mode: 0o644)
        return path
    }

    /// The appended segment: the init as `/init` when it has the early-boot mode, else as
    /// `/firebuild-init` for the shell. Not compressed: the kernel then copies the ~8 MB instead
    /// of inflating them, which under TCG cost more boot time than the larger file costs to load.
    static func segment(guestInit initData: Data) -> Data {
        var cpio = CpioWriter()
        cpio.file(supportsEarlyBoot(initData) ? "init" : initName, contents: initData, mode: 0o755)
        return cpio.finish()
    }

    /// A gzip'd initrd (what `firebuild kernel initrd` stores) inflated once here rather than by
    /// the guest kernel at every boot: about 0.2 s of TCG boot time for ~2.7 MB. Anything that is not
    /// one clean gzip'd cpio archive (other compressors, concatenated segments) is kept as it is.
    static func inflated(_ initrd: Data) -> Data {
        guard initrd.starts(with: [0x1F, 0x8B]),
              let r = try? Command("gzip", ["-dc"], stdin: initrd, timeout: 60).run(), r.status == 0,
              r.stdout.starts(with: Data("070701".utf8)) else { return initrd }
        return r.stdout
    }

    static func supportsEarlyBoot(_ initData: Data) -> Bool { initData.range(of: earlyBootMarker) != nil }
}
