import Foundation
import Testing
@testable import Recipe

@Suite struct DockerfileBindingTests {
    func run(_ recipe: String) throws -> ScriptResult {
        let dir = NSTemporaryDirectory() + "fb-dfbind-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try """
        ARG BASE=alpine:3.19
        FROM ${BASE} AS build
        ENV A=1
        RUN echo $A
        FROM scratch
        COPY --from=build /x /x
        CMD ["/x"]
        """.write(toFile: dir + "/Dockerfile", atomically: true, encoding: .utf8)
        try recipe.write(toFile: dir + "/r.lua", atomically: true, encoding: .utf8)
        return ScriptRunner.run(path: dir + "/r.lua", args: [])
    }

    @Test func parsesStagesStepsAndConfig() throws {
        let r = try run("""
        local fb = require "firebuild"
        local p = fb.dockerfile.parse("Dockerfile", {build_args = {BASE = "busybox:1"}})
        assert(p.target == "stage-1", p.target)
        assert(#p.stages == 2)
        assert(p.stages[1].name == "build" and p.stages[1].base == "busybox:1")
        local run = p.stages[1].steps[2]
        assert(run.keyword == "run" and run.line == 4, run.keyword .. run.line)
        local found = false
        for _, e in ipairs(run.env) do if e == "A=1" then found = true end end
        assert(found, "RUN sees ENV A=1")
        assert(p.stages[2].depends_on[1] == 0)
        assert(p.stages[2].config.Cmd[1] == "/x")
        local t = fb.dockerfile.parse("FROM scratch\\nLABEL a=b\\n")
        assert(t.stages[1].config.Labels.a == "b")
        """)
        #expect(r.exitCode == 0, "\(r.errorOutput)")
    }

    @Test func errorsNameTheRecipeLine() throws {
        let r = try run("""
        local fb = require "firebuild"

        fb.dockerfile.parse("FROM scratch\\nFOO bar\\n")
        """)
        #expect(r.exitCode == 1)
        #expect(r.errorOutput.contains("r.lua:3:"))
        #expect(r.errorOutput.contains("unknown instruction: FOO"))
        let bad = try run("local fb = require 'firebuild'\nfb.dockerfile.parse('Dockerfile', {targt = 'x'})")
        #expect(bad.errorOutput.contains(#"r.lua:2: unknown option "targt""#))
    }
}
