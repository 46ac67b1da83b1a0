@testable import Build
import Dockerfile
import FirebuildCore
import FirebuildTestSupport
import Foundation
import Store
import Testing
import VM

/// Real builds in QEMU microVMs (TCG here): a busybox base imported as a tag (no internet), a
/// two-stage Dockerfile, checks of the resulting ext4 with debugfs, then cache behaviour.
enum E2E {
    static var cloudKernel: String? { TestHost.cloudKernel }

    static var initBinary: String? { TestHost.staticInit }

    static var available: Bool {
        cloudKernel != nil && initBinary != nil && FileManager.default.fileExists(atPath: "/bin/busybox")
            && ["qemu-system-x86_64", "qemu-img", "mkfs.ext4", "debugfs", "e2fsck"].allSatisfy { Command.which($0) != nil }
    }

    static let skipReason = "needs qemu, qemu-utils, linux-image-cloud-amd64, busybox-static, e2fsprogs and the static init (make init)"

    /// A store under `home` with kernel `cloud` (plus its initrd) and the busybox base `_/busybox:1`,
    /// the guest init taken from `initBinary`: what every build VM test starts from.
    static func prepareStore(home: String) throws -> (paths: FirebuildPaths, provider: StoreImageProvider) {
        setenv("FIREBUILD_INIT", initBinary ?? "", 1)
        let paths = FirebuildPaths(home: home)
        let kernels = KernelStore(root: paths.kernelStorageRoot)
        try KernelImporter(store: kernels).import(id: "cloud", path: cloudKernel ?? "")
        _ = try InitrdBuilder.buildAndStore(kernelID: "cloud", store: kernels)
        let provider = StoreImageProvider(storage: StorageConfig(paths: paths))
        try makeBase(provider: provider, scratch: home)
        return (paths, provider)
    }

    /// A busybox root filesystem with users root and app (1000), stored as tag `_/busybox:1`.
    static func makeBase(provider: StoreImageProvider, scratch: String) throws {
        let tree = scratch + "/base-tree"
        let fm = FileManager.default
        for d in ["bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "home/app", "root"] {
            try fm.createDirectory(atPath: tree + "/" + d, withIntermediateDirectories: true)
        }
        try fm.copyItem(atPath: "/bin/busybox", toPath: tree + "/bin/busybox")
        let applets = try Command("/bin/busybox", ["--list"]).check().stdoutString.split(separator: "\n")
        for a in applets where a != "busybox" { try? fm.createSymbolicLink(atPath: tree + "/bin/" + a, withDestinationPath: "busybox") }
        try AtomicFile.write("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n", to: tree + "/etc/passwd")
        try AtomicFile.write("root:x:0:\napp:x:1000:\n", to: tree + "/etc/group")
        chown(tree + "/home/app", 1000, 1000)
        chmod(tree + "/tmp", 0o1777)
        let image = scratch + "/base.ext4"
        try Command("mkfs.ext4", ["-q", "-F", "-T", "default", "-d", tree, image, "64M"]).check()
        try provider.commit(rootfs: image, config: ImageConfig(env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]),
                            tag: "busybox:1", parent: nil, dockerfile: "test fixture")
    }

    static func debugfs(_ image: String, _ request: String) throws -> String {
        try Command("debugfs", ["-R", request, image]).check().stdoutString
    }
}

