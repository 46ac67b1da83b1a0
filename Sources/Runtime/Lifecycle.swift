import FirebuildCore
import Foundation
import Guest
import Networking
import VM

/// What happens to VMs after `run`: listing, inspecting, exec, logs, kill, purge. All of it works
/// from the run cache alone, so any later firebuild process can act on a daemonized VM.
extension RunEngine {
    /// One row of `ls`.
    public struct Listing: Codable, Equatable, Sendable {
        public var id: String
        public var running: Bool
        public var pid: Int32?
        public var image: String?
        public var ip: String?
        public var startedAtUTC: Int64?
        public var vmm: String?

        enum CodingKeys: String, CodingKey {
            case id = "VMMID", running = "Running", pid = "Pid", image = "Image", ip = "IP", startedAtUTC = "StartedAtUTC", vmm = "VMM"
        }
    }

    public func list() -> [Listing] {
        FirebuildTracing.span("runtime.ls") { span in
            let listings: [Listing] = cache.list().map { entry in
                guard let r = entry.record else { return Listing(id: entry.id, running: false) }
                return Listing(id: r.vmmID, running: isRunning(r), pid: r.pid.pid, image: r.image, ip: r.ip,
                               startedAtUTC: r.startedAtUTC, vmm: r.vmm)
            }
            span.attributes["firebuild.vm.count"] = listings.count
            return listings
        }
    }

    public func inspect(id: String) throws -> RunRecord {
        try FirebuildTracing.span("runtime.inspect", attributes: [FirebuildSpanKey.vmID: id]) { _ in try cache.load(id: id) }
    }

    func handle(for id: String) -> VMHandle? {
        guard let data = FileManager.default.contents(atPath: cache.directory(for: id) + "/vmm.json") else { return nil }
        return try? JSONDecoder().decode(VMHandle.self, from: data)
    }

    func isRunning(_ record: RunRecord) -> Bool {
        guard let handle = handle(for: record.vmmID) else { return false }
        if case .exited = VMMSelection.instance(for: handle).status() { return false }
        return true
    }

    /// Console output: the kernel's and the init's, which also copies the workload's output there.
    public func logs(id: String) throws -> String {
        let record = try cache.load(id: id)
        guard let data = FileManager.default.contents(atPath: record.paths.consoleLog) else { return "" }
        return String(decoding: data, as: UTF8.self)
    }

    /// Runs a command in the guest through the init; returns its exit status.
    public func exec(id: String, argv: [String], env: [String] = [], user: String? = nil, workdir: String? = nil,
                     timeout: TimeInterval? = nil, output: @escaping (GuestStream, [UInt8]) -> Void) throws -> ExitStatus {
        guard !argv.isEmpty else { throw FirebuildError(.invalidArgument, "exec needs a command: firebuild exec ID -- CMD…") }
        let record = try cache.load(id: id)
        guard let handle = handle(for: id), isRunning(record) else {
            throw FirebuildError(.conflict, "VM \(id) is not running")
        }
        return try FirebuildTracing.span("vm.exec", attributes: [FirebuildSpanKey.vmID: id, FirebuildSpanKey.program: argv[0]]) { span in
            let connection = try GuestChannel.forHandle(handle).open(timeout: 10)
            defer { connection.close() }
            let status = try connection.exec(ExecRequest(argv: argv, env: env, user: user, workdir: workdir), timeout: timeout,
                                             onOutput: output)
            span.attributes["firebuild.exit_status"] = "\(status)"
            return status
        }
    }

    /// Stops a VM (guest shutdown with its StopSignal, then the VMM, forced after `timeout`),
    /// waits for the process for real, then removes every trace of it.
    public func kill(id: String, timeout: TimeInterval) throws {
        try FirebuildTracing.span("runtime.kill", attributes: [FirebuildSpanKey.vmID: id]) { _ in
            _ = try cache.load(id: id)
            try teardown(id: id, graceful: true, timeout: timeout)
            logger.info("VM removed", metadata: ["vmm-id": .string(id)])
        }
    }

    /// Removes what is left of every VM that no longer runs; returns their ids.
    @discardableResult
    public func purge() throws -> [String] {
        try FirebuildTracing.span("runtime.purge") { span in
            var purged: [String] = []
            for entry in cache.list() {
                if let r = entry.record, isRunning(r) { continue }
                try teardown(id: entry.id, graceful: false, timeout: 5)
                purged.append(entry.id)
            }
            purged += try purgeAbandonedBuildNetworks()
            purged += purgeAbandonedBuilds()
            purged += purgeOrphanNamespaces()
            span.attributes["firebuild.vm.count"] = purged.count
            return purged
        }
    }

