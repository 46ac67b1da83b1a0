import FirebuildCore
import Foundation
import VM

/// Build VMs saved while paused in early boot (Guest/BootPause.swift), one template per machine
/// shape under `<run-cache>/boot-templates`: `<key>.ram` (the guest RAM, a sparse file) and
/// `<key>.state` (CPU and device state, tens of KiB; its presence says the template is whole).
/// The first build VM of a shape boots with its RAM in the template's file and is saved at the
/// pause; every build VM of that shape then starts from the template instead of booting the
/// kernel (under TCG a boot to ready is ~1.6 s, a restore ~0.3 s), mapping the RAM file
/// copy-on-write. A shape is everything the saved state depends on: the QEMU command line
/// without the per-VM paths, and the QEMU binary, kernel and initrd files (the initrd carries
/// the guest init). Disks are not probed before the pause, so their contents and sizes do not
/// count, only how many there are. VMs with a network card always boot.
public struct BootTemplates {
    static let stateSuffix = ".state"
    static let ramSuffix = ".ram"
    static let directoryName = "boot-templates"
    let directory: String

    init(directory: String) { self.directory = directory }
    /// The templates of the builds that use this run cache.
    public init(runCache: String) { directory = runCache + "/" + Self.directoryName }

    /// The two files of one template.
    struct Files: Equatable {
        var state: String
        var ram: String
    }

    enum Plan {
        /// Start from this template.
        case restore(Files)
        /// Save a template of this shape first (the lock is held until then), then start from it.
        case save(Files, FileLock)
        /// Boot without a template (another build is saving this shape right now).
        case boot
    }

    func files(key: String) -> Files {
        Files(state: directory + "/" + key + Self.stateSuffix, ram: directory + "/" + key + Self.ramSuffix)
    }

    func plan(for config: VMConfig, driver: QEMUDriver) -> Plan {
        guard config.network == nil, config.incomingState == nil, config.memoryFile == nil,
              let key = Self.key(for: config, driver: driver) else { return .boot }
        let files = files(key: key)
        if exists(files) {
            utimes(files.state, nil)  // its modification time says when it was last used (`cache prune --older-than`)
            return .restore(files)
        }
        let lock = FileLock(path: directory + "/" + key + ".lock")
        guard (try? lock.lock(timeout: 0)) != nil else { return .boot }
        // Saved while we waited for the lock.
        if exists(files) { lock.unlock(); return .restore(files) }
        removeLeftovers(of: files)
        return .save(files, lock)
    }

    /// What a save killed midway left (a RAM file of ~100 MB): only a process holding the
    /// shape's lock saves, so under the lock any temporary file of the shape is abandoned.
    func removeLeftovers(of files: Files) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let prefixes = [(files.ram as NSString).lastPathComponent + ".tmp-", (files.state as NSString).lastPathComponent + ".staged-"]
        for name in names where prefixes.contains(where: { name.hasPrefix($0) }) {
            unlink(directory + "/" + name)
        }
        unlink(files.ram)  // a RAM file without its state is no template
    }

    func exists(_ files: Files) -> Bool {
        FileManager.default.fileExists(atPath: files.state) && FileManager.default.fileExists(atPath: files.ram)
    }

    /// A template QEMU could not load, or whose guest did not come back, is not tried again.
    /// The state goes first: without it the RAM file is no template.
    func discard(_ files: Files) {
        unlink(files.state)
        unlink(files.ram)
    }

    /// The templates and the disk space they take (`cache ls`).
    public func list() -> [(path: String, bytes: Int64, lastUsed: Date)] {
        let fm = FileManager.default
        return ((try? fm.contentsOfDirectory(atPath: directory)) ?? []).sorted().compactMap { name in
            guard name.hasSuffix(Self.stateSuffix) else { return nil }
            let key = String(name.dropLast(Self.stateSuffix.count))
            let files = files(key: key)
            var st = stat()
            guard stat(files.state, &st) == 0 else { return nil }
            let used = Date(timeIntervalSince1970: TimeInterval(st.st_mtim.tv_sec))
            return (files.state, Self.allocated(files.state) + Self.allocated(files.ram), used)
        }
    }

    /// Removes the templates (those unused since `cutoff`, or all), RAM files without a state
    /// and what interrupted saves left; returns the bytes freed. The next build VM of a removed
    /// shape boots and saves it again.
    @discardableResult
    public func prune(olderThan cutoff: Date? = nil) -> Int64 {
        let fm = FileManager.default
        let names = (try? fm.contentsOfDirectory(atPath: directory)) ?? []
        var freed: Int64 = 0
        func remove(_ path: String) { freed += Self.allocated(path); unlink(path) }
        for name in names where name.hasSuffix(Self.stateSuffix) {
            let files = files(key: String(name.dropLast(Self.stateSuffix.count)))
            var st = stat()
            guard stat(files.state, &st) == 0 else { continue }
            if let cutoff, Date(timeIntervalSince1970: TimeInterval(st.st_mtim.tv_sec)) >= cutoff { continue }
            remove(files.state)
            remove(files.ram)
        }
        let anHourAgo = Date().addingTimeInterval(-3600)
        for name in names where name.contains(".tmp-") || name.contains(".staged-") || name.hasSuffix(Self.ramSuffix) {
            let path = directory + "/" + name
            if name.hasSuffix(Self.ramSuffix), fm.fileExists(atPath: String(path.dropLast(Self.ramSuffix.count)) + Self.stateSuffix) { continue }
            guard let a = try? fm.attributesOfItem(atPath: path), let m = a[.modificationDate] as? Date, m < anHourAgo else { continue }
            remove(path)
        }
        return freed
    }

    /// Bytes a (sparse) file takes on disk.
    static func allocated(_ path: String) -> Int64 {
        var st = stat()
        return stat(path, &st) == 0 ? Int64(st.st_blocks) * 512 : 0
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
        shape.incomingState = nil
        shape.memoryFile = nil
        let accelerator = driver.resolvedAccelerator(kernelPath: config.kernelPath)
        let argv = driver.arguments(shape, accelerator: accelerator, files: QEMUDriver.RunFiles(runDirectory: "/run"))
        guard let qemu = driver.binary.hasPrefix("/") ? driver.binary : Command.which(driver.binary) else { return nil }
        var material = ["boot-template 2"] + argv
        for file in [qemu, config.kernelPath] + (config.initrdPath.map { [$0] } ?? []) {
            guard let identity = FileIdentity.of(file) else { return nil }
            material.append(identity)
        }
        return String(ContentDigest.sha256(material.joined(separator: "\u{0}")).hex.prefix(32))
    }
}