@Suite(.serialized, .enabled(if: E2E.available, "\(E2E.skipReason)"))
struct BuildEndToEndTests {
    @Test(.timeLimit(.minutes(20)))
    func twoStageBuildThenCachedThenLastStepChanged() throws {
        let home = "/tmp/fbe2e-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: home) }
        let (paths, provider) = try E2E.prepareStore(home: home)
        try FileManager.default.createDirectory(atPath: home + "/ctx", withIntermediateDirectories: true)
        try AtomicFile.write("#!/bin/sh\necho run\n", to: home + "/ctx/run.sh", mode: 0o644)
        try AtomicFile.write("hello file\n", to: home + "/ctx/hello.txt")

        func dockerfile(_ last: String) -> String {
            """
            FROM busybox:1 AS builder
            RUN mkdir -p /out && echo built > /out/artifact.txt
            FROM busybox:1
            ENV GREETING=hello
            WORKDIR /app
            COPY --chown=app:app --chmod=0750 run.sh /app/run.sh
            COPY --from=builder /out/artifact.txt /app/
            COPY hello.txt .
            USER app
            RUN \(last)
            CMD ["/app/run.sh"]
            """
        }
        let engine = BuildEngine(images: provider, paths: paths)
        let log = LogLines()
        func request(_ text: String) -> BuildRequest {
            BuildRequest(dockerfile: text, context: home + "/ctx", tag: "test/app:1", timeout: 900,
                         machine: BuildMachine(kernelStoreRoot: paths.kernelStorageRoot, memMiB: 256), output: log.append)
        }

        var t = Date()
        let cold = try engine.build(request(dockerfile("echo \"$GREETING from $(id -u)\" > /home/app/whoami.txt")))
        let coldTime = Date().timeIntervalSince(t)
        #expect(cold.vmBoots == 2, "one VM per stage with uncached steps")
        #expect(cold.vmRestores == 2 && cold.bootTemplatesSaved == 2,
                "each stage's VM shape is new: a boot saves its template, the stage's VM starts from it")
        #expect(BootTemplates(runCache: paths.runCache).list().count == 2, "the second stage has a content disk: another shape")
        #expect(log.lines.contains { $0.hasPrefix("[stage 2/2 step") })

        let image = paths.rootfsStorageRoot + "/test/app/1/rootfs"
        #expect(try Command("e2fsck", ["-fn", image]).run().status == 0)
        let runSh = try E2E.debugfs(image, "stat /app/run.sh")
        #expect(runSh.contains("User:  1000") && runSh.contains("Group:  1000"), "\(runSh)")
        #expect(runSh.contains("Mode:  0750"), "\(runSh)")
        #expect(try E2E.debugfs(image, "cat /home/app/whoami.txt") == "hello from 1000\n")
        #expect(try E2E.debugfs(image, "cat /app/artifact.txt") == "built\n")
        #expect(try E2E.debugfs(image, "cat /app/hello.txt") == "hello file\n")
        #expect(try E2E.debugfs(image, "stat /app/hello.txt").contains("User:     0"))
        #expect(cold.config.cmd == ["/app/run.sh"])
        #expect(cold.config.user == "app")
        #expect(cold.config.workingDir == "/app")
        #expect(cold.config.env?.contains("GREETING=hello") == true)
        let md = try String(contentsOfFile: paths.rootfsStorageRoot + "/test/app/1/metadata.json", encoding: .utf8)
        #expect(md.contains("\"/app/run.sh\"") && md.contains("busybox:1"))

        let storedIdentity = BaseImage.fileIdentity(image)
        let fromTrees = try FileManager.default.contentsOfDirectory(atPath: paths.buildCache + "/from")
        #expect(fromTrees.count == 1, "the COPY --from files are kept in the build cache: \(fromTrees)")
        t = Date()
        let cached = try engine.build(request(dockerfile("echo \"$GREETING from $(id -u)\" > /home/app/whoami.txt")))
        let cachedTime = Date().timeIntervalSince(t)
        #expect(cached.vmBoots == 0 && cached.stepsRun == 0, "an unchanged rebuild boots no VM")
        #expect(BaseImage.fileIdentity(image) == storedIdentity, "an unchanged result is not exported and committed again")

