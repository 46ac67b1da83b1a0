import Build
import FirebuildCore
import FirebuildTestSupport
import Foundation
import Networking
import Runtime
import Store
import Testing
import VM

/// What the network build tests need besides the VM ones (E2E): root, CNI plugins and the built
/// tc-redirect-tap. Everything networked lives in a sandbox namespace the test creates.
enum NetE2E {

    static var missing: String? { TestHost.cniMissing }

    static var available: Bool { E2E.available && missing == nil }
}

/// A sandbox "host" namespace with a bridge (gateway address set, so a server can bind to it
/// before any VM is attached), a bridge + host-local + firewall + tc-redirect-tap conflist, a CNI
/// cache and a private firebuild home. `tearDown` removes all of it.
final class BuildNetFixture {
    let id = String(UInt32.random(in: 0...UInt32.max), radix: 16)
    let home: String
    let sandbox: NetworkNamespace
    let subnet = "10.\(Int.random(in: 200...249)).\(Int.random(in: 1...250))"
    let network = "fbtbuild"
    var gateway: String { "\(subnet).1" }
    var bridge: String { "fbtbb\(id.prefix(8))" }
    var cni: BuildCNISettings {
        BuildCNISettings(confDir: home + "/conf", binDirs: TestHost.cniBinDirs,
                         cacheDir: home + "/cni-cache", hostNamespace: sandbox.name)
    }
    private var server: Process?

    init() throws {
        home = "/tmp/fbn-\(id)"
        try FileManager.default.createDirectory(atPath: home + "/conf", withIntermediateDirectories: true)
        sandbox = try NetworkNamespace.create("fbt-b\(id)")
        do {
            try sandbox.run("ip", ["link", "add", bridge, "type", "bridge"])
            try sandbox.run("ip", ["addr", "add", gateway + "/24", "dev", bridge])
            try sandbox.run("ip", ["link", "set", bridge, "up"])
            var config = TestNetworkConfig(name: network, bridge: bridge, subnetPrefix: subnet, ipamDir: home + "/ipam")
            config.hairpin = false
            try config.write(confDir: home + "/conf")
        } catch {
            tearDown()
            throw error
        }
    }

    /// busybox httpd serving `dir` on the gateway address, inside the sandbox only; returns once
    /// `probe` (a file in `dir`) can be fetched.
    func startServer(dir: String, port: Int, probe: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Command.which("ip") ?? "/usr/sbin/ip")
        p.arguments = ["netns", "exec", sandbox.name, "/bin/busybox", "httpd", "-f", "-p", "\(gateway):\(port)", "-h", dir]
        try p.run()
        server = p
        for _ in 0..<100 {
            if (try? sandbox.command("/bin/busybox", ["wget", "-q", "-O", "/dev/null", "http://\(gateway):\(port)/\(probe)"], timeout: 5).run().status) == 0 {
                return
            }
            usleep(100_000)
        }
        throw FirebuildError(.timeout, "the test HTTP server in \(sandbox.name) did not answer")
    }

    /// Namespaces of build VMs (`fb-fbb-…`) that exist now.
    static func buildNamespaces() -> Set<String> { Set(NetworkNamespace.list().filter { $0.hasPrefix("fb-fbb-") }) }

    func links() throws -> [String] {
        try sandbox.run("ip", ["-o", "link", "show"]).stdoutString.split(separator: "\n")
            .compactMap { $0.split(separator: ":").dropFirst().first?.trimmingCharacters(in: .whitespaces) }
    }

    func tearDown() {
        if let server, server.isRunning {
            // SIGKILL: the test runner's blocked signals are inherited, SIGTERM may never arrive.
            kill(server.processIdentifier, SIGKILL)
            server.waitUntilExit()
        }
        try? sandbox.delete()
        try? FileManager.default.removeItem(atPath: home)
    }
}

