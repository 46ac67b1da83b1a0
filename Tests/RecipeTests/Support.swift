import Foundation
import Logging
@testable import Recipe
import LuaRuntime

func withTempDir<T>(_ body: (String) throws -> T) throws -> T {
    let dir = NSTemporaryDirectory() + "recipe-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    return try body(dir)
}

func write(_ text: String, to path: String) throws {
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try text.write(toFile: path, atomically: true, encoding: .utf8)
}

/// Captures log events of one logger (no global state, so tests can run in parallel).
final class CapturedLogs: @unchecked Sendable {
    struct Event { var level: Logger.Level; var message: String; var metadata: Logger.Metadata }
    private let lock = NSLock()
    private var stored: [Event] = []
    var events: [Event] { lock.withLock { stored } }
    func append(_ e: Event) { lock.withLock { stored.append(e) } }

    var logger: Logger {
        Logger(label: "recipe") { _ in CaptureHandler(sink: self) }
    }
}

struct CaptureHandler: LogHandler {
    let sink: CapturedLogs
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        sink.append(.init(level: event.level, message: event.message.description, metadata: event.metadata ?? [:]))
    }
}

/// A VM with every binding, for a recipe at `path` (which need not exist).
func recipeVM(path: String, logs: CapturedLogs = CapturedLogs(), environment: [String: String] = [:],
              dryRun: Bool = false) throws -> LuaVM {
    let context = RecipeContext(recipePath: path, dryRun: dryRun, environment: environment, logger: logs.logger)
    return try ScriptRunner.makeVM(context: context, options: ScriptOptions(dryRun: dryRun, searchPaths: [context.recipeDir]))
}
