import Testing
@testable import FirebuildCLI

@Suite struct ScriptCommandTests {
    @Test func parsesFlagsAndArgsAfterTerminator() throws {
        let cmd = try FirebuildCommand.parseAsRoot(["script", "recipes/app.lua", "--unsafe", "--memory-limit", "256M",
                                                    "--dry-run", "--log-level", "debug", "--", "a", "--b"])
        let script = try #require(cmd as? ScriptCommand)
        #expect(script.recipe == "recipes/app.lua")
        #expect(script.unsafe)
        #expect(script.dryRun)
        #expect(script.memoryLimit == "256M")
        #expect(script.args == ["a", "--b"])
        #expect(script.global.logLevel == "debug")
    }

    @Test func defaults() throws {
        let script = try #require(try FirebuildCommand.parseAsRoot(["script", "r.lua"]) as? ScriptCommand)
        #expect(!script.unsafe && !script.dryRun)
        #expect(script.memoryLimit == "512M")
        #expect(script.args.isEmpty)
    }

    @Test func badMemoryLimitIsAUsageError() {
        #expect(throws: (any Error).self) { try FirebuildCommand.parseAsRoot(["script", "r.lua", "--memory-limit", "lots"]) }
        #expect(throws: (any Error).self) { try FirebuildCommand.parseAsRoot(["script"]) }
    }
}