    /// Undoes a VM's side effects in reverse order. Each step tolerates "already gone", and a
    /// failing step does not stop the others: the first error is reported after all ran.
    func teardown(id: String, graceful: Bool, timeout: TimeInterval) throws {
        try FirebuildTracing.span("runtime.teardown", attributes: [FirebuildSpanKey.vmID: id, "firebuild.vm.graceful": graceful]) { _ in
            try teardownTraced(id: id, graceful: graceful, timeout: timeout)
        }
    }

    private func teardownTraced(id: String, graceful: Bool, timeout: TimeInterval) throws {
        let record = try? cache.load(id: id)
        var firstError: Error?
        func attempt(_ what: String, _ body: () throws -> Void) {
            do { try body() } catch {
                logger.warning("cleanup step failed", metadata: ["vmm-id": .string(id), "step": .string(what), "error": "\(error)"])
                if firstError == nil { firstError = error }
            }
        }
        if let handle = handle(for: id) {
            let instance = VMMSelection.instance(for: handle)
            attempt("stop VM") {
                if graceful, case .running = instance.status() {
                    // Ask the init first: it sends the image's StopSignal to the workload and powers off.
                    FirebuildTracing.span("vm.guest.shutdown", attributes: [FirebuildSpanKey.vmID: id]) { _ in
                        if let connection = try? GuestChannel.forHandle(handle).open(timeout: 2) {
                            try? connection.shutdown(stopTimeout: max(1, timeout - 2), timeout: timeout)
                            connection.close()
                        }
                    }
                }
                try instance.stop(graceful: graceful, timeout: graceful ? timeout : 1)
            }
        }
        let effects = record?.sideEffects ?? []
        if effects.contains(where: { $0.kind == .ports }) {
            attempt("unpublish ports") { try portPublisher().unpublish(vmID: id) }
        }
        let attacher = VMNetworkAttacher(runner: cniRunner())
        if let record, let network = effects.first(where: { $0.kind == .cni })?.target {
            attempt("CNI DEL") { try attacher.deleteCNI(vmID: id, network: network, fixedIP: record.configs.machine.ipAddress) }
        }
        if let ns = effects.first(where: { $0.kind == .netns })?.target {
            attempt("delete netns") { try VMNetworkAttacher.deleteNamespace(ns) }
        }
        attempt("remove run directory") { try cache.remove(id: id) }
        if let firstError { throw firstError }
    }

    /// Network attachments of build VMs whose `firebuild rootfs` process is gone (killed builds):
    /// the VMM it left behind is stopped, then CNI DEL and the namespace, with the CNI settings
    /// the build used. Builds still running hold their lease's lock and are left alone.
    func purgeAbandonedBuildNetworks() throws -> [String] {
        try NetworkLeaseStore(runCache: settings.runCache).reclaimAbandoned { lease in
            if let pid = lease.vmmPID { try VMProcess.kill(pid: pid, startTime: lease.vmmStartTime) }
            let runner = lease.runner()
            // A sandbox "host" namespace that is gone took the bridge, veths and rules with it:
            // only the VM's namespace and the cached result are left to remove.
            if let host = lease.cniHostNamespace, !host.contains("/"), !NetworkNamespace.list().contains(host) {
                try VMNetworkAttacher.deleteNamespace(lease.namespace)
                try CNIResultCache(dir: runner.cacheDir).remove(network: lease.network, containerID: lease.vmID,
                                                                ifName: VMNetworkAttacher.ifName)
                return
            }
            try VMNetworkAttacher(runner: runner).detach(vmID: lease.vmID, network: lease.network, namespace: lease.namespace,
                                                         fixedIP: lease.fixedIP)
        }
    }

    /// Scratch directories of killed builds (overlays, content disks, extracted sources): the
    /// build VMs still running from one are killed first (a VMM whose command line names that
    /// directory), then the directory goes.
    func purgeAbandonedBuilds() -> [String] {
        BuildScratch.purgeAbandoned(in: settings.runCache + "/builds") { dir in
            guard let vms = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
            for vm in vms {
                guard let text = try? String(contentsOfFile: QEMUDriver.RunFiles(runDirectory: "\(dir)/\(vm)").pidFile, encoding: .utf8),
                      let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 1,
                      let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
                      String(decoding: cmdline, as: UTF8.self).contains(dir + "/") else { continue }
                try? VMProcess.kill(pid: pid, startTime: VMProcess.startTime(pid))
            }
        }
    }

    /// Namespaces named like ours (`fb-<id>`) whose VM has no run-cache entry any more.
    private func purgeOrphanNamespaces() -> [String] {
        let known = Set(cache.list().map(\.id))
        var removed: [String] = []
        for name in NetworkNamespace.list() where name.hasPrefix("fb-") {
            let id = String(name.dropFirst(3))
            guard !known.contains(id), (try? RunInputs.validateName(id)) != nil,
                  let ns = try? NetworkNamespace(name: name), (try? ns.delete()) != nil else { continue }
            removed.append(id)
        }
        return removed
    }
}
