import FirebuildCore
import Foundation

/// The mutable state one recipe run shares between its bindings: the settings
/// (`firebuild.settings{…}`) and, under `--dry-run`, the plan of what would be done.
/// `RecipeContext` is a value copied into every binding; it holds this session by reference.
public final class RecipeSession {
    public var settings: RecipeSettings
    public let plan = DryRunPlan()
    /// The engines bindings call (the real ones unless a test gives its own).
    public var engines: RecipeEngines

    public init(settings: RecipeSettings, engines: RecipeEngines = .live) {
        self.settings = settings
        self.engines = engines
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
    /// Tags the plan would create, so later calls in the same dry run can refer to them.
    public private(set) var plannedTags: Set<String> = []

    public func record(_ kind: String, _ text: String, tag: String? = nil) {
        steps.append(Step(kind: kind, text: text))
        if let tag { plannedTags.insert(Self.canonical(tag)) }
    }

    public func isPlanned(_ tag: String) -> Bool { plannedTags.contains(Self.canonical(tag)) }

    /// `name` → `_/name:latest`, `org/name` → `org/name:latest`, as the store spells tags.
    static func canonical(_ tag: String) -> String {
        var t = tag.contains("/") ? tag : "_/" + tag
        if !(t.split(separator: "/").last ?? "").contains(":") { t += ":latest" }
        return t
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
