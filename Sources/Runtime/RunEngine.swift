import FirebuildCore
import Foundation
import Guest
import Logging
import Networking
import Store
import VM

/// Starts images as microVMs and manages them afterwards. `run` records every privileged side
/// effect in the run cache *before* making it, so a crash at any point leaves state `purge` can
/// undo; a failure during `run` undoes what was done before rethrowing.
public final class RunEngine {
    public let settings: RunSettings
    let logger = makeLogger("runtime")
    public var cache: RunCache { RunCache(root: settings.runCache) }

    /// Default kernel command line (the original's had `nomodules`, which breaks kernels whose
    /// virtio drivers are modules loaded from the initrd).
    public static let defaultKernelArgs = "console=ttyS0 reboot=k panic=-1 rw quiet"

    public init(settings: RunSettings) {
        self.settings = settings
    }

    /// A started VM whose guest reported ready and received its metadata.
    public struct Started {
        public var record: RunRecord
        public var instance: VMInstance
        public var connection: GuestConnection
    }

    /// Boots the VM, configures it and returns once the guest is ready. `output` receives the
    /// workload's output and `exit` its status (foreground runs print both).
    public func start(_ req: RunRequest, output: ((GuestStream, [UInt8]) -> Void)? = nil,
                      exit: ((ExitStatus) -> Void)? = nil) throws -> Started {
        let id = req.name ?? RunInputs.randomID()
        return try FirebuildTracing.span("runtime.start", attributes: [FirebuildSpanKey.vmID: id, FirebuildSpanKey.image: req.from]) { span in
            let started = try startTraced(req, id: id, output: output, exit: exit)
            if let ip = started.record.ip { span.attributes[FirebuildSpanKey.ip] = ip }
            return started
        }
    }

    private func startTraced(_ req: RunRequest, id: String, output: ((GuestStream, [UInt8]) -> Void)?,
                             exit: ((ExitStatus) -> Void)?) throws -> Started {
        try RunInputs.validateName(id)
        let hostname = req.hostname ?? RunInputs.randomHostname()
        try RunInputs.validateHostname(hostname)
        let ports = try PortMapping.parse(req.ports)
        if !ports.isEmpty && req.cniNetworkName == nil {
            throw FirebuildError(.invalidArgument, "--port needs a network: give --cni-network-name")
        }
        let env = try RunInputs.mergeEnvironment(envFiles: req.envFiles, env: req.env)
        let sshKeys = try req.identityFiles.flatMap { path -> [String] in
            guard let data = FileManager.default.contents(atPath: path) else {
                throw FirebuildError(.notFound, "--identity-file \(path) cannot be read")
            }
            return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init).filter { !$0.isEmpty }
        }
        let tag = try ImageTag(parsing: req.from)
        let image = try ImageStore(root: settings.rootfsStorageRoot).get(tag)
        let kernel = try resolveKernel(req.vmlinuxID)
        guard let kernelInitrd = kernel.initrdPath else {
            throw FirebuildError(.invalidArgument,
                "kernel \(kernel.record.id) has no initrd; build one with `firebuild kernel initrd --from-kernel \(kernel.record.id)`")
        }
        let guestInit = try BootFiles.guestInit(configured: settings.guestInitPath)

