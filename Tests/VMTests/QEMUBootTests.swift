import FirebuildCore
import Foundation
import Store
import Testing
@testable import VM

/// Real boots under QEMU microvm (TCG here). Serialized: two cores cannot boot two VMs quickly.
@Suite(.serialized, .enabled(if: Fixtures.canBoot, "\(Fixtures.skipReason)"))
struct QEMUBootTests {
    static let probeDir = Fixtures.processLifetimeDir("probe")
    let driver = QEMUDriver(probeCachePath: QEMUBootTests.probeDir + "/accel.json")

    func config(_ dir: String, kernel: StoredKernel, disk: VMDisk, id: String) -> VMConfig {
        VMConfig(id: id, kernelPath: kernel.bzImagePath ?? kernel.vmlinuxPath, initrdPath: kernel.initrdPath,
                 kernelArgs: "edd=off quiet root=/dev/vda rw", rootDisk: disk, memMiB: 256, runDirectory: dir + "/run")
    }

    @Test(arguments: ["bzImage", "vmlinux"])
    func bootsToMarkerAndExitsOnPoweroff(form: String) throws {
        var (_, kernel) = try Fixtures.bootKernel()
        if form == "vmlinux" { kernel.record.bzImageSize = nil }  // boot the ELF through its PVH note
        let dir = Fixtures.tempDir("boot")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let base = try Fixtures.rootfs(in: dir, initScript: Fixtures.markerInit)
        let overlay = dir + "/overlay.qcow2"
        let disk = try DiskCloner.clone(base: base, to: overlay, for: .qemu)
        // An overlay costs KiBs, whatever the size of the base.
        #expect((DiskCloner.allocatedBytes(overlay) ?? .max) < 1 << 20)
        #expect(disk.format == .qcow2)

        let started = Date()
        let handle = try driver.start(config(dir, kernel: kernel, disk: disk, id: "boot1"))
        let instance = driver.instance(handle)
        defer { try? instance.kill() }
        #expect(handle.accelerator == "tcg" || handle.accelerator == "kvm")
        let sawMarker = Fixtures.waitForFile(handle.consoleLogPath, containing: "FB-VM-MARKER", timeout: 90)
        let markerTime = Date().timeIntervalSince(started)
        let exit = instance.wait(timeout: 30)
        let total = Date().timeIntervalSince(started)
        print("QEMU boot (\(handle.accelerator), \(form)): marker after \(String(format: "%.2f", markerTime)) s, VM exited after \(String(format: "%.2f", total)) s")
        #expect(sawMarker, "console: \(VMProcess.tail(handle.consoleLogPath, lines: 30))")
        #expect(exit != nil, "VM did not exit after poweroff")
        #expect(exit?.status == 0)
        if case .exited = instance.status() {} else { Issue.record("status should be exited") }
        // The guest wrote to the overlay, not to the base.
        #expect((DiskCloner.allocatedBytes(overlay) ?? 0) > 0)
    }