@Suite(.serialized, .enabled(if: NetE2E.available, "\(E2E.skipReason); \(NetE2E.missing ?? "")"))
struct BuildNetworkEndToEndTests {
    /// One build on a CNI network: a RUN fetches a file from a server in the sandbox, a
    /// `RUN --network=none` step sees loopback only, and a later RUN has the network again.
    /// Then a build without a network, whose RUN sees only `lo`. Two VM boots in all.
    @Test(.timeLimit(.minutes(20)))
    func buildWithCNINetworkAndNetworkNone() throws {
        let fx = try BuildNetFixture()
        defer { fx.tearDown() }
        let (paths, provider) = try E2E.prepareStore(home: fx.home)
        try FileManager.default.createDirectory(atPath: fx.home + "/www", withIntermediateDirectories: true)
        let payload = "payload \(fx.id) from the sandbox\n"
        try AtomicFile.write(payload, to: fx.home + "/www/payload.txt")
        try fx.startServer(dir: fx.home + "/www", port: 8080, probe: "payload.txt")
        let url = "http://\(fx.gateway):8080/payload.txt"
        let namespacesBefore = BuildNetFixture.buildNamespaces()
        let linksBefore = try fx.links()

        let engine = BuildEngine(images: provider, paths: paths)
        let log = LogLines()
        var request = BuildRequest(dockerfile: """
            FROM busybox:1
            RUN wget -q -O /fetched.txt \(url) && ip -4 route > /routes-default.txt
            RUN --network=none ip -o link > /none-links.txt; ip route > /none-routes.txt; \
                nc -w 5 \(fx.gateway) 8080 </dev/null 2> /none-nc.txt; echo "status $?" >> /none-nc.txt
            RUN --network=host wget -q -O /after.txt \(url)
            """, tag: "test/net:1", timeout: 900,
            machine: BuildMachine(kernelStoreRoot: paths.kernelStorageRoot, memMiB: 256), cniNetworkName: fx.network, output: log.append)
        request.cni = fx.cni
        let result = try engine.build(request)
        #expect(result.vmBoots == 1 && result.stepsRun == 3)

        let image = paths.rootfsStorageRoot + "/test/net/1/rootfs"
        #expect(try E2E.debugfs(image, "cat /fetched.txt") == payload, "the RUN step fetched the file over the CNI network")
        #expect(try E2E.debugfs(image, "cat /routes-default.txt").contains("default via \(fx.gateway)"))
        let noneLinks = try E2E.debugfs(image, "cat /none-links.txt").split(separator: "\n")
        #expect(noneLinks.count == 1 && noneLinks.first?.contains(": lo:") == true, "--network=none sees only lo: \(noneLinks)")
        #expect(noneLinks.first?.contains("UP") == true, "lo is up in the --network=none namespace")
        #expect(try E2E.debugfs(image, "cat /none-routes.txt").trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
        // (busybox nc, not wget: this busybox's wget crashes on ENETUNREACH instead of reporting it)
        let nc = try E2E.debugfs(image, "cat /none-nc.txt")
        #expect(nc.contains("Network is unreachable") && nc.hasSuffix("status 1\n"), "\(nc)")
        #expect(try E2E.debugfs(image, "cat /after.txt") == payload, "steps after --network=none have the network again")

        // The stage's end removed the VM's namespace, its CNI state, lease and the sandbox veth.
        #expect(BuildNetFixture.buildNamespaces() == namespacesBefore)
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: fx.home + "/cni-cache/results")) ?? []).isEmpty)
        #expect(NetworkLeaseStore(runCache: paths.runCache).ids().isEmpty)
        #expect(Set(try fx.links()) == Set(linksBefore), "no veth left in the sandbox")

        // Without --cni-network-name: loopback only.
        let offline = BuildRequest(dockerfile: """
            FROM busybox:1
            RUN ip -o link > /links.txt; ip route > /routes.txt
            """, tag: "test/offline:1", timeout: 900,
            machine: BuildMachine(kernelStoreRoot: paths.kernelStorageRoot, memMiB: 256), output: log.append)
        _ = try engine.build(offline)
        let offlineImage = paths.rootfsStorageRoot + "/test/offline/1/rootfs"
        let links = try E2E.debugfs(offlineImage, "cat /links.txt").split(separator: "\n")
        #expect(links.count == 1 && links.first?.contains(": lo:") == true, "a build without a network has only lo: \(links)")
        #expect(try E2E.debugfs(offlineImage, "cat /routes.txt").trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
    }

    /// A build killed while its VM was attached leaves a lease whose lock is free; `purge` stops
    /// the VMM, runs CNI DEL and removes the namespace. A lease still held is left alone.
    @Test(.timeLimit(.minutes(5)))
    func purgeReclaimsNetworksOfKilledBuilds() throws {
        let fx = try BuildNetFixture()
        defer { fx.tearDown() }
        let paths = FirebuildPaths(home: fx.home)
        let store = NetworkLeaseStore(runCache: paths.runCache)
        let runner = CNIRunner(confDir: fx.cni.confDir, binDirs: fx.cni.binDirs, cacheDir: fx.cni.cacheDir, hostNamespace: fx.sandbox.name)
        let attacher = VMNetworkAttacher(runner: runner)
        let dead = "fbb-dead\(fx.id)", live = "fbb-live\(fx.id)"
        var locks: [String: FileLock] = [:]
        defer {
            for id in [dead, live] { try? attacher.detach(vmID: id, network: fx.network, namespace: "fb-" + id) }
        }
        for id in [dead, live] {
            locks[id] = try store.acquire(NetworkLease(vmID: id, network: fx.network, namespace: "fb-" + id, runner: runner))
            let a = try attacher.attach(vmID: id, network: fx.network)
            #expect(a.ipConfig.gateway == fx.gateway && a.namespace.exists)
        }
        // A stand-in for the VMM the killed build left behind.
        let sleeper = try VMProcess.spawn(["sleep", "300"], logPath: fx.home + "/sleeper.log")
        var lease = try #require(try store.load(dead))
        lease.vmmPID = sleeper
        lease.vmmStartTime = VMProcess.startTime(sleeper)
        try store.update(lease)
        locks[dead]?.unlock()  // what the kernel does when the build process dies

        var settings = RunSettings(paths: paths, cniConfDir: fx.cni.confDir, cniBinDirs: fx.cni.binDirs, cniCacheDir: fx.cni.cacheDir,
                                   hostNamespace: fx.sandbox.name)
        settings.guestInitPath = nil
        let purged = try RunEngine(settings: settings).purge()
        #expect(purged == [dead])
        #expect(VMProcess.exitStatus(pid: sleeper, startTime: lease.vmmStartTime) != nil, "the left-behind VMM was stopped")
        #expect(!NetworkNamespace.list().contains("fb-" + dead))
        #expect(NetworkNamespace.list().contains("fb-" + live), "a running build keeps its network")
        #expect(try runner.cachedResult(network: fx.network, containerID: dead, ifName: "eth0") == nil)
        #expect(store.ids() == [live])
        store.release(live, lock: locks[live] ?? FileLock(path: "/nonexistent"))
        try attacher.detach(vmID: live, network: fx.network, namespace: "fb-" + live)
        #expect(Set(try fx.links()) == [ "lo", fx.bridge ], "no veth left in the sandbox")
    }
}