        let runDir = try cache.create(id: id)
        var record = RunRecord(
            vmmID: id, hostname: hostname, image: tag.description, kernel: kernel.record.id, vmm: settings.vmm.rawValue,
            startedAtUTC: Int64(Date().timeIntervalSince1970), pid: 0,
            configs: .init(machine: .init(cpu: req.cpus, mem: req.memMiB, kernelArgs: req.kernelArgs ?? Self.defaultKernelArgs,
                                          cniNetworkName: req.cniNetworkName, ipAddress: req.ipAddress, sshUser: req.sshUser,
                                          vmLinux: kernel.record.id, shutdownGracefulTimeoutSeconds: Int(req.shutdownTimeout)),
                           runConfig: .init(daemonize: req.daemonize, envFiles: req.envFiles,
                                            envNames: env.map { String($0.prefix(while: { $0 != "=" })) }, from: req.from,
                                            identityFiles: req.identityFiles, hostname: hostname, name: id, ports: req.ports,
                                            command: req.command),
                           cni: .init(binDir: settings.cniBinDirs, confDir: settings.cniConfDir, cacheDir: settings.cniCacheDir)),
            ports: req.ports,
            paths: .init(runDir: runDir, consoleLog: runDir + "/console.log", channelSocket: runDir + "/channel.sock",
                         controlSocket: runDir + "/qmp.sock", rootDisk: runDir + "/rootfs.qcow2"))
        try cache.save(record)
        do {
            let disk = try DiskCloner.clone(base: image.rootfsPath, to: record.paths.rootDisk, for: settings.vmm)
            let initrd = try BootFiles.initrd(kernelInitrd: kernelInitrd, guestInit: guestInit, cacheDir: settings.runCache + "/initrds")

            var vmNetwork: VMNetwork?
            var guestNetwork = NetworkConfig(mode: .none)
            var netnsPath: String?
            if let network = req.cniNetworkName {
                let attached = try attachNetwork(id: id, network: network, fixedIP: req.ipAddress, record: &record)
                vmNetwork = attached.vm
                guestNetwork = attached.guest
                netnsPath = attached.netnsPath
            }

            var args = req.kernelArgs ?? Self.defaultKernelArgs
            for (k, v) in GuestChannel.kernelParameters(for: settings.vmm) { args = VMConfig.appendingArg(args, key: k, value: v) }
            args = VMConfig.appendingArg(args, key: "firebuild.init", value: "/run/\(BootFiles.initName)")
            let config = VMConfig(id: id, kernelPath: kernel.bzImagePath ?? kernel.vmlinuxPath, initrdPath: initrd,
                                  kernelArgs: args, rootDisk: disk, memMiB: req.memMiB, vcpus: req.cpus, network: vmNetwork,
                                  runDirectory: runDir, consoleLogPath: record.paths.consoleLog,
                                  channelSocketPath: record.paths.channelSocket, netnsPath: netnsPath)
            try config.validate()
            let manager = try VMMSelection.manager(settings.vmm)
            try cache.record(.init(kind: .process, target: id), for: id)
            record = try cache.load(id: id)
            let handle = try manager.start(config)
            record.pid.pid = handle.pid
            record.paths.controlSocket = handle.controlSocket
            try AtomicFile.writeJSON(handle, to: runDir + "/vmm.json", mode: 0o600)
            try cache.save(record)
            let instance = manager.instance(handle)
            logger.info("VM started", metadata: ["vmm-id": .string(id), "pid": "\(handle.pid)", "accelerator": .string(handle.accelerator)])

            let connection = try FirebuildTracing.span("vm.guest.ready", attributes: [FirebuildSpanKey.vmID: id]) { _ in
                try FirebuildProgress.waiting("waiting for VM \(id) to boot") {
                    let connection = try GuestChannel.forHandle(handle).open(timeout: 30)
                    connection.setWorkloadHandlers(output: output, exit: exit)
                    let ready = try connection.waitReady(timeout: req.bootTimeout)
                    // The guest's own uptime at ready separates kernel+init time from host overhead.
                    logger.debug("guest init ready", metadata: ["vmm-id": .string(id), "guest-uptime": "\(ready.uptime)",
                                                                "init-version": .string(ready.initVersion),
                                                                "phases": .string(BootPhase.summary(ready.phases))])
                    return connection
                }
            }
            let imageConfig = image.metadata.config
            let metadata = Metadata(
                mode: .run, initImage: req.initImage,
                image: ImageRuntimeConfig(entrypoint: imageConfig.entrypoint, cmd: imageConfig.cmd, env: imageConfig.env,
                                          user: imageConfig.user, workingDir: imageConfig.workingDir,
                                          stopSignal: imageConfig.stopSignal),
                env: env, cmdOverride: req.command, hostname: hostname, sshUser: req.sshUser, sshKeys: sshKeys,
                network: guestNetwork, stopTimeout: req.shutdownTimeout)
            let phases = try connection.sendMetadata(metadata)
            // Every start-up milestone, initrd to workload started: where a slow boot spends its time.
            logger.debug("guest start-up", metadata: ["vmm-id": .string(id), "phases": .string(BootPhase.summary(phases))])
            logger.info("guest ready", metadata: ["vmm-id": .string(id), "ip-address": .string(record.ip ?? "none")])

            if !ports.isEmpty, let ip = record.ip {
                try cache.record(.init(kind: .ports, target: id), for: id)
                record.sideEffects = try cache.load(id: id).sideEffects
                try portPublisher().publish(vmID: id, guestIP: ip, ports: ports)
            }
            try cache.save(record)
            return Started(record: record, instance: instance, connection: connection)
        } catch {
            logger.error("run failed, cleaning up", metadata: ["vmm-id": .string(id), "error": "\(error)"])
            try? teardown(id: id, graceful: false, timeout: 5)
            throw error
        }
    }

    /// The kernel asked for, or the only one stored.
    func resolveKernel(_ id: String?) throws -> StoredKernel {
        let store = KernelStore(root: settings.kernelStorageRoot)
        if let id { return try store.get(id) }
        let all = try store.list()
        guard all.count == 1 else {
            throw FirebuildError(.invalidArgument, all.isEmpty
                ? "no kernel is stored; import one with `firebuild kernel import --id ID --path FILE`"
                : "several kernels are stored (\(all.map(\.record.id).joined(separator: ", "))); choose one with --vmlinux-id")
        }
        return all[0]
    }

    func portPublisher() throws -> PortPublisher {
        PortPublisher(namespace: try settings.hostNamespace.map { try NetworkNamespace(name: $0) },
                      lockPath: settings.runCache + "/locks/iptables.lock")
    }

    func cniRunner() -> CNIRunner {
        let runner = CNIRunner(confDir: settings.cniConfDir, binDirs: settings.cniBinDirs, cacheDir: settings.cniCacheDir)
        runner.hostNamespace = settings.hostNamespace
        return runner
    }

    /// A namespace of the VM's own, CNI ADD into it (`VMNetworkAttacher`, shared with build VMs),
    /// and what the VMM and the guest need from the result.
    private func attachNetwork(id: String, network: String, fixedIP: String?, record: inout RunRecord) throws
        -> (vm: VMNetwork, guest: NetworkConfig, netnsPath: String) {
        let attached = try VMNetworkAttacher(runner: cniRunner()).attach(vmID: id, network: network, fixedIP: fixedIP) { effect in
            switch effect {
            case .namespace(let name): try cache.record(.init(kind: .netns, target: name), for: id)
            case .cni(let network): try cache.record(.init(kind: .cni, target: network), for: id)
            }
        }
        record.sideEffects = try cache.load(id: id).sideEffects
        let ip = attached.ipConfig
        record.cni = .init(vethName: VMNetworkAttacher.ifName, netName: network, netNS: attached.namespace.path)
        record.networkInterfaces = [.init(staticConfiguration: .init(
            macAddress: attached.mac, hostDeviceName: attached.tapName,
            ipConfiguration: .init(ip: ip.ip, ipAddr: ip.address, ipMask: ip.netmask ?? "",
                                   gateway: ip.gateway, ifName: VMNetworkAttacher.ifName, nameServers: attached.nameservers)))]
        try cache.save(record)
        return (VMNetwork(tapName: attached.tapName, mac: attached.mac), Self.guestNetwork(attached), attached.namespace.path)
    }

    /// The guest's static configuration from an attachment (also used by build VMs).
    public static func guestNetwork(_ a: VMNetworkAttachment) -> NetworkConfig {
        NetworkConfig(mode: .static, mac: a.mac, address: a.ipConfig.ip, prefix: a.prefixLength, gateway: a.ipConfig.gateway,
                      dns: a.nameservers, search: a.search)
    }
}