        t = Date()
        let changed = try engine.build(request(dockerfile("echo \"$GREETING again\" > /home/app/whoami.txt")))
        let changedTime = Date().timeIntervalSince(t)
        #expect(changed.vmBoots == 1 && changed.stepsRun == 1, "only the changed last step runs")
        #expect(changed.vmRestores == 1 && changed.bootTemplatesSaved == 0, "the VM starts from the boot template the cold build saved")
        #expect(BaseImage.fileIdentity(image) != storedIdentity, "a changed result is committed")
        #expect(try E2E.debugfs(image, "cat /home/app/whoami.txt") == "hello again\n")

        // A failing RUN names its Dockerfile line.
        do {
            _ = try engine.build(request(dockerfile("exit 3")))
            Issue.record("a failing RUN must fail the build")
        } catch let e as FirebuildError {
            #expect(e.description.contains(":10: RUN exited with status 3"), "\(e)")
        }
        print(String(format: "build times: cold %.1f s, cached %.1f s, last step changed %.1f s", coldTime, cachedTime, changedTime))
    }

    /// Build VMs of one shape start from the boot template the first one saved: with the host's
    /// wall clock (not the template's), a random state of their own, and a template QEMU cannot
    /// load is dropped (the VM boots, the build succeeds).
    @Test(.timeLimit(.minutes(20)))
    func buildVMsStartFromABootTemplate() throws {
        let home = "/tmp/fbtpl-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: home) }
        let (paths, provider) = try E2E.prepareStore(home: home)
        let engine = BuildEngine(images: provider, paths: paths)
        let templates = BootTemplates(runCache: paths.runCache)
        let dockerfile = """
            FROM busybox:1
            ARG N
            RUN echo "$N" > /n && date +%s > /time && od -An -tx1 -N32 /dev/urandom | tr -d ' \\n' > /random
            """
        func build(_ n: Int) throws -> (result: BuildResult, skew: Int, random: String) {
            let result = try engine.build(BuildRequest(dockerfile: dockerfile, tag: "test/tpl:\(n)", buildArgs: ["N": "\(n)"], timeout: 900,
                                                       machine: BuildMachine(kernelStoreRoot: paths.kernelStorageRoot, memMiB: 256)))
            let image = paths.rootfsStorageRoot + "/test/tpl/\(n)/rootfs"
            let guestTime = Int(try E2E.debugfs(image, "cat /time").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            return (result, Int(Date().timeIntervalSince1970) - guestTime, try E2E.debugfs(image, "cat /random"))
        }

        let first = try build(1)
        #expect(first.result.vmRestores == 1 && first.result.bootTemplatesSaved == 1,
                "the shape is saved by a boot, then the build's VM starts from it")
        #expect(templates.list().count == 1)
        // Restored VMs map the template's RAM copy-on-write: it must come out of them unchanged.
        let ram = try #require(templates.list().first?.path).replacingOccurrences(of: ".state", with: ".ram")
        let ramDigest = try ContentDigest.sha256(fileAt: ram)
        for file in [ram, ram.replacingOccurrences(of: ".ram", with: ".state")] {
            var st = stat()
            #expect(stat(file, &st) == 0 && st.st_mode & 0o777 == 0o600, "\(file): the guest's memory is readable by its owner only")
        }
        // Old enough that the template's own clock would be visibly wrong.
        Thread.sleep(forTimeInterval: 15)
        let second = try build(2)
        let third = try build(3)
        #expect(try ContentDigest.sha256(fileAt: ram) == ramDigest, "a restored VM wrote into the template's RAM")
        #expect(second.result.vmRestores == 1 && third.result.vmRestores == 1 && second.result.bootTemplatesSaved == 0)
        #expect(abs(second.skew) < 8 && abs(third.skew) < 8, "guest clock off by \(second.skew) s / \(third.skew) s")
        #expect(abs(first.skew) < 8, "guest clock off by \(first.skew) s")
        #expect(second.random.count == 64 && Set([first.random, second.random, third.random]).count == 3,
                "two VMs restored from one template must not share their random state")

        let state = try #require(templates.list().first?.path)
        try AtomicFile.write(String(repeating: "not a QEMU state\n", count: 1000), to: state)
        let fourth = try build(4)
        #expect(fourth.result.vmBoots == 1 && fourth.result.vmRestores == 0, "a broken template is not used")
        #expect(templates.list().isEmpty, "and it is dropped")
        #expect(try E2E.debugfs(paths.rootfsStorageRoot + "/test/tpl/4/rootfs", "cat /n") == "4\n")
    }

    /// Large COPY sources travel on the VM's content disk (O_DIRECT in the guest), small ones over
    /// the channel; both must land byte for byte with the right owner and mode.
    @Test(.timeLimit(.minutes(20)))
    func largeCopiesGoThroughTheContentDisk() throws {
        let home = "/tmp/fbe2e-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: home) }
        let (paths, provider) = try E2E.prepareStore(home: home)
        let ctx = home + "/ctx"
        try FileManager.default.createDirectory(atPath: ctx + "/dir/sub", withIntermediateDirectories: true)
        var files: [String: Data] = [:]
        var sizes = [("big.bin", (5 << 20) + 3), ("dir/edge.bin", 65_536), ("dir/sub/mid.bin", 200_001), ("small.txt", 100),
                     ("dir/empty", 0)]
        // More small files than one batch carries (FileBatchEntry runs of 512).
        for i in 0..<600 { sizes.append(("dir/many/f\(i).txt", (i * 37) % 5000)) }
        try FileManager.default.createDirectory(atPath: ctx + "/dir/many", withIntermediateDirectories: true)
        for (i, (name, size)) in sizes.enumerated() {
            let data = Data((0..<size).map { UInt8(truncatingIfNeeded: ($0 &* 2_654_435_761) >> 13 &+ i) })
            try data.write(to: URL(fileURLWithPath: ctx + "/" + name))
            files[name] = data
        }
        try FileManager.default.createSymbolicLink(atPath: ctx + "/dir/sub/link", withDestinationPath: "mid.bin")
        let dockerfile = """
            FROM busybox:1
            COPY --chown=app:app --chmod=0640 big.bin small.txt /data/
            COPY dir /data/dir/
            RUN cmp /data/big.bin /data/dir/sub/mid.bin 2>/dev/null; ls -ln /data > /data/listing
            """
        let engine = BuildEngine(images: provider, paths: paths)
        let result = try engine.build(BuildRequest(dockerfile: dockerfile, context: ctx, tag: "test/big:1", timeout: 900,
                                                   machine: BuildMachine(kernelStoreRoot: paths.kernelStorageRoot, memMiB: 256),
                                                   output: { _ in }))
        #expect(result.filesFromContentDisk == files.count, "every file from the content disk, the tree in batches")
        let image = paths.rootfsStorageRoot + "/test/big/1/rootfs"
        let out = home + "/dump"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        _ = try Command("debugfs", ["-R", "rdump /data \(out)", image]).check()
        for (name, data) in files {
            #expect(FileManager.default.contents(atPath: out + "/data/" + name) == data, "/data/\(name) differs")
        }
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: out + "/data/dir/sub/link") == "mid.bin")
        let big = try E2E.debugfs(image, "stat /data/big.bin")
        #expect(big.contains("User:  1000") && big.contains("Group:  1000") && big.contains("Mode:  0640"), "\(big)")
        #expect(try E2E.debugfs(image, "stat /data/dir/sub/mid.bin").contains("Mode:  0644"))
        #expect(!(try E2E.debugfs(image, "ls /data")).contains(".fbw-"), "no temporary file left")
    }
}

final class LogLines: @unchecked Sendable {
    private let lock = NSLock()
    private var _lines: [String] = []
    var lines: [String] { lock.lock(); defer { lock.unlock() }; return _lines }
    @Sendable func append(_ s: String) { lock.lock(); _lines.append(s); lock.unlock(); print(s) }
}
