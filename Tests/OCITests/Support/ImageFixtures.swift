import FirebuildCore
import Foundation
@testable import OCI

/// Images built at test time: a busybox-static rootfs (symlinks, a hard link, a setuid file,
/// a file with a capability, a user-owned home) as layer 1, and a layer 2 with a whiteout
/// and an opaque directory, packed into an OCI layout by umoci.
final class ImageFixtures: @unchecked Sendable {
    let dir: TempDir
    let layout: String
    let layer1Tar: String
    static var available: Bool {
        tool("umoci") && tool("skopeo") && tool("tar") && FileManager.default.fileExists(atPath: "/bin/busybox")
    }

    init() throws {
        dir = try TempDir("fixtures")
        layout = dir.path + "/layout"
        let rootfs = try dir.sub("rootfs")
        for d in ["bin", "etc", "opq/olddir", "home/user", "tmp"] {
            try FileManager.default.createDirectory(atPath: rootfs + "/" + d, withIntermediateDirectories: true)
        }
        try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: rootfs + "/bin/busybox")
        chmod(rootfs + "/bin/busybox", 0o755)
        symlink("busybox", rootfs + "/bin/sh")
        symlink("/bin/busybox", rootfs + "/bin/ls")
        link(rootfs + "/bin/busybox", rootfs + "/bin/busybox-hard")
        try writeFile(rootfs + "/bin/suid", Data("#!/bin/sh\n".utf8))
        chmod(rootfs + "/bin/suid", 0o4755)
        try writeFile(rootfs + "/bin/ping", Data("ping".utf8))
        chmod(rootfs + "/bin/ping", 0o755)
        try writeFile(rootfs + "/etc/hostname", Data("fixture\n".utf8))
        try writeFile(rootfs + "/etc/keep", Data("keep\n".utf8))
        try writeFile(rootfs + "/opq/old", Data("old".utf8))
        try writeFile(rootfs + "/opq/olddir/deep", Data("deep".utf8))
        try writeFile(rootfs + "/home/user/.profile", Data("export A=1\n".utf8))
        chmod(rootfs + "/tmp", 0o1777)
        if geteuid() == 0 {
            chown(rootfs + "/home/user", 1000, 1000)
            chown(rootfs + "/home/user/.profile", 1000, 1000)
            try Command("setcap", ["cap_net_raw+ep", rootfs + "/bin/ping"]).check()
        }
        layer1Tar = dir.path + "/layer1.tar"
        try Command("tar", ["--format=posix", "--xattrs", "--xattrs-include=*", "--numeric-owner",
                            "-C", rootfs, "-cf", layer1Tar, "."]).check()
        let layer2 = try makeTar { w in
            try w.file("etc/.wh.hostname", "")
            try w.file("opq/.wh..wh..opq", "")
            try w.file("opq/new", "new")
            try w.file("etc/motd", "welcome\n")
        }
        try writeFile(dir.path + "/layer2.tar", layer2)

        try Command("umoci", ["init", "--layout", layout]).check()
        try Command("umoci", ["new", "--image", layout + ":v1"]).check()
        try Command("umoci", ["raw", "add-layer", "--image", layout + ":v1", "--history.created_by", "rootfs", layer1Tar]).check()
        try Command("umoci", ["raw", "add-layer", "--image", layout + ":v1", "--history.created_by", "whiteouts", dir.path + "/layer2.tar"]).check()
        try Command("umoci", ["config", "--image", layout + ":v1", "--config.cmd", "/bin/sh", "--config.env", "FOO=bar",
                              "--config.workingdir", "/home/user", "--os", "linux", "--architecture", "amd64"]).check()
        // A second platform of the same image, and an index over both.
        try Command("umoci", ["config", "--image", layout + ":v1", "--tag", "arm", "--architecture", "arm64",
                              "--config.env", "ARCH=arm64"]).check()
        try addIndex(tag: "multi", platforms: [("v1", Platform.linuxAMD64),
                                               ("arm", Platform(os: "linux", architecture: "arm64", variant: "v8"))])
    }

    /// Writes an OCI index over tagged manifests and tags it in the layout's index.json.
    private func addIndex(tag: String, platforms: [(String, Platform)]) throws {
        let indexPath = layout + "/index.json"
        let top = try JSONHelpers.decode(ImageIndex.self, try Data(contentsOf: URL(fileURLWithPath: indexPath)), what: "index.json")
        var children: [Descriptor] = []
        for (t, platform) in platforms {
            guard var d = top.manifests.first(where: { $0.annotations?["org.opencontainers.image.ref.name"] == t }) else {
                throw FirebuildError(.notFound, "fixture tag \(t) missing")
            }
            d.annotations = nil
            d.platform = platform
            children.append(d)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(ImageIndex(manifests: children))
        let digest = ContentDigest.sha256(data)
        try writeFile(layout + "/blobs/sha256/\(digest.hex)", data)
        var updated = top
        updated.manifests.append(Descriptor(mediaType: MediaType.ociIndex, digest: digest, size: Int64(data.count),
                                            annotations: ["org.opencontainers.image.ref.name": tag]))
        try AtomicFile.write(try encoder.encode(updated), to: indexPath)
    }

    /// skopeo copy from the layout into a registry (plain HTTP).
    func push(tag: String, to destination: String, format: String? = nil, all: Bool = false, creds: String? = nil) throws {
        var args = ["copy", "--quiet", "--dest-tls-verify=false"]
        if let format { args += ["--format", format] }
        if all { args.append("--all") }
        if let creds { args += ["--dest-creds", creds] }
        args += ["oci:\(layout):\(tag)", "docker://\(destination)"]
        try Command("skopeo", args, timeout: 120).check()
    }

    func cleanup() { dir.cleanup() }
}
