// The JSON bodies of the control frames (see Frame.swift for the frame list). Every message
// converts to and from `JSON`; unknown keys are ignored so either side can add optional fields.

public protocol GuestMessage {
    init(json: JSON) throws
    var json: JSON { get }
}

extension GuestMessage {
    public init(frame: Frame) throws { try self.init(json: frame.json()) }
}

/// Field readers that fail with a message naming the field.
enum Field {
    static func string(_ j: JSON, _ k: String) throws -> String {
        guard let s = j[k]?.string else { throw GuestError(.protocolError, "message field '\(k)' must be a string") }
        return s
    }
    static func optString(_ j: JSON, _ k: String) throws -> String? {
        guard let v = j[k], !v.isNull else { return nil }
        guard let s = v.string else { throw GuestError(.protocolError, "message field '\(k)' must be a string") }
        return s
    }
    static func optStrings(_ j: JSON, _ k: String) throws -> [String]? {
        guard let v = j[k], !v.isNull else { return nil }
        guard let a = v.stringArray else { throw GuestError(.protocolError, "message field '\(k)' must be an array of strings") }
        return a
    }
    static func optInt(_ j: JSON, _ k: String) throws -> Int? {
        guard let v = j[k], !v.isNull else { return nil }
        guard let i = v.int, let r = Int(exactly: i) else { throw GuestError(.protocolError, "message field '\(k)' must be an integer") }
        return r
    }
    static func optDouble(_ j: JSON, _ k: String) throws -> Double? {
        guard let v = j[k], !v.isNull else { return nil }
        guard let d = v.double else { throw GuestError(.protocolError, "message field '\(k)' must be a number") }
        return d
    }
    static func bool(_ j: JSON, _ k: String, default d: Bool = false) throws -> Bool {
        guard let v = j[k], !v.isNull else { return d }
        guard let b = v.bool else { throw GuestError(.protocolError, "message field '\(k)' must be a boolean") }
        return b
    }
}

/// The part of an image's config the init needs, with OCI field names.
public struct ImageRuntimeConfig: Equatable, Sendable, GuestMessage {
    public var entrypoint: [String]?
    public var cmd: [String]?
    public var env: [String]?
    public var user: String?
    public var workingDir: String?
    public var stopSignal: String?

    public init(entrypoint: [String]? = nil, cmd: [String]? = nil, env: [String]? = nil, user: String? = nil,
                workingDir: String? = nil, stopSignal: String? = nil) {
        self.entrypoint = entrypoint; self.cmd = cmd; self.env = env
        self.user = user; self.workingDir = workingDir; self.stopSignal = stopSignal
    }

    public init(json j: JSON) throws {
        entrypoint = try Field.optStrings(j, "Entrypoint"); cmd = try Field.optStrings(j, "Cmd")
        env = try Field.optStrings(j, "Env"); user = try Field.optString(j, "User")
        workingDir = try Field.optString(j, "WorkingDir"); stopSignal = try Field.optString(j, "StopSignal")
    }

    public var json: JSON {
        var o = ObjectBuilder()
        o.set("Entrypoint", entrypoint); o.set("Cmd", cmd); o.set("Env", env)
        o.set("User", user); o.set("WorkingDir", workingDir); o.set("StopSignal", stopSignal)
        return o.json
    }
}

/// How the guest's network is set up.
public struct NetworkConfig: Equatable, Sendable, GuestMessage {
    public enum Mode: String, Sendable {
        case keep     // the kernel `ip=` parameter already configured it; only lo and DNS files
        case `static` // configure `address/prefix` (and the default route) on the NIC
        case none     // loopback only
    }
    public var mode: Mode
    /// Interface name in the guest; when nil (or absent), the NIC is found by `mac`, else the first non-lo one.
    public var ifname: String?
    public var mac: String?
    public var address: String?   // IPv4 dotted quad
    public var prefix: Int
    public var gateway: String?
    public var dns: [String]
    public var search: [String]
    public var mtu: Int?

    public init(mode: Mode = .keep, ifname: String? = nil, mac: String? = nil, address: String? = nil, prefix: Int = 24,
                gateway: String? = nil, dns: [String] = [], search: [String] = [], mtu: Int? = nil) {
        self.mode = mode; self.ifname = ifname; self.mac = mac; self.address = address; self.prefix = prefix
        self.gateway = gateway; self.dns = dns; self.search = search; self.mtu = mtu
    }

