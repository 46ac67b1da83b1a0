@testable import Build
import FirebuildCore
import Foundation
import Testing

@Suite struct DockerfileSourceTests {
    @Test(arguments: [
        ("git+https://example.com/org/repo.git:/docker/Dockerfile#v1.2", "https://example.com/org/repo.git", "docker/Dockerfile", "v1.2"),
        ("git+http://h:8080/r.git:/Dockerfile", "http://h:8080/r.git", "Dockerfile", nil),
        ("git+ssh://git@h/r.git#main", "ssh://git@h/r.git", "Dockerfile", "main"),
        ("ssh://git@h:2222/x/r.git:/a/b/Dockerfile#abc123", "ssh://git@h:2222/x/r.git", "a/b/Dockerfile", "abc123"),
        ("git://h/r.git:/Dockerfile", "git://h/r.git", "Dockerfile", nil),
    ] as [(String, String, String, String?)])
    func gitForms(spec: String, repo: String, path: String, ref: String?) throws {
        #expect(try DockerfileSource.classify(spec) == .git(repository: repo, dockerfilePath: path, ref: ref))
    }

    @Test func otherForms() throws {
        #expect(try DockerfileSource.classify("https://h/x/Dockerfile") == .http("https://h/x/Dockerfile"))
        #expect(try DockerfileSource.classify("FROM alpine") == .text("FROM alpine"))
        #expect(try DockerfileSource.classify("from alpine\nRUN true") == .text("from alpine\nRUN true"))
        #expect(try DockerfileSource.classify("/etc/hostname") == .file("/etc/hostname"))
        #expect(throws: FirebuildError.self) { try DockerfileSource.classify("/no/such/Dockerfile") }
        #expect(throws: FirebuildError.self) { try DockerfileSource.classify("  ") }
        #expect(DockerfileResolver.folderURL(of: "http://127.0.0.1:8000/a/b/Dockerfile?x=1") == "http://127.0.0.1:8000/a/b/")
    }

    @Test func localFileUsesItsFolderAndDockerignore() throws {
        let t = try TempTree(["app/Dockerfile": "FROM scratch\nCOPY . /\n", "app/keep.txt": "k", "app/drop.log": "d",
                              "app/.dockerignore": "*.log\n"])
        let r = try DockerfileResolver().resolve(.file(t.root + "/app/Dockerfile"), contextOverride: nil, scratch: t.root + "/s")
        #expect(r.text.hasPrefix("FROM scratch"))
        guard case .directory(let dir) = r.context.kind else { Issue.record("expected a directory context"); return }
        #expect(dir == t.root + "/app")
        let tree = try r.context.tree(for: ["."], scratch: t.root + "/s")
        let names = try tree.walk("").map(\.relativePath)
        #expect(names.contains("keep.txt") && !names.contains("drop.log"))
    }

    @Test func textWithoutContextCannotCopy() throws {
        let r = try DockerfileResolver().resolve(.text("FROM scratch"), contextOverride: nil, scratch: "/tmp")
        #expect(throws: FirebuildError.self) { try r.context.tree(for: ["a"], scratch: "/tmp") }
    }

    @Test(.enabled(if: Command.which("git") != nil, "needs git to create a fixture repository"))
    func gitSourceChecksOutRefAndUsesCheckoutAsContext() throws {
        let t = try TempTree(["repo/docker/Dockerfile": "FROM scratch\nCOPY hello.txt /\n", "repo/hello.txt": "v1", "repo/.dockerignore": "secret\n",
                              "repo/secret": "s"])
        let repo = t.root + "/repo"
        let git = { (args: [String]) in try Command("git", ["-C", repo, "-c", "user.email=t@e", "-c", "user.name=t"] + args).check() }
        try git(["init", "-q", "-b", "main"])
        try git(["add", "-A"])
        try git(["commit", "-qm", "v1"])
        try git(["tag", "v1"])
        try AtomicFile.write("v2", to: repo + "/hello.txt")
        try git(["commit", "-qam", "v2"])
        let src = try DockerfileSource.classify("git+file://\(repo):/docker/Dockerfile#v1".replacingOccurrences(of: "git+file", with: "git+https"))
        guard case let .git(_, path, ref) = src else { Issue.record("not a git source"); return }
        let r = try DockerfileResolver().resolve(.git(repository: "file://" + repo, dockerfilePath: path, ref: ref),
                                                 contextOverride: nil, scratch: t.root + "/s")
        #expect(r.text.contains("COPY hello.txt"))
        #expect(r.commit?.count == 40)
        let tree = try r.context.tree(for: ["hello.txt"], scratch: t.root + "/s")
        #expect(try String(contentsOfFile: tree.hostPath("hello.txt"), encoding: .utf8) == "v1")
        #expect(tree.entry("secret") == nil)
    }

