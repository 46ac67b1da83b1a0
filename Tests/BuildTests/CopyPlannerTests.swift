import Build
import FirebuildCore
import Foundation
import Testing

/// A context directory built per test and removed after.
final class TempTree {
    let root: String
    init(_ files: [String: String], dirs: [String] = [], modes: [String: mode_t] = [:], links: [String: String] = [:]) throws {
        root = "/tmp/fbbuild-\(UInt32.random(in: 0...UInt32.max))"
        let fm = FileManager.default
        try fm.createDirectory(atPath: root, withIntermediateDirectories: true)
        for d in dirs { try fm.createDirectory(atPath: root + "/" + d, withIntermediateDirectories: true) }
        for (p, c) in files {
            try fm.createDirectory(atPath: (root + "/" + p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try AtomicFile.write(c, to: root + "/" + p, mode: modes[p] ?? 0o644)
        }
        for (p, t) in links { try fm.createSymbolicLink(atPath: root + "/" + p, withDestinationPath: t) }
    }
    deinit { try? FileManager.default.removeItem(atPath: root) }
}

@Suite struct GoGlobTests {
    @Test(arguments: [
        ("*.txt", "a.txt", true), ("*.txt", "dir/a.txt", false), ("a?c", "abc", true), ("a?c", "a/c", false),
        ("[a-c]x", "bx", true), ("[^a-c]x", "bx", false), ("[^a-c]x", "dx", true), ("\\*", "*", true),
        ("dir/*", "dir/f", true), ("*", "", true), ("a*b*c", "axxbyyc", true), ("a*b", "a/b", false),
    ])
    func matches(pattern: String, name: String, expected: Bool) throws {
        #expect(try GoGlob.match(pattern, name) == expected)
    }

    @Test(arguments: ["[", "[a-", "a\\", "[]a"])
    func badPatternsThrow(pattern: String) {
        #expect(throws: FirebuildError.self) { try GoGlob.match(pattern, "zzz") }
    }
}

@Suite struct CopyPlannerTests {
    let tree: TempTree
    init() throws {
        tree = try TempTree(["a.txt": "A", "b.txt": "B", "run.sh": "#!/bin/sh\n", "src/x.go": "x", "src/sub/y.go": "y",
                             "docs/r.md": "r", "secret.key": "k"],
                            dirs: ["empty"], modes: ["run.sh": 0o755], links: ["link": "a.txt"])
    }

    func plan(_ spec: CopySpec, existing: [String: SourceTree.Kind] = [:], ignore: Set<String> = []) throws -> [FileOp] {
        let filter = ContextFilter { p, _ in ignore.contains(p) }
        let planner = CopyPlanner(tree: SourceTree(root: tree.root, filter: filter), scratchDir: tree.root + "/.scratch") { existing[$0] }
        return try planner.plan(spec)
    }

    func paths(_ ops: [FileOp]) -> [String] { ops.map(\.path) }

    // (sources, destination, workdir, existing dir?, expected paths) — the Docker reference cases.
    // A missing receiving directory comes first (root-owned 0755, see ownersModesAndChmod).
    @Test(arguments: [
        (["a.txt"], "/dst", "/", false, ["/dst"]),                       // file to a new name
        (["a.txt"], "/dst/", "/", false, ["/dst", "/dst/a.txt"]),        // trailing slash: into the directory
        (["a.txt"], "/dst", "/", true, ["/dst/a.txt"]),                  // existing directory
        (["a.txt"], "rel", "/app", false, ["/app", "/app/rel"]),         // relative to WORKDIR
        (["a.txt"], ".", "/app", false, ["/app", "/app/a.txt"]),         // "." is the WORKDIR itself
        (["a.txt", "b.txt"], "/d/", "/", false, ["/d", "/d/a.txt", "/d/b.txt"]),
        (["*.txt"], "/d", "/", false, ["/d", "/d/a.txt", "/d/b.txt"]),   // wildcard with 2 matches: a directory
        (["src"], "/s", "/", false, ["/s", "/s/sub", "/s/sub/y.go", "/s/x.go"]),  // directory contents
        (["nothing*"], "/d/", "/", false, [String]()),                   // empty wildcard is fine
        (["../../a.txt"], "/z", "/", false, ["/z"]),                     // cannot climb out of the context
    ])
    func destinations(sources: [String], dest: String, workdir: String, existingDir: Bool, expected: [String]) throws {
        let ops = try plan(CopySpec(sources: sources.map { .path($0) }, destination: dest, workingDir: workdir),
                           existing: existingDir ? [BuildPath.clean(dest): .directory] : [:])
        #expect(paths(ops) == expected)
    }

    @Test func multipleSourcesNeedTrailingSlash() {
        #expect(throws: FirebuildError.self) { try plan(CopySpec(sources: [.path("a.txt"), .path("b.txt")], destination: "/d")) }
    }

    @Test func missingSourceIsAnError() {
        #expect(throws: FirebuildError.self) { try plan(CopySpec(sources: [.path("nope.txt")], destination: "/d")) }
    }

    @Test func dockerignoreHidesFiles() throws {
        #expect(throws: FirebuildError.self) { try plan(CopySpec(sources: [.path("secret.key")], destination: "/d"), ignore: ["secret.key"]) }
        let ops = try plan(CopySpec(sources: [.path(".")], destination: "/ctx/"), ignore: ["secret.key", "docs"])
        #expect(!paths(ops).contains("/ctx/secret.key"))
        #expect(!paths(ops).contains { $0.hasPrefix("/ctx/docs") })
        #expect(paths(ops).contains("/ctx/src/sub/y.go"))
    }

    @Test func ownersModesAndChmod() throws {
        let ops = try plan(CopySpec(sources: [.path("run.sh"), .path("a.txt")], destination: "/bin/", chown: "app:staff", chmod: "0750"))
        #expect(ops == [
            .directory(path: "/bin", mode: 0o755, owner: .name("app:staff")),  // missing: made for the --chown user
            .file(path: "/bin/run.sh", content: .host(tree.root + "/run.sh"), mode: 0o750, owner: .name("app:staff")),
            .file(path: "/bin/a.txt", content: .host(tree.root + "/a.txt"), mode: 0o750, owner: .name("app:staff")),
        ])
        let plain = try plan(CopySpec(sources: [.path("run.sh")], destination: "/x"))
        #expect(plain == [.file(path: "/x", content: .host(tree.root + "/run.sh"), mode: 0o755, owner: .ids(uid: 0, gid: 0))])
        let numeric = try plan(CopySpec(sources: [.path("a.txt")], destination: "/x", chown: "1000"))
        #expect(numeric.first == .file(path: "/x", content: .host(tree.root + "/a.txt"), mode: 0o644, owner: .ids(uid: 1000, gid: 1000)))
        #expect(throws: FirebuildError.self) { try plan(CopySpec(sources: [.path("a.txt")], destination: "/x", chmod: "u+x")) }
        // Owners kept from the source (--from, archives) never own the missing receiving directory.
        let stage = CopyPlanner(tree: SourceTree(root: tree.root, preserveOwnership: true), scratchDir: tree.root + "/.s")
        let kept = try stage.plan(CopySpec(sources: [.path("a.txt")], destination: "/new/dir/"))
        #expect(kept.first == .directory(path: "/new/dir", mode: 0o755, owner: .ids(uid: 0, gid: 0)))
    }

