import Dockerfile
import FirebuildCore
import Foundation

/// One build step as observers see it.
public struct BuildStepInfo: Equatable, Sendable {
    /// Stage name, or its index when unnamed (`builder`, `0`).
    public var stage: String
    /// 1-based step number within the stage, and the stage's step count.
    public var index: Int
    public var count: Int
    /// The instruction as written (`RUN apt-get update`), or `pre-build: …`/`post-build: …`.
    public var instruction: String
    public init(stage: String, index: Int, count: Int, instruction: String) {
        self.stage = stage
        self.index = index
        self.count = count
        self.instruction = instruction
    }
}

public struct BuildStepOutcome: Equatable, Sendable {
    /// The step's layer came from the build cache (no VM work).
    public var cached: Bool
    public var seconds: Double
    public init(cached: Bool, seconds: Double) {
        self.cached = cached
        self.seconds = seconds
    }
}

/// Callbacks the engine makes while building (what recipe hooks plug into). A throw fails the build
/// with that error. Called on the building thread, in order: `beforeBuild` once, then per step
/// `beforeStep`, `onOutput` per output line (RUN steps), `afterStep` (cached steps too). The
/// step's filesystem is not offered: it lives in a running VM's qcow2 overlay, and exposing it as
/// an ext4 file would cost a full export per step.
public protocol BuildObserver: AnyObject {
    func beforeBuild(stages: [String], steps: [BuildStepInfo]) throws
    func beforeStep(_ step: BuildStepInfo) throws
    func onOutput(_ step: BuildStepInfo, line: String) throws
    func afterStep(_ step: BuildStepInfo, outcome: BuildStepOutcome) throws
}

extension PlannedStage {
    /// The stage as observers name it.
    var observerName: String { name ?? String(index) }

    /// The step list the planner (`StageStepPlanner.steps`) makes of this stage, known before any
    /// COPY source is read: which instructions become steps must match `steps` exactly.
    func observerSteps(pre: [String], post: [String]) -> [BuildStepInfo] {
        var labels = pre.map { "pre-build: \($0)" }
        for step in steps {
            switch step.instruction {
            case .run, .copy, .workdir, .volume:
                labels.append(step.node.original.split(separator: "\n").first.map(String.init) ?? step.instruction.keyword)
            default: continue
            }
        }
        labels += post.map { "post-build: \($0)" }
        return labels.enumerated().map { BuildStepInfo(stage: observerName, index: $0.offset + 1, count: labels.count, instruction: $0.element) }
    }
}
