import FirebuildCore
import Foundation
import Testing
@testable import VM

@Suite struct QEMUArgvTests {
    let config = VMConfig(id: "vm1", kernelPath: "/k/vmlinux", initrdPath: "/k/initrd.img", kernelArgs: "root=/dev/vda rw",
                          rootDisk: VMDisk(path: "/d/root,1.qcow2", format: .qcow2),
                          extraDisks: [VMDisk(path: "/d/data.img", readOnly: true)], memMiB: 256, vcpus: 2,
                          network: VMNetwork(tapName: "fbtap0", mac: "52:54:00:fb:00:01"), runDirectory: "/r")

    @Test func tcgArgv() {
        let d = QEMUDriver(binary: "qemu-system-x86_64", accelerator: .tcg)
        let argv = d.arguments(config, accelerator: .tcg, files: .init(runDirectory: "/r"))
        #expect(argv == [
            "qemu-system-x86_64", "-M", "microvm,acpi=on", "-accel", "tcg", "-m", "256", "-smp", "2",
            "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
            "-kernel", "/k/vmlinux", "-initrd", "/k/initrd.img",
            "-append", "root=/dev/vda rw console=ttyS0 panic=-1 cryptomgr.notests tsc_early_khz=2000000",
            "-drive", "id=disk0,file=/d/root,,1.qcow2,format=qcow2,if=none,cache=unsafe", "-device", "virtio-blk-device,drive=disk0",
            "-drive", "id=disk1,file=/d/data.img,format=raw,if=none,cache=unsafe,readonly=on", "-device", "virtio-blk-device,drive=disk1",
            "-netdev", "tap,id=net0,ifname=fbtap0,script=no,downscript=no", "-device", "virtio-net-device,netdev=net0,mac=52:54:00:fb:00:01",
            "-device", "virtio-rng-device",
            "-device", "virtio-serial-device",
            "-chardev", "socket,id=fb0,path=/r/channel.sock,server=on,wait=off",
            "-device", "virtserialport,chardev=fb0,name=firebuild.0",
            "-chardev", "file,id=con0,path=/r/console.log", "-serial", "chardev:con0",
            "-qmp", "unix:/r/qmp.sock,server=on,wait=off", "-pidfile", "/r/qemu.pid",
        ])
        #expect(!argv.contains("max") && !argv.contains("host"))
    }

    @Test func kvmUsesHostCPUAndNoTSCOverride() {
        let d = QEMUDriver(accelerator: .kvm)
        let argv = d.arguments(config, accelerator: .kvm, files: .init(runDirectory: "/r"))
        #expect(argv.contains("-cpu") && argv.contains("host"))
        #expect(!d.kernelCommandLine(config, accelerator: .kvm).contains("tsc_early_khz"))
    }

    @Test func callerArgumentsWin() {
        var c = config
        c.kernelArgs = "console=hvc0 tsc_early_khz=3000000 panic=5 cryptomgr.notests=0"
        #expect(QEMUDriver().kernelCommandLine(c, accelerator: .tcg) == "console=hvc0 tsc_early_khz=3000000 panic=5 cryptomgr.notests=0")
    }

    @Test func netnsWrapper() {
        #expect(VMProcess.inNetns("/var/run/netns/fbtest-1", ["qemu"]) == ["nsenter", "--net=/var/run/netns/fbtest-1", "--", "qemu"])
        #expect(VMProcess.inNetns(nil, ["qemu"]) == ["qemu"])
    }

    @Test func configValidation() throws {
        let dir = Fixtures.tempDir("cfg")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        FileManager.default.createFile(atPath: dir + "/k", contents: Data())
        FileManager.default.createFile(atPath: dir + "/d", contents: Data())
        var c = VMConfig(id: "ok-1", kernelPath: dir + "/k", rootDisk: VMDisk(path: dir + "/d"), runDirectory: dir)
        try c.validate()
        for bad in ["", "has space", "under_score", String(repeating: "x", count: 65)] {
            var b = c; b.id = bad
            #expect(throws: FirebuildError.self) { try b.validate() }
        }
        c.network = VMNetwork(tapName: "tap0", mac: "zz:00:00:00:00:00")
        #expect(throws: FirebuildError.self) { try c.validate() }
        c.network = nil
        c.kernelPath = dir + "/missing"
        #expect(throws: FirebuildError.self) { try c.validate() }
    }

    @Test func vmmSelection() throws {
        #expect(try VMMSelection.kind(named: nil, firecrackerConfigured: false) == .qemu)
        #expect(try VMMSelection.kind(named: nil, firecrackerConfigured: true) == .firecracker)
        #expect(try VMMSelection.kind(named: "qemu", firecrackerConfigured: true) == .qemu)
        #expect(throws: FirebuildError.self) { try VMMSelection.kind(named: "firecracker", firecrackerConfigured: false) }
        #expect(throws: FirebuildError.self) { try VMMSelection.kind(named: "xen", firecrackerConfigured: false) }
    }
}

@Suite struct QEMUMachineStateTests {
    /// A restored VM is the same command line plus `-incoming defer` (the load starts over QMP,
    /// after its capabilities are set) and its RAM mapped from the template's file.
    @Test func restoredAndSavedVMs() {
        var config = VMConfig(id: "vm1", kernelPath: "/k/vmlinux", rootDisk: VMDisk(path: "/d/root"), memMiB: 256, runDirectory: "/r")
        let d = QEMUDriver(binary: "qemu-system-x86_64", accelerator: .tcg)
        let plain = d.arguments(config, accelerator: .tcg, files: .init(runDirectory: "/r"))
        #expect(!plain.contains("-incoming") && !plain.contains("-object") && plain[2] == "microvm,acpi=on")
        config.incomingState = "/t/a.state"
        config.memoryFile = VMMemoryFile(path: "/t/a,b.ram", shared: false)
        let restored = d.arguments(config, accelerator: .tcg, files: .init(runDirectory: "/r"))
        #expect(restored[2] == "microvm,acpi=on,memory-backend=mem")
        #expect(Array(restored.suffix(2)) == ["-incoming", "defer"])
        let object = restored.firstIndex(of: "-object").map { restored[$0 + 1] }
        #expect(object == "memory-backend-file,id=mem,size=256M,mem-path=/t/a,,b.ram,share=off")
        config.incomingState = nil
        config.memoryFile?.shared = true
        let saving = d.arguments(config, accelerator: .tcg, files: .init(runDirectory: "/r"))
        #expect(saving.contains("memory-backend-file,id=mem,size=256M,mem-path=/t/a,,b.ram,share=on") && !saving.contains("-incoming"))
    }

    /// The state file is read by /bin/sh running `cat`: the path must stay one word.
    @Test(arguments: [
        ("/h/boot-templates/abc.state", "exec:cat '/h/boot-templates/abc.state'"),
        ("/h/it's here/a b.state", "exec:cat '/h/it'\\''s here/a b.state'"),
    ])
    func incomingQuotesThePath(_ path: String, _ uri: String) {
        #expect(QEMUMachineState.incomingURI(path) == uri)
        let words = try? Command("/bin/sh", ["-c", "for w in \(uri.dropFirst(9)); do echo \"[$w]\"; done"]).check().stdoutString
        #expect(words == "[\(path)]\n")
    }
}
