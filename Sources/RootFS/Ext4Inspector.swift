import FirebuildCore
import Foundation

/// One inode as debugfs reports it.
public struct Ext4Stat: Equatable, Sendable {
    public enum FileType: String, Sendable {
        case regular, directory, symlink, characterDevice, blockDevice, fifo, socket, unknown
    }
    public var inode: UInt64
    public var type: FileType
    /// Permission bits including setuid/setgid/sticky (e.g. 0o4755), without the type bits.
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var size: UInt64
    public var links: UInt32
    public var linkTarget: String?
    public var device: (major: UInt32, minor: UInt32)?
    public var xattrs: [String: String]

    public static func == (a: Ext4Stat, b: Ext4Stat) -> Bool {
        a.inode == b.inode && a.type == b.type && a.mode == b.mode && a.uid == b.uid && a.gid == b.gid && a.size == b.size
            && a.links == b.links && a.linkTarget == b.linkTarget && a.device?.major == b.device?.major
            && a.device?.minor == b.device?.minor && a.xattrs == b.xattrs
    }
}

/// Read-only looks into an ext4 image without mounting it (debugfs, e2fsck, dumpe2fs):
/// tests use it to check what mkfs produced, and `image inspect` to report on an image.
public enum Ext4Inspector {
    /// Quotes a path for debugfs' command parser; characters it cannot express are refused.
    static func quote(_ path: String) throws -> String {
        guard !path.contains("\""), !path.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw FirebuildError(.invalidArgument, "path \"\(path)\" contains a double quote or control character, which debugfs cannot address")
        }
        return "\"\(path)\""
    }

    /// Runs one debugfs request and fails on anything it complains about (debugfs itself exits 0).
    static func request(_ image: String, _ request: String) throws -> Command.Result {
        let result = try Command("debugfs", ["-R", request, image]).run()
        let errors = debugfsErrors(result.stderrString)
        guard result.status == 0, errors.isEmpty else {
            throw FirebuildError(errors.contains { $0.contains("not found") } ? .notFound : .subprocess,
                                 "debugfs \(request) on \(image): \(errors.joined(separator: "; "))")
        }
        return result
    }

    /// stderr lines that are real errors (not the version banner or allocation notes).
    static func debugfsErrors(_ stderr: String) -> [String] {
        stderr.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter {
            !$0.isEmpty && !$0.hasPrefix("debugfs ") && !$0.hasPrefix("Allocated inode")
        }
    }

    public static func exists(image: String, path: String) throws -> Bool {
        do {
            _ = try stat(image: image, path: path)
            return true
        } catch let e as FirebuildError where e.code == .notFound {
            return false
        }
    }

    public static func stat(image: String, path: String) throws -> Ext4Stat {
        let out = try request(image, "stat \(try quote(path))").stdoutString
        var s = Ext4Stat(inode: 0, type: .unknown, mode: 0, uid: 0, gid: 0, size: 0, links: 0, linkTarget: nil, device: nil, xattrs: [:])
        var inXattrs = false
        for rawLine in out.split(separator: "\n") {
            let line = String(rawLine)
            if inXattrs {
                if line.hasPrefix("  "), let eq = line.range(of: " = ") {
                    let name = line[..<eq.lowerBound].trimmingCharacters(in: .whitespaces)
                    let key = name.split(separator: " ").first.map(String.init) ?? name
                    var value = String(line[eq.upperBound...])
                    if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
                    s.xattrs[key] = value
                    continue
                }
                inXattrs = false
            }
            if line.hasPrefix("Inode:") {
                s.inode = UInt64(field(line, "Inode:") ?? "") ?? 0
                if let typeRange = line.range(of: "Type: "), let modeRange = line.range(of: "Mode:") {
                    let t = line[typeRange.upperBound..<modeRange.lowerBound].trimmingCharacters(in: .whitespaces)
                    s.type = fileType(t)
                }
                s.mode = UInt32(field(line, "Mode:") ?? "", radix: 8) ?? 0
            } else if line.hasPrefix("User:") {
                s.uid = UInt32(field(line, "User:") ?? "") ?? 0
                s.gid = UInt32(field(line, "Group:") ?? "") ?? 0
                s.size = UInt64(field(line, "Size:") ?? "") ?? 0
            } else if line.hasPrefix("Links:") {
                s.links = UInt32(field(line, "Links:") ?? "") ?? 0
            } else if line.hasPrefix("Fast link dest:") {
                var v = line.dropFirst("Fast link dest:".count).trimmingCharacters(in: .whitespaces)
                if v.hasPrefix("\""), v.hasSuffix("\""), v.count >= 2 { v = String(v.dropFirst().dropLast()) }
                s.linkTarget = v
            } else if line.hasPrefix("Device major/minor number:") {
                let v = field(line, "number:") ?? ""
                let parts = v.split(separator: ":")
                if parts.count == 2, let ma = UInt32(parts[0]), let mi = UInt32(parts[1]) { s.device = (ma, mi) }
            } else if line.hasPrefix("Extended attributes:") {
                inXattrs = true
            }
        }
        // Targets of 60 bytes or more live in a data block ("slow" symlinks): read it.
        if s.type == .symlink, s.linkTarget == nil {
            s.linkTarget = String(decoding: try readFile(image: image, path: path), as: UTF8.self)
        }
        return s
    }

    /// The first whitespace-separated token after `label`.
    private static func field(_ line: String, _ label: String) -> String? {
        guard let r = line.range(of: label) else { return nil }
        return line[r.upperBound...].split(separator: " ", omittingEmptySubsequences: true).first.map(String.init)
    }

    private static func fileType(_ t: String) -> Ext4Stat.FileType {
        switch t {
        case "regular": .regular
        case "directory": .directory
        case "symlink": .symlink
        case "character special": .characterDevice
        case "block special": .blockDevice
        case "FIFO": .fifo
        case "socket": .socket
        default: .unknown
        }
    }

    /// Contents of a file (or a slow symlink's target) inside the image.
    public static func readFile(image: String, path: String) throws -> Data {
        try request(image, "cat \(try quote(path))").stdout
    }

    /// Names in a directory (without `.` and `..`), sorted.
    public static func list(image: String, directory: String) throws -> [String] {
        // `ls -p` prints /inode/mode/uid/gid/name/size/ per entry: unambiguous to split.
        let out = try request(image, "ls -p \(try quote(directory))").stdoutString
        var names: [String] = []
        for line in out.split(separator: "\n") {
            let parts = line.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count >= 7 else { continue }
            let name = String(parts[5])  // ext4 names cannot contain a slash
            if name != "." && name != ".." && !name.isEmpty { names.append(name) }
        }
        return names.sorted()
    }

    public struct FsckResult: Sendable {
        public var clean: Bool
        public var status: Int32
        public var output: String
    }

    /// `e2fsck -fn`: a full read-only check. Clean means status 0.
    public static func fsck(image: String) throws -> FsckResult {
        let r = try Command("e2fsck", ["-fn", image]).run()
        return FsckResult(clean: r.status == 0, status: r.status, output: r.stdoutString + r.stderrString)
    }

    /// Superblock facts from `dumpe2fs -h`.
    public struct Superblock: Sendable, Equatable {
        public var uuid: String
        public var label: String
        public var blockSize: UInt64
        public var blockCount: UInt64
        public var freeBlocks: UInt64
        public var inodeCount: UInt64
        public var freeInodes: UInt64
    }

    public static func superblock(image: String) throws -> Superblock {
        let out = try Command("dumpe2fs", ["-h", image]).check().stdoutString
        var fields: [String: String] = [:]
        for line in out.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        func num(_ k: String) -> UInt64 { UInt64(fields[k] ?? "") ?? 0 }
        let label = fields["Filesystem volume name"] ?? ""
        return Superblock(uuid: fields["Filesystem UUID"] ?? "", label: label == "<none>" ? "" : label,
                          blockSize: num("Block size"), blockCount: num("Block count"), freeBlocks: num("Free blocks"),
                          inodeCount: num("Inode count"), freeInodes: num("Free inodes"))
    }
}