    public init(json j: JSON) throws {
        let m = try Field.optString(j, "mode") ?? "keep"
        guard let mode = Mode(rawValue: m) else { throw GuestError(.protocolError, "network mode '\(m)' is not keep, static or none") }
        self.mode = mode
        ifname = try Field.optString(j, "ifname"); mac = try Field.optString(j, "mac")
        address = try Field.optString(j, "address"); prefix = try Field.optInt(j, "prefix") ?? 24
        gateway = try Field.optString(j, "gateway"); dns = try Field.optStrings(j, "dns") ?? []
        search = try Field.optStrings(j, "search") ?? []; mtu = try Field.optInt(j, "mtu")
    }

    public var json: JSON {
        var o = ObjectBuilder()
        o.set("mode", mode.rawValue); o.set("ifname", ifname); o.set("mac", mac); o.set("address", address)
        o.set("prefix", prefix); o.set("gateway", gateway); o.set("dns", dns); o.set("search", search); o.set("mtu", mtu)
        return o.json
    }
}

/// Everything the init needs to set the VM up; sent once after `ready`.
public struct Metadata: Equatable, Sendable, GuestMessage {
    public enum Mode: String, Sendable { case run, build }
    public var mode: Mode
    /// `init=image`: after setup, exec the image's own /sbin/init instead of a workload.
    public var initImage: Bool
    public var image: ImageRuntimeConfig
    /// Extra environment in order: --env-file values, then --env (later entries win).
    public var env: [String]
    /// `run … -- args`: replaces the image's Cmd.
    public var cmdOverride: [String]?
    /// `--entrypoint`: replaces the image's Entrypoint (and, as in Docker, drops the image's Cmd).
    public var entrypointOverride: [String]?
    public var userOverride: String?
    public var workdirOverride: String?
    public var hostname: String
    public var sshUser: String?
    public var sshKeys: [String]
    public var network: NetworkConfig
    /// Extra /etc/hosts lines ("IP name [alias…]").
    public var extraHosts: [String]
    /// Seconds between heartbeats; 0 disables them.
    public var heartbeatInterval: Double
    /// Seconds between StopSignal and SIGKILL when the workload is stopped.
    public var stopTimeout: Double

    public init(mode: Mode = .run, initImage: Bool = false, image: ImageRuntimeConfig = .init(), env: [String] = [],
                cmdOverride: [String]? = nil, entrypointOverride: [String]? = nil, userOverride: String? = nil,
                workdirOverride: String? = nil, hostname: String = "firebuild", sshUser: String? = nil,
                sshKeys: [String] = [], network: NetworkConfig = .init(), extraHosts: [String] = [],
                heartbeatInterval: Double = 5, stopTimeout: Double = 10) {
        self.mode = mode; self.initImage = initImage; self.image = image; self.env = env
        self.cmdOverride = cmdOverride; self.entrypointOverride = entrypointOverride
        self.userOverride = userOverride; self.workdirOverride = workdirOverride; self.hostname = hostname
        self.sshUser = sshUser; self.sshKeys = sshKeys; self.network = network; self.extraHosts = extraHosts
        self.heartbeatInterval = heartbeatInterval; self.stopTimeout = stopTimeout
    }

    public init(json j: JSON) throws {
        let m = try Field.optString(j, "mode") ?? "run"
        guard let mode = Mode(rawValue: m) else { throw GuestError(.protocolError, "metadata mode '\(m)' is not run or build") }
        self.mode = mode
        initImage = try Field.bool(j, "initImage")
        image = try j["image"].map(ImageRuntimeConfig.init(json:)) ?? .init()
        env = try Field.optStrings(j, "env") ?? []
        cmdOverride = try Field.optStrings(j, "cmdOverride")
        entrypointOverride = try Field.optStrings(j, "entrypointOverride")
        userOverride = try Field.optString(j, "userOverride")
        workdirOverride = try Field.optString(j, "workdirOverride")
        hostname = try Field.optString(j, "hostname") ?? "firebuild"
        sshUser = try Field.optString(j, "sshUser")
        sshKeys = try Field.optStrings(j, "sshKeys") ?? []
        network = try j["network"].map(NetworkConfig.init(json:)) ?? .init()
        extraHosts = try Field.optStrings(j, "extraHosts") ?? []
        heartbeatInterval = try Field.optDouble(j, "heartbeatInterval") ?? 5
        stopTimeout = try Field.optDouble(j, "stopTimeout") ?? 10
    }

