import FirebuildCore
import Foundation
import Guest
import Logging
import Networking
import VM

/// Where build VMs find CNI, as `firebuild run` takes it (`--cni-conf-dir`, `--cni-bin-dir`,
/// `--cni-cache-dir`, `--cni-host-netns`). Used only when the request names a network.
public struct BuildCNISettings: Sendable, Equatable {
    public var confDir: String
    public var binDirs: [String]
    public var cacheDir: String
    /// The namespace the plugins run in instead of the host's own: tests and sandboxes give one
    /// they created, so bridges, veth host ends and iptables rules never touch the host.
    public var hostNamespace: String?

    public init(confDir: String = FirebuildPaths.defaultCNIConfDir, binDirs: [String] = CNIRunner.defaultBinDirs,
                cacheDir: String = FirebuildPaths.defaultCNICacheDir, hostNamespace: String? = nil) {
        self.confDir = confDir
        self.binDirs = binDirs
        self.cacheDir = cacheDir
        self.hostNamespace = hostNamespace
    }

    func runner() -> CNIRunner {
        CNIRunner(confDir: confDir, binDirs: binDirs, cacheDir: cacheDir, hostNamespace: hostNamespace)
    }
}

/// The CNI attachment of one build VM, made the way `firebuild run` makes it (its own namespace,
/// CNI ADD, the tap to QEMU, the result's IP/gateway/DNS to the guest) and removed when the stage
/// ends. A lease in the run cache covers it meanwhile: a killed build leaves the lease with its
/// lock free, and `firebuild purge` stops the VMM and detaches the network.
final class BuildVMNetwork {
    let attachment: VMNetworkAttachment
    private let attacher: VMNetworkAttacher
    private let store: NetworkLeaseStore
    private var lease: NetworkLease
    private let lock: FileLock
    private var released = false
    private let logger = makeLogger("build")

    private init(attachment: VMNetworkAttachment, attacher: VMNetworkAttacher, store: NetworkLeaseStore, lease: NetworkLease,
                 lock: FileLock) {
        self.attachment = attachment
        self.attacher = attacher
        self.store = store
        self.lease = lease
        self.lock = lock
    }

    /// Takes the lease (before any side effect), then attaches. A failure leaves nothing behind.
    static func attach(vmID: String, network: String, cni: BuildCNISettings, runCache: String) throws -> BuildVMNetwork {
        try FirebuildTracing.span("build.network.attach", attributes: [FirebuildSpanKey.vmID: vmID, FirebuildSpanKey.network: network]) { _ in
            let attacher = VMNetworkAttacher(runner: cni.runner())
            let store = NetworkLeaseStore(runCache: runCache)
            let ns = try NetworkNamespace.forVM(vmID)
            let lease = NetworkLease(vmID: vmID, network: network, namespace: ns.name, runner: attacher.runner)
            let lock = try store.acquire(lease)
            do {
                let attachment = try attacher.attach(vmID: vmID, network: network)
                return BuildVMNetwork(attachment: attachment, attacher: attacher, store: store, lease: lease, lock: lock)
            } catch {
                // attach undid its own side effects; the lease has nothing left to cover.
                store.release(vmID, lock: lock)
                throw error
            }
        }
    }

    var vmNetwork: VMNetwork { VMNetwork(tapName: attachment.tapName, mac: attachment.mac) }
    var netnsPath: String { attachment.namespace.path }

    /// The guest's static configuration: the CNI result's address, gateway and DNS.
    var guestNetwork: NetworkConfig {
        NetworkConfig(mode: .static, mac: attachment.mac, address: attachment.ipConfig.ip, prefix: attachment.prefixLength,
                      gateway: attachment.ipConfig.gateway, dns: attachment.nameservers, search: attachment.search)
    }

    /// Records the VMM process in the lease, so `purge` can stop it if this build is killed.
    func vmmStarted(_ handle: VMHandle) {
        lease.vmmPID = handle.pid
        lease.vmmStartTime = handle.processStartTime
        do { try store.update(lease) } catch {
            logger.warning("cannot record the build VM's pid in its network lease", metadata: ["error": "\(error)"])
        }
    }

    /// CNI DEL and namespace removal (call after the VM is gone). When that fails the lease stays,
    /// unlocked, for `firebuild purge` to retry; the error is returned for the caller to report.
    @discardableResult
    func release() -> Error? {
        guard !released else { return nil }
        released = true
        do {
            try FirebuildTracing.span("build.network.detach", attributes: [FirebuildSpanKey.vmID: attachment.vmID]) { _ in
                try attacher.detach(vmID: attachment.vmID, network: attachment.network, namespace: attachment.namespace.name)
            }
            store.release(attachment.vmID, lock: lock)
            return nil
        } catch {
            logger.warning("the build VM's network was not fully removed; `firebuild purge` retries",
                           metadata: ["vm": .string(attachment.vmID), "error": "\(error)"])
            lock.unlock()
            return error
        }
    }

    deinit { release() }
}