    /// A source that is a symlink is followed (BuildKit: FollowSymlinks), under its own name; links
    /// inside a copied directory stay links.
    @Test func symlinkSourcesAreFollowedNestedLinksKept() throws {
        let ops = try plan(CopySpec(sources: [.path("link")], destination: "/l"))
        #expect(ops == [.file(path: "/l", content: .host(tree.root + "/a.txt"), mode: 0o644, owner: .ids(uid: 0, gid: 0))])
        let into = try plan(CopySpec(sources: [.path("link")], destination: "/d/"), existing: ["/d": .directory])
        #expect(into == [.file(path: "/d/link", content: .host(tree.root + "/a.txt"), mode: 0o644, owner: .ids(uid: 0, gid: 0))])
        let all = try plan(CopySpec(sources: [.path(".")], destination: "/ctx/"))
        #expect(all.contains(.symlink(path: "/ctx/link", target: "a.txt", owner: .ids(uid: 0, gid: 0))))
        let dangling = try TempTree([:], links: ["bad": "../../etc/passwd"])
        let planner = CopyPlanner(tree: SourceTree(root: dangling.root), scratchDir: dangling.root + "/.s")
        #expect(throws: FirebuildError.self) { try planner.plan(CopySpec(sources: [.path("bad")], destination: "/x")) }
    }

