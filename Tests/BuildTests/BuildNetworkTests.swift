@testable import Build
import Dockerfile
import FirebuildCore
import Foundation
import Guest
import Networking
import Testing

/// Fast checks of the pieces behind build networking: RUN --network in steps and keys, the
/// exec request field, and the lease store `purge` relies on.
@Suite struct BuildNetworkTests {
    func steps(_ text: String) throws -> [StageStep] {
        let parsed = try Dockerfile.parse(text: text, fileName: "Dockerfile")
        let plan = try BuildPlan.make(from: parsed)
        let stage = try #require(plan.targetStage)
        let planner = StageStepPlanner(context: BuildContext(kind: .none), scratch: NSTemporaryDirectory()) { _, _ in
            throw FirebuildError(.internal, "no COPY --from here")
        }
        return try planner.steps(stage, pre: [], post: [], startKey: "base:test")
    }

    @Test(arguments: ["default", "none", "host"])
    func runNetworkModeReachesTheStep(mode: String) throws {
        let s = try steps("FROM scratch\nRUN --network=\(mode) echo hi\n")
        #expect(s.count == 1 && s[0].network == mode)
    }

    @Test func networkModeIsPartOfTheCacheKey() throws {
        let keys = try ["", "--network=default ", "--network=none ", "--network=host "].map {
            try steps("FROM scratch\nRUN \($0)echo hi\n")[0].key
        }
        #expect(keys[0] == keys[1], "no flag is the default mode")
        #expect(Set(keys.dropFirst()).count == 3, "each mode has its own key")
    }

    @Test func execRequestIsolatedNetworkIsOptionalInJSON() throws {
        let old = try ExecRequest(json: try JSON.parse(#"{"argv":["true"],"stdin":false}"#))
        #expect(old.isolatedNetwork == false, "an absent field means the guest's network")
        #expect(!ExecRequest(argv: ["true"]).json.encoded().contains("isolatedNetwork"))
        var req = ExecRequest(argv: ["ip", "link"], user: "app")
        req.isolatedNetwork = true
        let back = try ExecRequest(json: try JSON.parse(req.json.encoded()))
        #expect(back == req && back.isolatedNetwork)
        #expect(throws: GuestError.self) { try ExecRequest(json: try JSON.parse(#"{"argv":["x"],"isolatedNetwork":"yes"}"#)) }
    }

    @Test func leaseStoreSkipsLiveLeasesAndReclaimsAbandonedOnes() throws {
        let dir = NSTemporaryDirectory() + "fbt-lease-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = NetworkLeaseStore(dir: dir)
        let runner = CNIRunner(confDir: "/c", binDirs: ["/b"], cacheDir: "/k", hostNamespace: "fbt-x")
        let lockA = try store.acquire(NetworkLease(vmID: "fbb-a", network: "n", namespace: "fb-fbb-a", runner: runner))
        let lockB = try store.acquire(NetworkLease(vmID: "fbb-b", network: "n", namespace: "fb-fbb-b", runner: runner))
        #expect(throws: FirebuildError.self) { _ = try store.acquire(NetworkLease(vmID: "fbb-a", network: "n", namespace: "x", runner: runner)) }
        #expect(try store.reclaimAbandoned { _ in Issue.record("live leases are not touched") } == [])

        lockA.unlock()  // its owner "died"
        // A failing clean-up keeps the lease for the next purge.
        #expect(throws: FirebuildError.self) {
            try store.reclaimAbandoned { _ in throw FirebuildError(.network, "CNI DEL failed") }
        }
        #expect(store.ids() == ["fbb-a", "fbb-b"])
        var seen: [NetworkLease] = []
        #expect(try store.reclaimAbandoned { seen.append($0) } == ["fbb-a"])
        #expect(seen.first?.cniHostNamespace == "fbt-x" && seen.first?.runner().cacheDir == "/k")
        #expect(store.ids() == ["fbb-b"])

        store.release("fbb-b", lock: lockB)
        #expect(store.ids().isEmpty)
        #expect(throws: FirebuildError.self) { _ = try store.acquire(NetworkLease(vmID: "../x", network: "n", namespace: "x", runner: runner)) }
    }
}
