import Foundation
import Testing
@testable import Dockerfile

@Suite struct DockerIgnoreTests {
    @Test(arguments: [
        ("*.md", "README.md", true),
        ("*.md", "docs/README.md", false),
        ("**/*.md", "docs/a/README.md", true),
        ("**/*.md", "README.md", true),
        ("/build", "build/out/x", true),
        ("build/", "build/x", true),
        ("temp?", "temp1", true),
        ("temp?", "temp12", false),
        ("node_modules", "node_modules/a/b", true),
        ("a/**", "a/b/c", true),
        ("a/**/z", "a/z", true),
        ("a/**/z", "a/b/c/z", true),
        ("[a-c]x", "bx", true),
        ("[a-c]x", "dx", false),
        ("\\*lit", "*lit", true),
        ("./x/../y", "y", true),
    ] as [(String, String, Bool)])
    func matching(_ pattern: String, _ path: String, _ excluded: Bool) throws {
        #expect(try DockerIgnore(patterns: [pattern]).isExcluded(path) == excluded)
    }

    @Test func exceptionsAndOrder() throws {
        let d = try DockerIgnore(contents: "# comment\n*.md\n!README.md\n\n  docs  \n!docs/keep.txt\nREADME*.md\n")
        #expect(d.isExcluded("CHANGES.md"))
        #expect(d.isExcluded("README.md"))           // re-excluded by the last pattern
        #expect(d.isExcluded("docs/a.txt"))
        #expect(!d.isExcluded("docs/keep.txt"))
        #expect(!d.isExcluded("src/main.swift"))
        #expect(d.hasExceptions)
    }

    @Test func walkerListsIncludedFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fb-ignore-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        for f in ["a.txt", "b.md", "sub/c.txt", "sub/d.log", "vendor/x/y.go", "vendor/x/keep.go", ".dockerignore", "Dockerfile"] {
            let url = dir.appendingPathComponent(f)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data("x".utf8).write(to: url)
        }
        try Data("*.md\n**/*.log\nvendor\n!vendor/x/keep.go\n".utf8).write(to: dir.appendingPathComponent(".dockerignore"))
        let ignore = try DockerIgnore.load(contextDir: dir.path)
        let files = try ignore.includedPaths(in: dir.path).filter { !$0.isDirectory }.map(\.path)
        #expect(files == [".dockerignore", "Dockerfile", "a.txt", "sub/c.txt", "vendor/x/keep.go"])
    }
}
