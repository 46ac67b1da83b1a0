import FirebuildCore
import Foundation
import HTTP
import Testing
@testable import OCI

/// One registry with the fixture image pushed in three forms, shared by the suite and torn
/// down when the test process exits.
final class RegistryEnv: @unchecked Sendable {
    let registry: TestRegistry
    let fixtures: ImageFixtures

    static let shared: Result<RegistryEnv, Error> = Result { try RegistryEnv() }
    static var available: Bool { TestRegistry.available && ImageFixtures.available }

    private init() throws {
        fixtures = try ImageFixtures()
        registry = try TestRegistry()
        let (r, f) = (registry, fixtures)
        atExitCleanups.append { r.stop(); f.cleanup() }
        try fixtures.push(tag: "v1", to: "\(registry.host)/fb/busy:v2s2", format: "v2s2")
        try fixtures.push(tag: "v1", to: "\(registry.host)/fb/busy:oci", format: "oci")
        try fixtures.push(tag: "multi", to: "\(registry.host)/fb/busy:multi", all: true)
    }

    static func get() throws -> RegistryEnv { try shared.get() }
}

nonisolated(unsafe) var atExitCleanups: [() -> Void] = {
    atexit { for cleanup in atExitCleanups { cleanup() } }
    return []
}()

/// What every full fixture image must look like once applied.
func checkFixtureTree(_ root: String, withUpperLayer: Bool = true) throws {
    let busybox = try #require(lstatOrNil(root + "/bin/busybox"))
    #expect(busybox.st_mode & 0o777 == 0o755)
    #expect(busybox.st_size == (try #require(lstatOrNil("/bin/busybox"))).st_size)
    #expect(try FileManager.default.destinationOfSymbolicLink(atPath: root + "/bin/sh") == "busybox")
    #expect(try FileManager.default.destinationOfSymbolicLink(atPath: root + "/bin/ls") == "/bin/busybox")
    #expect(try #require(lstatOrNil(root + "/bin/busybox-hard")).st_ino == busybox.st_ino)
    #expect(try #require(lstatOrNil(root + "/bin/suid")).st_mode & 0o7777 == 0o4755)
    #expect(try #require(lstatOrNil(root + "/tmp")).st_mode & 0o7777 == 0o1777)
    #expect(readString(root + "/etc/keep") == "keep\n")
    if geteuid() == 0 {
        #expect(try #require(lstatOrNil(root + "/home/user/.profile")).st_uid == 1000)
        #expect(Xattr.get(root + "/bin/ping", "security.capability") != nil)
    }
    if withUpperLayer {
        #expect(!exists(root + "/etc/hostname"))
        #expect(!exists(root + "/etc/.wh.hostname"))
        #expect(readString(root + "/etc/motd") == "welcome\n")
        #expect(!exists(root + "/opq/old"))
        #expect(!exists(root + "/opq/olddir"))
        #expect(readString(root + "/opq/new") == "new")
    } else {
        #expect(readString(root + "/etc/hostname") == "fixture\n")
        #expect(readString(root + "/opq/old") == "old")
    }
}

@Suite(.enabled(if: RegistryEnv.available, "needs docker-registry, skopeo, umoci, tar and /bin/busybox (apt-get install docker-registry skopeo umoci busybox-static)"))
struct RegistryPullTests {
    func pullAndApply(_ source: ImageSource, options: ResolveOptions = ResolveOptions(),
                      registry: RegistryClient = RegistryClient(dockerConfig: DockerConfigCredentials())) throws -> (ResolvedImage, TempDir) {
        let tmp = try TempDir("pull")
        do {
            let store = try ContentStore(root: tmp.path + "/content")
            let image = try ImageResolver(store: store, registry: registry).resolve(source, options: options)
            let root = try tmp.sub("root")
            try LayerApplier.apply(layers: image.layers, to: root)
            return (image, tmp)
        } catch {
            tmp.cleanup()
            throw error
        }
    }

    @Test func dockerSchema2() throws {
        let env = try RegistryEnv.get()
        let ref = try ImageReference(parsing: "\(env.registry.host)/fb/busy:v2s2")
        let progress = ProgressLog()
        let (image, tmp) = try pullAndApply(.registry(ref), options: ResolveOptions(progress: { progress.add($0) }))
        defer { tmp.cleanup() }
        #expect(image.manifestMediaType == MediaType.dockerManifest)
        #expect(image.layers.count == 2)
        #expect(image.layers.allSatisfy { $0.mediaType == MediaType.dockerLayerGzip })
        #expect(image.config.cmd == ["/bin/sh"])
        #expect(image.config.env?.contains("FOO=bar") == true)
        #expect(image.config.workingDir == "/home/user")
        #expect(image.platform == .linuxAMD64)
        #expect(Array(image.history.map(\.createdBy).prefix(2)) == ["rootfs", "whiteouts"])
        #expect(image.reference == ref)
        try checkFixtureTree(tmp.path + "/root")
        // Progress: every layer reported complete.
        for layer in image.layers {
            #expect(progress.events.contains { $0.layer == layer.digest && $0.completed == $0.total })
        }
    }

