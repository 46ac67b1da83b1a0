import Build
import FirebuildCore
import Foundation
import Store
import Testing

/// Acceptance against buildah: every case of Tests/BuildTests/Corpus is built by firebuild (real
/// QEMU VMs) and by `buildah bud` (chroot isolation, vfs, inside a test network namespace) from
/// the same busybox OCI layout, and the results must be the same image:
/// - config: Env (in order), Entrypoint, Cmd, WorkingDir, User, ExposedPorts, Volumes, Labels,
///   StopSignal, Healthcheck, Shell, OnBuild — empty and absent count as equal; buildah's
///   `io.buildah.version` label is ignored;
/// - file tree: path, type, permission bits, uid, gid, size, symlink target, sha256 of content.
///   Never compared: times, directory sizes. Tolerated (see AcceptanceTolerance): firebuild's
///   /lost+found; buildah's empty /etc/hosts, /etc/hostname,
///   /etc/resolv.conf (its RUN bind-mount targets).
/// Every other difference is a firebuild bug (or, where buildah departs from Docker, a
/// documented buildah quirk — see `ConfigComparison.dockerEquivalent`).
/// `FB_ACCEPTANCE_CASES=config,users` limits the run (while debugging one case).
@Suite(.serialized, .enabled(if: AcceptanceFixture.missing == nil, "\(AcceptanceFixture.missing ?? "")"))
struct BuildahAcceptanceTests {
    /// In build order: onbuild-child builds FROM the image of onbuild-parent.
    static let cases = ["base", "config", "users", "copyrules", "multistage", "scratch", "onbuild-parent", "onbuild-child"]

    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Corpus").path

    static func tag(_ name: String) -> String { name.hasPrefix("onbuild-parent") ? "onbuild-parent:1" : "acc/\(name):1" }

    @Test(.timeLimit(.minutes(60)))
    func corpusMatchesBuildah() throws {
        let fixture = try AcceptanceFixture()
        defer { fixture.tearDown() }
        try fixture.makeBase()
        let only = ProcessInfo.processInfo.environment["FB_ACCEPTANCE_CASES"].map { Set($0.split(separator: ",").map(String.init)) }
        var timings: [String] = []
        for name in Self.cases where only == nil || only?.contains(name) == true || (name == "onbuild-parent" && only?.contains("onbuild-child") == true) {
            let context = try Self.prepareContext(name, scratch: fixture.home)
            let tag = Self.tag(name)
            var t = Date()
            let (result, stored) = try fixture.buildWithFirebuild(context: context, tag: tag)
            let fbSeconds = Date().timeIntervalSince(t)
            t = Date()
            let buildahConfig = try fixture.buildWithBuildah(context: context, tag: tag)
            let bhSeconds = Date().timeIntervalSince(t)
            timings.append(String(format: "%@: firebuild %.1f s (%d VM boots), buildah %.1f s", name, fbSeconds, result.vmBoots, bhSeconds))

            let baseEnv = try Self.finalBase(name).map { try fixture.buildahConfig($0).env ?? [] } ?? []
            let expected = ConfigComparison.dockerEquivalent(ofBuildah: buildahConfig, baseEnv: baseEnv)
            let configDiffs = try ConfigComparison.differences(firebuild: stored.metadata.config, buildah: expected)
            #expect(configDiffs.isEmpty, "\(name): image config differs:\n\(configDiffs.joined(separator: "\n"))")
            let treeDiffs = AcceptanceTolerance.differences(firebuild: try fixture.firebuildTree(stored),
                                                            buildah: try fixture.buildahTree(tag: tag))
            #expect(treeDiffs.isEmpty, "\(name): file trees differ (\(treeDiffs.count)):\n\(treeDiffs.prefix(60).joined(separator: "\n"))")
            #expect(result.vmBoots <= Self.stageCount(context), "\(name): at most one VM boot per stage")
        }
        print("acceptance timings:\n" + timings.joined(separator: "\n"))
    }

    /// The image the last stage is built FROM (its Env order is the base of Docker's order).
    static func finalBase(_ name: String) -> String? {
        switch name {
        case "onbuild-child": return "onbuild-parent:1"
        case "scratch": return nil
        default: return "busybox:1"
        }
    }

    static func stageCount(_ context: String) -> Int {
        let text = (try? String(contentsOfFile: context + "/Dockerfile", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").filter { $0.uppercased().hasPrefix("FROM ") }.count
    }

    /// A private copy of the case's folder, plus what must not be committed: symlinks, unusual
    /// modes, owners and the tar archives ADD unpacks (made here from a tree with owners and modes).
    static func prepareContext(_ name: String, scratch: String) throws -> String {
        let context = "\(scratch)/ctx-\(name)"
        try? FileManager.default.removeItem(atPath: context)
        if name == "base" {
            try FileManager.default.createDirectory(atPath: context, withIntermediateDirectories: true)
            // No step changes files: firebuild boots no VM, the image is the imported base itself.
            try AtomicFile.write("FROM busybox:1\nLABEL case=base\n", to: context + "/Dockerfile")
            return context
        }
        try Command("cp", ["-a", corpus + "/" + name, context]).check()
        guard name == "copyrules" else { return context }
        try FileManager.default.createSymbolicLink(atPath: context + "/dir/link", withDestinationPath: "x.txt")
        try AtomicFile.write("private\n", to: context + "/dir/private.txt", mode: 0o640)
        chmod(context + "/dir/nested", 0o750)

        let tree = scratch + "/archive-tree"
        try? FileManager.default.removeItem(atPath: tree)
        try FileManager.default.createDirectory(atPath: tree + "/sub/deeper", withIntermediateDirectories: true)
        try AtomicFile.write("top\n", to: tree + "/top.txt", mode: 0o640)
        try AtomicFile.write("inner\n", to: tree + "/sub/inner.txt", mode: 0o600)
        try AtomicFile.write("#!/bin/sh\n", to: tree + "/sub/deeper/run.sh", mode: 0o755)
        try FileManager.default.createSymbolicLink(atPath: tree + "/sub/link", withDestinationPath: "../top.txt")
        chown(tree + "/top.txt", 1000, 1000)
        chown(tree + "/sub", 1001, 1002)
        chmod(tree + "/sub", 0o750)
        chmod(tree, 0o755)
        try Command("tar", ["--numeric-owner", "-C", tree, "-cf", context + "/archive.tar", "."]).check()
        try Command("tar", ["--numeric-owner", "-C", tree, "-czf", context + "/archive.tar.gz", "top.txt", "sub"]).check()
        return context
    }
}
