import FirebuildCore
import Foundation
import RootFS
import Testing
@testable import Store

@Suite struct ProfileTests {
    @Test func createInspectListRemove() throws {
        let tmp = try TempDir()
        let dir = tmp.path + "/etc/profiles"
        let store = ProfileStore(directory: dir)
        let profile = Profile(chrootBase: "/srv/jailer", runCache: tmp.path + "/cache", storageProvider: "directory",
                              storageStrings: ["rootfs-storage-root": "/fc/rootfs", "kernel-storage-root": "/fc/vmlinux"],
                              tracingEnable: true, vmm: "qemu", mem: 256)
        umask(0o077)  // the directory mode must not depend on the caller's umask
        defer { umask(0o022) }
        try store.create("Dev", profile)
        var st = stat()
        #expect(stat(dir, &st) == 0 && st.st_mode & 0o7777 == 0o755)
        #expect(FileManager.default.fileExists(atPath: dir + "/dev"))  // lowercased, no extension
        #expect(try store.read("dev") == profile)
        let json = readText(dir + "/dev") ?? ""
        #expect(json.contains("\"storage-profile-config-strings\"") && json.contains("\"tracing-enable\" : true"))

        #expect(throws: FirebuildError.self) { try store.create("dev", Profile()) }  // no --overwrite
        try store.create("dev", Profile(cpu: 2), overwrite: true)
        #expect(try store.read("dev") == Profile(cpu: 2))
        try store.create("alpha", Profile())
        try writeFile(dir + "/not-a-profile", Data("nonsense".utf8))
        #expect(store.list().map(\.name) == ["alpha", "dev"])

        try store.remove("dev")
        #expect(throws: FirebuildError.self) { try store.read("dev") }
        #expect(throws: FirebuildError.self) { try store.remove("dev") }
        #expect(try store.load(nil) == nil)
        #expect(try store.load("alpha") == Profile())
    }

    /// The original's profile file (single-line json.Marshal output) still loads.
    @Test func readsOriginalFormat() throws {
        let text = #"{"binary-firecracker":"/usr/bin/firecracker-v0.22.4","chroot-base":"/srv/jailer","run-cache":"/var/lib/firebuild","storage-provider":"directory","storage-profile-config-strings":{"rootfs-storage-root":"/firecracker/rootfs"},"tracing-enable":true}"#
        let p = try JSONDecoder().decode(Profile.self, from: Data(text.utf8))
        #expect(p.binaryFirecracker == "/usr/bin/firecracker-v0.22.4" && p.storageStrings?["rootfs-storage-root"] == "/firecracker/rootfs")
        #expect(p.tracingEnable == true && p.tracingLogEnable == nil)
    }

    @Test(arguments: [
        Profile(chrootBase: "/this/chroot/base/is/much/too/long"),  // 34 > 31
        Profile(chrootBase: "/"), Profile(chrootBase: "relative"), Profile(runCache: "/"), Profile(runCache: ""),
        Profile(storageProvider: "s3"), Profile(storageStrings: ["rootfs-root": "/x"]), Profile(storageStrings: ["rootfs-storage-root": "x"]),
        Profile(storageInt64: ["size": 1]), Profile(tracingCollectorHostPort: "nohostport"), Profile(vmm: "kvmtool"),
        Profile(mem: 4), Profile(cpu: 0), Profile(binaryFirecracker: "/nonexistent/firecracker"), Profile(headroom: "lots"),
    ])
    func invalidProfiles(profile: Profile) {
        #expect(throws: FirebuildError.self) { try profile.validate() }
    }

    @Test func chrootBaseMessageExplains() {
        do {
            try Profile.validateChrootBase("/this/chroot/base/is/much/too/long")
            Issue.record("expected an error")
        } catch let e as FirebuildError {
            #expect(e.message.contains("31") && e.code == .invalidArgument)
        } catch { Issue.record("\(error)") }
        #expect(throws: Never.self) { try Profile.validateChrootBase("/srv/jailer") }
        #expect(throws: Never.self) { try Profile.validateChrootBase("/" + String(repeating: "a", count: 30)) }
    }

    @Test(arguments: ["", "a/b", ".hidden", "with space", String(repeating: "x", count: 65)])
    func invalidNames(name: String) {
        #expect(throws: FirebuildError.self) { try ProfileStore.normalizedName(name) }
    }
}

