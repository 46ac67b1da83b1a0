import FirebuildCore
import Testing
@testable import Store

@Suite struct ImageTagTests {
    @Test(arguments: [
        ("acme/web:1.0", "acme", "web", "1.0"),
        ("web:1.0", "_", "web", "1.0"),
        ("web", "_", "web", "latest"),
        ("acme/web", "acme", "web", "latest"),
        ("_/alpine:3.19", "_", "alpine", "3.19"),
        ("combust-labs/consul:1.9.4", "combust-labs", "consul", "1.9.4"),
        ("a.b_c-d/e__f:V_1.2-rc3", "a.b_c-d", "e__f", "V_1.2-rc3"),
        ("x/y:_", "x", "y", "_"),
        ("a--b/c:1", "a--b", "c", "1"),
    ])
    func valid(text: String, org: String, name: String, version: String) throws {
        let tag = try ImageTag(parsing: text)
        #expect(tag.org == org && tag.name == name && tag.version == version)
        #expect(try ImageTag(parsing: tag.description) == tag)
        #expect(tag.relativePath == "\(org)/\(name)/\(version)")
    }

    @Test(arguments: [
        "", "Foo/bar:1", "acme/Web:1", "a/b/c:1", "/web:1", "acme/:1", "acme/web:", "acme/web:.1", "acme/web:-1",
        "-acme/web:1", "acme-/web:1", "ac..me/web:1", "a___b/c:1", "a._b/c:1", "acme/web:1 ", " acme/web:1", "acme/web@sha256:abc",
        "acme/web:1/2", "ac me/web:1", "acme/w\u{e9}b:1", String(repeating: "a", count: 129) + ":1",
        "acme/web:" + String(repeating: "v", count: 129), "../web:1", "acme/..:1", ".hidden/web:1",
    ])
    func invalid(text: String) {
        #expect(throws: FirebuildError.self) { try ImageTag(parsing: text) }
    }

    @Test(arguments: [
        ("alpine", "_/alpine:latest"),
        ("alpine:3.19", "_/alpine:3.19"),
        ("docker.io/library/alpine:3.19", "_/alpine:3.19"),
        ("registry.access.redhat.com/ubi8/ubi-minimal:8.3", "ubi8/ubi-minimal:8.3"),
        ("127.0.0.1:5000/acme/tools/web:2", "tools/web:2"),
        ("localhost/app", "_/app:latest"),
        ("localhost:5000/app:v1", "_/app:v1"),
        ("ghcr.io/Acme/Web:1", "acme/web:1"),
        ("busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "_/busybox:sha256-0123456789ab"),
        ("quay.io/org/app:1@sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210", "org/app:sha256-fedcba987654"),
    ])
    func derived(reference: String, expected: String) throws {
        #expect(try ImageTag.derived(fromReference: reference).description == expected)
    }

    @Test func shortDescription() throws {
        #expect(try ImageTag(parsing: "alpine:3").shortDescription == "alpine:3")
        #expect(try ImageTag(parsing: "a/b:3").shortDescription == "a/b:3")
    }
}
