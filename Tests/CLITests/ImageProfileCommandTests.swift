import ArgumentParser
import FirebuildCore
import Foundation
import Store
import Testing
@testable import FirebuildCLI

@Suite struct ImageProfileCommandTests {
    @Test(arguments: [
        (["image", "pull", "alpine:3.19", "--tag", "acme/alpine:1", "--platform", "linux/arm64", "--insecure-registry", "reg:5000"], "pull"),
        (["image", "import", "rootfs.tar", "--tag", "acme/x:1", "--headroom", "25%"], "import"),
        (["image", "ls", "--json"], "ls"),
        (["image", "inspect", "acme/x:1"], "inspect"),
        (["image", "tag", "acme/x:1", "acme/x:2"], "tag"),
        (["image", "rm", "acme/x:1", "acme/x:2"], "rm"),
        (["image", "prune", "--storage-provider.directory.content-storage-root", "/tmp/c"], "prune"),
        (["rootfs", "--docker-image=alpine:3.19", "--docker-image-base=alpine:3.19", "--tag=acme/a:1", "--filesystem-size-mbs", "600",
          "--storage-provider", "directory", "--storage-provider.directory.rootfs-storage-root", "/tmp/r",
          "--storage-provider.directory.kernel-storage-root", "/tmp/k"], "rootfs"),
        (["profile-create", "--profile", "dev", "--chroot-base", "/srv/j", "--run-cache", "/var/lib/fb", "--storage-provider", "directory",
          "--storage-provider-property-string", "rootfs-storage-root=/r", "--storage-provider-property-int64", "x=1",
          "--tracing-enable", "--tracing-collector-host-port", "127.0.0.1:6831", "--tracing-log-enable", "--overwrite",
          "--vmm", "qemu", "--mem", "256", "--cpu", "2"], "profile-create"),
        (["profile-inspect", "--profile", "dev", "--resolved"], "profile-inspect"),
        (["profile-ls", "--profile-conf-dir", "/tmp/p"], "profile-ls"),
        (["profile-rm", "--profile", "dev"], "profile-rm"),
    ])
    func parses(args: [String], name: String) throws {
        let cmd = try FirebuildCommand.parseAsRoot(args)
        #expect(type(of: cmd).configuration.commandName == name)
    }

    @Test(arguments: [
        ["image", "import", "x.tar"],                                             // --tag missing
        ["image", "rm"],
        ["rootfs", "--tag", "a/b:1"],                                             // no source
        ["rootfs", "--docker-image", "alpine", "--tag", "Bad/Tag:1"],
        ["rootfs", "--docker-image", "alpine", "--tag", "a/b:1", "--filesystem-size-mbs", "100", "--headroom", "10"],
        ["image", "pull", "alpine", "--headroom", "lots"],
        ["profile-create"],                                                       // --profile missing
        ["profile-inspect"],
    ])
    func rejects(args: [String]) {
        #expect(throws: (any Error).self) { try FirebuildCommand.parseAsRoot(args) }
    }

    @Test func storageFlagsResolve() throws {
        let cmd = try ImageList.parse(["--storage-provider.directory.rootfs-storage-root", "/x/rootfs", "--profile-conf-dir", "/nonexistent"])
        let config = try cmd.global.resolveStorage(cmd.storage)
        #expect(config.rootfsRoot == "/x/rootfs" && config.provider == "directory")
        let bad = try ImageList.parse(["--storage-provider", "s3"])
        #expect(throws: FirebuildError.self) { try bad.global.resolveStorage(bad.storage) }
    }

    /// profile-create → inspect → ls → rm through the commands, and the profile feeding storage resolution.
    @Test func profileLifecycleThroughCommands() throws {
        let dir = NSTemporaryDirectory() + "fb-cli-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let conf = dir + "/profiles"
        try ProfileCreate.parse(["--profile", "Dev", "--profile-conf-dir", conf, "--storage-provider-property-string",
                                 "rootfs-storage-root=/p/rootfs", "--mem", "256", "--log-level", "error"]).run()
        #expect(try ProfileStore(directory: conf).read("dev") == Profile(storageStrings: ["rootfs-storage-root": "/p/rootfs"], mem: 256))
        #expect(throws: FirebuildError.self) {
            try ProfileCreate.parse(["--profile", "dev", "--profile-conf-dir", conf, "--log-level", "error"]).run()
        }
        #expect(throws: FirebuildError.self) {
            try ProfileCreate.parse(["--profile", "x", "--profile-conf-dir", conf, "--chroot-base", "/this/path/is/longer/than/31/chars",
                                     "--log-level", "error"]).run()
        }
        // Flag beats profile, profile beats default.
        let withFlag = try ImageList.parse(["--profile", "dev", "--profile-conf-dir", conf,
                                            "--storage-provider.directory.rootfs-storage-root", "/flag/rootfs"])
        #expect(try withFlag.global.resolveStorage(withFlag.storage).rootfsRoot == "/flag/rootfs")
        let fromProfile = try ImageList.parse(["--profile", "dev", "--profile-conf-dir", conf])
        #expect(try fromProfile.global.resolveStorage(fromProfile.storage).rootfsRoot == "/p/rootfs")
        let resolved = try fromProfile.global.resolveSettings()
        #expect(resolved.mem.value == 256 && resolved.mem.source == .profile)
        #expect(ProfileInspect.describe(resolved).contains("mem=256 (profile)"))

        try ProfileRemove.parse(["--profile", "dev", "--profile-conf-dir", conf, "--log-level", "error"]).run()
        #expect(ProfileStore(directory: conf).list().isEmpty)
    }

    @Test func humanSizes() {
        #expect(humanBytes(512) == "512 B")
        #expect(humanBytes(3 << 20) == "3.0 MiB")
    }
}
