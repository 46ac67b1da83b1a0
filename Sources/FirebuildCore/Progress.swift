import Foundation

/// How long-running work tells the user where it is. Modules call the shared reporter
/// (`FirebuildProgress.reporter`); the default does nothing, the CLI installs a terminal
/// renderer only when stderr is a terminal and logs are text. Calls must be cheap and may come
/// from any thread: reporters throttle drawing themselves.
public protocol ProgressReporter: AnyObject, Sendable {
    /// Bytes of one blob (layer, rootfs copy…) moved so far; `total` nil when unknown.
    /// A layer is complete when `done == total`.
    func layer(id: String, done: Int64, total: Int64?)
    /// The build step now running, e.g. "[2/3] step 4/9: RUN apt-get install -y curl".
    func step(label: String)
    /// A wait with no measurable progress (VM boot, shutdown, guest ready): shown with a spinner.
    func wait(label: String)
    /// The current operation is over: clear whatever is shown.
    func finish()
}

/// The reporter that draws nothing (default, tests, non-terminals, JSON logs).
public final class NoProgress: ProgressReporter {
    public init() {}
    public func layer(id: String, done: Int64, total: Int64?) {}
    public func step(label: String) {}
    public func wait(label: String) {}
    public func finish() {}
}

public enum FirebuildProgress {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var current: ProgressReporter = NoProgress()

    /// The process-wide reporter modules report to.
    public static var reporter: ProgressReporter {
        get { lock.lock(); defer { lock.unlock() }; return current }
        set { lock.lock(); current = newValue; lock.unlock() }
    }

    /// Shows `label` with a spinner while `body` runs, then clears it (also on error).
    public static func waiting<T>(_ label: String, _ body: () throws -> T) rethrows -> T {
        let r = reporter
        r.wait(label: label)
        defer { r.finish() }
        return try body()
    }

    public static func waiting<T>(_ label: String, _ body: () async throws -> T) async rethrows -> T {
        let r = reporter
        r.wait(label: label)
        defer { r.finish() }
        return try await body()
    }
}
