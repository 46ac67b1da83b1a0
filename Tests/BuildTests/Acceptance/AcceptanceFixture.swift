import Build
import FirebuildCore
import Foundation
import Store
import VM

/// buildah with private vfs storage, always run inside a network namespace the test created (no
/// network is needed: the base comes from a local OCI layout, `--pull=never`).
struct Buildah {
    let namespace: String
    let root: String
    let runroot: String

    @discardableResult
    func callAsFunction(_ args: [String], timeout: TimeInterval = 1800) throws -> Command.Result {
        let argv = ["netns", "exec", namespace, "buildah", "--root", root, "--runroot", runroot, "--storage-driver", "vfs"] + args
        let r = try Command("ip", argv, timeout: timeout).run()
        guard r.status == 0 else {
            throw FirebuildError(.subprocess, "buildah \(args.joined(separator: " ")) failed (\(r.status)):\n\(r.stdoutString.suffix(2000))\n\(r.stderrString.suffix(2000))")
        }
        return r
    }
}

/// A private firebuild home with the cloud kernel, and the same busybox base for both tools:
/// one tree packed into an OCI layout with umoci, imported by firebuild as `busybox:1` and pulled
/// by buildah as `localhost/busybox:1`.
final class AcceptanceFixture {
    let home: String
    let paths: FirebuildPaths
    let provider: StoreImageProvider
    let engine: BuildEngine
    let buildah: Buildah
    let log = LogLines()

    static var missing: String? {
        if geteuid() != 0 { return "needs root (loop mounts, network namespaces)" }
        if !E2E.available { return E2E.skipReason }
        for tool in ["buildah", "umoci", "ip", "mount", "umount", "tar", "gzip"] where Command.which(tool) == nil {
            return "needs \(tool) (make deps)"
        }
        return nil
    }

    init() throws {
        let id = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        home = "/tmp/fbacc-\(id)"
        paths = FirebuildPaths(home: home)
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        let namespace = "fbtest-acc\(id)"
        try Command("ip", ["netns", "add", namespace]).check()
        buildah = Buildah(namespace: namespace, root: home + "/buildah/root", runroot: home + "/buildah/run")
        setenv("FIREBUILD_INIT", E2E.initBinary ?? "", 1)
        let kernels = KernelStore(root: paths.kernelStorageRoot)
        try KernelImporter(store: kernels).import(id: "cloud", path: E2E.cloudKernel ?? "")
        _ = try InitrdBuilder.buildAndStore(kernelID: "cloud", store: kernels)
        provider = StoreImageProvider(storage: StorageConfig(paths: paths))
        engine = BuildEngine(images: provider, paths: paths)
    }

    func tearDown() {
        _ = try? buildah(["rm", "--all"])
        _ = try? Command("ip", ["netns", "del", buildah.namespace]).run()
        // vfs layers are plain directories; nothing is left mounted once buildah has exited.
        try? FileManager.default.removeItem(atPath: home)
    }

