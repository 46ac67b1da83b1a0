import FirebuildCore
import Foundation
import VM

/// Build VMs saved while paused in early boot (Guest/BootPause.swift), one file per machine
/// shape, under `<run-cache>/boot-templates`: the first build VM of a shape is saved there, the
/// next ones start from the file instead of booting the kernel (under TCG a boot is ~1.6 s, a
/// restore ~0.1 s). A shape is everything the saved state depends on: the QEMU command line
/// without the per-VM paths, and the QEMU binary, kernel and initrd files (the initrd carries
/// the guest init). Disks are not probed before the pause, so their contents and sizes do not
/// count, only how many there are. VMs with a network card always boot.
public struct BootTemplates {
    static let stateSuffix = ".state"
    static let directoryName = "boot-templates"
    let directory: String

    init(directory: String) { self.directory = directory }
    /// The templates of the builds that use this run cache.
    public init(runCache: String) { directory = runCache + "/" + Self.directoryName }

    enum Plan {
        /// Start from this saved state.
        case restore(String)
        /// Boot, and save the VM at the pause to this path (the lock is held until then).
        case save(String, FileLock)
        /// Boot without saving (another build is saving this shape right now).
        case boot
    }

    func plan(for config: VMConfig, driver: QEMUDriver) -> Plan {
        guard config.network == nil, config.incomingState == nil, let key = Self.key(for: config, driver: driver) else { return .boot }
        let path = directory + "/" + key + Self.stateSuffix
        if FileManager.default.fileExists(atPath: path) {
            utimes(path, nil)  // its modification time says when it was last used (`cache prune --older-than`)
            Self.prefetch(path)
            return .restore(path)
        }
        let lock = FileLock(path: directory + "/" + key + ".lock")
        guard (try? lock.lock(timeout: 0)) != nil else { return .boot }
        // Saved while we waited for the lock.
        if FileManager.default.fileExists(atPath: path) { lock.unlock(); return .restore(path) }
        return .save(path, lock)
    }

    /// Starts reading the whole state into the page cache now, in large requests, while QEMU
    /// starts: a state partly evicted since its last use (the host reclaims cold pages) loaded
    /// in ~0.45 s instead of ~0.08 s when QEMU alone read it through its pipe.
    static func prefetch(_ path: String) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED)
        close(fd)
    }

    /// A state QEMU could not load, or whose guest did not come back, is not tried again.
    func discard(_ path: String) { unlink(path) }

    /// The saved states and their sizes (`cache ls`).
    public func list() -> [(path: String, bytes: Int64, lastUsed: Date)] {
        let fm = FileManager.default
        return ((try? fm.contentsOfDirectory(atPath: directory)) ?? []).sorted().compactMap { name in
            guard name.hasSuffix(Self.stateSuffix), let a = try? fm.attributesOfItem(atPath: directory + "/" + name) else { return nil }
            return (directory + "/" + name, (a[.size] as? NSNumber)?.int64Value ?? 0, a[.modificationDate] as? Date ?? Date())
        }
    }

    /// Removes the saved states (those unused since `cutoff`, or all) and what interrupted saves
    /// left; returns the bytes freed. The next build VM of a removed shape boots and saves it again.
    @discardableResult
    public func prune(olderThan cutoff: Date? = nil) -> Int64 {
        let fm = FileManager.default
        var freed: Int64 = 0
        for name in (try? fm.contentsOfDirectory(atPath: directory)) ?? [] {
            let path = directory + "/" + name
            guard let a = try? fm.attributesOfItem(atPath: path) else { continue }
            let interrupted = name.contains(Self.stateSuffix + ".tmp-") && (a[.modificationDate] as? Date ?? Date()) < Date().addingTimeInterval(-3600)
            guard name.hasSuffix(Self.stateSuffix) || interrupted else { continue }
            if !interrupted, let cutoff, let used = a[.modificationDate] as? Date, used >= cutoff { continue }
            freed += (a[.size] as? NSNumber)?.int64Value ?? 0
            unlink(path)
        }
        return freed
    }

    /// nil when a file the state depends on cannot be read (then the VM just boots).
    static func key(for config: VMConfig, driver: QEMUDriver) -> String? {
        var shape = config
        shape.id = "template"
        shape.runDirectory = "/run"
        shape.consoleLogPath = "/run/console.log"
        shape.channelSocketPath = "/run/channel.sock"
        shape.rootDisk.path = "/disk0"
        for i in shape.extraDisks.indices { shape.extraDisks[i].path = "/disk\(i + 1)" }
        let accelerator = driver.resolvedAccelerator(kernelPath: config.kernelPath)
        let argv = driver.arguments(shape, accelerator: accelerator, files: QEMUDriver.RunFiles(runDirectory: "/run"))
        guard let qemu = driver.binary.hasPrefix("/") ? driver.binary : Command.which(driver.binary) else { return nil }
        var material = ["boot-template 1"] + argv
        for file in [qemu, config.kernelPath] + (config.initrdPath.map { [$0] } ?? []) {
            guard let identity = fileIdentity(file) else { return nil }
            material.append(identity)
        }
        return String(ContentDigest.sha256(material.joined(separator: "\u{0}")).hex.prefix(32))
    }

    /// Path, device, inode, size and modification time: a replaced or rebuilt file is another file.
    static func fileIdentity(_ path: String) -> String? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return "\(path) \(st.st_dev) \(st.st_ino) \(st.st_size) \(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
    }
}
