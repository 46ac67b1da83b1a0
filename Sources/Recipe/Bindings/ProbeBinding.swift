import FirebuildCore
import Foundation
import LuaRuntime

/// Host-side checks for recipes: `firebuild.tcp.probe{host=, port=, netns=, timeout=}` (one attempt,
/// a boolean), `firebuild.tcp.wait{…}` (retries until `timeout`, default 60 s; raises on timeout),
/// `firebuild.http.get{url=, netns=, timeout=, headers=}` → `{status=, body=, headers=}`, and
/// `firebuild.sleep(seconds)`. `netns` defaults to the settings' `host_netns`.
public enum ProbeBinding: RecipeBinding {
    static let tcpKeys = ["host", "port", "netns", "timeout"]

    public static func register(into firebuild: LuaModule, vm: LuaVM, context: RecipeContext) throws {
        let session = context.session
        func netns(_ o: OptionTable) throws -> String? {
            if case .boolean(false) = o["netns"] { return nil }
            return try o.string("netns") ?? session.settings.hostNetns
        }
        let tcp = firebuild.table("tcp")
        tcp.function("probe") { args in
            let o = try OptionTable(args, function: "firebuild.tcp.probe", keys: tcpKeys)
            let host = try o.requiredString("host"), port = try o.int("port") ?? 0
            if context.dryRun { return [.boolean(true)] }
            return [.boolean(try HostProbe.canConnect(host: host, port: port, timeout: try o.double("timeout") ?? 2, netns: try netns(o)))]
        }
        tcp.function("wait") { args in
            let o = try OptionTable(args, function: "firebuild.tcp.wait", keys: tcpKeys)
            let host = try o.requiredString("host")
            guard let port = try o.int("port") else { throw FirebuildError(.invalidArgument, "firebuild.tcp.wait needs option \"port\"") }
            if context.dryRun {
                session.plan.record("wait", "wait for \(host):\(port) to accept connections")
                return [.number(0)]
            }
            return [.number(try HostProbe.waitForPort(host: host, port: port, timeout: try o.double("timeout") ?? 60, netns: try netns(o)))]
        }

        firebuild.table("http").function("get") { args in
            let o = try OptionTable(args, function: "firebuild.http.get", keys: ["url", "netns", "timeout", "headers"])
            let url = try o.requiredString("url")
            if context.dryRun {
                session.plan.record("http", "GET \(url)")
                var t = LuaTable()
                t["status"] = .integer(200)
                t["body"] = .string("")
                t["headers"] = .table(LuaTable())
                return [.table(t)]
            }
            let r = try HostProbe.get(url: url, timeout: try o.double("timeout") ?? 30, netns: try netns(o),
                                      headers: try o.stringMap("headers") ?? [:])
            var t = LuaTable()
            t["status"] = .integer(Int64(r.status))
            t["body"] = .bytes([UInt8](r.body))
            t["headers"] = LuaValue(r.headers)
            return [.table(t)]
        }

        firebuild.function("sleep") { args in
            let seconds = try args.number(1)
            guard seconds >= 0, seconds <= 3600 else {
                throw FirebuildError(.invalidArgument, "firebuild.sleep: seconds must be between 0 and 3600, got \(seconds)")
            }
            if !context.dryRun { usleep(UInt32(seconds * 1_000_000)) }
            return []
        }
    }
}
