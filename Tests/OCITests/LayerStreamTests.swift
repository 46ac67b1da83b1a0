import FirebuildCore
import Foundation
import Testing
@testable import OCI

/// The streaming pull (`resolve(…, applyingTo:)`): layers applied while they download,
/// against a registry that misbehaves on purpose (ScriptedRegistry).
@Suite(.serialized, .enabled(if: ScriptedRegistry.available && tool("gzip"), "needs python3 and gzip"))
struct LayerStreamTests {
    typealias Layer = (data: Data, mediaType: String, diffID: ContentDigest, behavior: ScriptedRegistry.Behavior)

    static func gzipped(_ tar: Data, behavior: ScriptedRegistry.Behavior = .normal) throws -> Layer {
        let tmp = try TempDir("gz")
        defer { tmp.cleanup() }
        try writeFile(tmp.path + "/l.tar", tar)
        try Command("gzip", ["-n", "-1", tmp.path + "/l.tar"]).check()
        let gz = try Data(contentsOf: URL(fileURLWithPath: tmp.path + "/l.tar.gz"))
        return (gz, MediaType.ociLayerGzip, ContentDigest.sha256(tar), behavior)
    }

    static func plain(_ tar: Data, behavior: ScriptedRegistry.Behavior = .normal) -> Layer {
        (tar, MediaType.ociLayerTar, ContentDigest.sha256(tar), behavior)
    }

