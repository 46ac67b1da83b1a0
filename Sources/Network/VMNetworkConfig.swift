import FirebuildCore
import Foundation

/// What a VM needs from a CNI result to use its network: the tap to hand to the VMM (and the
/// netns the VMM must run in), the MAC the guest NIC must have, and the guest's IP config.
/// Follows tc-redirect-tap's result convention (see `CNIResult.vmInterface`).
public struct VMNetworkConfig: Sendable, Equatable, Codable {
    public var tapName: String
    /// The netns holding the tap; the VMM process must run inside it to open the tap.
    public var netnsPath: String
    public var macAddress: String
    /// Guest address with prefix, e.g. `10.231.0.2/24`.
    public var address: String
    public var gateway: String?
    public var nameservers: [String]
    public var routes: [CNIResult.Route]

    public init(result: CNIResult, vmID: String) throws {
        guard let pair = result.vmInterface(vmID: vmID) else {
            throw FirebuildError(.network, "the CNI result has no tap for VM \(vmID): the network's plugin list must end with tc-redirect-tap")
        }
        guard let sandbox = pair.tap.sandbox else {
            throw FirebuildError(.network, "the CNI result's tap \(pair.tap.name) has no netns (sandbox)")
        }
        guard let mac = pair.vm.mac, !mac.isEmpty else {
            throw FirebuildError(.network, "the CNI result gives no MAC address for VM \(vmID)")
        }
        let v4 = pair.ips.filter { !$0.address.contains(":") }
        guard v4.count == 1, let ip = v4.first else {
            throw FirebuildError(.network, "expected exactly 1 IPv4 address for VM \(vmID) in the CNI result, found \(v4.count)")
        }
        tapName = pair.tap.name
        netnsPath = sandbox
        macAddress = mac
        address = ip.address
        gateway = ip.gateway
        nameservers = result.dns.nameservers ?? []
        routes = result.routes
    }

    public var ip: String { CNIResult.IPConfig(address: address).ip }
    public var netmask: String? { CNIResult.IPConfig(address: address).netmask }

    /// The kernel's `ip=` boot argument value (`client::gw:mask::device:off:dns0:dns1:`), which
    /// configures the guest NIC without any guest tool (needs CONFIG_IP_PNP). At most two
    /// nameservers fit; the kernel puts them in /proc/net/pnp.
    public func kernelIPArgument(device: String = "eth0") -> String {
        let dns = nameservers.prefix(2) + Array(repeating: "", count: max(0, 2 - nameservers.count))
        return [ip, "", gateway ?? "", netmask ?? "", "", device, "off", dns[0], dns[1], ""].joined(separator: ":")
    }
}
