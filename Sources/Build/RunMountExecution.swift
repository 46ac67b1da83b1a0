import FirebuildCore
import Foundation
import Guest

/// What a RUN step's mounts became in the guest: the exec's mounts and extra environment, and
/// what to clean up afterwards (the staging tree and mount targets that did not exist before).
struct PreparedMounts {
    var mounts: [ExecMount] = []
    /// Secret environment variables (`env=`): never logged, never part of a cache key.
    var env: [String] = []
    var stubs: [(top: String, leaf: String)] = []
    /// Bind source files that came from the content disk.
    var filesFromDisk = 0
}

extension StageRunner {
    /// Stages bind sources and secrets into the guest's /run tmpfs and describes every mount.
    func prepareMounts(_ step: StageStep, conn: GuestConnection, caches: CacheMountSet?,
                       content: StageContentDisk? = nil) throws -> PreparedMounts {
        var p = PreparedMounts()
        let location = "\(fileName):\(step.line)"
        for (i, m) in step.mounts.enumerated() {
            switch m {
            case let .tmpfs(target, size):
                p.mounts.append(ExecMount(kind: .tmpfs, target: target, size: size.map { Int($0) }))
            case let .bind(target, staging, mountSource, ops, readOnly):
                try conn.mkdir(MkdirRequest(path: staging, mode: 0o755))
                p.filesFromDisk += try FileOpApplier(runner: self, conn: conn, content: content).apply(ops)
                p.mounts.append(ExecMount(kind: .bind, target: target, source: mountSource, readOnly: readOnly))
            case let .cache(target, id, _, readOnly, mode, uid, gid, _):
                guard let uuid = caches?.uuid(for: id) else {
                    throw FirebuildError(.internal, "cache mount \(id) has no disk attached to the build VM", location: location)
                }
                p.mounts.append(ExecMount(kind: .cache, target: target, source: uuid, readOnly: readOnly, mode: mode,
                                          uid: uid.map { Int($0) }, gid: gid.map { Int($0) }))
            case let .secret(id, target, envName, required, mode, uid, gid):
                guard let source = request.secrets[id], let value = try source.value(id: id) else {
                    if required { throw missingSecret(id, location: location) }
                    continue  // BuildKit: an optional secret that was not given is simply not mounted
                }
                if let target {
                    let file = "\(StageStepPlanner.stepStaging)/s\(i)"
                    try conn.writeFile(WriteFileRequest(path: file, mode: mode, uid: Int(uid), gid: Int(gid)), data: value, timeout: 120)
                    p.mounts.append(ExecMount(kind: .bind, target: target, source: file, readOnly: true))
                }
                if let envName { p.env.append(envName + "=" + String(decoding: value, as: UTF8.self)) }
            }
        }
        for m in p.mounts {
            if let stub = try missingAncestor(of: m.target, conn: conn) { p.stubs.append((stub, m.target)) }
        }
        return p
    }

    func missingSecret(_ id: String, location: String) -> FirebuildError {
        FirebuildError(.notFound, "RUN needs secret \"\(id)\" (required=true) but the build has none: pass --secret id=\(id),src=PATH or --secret id=\(id),env=VAR (Lua: secrets = { \(id) = \"path\" })", location: location)
    }

    /// Fails before any VM boots when a step to run needs a required secret the build lacks.
    func checkRequiredSecrets(_ steps: ArraySlice<StageStep>) throws {
        for step in steps {
            for case let .secret(id, _, _, true, _, _, _) in step.mounts {
                guard let source = request.secrets[id], try source.value(id: id) != nil else {
                    throw missingSecret(id, location: "\(fileName):\(step.line)")
                }
            }
        }
    }

    /// The topmost missing directory on the way to `path` (nil when `path` exists): what the mount
    /// helper will create and cleanup must remove again.
    func missingAncestor(of path: String, conn: GuestConnection) throws -> String? {
        var missing: String?
        var cur = path
        while cur != "/" {
            if try conn.stat(cur).exists { break }
            missing = cur
            cur = BuildPath.dirname(cur)
        }
        return missing
    }

    /// Removes the step's staging tree and the mount stubs (empty files and directories the mounts
    /// needed), as BuildKit does, so they do not end up in the layer.
    func cleanupMounts(_ p: PreparedMounts, conn: GuestConnection) {
        let argv = ["/proc/1/exe", "--cleanup-mounts", StageStepPlanner.stepStaging] + p.stubs.flatMap { [$0.top, $0.leaf] }
        do {
            let (status, _, err) = try conn.execCollect(ExecRequest(argv: argv), timeout: 120)
            if !status.success { request.output("warning: cleaning up RUN mounts failed: \(String(decoding: err, as: UTF8.self))") }
        } catch {
            request.output("warning: cleaning up RUN mounts failed: \(error)")
        }
    }
}
