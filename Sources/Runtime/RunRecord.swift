import FirebuildCore
import Foundation

/// What the run cache keeps about one VM (`<run-cache>/runs/<vmm-id>/metadata.json`, mode 0600).
/// Shaped like the original's `MDRun` where tools depended on it (`inspect | jq
/// '.NetworkInterfaces[0].StaticConfiguration.IPConfiguration.IP'`), but it never stores
/// environment values: `--env`/`--env-file` may carry secrets, so only the names are kept.
public struct RunRecord: Codable, Equatable, Sendable {
    public var vmmID: String
    public var type: String = "run"
    public var hostname: String
    public var image: String
    public var kernel: String
    public var vmm: String
    public var startedAtUTC: Int64
    public var pid: PidInfo
    public var configs: Configs
    public var cni: CNIInfo?
    public var networkInterfaces: [NetworkInterface]
    public var ports: [String]
    public var paths: Paths
    /// Privileged side effects, appended *before* each is made, so `purge` can undo any of
    /// them after a crash (netns, cni, iptables, jail, mount).
    public var sideEffects: [SideEffect]

    public init(vmmID: String, hostname: String, image: String, kernel: String, vmm: String, startedAtUTC: Int64,
                pid: Int32, configs: Configs, cni: CNIInfo? = nil, networkInterfaces: [NetworkInterface] = [],
                ports: [String] = [], paths: Paths, sideEffects: [SideEffect] = []) {
        self.vmmID = vmmID
        self.hostname = hostname
        self.image = image
        self.kernel = kernel
        self.vmm = vmm
        self.startedAtUTC = startedAtUTC
        self.pid = PidInfo(pid: pid)
        self.configs = configs
        self.cni = cni
        self.networkInterfaces = networkInterfaces
        self.ports = ports
        self.paths = paths
        self.sideEffects = sideEffects
    }

    enum CodingKeys: String, CodingKey {
        case vmmID = "VMMID", type = "Type", hostname = "Hostname", image = "Image", kernel = "Kernel", vmm = "VMM"
        case startedAtUTC = "StartedAtUTC", pid = "Pid", configs = "Configs", cni = "CNI"
        case networkInterfaces = "NetworkInterfaces", ports = "Ports", paths = "Paths", sideEffects = "SideEffects"
    }

    public struct PidInfo: Codable, Equatable, Sendable {
        public var pid: Int32
        enum CodingKeys: String, CodingKey { case pid = "Pid" }
    }

    public struct Configs: Codable, Equatable, Sendable {
        public var machine: Machine
        public var runConfig: RunConfig
        public var cni: CNIConfig
        public init(machine: Machine, runConfig: RunConfig, cni: CNIConfig) {
            self.machine = machine
            self.runConfig = runConfig
            self.cni = cni
        }
        enum CodingKeys: String, CodingKey { case machine = "Machine", runConfig = "RunConfig", cni = "CNI" }
    }

    public struct Machine: Codable, Equatable, Sendable {
        public var cpu: Int
        public var mem: Int
        public var kernelArgs: String
        public var cniNetworkName: String?
        public var ipAddress: String?
        public var sshUser: String?
        public var vmLinux: String
        public var shutdownGracefulTimeoutSeconds: Int
        public init(cpu: Int, mem: Int, kernelArgs: String, cniNetworkName: String?, ipAddress: String?, sshUser: String?,
                    vmLinux: String, shutdownGracefulTimeoutSeconds: Int) {
            self.cpu = cpu
            self.mem = mem
            self.kernelArgs = kernelArgs
            self.cniNetworkName = cniNetworkName
            self.ipAddress = ipAddress
            self.sshUser = sshUser
            self.vmLinux = vmLinux
            self.shutdownGracefulTimeoutSeconds = shutdownGracefulTimeoutSeconds
        }
        enum CodingKeys: String, CodingKey {
            case cpu = "CPU", mem = "Mem", kernelArgs = "KernelArgs", cniNetworkName = "CniNetworkName"
            case ipAddress = "IPAddress", sshUser = "SSHUser", vmLinux = "VMLinux"
            case shutdownGracefulTimeoutSeconds = "ShutdownGracefulTimeoutSeconds"
        }
    }

