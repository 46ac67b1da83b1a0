import FirebuildCore
import Foundation

extension BuildPlan {
    struct StageSummary: Encodable {
        var index: Int
        var name: String?
        var base: String
        var baseStage: Int?
        var platform: String
        var dependsOn: [Int]
    }

    struct Summary: Encodable {
        var target: String
        var stages: [StageSummary]
        var config: ImageConfig
    }

    /// `{"target", "stages": [{index, name, base, dependsOn}…] in build order, "config": OCI config}`.
    public func summaryJSON() throws -> String {
        func stageName(_ i: Int) -> String { stages.first { $0.index == i }?.name ?? "stage-\(i)" }
        let list = stages.map { s -> StageSummary in
            let base: String, baseStage: Int?
            switch s.base {
            case .scratch: (base, baseStage) = ("scratch", nil)
            case .image(let r): (base, baseStage) = (r, nil)
            case .stage(let i): (base, baseStage) = (stageName(i), i)
            }
            return StageSummary(index: s.index, name: s.name, base: base, baseStage: baseStage,
                                platform: s.platform.description, dependsOn: s.dependsOn)
        }
        let summary = Summary(target: stageName(target), stages: list, config: targetStage?.config ?? ImageConfig())
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try enc.encode(summary), as: UTF8.self)
    }
}

/// The parser/evaluator benchmark behind `firebuild dockerfile bench` and bench/dockerfile/run.sh.
public enum DockerfileBenchmark {
    public struct Result: Sendable {
        public var files: Int
        public var bytes: Int
        public var seconds: Double
        public var failures: Int
    }

    /// Loads every file named `Dockerfile*` under `directory`, then parses and plans them in a cycle
    /// until `targetBytes` have been processed.
    public static func run(directory: String, targetBytes: Int) throws -> Result {
        guard let walker = FileManager.default.enumerator(atPath: directory) else {
            throw FirebuildError(.notFound, "cannot list \(directory)")
        }
        var corpus: [[UInt8]] = []
        while let rel = walker.nextObject() as? String {
            guard (rel as NSString).lastPathComponent.hasPrefix("Dockerfile") else { continue }
            if let d = FileManager.default.contents(atPath: (directory as NSString).appendingPathComponent(rel)) {
                corpus.append([UInt8](d))
            }
        }
        guard !corpus.isEmpty else { throw FirebuildError(.notFound, "no Dockerfile* files under \(directory)") }
        var bytes = 0, files = 0, failures = 0
        let start = Date()
        while bytes < targetBytes {
            for f in corpus {
                do {
                    let parsed = try Dockerfile.parse(bytes: f)
                    if parsed.instructions.contains(where: { $0.keyword == "from" }) {
                        _ = try BuildPlan.make(from: parsed)
                    } else {
                        _ = try parsed.typedInstructions()
                    }
                } catch { failures += 1 }
                bytes += f.count
                files += 1
            }
        }
        return Result(files: files, bytes: bytes, seconds: max(Date().timeIntervalSince(start), 1e-9), failures: failures)
    }
}
