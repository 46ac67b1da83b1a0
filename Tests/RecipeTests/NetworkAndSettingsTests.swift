import Foundation
import Testing
import FirebuildCore
import LuaRuntime
import Networking
@testable import Recipe

@Suite struct NetworkAndSettingsTests {
    @Test func settingsMoveEveryPathWithHome() throws {
        try withTempDir { dir in
            let vm = try recipeVM(path: dir + "/r.lua")
            let r = try vm.run("""
                local fb = require 'firebuild'
                local before = fb.settings()
                local s = fb.settings { home = 'state', host_netns = 'fbt-x', vmm = 'qemu' }
                return before.home, s.home, s.rootfs_storage_root, s.kernel_storage_root, s.cni_conf_dir, s.cni_cache_dir, s.host_netns,
                       fb.settings({ host_netns = false }).host_netns
                """)
            #expect(r[0].string == "/var/lib/firebuild")
            #expect(r.dropFirst().map(\.description) == [dir + "/state", dir + "/state/rootfs", dir + "/state/kernels",
                                                         dir + "/state/cni/conf.d", dir + "/state/cni/cache", "fbt-x", "nil"])
        }
    }

    @Test func settingsRejectBadValues() throws {
        let vm = try recipeVM(path: "r.lua")
        #expect(throws: LuaScriptError.self) { try vm.run("require('firebuild').settings{ vmm = 'xen' }") }
        #expect(throws: LuaScriptError.self) { try vm.run("require('firebuild').settings{ home = '/' }") }
        #expect(throws: LuaScriptError.self) { try vm.run("require('firebuild').settings{ homedir = '/x' }") }
    }

    @Test func networkWritesAConflistThenReusesIt() throws {
        try withTempDir { dir in
            let vm = try recipeVM(path: dir + "/r.lua")
            let r = try vm.run("""
                local fb = require 'firebuild'
                fb.settings { home = 'h' }
                local n = fb.network { name = 'machines', subnet = '192.168.127.0/24' }
                local again = fb.network { name = 'machines', subnet = '192.168.127.0/24' }
                return n:name(), n:subnet(), n:gateway(), n:bridge(), n:path(), again:path(), tostring(n)
                """)
            let path = dir + "/h/cni/conf.d/10-machines.conflist"
            #expect(r.map(\.description) == ["machines", "192.168.127.0/24", "192.168.127.1", "machines0", path, path,
                                             "firebuild.Network(machines 192.168.127.0/24)"])
            let list = try CNIConfigLoader.load(network: "machines", from: dir + "/h/cni/conf.d")
            #expect(list.pluginTypes == ["bridge", "firewall", "tc-redirect-tap"])
            let ipam = list.plugins[0]["ipam"] as? [String: Any]
            #expect(ipam?["type"] as? String == "host-local")
            #expect(ipam?["dataDir"] as? String == dir + "/h/cni/cache/networks")
            #expect((ipam?["routes"] as? [[String: String]])?.first?["dst"] == "0.0.0.0/0")
        }
    }

    @Test func aChangedNetworkNeedsReplace() throws {
        try withTempDir { dir in
            let vm = try recipeVM(path: dir + "/r.lua")
            try vm.run("require('firebuild').network { name = 'n1', subnet = '10.1.0.0/24', conf_dir = 'conf' }")
            do {
                try vm.run("require('firebuild').network { name = 'n1', subnet = '10.2.0.0/24', conf_dir = 'conf' }")
                Issue.record("expected an error")
            } catch let e as LuaScriptError {
                #expect(e.message.contains("has a different configuration"))
            }
            try vm.run("require('firebuild').network { name = 'n1', subnet = '10.2.0.0/24', conf_dir = 'conf', replace = true }")
            #expect(try CNIConfigLoader.load(network: "n1", from: dir + "/conf").rawBytes == NetworkSpec(name: "n1", subnet: "10.2.0.0/24", ipamDataDir: "/var/lib/cni/networks").conflist())
            try vm.run("require('firebuild').network { name = 'n1', subnet = '10.2.0.0/24', conf_dir = 'conf' }:remove()")
            #expect(!FileManager.default.fileExists(atPath: dir + "/conf/10-n1.conflist"))
        }
    }

    @Test func aNetworkDefinedByAnotherFileIsNotShadowed() throws {
        try withTempDir { dir in
            try write(#"{"cniVersion":"1.0.0","name":"mine","plugins":[{"type":"bridge"}]}"#, to: dir + "/conf/05-mine.conflist")
            #expect(throws: FirebuildError.self) { try NetworkSpec(name: "mine", subnet: "10.3.0.0/24").write(confDir: dir + "/conf") }
        }
    }

    @Test(arguments: [
        ("10.0.0.0/24", nil, nil, "10.0.0.1"),
        ("10.0.0.1/24", nil, "host bits are set; did you mean 10.0.0.0/24?", nil),
        ("10.0.0.0/33", nil, "invalid subnet", nil),
        ("10.0.0.0/24", "10.0.1.1", "is not a host address", nil),
        ("10.0.0.0/24", "10.0.0.254", nil, "10.0.0.254"),
        ("300.0.0.0/24", nil, "invalid subnet", nil),
    ] as [(String, String?, String?, String?)])
    func subnetsAndGateways(subnet: String, gateway: String?, error: String?, expected: String?) {
        do {
            let spec = try NetworkSpec(name: "n", subnet: subnet, gateway: gateway)
            #expect(error == nil)
            #expect(spec.gateway == expected)
        } catch let e as FirebuildError {
            #expect(error.map { e.message.contains($0) } == true, "\(e.message)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func bridgeNamesFitLinuxLimits() throws {
        #expect(try NetworkSpec(name: "a-very-long-network-name", subnet: "10.0.0.0/24").bridge == "averylongnetw0")
        #expect(throws: FirebuildError.self) { try NetworkSpec(name: "n", subnet: "10.0.0.0/24", bridge: "sixteen-chars-xx") }
        #expect(throws: FirebuildError.self) { try NetworkSpec(name: "../x", subnet: "10.0.0.0/24") }
    }
}
