import Dockerfile
import FirebuildCore
import Foundation

/// Cache keys, BuildKit style: key(step) = H(key(parent), the instruction after ARG/ENV expansion,
/// the environment, shell, user and workdir in force, and the content of its inputs).
public enum StepKey {
    public static func key(parent: String, parts: [String]) -> String {
        var h = StreamingSHA256()
        h.update(Data("firebuild-step-v1\n\(parent)\n".utf8))
        for p in parts {
            h.update(Data("\(p.utf8.count):".utf8))
            h.update(Data(p.utf8))
        }
        return h.finalize().hex
    }

    /// Hash of what a COPY/ADD writes: every operation with its path, mode, owner and file bytes.
    public static func contentDigest(_ ops: [FileOp]) throws -> String {
        var h = StreamingSHA256()
        for op in ops {
            h.update(Data((op.summary + "\n").utf8))
            if case .file(_, let content, _, _) = op {
                switch content {
                case .bytes(let b): h.update(Data(b))
                case .host(let path): h.update(Data(try ContentDigest.sha256(fileAt: path).hex.utf8))
                }
            }
        }
        return h.finalize().hex
    }

    /// The parts of a step every kind shares: what it sees when it runs.
    static func common(_ step: EvaluatedInstruction) -> [String] {
        ["env=" + step.environment.list.joined(separator: "\u{0}"), "shell=" + step.shell.joined(separator: "\u{0}"),
         "user=" + step.user, "workdir=" + step.workingDir]
    }
}
