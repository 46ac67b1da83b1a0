import FirebuildCore
import Testing
@testable import Dockerfile

func parseError(_ text: String) -> FirebuildError? {
    do {
        let p = try Dockerfile.parse(text: text)
        _ = try p.typedInstructions()
        return nil
    } catch let e as FirebuildError { return e } catch { return nil }
}

@Suite struct InstructionTests {
    @Test(arguments: [
        ("FROM a\nFOO bar\n", "unknown instruction: FOO", 2),
        ("FROM a\nCOPY onlyone\n", "COPY requires at least two arguments", 2),
        ("FROM a\nCOPY --boo=1 a b\n", "unknown flag: --boo", 2),
        ("FROM a\nONBUILD FROM b\n", "FROM isn't allowed as an ONBUILD trigger", 2),
        ("FROM a\nONBUILD MAINTAINER me\n", "MAINTAINER isn't allowed as an ONBUILD trigger", 2),
        ("FROM a\nONBUILD ONBUILD RUN x\n", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed", 2),
        ("FROM a\n\nRUN --network=foo x\n", "invalid network mode", 3),
        ("FROM a b\n", "FROM requires either one or three arguments", 1),
        ("FROM a AS 1x\n", "invalid name for build stage", 1),
        ("FROM a\nSHELL sh -c\n", "SHELL requires the arguments to be in JSON form", 2),
        ("FROM a\nHEALTHCHECK --interval=1us CMD x\n", "cannot be less than 1ms", 2),
        ("FROM a\nHEALTHCHECK FOO x\n", "Unknown type", 2),
        ("FROM a\nENV\n", "ENV requires at least one argument", 2),
        ("FROM a\nCMD [\"a\", 1]\n", "arrays must be comprised of strings only", 2),
        ("FROM a\nCOPY --chown a b\n", "missing a value on flag: --chown", 2),
        ("FROM a\nCOPY --link --link a b\n", "duplicate flag specified: --link", 2),
        ("FROM a\nRUN --mount=type=cache,from=$X x\n", "doesn't support variable expansion", 2),
    ] as [(String, String, Int)])
    func errors(_ text: String, _ message: String, _ line: Int) {
        let e = parseError(text)
        #expect(e?.code == .parse)
        #expect(e?.message.contains(message) == true, "\(e?.message ?? "no error")")
        #expect(e?.location == "Dockerfile:\(line)")
    }

    @Test func copyFlags() throws {
        let p = try Dockerfile.parse(text: "FROM a\nCOPY --from=b --chown=1:2 --chmod=755 --link --parents --exclude=*.md --exclude=x a b c /d/\nADD --checksum=sha256:abc --keep-git-dir=true --unpack=false https://x/y.tar /z\n")
        let t = try p.typedInstructions()
        guard case .copy(let c) = t[1].instruction, case .copy(let a) = t[2].instruction else { Issue.record("types"); return }
        #expect(c.sources == ["a", "b", "c"] && c.destination == "/d/")
        #expect(c.from == "b" && c.chown == "1:2" && c.chmod == "755" && c.link && c.parents)
        #expect(c.excludes == ["*.md", "x"])
        #expect(a.isAdd && a.checksum == "sha256:abc" && a.keepGitDir == true && a.unpack == false)
    }

    @Test func runForms() throws {
        let p = try Dockerfile.parse(text: "FROM a\nRUN [\"echo\", \"hi there\"]\nRUN --mount=type=secret,id=tok,required --mount=type=tmpfs,target=/t,size=64m --network=none --security=insecure echo hi\n")
        let t = try p.typedInstructions()
        guard case .run(let exec) = t[1].instruction, case .run(let sh) = t[2].instruction else { Issue.record("types"); return }
        #expect(exec.command == .exec(["echo", "hi there"]))
        #expect(sh.command == .shell("echo hi"))
        #expect(sh.network == "none" && sh.security == "insecure")
        #expect(sh.mounts.count == 2)
        #expect(sh.mounts[0].type == .secret && sh.mounts[0].id == "tok" && sh.mounts[0].required && sh.mounts[0].readOnly)
        #expect(sh.mounts[1].type == .tmpfs && sh.mounts[1].sizeLimit == 64 * 1024 * 1024 && !sh.mounts[1].readOnly)
    }

    @Test func mountValidation() {
        #expect(throws: LineError.self) { try RunMount.parse("type=bind,mode=0755", expand: { $0 }) }
        #expect(throws: LineError.self) { try RunMount.parse("type=secret", expand: { $0 }) }
        #expect(throws: LineError.self) { try RunMount.parse("type=bind,sharing=locked", expand: { $0 }) }
        #expect(throws: LineError.self) { try RunMount.parse("type=nfs", expand: { $0 }) }
        #expect((try? RunMount.parse("type=cache,target=/c,sharing=locked,mode=0700,uid=1", expand: { $0 }))?.mode == 0o700)
    }

    @Test func envAndArgForms() throws {
        let p = try Dockerfile.parse(text: "FROM a\nENV A 1 2\nENV B=1 C=\"x y\"\nARG X Y=2 Z=\nLABEL a=b\n")
        let t = try p.typedInstructions()
        #expect(t[1].instruction == .env([KeyValue(key: "A", value: "1 2", legacyFormat: true)]))
        #expect(t[2].instruction == .env([KeyValue(key: "B", value: "1", legacyFormat: false),
                                          KeyValue(key: "C", value: "\"x y\"", legacyFormat: false)]))
        #expect(t[3].instruction == .arg([ArgDeclaration(name: "X", defaultValue: nil), ArgDeclaration(name: "Y", defaultValue: "2"),
                                          ArgDeclaration(name: "Z", defaultValue: "")]))
    }

    @Test func healthcheck() throws {
        let p = try Dockerfile.parse(text: "FROM a\nHEALTHCHECK NONE\nHEALTHCHECK --interval=1m30s --timeout=3s --start-period=1s --start-interval=500ms --retries=4 CMD curl -f x\n")
        let t = try p.typedInstructions()
        #expect(t[1].instruction == .healthcheck(Healthcheck(test: ["NONE"])))
        #expect(t[2].instruction == .healthcheck(Healthcheck(test: ["CMD-SHELL", "curl -f x"], interval: 90_000_000_000,
                                                             timeout: 3_000_000_000, startPeriod: 1_000_000_000,
                                                             startInterval: 500_000_000, retries: 4)))
    }

    @Test func caseInsensitiveKeywordsAndLines() throws {
        let p = try Dockerfile.parse(text: "from a\n\nrun echo \\\n  # comment\n\n  hi\ncopy x y\n")
        #expect(p.dump() == "(from \"a\")\n(run \"echo   hi\")\n(copy \"x\" \"y\")")
        #expect(p.instructions.map { [$0.startLine, $0.endLine] } == [[1, 1], [3, 6], [7, 7]])
        #expect(p.warnings.map(\.rule) == ["NoEmptyContinuation"])
    }
}
