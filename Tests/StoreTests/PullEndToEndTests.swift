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

    @Test func pullAppliesAllLayers() throws {
        let tmp = try TempDir("pull")
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
        defer {
            kill(registry.processIdentifier, SIGKILL)
            registry.waitUntilExit()
        }

        // Two layers: the first adds /etc/a and /etc/keep, the second deletes /etc/a and adds /etc/b.
        let layout = tmp.path + "/layout", bundle = tmp.path + "/bundle"
        try Command("umoci", ["init", "--layout", layout]).check()
        try Command("umoci", ["new", "--image", layout + ":app"]).check()
        try Command("umoci", ["unpack", "--image", layout + ":app", bundle]).check()
        try writeFile(bundle + "/rootfs/etc/a", Data("a".utf8))
        try writeFile(bundle + "/rootfs/etc/keep", Data("keep".utf8))
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

        let service = try ImageService(storage: StorageConfig(rootfsRoot: tmp.path + "/rootfs", kernelRoot: tmp.path + "/kernels",
                                                              contentRoot: tmp.path + "/content"))
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
}
