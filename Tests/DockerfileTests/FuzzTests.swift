import FirebuildCore
import Foundation
import Testing
@testable import Dockerfile

/// Mutated and random Dockerfiles must parse, type and plan or fail with a FirebuildError — never crash.
@Suite struct FuzzTests {
    struct RNG: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E3779B97F4A7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
            z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
            return z ^ (z >> 31)
        }
    }

    static func corpus() throws -> [[UInt8]] {
        let dir = try ConformanceDir.require().appendingPathComponent("parser/testfiles")
        return try positiveCases.map { [UInt8](try Data(contentsOf: dir.appendingPathComponent("\($0)/Dockerfile"))) }
    }

    static let alphabet = Array("\\`$'\"{}[]:#-=<>/\n\t ,EOF".utf8) + Array("RUN COPY FROM ONBUILD HEALTHCHECK ENV ARG --mount=type=cache ${A:-b} <<EOF\n".utf8)

    func exercise(_ bytes: [UInt8]) {
        do {
            let p = try Dockerfile.parse(bytes: bytes)
            _ = p.dump()
            _ = try? p.lint()
            _ = try BuildPlan.make(from: p, buildArgs: ["A": "1"])
        } catch is FirebuildError {
        } catch {
            Issue.record("non-FirebuildError: \(error)")
        }
    }

    @Test func mutatedCorpus() throws {
        var rng = RNG(state: 42)
        let corpus = try Self.corpus()
        for _ in 0..<1500 {
            var b = corpus[Int.random(in: 0..<corpus.count, using: &rng)]
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                let op = Int.random(in: 0..<4, using: &rng)
                let i = b.isEmpty ? 0 : Int.random(in: 0..<b.count, using: &rng)
                switch op {
                case 0 where !b.isEmpty: b.remove(at: i)
                case 1: b.insert(Self.alphabet[Int.random(in: 0..<Self.alphabet.count, using: &rng)], at: i)
                case 2 where b.count > 1: b.swapAt(i, Int.random(in: 0..<b.count, using: &rng))
                default: b.insert(UInt8.random(in: 0...255, using: &rng), at: i)
                }
            }
            exercise(b)
        }
    }

    @Test func randomBytesAndDeepNesting() {
        var rng = RNG(state: 7)
        for _ in 0..<500 {
            let n = Int.random(in: 0..<200, using: &rng)
            exercise((0..<n).map { _ in Self.alphabet[Int.random(in: 0..<Self.alphabet.count, using: &rng)] })
        }
        let deep = "FROM a\nCMD " + String(repeating: "[", count: 20000) + String(repeating: "]", count: 20000) + "\n"
        exercise(Array(deep.utf8))
        let nested = "FROM a\nRUN echo " + String(repeating: "${A:-", count: 3000) + String(repeating: "}", count: 3000) + "\n"
        exercise(Array(nested.utf8))
        let onbuilds = "FROM a\n" + String(repeating: "ONBUILD ", count: 500) + "RUN x\n"
        exercise(Array(onbuilds.utf8))
        exercise(Array(("FROM a\nRUN " + String(repeating: "x", count: 70000) + "\n").utf8))
    }
}