/// Precedence: flag, then profile, then default; one row per setting kind.
@Suite struct PrecedenceTests {
    struct Row: Sendable, CustomStringConvertible {
        let flag: String?, profile: String?, expected: String, source: SettingSource
        var description: String { "flag=\(flag ?? "-") profile=\(profile ?? "-")" }
    }

    @Test(arguments: [
        Row(flag: "F", profile: "P", expected: "F", source: .flag),
        Row(flag: "F", profile: nil, expected: "F", source: .flag),
        Row(flag: nil, profile: "P", expected: "P", source: .profile),
        Row(flag: nil, profile: nil, expected: "D", source: .default),
        Row(flag: "", profile: "P", expected: "", source: .flag),  // an explicit empty flag is still the flag
    ])
    func settingResolve(row: Row) {
        let s = Setting<String>.resolve(flag: row.flag, profile: row.profile, default: "D")
        #expect(s.value == row.expected && s.source == row.source)
    }

    @Test func resolverAppliesRuleToEverySetting() throws {
        let paths = FirebuildPaths(home: "/tmp/fbhome")
        let profile = Profile(chrootBase: "/srv/p", runCache: "/tmp/p-cache", storageStrings: ["rootfs-storage-root": "/p/rootfs"],
                              tracingEnable: true, tracingCollectorHostPort: "10.0.0.1:6831", vmm: "firecracker", mem: 512,
                              headroom: "25%")
        var flags = SettingOverrides()
        flags.chrootBase = "/srv/f"
        flags.tracingEnable = false  // --no-tracing-enable beats the profile's true
        flags.kernelStorageRoot = "/f/kernels"
        flags.cpu = 2
        let r = try ProfileResolver(profile: profile, paths: paths).resolve(flags)
        #expect(r.chrootBase.value == "/srv/f" && r.chrootBase.source == .flag)
        #expect(r.runCache.value == "/tmp/p-cache" && r.runCache.source == .profile)
        #expect(r.tracingEnable.value == false && r.tracingEnable.source == .flag)
        #expect(r.tracingCollectorHostPort.value == "10.0.0.1:6831")
        #expect(r.tracingLogEnable.value == false && r.tracingLogEnable.source == .default)
        #expect(r.vmm.value == "firecracker" && r.mem.value == 512 && r.mem.source == .profile)
        #expect(r.cpu.value == 2 && r.cpu.source == .flag)
        #expect(r.storage == StorageConfig(rootfsRoot: "/p/rootfs", kernelRoot: "/f/kernels", contentRoot: "/tmp/fbhome/content"))
        #expect(r.headroom.value == .headroomPercent(25) && r.headroom.source == .profile)
        #expect(r.binaryFirecracker.value == nil && r.binaryFirecracker.source == .default)
        #expect(r.vmlinuxID.value == nil)
    }

    @Test func defaultsWithoutProfile() throws {
        let r = try ProfileResolver(profile: nil, paths: FirebuildPaths(home: "/tmp/h")).resolve()
        #expect(r.chrootBase.value == "/srv/jailer" && r.runCache.value == "/tmp/h")
        #expect(r.storage == StorageConfig(paths: FirebuildPaths(home: "/tmp/h")))
        #expect(r.storage.rootfsRoot == "/tmp/h/rootfs" && r.storage.kernelRoot == "/tmp/h/kernels")
        #expect(r.tracingCollectorHostPort.value == "127.0.0.1:6831" && r.mem.value == 128 && r.cpu.value == 1)
        #expect(r.headroom.value == SizeSpec.default)
    }

    @Test func invalidEffectiveValuesFail() {
        var flags = SettingOverrides()
        flags.chrootBase = "/a/very/long/chroot/base/directory/x"
        #expect(throws: FirebuildError.self) { try ProfileResolver(profile: nil).resolve(flags) }
        var f2 = SettingOverrides()
        f2.storageProvider = "nfs"
        #expect(throws: FirebuildError.self) { try ProfileResolver(profile: nil).resolve(f2) }
        #expect(throws: FirebuildError.self) { try ProfileResolver(profile: Profile(vmm: "xen")).resolve() }
    }
}
