import FirebuildCore
import Foundation
import Logging

/// Profiles on disk: one JSON file per profile at `<conf-dir>/<lowercased name>` (no extension,
/// as the original). The directory is created 0755 (the original made it 0644, unusable without root).
public struct ProfileStore: Sendable {
    public let directory: String

    public init(directory: String = FirebuildPaths.defaultProfileConfDir) {
        self.directory = directory
    }

    /// Profile names become file names: lowercase letters, digits, `.`, `_`, `-`, no leading dot.
    public static func normalizedName(_ name: String) throws -> String {
        let n = name.lowercased()
        let ok = (1...64).contains(n.utf8.count) && n.first != "." && n.utf8.allSatisfy {
            ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9"))
                || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-")
        }
        guard ok else {
            throw FirebuildError(.invalidArgument, "invalid profile name \"\(name)\": use 1-64 letters, digits, . _ or - (not starting with .)")
        }
        return n
    }

    public func path(for name: String) throws -> String {
        directory + "/" + (try ProfileStore.normalizedName(name))
    }

    /// Validates and saves a profile; an existing one is replaced only with `overwrite`.
    public func create(_ name: String, _ profile: Profile, overwrite: Bool = false) throws {
        try profile.validate()
        let file = try path(for: name)
        if !FileManager.default.fileExists(atPath: directory) {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            chmod(directory, 0o755)  // exact, whatever the umask
        }
        try FileLock.withLock(directory + "/.lock") {
            if !overwrite && FileManager.default.fileExists(atPath: file) {
                throw FirebuildError(.alreadyExists, "profile \(name) already exists in \(directory); pass --overwrite to replace it")
            }
            try AtomicFile.writeJSON(profile, to: file, mode: 0o644)
        }
    }

    public func read(_ name: String) throws -> Profile {
        let file = try path(for: name)
        guard let data = FileManager.default.contents(atPath: file) else {
            throw FirebuildError(.notFound, "profile \(name) not found in \(directory); create it with firebuild profile-create --profile \(name)")
        }
        do {
            return try JSONDecoder().decode(Profile.self, from: data)
        } catch {
            throw FirebuildError(.parse, "profile \(file) is not valid profile JSON: \(error)")
        }
    }

    /// Loads `name` when one is given (the global `--profile`), nil otherwise.
    public func load(_ name: String?) throws -> Profile? {
        guard let name, !name.isEmpty else { return nil }
        return try read(name)
    }

    /// Every readable profile, sorted by name. Files that are not profiles are skipped.
    public func list() -> [(name: String, profile: Profile)] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
        var out: [(String, Profile)] = []
        for name in names {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory + "/" + name, isDirectory: &isDir), !isDir.boolValue,
                  let profile = try? read(name) else { continue }
            out.append((name, profile))
        }
        return out.map { (name: $0.0, profile: $0.1) }
    }

    public func remove(_ name: String) throws {
        let file = try path(for: name)
        try FileLock.withLock(directory + "/.lock") {
            guard unlink(file) == 0 else {
                if errno == ENOENT { throw FirebuildError(.notFound, "profile \(name) not found in \(directory)") }
                throw FirebuildError.posix("remove", path: file)
            }
        }
    }
}
