import ArgumentParser
import FirebuildCore
import Foundation
import Telemetry
import Tracing

extension FirebuildCommand {
    /// Entry point (shadows ArgumentParser's `main()`): parses, sets up logging and tracing,
    /// runs the command inside one root span named after it (`firebuild image pull`), then
    /// flushes the trace exporter (bounded wait) before the process exits.
    public static func main() {
        main(Array(CommandLine.arguments.dropFirst()))
    }

    public static func main(_ arguments: [String]) -> Never {
        var command: ParsableCommand
        do {
            command = try parseAsRoot(arguments)
        } catch {
            exit(withError: error)
        }
        do {
            try GlobalOptions.find(in: command)?.apply()
        } catch {
            exit(withError: error)
        }
        let name = commandPath(of: type(of: command)).joined(separator: " ")
        let outcome: Error? = FirebuildTracing.span(name, attributes: [FirebuildSpanKey.command: name]) { span in
            do {
                try run(&command)
                return nil
            } catch where isSuccess(error) {
                return error
            } catch let code as ExitCode {
                // The command already printed why; the span says how it ended.
                span.attributes["process.exit.code"] = Int(code.rawValue)
                span.setStatus(SpanStatus(code: .error, message: "exit status \(code.rawValue)"))
                return code
            } catch {
                FirebuildTracing.fail(span, error)
                return error
            }
        }
        FirebuildProgress.reporter.finish()
        FirebuildTelemetry.shutdown(timeout: 5)
        if let outcome { exit(withError: outcome) }
        exit()
    }

    /// Runs sync and async commands alike; async ones on a task while this thread waits,
    /// carrying the root span's context over (task-locals do not cross into a new task).
    static func run(_ command: inout ParsableCommand) throws {
        guard let asyncCommand = command as? AsyncParsableCommand else {
            try command.run()
            return
        }
        let context = InstrumentationContext.current
        let box = ResultBox()
        let done = DispatchSemaphore(value: 0)
        Task {
            var c = asyncCommand
            do {
                try await InstrumentationContext.$current.withValue(context) { try await c.run() }
            } catch {
                box.error = error
            }
            done.signal()
        }
        done.wait()
        if let error = box.error { throw error }
    }

    /// `["firebuild", "image", "pull"]` for ImagePullCommand: the path in the command tree.
    static func commandPath(of type: ParsableCommand.Type) -> [String] {
        func search(_ node: ParsableCommand.Type, _ path: [String]) -> [String]? {
            let here = path + [node._commandName]
            if node == type { return here }
            for sub in node.configuration.subcommands {
                if let found = search(sub, here) { return found }
            }
            return nil
        }
        return search(FirebuildCommand.self, []) ?? ["firebuild", type._commandName]
    }

    /// Exits that are not failures: `--help`, `ExitCode.success`.
    static func isSuccess(_ error: Error) -> Bool {
        if let code = error as? ExitCode { return code == .success }
        return error is CleanExit
    }
}

private final class ResultBox: @unchecked Sendable {
    var error: Error?
}