    @Test func parentsKeepsTheSourcePath() throws {
        let ops = try plan(CopySpec(sources: [.path("src/sub/y.go"), .path("docs/r.md")], destination: "/p/", parents: true))
        #expect(paths(ops) == ["/p", "/p/src", "/p/src/sub", "/p/src/sub/y.go", "/p/docs", "/p/docs/r.md"])
        let pivot = try plan(CopySpec(sources: [.path("src/./sub/y.go")], destination: "/p/", parents: true))
        #expect(paths(pivot) == ["/p", "/p/sub", "/p/sub/y.go"])
    }

    @Test func excludeSkipsMatches() throws {
        let ops = try plan(CopySpec(sources: [.path("src")], destination: "/s", excludes: ["*.go"]))
        #expect(!paths(ops).contains { $0.hasSuffix(".go") })
    }

    @Test func heredocAndDownloadSources() throws {
        let ops = try plan(CopySpec(sources: [.inline(name: "hello", data: "hi\n")], destination: "/etc/"), existing: ["/etc": .directory])
        #expect(ops == [.file(path: "/etc/hello", content: .bytes(Array("hi\n".utf8)), mode: 0o644, owner: nil)])
        let dl = try plan(CopySpec(isAdd: true, sources: [.download(hostPath: "/tmp/x", fileName: "f.tgz")], destination: "/d/"))
        #expect(dl == [.directory(path: "/d", mode: 0o755, owner: .ids(uid: 0, gid: 0)),
                       .file(path: "/d/f.tgz", content: .host("/tmp/x"), mode: 0o600, owner: nil)])
    }

    @Test(arguments: ["", "z", "j", "J"])
    func addUnpacksLocalArchives(flag: String) throws {
        let work = try TempTree(["in/top/file.txt": "data"])
        let archive = work.root + "/a.tar"
        try Command("tar", ["-c\(flag)f", archive, "-C", work.root + "/in", "top"]).check()
        let t = try TempTree([:])
        try FileManager.default.copyItem(atPath: archive, toPath: t.root + "/a.tar")
        let planner = CopyPlanner(tree: SourceTree(root: t.root), scratchDir: t.root + "/.s")
        let ops = try planner.plan(CopySpec(isAdd: true, sources: [.path("a.tar")], destination: "/opt"))
        #expect(ops.map(\.path) == ["/opt", "/opt/top", "/opt/top/file.txt"])
        // COPY never unpacks.
        let copied = try planner.plan(CopySpec(sources: [.path("a.tar")], destination: "/opt/"))
        #expect(copied.map(\.path) == ["/opt", "/opt/a.tar"])
    }

    @Test func contentDigestFollowsFileBytes() throws {
        let spec = CopySpec(sources: [.path("a.txt")], destination: "/a")
        let d1 = try StepKey.contentDigest(try plan(spec))
        try AtomicFile.write("changed", to: tree.root + "/a.txt")
        let d2 = try StepKey.contentDigest(try plan(spec))
        #expect(d1 != d2)
    }
}
