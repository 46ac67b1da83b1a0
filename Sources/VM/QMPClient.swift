import FirebuildCore
import Foundation

/// A QEMU Machine Protocol client: one JSON object per line; the server greets, the client
/// negotiates with `qmp_capabilities`, then each command gets a `return` or an `error`
/// (asynchronous `event` lines may arrive in between and are skipped).
public final class QMPClient {
    private let fd: Int32

    public init(socketPath: String, timeout: TimeInterval = 5) throws {
        fd = try UnixSocket.connect(socketPath, timeout: timeout)
        UnixSocket.setTimeout(fd, seconds: timeout)
        do {
            let greeting = try readMessage()
            guard greeting["QMP"] != nil else {
                throw FirebuildError(.parse, "\(socketPath) is not a QMP socket (no greeting)")
            }
            _ = try execute("qmp_capabilities")
        } catch {
            close(fd)
            throw error
        }
    }

    deinit { close(fd) }

    private func readMessage() throws -> [String: Any] {
        let line = try UnixSocket.readLine(fd)
        guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw FirebuildError(.parse, "QMP sent something that is not a JSON object: \(line.prefix(200))")
        }
        return obj
    }

    /// Runs one command and returns its `return` value.
    @discardableResult
    public func execute(_ command: String, arguments: [String: Any]? = nil) throws -> Any {
        var request: [String: Any] = ["execute": command]
        if let arguments { request["arguments"] = arguments }
        var data = try JSONSerialization.data(withJSONObject: request)
        data.append(0x0A)
        try UnixSocket.writeAll(fd, data)
        while true {
            let msg: [String: Any]
            do {
                msg = try readMessage()
            } catch let e as FirebuildError where e.code == .io && command == "quit" {
                return [String: Any]()  // QEMU may close before answering quit
            }
            if msg["event"] != nil { continue }
            if let ret = msg["return"] { return ret }
            if let err = msg["error"] as? [String: Any] {
                throw FirebuildError(.subprocess, "QMP \(command) failed: \(err["class"] ?? "?"): \(err["desc"] ?? "")")
            }
        }
    }

    /// `query-status`: the run state (`running`, `paused`, `shutdown`, `prelaunch`, …).
    public func status() throws -> String {
        let ret = try execute("query-status") as? [String: Any]
        guard let status = ret?["status"] as? String else { throw FirebuildError(.parse, "QMP query-status returned no status") }
        return status
    }
}
