import ArgumentParser
import FirebuildCore
import Foundation
import Telemetry

extension GlobalOptions {
    /// The tracing flags; a profile can fill the unset ones with `merged(withProfile:…)`.
    public var tracing: TracingOptions {
        TracingOptions(enabled: tracingEnable, collectorHostPort: tracingCollectorHostPort, logSpans: tracingLogEnable)
    }

    /// `--log-color` colours only on a terminal (as the original's AutoColor); `--log-force-color` always.
    var colorEnabled: Bool {
        logForceColor || (logColor && isatty(2) == 1)
    }

    /// Starts tracing (once per process) and, on a terminal with text logs, the progress display.
    func applyTelemetry() throws {
        try FirebuildTelemetry.bootstrap(tracing)
        if !(FirebuildProgress.reporter is TerminalProgress) {
            let reporter = TerminalProgress.make(isTerminal: isatty(2) == 1, json: logAsJSON, output: StandardErrorTerminal())
            if reporter is TerminalProgress { TerminalProgress.install(reporter) }
        }
    }

    /// The GlobalOptions of a parsed command, found by reflection so every command that has
    /// `@OptionGroup var global: GlobalOptions` is covered without opting in.
    static func find(in command: Any) -> GlobalOptions? {
        for child in Mirror(reflecting: command).children {
            if let group = child.value as? OptionGroup<GlobalOptions> { return group.wrappedValue }
            if let options = child.value as? GlobalOptions { return options }
        }
        return nil
    }
}
