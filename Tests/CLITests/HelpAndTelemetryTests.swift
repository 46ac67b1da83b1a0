import ArgumentParser
import Testing
@testable import FirebuildCLI

/// Every command must show examples in `firebuild help COMMAND`. New commands fail here until
/// their CommandConfiguration has a discussion with an "EXAMPLES:" section of real invocations.
@Suite struct HelpExamplesTests {
    static func allCommands() -> [(path: String, type: ParsableCommand.Type)] {
        var out: [(String, ParsableCommand.Type)] = []
        func walk(_ t: ParsableCommand.Type, _ prefix: [String]) {
            let path = prefix + [t._commandName]
            out.append((path.joined(separator: " "), t))
            for sub in t.configuration.subcommands { walk(sub, path) }
        }
        walk(FirebuildCommand.self, [])
        return out
    }

    @Test func everyLeafCommandHasExamples() {
        let leaves = Self.allCommands().filter { $0.type.configuration.subcommands.isEmpty }
        #expect(leaves.count >= 2)
        for (path, type) in leaves {
            let discussion = type.configuration.discussion
            guard let range = discussion.range(of: "EXAMPLES:") else {
                Issue.record("\(path): add a discussion with an EXAMPLES: section to its CommandConfiguration")
                continue
            }
            let examples = discussion[range.upperBound...].split(separator: "\n")
                .map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { $0.hasPrefix("firebuild ") }
            #expect(!examples.isEmpty, "\(path): EXAMPLES: lists no `firebuild …` invocation")
            // Each example must name the command itself, so help never shows another command's usage.
            for example in examples {
                #expect(example.hasPrefix(path + " ") || example == path, "\(path): example \"\(example)\" runs another command")
            }
        }
    }

    @Test func helpTextShowsExamples() {
        let help = FirebuildCommand.helpMessage(for: VersionCommand.self)
        #expect(help.contains("EXAMPLES:"))
        #expect(help.contains("firebuild version"))
    }

    @Test func completionScriptsGenerate() {
        for shell in CompletionShell.allCases {
            let script = FirebuildCommand.completionScript(for: shell)
            #expect(script.contains("firebuild"), "\(shell) completion script is empty")
            #expect(script.contains("script"))
        }
    }
}

@Suite struct TelemetryFlagsTests {
    @Test func tracingAndColourFlagsParse() throws {
        let cmd = try FirebuildCommand.parseAsRoot(["version", "--tracing-enable", "--tracing-collector-host-port", "10.0.0.1:4318",
                                                    "--tracing-log-enable", "--log-force-color"])
        let global = try #require(GlobalOptions.find(in: cmd))
        #expect(global.tracing.enabled && global.tracing.logSpans)
        #expect(global.tracing.collectorHostPort == "10.0.0.1:4318")
        #expect(global.logForceColor)
        #expect(global.colorEnabled)
    }

    @Test func defaultsLeaveTracingOff() throws {
        let global = try GlobalOptions.parse([])
        #expect(!global.tracing.isActive)
        #expect(global.tracing.collectorHostPort == nil)
        #expect(!global.logForceColor)
    }

    @Test func rootSpanIsNamedAfterTheCommandPath() {
        #expect(FirebuildCommand.commandPath(of: VersionCommand.self) == ["firebuild", "version"])
        #expect(FirebuildCommand.commandPath(of: ScriptCommand.self) == ["firebuild", "script"])
        #expect(FirebuildCommand.commandPath(of: FirebuildCommand.self) == ["firebuild"])
    }

    @Test func findsGlobalOptionsInEveryCommand() {
        // Group commands (with subcommands) only print help; their leaves carry the options.
        for (path, type) in HelpExamplesTests.allCommands()
        where type != FirebuildCommand.self && type.configuration.subcommands.isEmpty {
            var args = Array(path.split(separator: " ").dropFirst().map(String.init))
            if type == ScriptCommand.self { args.append("r.lua") }
            // Commands with other required arguments are skipped here (their own tests parse them).
            guard let cmd = try? FirebuildCommand.parseAsRoot(args) else { continue }
            #expect(GlobalOptions.find(in: cmd) != nil, "\(path) has no @OptionGroup var global: GlobalOptions")
        }
    }

    @Test func successExitsAreNotSpanErrors() {
        #expect(FirebuildCommand.isSuccess(ExitCode.success))
        #expect(!FirebuildCommand.isSuccess(ExitCode(3)))
    }
}
