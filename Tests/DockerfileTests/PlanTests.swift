import FirebuildCore
import Testing
@testable import Dockerfile

func plan(_ text: String, args: [String: String] = [:], target: String? = nil,
          base: @escaping (String, Platform) throws -> ImageConfig? = { _, _ in nil }) throws -> BuildPlan {
    try BuildPlan.make(from: try Dockerfile.parse(text: text), buildArgs: args, target: target, baseConfig: base)
}

@Suite struct PlanTests {
    @Test func metaArgsOnlyApplyToFrom() throws {
        let p = try plan("ARG BASE=alpine\nARG V=1\nFROM ${BASE}:3\nRUN echo $V\nARG V\nENV W=$V\n")
        let s = p.stages[0]
        #expect(s.base == .image("alpine:3"))
        #expect(s.steps[0].environment["V"] == nil)  // not redeclared yet
        #expect(s.steps[2].instruction == .env([KeyValue(key: "W", value: "1", legacyFormat: false)]))
        #expect(s.config.env == ["PATH=" + defaultPathEnv, "W=1"])
    }

    @Test func buildArgOverridesAndPlatformArgs() throws {
        let p = try plan("ARG V=1\nFROM scratch\nARG V\nARG TARGETARCH\nARG X=d\nENV A=$V B=$TARGETARCH C=$X\n", args: ["V": "9", "X": "o"])
        #expect(p.stages[0].config.env == ["PATH=" + defaultPathEnv, "A=9", "B=amd64", "C=o"])
        #expect(p.globalArgs["TARGETPLATFORM"] == "linux/amd64" && p.globalArgs["BUILDOS"] == "linux")
    }

    @Test func instructionSeesEnvAtItsLine() throws {
        let p = try plan("FROM scratch\nENV A=1\nRUN one\nENV A=2 B=$A\nRUN two\n")
        let runs = p.stages[0].steps.filter { if case .run = $0.instruction { return true } else { return false } }
        #expect(runs[0].environment["A"] == "1" && runs[0].environment["B"] == nil)
        #expect(runs[1].environment["A"] == "2" && runs[1].environment["B"] == "1")
        #expect(runs[1].environment["PATH"] == defaultPathEnv)
    }

    @Test func stagesTargetsAndGraph() throws {
        let text = """
        FROM alpine AS Base
        RUN echo base
        FROM base AS build
        COPY --from=0 /a /a
        FROM golang AS unused
        FROM scratch AS out
        COPY --from=BUILD /b /b
        RUN --mount=type=bind,from=base,target=/x true
        """
        let p = try plan(text)
        #expect(p.stages.map(\.index) == [0, 1, 3])
        #expect(p.stages.map(\.name) == ["base", "build", "out"])
        #expect(p.stages[1].base == .stage(index: 0))
        #expect(p.stages[1].dependsOn == [0])
        #expect(p.stages[2].dependsOn == [0, 1])
        #expect(p.stages[2].steps[0].sourceStages == [1])
        let t = try plan(text, target: "UNUSED")
        #expect(t.stages.map(\.index) == [2] && t.stages[0].base == .image("golang"))
        #expect(throws: FirebuildError.self) { try plan(text, target: "nope") }
    }

    @Test func duplicateAndForwardReferencesFail() {
        #expect(throws: FirebuildError.self) { try plan("FROM a AS x\nFROM b AS X\n") }
        #expect(throws: FirebuildError.self) { try plan("FROM a AS x\nCOPY --from=y / /\nFROM b AS y\n") }
        #expect(throws: FirebuildError.self) { try plan("FROM a\nCOPY --from=5 / /\n") }
        #expect(throws: FirebuildError.self) { try plan("FROM a\nCOPY --from=$X / /\n") }
        #expect(throws: FirebuildError.self) { try plan("RUN x\nFROM a\n") }
    }

    @Test func copyFromImageIsNotAStage() throws {
        let p = try plan("FROM scratch\nCOPY --from=busybox:latest /bin/sh /sh\n")
        #expect(p.stages.count == 1 && p.stages[0].steps[0].sourceStages.isEmpty)
    }

