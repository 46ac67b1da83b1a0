import FirebuildCore
import Foundation
import Guest
import Store
import Testing
import VM
@testable import Runtime

/// The guest's early boot on real VMs (QEMU microvm, TCG here), with firebuild's own initrd: the
/// appended segment makes firebuild-init the initramfs's /init (in-process switch to the root),
/// the shell /init stays the fallback, and `init=` / `--init=image` still reach the image's init.
@Suite(.serialized, .enabled(if: RunEnv.available))
struct EarlyBootTests {
    static let marker = "FB-EARLY-MARKER"

    /// An image whose /sbin/fbtest-init prints the marker, how / is mounted and the phases the
    /// early init handed over, then powers off; its /sbin/init does the same (for --init=image).
    func storeImage(_ fx: RunFixture) throws -> StoredImage {
        // storeImage links only a few applets: call busybox by name for the rest.
        let script = """
        #!/bin/busybox sh
        B=/bin/busybox
        echo "\(Self.marker) pid=$$ root=$($B grep ' / ' /proc/mounts | $B tail -1 | $B cut -d' ' -f4 | $B cut -d, -f1) phases=$FIREBUILD_BOOT_PHASES" > /dev/console
        $B sync
        $B poweroff -f
        """
        try fx.storeImage(tag: "test/early:1", config: ImageConfig(cmd: ["/bin/sh", "-c", "sleep 600"]),
                          files: ["sbin/fbtest-init": script, "sbin/init": script], executables: ["sbin/fbtest-init", "sbin/init"])
        let store = ImageStore(root: fx.settings.rootfsStorageRoot)
        return try store.get(try ImageTag(parsing: "test/early:1"))
    }

    /// Boots `image` with `initrd` and `args` (the channel parameters are added) on an overlay.
    func boot(_ fx: RunFixture, image: StoredImage, initrd: String, args: String, name: String) throws -> (VMHandle, VMInstance, String) {
        let kernel = try KernelStore(root: fx.settings.kernelStorageRoot).get("cloud")
        let dir = fx.home + "/vm-\(name)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let disk = try DiskCloner.clone(base: image.rootfsPath, to: dir + "/root.qcow2", for: .qemu)
        var full = args
        for (k, v) in GuestChannel.kernelParameters(for: .qemu) { full = VMConfig.appendingArg(full, key: k, value: v) }
        let config = VMConfig(id: name, kernelPath: kernel.bzImagePath ?? kernel.vmlinuxPath, initrdPath: initrd,
                              kernelArgs: full, rootDisk: disk, memMiB: 192, runDirectory: dir,
                              consoleLogPath: dir + "/console.log", channelSocketPath: dir + "/ch.sock")
        let driver = QEMUDriver(probeCachePath: fx.home + "/accel.json")
        let handle = try driver.start(config)
        return (handle, driver.instance(handle), dir + "/console.log")
    }

    /// The guest channel once the init said ready (nil, with the console recorded, when it never did).
    func connectReady(_ handle: VMHandle, log: String) throws -> (GuestConnection, ReadyInfo)? {
        let c = try GuestChannel.forHandle(handle).open(timeout: 30)
        do { return (c, try c.waitReady(timeout: 120)) } catch {
            c.close()
            Issue.record("no ready frame: \(error)\nconsole:\n\(console(log))")
            return nil
        }
    }

    func console(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "(no console)" }

    func waitFor(_ path: String, _ text: String, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if console(path).contains(text) { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return false
    }

    /// The kernel's initrd with the init appended as `run` does it.
    func appendedInitrd(_ fx: RunFixture, _ kernel: StoredKernel) throws -> String {
        let kernelInitrd = try #require(kernel.initrdPath)
        let initPath = try #require(RunEnv.staticInit)
        return try BootFiles.initrd(kernelInitrd: kernelInitrd, guestInit: initPath, cacheDir: fx.home + "/initrds")
    }

    /// UUID and label of the image's ext4 filesystem, for root=UUID= / root=LABEL=.
    func identity(_ image: StoredImage) throws -> FilesystemIdentity {
        let head = try #require(FileHandle(forReadingAtPath: image.rootfsPath)).readData(ofLength: FilesystemIdentity.probeSize)
        return try #require(FilesystemIdentity.ext(Array(head)))
    }

    /// The usual case: root by UUID, firebuild.init= names the placed init, and the init goes on
    /// in the same process (the "switched" milestone, PID 1's argv[0] is the kernel's "/init").
    @Test(.timeLimit(.minutes(10)))
    func inProcessSwitchByUUIDThenShutdown() throws {
        let fx = try RunFixture()
        defer { fx.tearDown() }
        try fx.importKernel()
        let image = try storeImage(fx)
        let kernel = try KernelStore(root: fx.settings.kernelStorageRoot).get("cloud")
        let initrd = try appendedInitrd(fx, kernel)
        let uuid = try identity(image).uuid
        let (handle, instance, log) = try boot(fx, image: image, initrd: initrd,
                                               args: "console=ttyS0 panic=-1 quiet root=UUID=\(uuid.uppercased()) rw firebuild.init=/run/firebuild-init",
                                               name: "inproc")
        defer { try? instance.kill() }
        guard let (c, ready) = try connectReady(handle, log: log) else { return }
        defer { c.close() }
        let names = ready.phases.map(\.name)
        print("in-process early boot: \(BootPhase.summary(ready.phases))")
        #expect(Array(names.prefix(6)) == ["initrd", "modules", "rootfs", "init-placed", "switch-root", "switched"])
        #expect(!names.contains("init-copied"))
        _ = try c.sendMetadata(Metadata(mode: .build, hostname: "early"), timeout: 60)
        let (status, out, err) = try c.execCollect(ExecRequest(argv: ["/bin/sh", "-c",
            "B=/bin/busybox; $B tr '\\0' ' ' </proc/1/cmdline; echo; $B test -x /run/firebuild-init && echo placed; /proc/1/exe --version; "
            + "$B grep -c ' /proc proc ' /proc/mounts"]), timeout: 60)
        let text = String(decoding: out, as: UTF8.self)
        #expect(status == .exited(0), "\(String(decoding: err, as: UTF8.self))")
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.first?.trimmingCharacters(in: .whitespaces) == "/init", "\(text)")
        #expect(lines.contains("placed"), "\(text)")
        #expect(lines.contains { $0.hasPrefix("firebuild-init ") }, "\(text)")
        #expect(lines.contains("1"), "/proc moved into the new root: \(text)")
        try c.shutdown(timeout: 60)
        #expect(instance.wait(timeout: 60) != nil, "VM did not power off\n\(console(log))")
    }

