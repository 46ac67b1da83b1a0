import FirebuildCore
import Foundation

/// Copies files out of an ext4 image without mounting it (debugfs `rdump` keeps modes, owners,
/// symlinks), for `COPY --from`.
enum StageFiles {
    static func extract(image: String, paths: [String], into dir: String) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var wanted = Set<String>()
        for p in paths {
            // The fixed part of the path: wildcards are matched later on the extracted tree.
            let parts = BuildPath.contextRelative(p).split(separator: "/").map(String.init)
            let fixed = parts.prefix { !GoGlob.hasMeta($0) }
            if fixed.isEmpty {
                // A wildcard at the top: every top-level entry.
                let ls = try Command("debugfs", ["-R", "ls -p /", image]).run()
                for line in ls.stdoutString.split(separator: "\n") {
                    let f = line.split(separator: "/", omittingEmptySubsequences: false)
                    if f.count > 5, !f[5].isEmpty, f[5] != ".", f[5] != ".." { wanted.insert(String(f[5])) }
                }
            } else {
                wanted.insert(fixed.joined(separator: "/"))
            }
        }
        // A source that is a symlink is copied as its target (CopyPlanner follows it): extract the
        // targets too, a few hops deep, or the planner would find a dangling link.
        var round = wanted
        var done = Set<String>()
        for _ in 0..<8 where !round.isEmpty {
            try rdump(round.subtracting(done), from: image, into: dir)
            done.formUnion(round)
            round = Set(round.compactMap { rel -> String? in
                guard let target = try? fm.destinationOfSymbolicLink(atPath: dir + "/" + rel) else { return nil }
                let base = target.hasPrefix("/") ? "/" : BuildPath.dirname("/" + rel)
                let next = BuildPath.contextRelative(BuildPath.join(base, target))
                return next.isEmpty || done.contains(next) ? nil : next
            })
        }
    }

    static func rdump(_ paths: Set<String>, from image: String, into dir: String) throws {
        var script = ""
        for rel in paths.sorted() {
            let parent = BuildPath.dirname("/" + rel)
            let hostParent = parent == "/" ? dir : dir + parent
            try FileManager.default.createDirectory(atPath: hostParent, withIntermediateDirectories: true)
            script += "rdump \"/\(rel)\" \"\(hostParent)\"\n"
        }
        guard !script.isEmpty else { return }
        let cmds = dir + ".debugfs"
        try AtomicFile.write(script, to: cmds)
        defer { unlink(cmds) }
        // Missing paths print an error and are reported by the planner as "not found".
        _ = try Command("debugfs", ["-f", cmds, image]).run()
    }
}