    /// The base both tools build from. Users: root, app (1000:1000), svc (1001, primary group
    /// svcgrp 1002) so that `--chown=user` (primary group) and `user:group` are told apart.
    func makeBase() throws {
        let tree = home + "/base-tree", fm = FileManager.default
        for d in ["bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "run", "home/app", "root"] {
            try fm.createDirectory(atPath: tree + "/" + d, withIntermediateDirectories: true)
        }
        try fm.copyItem(atPath: "/bin/busybox", toPath: tree + "/bin/busybox")
        let applets = try Command("/bin/busybox", ["--list"]).check().stdoutString.split(separator: "\n")
        for a in applets where a != "busybox" { try fm.createSymbolicLink(atPath: tree + "/bin/" + a, withDestinationPath: "busybox") }
        try AtomicFile.write("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nsvc:x:1001:1002:svc:/srv:/bin/sh\n",
                             to: tree + "/etc/passwd", mode: 0o644)
        try AtomicFile.write("root:x:0:\napp:x:1000:\nsvcgrp:x:1002:\n", to: tree + "/etc/group", mode: 0o644)
        chown(tree + "/home/app", 1000, 1000)
        chmod(tree + "/tmp", 0o1777)
        chmod(tree + "/root", 0o700)
        let layer = home + "/base-layer.tar", layout = home + "/base-oci"
        try Command("tar", ["--numeric-owner", "-C", tree, "-cf", layer, "."]).check()
        try Command("umoci", ["init", "--layout", layout]).check()
        try Command("umoci", ["new", "--image", layout + ":busybox"]).check()
        try Command("umoci", ["raw", "add-layer", "--image", layout + ":busybox", layer]).check()
        try Command("umoci", ["config", "--image", layout + ":busybox", "--os", "linux", "--architecture", "amd64",
                              "--config.env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]).check()

        let service = try ImageService(storage: StorageConfig(paths: paths))
        _ = try service.importImage("oci:\(layout):busybox", tag: try ImageTag(parsing: "busybox:1"))
        let pulled = try buildah(["pull", "--quiet", "oci:\(layout):busybox"]).stdoutString
            .trimmingCharacters(in: .whitespacesAndNewlines)
        try buildah(["tag", pulled, "localhost/busybox:1"])
    }

    /// Builds `context` with firebuild under `tag`; returns the stored config.
    func buildWithFirebuild(context: String, tag: String) throws -> (BuildResult, StoredImage) {
        let request = BuildRequest(dockerfile: context + "/Dockerfile", context: context, tag: tag, timeout: 1800,
                                   machine: BuildMachine(kernelStoreRoot: paths.kernelStorageRoot, memMiB: 256),
                                   output: log.append)
        let result = try engine.build(request)
        let stored = try ImageStore(config: StorageConfig(paths: paths)).get(try ImageTag(parsing: tag))
        return (result, stored)
    }

    /// Builds `context` with buildah (Dockerfile.buildah if present) as `localhost/<tag>`, in
    /// Docker format: the OCI format drops HEALTHCHECK, SHELL and ONBUILD, which firebuild keeps.
    func buildWithBuildah(context: String, tag: String) throws -> ImageConfig {
        let alt = context + "/Dockerfile.buildah"
        let file = FileManager.default.fileExists(atPath: alt) ? alt : context + "/Dockerfile"
        try buildah(["bud", "--isolation", "chroot", "--format", "docker", "--pull=never", "--layers=false",
                     "-f", file, "-t", "localhost/" + tag, context])
        return try buildahConfig(tag)
    }

    func buildahConfig(_ tag: String) throws -> ImageConfig {
        let inspect = try buildah(["inspect", "--type", "image", "localhost/" + tag])
        return try ConfigComparison.buildahConfig(inspectJSON: inspect.stdout)
    }

    /// firebuild's file tree: its stored ext4, loop-mounted read-only.
    func firebuildTree(_ image: StoredImage) throws -> [String: TreeEntry] {
        let mnt = home + "/mnt-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        try FileManager.default.createDirectory(atPath: mnt, withIntermediateDirectories: true)
        try Command("mount", ["-o", "loop,ro", "-t", "ext4", image.rootfsPath, mnt]).check()
        defer {
            _ = try? Command("umount", [mnt]).run()
            rmdir(mnt)
        }
        return try TreeSnapshot.take(root: mnt)
    }

    /// buildah's file tree: pushed to an OCI layout and unpacked by umoci (as root, owners kept).
    func buildahTree(tag: String) throws -> [String: TreeEntry] {
        let layout = home + "/out-oci", bundle = home + "/out-" + tag.replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: ":", with: "_")
        let name = tag.replacingOccurrences(of: "/", with: "-").replacingOccurrences(of: ":", with: "-")
        try buildah(["push", "--quiet", "localhost/" + tag, "oci:\(layout):\(name)"])
        try Command("umoci", ["unpack", "--image", "\(layout):\(name)", bundle]).check()
        defer { try? FileManager.default.removeItem(atPath: bundle) }
        return try TreeSnapshot.take(root: bundle + "/rootfs")
    }
}
