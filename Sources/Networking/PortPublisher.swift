import FirebuildCore
import Foundation

/// Publishes VM ports on the host with iptables, in firebuild's own chains:
/// - nat `FIREBUILD-DNAT`, jumped to from PREROUTING (traffic from outside) and from OUTPUT
///   (connections made on the host itself), both only for local destination addresses
///   (`-m addrtype --dst-type LOCAL`): `--dport <host> -j DNAT --to-destination <guest>:<dest>`.
/// - filter `FIREBUILD-FORWARD`, jumped to from FORWARD: accepts the DNATted traffic. After DNAT
///   the packet's port is the *destination* port, so that is what it matches (the original
///   matched the host port, which only worked when both were equal).
/// - nat `FIREBUILD-POSTROUTING` (only with `loopback`): masquerades connections to
///   127.0.0.0/8 that OUTPUT redirected to the guest, so the guest's reply comes back to the host.
///   That path also needs `net.ipv4.conf.all.route_localnet=1` (set in the namespace), without
///   which the kernel drops packets with a loopback source on a non-loopback device. It is
///   opt-in because it changes a host-wide sysctl.
/// Every rule carries the comment `firebuild:<vmid>`, which is how `unpublish` finds exactly that
/// VM's rules; jumps and chains are removed when their last rule goes, leaving the tables as they
/// were. A FileLock serialises changes between firebuild processes; `-w` waits for xtables' lock.
public struct PortPublisher: Sendable {
    public static let dnatChain = "FIREBUILD-DNAT"
    public static let forwardChain = "FIREBUILD-FORWARD"
    public static let postroutingChain = "FIREBUILD-POSTROUTING"

    /// Where iptables runs; nil = the current (host) namespace. Tests use a sandbox netns.
    public var namespace: NetworkNamespace?
    public var lockPath: String
    public var iptables: String

    public init(namespace: NetworkNamespace? = nil, lockPath: String = FirebuildPaths().locks + "/iptables.lock",
                iptables: String = "iptables") {
        self.namespace = namespace
        self.lockPath = lockPath
        self.iptables = iptables
    }

    public static func comment(vmID: String) -> String { "firebuild:\(vmID)" }

    /// Adds the rules for `ports` of VM `vmID` whose address is `guestIP` (IPv4). Rules the VM
    /// already had are replaced, so publishing twice does not duplicate them.
    public func publish(vmID: String, guestIP: String, ports: [PortMapping], loopback: Bool = false) throws {
        try FirebuildTracing.span("net.ports.publish", attributes: [FirebuildSpanKey.vmID: vmID, FirebuildSpanKey.ip: guestIP,
                                                                    "firebuild.ports": ports.map { "\($0)" }.joined(separator: ",")]) { _ in
            try publishTraced(vmID: vmID, guestIP: guestIP, ports: ports, loopback: loopback)
        }
    }

    private func publishTraced(vmID: String, guestIP: String, ports: [PortMapping], loopback: Bool) throws {
        try PortPublisher.validate(vmID: vmID)
        var addr = in_addr()
        guard inet_pton(AF_INET, guestIP, &addr) == 1 else {
            throw FirebuildError(.invalidArgument, "guest address \"\(guestIP)\" is not an IPv4 address; port publishing supports IPv4 only")
        }
        guard !ports.isEmpty else { return }
        let tag = PortPublisher.comment(vmID: vmID)
        try FileLock.withLock(lockPath, timeout: 30) {
            try removeRules(tag: tag)
            try ensureChain(table: "nat", chain: PortPublisher.dnatChain, jumps: [
                ("PREROUTING", ["-m", "addrtype", "--dst-type", "LOCAL"]),
                ("OUTPUT", ["-m", "addrtype", "--dst-type", "LOCAL"]),
            ])
            try ensureChain(table: "filter", chain: PortPublisher.forwardChain, jumps: [("FORWARD", [])])
            if loopback {
                try ensureChain(table: "nat", chain: PortPublisher.postroutingChain, jumps: [("POSTROUTING", [])])
                try setSysctl("net.ipv4.conf.all.route_localnet=1")
            }
            for p in ports {
                let proto = p.proto.rawValue
                let inIface = p.interface.map { ["-i", $0] } ?? []
                let comment = ["-m", "comment", "--comment", tag]
                try ipt(["-t", "nat", "-A", PortPublisher.dnatChain, "-p", proto] + inIface
                        + ["--dport", String(p.hostPort)] + comment
                        + ["-j", "DNAT", "--to-destination", "\(guestIP):\(p.destPort)"])
                try ipt(["-t", "filter", "-A", PortPublisher.forwardChain, "-p", proto] + inIface
                        + ["-d", "\(guestIP)/32", "--dport", String(p.destPort),
                           "-m", "conntrack", "--ctstate", "NEW,ESTABLISHED,RELATED"] + comment + ["-j", "ACCEPT"])
                if loopback {
                    try ipt(["-t", "nat", "-A", PortPublisher.postroutingChain, "-p", proto, "-s", "127.0.0.0/8",
                             "-d", "\(guestIP)/32", "--dport", String(p.destPort)] + comment + ["-j", "MASQUERADE"])
                }
            }
        }
    }

