import FirebuildCore
import Foundation
import Testing
@testable import Store

@Suite struct ImageStoreTests {
    func metadata(_ marker: String) -> ImageMetadata {
        ImageMetadata(config: ImageConfig(env: ["PATH=/usr/bin"], cmd: ["/bin/sh"]),
                      source: ImageSource(kind: .directory, reference: marker, details: ["marker": marker]))
    }

    @Test func commitLayoutAndRead() throws {
        let tmp = try TempDir()
        let store = ImageStore(root: tmp.path + "/rootfs")
        try writeFile(tmp.path + "/in.ext4", Data("ext4-bytes".utf8))
        let tag = try ImageTag(parsing: "alpine:3.19")
        let stored = try store.commit(rootfs: tmp.path + "/in.ext4", metadata: metadata("a"), as: tag)
        #expect(stored.directory == tmp.path + "/rootfs/_/alpine/3.19")
        #expect(readText(tmp.path + "/rootfs/_/alpine/3.19/rootfs") == "ext4-bytes")
        #expect(FileManager.default.fileExists(atPath: tmp.path + "/in.ext4"))  // copied, not moved
        let attrs = try FileManager.default.attributesOfItem(atPath: stored.metadataPath)
        #expect((attrs[.posixPermissions] as? Int) == 0o644)

        let got = try store.get(tag)
        #expect(got.metadata.tag == "_/alpine:3.19")
        #expect(got.metadata.rootfsSize == 10)
        #expect(got.metadata.config.cmd == ["/bin/sh"])
        #expect(got.metadata == stored.metadata)
        // Metadata JSON keeps OCI field names inside config.
        let json = readText(stored.metadataPath) ?? ""
        #expect(json.contains("\"Cmd\"") && json.contains("\"rootfsSize\"") && json.contains("\"source\""))
        #expect(try store.find(try ImageTag(parsing: "alpine:missing")) == nil)
        #expect(throws: FirebuildError.self) { try store.get(try ImageTag(parsing: "alpine:missing")) }
        #expect(DirectoryOps.children(tmp.path + "/rootfs/.tmp").isEmpty)
    }

    @Test func moveCommitRenames() throws {
        let tmp = try TempDir()
        let store = ImageStore(root: tmp.path + "/rootfs")
        let scratch = try store.makeScratchDirectory()
        try writeFile(scratch + "/built.ext4", Data("built".utf8))
        try store.commit(rootfs: scratch + "/built.ext4", metadata: metadata("m"), as: try ImageTag(parsing: "acme/app:1"), move: true)
        #expect(!FileManager.default.fileExists(atPath: scratch + "/built.ext4"))
        #expect(readText(store.directory(for: try ImageTag(parsing: "acme/app:1")) + "/rootfs") == "built")
    }

    @Test func replaceListRetagRemove() throws {
        let tmp = try TempDir()
        let store = ImageStore(root: tmp.path + "/rootfs")
        let t1 = try ImageTag(parsing: "acme/web:1"), t2 = try ImageTag(parsing: "acme/web:2"), base = try ImageTag(parsing: "base")
        for (tag, text) in [(t1, "one"), (base, "base")] {
            try writeFile(tmp.path + "/f", Data(text.utf8))
            try store.commit(rootfs: tmp.path + "/f", metadata: metadata(text), as: tag)
        }
        // Re-committing a tag replaces it whole.
        try writeFile(tmp.path + "/f", Data("one-v2".utf8))
        try store.commit(rootfs: tmp.path + "/f", metadata: metadata("one-v2"), as: t1)
        #expect(readText(try store.get(t1).rootfsPath) == "one-v2")
        #expect(try store.get(t1).metadata.source.reference == "one-v2")

        try store.tag(t1, as: t2)
        #expect(store.list().map(\.tag.description) == ["_/base:latest", "acme/web:1", "acme/web:2"])
        let copy = try store.get(t2)
        #expect(readText(copy.rootfsPath) == "one-v2" && copy.metadata.tag == "acme/web:2")
        // The copy is independent of the original.
        try writeFile(try store.get(t1).rootfsPath, Data("changed".utf8))
        #expect(readText(copy.rootfsPath) == "one-v2")

        try store.remove(t1)
        #expect(!store.exists(t1) && store.exists(t2))
        try store.remove(t2)
        #expect(!FileManager.default.fileExists(atPath: tmp.path + "/rootfs/acme"))  // empty parents removed
        #expect(throws: FirebuildError.self) { try store.remove(t2) }
        #expect(throws: FirebuildError.self) { try store.tag(t2, as: t1) }
        #expect(store.list().map(\.tag.description) == ["_/base:latest"])
    }