    @Test func ociManifestByTagAndDigest() throws {
        let env = try RegistryEnv.get()
        let ref = try ImageReference(parsing: "\(env.registry.host)/fb/busy:oci")
        let (image, tmp) = try pullAndApply(.registry(ref))
        defer { tmp.cleanup() }
        #expect(image.manifestMediaType == MediaType.ociManifest)
        try checkFixtureTree(tmp.path + "/root")
        let pinned = ref.with(tag: nil, digest: image.manifestDigest)
        let (again, tmp2) = try pullAndApply(.registry(pinned))
        defer { tmp2.cleanup() }
        #expect(again.manifestDigest == image.manifestDigest)
        #expect(again.blobDigests == image.blobDigests)
    }

    @Test func indexSelectsPlatform() throws {
        let env = try RegistryEnv.get()
        let ref = try ImageReference(parsing: "\(env.registry.host)/fb/busy:multi")
        let (amd, tmp) = try pullAndApply(.registry(ref))
        defer { tmp.cleanup() }
        #expect(amd.indexDigest != nil)
        #expect(amd.platform.architecture == "amd64")
        #expect(amd.config.env?.contains("ARCH=arm64") == false)
        try checkFixtureTree(tmp.path + "/root")
        let (arm, tmp2) = try pullAndApply(.registry(ref), options: ResolveOptions(platform: try Platform(parsing: "linux/arm64")))
        defer { tmp2.cleanup() }
        #expect(arm.platform.architecture == "arm64")
        #expect(arm.config.env?.contains("ARCH=arm64") == true)
        #expect(arm.manifestDigest != amd.manifestDigest)
        #expect(throws: FirebuildError.self) {
            _ = try pullAndApply(.registry(ref), options: ResolveOptions(platform: try Platform(parsing: "linux/s390x")))
        }
    }

    @Test func missingImageIsNotFound() throws {
        let env = try RegistryEnv.get()
        let tmp = try TempDir("nf")
        defer { tmp.cleanup() }
        let resolver = ImageResolver(store: try ContentStore(root: tmp.path + "/c"), registry: RegistryClient(dockerConfig: DockerConfigCredentials()))
        #expect {
            try resolver.resolve(.registry(try ImageReference(parsing: "\(env.registry.host)/fb/nothing:here")))
        } throws: { ($0 as? FirebuildError)?.code == .notFound }
    }

    @Test func ociLayoutFolder() throws {
        let env = try RegistryEnv.get()
        let (image, tmp) = try pullAndApply(.ociLayout(path: env.fixtures.layout, reference: "v1"))
        defer { tmp.cleanup() }
        #expect(image.config.cmd == ["/bin/sh"])
        try checkFixtureTree(tmp.path + "/root")
        let (multi, tmp2) = try pullAndApply(.ociLayout(path: env.fixtures.layout, reference: "multi"),
                                             options: ResolveOptions(platform: try Platform(parsing: "linux/arm64/v8")))
        defer { tmp2.cleanup() }
        #expect(multi.platform.architecture == "arm64")
    }

    @Test func dockerArchiveLegacyLayout() throws {
        let env = try RegistryEnv.get()
        let archive = env.fixtures.dir.path + "/docker-archive.tar"
        if !FileManager.default.fileExists(atPath: archive) {
            try Command("skopeo", ["copy", "--quiet", "oci:\(env.fixtures.layout):v1", "docker-archive:\(archive):fb/busy:v1"], timeout: 120).check()
        }
        let (image, tmp) = try pullAndApply(.dockerArchive(path: archive, reference: nil))
        defer { tmp.cleanup() }
        #expect(image.reference?.description == "docker.io/fb/busy:v1")
        #expect(image.layers.allSatisfy { $0.mediaType == MediaType.dockerLayerTar })
        #expect(image.config.env?.contains("FOO=bar") == true)
        try checkFixtureTree(tmp.path + "/root")
        #expect(throws: FirebuildError.self) { _ = try pullAndApply(.dockerArchive(path: archive, reference: "other:tag")) }
    }

    /// Docker ≥25 `docker save`: an OCI layout (index.json, oci-layout, blobs/sha256) inside the tar.
    @Test func dockerArchiveOCILayout() throws {
        let env = try RegistryEnv.get()
        let tmpTar = try TempDir("d25")
        defer { tmpTar.cleanup() }
        let archive = tmpTar.path + "/save.tar"
        try Command("tar", ["-C", env.fixtures.layout, "-cf", archive, "."]).check()
        let (image, tmp) = try pullAndApply(.dockerArchive(path: archive, reference: "v1"))
        defer { tmp.cleanup() }
        #expect(image.manifestMediaType == MediaType.ociManifest)
        try checkFixtureTree(tmp.path + "/root")
    }

    @Test func rootfsTarballImport() throws {
        let env = try RegistryEnv.get()
        let tmpTar = try TempDir("imp")
        defer { tmpTar.cleanup() }
        try FileManager.default.copyItem(atPath: env.fixtures.layer1Tar, toPath: tmpTar.path + "/rootfs.tar")
        try Command("gzip", [tmpTar.path + "/rootfs.tar"]).check()
        let (image, tmp) = try pullAndApply(.rootfsTarball(path: tmpTar.path + "/rootfs.tar.gz"))
        defer { tmp.cleanup() }
        #expect(image.layers.count == 1)
        #expect(image.layers[0].mediaType == MediaType.ociLayerGzip)
        #expect(image.diffIDs == [try ContentDigest.sha256(fileAt: env.fixtures.layer1Tar)])
        #expect(image.config == ImageConfig())
        try checkFixtureTree(tmp.path + "/root", withUpperLayer: false)
    }
}

