import FirebuildCore
import Foundation
import Testing
@testable import Network

@Suite struct CNIConfigTests {
    func tempDir() throws -> String {
        let d = NSTemporaryDirectory() + "fbt-cni-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    @Test func loadsConflistAndWrapsSingleConf() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try #"{"cniVersion":"1.0.0","name":"machines","plugins":[{"type":"bridge","bridge":"machines0"},{"type":"firewall"},{"type":"tc-redirect-tap"}]}"#
            .write(toFile: dir + "/10-machines.conflist", atomically: true, encoding: .utf8)
        try #"{"cniVersion":"0.4.0","name":"single","type":"ptp","ipam":{"type":"host-local"}}"#
            .write(toFile: dir + "/20-single.conf", atomically: true, encoding: .utf8)
        try "not json".write(toFile: dir + "/30-broken.conflist", atomically: true, encoding: .utf8)
        try "ignored".write(toFile: dir + "/README", atomically: true, encoding: .utf8)

        let list = try CNIConfigLoader.load(network: "machines", from: dir)
        #expect(list.pluginTypes == ["bridge", "firewall", "tc-redirect-tap"])
        #expect(list.cniVersion == "1.0.0")
        let single = try CNIConfigLoader.load(network: "single", from: dir)
        #expect(single.pluginTypes == ["ptp"])
        #expect(single.cniVersion == "0.4.0")
        // The cached form of a wrapped .conf is a list again.
        let reparsed = try CNINetworkConfigList(data: single.rawBytes)
        #expect(reparsed.pluginTypes == ["ptp"] && reparsed.name == "single")

        do {
            _ = try CNIConfigLoader.load(network: "nope", from: dir)
            Issue.record("missing network must fail")
        } catch let e as FirebuildError {
            #expect(e.code == .notFound)
            #expect(e.message.contains("machines") && e.message.contains("single") && e.message.contains("30-broken"))
        }
    }

    @Test(arguments: [
        (#"{"name":"x"}"#, "neither"),
        (#"{"plugins":[{"type":"bridge"}]}"#, "no \"name\""),
        (#"{"name":"x","plugins":[]}"#, "non-empty"),
        (#"{"name":"x","plugins":[{"bridge":"b"}]}"#, "no \"type\""),
        (#"{"name":"x","plugins":[{"type":"../../bin/sh"}]}"#, "bare name"),
        (#"[1,2]"#, "JSON object"),
    ])
    func rejectsBadConfigs(json: String, reason: String) {
        do {
            _ = try CNINetworkConfigList(data: Data(json.utf8), source: "t.conflist")
            Issue.record("should fail: \(json)")
        } catch let e as FirebuildError {
            #expect(e.code == .parse)
            #expect(e.message.contains(reason), "\(e.message)")
        } catch { Issue.record("\(error)") }
    }

    @Test func missingConfDirIsNotFound() {
        #expect(throws: FirebuildError.self) { try CNIConfigLoader.load(network: "x", from: "/nonexistent/fbt") }
    }

    @Test func cniArgsString() throws {
        var a = CNIAttachment(containerID: "vm1", netns: "/var/run/netns/fb-vm1")
        #expect(try a.cniArgsString() == nil)
        a.args = [CNIAttachment.fixedIP("10.231.0.9"), .init("K8S_POD_NAME", "p")]
        #expect(try a.cniArgsString() == "IgnoreUnknown=1;IP=10.231.0.9;K8S_POD_NAME=p")
        a.args = [.init("IP", "1;2")]
        #expect(throws: FirebuildError.self) { try a.cniArgsString() }
    }

    @Test func versionCompare() {
        #expect(CNIRunner.versionAtLeast("1.0.0", "0.4.0"))
        #expect(CNIRunner.versionAtLeast("0.4.0", "0.4.0"))
        #expect(!CNIRunner.versionAtLeast("0.3.1", "0.4.0"))
    }

    @Test func missingPluginNamesDirs() {
        let r = CNIRunner(confDir: "/nonexistent", binDirs: ["/nonexistent/a", "/nonexistent/b"], cacheDir: "/tmp")
        do {
            _ = try r.pluginPath("bridge")
            Issue.record("must fail")
        } catch let e as FirebuildError {
            #expect(e.code == .notFound && e.message.contains("/nonexistent/a:/nonexistent/b"))
        } catch { Issue.record("\(error)") }
    }

    @Test func cacheRoundTripAndKeyValidation() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cache = CNIResultCache(dir: dir)
        let list = try CNINetworkConfigList(data: Data(#"{"cniVersion":"1.0.0","name":"n1","plugins":[{"type":"bridge"}]}"#.utf8))
        let att = CNIAttachment(containerID: "vm1", netns: "/x", ifName: "eth0", args: [.init("IP", "10.0.0.5")])
        let raw = Data(#"{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.5/24","version":"4"}]}"#.utf8)
        try cache.store(list: list, attachment: att, rawResult: raw)
        let entry = try #require(try cache.load(network: "n1", containerID: "vm1", ifName: "eth0"))
        #expect(entry.cniArgs == [["IP", "10.0.0.5"]])
        #expect(try entry.configList().pluginTypes == ["bridge"])
        // Unknown fields of older result versions survive the cache.
        let obj = try JSONSerialization.jsonObject(with: entry.rawResult) as? [String: Any]
        #expect(((obj?["ips"] as? [[String: Any]])?.first?["version"] as? String) == "4")
        try cache.remove(network: "n1", containerID: "vm1", ifName: "eth0")
        #expect(try cache.load(network: "n1", containerID: "vm1", ifName: "eth0") == nil)
        #expect(throws: FirebuildError.self) { try cache.path(network: "n", containerID: "../x", ifName: "eth0") }
        // A corrupt file is reported, not ignored.
        try FileManager.default.createDirectory(atPath: dir + "/results", withIntermediateDirectories: true)
        try "garbage".write(toFile: dir + "/results/n1-vm2-eth0", atomically: true, encoding: .utf8)
        #expect(throws: FirebuildError.self) { try cache.load(network: "n1", containerID: "vm2", ifName: "eth0") }
    }

    @Test func namespaceNames() throws {
        #expect(try NetworkNamespace.forVM("abc123").path == "/var/run/netns/fb-abc123")
        #expect(throws: FirebuildError.self) { try NetworkNamespace(name: "../etc") }
        #expect(throws: FirebuildError.self) { try NetworkNamespace(name: "") }
        #expect(throws: FirebuildError.self) { try NetworkNamespace(name: "a b") }
    }
}