    /// Removes every rule tagged for `vmID` (kill, purge, foreground exit). No rules is not an error.
    public func unpublish(vmID: String) throws {
        try FirebuildTracing.span("net.ports.unpublish", attributes: [FirebuildSpanKey.vmID: vmID]) { _ in
            try unpublishTraced(vmID: vmID)
        }
    }

    private func unpublishTraced(vmID: String) throws {
        try PortPublisher.validate(vmID: vmID)
        try FileLock.withLock(lockPath, timeout: 30) {
            try removeRules(tag: PortPublisher.comment(vmID: vmID))
        }
    }

    /// The rules (`iptables -S` lines) tagged for `vmID`, across firebuild's chains.
    public func rules(vmID: String) throws -> [String] {
        let tag = PortPublisher.comment(vmID: vmID)
        var out: [String] = []
        for (table, chain) in PortPublisher.chains {
            out += try listRules(table: table, chain: chain).filter { PortPublisher.hasTag($0, tag) }
        }
        return out
    }

    // MARK: internals

    static let chains = [("nat", dnatChain), ("filter", forwardChain), ("nat", postroutingChain)]
    static let jumps: [String: [(table: String, from: String)]] = [
        dnatChain: [("nat", "PREROUTING"), ("nat", "OUTPUT")],
        forwardChain: [("filter", "FORWARD")],
        postroutingChain: [("nat", "POSTROUTING")],
    ]

    private func removeRules(tag: String) throws {
        for (table, chain) in PortPublisher.chains {
            let rules = try listRules(table: table, chain: chain)
            let mine = rules.filter { PortPublisher.hasTag($0, tag) }
            for rule in mine {
                // `-S` prints `-A CHAIN args…`; the same args after `-D` delete exactly that rule.
                var tokens = PortPublisher.tokens(rule)
                guard tokens.first == "-A" else { continue }
                tokens[0] = "-D"
                try ipt(["-t", table] + tokens)
            }
            // The chain was ours alone: drop it (and its jumps) when nothing is left in it.
            if rules.count - mine.count == 0 && chainExists(table: table, chain: chain) {
                for (jt, from) in PortPublisher.jumps[chain] ?? [] {
                    for jump in try listRules(table: jt, chain: from) where PortPublisher.tokens(jump).suffix(2) == ["-j", chain] {
                        var t = PortPublisher.tokens(jump)
                        t[0] = "-D"
                        try ipt(["-t", jt] + t)
                    }
                }
                try ipt(["-t", table, "-X", chain])
            }
        }
    }

    private func ensureChain(table: String, chain: String, jumps: [(String, [String])]) throws {
        if !chainExists(table: table, chain: chain) {
            try ipt(["-t", table, "-N", chain])
        }
        for (from, match) in jumps {
            let spec = match + ["-j", chain]
            if try run(["-t", table, "-C", from] + spec).status != 0 {
                try ipt(["-t", table, "-I", from, "1"] + spec)
            }
        }
    }

    private func chainExists(table: String, chain: String) -> Bool {
        (try? run(["-t", table, "-S", chain]).status) == 0
    }

    /// `-A` lines of a chain; empty when the chain does not exist.
    private func listRules(table: String, chain: String) throws -> [String] {
        let r = try run(["-t", table, "-S", chain])
        guard r.status == 0 else { return [] }
        return r.stdoutString.split(separator: "\n").map(String.init).filter { $0.hasPrefix("-A ") }
    }

    private func run(_ args: [String]) throws -> Command.Result {
        let full = ["-w", "10"] + args
        if let namespace { return try namespace.command(iptables, full, timeout: 30).run() }
        return try Command(iptables, full, timeout: 30).run()
    }

    private func setSysctl(_ assignment: String) throws {
        let c = namespace.map { $0.command("sysctl", ["-w", assignment], timeout: 30) }
            ?? Command("sysctl", ["-w", assignment], timeout: 30)
        try c.check()
    }

    private func ipt(_ args: [String]) throws {
        let r = try run(args)
        guard r.status == 0 else {
            throw FirebuildError(.subprocess, "\(iptables) \(args.joined(separator: " ")) failed: \(r.stderrString.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }

    /// `iptables -S` output splits on spaces: the tags and values firebuild writes never contain
    /// spaces or quotes (vm ids are validated).
    static func tokens(_ rule: String) -> [String] {
        rule.split(separator: " ").map { String($0).trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
    }

    static func hasTag(_ rule: String, _ tag: String) -> Bool {
        let t = tokens(rule)
        return zip(t, t.dropFirst()).contains { $0 == "--comment" && $1 == tag }
    }

    static func validate(vmID: String) throws {
        guard !vmID.isEmpty, vmID.count <= 64,
              vmID.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else {
            throw FirebuildError(.invalidArgument, "invalid VM id \"\(vmID)\" for port publishing: letters, digits, '-', '_' and '.' only")
        }
    }
}
