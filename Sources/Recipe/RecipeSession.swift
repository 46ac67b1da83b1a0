import FirebuildCore
import Foundation

/// The mutable state one recipe run shares between its bindings: the settings
/// (`firebuild.settings{…}`) and, under `--dry-run`, the plan of what would be done.
/// `RecipeContext` is a value copied into every binding; it holds this session by reference.
public final class RecipeSession {
    public var settings: RecipeSettings
    public let plan = DryRunPlan()

    public init(settings: RecipeSettings) {
        self.settings = settings
    }
}

/// What a `--dry-run` recipe would build and run, in call order. Each binding with effects
/// records one line instead of acting; `firebuild script --dry-run` prints the list at the end.
public final class DryRunPlan {
    public struct Step: Equatable, Sendable {
        /// `kernel`, `network`, `netns`, `image`, `build`, `vm`, `exec`, `hook`, …
        public var kind: String
        public var text: String
    }

    public private(set) var steps: [Step] = []

    public func record(_ kind: String, _ text: String) {
        steps.append(Step(kind: kind, text: text))
    }

    /// The readable list printed after a dry run.
    public func render(recipe: String) -> String {
        guard !steps.isEmpty else { return "dry run: \(recipe) would build and run nothing\n" }
        let width = steps.map(\.kind.count).max() ?? 0
        var out = "dry run: \(recipe) would:\n"
        for (i, step) in steps.enumerated() {
            out += "  \(String(i + 1).leftPadded(to: String(steps.count).count)). "
                + step.kind.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + step.text + "\n"
        }
        return out
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