    /// `init=` without firebuild.init=, root by LABEL, read-only: the early init execs the image's
    /// init and hands it the milestones.
    @Test(.timeLimit(.minutes(10)))
    func kernelInitArgumentExecsTheImagesInitReadOnlyByLabel() throws {
        let fx = try RunFixture()
        defer { fx.tearDown() }
        try fx.importKernel()
        let image = try storeImage(fx)
        let label = try identity(image).label
        let kernel = try KernelStore(root: fx.settings.kernelStorageRoot).get("cloud")
        let initrd = try appendedInitrd(fx, kernel)
        let root = label.isEmpty ? "UUID=\(try identity(image).uuid)" : "LABEL=\(label)"
        let (_, instance, log) = try boot(fx, image: image, initrd: initrd,
                                          args: "console=ttyS0 panic=-1 quiet root=\(root) ro init=/sbin/fbtest-init", name: "initarg")
        defer { try? instance.kill() }
        #expect(waitFor(log, Self.marker, timeout: 120), "\(console(log))")
        let text = console(log)
        #expect(text.contains("\(Self.marker) pid=1 root=ro phases=initrd="), "\(text)")
        #expect(text.contains("init-placed="), "\(text)")
        #expect(instance.wait(timeout: 60) != nil, "VM did not power off\n\(text)")
    }

    /// An init without the early-boot mode (travelling as /firebuild-init, as before) leaves the
    /// initrd's shell /init in charge: it copies the init to /run and switch_roots into it.
    @Test(.timeLimit(.minutes(10)))
    func shellInitStaysTheFallback() throws {
        let fx = try RunFixture()
        defer { fx.tearDown() }
        try fx.importKernel()
        let image = try storeImage(fx)
        let kernel = try KernelStore(root: fx.settings.kernelStorageRoot).get("cloud")
        let kernelInitrd = try #require(kernel.initrdPath)
        let initPath = try #require(RunEnv.staticInit)
        var combined = try #require(FileManager.default.contents(atPath: kernelInitrd))
        while combined.count % 4 != 0 { combined.append(0) }
        var cpio = CpioWriter()
        cpio.file(BootFiles.initName, contents: try #require(FileManager.default.contents(atPath: initPath)), mode: 0o755)
        combined.append(cpio.finish())
        let initrd = fx.home + "/legacy-initrd.img"
        try combined.write(to: URL(fileURLWithPath: initrd))
        let (handle, instance, log) = try boot(fx, image: image, initrd: initrd,
                                               args: "console=ttyS0 panic=-1 quiet root=/dev/vda rw firebuild.init=/run/firebuild-init",
                                               name: "shell")
        defer { try? instance.kill() }
        guard let (c, ready) = try connectReady(handle, log: log) else { return }
        defer { c.close() }
        let names = ready.phases.map(\.name)
        #expect(names.contains("init-copied") && names.contains("main"), "\(names)")
        #expect(!names.contains("switched"))
        _ = try c.sendMetadata(Metadata(mode: .build, hostname: "shell"), timeout: 60)
        let (_, out, _) = try c.execCollect(ExecRequest(argv: ["/bin/sh", "-c", "/bin/busybox tr '\\0' ' ' </proc/1/cmdline"]), timeout: 60)
        #expect(String(decoding: out, as: UTF8.self).trimmingCharacters(in: .whitespaces) == "/run/firebuild-init")
        try c.shutdown(timeout: 60)
        _ = instance.wait(timeout: 60)
    }

    /// `firebuild run --init=image`: the in-process init takes the metadata, then execs /sbin/init.
    @Test(.timeLimit(.minutes(10)))
    func runInitImageStillExecsTheImagesInit() throws {
        let fx = try RunFixture()
        defer { fx.tearDown() }
        try fx.importKernel()
        _ = try storeImage(fx)
        var req = RunRequest(from: "test/early:1")
        req.name = "ii\(fx.id.prefix(6))"
        req.daemonize = true
        req.initImage = true
        #expect(try fx.engine.run(req) { _, _ in } == 0)
        let log = try fx.engine.inspect(id: req.name!).paths.consoleLog
        #expect(waitFor(log, Self.marker, timeout: 120), "\(console(log))")
        #expect(console(log).contains("\(Self.marker) pid=1 root=rw"), "\(console(log))")
    }
}
