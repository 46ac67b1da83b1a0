import FirebuildCore
import Foundation

/// A VM attached to a CNI network: the namespace of its own the VMM must run in, the tap to give
/// the VMM, the MAC the guest NIC takes over, and the guest's IP configuration.
public struct VMNetworkAttachment: Sendable, Equatable {
    public var vmID: String
    public var network: String
    public var namespace: NetworkNamespace
    public var tapName: String
    public var mac: String
    /// The guest address with its prefix (`10.0.0.2/24`) and gateway.
    public var ipConfig: CNIResult.IPConfig
    public var prefixLength: Int
    public var nameservers: [String]
    public var search: [String]
}

/// Attaches VMs to CNI networks and detaches them, the same way for `firebuild run` and build VMs:
/// a namespace `fb-<vmid>`, CNI ADD of a chain ending in tc-redirect-tap, and the reverse.
/// Callers record each side effect (`willCreate`) *before* it is made, so a crash at any point
/// leaves state `firebuild purge` can undo with `detach`.
public struct VMNetworkAttacher {
    /// The side effects `attach` makes, in order.
    public enum SideEffect: Sendable, Equatable {
        /// The namespace (its name) is about to be created.
        case namespace(String)
        /// The VM is about to be added to this CNI network.
        case cni(network: String)
    }

    public static let ifName = "eth0"
    public let runner: CNIRunner
    let logger = makeLogger("network")

    public init(runner: CNIRunner) {
        self.runner = runner
    }

    /// The attachment as CNI sees it (`CNI_CONTAINERID` = VM id, `CNI_NETNS`, `CNI_ARGS IP=` for a fixed IP).
    public static func cniAttachment(vmID: String, namespace: NetworkNamespace, fixedIP: String?) -> CNIAttachment {
        CNIAttachment(containerID: vmID, netns: namespace.path, ifName: ifName, args: fixedIP.map { [CNIAttachment.fixedIP($0)] } ?? [])
    }

    /// Creates the VM's namespace and runs CNI ADD into it. On failure what was made is undone
    /// before the error is rethrown (callers may still run `detach`: it tolerates "already gone").
    public func attach(vmID: String, network: String, fixedIP: String? = nil,
                       willCreate: (SideEffect) throws -> Void = { _ in }) throws -> VMNetworkAttachment {
        let ns = try NetworkNamespace.forVM(vmID)
        try willCreate(.namespace(ns.name))
        _ = try NetworkNamespace.create(ns.name)
        do {
            try willCreate(.cni(network: network))
            let result = try runner.add(network: network, attachment: Self.cniAttachment(vmID: vmID, namespace: ns, fixedIP: fixedIP))
            return try Self.attachment(from: result, vmID: vmID, network: network, namespace: ns)
        } catch {
            logger.warning("network attach failed; undoing it", metadata: ["vm": .string(vmID), "error": "\(error)"])
            try? detach(vmID: vmID, network: network, namespace: ns.name, fixedIP: fixedIP)
            throw error
        }
    }

    /// What the VMM and the guest need from an ADD result. tc-redirect-tap reports the tap twice:
    /// in the netns (the VMM opens it) and as the VM's own interface (sandbox = VM id), whose MAC
    /// the guest must take over from the veth.
    static func attachment(from result: CNIResult, vmID: String, network: String, namespace: NetworkNamespace) throws
        -> VMNetworkAttachment {
        guard let tap = result.interfaces.first(where: { $0.sandbox == vmID }) else {
            throw FirebuildError(.network,
                "network \"\(network)\" gave no tap for the VM: its conflist must end with the tc-redirect-tap plugin (bridge + firewall + tc-redirect-tap)")
        }
        guard let ipConfig = result.ips.first(where: { !$0.address.contains(":") }) ?? result.ips.first,
              let prefix = ipConfig.prefixLength else {
            throw FirebuildError(.network, "network \"\(network)\" gave the VM no IP address (check its ipam section)")
        }
        return VMNetworkAttachment(vmID: vmID, network: network, namespace: namespace, tapName: tap.name,
                                   mac: tap.mac ?? "52:54:00:00:00:01", ipConfig: ipConfig, prefixLength: prefix,
                                   nameservers: result.dns.nameservers ?? [], search: result.dns.search ?? [])
    }

    /// CNI DEL of the VM's attachment (uses the cached ADD result when there is one).
    public func deleteCNI(vmID: String, network: String, fixedIP: String? = nil) throws {
        try runner.delete(network: network, attachment: Self.cniAttachment(vmID: vmID, namespace: try NetworkNamespace.forVM(vmID),
                                                                            fixedIP: fixedIP))
    }

    /// Deletes the VM's namespace (its tap and veth end go with it); gone already is fine.
    public static func deleteNamespace(_ name: String) throws {
        let ns = try NetworkNamespace(name: name)
        if ns.exists { try ns.delete() }
    }

    /// Undoes `attach`: CNI DEL (when `network` is given), then the namespace. Both are tried; the
    /// first error is thrown after.
    public func detach(vmID: String, network: String?, namespace: String?, fixedIP: String? = nil) throws {
        var firstError: Error?
        if let network {
            do { try deleteCNI(vmID: vmID, network: network, fixedIP: fixedIP) } catch {
                logger.warning("CNI DEL failed", metadata: ["vm": .string(vmID), "network": .string(network), "error": "\(error)"])
                firstError = error
            }
        }
        if let namespace {
            do { try Self.deleteNamespace(namespace) } catch { if firstError == nil { firstError = error } }
        }
        if let firstError { throw firstError }
    }
}
