import Foundation
import Testing
@testable import FirebuildCore
@testable import Runtime

@Suite struct RunInputsTests {
    @Test(arguments: ["a", "consul1", "ABCdef123", String(repeating: "x", count: 20)])
    func validNames(_ name: String) throws {
        try RunInputs.validateName(name)
    }

    @Test(arguments: ["", "has-dash", "under_score", String(repeating: "x", count: 21), "ünï", "a b"])
    func invalidNames(_ name: String) {
        #expect(throws: FirebuildError.self) { try RunInputs.validateName(name) }
    }

    @Test(arguments: ["web", "web-1.example.com", "a"])
    func validHostnames(_ h: String) throws { try RunInputs.validateHostname(h) }

    @Test(arguments: ["", "-web", "web-", "a..b", "under_score", String(repeating: "x", count: 64)])
    func invalidHostnames(_ h: String) {
        #expect(throws: FirebuildError.self) { try RunInputs.validateHostname(h) }
    }

    @Test func randomIDsAreValidNames() throws {
        for _ in 0..<50 { try RunInputs.validateName(RunInputs.randomID()) }
        try RunInputs.validateHostname(RunInputs.randomHostname())
    }

    @Test func envFileSyntax() throws {
        let text = """
        # comment
        A=1
        export B = two
        C="line\\nnext \\"q\\""
        D='single $x'
        E=value # trailing comment

        F=
        """
        let parsed = try RunInputs.parseEnvFile(text, path: "x.env")
        #expect(parsed.map(\.0) == ["A", "B", "C", "D", "E", "F"])
        #expect(parsed.map(\.1) == ["1", "two", "line\nnext \"q\"", "single $x", "value", ""])
    }

    @Test func envFileErrorsNameTheLineNotTheValue() {
        do {
            _ = try RunInputs.parseEnvFile("A=1\nSECRET value-that-is-secret\n", path: "s.env")
            Issue.record("expected an error")
        } catch let e as FirebuildError {
            #expect(e.description == "s.env:2: expected KEY=value")
            #expect(!e.description.contains("value-that-is-secret"))
        } catch { Issue.record("\(error)") }
    }

    @Test func mergeOrderFilesThenFlagsLaterWins() throws {
        let dir = NSTemporaryDirectory() + "fb-env-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "A=file1\nB=file1\n".write(toFile: dir + "/1.env", atomically: true, encoding: .utf8)
        try "B=file2\nC=file2\n".write(toFile: dir + "/2.env", atomically: true, encoding: .utf8)
        let merged = try RunInputs.mergeEnvironment(envFiles: [dir + "/1.env", dir + "/2.env"], env: ["C=flag", "D=x=y"])
        #expect(merged == ["A=file1", "B=file2", "C=flag", "D=x=y"])
        #expect(throws: FirebuildError.self) { try RunInputs.mergeEnvironment(envFiles: [dir], env: []) }
        #expect(throws: FirebuildError.self) { try RunInputs.mergeEnvironment(envFiles: [], env: ["noequals"]) }
    }
}

@Suite struct RunCacheTests {
    func makeRecord(_ id: String) -> RunRecord {
        RunRecord(vmmID: id, hostname: "h", image: "_/busybox:1", kernel: "k", vmm: "qemu", startedAtUTC: 1, pid: 0,
                  configs: .init(machine: .init(cpu: 1, mem: 128, kernelArgs: "", cniNetworkName: nil, ipAddress: nil,
                                                sshUser: nil, vmLinux: "k", shutdownGracefulTimeoutSeconds: 15),
                                 runConfig: .init(daemonize: true, envFiles: [], envNames: ["SECRET"], from: "_/busybox:1",
                                                  identityFiles: [], hostname: "h", name: id, ports: [], command: nil),
                                 cni: .init(binDir: [], confDir: "", cacheDir: "")),
                  networkInterfaces: [.init(staticConfiguration: .init(macAddress: "52:54:00:00:00:01", hostDeviceName: "tap0",
                      ipConfiguration: .init(ip: "10.1.0.2", ipAddr: "10.1.0.2/24", ipMask: "ffffff00", gateway: "10.1.0.1",
                                             ifName: "eth0", nameServers: [])))],
                  paths: .init(runDir: "/x", consoleLog: "/x/c", channelSocket: "/x/s", controlSocket: "/x/q", rootDisk: "/x/d"))
    }

    @Test func saveLoadListRemoveAndPermissions() throws {
        let root = NSTemporaryDirectory() + "fb-runcache-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let cache = RunCache(root: root)
        _ = try cache.create(id: "vm1")
        #expect(throws: FirebuildError.self) { try cache.create(id: "vm1") }
        try cache.save(makeRecord("vm1"))
        try cache.record(.init(kind: .netns, target: "fb-vm1"), for: "vm1")
        try cache.record(.init(kind: .netns, target: "fb-vm1"), for: "vm1")
        let loaded = try cache.load(id: "vm1")
        #expect(loaded.sideEffects == [.init(kind: .netns, target: "fb-vm1")])
        #expect(loaded.ip == "10.1.0.2")
        let attrs = try FileManager.default.attributesOfItem(atPath: cache.metadataPath(for: "vm1"))
        #expect((attrs[.posixPermissions] as? Int) == 0o600)
        // The inspect contract of the original: .NetworkInterfaces[0].StaticConfiguration.IPConfiguration.IP
        let json = try JSONSerialization.jsonObject(with: FileManager.default.contents(atPath: cache.metadataPath(for: "vm1"))!) as! [String: Any]
        let nic = (json["NetworkInterfaces"] as! [[String: Any]])[0]
        let ip = ((nic["StaticConfiguration"] as! [String: Any])["IPConfiguration"] as! [String: Any])["IP"] as? String
        #expect(ip == "10.1.0.2")
        #expect(cache.list().map(\.id) == ["vm1"])
        try cache.remove(id: "vm1")
        #expect(cache.list().isEmpty)
        #expect(throws: FirebuildError.self) { try cache.load(id: "vm1") }
    }

    @Test func processLiveness() {
        #expect(processIsRunning(getpid()))
        #expect(!processIsRunning(0))
        #expect(!processIsRunning(Int32.max))
    }
}