    /// Incompressible bytes, so a gzipped layer stays big enough to take a while to serve.
    static func noise(_ count: Int) -> Data {
        var rng = SystemRandomNumberGenerator()
        return Data((0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) })
    }

    func client() -> RegistryClient {
        let c = RegistryClient(dockerConfig: DockerConfigCredentials())
        c.retryBaseDelay = 0.01
        return c
    }

    /// Layer 1 is big and served slowly; layers 2 and 3 are small and delete or replace what
    /// layer 1 (and 2) put there. Their downloads finish long before layer 1's, while layer 1
    /// is still being applied, and the tree must still come out as if applied one by one.
    @Test func overlappingDownloadsApplyInOrder() throws {
        let reg = try ScriptedRegistry()
        defer { reg.stop() }
        let big = LayerStreamTests.noise(3 << 20)
        let l1 = try makeTar { w in
            try w.directory("etc")
            try w.file("etc/a", "layer1")
            try w.file("etc/b", "layer1")
            try w.directory("opq/sub")
            try w.file("opq/old", "old")
            try w.file("opq/sub/deep", "deep")
            try w.add(TarEntry(name: "data/big", kind: .file, size: Int64(big.count)), data: big)
        }
        let l2 = try makeTar { w in
            try w.file("etc/.wh.a", "")
            try w.file("opq/.wh..wh..opq", "")
            try w.file("opq/new", "new")
            try w.file("etc/c", "layer2")
        }
        let l3 = try makeTar { w in
            try w.file("etc/a", "layer3")
            try w.file("etc/.wh.c", "")
            try w.symlink("etc/b", to: "a")
        }
        try reg.addImage(tag: "v1", layers: [try LayerStreamTests.gzipped(l1, behavior: .slow),
                                             try LayerStreamTests.gzipped(l2), LayerStreamTests.plain(l3)])
        let tmp = try TempDir("stream")
        defer { tmp.cleanup() }
        let store = try ContentStore(root: tmp.path + "/content")
        let root = try tmp.sub("root")
        let log = ProgressLog()
        let image = try ImageResolver(store: store, registry: client())
            .resolve(.registry(try ImageReference(parsing: "\(reg.host)/t/app:v1")),
                     options: ResolveOptions(maxConcurrentDownloads: 3, progress: { log.add($0) }), applyingTo: root)

        #expect(readString(root + "/etc/a") == "layer3")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: root + "/etc/b") == "a")
        #expect(!exists(root + "/etc/c"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/opq") == ["new"])
        #expect(FileManager.default.contents(atPath: root + "/data/big") == big)
        for layer in image.layers { #expect(store.contains(layer.digest)) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp.path + "/content/ingest").isEmpty)
        // The downloads overlapped: layers 2 and 3 were complete before layer 1 was.
        let events = log.events
        func finished(_ index: Int) -> Int? { events.firstIndex { $0.index == index && $0.completed == $0.total } }
        let done1 = try #require(finished(0)), done2 = try #require(finished(1)), done3 = try #require(finished(2))
        #expect(done2 < done1 && done3 < done1, "layers 2 and 3 should finish downloading while layer 1 still streams")

        // Pulled again: every blob is in the store now and is applied from there.
        let again = try tmp.sub("again")
        _ = try ImageResolver(store: store, registry: client())
            .resolve(.registry(try ImageReference(parsing: "\(reg.host)/t/app:v1")), applyingTo: again)
        #expect(readString(again + "/etc/a") == "layer3")
        #expect(FileManager.default.contents(atPath: again + "/data/big") == big)
    }

    /// A byte flipped in transit: compressed (the gunzip trips over it before the download
    /// ends) or not (the tar applies cleanly and only the blob digest tells). Either way the
    /// pull fails with a digest mismatch and nothing of that blob stays in the store.
    @Test(arguments: [true, false])
    func corruptedInTransitKeepsNothing(compressed: Bool) throws {
        let reg = try ScriptedRegistry()
        defer { reg.stop() }
        let tar = try makeTar { w in
            try w.file("etc/ok", "fine")
            try w.add(TarEntry(name: "data/blob", kind: .file, size: 1 << 20), data: LayerStreamTests.noise(1 << 20))
        }
        let layer = compressed ? try LayerStreamTests.gzipped(tar, behavior: .corrupt) : LayerStreamTests.plain(tar, behavior: .corrupt)
        let other = try LayerStreamTests.gzipped(try makeTar { try $0.file("etc/two", "2") })
        try reg.addImage(tag: "bad", layers: [layer, other])
        let tmp = try TempDir("corrupt-stream")
        defer { tmp.cleanup() }
        let store = try ContentStore(root: tmp.path + "/content")
        let root = try tmp.sub("root")
        #expect {
            try ImageResolver(store: store, registry: client())
                .resolve(.registry(try ImageReference(parsing: "\(reg.host)/t/app:bad")), applyingTo: root)
        } throws: { ($0 as? FirebuildError)?.code == .digestMismatch }
        #expect(!store.contains(ContentDigest.sha256(layer.data)))
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp.path + "/content/ingest").isEmpty)
        #expect(!exists(root + "/etc/two"), "a later layer must never be applied over a failed one")
    }

    /// A transfer cut off halfway resumes where it stopped: with a Range request, or, from a
    /// registry that ignores Range, by skipping the bytes already held. The applier, which
    /// was reading the first half while it arrived, sees every byte exactly once.
    @Test(arguments: [ScriptedRegistry.Behavior.dropThenRange, .dropThenFull])
    func cutOffTransferResumes(behavior: ScriptedRegistry.Behavior) throws {
        let reg = try ScriptedRegistry()
        defer { reg.stop() }
        let big = LayerStreamTests.noise(1 << 20)
        let tar = try makeTar { w in
            try w.file("etc/first", "1")
            try w.add(TarEntry(name: "data/big", kind: .file, size: Int64(big.count)), data: big)
            try w.file("etc/last", "2")
        }
        let layer = try LayerStreamTests.gzipped(tar, behavior: behavior)
        try reg.addImage(tag: "cut", layers: [layer])
        let tmp = try TempDir("resume")
        defer { tmp.cleanup() }
        let store = try ContentStore(root: tmp.path + "/content")
        let root = try tmp.sub("root")
        _ = try ImageResolver(store: store, registry: client())
            .resolve(.registry(try ImageReference(parsing: "\(reg.host)/t/app:cut")), applyingTo: root)
        #expect(FileManager.default.contents(atPath: root + "/data/big") == big)
        #expect(readString(root + "/etc/last") == "2")
        #expect(store.contains(ContentDigest.sha256(layer.data)))
        let prefix = String(ContentDigest.sha256(layer.data).hex.prefix(12))
        let requests = reg.log.split(separator: "\n").filter { $0.contains(prefix) }
        #expect(requests.count == 2, "one cut-off transfer and one resumed: \(requests)")
        #expect(requests.last?.contains("range=bytes=") == true)
    }

    /// A layer that fails to apply (hostile content) stops the pull; the other downloads are
    /// abandoned and leave nothing half-written in the store's ingest directory.
    @Test func applyFailureStopsDownloads() throws {
        let reg = try ScriptedRegistry()
        defer { reg.stop() }
        let evil = LayerStreamTests.plain(try makeTar { try $0.file("../escape", "x") })
        let slow = try LayerStreamTests.gzipped(try makeTar { w in
            try w.add(TarEntry(name: "big", kind: .file, size: 2 << 20), data: LayerStreamTests.noise(2 << 20))
        }, behavior: .slow)
        try reg.addImage(tag: "evil", layers: [evil, slow])
        let tmp = try TempDir("evil-stream")
        defer { tmp.cleanup() }
        let store = try ContentStore(root: tmp.path + "/content")
        #expect {
            try ImageResolver(store: store, registry: client())
                .resolve(.registry(try ImageReference(parsing: "\(reg.host)/t/app:evil")), applyingTo: try tmp.sub("root"))
        } throws: { ($0 as? FirebuildError)?.code == .permission }
        #expect(!store.contains(ContentDigest.sha256(slow.data)))
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp.path + "/content/ingest").isEmpty)
    }
}
