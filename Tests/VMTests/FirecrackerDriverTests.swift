import FirebuildCore
import Foundation
import Testing
@testable import VM

@Suite struct FirecrackerDriverTests {
    func options(base: String = "/srv/jailer") -> FirecrackerDriver.Options {
        FirecrackerDriver.Options(firecrackerBinary: "/usr/bin/firecracker", jailerBinary: "/usr/bin/jailer", chrootBase: base,
                                  uid: 123, gid: 100, parentCgroup: "firebuild")
    }

    let config = VMConfig(id: "fbvm-0123456789abcde", kernelPath: "/k/vmlinux", initrdPath: "/k/initrd.img",
                          kernelArgs: "root=/dev/vda rw", rootDisk: VMDisk(path: "/d/root.ext4"),
                          extraDisks: [VMDisk(path: "/d/data.ext4", readOnly: true)], memMiB: 256, vcpus: 2,
                          network: VMNetwork(tapName: "fbtap0", mac: "52:54:00:fb:00:01"), runDirectory: "/r",
                          netnsPath: "/var/run/netns/fbtest-1")

    @Test func specIsLoaded() throws {
        try #require(FirecrackerSpec.path != nil, "firecracker.yaml not found")
        #expect(FirecrackerSpec.definitions["BootSource"] != nil)
        #expect(FirecrackerSpec.bodyDefinition(method: "PUT", path: "/drives/rootfs") == "Drive")
        #expect(FirecrackerSpec.bodyDefinition(method: "PUT", path: "/actions") == "InstanceActionInfo")
        let drive = try #require(FirecrackerSpec.definitions["Drive"] as? [String: Any])
        #expect(drive["required"] as? [String] == ["drive_id", "is_root_device"])
    }