    public var json: JSON {
        var o = ObjectBuilder()
        o.set("mode", mode.rawValue); o.set("initImage", initImage); o.set("image", image.json); o.set("env", env)
        o.set("cmdOverride", cmdOverride); o.set("entrypointOverride", entrypointOverride)
        o.set("userOverride", userOverride); o.set("workdirOverride", workdirOverride); o.set("hostname", hostname)
        o.set("sshUser", sshUser); o.set("sshKeys", sshKeys); o.set("network", network.json)
        o.set("extraHosts", extraHosts); o.set("heartbeatInterval", heartbeatInterval); o.set("stopTimeout", stopTimeout)
        return o.json
    }
}

/// Runs one command (a build RUN step or `firebuild exec`). No TTY.
public struct ExecRequest: Equatable, Sendable, GuestMessage {
    public var argv: [String]
    /// Merged over the workload environment (image Env + metadata env), unless `replaceEnv`.
    public var env: [String]
    public var replaceEnv: Bool
    public var user: String?
    public var workdir: String?
    /// When true the host sends `stdin` frames (an empty one closes stdin); otherwise stdin is /dev/null.
    public var stdin: Bool
    /// When true the process runs in a network namespace of its own with only loopback, up
    /// (`RUN --network=none`); otherwise it shares the guest's network. Absent in JSON = false.
    public var isolatedNetwork = false
    /// Mounts for this process only (RUN --mount), in its own mount namespace. Absent in older hosts' requests.
    public var mounts: [ExecMount]

    public init(argv: [String], env: [String] = [], replaceEnv: Bool = false, user: String? = nil,
                workdir: String? = nil, stdin: Bool = false, mounts: [ExecMount] = []) {
        self.argv = argv; self.env = env; self.replaceEnv = replaceEnv; self.user = user
        self.workdir = workdir; self.stdin = stdin; self.mounts = mounts
    }

    public init(json j: JSON) throws {
        guard let argv = try Field.optStrings(j, "argv"), !argv.isEmpty else {
            throw GuestError(.protocolError, "exec needs a non-empty 'argv'")
        }
        self.argv = argv
        env = try Field.optStrings(j, "env") ?? []; replaceEnv = try Field.bool(j, "replaceEnv")
        user = try Field.optString(j, "user"); workdir = try Field.optString(j, "workdir")
        stdin = try Field.bool(j, "stdin")
        isolatedNetwork = try Field.bool(j, "isolatedNetwork")
        mounts = try ExecMount.list(j, "mounts")
    }

    public var json: JSON {
        var o = ObjectBuilder()
        o.set("argv", argv); o.set("env", env); o.set("replaceEnv", replaceEnv); o.set("user", user)
        o.set("workdir", workdir); o.set("stdin", stdin)
        if isolatedNetwork { o.set("isolatedNetwork", true) }  // absent = shared: older inits read it unchanged
        if !mounts.isEmpty { o.set("mounts", JSON.array(mounts.map(\.json))) }
        return o.json
    }
}

/// How a process ended: `code` when it exited, `signal` when a signal killed it.
public struct ExitStatus: Equatable, Sendable, GuestMessage, CustomStringConvertible {
    public var code: Int32?
    public var signal: Int32?

    public init(code: Int32? = nil, signal: Int32? = nil) { self.code = code; self.signal = signal }
    public static func exited(_ c: Int32) -> ExitStatus { ExitStatus(code: c) }
    public static func signaled(_ s: Int32) -> ExitStatus { ExitStatus(signal: s) }

    /// Shell convention: the exit code, or 128 + signal number.
    public var exitCode: Int32 { code ?? (128 + (signal ?? 0)) }
    public var success: Bool { code == 0 }

    public init(json j: JSON) throws {
        code = try Field.optInt(j, "code").map(Int32.init(truncatingIfNeeded:))
        signal = try Field.optInt(j, "signal").map(Int32.init(truncatingIfNeeded:))
    }

    public var json: JSON {
        var o = ObjectBuilder()
        o.set("code", code.map(Int.init)); o.set("signal", signal.map(Int.init))
        return o.json
    }

    public var description: String {
        if let code { return "exit code \(code)" }
        return "killed by \(Signals.name(signal ?? 0))"
    }
}