    @Test(.enabled(if: Command.which("python3") != nil, "needs python3 for a local HTTP server"))
    func httpSourceResolvesRelativeFiles() throws {
        let t = try TempTree(["site/sub/Dockerfile": "FROM scratch\nCOPY hello.txt /\n", "site/sub/hello.txt": "over http",
                              "site/sub/.dockerignore": "nope.txt\n", "site/sub/nope.txt": "x"])
        let port = Int.random(in: 20000...40000)
        let server = Process()
        server.executableURL = URL(fileURLWithPath: Command.which("python3") ?? "/usr/bin/python3")
        server.arguments = ["-m", "http.server", "\(port)", "--bind", "127.0.0.1", "--directory", t.root + "/site"]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        // SIGKILL: the test runner may block SIGTERM, and children inherit the mask.
        defer { kill(server.processIdentifier, SIGKILL); server.waitUntilExit() }
        let url = "http://127.0.0.1:\(port)/sub/Dockerfile"
        var resolved: ResolvedDockerfile?
        for _ in 0..<50 {
            resolved = try? DockerfileResolver().resolve(.http(url), contextOverride: nil, scratch: t.root + "/s")
            if resolved != nil { break }
            usleep(100_000)
        }
        let r = try #require(resolved)
        #expect(r.text.contains("COPY hello.txt"))
        #expect(r.context.kind == .remote("http://127.0.0.1:\(port)/sub/"))
        let tree = try r.context.tree(for: ["hello.txt"], scratch: t.root + "/s")
        #expect(try String(contentsOfFile: tree.hostPath("hello.txt"), encoding: .utf8) == "over http")
        let planner = CopyPlanner(tree: try r.context.tree(for: ["nope.txt"], scratch: t.root + "/s2"), scratchDir: t.root + "/s3")
        #expect(throws: FirebuildError.self) { try planner.plan(CopySpec(sources: [.path("nope.txt")], destination: "/x")) }
    }
}

@Suite struct BuildCacheTests {
    @Test func indexChainsAndPrune() throws {
        let t = try TempTree([:])
        let cache = BuildCache(root: t.root + "/cache")
        try FileManager.default.createDirectory(atPath: cache.layersDir, withIntermediateDirectories: true)
        try AtomicFile.write("base", to: t.root + "/b.raw")
        try cache.addBase(key: "B", preparedImage: t.root + "/b.raw", description: "scratch")
        let l1 = cache.newLayerPath("k1"), l2 = cache.newLayerPath("k2")
        try AtomicFile.write("1", to: l1)
        try AtomicFile.write("2", to: l2)
        try cache.add(key: "k1", parent: nil, base: "B", layerFile: l1, description: "RUN a")
        try cache.add(key: "k2", parent: "k1", base: "B", layerFile: l2, description: "RUN b")
        #expect(try cache.lookup("k2")?.parent == "k1")
        try AtomicFile.write("partial", to: cache.newLayerPath("k3"))  // a killed build's leftover
        unlink(l1)                                                     // a broken chain is a miss
        #expect(try cache.lookup("k2") == nil)
        try cache.prune(olderThan: Date.distantPast)
        let (entries, bases) = try cache.list()
        #expect(entries.isEmpty == false)
        try cache.prune()
        #expect(try cache.list().entries.isEmpty)
        #expect(try cache.list().bases.isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: cache.layersDir).isEmpty)
        _ = bases
    }

    @Test func stepKeysChain() {
        let a = StepKey.key(parent: "p", parts: ["RUN x"]), b = StepKey.key(parent: "p", parts: ["RUN y"])
        #expect(a != b)
        #expect(StepKey.key(parent: a, parts: ["z"]) != StepKey.key(parent: b, parts: ["z"]))
        #expect(a == StepKey.key(parent: "p", parts: ["RUN x"]))
        #expect(StepKey.key(parent: "p", parts: ["ab", "c"]) != StepKey.key(parent: "p", parts: ["a", "bc"]))
    }
}
