import FirebuildCore
import Foundation

/// Finds the static `firebuild-init` the build puts at /sbin/firebuild-init of every image.
public enum InitBinary {
    public static func locate() throws -> String {
        var candidates: [String] = []
        if let env = ProcessInfo.processInfo.environment["FIREBUILD_INIT"] { candidates.append(env) }
        // Not `<exe dir>/firebuild-init`: in a build tree that is the dynamically linked debug
        // product, which cannot run as PID 1 of an image. Same order as Runtime's BootFiles.guestInit.
        let exe = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath().deletingLastPathComponent()
        candidates.append(exe.appendingPathComponent("firebuild-init-static").path)
        var dir = exe
        for _ in 0..<6 {
            candidates.append(dir.appendingPathComponent(".build-static/firebuild-init-static").path)
            dir = dir.deletingLastPathComponent()
        }
        candidates += [FileManager.default.currentDirectoryPath + "/.build-static/firebuild-init-static",
                       "/usr/local/lib/firebuild/firebuild-init", "/usr/lib/firebuild/firebuild-init"]
        for c in candidates where FileManager.default.isExecutableFile(atPath: c) { return c }
        throw FirebuildError(.notFound, "the static guest init was not found (looked in \(candidates.joined(separator: ", "))); run `make init` or set FIREBUILD_INIT")
    }
}

/// Bases of the layer chains: a private raw copy of the FROM image (or an empty ext4 for
/// scratch), grown to the build size, with the current guest init installed. The cache owns it,
/// so a later re-tag of the source image never corrupts cached layers.
struct BaseLayers {
    let cache: BuildCache
    let initPath: String

    /// Directories an image needs for the init to boot it.
    static let skeleton = ["proc", "sys", "dev", "tmp", "run", "etc", "sbin", "root"]

    func prepare(image: BaseImage?, sizeMiB: Int?) throws -> String {
        let initDigest = try ContentDigest.sha256(fileAt: initPath).hex
        let identity = image?.identity ?? "scratch"
        let key = StepKey.key(parent: "base", parts: [identity, initDigest, "size=\(sizeMiB ?? 0)"])
        if try cache.base(key) != nil { return key }
        try FileManager.default.createDirectory(atPath: cache.basesDir, withIntermediateDirectories: true)
        let tmp = "\(cache.basesDir)/.tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).raw"
        defer { unlink(tmp) }
        if let image {
            try Command("cp", ["--reflink=auto", "--sparse=always", image.rootfsPath, tmp]).check()
            try Command("e2fsck", ["-fy", tmp]).run()  // exit 1 = fixed; resize2fs needs a checked fs
        } else {
            let tree = tmp + ".tree"
            defer { try? FileManager.default.removeItem(atPath: tree) }
            for d in Self.skeleton { try FileManager.default.createDirectory(atPath: tree + "/" + d, withIntermediateDirectories: true) }
            chmod(tree + "/tmp", 0o1777)
            try Command("mkfs.ext4", ["-q", "-F", "-T", "default", "-L", "rootfs", "-d", tree, tmp, "\(sizeMiB ?? 1024)M"]).check()
        }
        try grow(tmp, toMiB: sizeMiB)
        try installInit(tmp)
        try cache.addBase(key: key, preparedImage: tmp, description: image?.reference ?? "scratch")
        return key
    }

    /// Gives RUN steps room: the requested size, else the image plus 1 GiB (sparse: free until written).
    func grow(_ image: String, toMiB: Int?) throws {
        var st = stat()
        guard stat(image, &st) == 0 else { throw FirebuildError.posix("stat", path: image) }
        let current = Int64(st.st_size)
        let target = toMiB.map { Int64($0) << 20 } ?? (current + (1 << 30))
        guard target > current else { return }
        guard truncate(image, off_t(target)) == 0 else { throw FirebuildError.posix("truncate", path: image) }
        try Command("resize2fs", ["-f", image]).check()
    }

    /// Writes the init (replacing any older one) and the skeleton directories with debugfs.
    func installInit(_ image: String) throws {
        var script = ""
        for d in Self.skeleton { script += "mkdir /\(d)\n" }
        script += "rm /sbin/firebuild-init\nwrite \(initPath) /sbin/firebuild-init\n"
        script += "set_inode_field /sbin/firebuild-init mode 0100755\nset_inode_field /sbin/firebuild-init uid 0\nset_inode_field /sbin/firebuild-init gid 0\n"
        let cmds = image + ".debugfs"
        try AtomicFile.write(script, to: cmds)
        defer { unlink(cmds) }
        // mkdir/rm of existing/missing entries print errors but are harmless; check the result instead.
        _ = try Command("debugfs", ["-w", "-f", cmds, image]).run()
        let check = try Command("debugfs", ["-R", "stat /sbin/firebuild-init", image]).run()
        guard check.stdoutString.contains("Type: regular") else {
            throw FirebuildError(.io, "could not install the guest init into \(image): \(check.stderrString)")
        }
    }
}
