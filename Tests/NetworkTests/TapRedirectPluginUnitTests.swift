import Foundation
import Testing
@testable import Network

/// The plugin's protocol handling, without touching any device.
@Suite struct TapRedirectPluginUnitTests {
    func run(_ env: [String: String], _ stdin: String) -> (obj: [String: Any], status: Int32) {
        let (out, status) = TapRedirectPlugin(environment: env, stdin: Data(stdin.utf8)).main()
        return ((try? JSONSerialization.jsonObject(with: out) as? [String: Any]) ?? [:], status)
    }

    @Test func version() {
        let r = run(["CNI_COMMAND": "VERSION"], "{}")
        #expect(r.status == 0)
        #expect((r.obj["supportedVersions"] as? [String])?.contains("1.0.0") == true)
    }

    @Test(arguments: [
        (["CNI_COMMAND": "ADD", "CNI_IFNAME": "eth0", "CNI_NETNS": "/nonexistent/netns"], #"{"cniVersion":"1.0.0","name":"n"}"#, 4, "does not exist"),
        (["CNI_COMMAND": "ADD", "CNI_NETNS": "/proc/self/ns/net"], #"{"cniVersion":"1.0.0","name":"n"}"#, 4, "CNI_IFNAME"),
        (["CNI_COMMAND": "ADD", "CNI_IFNAME": "eth0", "CNI_NETNS": "/proc/self/ns/net"], #"{"cniVersion":"1.0.0","name":"n"}"#, 7, "no previous result"),
        (["CNI_COMMAND": "ADD", "CNI_IFNAME": "eth0"], #"{"cniVersion":"9.9.9","name":"n"}"#, 1, "not supported"),
        (["CNI_COMMAND": "ADD", "CNI_IFNAME": "eth0"], "garbage", 6, "JSON"),
        (["CNI_COMMAND": "ADD", "CNI_IFNAME": "eth0", "CNI_ARGS": "TC_REDIRECT_TAP_UID=x"], #"{"cniVersion":"1.0.0"}"#, 4, "non-negative"),
        (["CNI_COMMAND": "ADD", "CNI_IFNAME": "eth0"], #"{"cniVersion":"1.0.0","tap_name":"waytoolongtapname0"}"#, 7, "invalid tap name"),
        (["CNI_COMMAND": "FROB", "CNI_IFNAME": "eth0"], #"{"cniVersion":"1.0.0"}"#, 4, "unknown CNI_COMMAND"),
    ] as [([String: String], String, Int, String)])
    func errors(env: [String: String], stdin: String, code: Int, msg: String) {
        let r = run(env, stdin)
        #expect(r.status == 1)
        #expect(r.obj["code"] as? Int == code)
        #expect((r.obj["msg"] as? String)?.contains(msg) == true, "\(r.obj)")
    }

    @Test func delWithoutNetnsIsNoop() {
        let r = run(["CNI_COMMAND": "DEL", "CNI_IFNAME": "eth0", "CNI_NETNS": "/nonexistent/x", "CNI_CONTAINERID": "vm"],
                    #"{"cniVersion":"1.0.0","name":"n"}"#)
        #expect(r.status == 0)
    }

    @Test func argsOverrideConfigAndUnknownIgnored() throws {
        let p = TapRedirectPlugin(environment: ["CNI_IFNAME": "eth0", "CNI_ARGS": "IgnoreUnknown=1;IP=10.0.0.9;TC_REDIRECT_TAP_NAME=vmtap;TC_REDIRECT_TAP_GID=7"],
                                  stdin: Data(#"{"cniVersion":"0.4.0","tap_name":"cfgtap","uid":5}"#.utf8))
        let c = try p.parseConfig()
        #expect(c.tapName == "vmtap" && c.uid == 5 && c.gid == 7 && c.cniVersion == "0.4.0")
    }
}
