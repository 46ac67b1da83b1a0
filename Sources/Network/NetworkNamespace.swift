import CSyscalls
import FirebuildCore
import Foundation

/// A named network namespace (`ip netns`), bind-mounted at `/var/run/netns/<name>`. Each VM gets
/// its own (`fb-<vmid>`); tests also make a sandbox one that stands in for the host.
public struct NetworkNamespace: Sendable, Equatable, CustomStringConvertible {
    public let name: String
    public static let runDir = "/var/run/netns"

    /// Refers to a namespace by name; does not create it (see `create`).
    public init(name: String) throws {
        try NetworkNamespace.validate(name)
        self.name = name
    }

    public var path: String { "\(NetworkNamespace.runDir)/\(name)" }
    public var description: String { name }
    public var exists: Bool { FileManager.default.fileExists(atPath: path) }

    /// The conventional namespace of a VM.
    public static func forVM(_ vmID: String) throws -> NetworkNamespace { try NetworkNamespace(name: "fb-\(vmID)") }

    /// Creates the namespace and brings its loopback up. Fails if it already exists.
    @discardableResult
    public static func create(_ name: String) throws -> NetworkNamespace {
        let ns = try NetworkNamespace(name: name)
        if ns.exists {
            throw FirebuildError(.alreadyExists, "network namespace \(name) already exists (\(ns.path)); delete it with `ip netns del \(name)` or pick another name")
        }
        try Command("ip", ["netns", "add", name]).check()
        do {
            try ns.run("ip", ["link", "set", "lo", "up"])
        } catch {
            try? ns.delete()
            throw error
        }
        return ns
    }

    /// Deletes the namespace; devices inside it (veth ends, taps, bridges) go with it.
    /// Deleting one that is already gone is not an error.
    public func delete() throws {
        guard exists else { return }
        try Command("ip", ["netns", "del", name]).check()
    }

    /// A command that runs `executable` inside this namespace.
    public func command(_ executable: String, _ arguments: [String] = [], environment: [String: String]? = nil,
                        stdin: Data? = nil, timeout: TimeInterval? = nil) -> Command {
        Command("ip", ["netns", "exec", name, executable] + arguments, environment: environment, stdin: stdin, timeout: timeout)
    }

    /// Runs a program inside the namespace and fails on a non-zero exit.
    @discardableResult
    public func run(_ executable: String, _ arguments: [String] = [], stdin: Data? = nil,
                    timeout: TimeInterval? = 60) throws -> Command.Result {
        try command(executable, arguments, stdin: stdin, timeout: timeout).check()
    }

    /// Runs `body` on a dedicated thread that has entered the namespace (setns affects only the
    /// calling thread, so the rest of the process stays where it is). Sockets opened in `body`
    /// belong to the namespace and keep working after it returns.
    public func perform<T>(_ body: @escaping () throws -> T) throws -> T {
        let box = ResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        let nsPath = path
        let thread = Thread {
            defer { done.signal() }
            let saved = fb_netns_enter(nsPath)
            guard saved >= 0 else {
                box.result = .failure(FirebuildError.posix("enter network namespace", path: nsPath))
                return
            }
            box.result = Result { try body() }
            // If the thread cannot go back it must not be reused; Thread exits right after anyway.
            _ = fb_netns_restore(saved)
        }
        thread.start()
        done.wait()
        guard let result = box.result else { throw FirebuildError(.internal, "namespace thread produced no result") }
        return try result.get()
    }

    /// Names of existing namespaces (`ip netns list`).
    public static func list() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: runDir)) ?? []).sorted()
    }

    static func validate(_ name: String) throws {
        let ok = !name.isEmpty && name.count <= 64 && name != "." && name != ".."
            && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") }
        guard ok else {
            throw FirebuildError(.invalidArgument, "invalid network namespace name \"\(name)\": use 1-64 letters, digits, '-', '_' or '.'")
        }
    }
}

private final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, Error>?
}
