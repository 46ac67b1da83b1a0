import Testing
@testable import FirebuildCLI

@Suite struct CLIParsingTests {
    @Test func globalOptionsDefaults() throws {
        let g = try GlobalOptions.parse([])
        #expect(g.logLevel == "info")
        #expect(g.profileConfDir == "/etc/firebuild/profiles")
        #expect(!g.logAsJSON)
    }

    @Test func versionParses() throws {
        let cmd = try FirebuildCommand.parseAsRoot(["version", "--log-as-json", "--log-level", "debug"])
        #expect(cmd is VersionCommand)
    }
}