    @Test func entrypointResetsInheritedCmd() throws {
        let base = ImageConfig(env: ["PATH=/bin", "HOME=/root"], entrypoint: ["/old"], cmd: ["inherited"], workingDir: "/w")
        let p = try plan("FROM img\nENTRYPOINT [\"/new\"]\n", base: { _, _ in base })
        #expect(p.stages[0].config.cmd == nil && p.stages[0].config.entrypoint == ["/new"])
        let q = try plan("FROM img\nCMD [\"mine\"]\nENTRYPOINT /e\n", base: { _, _ in base })
        #expect(q.stages[0].config.cmd == ["mine"] && q.stages[0].config.entrypoint == ["/bin/sh", "-c", "/e"])
        let r = try plan("FROM img\nSHELL [\"/bin/bash\", \"-c\"]\nWORKDIR rel/../x\nCMD hi\n", base: { _, _ in base })
        #expect(r.stages[0].config.cmd == ["/bin/bash", "-c", "hi"] && r.stages[0].config.workingDir == "/w/x")
        #expect(r.stages[0].config.env == ["PATH=/bin", "HOME=/root"])
    }

    @Test func fullConfig() throws {
        let p = try plan("FROM scratch\nEXPOSE 80 53/UDP 8000-8001\nVOLUME [\"/a\", \"/b\"]\nVOLUME /c\nLABEL a=1 b=\"two words\"\nUSER app\nSTOPSIGNAL SIGINT\nHEALTHCHECK NONE\nONBUILD RUN make\nENTRYPOINT []\n")
        let c = p.stages[0].config
        #expect(Set(c.exposedPorts?.keys.map { $0 } ?? []) == ["80/tcp", "53/udp", "8000/tcp", "8001/tcp"])
        #expect(Set(c.volumes?.keys.map { $0 } ?? []) == ["/a", "/b", "/c"])
        #expect(c.labels == ["a": "1", "b": "two words"])
        #expect(c.user == "app" && c.stopSignal == "SIGINT" && c.healthcheck?.test == ["NONE"])
        #expect(c.onBuild == ["RUN make"] && c.entrypoint == nil)
        #expect(throws: FirebuildError.self) { try plan("FROM scratch\nSTOPSIGNAL NOPE\n") }
        #expect(throws: FirebuildError.self) { try plan("FROM scratch\nEXPOSE abc\n") }
    }

    @Test func onbuildTriggersOfBaseRunFirst() throws {
        let base = ImageConfig(env: ["PATH=/bin"], onBuild: ["ENV FROM_TRIGGER=1", "RUN echo $FROM_TRIGGER"])
        let p = try plan("FROM parent\nRUN own\n", base: { _, _ in base })
        #expect(p.stages[0].steps.map(\.isOnBuild) == [true, true, false])
        #expect(p.stages[0].steps[1].environment["FROM_TRIGGER"] == "1")
        #expect(p.stages[0].config.onBuild == nil)
    }

    @Test func mountsExpandedAtEvaluation() throws {
        let p = try plan("FROM scratch\nARG CACHE=/cache\nRUN --mount=type=cache,target=$CACHE,id=${CACHE}-x true\n")
        guard case .run(let r) = p.stages[0].steps[1].instruction else { Issue.record("not run"); return }
        #expect(r.mounts.first?.target == "/cache" && r.mounts.first?.id == "/cache-x")
        #expect(throws: FirebuildError.self) { try plan("FROM scratch\nARG T=nfs\nRUN --mount=type=$T true\n") }
    }

    @Test func summaryJSONShape() throws {
        let json = try plan("FROM scratch AS a\nFROM a AS b\nENV X=1\n").summaryJSON()
        #expect(json.contains("\"target\" : \"b\""))
        #expect(json.contains("\"Env\""))
        #expect(json.contains("\"dependsOn\""))
    }
}
