import FirebuildCore
import Testing
@testable import Dockerfile

/// Pattern substitutions and mandatory variables, from the Dockerfile reference.
@Suite struct ExpansionTests {
    static let env: [String: String] = ["path": "/usr/local/bin/tool.tar.gz", "v": "aXbXc", "EMPTY": ""]

    @Test(arguments: [
        ("${path#*/}", "usr/local/bin/tool.tar.gz"),
        ("${path##*/}", "tool.tar.gz"),
        ("${path%.*}", "/usr/local/bin/tool.tar"),
        ("${path%%.*}", "/usr/local/bin/tool"),
        ("${path#nomatch}", "/usr/local/bin/tool.tar.gz"),
        ("${v/X/-}", "a-bXc"),
        ("${v//X/-}", "a-b-c"),
        ("${v/X*/}", "a"),
        ("${v/?/Z}", "ZXbXc"),
        ("${unset#x}", ""),
        ("${v%X*}", "aXb"),
        ("${v%%X*}", "a"),
        ("${v#*X}", "bXc"),
        ("${v##*X}", "c"),
        ("${v/\\*/s}", "aXbXc"),
        ("${EMPTY:-d}", "d"),
        ("${EMPTY-d}", ""),
    ])
    func substitution(_ input: String, _ expected: String) throws {
        #expect(try ShellLex().processWord(input, env: { Self.env[$0] }) == expected)
    }

    @Test func mandatoryVariableMessages() throws {
        let lex = ShellLex()
        #expect(throws: FirebuildError.self) { try lex.processWord("${missing:?need it}", env: { Self.env[$0] }) }
        do {
            _ = try lex.processWord("${missing:?you must set it}", env: { Self.env[$0] })
        } catch let e as FirebuildError {
            #expect(e.message.contains("missing: you must set it"))
        } catch { Issue.record("unexpected \(error)") }
        do {
            _ = try lex.processWord("${EMPTY:?}", env: { Self.env[$0] })
        } catch let e as FirebuildError {
            #expect(e.message.contains("EMPTY: is not allowed to be empty"))
        } catch { Issue.record("unexpected \(error)") }
        #expect(try lex.processWord("${EMPTY?}", env: { Self.env[$0] }) == "")
        #expect(try lex.processWord("${v:?x}", env: { Self.env[$0] }) == "aXbXc")
    }

    @Test func colonWithPatternModifierIsRejected() {
        #expect(throws: FirebuildError.self) { try ShellLex().processWord("${v:#x}", env: { Self.env[$0] }) }
    }

    @Test func backtickEscape() throws {
        let lex = ShellLex(escapeToken: "`")
        #expect(try lex.processWord("a`$v", env: { Self.env[$0] }) == "a$v")
        #expect(try lex.processWord("c:\\dir", env: { _ in nil }) == "c:\\dir")
    }
}

@Suite struct HeredocTests {
    @Test func chompAndQuoting() throws {
        let text = "FROM scratch\nRUN <<-EOF\n\techo $HOME\n\t\tdeep\n\tEOF\nCOPY <<'A' <<\"B\" /dst/\nraw $X\nA\nquoted\nB\nRUN 3<<EOF cat\nx\nEOF\n"
        let p = try Dockerfile.parse(text: text)
        #expect(p.instructions.count == 4)
        let run = p.instructions[1]
        #expect(run.heredocs.count == 1)
        #expect(run.heredocs[0].chomp && run.heredocs[0].expand)
        #expect(run.heredocs[0].content == "\techo $HOME\n\t\tdeep\n")
        #expect(run.heredocs[0].chompedContent == "echo $HOME\ndeep\n")
        #expect(run.startLine == 2 && run.endLine == 5)
        let copy = p.instructions[2]
        #expect(copy.heredocs.map(\.name) == ["A", "B"])
        #expect(copy.heredocs.map(\.expand) == [false, false])
        #expect(copy.heredocs.map(\.content) == ["raw $X\n", "quoted\n"])
        if case .copy(let c) = try p.typed(copy) {
            #expect(c.inlineSources.map(\.path) == ["A", "B"])
            #expect(c.destination == "/dst/")
            #expect(c.sources.isEmpty)
        } else { Issue.record("not a copy") }
        #expect(p.instructions[3].heredocs.first?.fileDescriptor == 3)
    }

    @Test func heredocExpansionInCopy() throws {
        let text = "FROM scratch\nENV NAME=world\nCOPY <<EOF /hello\nhi $NAME\nEOF\nCOPY <<'EOF' /raw\nhi $NAME\nEOF\n"
        let plan = try BuildPlan.make(from: try Dockerfile.parse(text: text))
        let copies = plan.stages[0].steps.compactMap { s -> CopyInstruction? in
            if case .copy(let c) = s.instruction { return c } else { return nil }
        }
        #expect(copies.map { $0.inlineSources[0].data } == ["hi world\n", "hi $NAME\n"])
    }

    @Test func notHeredocs() throws {
        // USER and exec-form RUN never read heredoc bodies.
        let p = try Dockerfile.parse(text: "FROM a\nUSER <<INVALID\nRUN [\"cat\", \"<<EOF\"]\nRUN echo\n")
        #expect(p.instructions.count == 4)
        #expect(p.instructions.allSatisfy { $0.heredocs.isEmpty })
    }

    @Test func unterminatedHeredocFails() {
        #expect(throws: FirebuildError.self) { try Dockerfile.parse(text: "FROM a\nRUN <<EOF\necho\n") }
    }
}

@Suite struct DirectiveTests {
    @Test func directivesAndBOM() throws {
        let p = try Dockerfile.parse(text: "\u{FEFF}# syntax=docker/dockerfile:1\n# check=skip=all\n# escape=`\nFROM a\nRUN echo `\n  hi\n")
        #expect(p.directive("syntax") == "docker/dockerfile:1")
        #expect(p.directive("check") == "skip=all")
        #expect(p.escapeToken == "`")
        #expect(p.dump() == "(from \"a\")\n(run \"echo   hi\")")
    }

    @Test func repeatedDirectiveFails() {
        #expect(throws: FirebuildError.self) { try Dockerfile.parse(text: "# escape=`\n# escape=\\\nFROM a\n") }
    }

    @Test func invalidEscapeFails() {
        #expect(throws: FirebuildError.self) { try Dockerfile.parse(text: "# escape=x\nFROM a\n") }
    }
}
