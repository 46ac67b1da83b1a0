import Testing
@testable import Guest

let passwdText = """
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
# comment
broken line
app:x:1000:1000:App:/home/app:/bin/sh
nohome:x:1001:100::/:/bin/sh
"""
let groupText = """
root:x:0:
users:x:100:app
app:x:1000:
docker:x:999:app,other
wheel:x:10:nohome
"""

@Suite struct UserTests {
    let passwd = UserDatabase.parsePasswd(passwdText)
    let groups = UserDatabase.parseGroup(groupText)

    @Test func parsesAndSkipsMalformedLines() {
        #expect(passwd.map(\.name) == ["root", "daemon", "app", "nohome"])
        #expect(groups.first(where: { $0.name == "docker" })?.members == ["app", "other"])
    }

    @Test(arguments: [
        ("", UInt32(0), UInt32(0), [UInt32(0)], "/root"),
        ("root", 0, 0, [0], "/root"),
        ("app", 1000, 1000, [1000, 100, 999], "/home/app"),
        ("1000", 1000, 1000, [1000, 100, 999], "/home/app"),
        ("app:users", 1000, 100, [100, 999], "/home/app"),
        ("1000:50", 1000, 50, [50, 100, 999], "/home/app"),
        ("4242", 4242, 0, [0], "/"),            // unknown numeric uid: allowed, gid 0, HOME /
        ("4242:4343", 4242, 4343, [4343], "/"),
        ("nohome", 1001, 100, [100, 10], "/"),
    ])
    func resolves(_ spec: String, _ uid: UInt32, _ gid: UInt32, _ groupsWanted: [UInt32], _ home: String) throws {
        let u = try UserDatabase.resolve(spec, passwd: passwd, groups: groups)
        #expect(u.uid == uid && u.gid == gid && u.groups == groupsWanted && u.home == home)
    }

    @Test(arguments: ["nobody", "app:nogroup", "ghost:0"])
    func unknownNamesFail(_ spec: String) {
        #expect(throws: GuestError.self) { try UserDatabase.resolve(spec, passwd: passwd, groups: groups) }
    }
}

@Suite struct WorkloadTests {
    @Test(arguments: [
        // (entrypoint, cmd, entrypointOverride, cmdOverride, expected)
        ([String]?(["/bin/ep"]), [String]?(["a", "b"]), [String]?(nil), [String]?(nil), ["/bin/ep", "a", "b"]),
        (nil, ["/bin/sh", "-c", "echo hi"], nil, nil, ["/bin/sh", "-c", "echo hi"]),
        (["/bin/ep"], ["a"], nil, ["x", "y"], ["/bin/ep", "x", "y"]),
        (nil, ["default"], nil, ["/bin/other"], ["/bin/other"]),
        (["/bin/ep"], ["a"], ["/bin/new"], nil, ["/bin/new"]),
        (["/bin/ep"], ["a"], ["/bin/new"], ["z"], ["/bin/new", "z"]),
        (["/bin/ep"], nil, nil, [], ["/bin/ep"]),
    ])
    func composesCommandLikeDocker(_ ep: [String]?, _ cmd: [String]?, _ epo: [String]?, _ cmdo: [String]?, _ expected: [String]) throws {
        let image = ImageRuntimeConfig(entrypoint: ep, cmd: cmd)
        #expect(try Workload.command(image: image, entrypointOverride: epo, cmdOverride: cmdo) == expected)
    }

    @Test func noCommandIsAnError() {
        #expect(throws: GuestError.self) { try Workload.command(image: ImageRuntimeConfig()) }
        #expect(throws: GuestError.self) { try Workload.command(image: ImageRuntimeConfig(cmd: [""])) }
    }

    @Test func mergesEnvKeepingFirstPosition() {
        let merged = Workload.mergeEnv(["PATH=/bin", "A=1", "B=2"], ["B=20", "C=3"], ["A=10", "D"])
        #expect(merged == ["PATH=/bin", "A=10", "B=20", "C=3", "D="])
    }

    @Test func finalEnvAddsDefaults() {
        let env = Workload.finalEnv(["A=1"], hostname: "vm1", home: "/home/app")
        #expect(env == ["PATH=\(Workload.defaultPath)", "HOSTNAME=vm1", "HOME=/home/app", "A=1"])
        let kept = Workload.finalEnv(["PATH=/x", "HOME=/h", "HOSTNAME=n"], hostname: "vm1", home: "/root")
        #expect(kept == ["PATH=/x", "HOME=/h", "HOSTNAME=n"])
    }

