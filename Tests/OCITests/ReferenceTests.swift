import Foundation
import FirebuildCore
import Testing
@testable import OCI

/// Modelled on distribution/reference's normalize tests: input → fully qualified form.
@Suite struct ReferenceTests {
    static let digest = "sha256:" + String(repeating: "ab", count: 32)

    static let valid: [(String, String)] = [
        ("alpine", "docker.io/library/alpine:latest"),
        ("alpine:3.19", "docker.io/library/alpine:3.19"),
        ("library/alpine", "docker.io/library/alpine:latest"),
        ("docker.io/alpine", "docker.io/library/alpine:latest"),
        ("index.docker.io/library/alpine:edge", "docker.io/library/alpine:edge"),
        ("user/app", "docker.io/user/app:latest"),
        ("user/app/sub:1", "docker.io/user/app/sub:1"),
        ("ghcr.io/org/app:v1.2.3", "ghcr.io/org/app:v1.2.3"),
        ("localhost/app", "localhost/app:latest"),
        ("localhost:5000/app:t", "localhost:5000/app:t"),
        ("127.0.0.1:5000/fbx/bookworm:minbase", "127.0.0.1:5000/fbx/bookworm:minbase"),
        ("[::1]:5000/x", "[::1]:5000/x:latest"),
        ("[2001:db8::1]/ns/x:1", "[2001:db8::1]/ns/x:1"),
        ("Registry.Example.com/app", "Registry.Example.com/app:latest"),
        ("my-registry.example:443/a/b_c/d__e/f-g/h.i:Tag_1.0-x", "my-registry.example:443/a/b_c/d__e/f-g/h.i:Tag_1.0-x"),
        ("a---b/c", "docker.io/a---b/c:latest"),
        ("alpine@\(digest)", "docker.io/library/alpine@\(digest)"),
        ("alpine:3@\(digest)", "docker.io/library/alpine:3@\(digest)"),
        ("host:5000/app@\(digest)", "host:5000/app@\(digest)"),
        ("localhost:5000", "docker.io/library/localhost:5000"),   // a tag, as in Docker
    ]

    @Test(arguments: valid)
    func normalises(_ input: String, _ expected: String) throws {
        let ref = try ImageReference(parsing: input)
        #expect(ref.description == expected)
        // Normalisation is idempotent.
        #expect(try ImageReference(parsing: ref.description) == ref)
    }

    static let invalid: [(String, String)] = [
        ("", "empty"),
        ("Alpine", "lowercase"),
        ("user/App", "lowercase"),
        ("alpine:", "tag"),
        ("alpine:-bad", "tag"),
        ("alpine:" + String(repeating: "t", count: 129), "tag"),
        ("alpine@sha256:abc", "digest"),
        ("alpine@md5:" + String(repeating: "a", count: 32), "digest"),
        ("a//b", "path component"),
        ("a/b/", "path component"),
        ("-a/b", "path component"),
        ("a/b-", "path component"),
        ("a/b..c", "path component"),
        ("a/b___c", "path component"),
        ("host:port/x", "registry"),
        ("[::1/x", "registry"),
        ("-host.com/x", "registry"),
        ("host.com:/x", "registry"),
        (String(repeating: "ab", count: 32), "image ID"),
        ("registry.example/" + String(repeating: "a", count: 240), "255"),
        ("docker.io/" + String(repeating: "a/", count: 125) + "b", "255"),
    ]

    @Test(arguments: invalid)
    func rejects(_ input: String, _ reason: String) {
        #expect {
            try ImageReference(parsing: input)
        } throws: { error in
            guard let e = error as? FirebuildError else { return false }
            return e.code == .invalidArgument && e.message.contains(reason)
        }
    }

    @Test func partsAndForms() throws {
        let r = try ImageReference(parsing: "alpine")
        #expect(r.registry == "docker.io")
        #expect(r.repository == "library/alpine")
        #expect(r.tag == "latest")
        #expect(r.familiar == "alpine:latest")
        #expect(r.apiHost == "registry-1.docker.io")
        #expect(!r.isLoopbackRegistry)
        let d = try ImageReference(parsing: "localhost:5000/a/b:1@\(Self.digest)")
        #expect(d.manifestReference == Self.digest)
        #expect(d.isLoopbackRegistry)
        #expect(d.familiar == "localhost:5000/a/b:1@\(Self.digest)")
        #expect(try ImageReference(parsing: "[::1]:5000/x").isLoopbackRegistry)
        #expect(try ImageReference(parsing: "127.0.0.2:1/x").isLoopbackRegistry)
    }

    @Test func platforms() throws {
        #expect(try Platform(parsing: "linux/arm64/v8").description == "linux/arm64/v8")
        #expect(throws: FirebuildError.self) { try Platform(parsing: "linux") }
        let arm = Platform(os: "linux", architecture: "arm64", variant: "v8")
        #expect(arm.matches(Platform(os: "linux", architecture: "arm64")))
        #expect(!Platform(os: "linux", architecture: "arm", variant: "v7").matches(Platform(os: "linux", architecture: "arm", variant: "v6")))
        #expect(Platform.linuxAMD64.matches(Platform(os: "linux", architecture: "amd64", variant: "v3")))
        #expect(!Platform.linuxAMD64.matches(arm))
    }

    @Test func sourcesParse() throws {
        #expect(try ImageSource.parse("alpine") == .registry(try ImageReference(parsing: "alpine")))
        #expect(try ImageSource.parse("docker://x.io/a:1") == .registry(try ImageReference(parsing: "x.io/a:1")))
        #expect(try ImageSource.parse("tarball:/tmp/r.tar") == .rootfsTarball(path: "/tmp/r.tar"))
        #expect(try ImageSource.parse("oci:/nonexistent/x:tag") == .ociLayout(path: "/nonexistent/x:tag", reference: nil))
        #expect(try ImageSource.parse("oci:/tmp:tag") == .ociLayout(path: "/tmp", reference: "tag"))
    }

    @Test func authChallenges() {
        let c = AuthChallenge.parse(#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#)
        #expect(c?.scheme == "bearer")
        #expect(c?.parameters["realm"] == "https://auth.docker.io/token")
        #expect(c?.parameters["scope"] == "repository:library/alpine:pull")
        #expect(AuthChallenge.parse(#"Basic realm="Registry Realm""#)?.scheme == "basic")
    }

    @Test func dockerConfigAuths() throws {
        let json = """
        {"auths": {"https://index.docker.io/v1/": {"auth": "\(Data("hub:secret".utf8).base64EncodedString())"},
                   "127.0.0.1:5000": {"username": "u", "password": "p:w"},
                   "http://reg.example:8080": {"auth": "\(Data("a:b:c".utf8).base64EncodedString())"}}}
        """
        let creds = try DockerConfigCredentials.parse(Data(json.utf8), path: "test")
        #expect(creds.credentials(for: "docker.io") == RegistryCredentials(username: "hub", password: "secret"))
        #expect(creds.credentials(for: "127.0.0.1:5000")?.password == "p:w")
        #expect(creds.credentials(for: "reg.example:8080") == RegistryCredentials(username: "a", password: "b:c"))
        #expect(creds.credentials(for: "other.io") == nil)
        #expect(throws: FirebuildError.self) {
            try DockerConfigCredentials.parse(Data(#"{"auths":{"x":{"auth":"!!!"}}}"#.utf8), path: "bad")
        }
    }
}