    @Test func qmpStatusThenGracefulStopFallsBackToForce() throws {
        let (_, kernel) = try Fixtures.bootKernel()
        let dir = Fixtures.tempDir("stop")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let base = try Fixtures.rootfs(in: dir, initScript: Fixtures.hangingInit)
        let disk = try DiskCloner.clone(base: base, to: dir + "/o.qcow2", for: .qemu)
        let handle = try driver.start(config(dir, kernel: kernel, disk: disk, id: "stop1"))
        let instance = driver.instance(handle)
        defer { try? instance.kill() }
        #expect(instance.status() == .running)
        do {
            // QMP serves one client at a time: this one is closed at the end of the scope.
            let qmp = try QMPClient(socketPath: handle.controlSocket)
            #expect(try qmp.status() == "running")
        }
        #expect(Fixtures.waitForFile(handle.consoleLogPath, containing: "FB-VM-MARKER hanging", timeout: 90),
                "console: \(VMProcess.tail(handle.consoleLogPath, lines: 30))")
        // The busybox shell init ignores the ACPI power button: graceful times out, then QMP quit.
        let stopStart = Date()
        let outcome = try instance.stop(graceful: true, timeout: 2)
        let stopTime = Date().timeIntervalSince(stopStart)
        #expect(outcome == .forced)
        // 2 s of grace, then QMP quit ends QEMU at once (no SIGKILL needed).
        #expect(stopTime < 4.5, "stop took \(stopTime) s")
        #expect(VMProcess.exitStatus(pid: handle.pid, startTime: handle.processStartTime) != nil)
        #expect(try instance.stop(graceful: true, timeout: 1) == .alreadyStopped)
    }

    @Test func killEndsTheProcess() throws {
        let (_, kernel) = try Fixtures.bootKernel()
        let dir = Fixtures.tempDir("kill")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let base = try Fixtures.rootfs(in: dir, initScript: Fixtures.hangingInit)
        let disk = VMDisk(path: base, readOnly: true)
        let handle = try driver.start(config(dir, kernel: kernel, disk: disk, id: "kill1"))
        let instance = driver.instance(handle)
        try instance.kill()
        let exit = instance.wait(timeout: 1)
        #expect(exit?.signal == SIGKILL)
        if case .exited = instance.status() {} else { Issue.record("status should be exited") }
    }

    @Test func badOptionFailsAtStartWithQEMUsMessage() throws {
        let (_, kernel) = try Fixtures.bootKernel()
        let dir = Fixtures.tempDir("bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data(count: 4096).write(to: URL(fileURLWithPath: dir + "/notqcow"))
        var cfg = config(dir, kernel: kernel, disk: VMDisk(path: dir + "/notqcow", format: .qcow2), id: "bad1")
        cfg.memMiB = 64
        #expect(throws: FirebuildError.self) { try driver.start(cfg) }
    }

    @Test func guestChannelOverVirtioSerial() throws {
        let (_, kernel) = try Fixtures.bootKernel()
        let dir = Fixtures.tempDir("chan")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let initScript = """
        #!/bin/busybox sh
        B=/bin/busybox
        port=
        for n in /sys/class/virtio-ports/*/name; do
            if [ "$($B cat $n)" = "\(GuestChannel.portName)" ]; then port=/dev/$($B basename $($B dirname $n)); fi
        done
        echo "FB-VM-PORT $port"
        echo "FB-VM-VDB $($B cat /sys/block/vdb/size)"
        exec 3<>$port
        echo "hello-from-guest" >&3
        read -r reply <&3
        echo "FB-VM-REPLY $reply"
        $B sync
        $B poweroff -f
        """
        let base = try Fixtures.rootfs(in: dir, initScript: initScript)
        let disk = try DiskCloner.clone(base: base, to: dir + "/o.qcow2", for: .qemu)
        // A second disk: the root must still be /dev/vda (devices enumerate in command-line order).
        try Data(count: 2 << 20).write(to: URL(fileURLWithPath: dir + "/extra.img"))
        var cfg = config(dir, kernel: kernel, disk: disk, id: "chan1")
        cfg.extraDisks = [VMDisk(path: dir + "/extra.img", readOnly: true)]
        let handle = try driver.start(cfg)
        let instance = driver.instance(handle)
        defer { try? instance.kill() }
        let channel = GuestChannel.forHandle(handle)
        #expect(channel == .virtioSerial(socketPath: handle.channelSocketPath))
        let fd = try channel.connect(timeout: 10)
        defer { close(fd) }
        UnixSocket.setTimeout(fd, seconds: 90)
        let line = try UnixSocket.readLine(fd)
        #expect(line == "hello-from-guest")
        try UnixSocket.writeAll(fd, Data("hello-from-host\n".utf8))
        #expect(Fixtures.waitForFile(handle.consoleLogPath, containing: "FB-VM-REPLY hello-from-host", timeout: 30),
                "console: \(VMProcess.tail(handle.consoleLogPath, lines: 30))")
        #expect(instance.wait(timeout: 30) != nil)
        #expect(Fixtures.waitForFile(handle.consoleLogPath, containing: "FB-VM-VDB 4096", timeout: 1))
    }

    /// QEMU runs inside a test-made network namespace and attaches to a tap that exists only there.
    @Test(.enabled(if: getuid() == 0 && Command.which("ip") != nil && Command.which("nsenter") != nil, "needs root, iproute2, util-linux"))
    func networkInsideTestNamespace() throws {
        let (_, kernel) = try Fixtures.bootKernel()
        let dir = Fixtures.tempDir("net")
        let ns = "fbtest-\(UInt32.random(in: 0...UInt32.max))"
        try Command("ip", ["netns", "add", ns]).check()
        defer {
            _ = try? Command("ip", ["netns", "delete", ns]).run()
            try? FileManager.default.removeItem(atPath: dir)
        }
        try Command("ip", ["netns", "exec", ns, "ip", "tuntap", "add", "fbtap0", "mode", "tap"]).check()
        try Command("ip", ["netns", "exec", ns, "ip", "link", "set", "fbtap0", "up"]).check()
        let initScript = """
        #!/bin/busybox sh
        echo "FB-VM-MAC $(/bin/busybox cat /sys/class/net/eth0/address)"
        /bin/busybox poweroff -f
        """
        let base = try Fixtures.rootfs(in: dir, initScript: initScript)
        let disk = try DiskCloner.clone(base: base, to: dir + "/o.qcow2", for: .qemu)
        var cfg = config(dir, kernel: kernel, disk: disk, id: "net1")
        cfg.network = VMNetwork(tapName: "fbtap0", mac: "52:54:00:fb:00:42")
        cfg.netnsPath = "/var/run/netns/\(ns)"
        let handle = try driver.start(cfg)
        let instance = driver.instance(handle)
        defer { try? instance.kill() }
        #expect(Fixtures.waitForFile(handle.consoleLogPath, containing: "FB-VM-MAC 52:54:00:fb:00:42", timeout: 90),
                "console: \(VMProcess.tail(handle.consoleLogPath, lines: 30))")
        #expect(instance.wait(timeout: 30) != nil)
        // Nothing leaked into the host namespace.
        #expect(!FileManager.default.fileExists(atPath: "/sys/class/net/fbtap0"))
    }
}
