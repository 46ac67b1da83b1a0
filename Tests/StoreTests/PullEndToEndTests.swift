import FirebuildCore
import Foundation
import OCI
import RootFS
import Testing
@testable import Store

/// A real pull: docker-registry on 127.0.0.1, a two-layer image (the second layer deletes a
/// file of the first) made with umoci and pushed with skopeo, pulled into the store.
@Suite(.serialized, .enabled(if: ["docker-registry", "umoci", "skopeo", "mkfs.ext4", "debugfs"].allSatisfy { Command.which($0) != nil },
                             "needs docker-registry, umoci, skopeo and e2fsprogs"))
struct PullEndToEndTests {
    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// A docker-registry on 127.0.0.1 with the two-layer image pushed as `acme/app:1`; returns
    /// the reference. The registry's storage is `<tmp>/registry`.
    func startRegistry(_ tmp: TempDir) throws -> (reference: String, registry: Process) {
        let port = PullEndToEndTests.freePort()
        let config = """
        version: 0.1
        log:
          level: error
        storage:
          filesystem:
            rootdirectory: \(tmp.path)/registry
        http:
          addr: 127.0.0.1:\(port)

        """
        try writeFile(tmp.path + "/config.yml", Data(config.utf8))
        let registry = Process()
        registry.executableURL = URL(fileURLWithPath: Command.which("docker-registry") ?? "/usr/bin/docker-registry")
        registry.arguments = ["serve", tmp.path + "/config.yml"]
        registry.standardOutput = FileHandle.nullDevice
        registry.standardError = FileHandle.nullDevice
        try registry.run()

        // Two layers: the first adds /etc/a and /etc/keep, the second deletes /etc/a and adds /etc/b.
        let layout = tmp.path + "/layout", bundle = tmp.path + "/bundle"
        try Command("umoci", ["init", "--layout", layout]).check()
        try Command("umoci", ["new", "--image", layout + ":app"]).check()
        try Command("umoci", ["unpack", "--image", layout + ":app", bundle]).check()
        try writeFile(bundle + "/rootfs/etc/a", Data("a".utf8))
        try writeFile(bundle + "/rootfs/etc/keep", Data("keep".utf8))
        // Big enough that a byte flipped in its middle is met while the layer still streams.
        try writeFile(bundle + "/rootfs/etc/noise", Data((0..<(1 << 20)).map { _ in UInt8.random(in: 0...255) }))
        try Command("umoci", ["repack", "--image", layout + ":app", bundle]).check()
        // A bundle remembers the manifest it was unpacked from: unpack again to stack a second layer.
        let bundle2 = tmp.path + "/bundle2"
        try Command("umoci", ["unpack", "--image", layout + ":app", bundle2]).check()
        unlink(bundle2 + "/rootfs/etc/a")
        try writeFile(bundle2 + "/rootfs/etc/b", Data("b".utf8))
        try Command("umoci", ["repack", "--image", layout + ":app", bundle2]).check()
        try Command("umoci", ["config", "--image", layout + ":app", "--config.cmd", "/bin/true", "--config.env", "A=1"]).check()

        let reference = "127.0.0.1:\(port)/acme/app:1"
        var pushed = false
        for _ in 0..<100 where !pushed {  // the registry needs a moment to listen
            pushed = (try? Command("skopeo", ["copy", "--dest-tls-verify=false", "oci:\(layout):app", "docker://\(reference)"]).check()) != nil
            if !pushed { usleep(100_000) }
        }
        #expect(pushed)
        return (reference, registry)
    }

    func service(_ tmp: TempDir) throws -> ImageService {
        try ImageService(storage: StorageConfig(rootfsRoot: tmp.path + "/rootfs", kernelRoot: tmp.path + "/kernels",
                                                contentRoot: tmp.path + "/content"))
    }

    @Test func pullAppliesAllLayers() throws {
        let tmp = try TempDir("pull")
        let (reference, registry) = try startRegistry(tmp)
        defer {
            kill(registry.processIdentifier, SIGKILL)
            registry.waitUntilExit()
        }
        let service = try service(tmp)
        let image = try service.pull(reference, options: ImageBuildOptions(size: .headroomMiB(8)))
        #expect(image.tag.description == "acme/app:1")
        let m = image.metadata
        #expect(m.source.kind == .registry && m.source.reference == reference && m.source.manifestDigest != nil)
        #expect(m.platform == "linux/amd64" && m.config.cmd == ["/bin/true"] && m.config.env?.contains("A=1") == true)
        #expect((m.source.blobs?.count ?? 0) == 4)  // manifest, config, two layers
        #expect(try Ext4Inspector.readFile(image: image.rootfsPath, path: "/etc/keep") == Data("keep".utf8))
        #expect(try Ext4Inspector.readFile(image: image.rootfsPath, path: "/etc/b") == Data("b".utf8))
        #expect(try !Ext4Inspector.exists(image: image.rootfsPath, path: "/etc/a"))
        #expect(try Ext4Inspector.fsck(image: image.rootfsPath).clean)
        #expect(try service.prune().removedBlobs.isEmpty)
    }

    /// The first layer's blob is damaged in the registry's storage (same size, one byte
    /// flipped in the middle): the streaming pull applies part of it before the damage shows,
    /// and must still leave nothing: no tag, no blob of that layer, no scratch tree.
    @Test func corruptLayerLeavesNothing() throws {
        let tmp = try TempDir("pull-corrupt")
        let (reference, registry) = try startRegistry(tmp)
        defer {
            kill(registry.processIdentifier, SIGKILL)
            registry.waitUntilExit()
        }
        let layout = try JSONDecoder().decode(ImageIndex.self, from: try Data(contentsOf: URL(fileURLWithPath: tmp.path + "/layout/index.json")))
        let manifestDigest = try #require(layout.manifests.first?.digest)
        let manifest = try JSONDecoder().decode(ImageManifest.self, from: try Data(contentsOf: URL(
            fileURLWithPath: tmp.path + "/layout/blobs/sha256/" + manifestDigest.hex)))
        let victim = try #require(manifest.layers.first?.digest)
        let blobFile = "\(tmp.path)/registry/docker/registry/v2/blobs/sha256/\(victim.hex.prefix(2))/\(victim.hex)/data"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: blobFile))
        bytes[bytes.count / 2] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: blobFile))

        let service = try service(tmp)
        #expect {
            try service.pull(reference, options: ImageBuildOptions(size: .headroomMiB(8)))
        } throws: { ($0 as? FirebuildError)?.code == .digestMismatch }
        #expect(service.images.list().isEmpty)
        #expect(!service.content.contains(victim))
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp.path + "/content/ingest").isEmpty)
        let staging = (try? FileManager.default.contentsOfDirectory(atPath: tmp.path + "/rootfs/.tmp")) ?? []
        #expect(staging.isEmpty, "scratch trees left behind: \(staging)")
        #expect(try service.prune().removedBlobs.allSatisfy { $0 != victim })
    }
}
