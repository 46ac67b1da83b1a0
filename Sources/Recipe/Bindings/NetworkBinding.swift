import FirebuildCore
import Foundation
import LuaRuntime

/// A CNI network declared by a recipe.
public final class NetworkObject {
    public let spec: NetworkSpec
    public let confDir: String
    public let path: String

    init(spec: NetworkSpec, confDir: String, path: String) {
        self.spec = spec
        self.confDir = confDir
        self.path = path
    }
}

/// `firebuild.network{name=, subnet=, gateway=, bridge=, ip_masq=, conf_dir=, replace=}`: writes or
/// reuses the conflist (bridge + firewall + tc-redirect-tap, host-local IPAM with a default route)
/// in `conf_dir` (default: the settings' CNI conf dir). Pass the object as `network =` to
/// `firebuild.vm.run` or `firebuild.rootfs`. Methods: `:name()`, `:subnet()`, `:gateway()`,
/// `:bridge()`, `:conf_dir()`, `:path()`, `:remove()`.
public enum NetworkBinding: RecipeBinding {
    static let keys = ["name", "subnet", "gateway", "bridge", "ip_masq", "conf_dir", "replace"]

    public static func register(into firebuild: LuaModule, vm: LuaVM, context: RecipeContext) throws {
        let session = context.session
        try vm.registerType(NetworkObject.self, name: "firebuild.Network", methods: [
            "name": { n, _ in [.string(n.spec.name)] },
            "subnet": { n, _ in [.string(n.spec.subnet)] },
            "gateway": { n, _ in [.string(n.spec.gateway)] },
            "bridge": { n, _ in [.string(n.spec.bridge)] },
            "conf_dir": { n, _ in [.string(n.confDir)] },
            "path": { n, _ in [.string(n.path)] },
            "remove": { n, _ in
                if context.dryRun {
                    session.plan.record("network", "remove CNI network \"\(n.spec.name)\" (\(n.path))")
                } else {
                    try FileLock.withLock(n.confDir + "/.firebuild.lock") {
                        if unlink(n.path) != 0 && errno != ENOENT { throw FirebuildError.posix("remove", path: n.path) }
                    }
                }
                return []
            },
        ], tostring: { "firebuild.Network(\($0.spec.name) \($0.spec.subnet))" })

        firebuild.function("network") { args in
            let o = try OptionTable(args, function: "firebuild.network", keys: keys)
            let settings = session.settings
            let spec = try NetworkSpec(name: try o.requiredString("name"), subnet: try o.requiredString("subnet"),
                                       gateway: try o.string("gateway"), bridge: try o.string("bridge"),
                                       ipMasq: try o.bool("ip_masq") ?? true,
                                       ipamDataDir: settings.cniCacheDir + "/networks")
            let confDir = try o.string("conf_dir").map(context.resolve) ?? settings.cniConfDir
            let path = confDir + "/" + spec.fileName()
            if context.dryRun {
                session.plan.record("network", "write or reuse CNI network \"\(spec.name)\" (\(spec.subnet), gateway \(spec.gateway), bridge \(spec.bridge)) in \(confDir)")
                return [.userdata(NetworkObject(spec: spec, confDir: confDir, path: path))]
            }
            let written = try spec.write(confDir: confDir, replace: try o.bool("replace") ?? false)
            context.logger.debug("CNI network \(written.outcome.rawValue)", metadata: ["name": .string(spec.name), "path": .string(written.path)])
            return [.userdata(NetworkObject(spec: spec, confDir: confDir, path: written.path))]
        }
    }
}