    @Test func resolvesExecutablesOnPath() throws {
        let exists: Set<String> = ["/usr/bin/python3", "/w/rel"]
        #expect(try Workload.resolveExecutable("python3", path: "/bin:/usr/bin", workdir: "/") { exists.contains($0) } == "/usr/bin/python3")
        #expect(try Workload.resolveExecutable("./rel", path: nil, workdir: "/w") { _ in false } == "/w/./rel")
        #expect(try Workload.resolveExecutable("/abs", path: nil, workdir: "/") { _ in false } == "/abs")
        #expect(throws: GuestError.self) { try Workload.resolveExecutable("nope", path: "/bin", workdir: "/") { _ in false } }
    }

    @Test(arguments: [(String?.none, "/"), ("", "/"), ("app", "/app"), ("/srv/x", "/srv/x")])
    func workdirDefaults(_ w: String?, _ expected: String) { #expect(Workload.workdir(w) == expected) }
}

@Suite struct BootConfigTests {
    @Test func parsesKernelCmdline() {
        let p = KernelCmdline.parse("console=ttyS0 quiet firebuild.channel=vsock x=\"a b\" ip=1.2.3.4::1.2.3.1:255.255.255.0::eth0:off -- ignored=1\n")
        #expect(p["console"] == "ttyS0" && p["quiet"] == "" && p["firebuild.channel"] == "vsock" && p["x"] == "a b")
        #expect(p["ip"] == "1.2.3.4::1.2.3.1:255.255.255.0::eth0:off" && p["ignored"] == nil)
    }

    @Test(arguments: [
        ("", ChannelSpec.virtioSerial(name: "firebuild.0")),
        ("firebuild.channel=virtio-serial firebuild.port=agent", .virtioSerial(name: "agent")),
        ("firebuild.channel=vsock", .vsock(port: 10789, listen: false)),
        ("firebuild.channel=vsock firebuild.vsock_port=52 firebuild.vsock_mode=listen", .vsock(port: 52, listen: true)),
    ])
    func selectsChannel(_ cmdline: String, _ expected: ChannelSpec) throws {
        #expect(try ChannelSpec.from(cmdline: KernelCmdline.parse(cmdline)) == expected)
    }

    @Test(arguments: ["firebuild.channel=pigeon", "firebuild.channel=vsock firebuild.vsock_port=x", "firebuild.channel=vsock firebuild.vsock_mode=both"])
    func rejectsBadChannel(_ cmdline: String) {
        #expect(throws: GuestError.self) { try ChannelSpec.from(cmdline: KernelCmdline.parse(cmdline)) }
    }

    @Test func hostsAndResolvConf() {
        let hosts = EtcFiles.hosts(hostname: "web.example", address: "10.0.0.2", extra: ["10.0.0.9 db", " "])
        #expect(hosts.hasPrefix("127.0.0.1\tlocalhost\n"))
        #expect(hosts.contains("10.0.0.2\tweb.example web\n") && hosts.hasSuffix("10.0.0.9 db\n"))
        #expect(EtcFiles.hosts(hostname: "h", address: nil).contains("127.0.1.1\th\n"))
        #expect(EtcFiles.resolvConf(nameservers: ["1.1.1.1", "8.8.8.8"], search: ["a", "b"]) == "search a b\nnameserver 1.1.1.1\nnameserver 8.8.8.8\n")
        #expect(EtcFiles.pnpNameservers("#PROTO: DHCP\nnameserver 10.0.2.3\nnameserver 0.0.0.0\ndomain x\n") == ["10.0.2.3"])
    }

    @Test func authorizedKeysAreAddedOnce() {
        let k1 = "ssh-ed25519 AAAA1 me@a", k2 = "ssh-rsa BBBB2 me@b"
        let first = EtcFiles.mergeAuthorizedKeys(existing: "", keys: [k1, k2, k1])
        #expect(first == "\(k1)\n\(k2)\n")
        #expect(EtcFiles.mergeAuthorizedKeys(existing: first ?? "", keys: [k2, k1]) == nil)  // second boot: unchanged
        #expect(EtcFiles.mergeAuthorizedKeys(existing: "old", keys: [k1]) == "old\n\(k1)\n")
    }

    @Test func ipv4Helpers() {
        #expect(EtcFiles.parseIPv4("10.0.2.15") == 0x0A00_020F)
        #expect(EtcFiles.parseIPv4("10.0.2") == nil && EtcFiles.parseIPv4("1.2.3.256") == nil)
        #expect(EtcFiles.prefixMask(24) == 0xFFFF_FF00 && EtcFiles.prefixMask(0) == 0 && EtcFiles.prefixMask(32) == 0xFFFF_FFFF)
    }
}
