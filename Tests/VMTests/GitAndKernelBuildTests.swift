import FirebuildCore
import Foundation
import Git
import Store
import Testing
@testable import VM

@Suite struct GitAndKernelBuildTests {
    /// A local repository with a tag on the first commit and a branch with a second one.
    func makeRepo(_ dir: String) throws -> (v1: String, feature: String) {
        func git(_ args: String...) throws -> String {
            try Command("git", ["-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"] + args)
                .check().stdoutString.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        _ = try git("init", "-q")
        try "one\n".write(toFile: dir + "/file.txt", atomically: true, encoding: .utf8)
        _ = try git("add", "file.txt")
        _ = try git("commit", "-q", "-m", "first")
        _ = try git("tag", "v1")
        let v1 = try git("rev-parse", "HEAD")
        _ = try git("checkout", "-q", "-b", "feature")
        try "two\n".write(toFile: dir + "/file.txt", atomically: true, encoding: .utf8)
        _ = try git("commit", "-q", "-am", "second")
        let feature = try git("rev-parse", "HEAD")
        _ = try git("checkout", "-q", "main")
        return (v1, feature)
    }

    @Test(.enabled(if: Command.which("git") != nil, "needs git to create the test repository"))
    func clonesLocalRepoAtRefs() throws {
        let dir = Fixtures.tempDir("git")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (v1, feature) = try makeRepo(dir + "/origin")
        let url = "file://\(dir)/origin"
        for (ref, commit, content) in [("v1", v1, "one\n"), ("feature", feature, "two\n"), (feature, feature, "two\n"), (nil, v1, "one\n")] {
            let dest = dir + "/clone-\(UInt32.random(in: 0...UInt32.max))"
            let got = try GitRepository.clone(url: url, to: dest, ref: ref)
            #expect(got == commit, "ref \(ref ?? "HEAD")")
            #expect(try String(contentsOfFile: dest + "/file.txt", encoding: .utf8) == content)
        }
        #expect(throws: FirebuildError.self) { try GitRepository.clone(url: url, to: dir + "/bad", ref: "no-such-ref") }
        #expect(throws: FirebuildError.self) { try GitRepository.clone(url: "file://\(dir)/missing", to: dir + "/bad2") }
    }

    @Test func sourceParsing() throws {
        #expect(GitSource(parsing: "https://git.kernel.org/linux.git#v6.1") == GitSource(parsing: "https://git.kernel.org/linux.git#v6.1"))
        #expect(GitSource(parsing: "https://x/linux.git#v6.1").ref == "v6.1")
        #expect(GitSource(parsing: "https://x/linux.git").ref == nil)
        #expect(GitSource.isGitURL("git@github.com:torvalds/linux.git"))
        #expect(!GitSource.isGitURL("/usr/src/linux"))
        #expect(try KernelBuilder.Source(parsing: "/tmp") == .directory("/tmp"))
        #expect(try KernelBuilder.Source(parsing: "file:///src/linux#v6.1") == .git(GitSource(parsing: "file:///src/linux#v6.1")))
        #expect(throws: FirebuildError.self) { try KernelBuilder.Source(parsing: "/definitely/not/here") }
    }

    @Test func makeCommandLines() {
        let b = KernelBuilder(source: .directory("/src/linux"), configFile: "/c", jobs: 2)
        #expect(b.makeCommands(tree: "/src/linux").map { $0.describe() } == [
            "make -C /src/linux olddefconfig", "make -C /src/linux -j2 vmlinux",
        ])
    }

    @Test(.enabled(if: Command.which("git") != nil, "needs git"))
    func buildClonesThenRunsMake() throws {
        // A fake "kernel tree" whose Makefile produces a vmlinux (a copy of busybox, a real ELF):
        // proves clone → .config → make olddefconfig → make vmlinux → import, without a real kernel build.
        guard Command.which("make") != nil else { print("skip: make not installed"); return }
        let dir = Fixtures.tempDir("kbuild")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let origin = dir + "/origin"
        _ = try makeRepo(origin)
        try "olddefconfig:\n\techo CONFIG_FB_DONE=y >> .config\nvmlinux:\n\tcp /bin/busybox vmlinux\n"
            .write(toFile: origin + "/Makefile", atomically: true, encoding: .utf8)
        try Command("git", ["-C", origin, "-c", "user.name=t", "-c", "user.email=t@e", "add", "Makefile"]).check()
        try Command("git", ["-C", origin, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "-m", "mk"]).check()
        try "CONFIG_X=y\n".write(toFile: dir + "/cfg", atomically: true, encoding: .utf8)
        let store = KernelStore(root: dir + "/kernels")
        let builder = KernelBuilder(source: try .init(parsing: "file://\(origin)#main"), configFile: dir + "/cfg",
                                    workDirectory: dir + "/work")
        let k = try builder.build(id: "built", store: store)
        #expect(k.record.vmlinuxSize > 0)
        #expect(k.record.source?.hasPrefix("file://\(origin)#main@") == true)
        // The work clone is removed afterwards.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/work").isEmpty)
    }
}
