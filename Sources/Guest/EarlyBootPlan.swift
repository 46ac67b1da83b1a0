// The decisions firebuild-init makes when the kernel starts it as the initramfs's /init (early
// boot): what the kernel command line asks for, which block device is the root, which modules to
// load, which filesystem types to try and which init to hand over to. Pure functions, so they are
// unit-tested on the host; the syscalls live in GuestInit/EarlyBoot.swift. They mirror the shell
// /init of firebuild's initrd (VM/InitrdBuilder.swift), which remains the fallback.

/// How `root=` names the root device.
public enum RootSpec: Equatable, Sendable {
    /// A device node (`root=/dev/vda`).
    case path(String)
    /// `root=UUID=…`: the filesystem UUID, lower case.
    case uuid(String)
    /// `root=LABEL=…`: the filesystem label.
    case label(String)

    /// nil for forms early boot cannot resolve (e.g. `PARTUUID=`, an empty value).
    public static func parse(_ text: String) -> RootSpec? {
        if text.hasPrefix("/") { return .path(text) }
        if text.hasPrefix("UUID=") {
            let u = String(text.dropFirst(5)).lowercased()
            return u.isEmpty ? nil : .uuid(u)
        }
        if text.hasPrefix("LABEL=") {
            let l = String(text.dropFirst(6))
            return l.isEmpty ? nil : .label(l)
        }
        return nil
    }

    /// True when a filesystem with this identity is the one asked for.
    public func matches(_ id: FilesystemIdentity) -> Bool {
        switch self {
        case .path: return false
        case let .uuid(u): return id.uuid == u
        case let .label(l): return id.label == l
        }
    }
}

/// What the kernel command line asks of early boot. Defaults match the shell /init.
public struct EarlyBootConfig: Equatable, Sendable {
    /// The raw `root=` value (default /dev/vda).
    public var root = "/dev/vda"
    /// `rootfstype=`: nil tries every block filesystem the kernel knows, ext4 first.
    public var rootFSType: String?
    /// `ro` / `rw`, the last one wins (default rw).
    public var readOnly = false
    /// `init=`
    public var initPath: String?
    /// `firebuild.init=` (wins over `init=`)
    public var firebuildInit: String?
    /// `firebuild.pause`: wait for the host's `resume` before the disks are probed (BootPause).
    public var pause = false

    public init() {}

    public static func parse(cmdline: String) -> EarlyBootConfig {
        var c = EarlyBootConfig()
        func value(_ w: String, _ key: String) -> String? {
            w.hasPrefix(key) ? String(w.dropFirst(key.count)) : nil
        }
        for w in KernelCmdline.words(cmdline) {
            if w == "--" { break }  // the rest belongs to init, not to the kernel
            if let v = value(w, "root=") { c.root = v }
            else if let v = value(w, "rootfstype=") { c.rootFSType = v.isEmpty ? nil : v }
            else if w == "ro" { c.readOnly = true }
            else if w == "rw" { c.readOnly = false }
            else if let v = value(w, "init=") { c.initPath = v.isEmpty ? nil : v }
            else if let v = value(w, "firebuild.init=") { c.firebuildInit = v.isEmpty ? nil : v }
            else if w == BootPause.flag { c.pause = true }
            else if let v = value(w, BootPause.flag + "=") { c.pause = !(v == "0" || v == "off" || v == "no") }
        }
        return c
    }

    /// The inits tried in the new root, in order.
    public var initCandidates: [String] {
        [firebuildInit, initPath, "/sbin/firebuild-init", "/sbin/init"].compactMap { $0 }
    }

    /// The first candidate that exists in the new root (`exists` gets the path inside it; a
    /// dangling symlink counts, as `[ -e ] || [ -L ]` in the shell).
    public func chooseInit(exists: (String) -> Bool) -> String? {
        initCandidates.first(where: exists)
    }
}

/// The filesystem UUID and label read from a device's superblock.
public struct FilesystemIdentity: Equatable, Sendable {
    public var uuid: String
    public var label: String
    public init(uuid: String, label: String) { self.uuid = uuid; self.label = label }

    /// Bytes of a device from offset 0 needed to identify it.
    public static let probeSize = 2048

    /// ext2/3/4 (the root filesystems firebuild builds): the superblock sits at byte 1024, magic
    /// 0xEF53 (little endian) at +0x38, the 16-byte UUID at +0x68, the 16-byte label at +0x78.
    /// nil for anything else.
    public static func ext(_ bytes: [UInt8]) -> FilesystemIdentity? {
        let sb = 1024
        guard bytes.count >= sb + 0x88, bytes[sb + 0x38] == 0x53, bytes[sb + 0x39] == 0xEF else { return nil }
        let u = bytes[(sb + 0x68)..<(sb + 0x78)]
        let labelBytes = bytes[(sb + 0x78)..<(sb + 0x88)].prefix(while: { $0 != 0 })
        return FilesystemIdentity(uuid: formatUUID(Array(u)), label: String(decoding: labelBytes, as: UTF8.self))
    }

    /// 16 bytes as 8-4-4-4-12 lower-case hex (as blkid and findfs print it).
    public static func formatUUID(_ b: [UInt8]) -> String {
        let hex = Array("0123456789abcdef")
        var s = ""
        for (i, byte) in b.enumerated() {
            if i == 4 || i == 6 || i == 8 || i == 10 { s.append("-") }
            s.append(hex[Int(byte >> 4)]); s.append(hex[Int(byte & 0xF)])
        }
        return s
    }
}

public enum EarlyBootFiles {
    /// Module names from the initrd's /lib/modules/load-order (one per line, dependencies first),
    /// each loaded from /lib/modules/NAME.ko. Blank lines, `#` comments and names that would leave
    /// the directory are skipped.
    public static func moduleList(_ text: String) -> [String] {
        var names: [String] = []
        // Character.isNewline/isWhitespace: "\r\n" is a single Character in Swift.
        for line in text.split(whereSeparator: \.isNewline) {
            let content = line.prefix(while: { $0 != "#" })
            for w in content.split(whereSeparator: \.isWhitespace) where !w.hasPrefix(".") && !w.contains("/") {
                names.append(String(w))
            }
        }
        return names
    }

    /// Filesystem types to try for the root: the requested one alone, else every block filesystem
    /// in /proc/filesystems (lines without `nodev`), ext4 first: what `mount` without -t does.
    public static func filesystemCandidates(requested: String?, procFilesystems: String) -> [String] {
        if let requested { return [requested] }
        var out: [String] = []
        for line in procFilesystems.split(separator: "\n") {
            let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard f.count == 1, let name = f.first.map(String.init), !out.contains(name) else { continue }
            out.append(name)
        }
        if let i = out.firstIndex(of: "ext4") { out.remove(at: i) }
        return ["ext4"] + out
    }
}
