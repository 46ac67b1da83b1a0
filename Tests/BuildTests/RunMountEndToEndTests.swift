import Build
import FirebuildCore
import Foundation
import Store
import Testing
import VM

extension BuildEndToEndTests {
    /// RUN --mount of all four kinds in a real build VM, two builds (two boots): a cache written
    /// in build 1 is read back in build 2 (--no-cache); bound context files, tmpfs and secrets
    /// never reach the image; secrets are not in the cache key nor in the build output.
    @Test(.timeLimit(.minutes(20)))
    func runMountsCacheBindTmpfsSecret() throws {
        let home = "/tmp/fbe2e-mounts-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: home) }
        let (paths, provider) = try E2E.prepareStore(home: home)
        try FileManager.default.createDirectory(atPath: home + "/ctx", withIntermediateDirectories: true)
        try AtomicFile.write("bound input\n", to: home + "/ctx/input.txt")
        // Bind sources travel on the content disk like COPY sources.
        let big = Data((0..<300_007).map { UInt8(truncatingIfNeeded: $0 &* 7919) })
        try big.write(to: URL(fileURLWithPath: home + "/ctx/big.bin"))
        let secret = "s3cr3t-\(UInt32.random(in: 0...UInt32.max))-value"
        try AtomicFile.write(secret, to: home + "/token", mode: 0o600)

        let dockerfile = """
        FROM busybox:1
        RUN --mount=type=cache,target=/var/cache/e2e,id=e2e,uid=1000,mode=0750 sh -c 'n=$(cat /var/cache/e2e/count 2>/dev/null || echo 0); n=$((n+1)); echo $n > /var/cache/e2e/count; echo $n > /cache-seen.txt; stat -c "%u %a" /var/cache/e2e > /cache-dir.txt'
        RUN --mount=type=bind,source=input.txt,target=/mnt/in/input.txt --mount=type=bind,source=big.bin,target=/mnt/big.bin cp /mnt/in/input.txt /copied.txt && ! touch /mnt/in/input.txt 2>/dev/null && sha256sum /mnt/big.bin | cut -d" " -f1 > /big-hash.txt
        RUN --mount=type=tmpfs,target=/scratch sh -c 'grep -q " /scratch tmpfs " /proc/mounts && echo x > /scratch/f && echo ok > /tmpfs-ok.txt'
        RUN --mount=type=secret,id=token,required=true sh -c 'sha256sum /run/secrets/token | cut -d" " -f1 > /secret-hash.txt; stat -c "%a" /run/secrets/token > /secret-mode.txt'
        RUN --mount=type=secret,id=token,env=TOKEN,target=/etc/tok.txt sh -c 'test "$TOKEN" = "$(cat /etc/tok.txt)" && echo envok > /secret-env.txt'
        RUN --mount=type=cache,id=seeded,from=busybox:1,source=/etc,target=/seeded sh -c 'cp /seeded/group /seeded-group.txt; cat /seeded/added > /seeded-added.txt 2>/dev/null || echo none > /seeded-added.txt; echo kept > /seeded/added'
        """
        let engine = BuildEngine(images: provider, paths: paths)
        let log = LogLines()
        func request(noCache: Bool, secrets: [String: BuildSecretSource]) -> BuildRequest {
            var r = BuildRequest(dockerfile: dockerfile, context: home + "/ctx", tag: "test/mounts:1", noCache: noCache, timeout: 900,
                                 machine: BuildMachine(kernelStoreRoot: paths.kernelStorageRoot, memMiB: 256), output: log.append)
            r.secrets = secrets
            return r
        }
        let image = paths.rootfsStorageRoot + "/test/mounts/1/rootfs"
        func exists(_ path: String) throws -> Bool { try E2E.debugfs(image, "stat \(path)").contains("Inode:") }

        let first = try engine.build(request(noCache: false, secrets: ["token": .file(home + "/token")]))
        #expect(first.vmBoots == 1 && first.stepsRun == 6)
        #expect(try E2E.debugfs(image, "cat /cache-seen.txt") == "1\n")
        #expect(try E2E.debugfs(image, "cat /cache-dir.txt") == "1000 750\n", "mode/uid apply when the cache dir is created")
        #expect(try E2E.debugfs(image, "cat /copied.txt") == "bound input\n")
        #expect(try E2E.debugfs(image, "cat /big-hash.txt") == ContentDigest.sha256(big).hex + "\n")
        #expect(first.filesFromContentDisk == 2, "the bind sources came from the content disk")
        #expect(try E2E.debugfs(image, "cat /tmpfs-ok.txt") == "ok\n")
        #expect(try E2E.debugfs(image, "cat /secret-hash.txt") == ContentDigest.sha256(secret).hex + "\n")
        #expect(try E2E.debugfs(image, "cat /secret-mode.txt") == "400\n")
        #expect(try E2E.debugfs(image, "cat /secret-env.txt") == "envok\n")
        // A new cache with from=/source= starts with those files (here the base image's /etc).
        #expect(try E2E.debugfs(image, "cat /seeded-group.txt") == "root:x:0:\napp:x:1000:\n")
        #expect(try E2E.debugfs(image, "cat /seeded-added.txt") == "none\n")
        // Mount targets the RUNs needed were removed again; nothing of the mounts is in the image.
        // (The base has no /var: the whole /var/cache/e2e chain was created for the mount and removed.)
        for gone in ["/mnt", "/scratch", "/var", "/etc/tok.txt", "/run/secrets", "/seeded"] {
            #expect(try !exists(gone), "\(gone) must not be in the image")
        }
        #expect(try exists("/etc/passwd"), "existing parents of a mount target stay")
        let bytes = try #require(FileManager.default.contents(atPath: image))
        #expect(bytes.range(of: Data(secret.utf8)) == nil, "the secret's bytes are nowhere in the image")
        #expect(!log.lines.contains { $0.contains(secret) })
        let cacheImages = (try FileManager.default.contentsOfDirectory(atPath: home + "/build-cache-mounts")).filter { $0.hasSuffix(".ext4") }
        #expect(cacheImages.count == 2)

        // Another secret value: same keys (secrets are not in the cache key), so no VM at all.
        try AtomicFile.write("other", to: home + "/token2")
        let cached = try engine.build(request(noCache: false, secrets: ["token": .file(home + "/token2")]))
        #expect(cached.vmBoots == 0 && cached.stepsCached == 6)

        // A required secret missing: a clear error naming the line, before any VM boots.
        do {
            _ = try engine.build(request(noCache: true, secrets: [:]))
            Issue.record("a missing required secret must fail the build")
        } catch let e as FirebuildError {
            #expect(e.description.contains(":5") && e.description.contains("--secret id=token"), "\(e)")
        }

        // Build 2 without the step cache: the cache mount still holds build 1's count.
        setenv("FIREBUILD_E2E_TOKEN", secret, 1)
        defer { unsetenv("FIREBUILD_E2E_TOKEN") }
        let second = try engine.build(request(noCache: true, secrets: ["token": .env("FIREBUILD_E2E_TOKEN")]))
        #expect(second.vmBoots == 1)
        #expect(try E2E.debugfs(image, "cat /cache-seen.txt") == "2\n")
        #expect(try E2E.debugfs(image, "cat /seeded-added.txt") == "kept\n", "an existing cache is not seeded again")
        #expect(try E2E.debugfs(image, "cat /secret-env.txt") == "envok\n")
        #expect(try E2E.debugfs(image, "cat /secret-hash.txt") == ContentDigest.sha256(secret).hex + "\n")

        #expect(try CacheMountStore(root: home + "/build-cache-mounts").prune() > 0)
        #expect(CacheMountStore(root: home + "/build-cache-mounts").list().isEmpty)
    }
}