@Suite(.enabled(if: RegistryEnv.available && tool("htpasswd"), "needs docker-registry, skopeo, umoci and htpasswd (apache2-utils)"))
struct RegistryAuthTests {
    @Test func basicAuthFromExplicitAndDockerConfig() throws {
        let env = try RegistryEnv.get()
        let secured = try TestRegistry(auth: (user: "fbuser", password: "s3cret"))
        defer { secured.stop() }
        try env.fixtures.push(tag: "v1", to: "\(secured.host)/fb/private:1", creds: "fbuser:s3cret")
        let ref = try ImageReference(parsing: "\(secured.host)/fb/private:1")
        let tmp = try TempDir("auth")
        defer { tmp.cleanup() }
        let store = try ContentStore(root: tmp.path + "/c")

        let anonymous = RegistryClient(dockerConfig: DockerConfigCredentials())
        #expect {
            try ImageResolver(store: store, registry: anonymous).resolve(.registry(ref))
        } throws: { ($0 as? FirebuildError)?.code == .permission }

        let wrong = RegistryClient(credentials: [secured.host: RegistryCredentials(username: "fbuser", password: "nope")],
                                   dockerConfig: DockerConfigCredentials())
        #expect(throws: FirebuildError.self) { try ImageResolver(store: store, registry: wrong).resolve(.registry(ref)) }

        let explicit = RegistryClient(credentials: [secured.host: RegistryCredentials(username: "fbuser", password: "s3cret")],
                                      dockerConfig: DockerConfigCredentials())
        let image = try ImageResolver(store: store, registry: explicit).resolve(.registry(ref))
        #expect(image.layers.count == 2)

        let configPath = tmp.path + "/docker/config.json"
        try writeFile(configPath, Data(#"{"auths":{"\#(secured.host)":{"auth":"\#(Data("fbuser:s3cret".utf8).base64EncodedString())"}}}"#.utf8))
        let fromConfig = RegistryClient(dockerConfig: try DockerConfigCredentials.load(path: configPath))
        let store2 = try ContentStore(root: tmp.path + "/c2")
        let again = try ImageResolver(store: store2, registry: fromConfig).resolve(.registry(ref))
        #expect(again.manifestDigest == image.manifestDigest)
    }

    @Test func corruptBlobIsRejectedAndNotStored() throws {
        let env = try RegistryEnv.get()
        let reg = try TestRegistry()
        defer { reg.stop() }
        try env.fixtures.push(tag: "v1", to: "\(reg.host)/fb/corrupt:1", format: "oci")
        let ref = try ImageReference(parsing: "\(reg.host)/fb/corrupt:1")
        let tmp = try TempDir("corrupt")
        defer { tmp.cleanup() }
        let client = RegistryClient(dockerConfig: DockerConfigCredentials())
        let manifest = try JSONHelpers.decode(ImageManifest.self, try client.manifest(ref).data, what: "m")
        let victim = manifest.layers[1].digest
        // Flip the stored bytes (same size) behind the registry's back.
        let blobFile = "\(reg.storageRoot)/docker/registry/v2/blobs/sha256/\(victim.hex.prefix(2))/\(victim.hex)/data"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: blobFile))
        bytes[bytes.count / 2] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: blobFile))
        let store = try ContentStore(root: tmp.path + "/c")
        #expect {
            try ImageResolver(store: store, registry: client).resolve(.registry(ref))
        } throws: { ($0 as? FirebuildError)?.code == .digestMismatch }
        #expect(!store.contains(victim))
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp.path + "/c/ingest").isEmpty)
    }
}

final class ProgressLog: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [PullProgress] = []
    func add(_ p: PullProgress) { lock.lock(); list.append(p); lock.unlock() }
    var events: [PullProgress] { lock.lock(); defer { lock.unlock() }; return list }
}