    public struct RunConfig: Codable, Equatable, Sendable {
        public var daemonize: Bool
        public var envFiles: [String]
        /// Names only, never values.
        public var envNames: [String]
        public var from: String
        public var identityFiles: [String]
        public var hostname: String
        public var name: String
        public var ports: [String]
        public var command: [String]?
        public init(daemonize: Bool, envFiles: [String], envNames: [String], from: String, identityFiles: [String],
                    hostname: String, name: String, ports: [String], command: [String]?) {
            self.daemonize = daemonize
            self.envFiles = envFiles
            self.envNames = envNames
            self.from = from
            self.identityFiles = identityFiles
            self.hostname = hostname
            self.name = name
            self.ports = ports
            self.command = command
        }
        enum CodingKeys: String, CodingKey {
            case daemonize = "Daemonize", envFiles = "EnvFiles", envNames = "EnvNames", from = "From"
            case identityFiles = "IdentityFiles", hostname = "Hostname", name = "Name", ports = "Ports", command = "Command"
        }
    }

    public struct CNIConfig: Codable, Equatable, Sendable {
        public var binDir: [String]
        public var confDir: String
        public var cacheDir: String
        public init(binDir: [String], confDir: String, cacheDir: String) {
            self.binDir = binDir
            self.confDir = confDir
            self.cacheDir = cacheDir
        }
        enum CodingKeys: String, CodingKey { case binDir = "BinDir", confDir = "ConfDir", cacheDir = "CacheDir" }
    }

    public struct CNIInfo: Codable, Equatable, Sendable {
        public var vethName: String
        public var netName: String
        public var netNS: String
        public init(vethName: String, netName: String, netNS: String) {
            self.vethName = vethName
            self.netName = netName
            self.netNS = netNS
        }
        enum CodingKeys: String, CodingKey { case vethName = "VethName", netName = "NetName", netNS = "NetNS" }
    }

    public struct NetworkInterface: Codable, Equatable, Sendable {
        public var staticConfiguration: StaticConfiguration
        public init(staticConfiguration: StaticConfiguration) { self.staticConfiguration = staticConfiguration }
        enum CodingKeys: String, CodingKey { case staticConfiguration = "StaticConfiguration" }
    }

    public struct StaticConfiguration: Codable, Equatable, Sendable {
        public var macAddress: String
        public var hostDeviceName: String
        public var ipConfiguration: IPConfiguration
        public init(macAddress: String, hostDeviceName: String, ipConfiguration: IPConfiguration) {
            self.macAddress = macAddress
            self.hostDeviceName = hostDeviceName
            self.ipConfiguration = ipConfiguration
        }
        enum CodingKeys: String, CodingKey {
            case macAddress = "MacAddress", hostDeviceName = "HostDeviceName", ipConfiguration = "IPConfiguration"
        }
    }

    public struct IPConfiguration: Codable, Equatable, Sendable {
        /// The guest address without prefix: what `inspect | jq …IP` gives.
        public var ip: String
        /// The guest address with its prefix length (`10.0.0.2/24`).
        public var ipAddr: String
        public var ipMask: String
        public var gateway: String?
        public var ifName: String
        public var nameServers: [String]
        public init(ip: String, ipAddr: String, ipMask: String, gateway: String?, ifName: String, nameServers: [String]) {
            self.ip = ip
            self.ipAddr = ipAddr
            self.ipMask = ipMask
            self.gateway = gateway
            self.ifName = ifName
            self.nameServers = nameServers
        }
        enum CodingKeys: String, CodingKey {
            case ip = "IP", ipAddr = "IPAddr", ipMask = "IPMask", gateway = "Gateway", ifName = "IfName"
            case nameServers = "NameServers"
        }
    }

    public struct Paths: Codable, Equatable, Sendable {
        public var runDir: String
        public var consoleLog: String
        public var channelSocket: String
        public var controlSocket: String
        public var rootDisk: String
        public var jailDir: String?
        public init(runDir: String, consoleLog: String, channelSocket: String, controlSocket: String, rootDisk: String,
                    jailDir: String? = nil) {
            self.runDir = runDir
            self.consoleLog = consoleLog
            self.channelSocket = channelSocket
            self.controlSocket = controlSocket
            self.rootDisk = rootDisk
            self.jailDir = jailDir
        }
        enum CodingKeys: String, CodingKey {
            case runDir = "RunDir", consoleLog = "ConsoleLog", channelSocket = "ChannelSocket"
            case controlSocket = "ControlSocket", rootDisk = "RootDisk", jailDir = "JailDir"
        }
    }

    /// One undoable privileged change.
    public struct SideEffect: Codable, Equatable, Sendable {
        public enum Kind: String, Codable, Sendable { case netns, cni, ports, jail, process }
        public var kind: Kind
        /// What identifies it for undo: the netns name, the CNI network name, the jail dir…
        public var target: String
        public init(kind: Kind, target: String) {
            self.kind = kind
            self.target = target
        }
        enum CodingKeys: String, CodingKey { case kind = "Kind", target = "Target" }
    }

    /// The guest IP, if the VM has a network.
    public var ip: String? { networkInterfaces.first?.staticConfiguration.ipConfiguration.ip }
}