    @Test func jailerArgv() {
        let d = FirecrackerDriver(options: options())
        #expect(d.jailerArguments(config) == [
            "/usr/bin/jailer", "--id", "fbvm-0123456789abcde", "--exec-file", "/usr/bin/firecracker",
            "--uid", "123", "--gid", "100", "--chroot-base-dir", "/srv/jailer", "--cgroup-version", "2",
            "--parent-cgroup", "firebuild",
            "--cgroup", "cpu.max=200000 100000", "--cgroup", "memory.max=\(320 << 20)",
            "--netns", "/var/run/netns/fbtest-1", "--daemonize", "--", "--api-sock", "/run/firecracker.socket",
        ])
        #expect(d.apiSocketPath(id: config.id) == "/srv/jailer/firecracker/fbvm-0123456789abcde/root/run/firecracker.socket")
    }

    @Test(arguments: ["", "/", "relative/dir", "/srv/a-chroot-base-that-is-way-too-long"])
    func badChrootBase(base: String) {
        let d = FirecrackerDriver(options: options(base: base))
        #expect(throws: FirebuildError.self) { try d.validateJail(id: config.id) }
    }

    @Test func chrootBaseLimitExplainsTheArithmetic() throws {
        let d = FirecrackerDriver(options: options(base: "/" + String(repeating: "c", count: 31)))
        do {
            try d.validateJail(id: config.id)
            Issue.record("a 32-character base must be refused")
        } catch let e as FirebuildError {
            #expect(e.message.contains("107"))
            #expect(e.message.contains("31"))
        }
        try FirecrackerDriver(options: options(base: "/" + String(repeating: "c", count: 30))).validateJail(id: config.id)
        // The exact socket path is checked too: a 64-character id overflows even with a short base.
        #expect(throws: FirebuildError.self) {
            try FirecrackerDriver(options: options(base: "/srv/jailer")).validateJail(id: String(repeating: "i", count: 64))
        }
    }

    @Test func everyRequestBodyMatchesTheSpec() throws {
        try #require(FirecrackerSpec.path != nil, "firecracker.yaml not found")
        let d = FirecrackerDriver(options: options())
        let jailed = FirecrackerDriver.JailedFiles(kernel: "/vmlinux", initrd: "/initrd.img", disks: ["/rootfs.ext4", "/disk1.img"])
        let requests = try d.configurationRequests(config, jailed: jailed)
        #expect(requests.map(\.path) == ["/machine-config", "/boot-source", "/drives/rootfs", "/drives/disk1",
                                         "/network-interfaces/eth0", "/vsock", "/serial", "/actions"])
        for r in requests { #expect(FirecrackerSpec.validate(r) == [], "\(r.path)") }
        let stop = try FirecrackerAPI.Request.put("/actions", FirecrackerAPI.InstanceActionInfo(actionType: .sendCtrlAltDel),
                                                  definition: "InstanceActionInfo")
        #expect(FirecrackerSpec.validate(stop) == [])
        let boot = try JSONDecoder().decode(JSONValue.self, from: requests[1].body!)
        #expect(boot == .object(["kernel_image_path": .string("/vmlinux"), "initrd_path": .string("/initrd.img"),
                                 "boot_args": .string("root=/dev/vda rw console=ttyS0 reboot=k panic=1 pci=off cryptomgr.notests firebuild.channel=vsock firebuild.vsock_mode=listen firebuild.vsock_port=10789")]))
    }

    @Test func validatorCatchesMistakes() throws {
        try #require(FirecrackerSpec.path != nil, "firecracker.yaml not found")
        func req(_ path: String, _ json: String, _ def: String) -> FirecrackerAPI.Request {
            FirecrackerAPI.Request(method: "PUT", path: path, body: Data(json.utf8), definition: def)
        }
        #expect(!FirecrackerSpec.validate(req("/drives/x", #"{"drive_id":"x"}"#, "Drive")).isEmpty)  // missing is_root_device
        #expect(!FirecrackerSpec.validate(req("/drives/x", #"{"drive_id":"x","is_root_device":"yes"}"#, "Drive")).isEmpty)
        #expect(!FirecrackerSpec.validate(req("/drives/x", #"{"drive_id":"x","is_root_device":true,"cache_type":"Fast"}"#, "Drive")).isEmpty)
        #expect(!FirecrackerSpec.validate(req("/machine-config", #"{"vcpu_count":0,"mem_size_mib":128}"#, "MachineConfiguration")).isEmpty)
        #expect(!FirecrackerSpec.validate(req("/vsock", #"{"guest_cid":3,"uds_path":"/v","extra":1}"#, "Vsock")).isEmpty)
        #expect(!FirecrackerSpec.validate(req("/nonexistent", "{}", "Vsock")).isEmpty)
    }

    /// The driver end to end against a fake API server: jail populated with hard links, jailer argv,
    /// every request over HTTP-on-Unix-socket (libcurl) valid against the spec, stop semantics.
    @Test func startAndStopAgainstFakeAPI() throws {
        let dir = Fixtures.tempDir("fc")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fm = FileManager.default
        for f in ["vmlinux", "initrd.img", "root.ext4"] { fm.createFile(atPath: dir + "/" + f, contents: Data(f.utf8)) }
        // The fake jailer records its argv and then stands in for Firecracker (it just waits).
        let jailer = dir + "/jailer"
        try AtomicFile.write("#!/bin/sh\necho \"$@\" > \(dir)/jailer.argv\nexec sleep 300\n", to: jailer, mode: 0o755)
        let fcBinary = dir + "/firecracker"
        try AtomicFile.write("#!/bin/sh\nexit 1\n", to: fcBinary, mode: 0o755)
        var opts = FirecrackerDriver.Options(firecrackerBinary: fcBinary, jailerBinary: jailer, chrootBase: dir + "/j")
        opts.limitResources = false
        let driver = FirecrackerDriver(options: opts)
        var cfg = VMConfig(id: "fc-test-1", kernelPath: dir + "/vmlinux", initrdPath: dir + "/initrd.img",
                           kernelArgs: "root=/dev/vda", rootDisk: VMDisk(path: dir + "/root.ext4"), runDirectory: dir + "/run")
        cfg.memMiB = 128
        let server = FakeFirecracker(socketPath: driver.apiSocketPath(id: cfg.id), startWhenExists: dir + "/jailer.argv")
        defer { server.stop() }

        let handle = try driver.start(cfg)
        let instance = driver.instance(handle)
        defer { try? instance.kill() }
        let root = driver.jailRoot(id: cfg.id)
        // Hard links: the jail's files are the originals.
        var a = stat(), b = stat()
        stat(dir + "/root.ext4", &a); stat(root + "/rootfs.ext4", &b)
        #expect(a.st_ino == b.st_ino)
        #expect(fm.contents(atPath: root + "/vmlinux") == Data("vmlinux".utf8))
        let argv = try String(contentsOfFile: dir + "/jailer.argv", encoding: .utf8).trimmingCharacters(in: .newlines)
        #expect(argv == driver.jailerArguments(cfg).dropFirst().joined(separator: " "))

        let reqs = server.requests
        #expect(reqs.map(\.path) == ["/machine-config", "/boot-source", "/drives/rootfs", "/vsock", "/serial", "/actions"])
        for r in reqs {
            #expect(r.method == "PUT")
            #expect(r.headers["content-type"] == "application/json")
            let req = FirecrackerAPI.Request(method: r.method, path: r.path, body: r.body,
                                             definition: FirecrackerSpec.bodyDefinition(method: r.method, path: r.path))
            #expect(FirecrackerSpec.validate(req) == [], "\(r.path): \(String(decoding: r.body, as: UTF8.self))")
        }
        #expect(String(decoding: reqs.last!.body, as: UTF8.self) == #"{"action_type":"InstanceStart"}"#)
        #expect(handle.channelSocketPath == root + "/run/vsock.sock")
        #expect(instance.status() == .running)

        // Graceful: Ctrl-Alt-Del is sent; the fake does not exit, so it is terminated after the timeout.
        let outcome = try instance.stop(graceful: true, timeout: 0.5)
        #expect(outcome == .forced)
        #expect(server.requests.last.map { String(decoding: $0.body, as: UTF8.self) } == #"{"action_type":"SendCtrlAltDel"}"#)
        #expect(instance.wait(timeout: 1) != nil)
        try (instance as? FirecrackerInstance)?.removeJail()
        #expect(!fm.fileExists(atPath: driver.jailDirectory(id: cfg.id)))
    }

    @Test func apiErrorsCarryFirecrackersMessage() throws {
        let dir = Fixtures.tempDir("fce")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sock = dir + "/api.sock"
        let server = FakeFirecracker(socketPath: sock, startWhenExists: dir)
        defer { server.stop() }
        server.waitUntilListening()
        let req = try FirecrackerAPI.Request.put("/drives/bad", FirecrackerAPI.Drive(driveID: "bad", pathOnHost: "/x", isRootDevice: false,
                                                                                     isReadOnly: false), definition: "Drive")
        do {
            try CurlFirecrackerTransport().call(req, socketPath: sock)
            Issue.record("a 400 must throw")
        } catch let e as FirebuildError {
            #expect(e.message.contains("The drive is bad"))
            #expect(e.message.contains("400"))
        }
    }
}
