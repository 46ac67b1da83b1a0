import Foundation
import Glibc
import Testing
@testable import Guest

/// Boots the init as PID 1 of a real VM (QEMU microvm, TCG, Debian cloud kernel, tiny initrd)
/// and drives it over the virtio-serial channel with the host-side GuestConnection.
/// Uses the STATIC init when `make init` built it (the production artifact), else the debug build
/// (dynamically linked: works only because the rootfs has no libs... so it is skipped then).
@Suite(.serialized)
struct VMBootTests {
    static let script = InitHarness.packageRoot + "/Tests/GuestTests/Scripts/boot-init.sh"
    static let staticInit = InitHarness.packageRoot + "/.build-static/firebuild-init-static"

    static func skipReason() -> String? {
        guard FileManager.default.isExecutableFile(atPath: staticInit) else {
            return "static init missing: run `make init` (builds \(staticInit))"
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: script)
        p.arguments = ["check"]
        p.standardError = FileHandle.nullDevice
        do { try p.run(); p.waitUntilExit() } catch { return "cannot run \(script): \(error)" }
        return p.terminationStatus == 0 ? nil : "qemu, a cloud kernel or busybox-static is missing (boot-init.sh check)"
    }

    @Test func bootsRunsWorkloadExecAndPowersOff() throws {
        if let reason = Self.skipReason() {
            print("skipping VM boot test: \(reason)")
            return
        }
        let work = NSTemporaryDirectory() + "fbvm-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: work) }
        let prep = Process()
        prep.executableURL = URL(fileURLWithPath: Self.script)
        prep.arguments = ["prepare", Self.staticInit, work]
        try prep.run()
        prep.waitUntilExit()
        try #require(prep.terminationStatus == 0, "boot-init.sh prepare failed")

        let qemu = Process()
        qemu.executableURL = URL(fileURLWithPath: Self.script)
        qemu.arguments = ["run", work]
        let started = Posix.now()
        try qemu.run()
        defer { if qemu.isRunning { qemu.terminate(); qemu.waitUntilExit() } }
        func console() -> String { (try? String(contentsOfFile: work + "/console.log", encoding: .utf8)) ?? "(no console)" }

        let c = try GuestConnection.connect(unixPath: work + "/fb.sock", timeout: 30)
        defer { c.close() }
        let sink = OutputSink()
        c.setWorkloadHandlers(output: sink.add)
        let ready: ReadyInfo
        do { ready = try c.waitReady(timeout: 60) } catch {
            Issue.record("no ready frame: \(error)\nconsole:\n\(console())"); return
        }
        let bootToReady = Posix.now() - started
        print("VM boot-to-ready: \(String(format: "%.2f", bootToReady)) s wall, guest uptime \(ready.uptime) s, channel \(ready.channel)")
        #expect(ready.channel == "virtio-serial:firebuild.0")

        let md = Metadata(image: ImageRuntimeConfig(
                              cmd: ["/bin/busybox", "sh", "-c", "/bin/busybox echo hello; while [ ! -e /tmp/go ]; do sleep 0.1; done; exit 0"]),
                          hostname: "fbvm",
                          network: NetworkConfig(mode: .static, mac: "02:fb:00:00:00:02", address: "10.0.2.15", prefix: 24,
                                                 gateway: "10.0.2.2", dns: ["10.0.2.3"]))
        do { try c.sendMetadata(md, timeout: 60) } catch {
            Issue.record("metadata failed: \(error)\nconsole:\n\(console())"); return
        }

        // exec while the workload runs: network from metadata, hostname, /etc files, PID 1, a user
        let (s1, out1, err1) = try c.execCollect(ExecRequest(argv: ["/bin/sh", "-c",
            "ip -4 addr show eth0 | grep inet; ip route | grep default; hostname; cat /etc/resolv.conf; cat /proc/1/comm; id -u"],
            user: "app"), timeout: 60)
        let text = String(decoding: out1, as: UTF8.self)
        #expect(s1 == .exited(0), "stderr: \(String(decoding: err1, as: UTF8.self))")
        #expect(text.contains("inet 10.0.2.15/24"))
        #expect(text.contains("default via 10.0.2.2 dev eth0"))
        #expect(text.contains("fbvm\nnameserver 10.0.2.3\nfirebuild-init\n1000\n"), "\(text)")

        // a build-style file write, then let the workload finish
        try c.writeFile(WriteFileRequest(path: "/tmp/go", mode: 0o644), data: Array("go".utf8), timeout: 60)
        let status = try c.waitWorkloadExit(timeout: 60)
        #expect(status == .exited(0))
        #expect(sink.stdout == "hello\n")

        // the init powers the VM off: QEMU exits by itself (-no-reboot)
        let deadline = Posix.now() + 60
        while qemu.isRunning && Posix.now() < deadline { usleep(50_000) }
        #expect(!qemu.isRunning, "QEMU still running after the workload ended\nconsole:\n\(console())")
        print("VM total: \(String(format: "%.2f", Posix.now() - started)) s")
    }

    /// A kernel without initrd (Firecracker) starts init with no /proc, and a static Swift program
    /// dies before main without it ("Unable to obtain Swift runtime path"). The C constructor in
    /// CSystem mounts /proc first. Checked as PID 1 of a new PID + mount namespace, chroot'ed into
    /// a directory holding only the init.
    @Test func staticInitStartsAsPID1WithoutProc() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.staticInit),
              FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare"), getuid() == 0 else {
            print("skipping no-/proc PID 1 test: needs root, unshare and `make init`")
            return
        }
        let dir = NSTemporaryDirectory() + "fbchroot-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/sbin", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.staticInit, toPath: dir + "/sbin/firebuild-init")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        p.arguments = ["--pid", "--fork", "--mount", "--propagation", "private", "chroot", dir, "/sbin/firebuild-init", "--version"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        p.waitUntilExit()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(p.terminationStatus == 0)
        #expect(text.hasPrefix("firebuild-init "))
    }
}
