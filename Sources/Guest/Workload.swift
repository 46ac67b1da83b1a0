// Pure pieces of "start the workload as Docker would": the argv, the environment, the PATH lookup.
// Kept out of the init executable so they are unit-tested on the host.

public enum Workload {
    /// Docker's default PATH when the image sets none.
    public static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// ENTRYPOINT + CMD with Docker's override rules:
    /// - `cmdOverride` (args after `run … --`) replaces the image's Cmd;
    /// - `entrypointOverride` replaces the Entrypoint and drops the image's Cmd (not an explicit override);
    /// - shell forms are already `["/bin/sh", "-c", "…"]` arrays in the image config.
    public static func command(image: ImageRuntimeConfig, entrypointOverride: [String]? = nil,
                               cmdOverride: [String]? = nil) throws -> [String] {
        let entrypoint = entrypointOverride ?? image.entrypoint ?? []
        let cmd: [String]
        if let cmdOverride { cmd = cmdOverride }
        else if entrypointOverride != nil { cmd = [] }
        else { cmd = image.cmd ?? [] }
        let argv = entrypoint + cmd
        guard let first = argv.first, !first.isEmpty else {
            throw GuestError(.invalidArgument, "the image has no ENTRYPOINT or CMD and no command was given; pass one after `run IMAGE --`")
        }
        return argv
    }

    /// Merges `KEY=VALUE` lists: later lists override earlier ones, a variable keeps the position
    /// of its first definition (Docker's ENV semantics). An entry without `=` is kept as `KEY=`
    /// only if it is not defined yet (docker run -e KEY without value passes the host's value,
    /// which the host has already substituted).
    public static func mergeEnv(_ lists: [String]...) -> [String] {
        var keys: [String] = [], values: [String: String] = [:]
        for list in lists {
            for entry in list {
                let parts = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let key = String(parts[0])
                if key.isEmpty { continue }
                if values[key] == nil { keys.append(key) }
                if parts.count > 1 { values[key] = String(parts[1]) }
                else if values[key] == nil { values[key] = "" }
            }
        }
        return keys.map { "\($0)=\(values[$0] ?? "")" }
    }

    public static func lookup(_ env: [String], _ key: String) -> String? {
        for entry in env.reversed() where entry.hasPrefix(key + "=") { return String(entry.dropFirst(key.count + 1)) }
        return nil
    }

    /// The final environment of a process: PATH defaulted, HOSTNAME and HOME added when missing
    /// (what Docker adds to every container process).
    public static func finalEnv(_ env: [String], hostname: String?, home: String) -> [String] {
        var extra: [String] = []
        if lookup(env, "PATH") == nil { extra.append("PATH=\(defaultPath)") }
        if let hostname, lookup(env, "HOSTNAME") == nil { extra.append("HOSTNAME=\(hostname)") }
        if lookup(env, "HOME") == nil { extra.append("HOME=\(home)") }
        return extra + env
    }

    /// Resolves argv[0] against PATH (from the process environment, as Docker does), checking
    /// `isExecutable` for each candidate; names containing "/" are used as given.
    public static func resolveExecutable(_ name: String, path: String?, workdir: String,
                                         isExecutable: (String) -> Bool) throws -> String {
        if name.contains("/") {
            if name.hasPrefix("/") { return name }
            return (workdir.hasSuffix("/") ? workdir : workdir + "/") + name
        }
        for dir in (path ?? defaultPath).split(separator: ":", omittingEmptySubsequences: false) {
            let d = dir.isEmpty ? workdir : String(dir)
            let candidate = (d.hasSuffix("/") ? d : d + "/") + name
            if isExecutable(candidate) { return candidate }
        }
        throw GuestError(.notFound, "executable '\(name)' not found in PATH (\(path ?? defaultPath))")
    }

    /// WORKDIR default: "/" when unset or empty; relative paths are taken from "/".
    public static func workdir(_ w: String?) -> String {
        guard let w, !w.isEmpty else { return "/" }
        return w.hasPrefix("/") ? w : "/" + w
    }
}