    @Test func checkoutCopiesUnderLock() throws {
        let tmp = try TempDir()
        let store = ImageStore(root: tmp.path + "/rootfs")
        let tag = try ImageTag(parsing: "x/y:1")
        try writeFile(tmp.path + "/f", Data("payload".utf8))
        try store.commit(rootfs: tmp.path + "/f", metadata: metadata("p"), as: tag)
        let meta = try store.checkout(tag, to: tmp.path + "/run/rootfs")
        #expect(meta.tag == "x/y:1" && readText(tmp.path + "/run/rootfs") == "payload")
    }

    @Test func listSkipsJunk() throws {
        let tmp = try TempDir()
        let store = ImageStore(root: tmp.path + "/rootfs")
        try writeFile(tmp.path + "/rootfs/acme/broken/1/rootfs", Data())
        try writeFile(tmp.path + "/rootfs/acme/broken/1/metadata.json", Data("{".utf8))
        try writeFile(tmp.path + "/rootfs/acme/nometa/1/other", Data())
        try writeFile(tmp.path + "/rootfs/UPPER/x/1/rootfs", Data())
        #expect(store.list().isEmpty)
        #expect(throws: FirebuildError.self) { try store.get(try ImageTag(parsing: "acme/broken:1")) }
    }

    /// Two writers of one tag, many rounds each, and a reader: every read sees a complete image
    /// and the end state is one writer's image, rootfs and metadata from the same commit.
    @Test func concurrentWritersNeverMix() throws {
        let tmp = try TempDir()
        let store = ImageStore(root: tmp.path + "/rootfs")
        let tag = try ImageTag(parsing: "race/app:1")
        let payloadSize = 256 * 1024
        for w in ["A", "B"] {
            try writeFile(tmp.path + "/\(w)", Data(repeating: UInt8(ascii: w == "A" ? "A" : "B"), count: payloadSize))
        }
        let errors = ErrorBox()
        let done = DispatchGroup()
        let stopReading = AtomicFlag()
        for w in ["A", "B"] {
            // Plain threads, not DispatchQueue.global(): Command runs its pipe readers on the global
            // queue, whose pool is only as wide as the core count; blocking it from here deadlocks.
            done.enter()
            Thread {
                defer { done.leave() }
                do {
                    for i in 0..<15 {
                        try store.commit(rootfs: tmp.path + "/\(w)", metadata: self.metadata("\(w)-\(i)"), as: tag)
                    }
                } catch { errors.add("\(error)") }
            }.start()
        }
        let reader = DispatchGroup()
        reader.enter()
        Thread {
            defer { reader.leave() }
            while !stopReading.isSet {
                // Consistent reads take the tag lock (checkout); the pair must match.
                guard store.exists(tag) else { usleep(1000); continue }
                do {
                    let dest = tmp.path + "/read-\(UInt32.random(in: 0...UInt32.max))"
                    let meta = try store.checkout(tag, to: dest)
                    let data = FileManager.default.contents(atPath: dest) ?? Data()
                    let writer = meta.source.reference?.prefix(1) ?? "?"
                    if data.count != payloadSize || Set(data) != [UInt8(ascii: writer == "A" ? "A" : "B")] {
                        errors.add("mixed read: metadata \(meta.source.reference ?? "-") with \(data.count) bytes of \(Set(data))")
                    }
                    unlink(dest)
                } catch { errors.add("read: \(error)") }
            }
        }.start()
        done.wait()
        stopReading.set()
        reader.wait()
        #expect(errors.all.isEmpty, "\(errors.all)")
        let final = try store.get(tag)
        let data = FileManager.default.contents(atPath: final.rootfsPath) ?? Data()
        let writer = final.metadata.source.reference?.prefix(1)
        #expect(final.metadata.source.reference?.hasSuffix("-14") == true)
        #expect(data.count == payloadSize && Set(data) == [UInt8(ascii: writer == "A" ? "A" : "B")])
        #expect(DirectoryOps.children(tmp.path + "/rootfs/.tmp").isEmpty)
        #expect(store.list().count == 1)
    }

    @Test func staleStagingIsCleaned() throws {
        let tmp = try TempDir()
        let store = ImageStore(root: tmp.path + "/rootfs")
        // PIDs above pid_max never exist.
        try writeFile(tmp.path + "/rootfs/.tmp/99999999-1/rootfs", Data())
        let mine = try store.makeScratchDirectory()
        #expect(store.cleanStaleStaging() == 1)
        #expect(FileManager.default.fileExists(atPath: mine))
    }
}

final class ErrorBox: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    func add(_ s: String) { lock.lock(); items.append(s); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return items }
}

final class AtomicFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.lock(); value = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}
