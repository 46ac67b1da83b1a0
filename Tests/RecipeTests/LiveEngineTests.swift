import Foundation
import Testing
import FirebuildCore
import LuaRuntime
import RootFS
import Store
@testable import Recipe

/// Recipes against the real engines (`RecipeEngines.live`): real QEMU builds and runs. Each test
/// has its own FIREBUILD_HOME under /tmp, removed at the end; VMs are stopped and purged by the
/// recipe and again by the test. Skipped (with the reason printed) where the machine lacks what
/// they need; CI has everything.
enum LiveRecipe {
    static var missing: String? {
        if geteuid() != 0 { return "needs root" }
        for tool in ["qemu-system-x86_64", "qemu-img", "mkfs.ext4", "debugfs", "e2fsck", "resize2fs", "ip", "iptables", "cpio"]
        where Command.which(tool) == nil {
            return "needs \(tool)"
        }
        if !FileManager.default.isExecutableFile(atPath: RecipeFiles.root + "/.build-static/firebuild-init-static")
            && ProcessInfo.processInfo.environment["FIREBUILD_INIT"] == nil {
            return "needs the static guest init (make init)"
        }
        if !FileManager.default.isExecutableFile(atPath: "/bin/busybox") { return "needs busybox-static" }
        if kernel == nil { return "needs the Debian cloud kernel (/boot/vmlinuz-*-cloud-amd64)" }
        return nil
    }

    static var kernel: String? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/boot")) ?? []
        return names.filter { $0.hasPrefix("vmlinuz-") && $0.hasSuffix("-cloud-amd64") }.sorted().last.map { "/boot/" + $0 }
    }

    /// Kernel and busybox base image in a fresh home: the part every live recipe shares (no VM).
    static let prelude = """
        local firebuild = require "firebuild"
        local busybox = require "firebuild.busybox"
        firebuild.api(1)
        firebuild.settings { home = firebuild.env("FIREBUILD_HOME") }
        local kernel = firebuild.kernel.import { id = "live", path = firebuild.fs.glob("/boot/vmlinuz-*-cloud-amd64")[1] }
        local base = busybox.image { tag = "_/busybox:live" }
        local function record(text) firebuild.log.info("record", { text = text }) end

        """

    /// Runs `body` (after the prelude) as a recipe in `dir` with its own home; returns the result.
    /// `record(text)` in the recipe logs `text`; the test reads it back from `records(logs)`.
    static func run(_ body: String, in dir: String, files: [String: String] = [:], logs: CapturedLogs = CapturedLogs()) throws -> (ScriptResult, home: String) {
        let home = dir + "/home"
        for (name, text) in files { try write(text, to: dir + "/" + name) }
        let path = dir + "/live.lua"
        try write(prelude + body, to: path)
        var environment = ProcessInfo.processInfo.environment
        environment["FIREBUILD_HOME"] = home
        let searchPaths = [dir, RecipeFiles.root + "/lua"]
        let context = RecipeContext(recipePath: path, environment: environment, logger: logs.logger)
        let result = ScriptRunner.run(path: path, options: ScriptOptions(searchPaths: searchPaths), context: context)
        // Belt and braces: whatever the recipe left running goes.
        var settings = RecipeSettings(environment: ["FIREBUILD_HOME": home])
        settings.cniConfDir = home + "/cni/conf.d"
        if let vms = try? RecipeEngines.live.runner.list(settings: settings) {
            for vm in vms { try? RecipeEngines.live.runner.stop(id: vm.id, timeout: 5, settings: settings) }
        }
        _ = try? RecipeEngines.live.runner.purge(settings: settings)
        return (result, home)
    }

    static func records(_ logs: CapturedLogs) -> String {
        logs.events.filter { $0.message == "record" }.compactMap { $0.metadata["text"].map { "\($0)" } }.joined(separator: "\n")
    }

    static func withDir<T>(_ body: (String) throws -> T) throws -> T {
        // Under /tmp (not NSTemporaryDirectory) so the store, the build cache and VM disks share a filesystem.
        let dir = "/tmp/fbrl-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        return try body(dir)
    }
}

@Suite(.serialized) struct LiveEngineTests {
    /// before_step/after_step/on_output around every step, cached steps reported as such on a rebuild.
    @Test(.timeLimit(.minutes(10))) func buildHooksSeeEveryStep() throws {
        if let why = LiveRecipe.missing { print("skipping live build hooks: \(why)"); return }
        try LiveRecipe.withDir { dir in
            let logs = CapturedLogs()
            let (result, _) = try LiveRecipe.run("""
                local function hooks(tag)
                  return {
                    before_build = function(plan) record(tag .. " plan " .. #plan.steps) end,
                    before_step = function(step) record(tag .. " before " .. step.index .. "/" .. step.count .. " " .. step.instruction) end,
                    on_output = function(step, line) if line:match("^hello") then record(tag .. " output " .. line) end end,
                    after_step = function(step, res, rootfs)
                      record(tag .. " after " .. step.index .. " cached=" .. tostring(res.cached) .. " rootfs=" .. tostring(rootfs))
                    end,
                  }
                end
                local df = "FROM _/busybox:live\\nRUN echo hello-from-run > /built.txt && echo hello-output\\nCOPY data.txt /data.txt\\n"
                firebuild.rootfs { dockerfile = df, context = ".", tag = "_/hooks:1", kernel = kernel, hooks = hooks("one") }
                firebuild.rootfs { dockerfile = df, context = ".", tag = "_/hooks:2", kernel = kernel, hooks = hooks("two") }
                """, in: dir, files: ["data.txt": "data\n"], logs: logs)
            #expect(result.exitCode == 0, "\(result.errorOutput)")
            let seen = LiveRecipe.records(logs)
            for line in ["one plan 2", "one before 1/2 RUN echo hello-from-run > /built.txt && echo hello-output",
                         "one output hello-output", "one after 1 cached=false rootfs=nil", "one before 2/2 COPY data.txt /data.txt",
                         "one after 2 cached=false rootfs=nil",
                         "two plan 2", "two before 1/2 RUN", "two after 1 cached=true", "two after 2 cached=true"] {
                #expect(seen.contains(line), "missing \"\(line)\" in:\n\(seen)")
            }
            #expect(!seen.contains("two output"), "cached steps run nothing:\n\(seen)")
        }
    }

    /// after_build edits go into the stored image (checkout copy → debugfs edit → recommit).
    @Test(.timeLimit(.minutes(10))) func afterBuildEditsTheStoredImage() throws {
        if let why = LiveRecipe.missing { print("skipping live after_build: \(why)"); return }
        try LiveRecipe.withDir { dir in
            let (result, home) = try LiveRecipe.run("""
                local app = firebuild.rootfs {
                  dockerfile = "FROM _/busybox:live\\nRUN echo built > /built.txt\\n", tag = "_/edited:1", kernel = kernel,
                  hooks = { after_build = function(rootfs)
                    assert(rootfs:read("/built.txt") == "built\\n", "after_build sees the built filesystem")
                    rootfs:mkdir("/etc/app")
                    rootfs:write("/etc/app/motd", "edited by a hook\\n", { mode = "0600", uid = 7, gid = 8 })
                    rootfs:remove("/built.txt")
                    rootfs:label("org.example.hooked", "yes")
                  end },
                }
                print(app:tag())
                """, in: dir)
            #expect(result.exitCode == 0, "\(result.errorOutput)")
            let stored = try ImageStore(root: home + "/rootfs").get(try ImageTag(parsing: "_/edited:1"))
            let motd = try Ext4Inspector.readFile(image: stored.rootfsPath, path: "/etc/app/motd")
            #expect(String(decoding: motd, as: UTF8.self) == "edited by a hook\n")
            let st = try Ext4Inspector.stat(image: stored.rootfsPath, path: "/etc/app/motd")
            #expect(st.mode & 0o7777 == 0o600 && st.uid == 7 && st.gid == 8)
            #expect(try !Ext4Inspector.exists(image: stored.rootfsPath, path: "/built.txt"))
            #expect(stored.metadata.config.labels?["org.example.hooked"] == "yes")
            #expect(try Ext4Inspector.fsck(image: stored.rootfsPath).clean)
        }
    }

    /// vm.run boots the image for real; on_ready sees the running VM, on_exit the workload's status.
    @Test(.timeLimit(.minutes(10))) func vmRunHooks() throws {
        if let why = LiveRecipe.missing { print("skipping live vm.run hooks: \(why)"); return }
        try LiveRecipe.withDir { dir in
            let logs = CapturedLogs()
            let (result, _) = try LiveRecipe.run("""
                local vm = firebuild.vm.run {
                  from = base, kernel = kernel, name = "livehooks", daemonize = false, mem = 96,
                  cmd = "echo ran-in-vm; sleep 2; exit 3",
                  hooks = {
                    on_ready = function(v)
                      local r = v:exec({ "cat", "/etc/hostname" })
                      record("ready " .. v:id() .. " exec=" .. r.code)
                    end,
                    on_exit = function(v, code) record("exit " .. v:id() .. " " .. tostring(code)) end,
                  },
                }
                record("listed " .. #firebuild.vm.ls())
                """, in: dir, logs: logs)
            #expect(result.exitCode == 0, "\(result.errorOutput)")
            let events = LiveRecipe.records(logs)
            #expect(events.contains("ready livehooks exec=0"), "\(events)")
            #expect(events.contains("exit livehooks 3"), "\(events)")
        }
    }

    /// The quickstart for real: kernel, base image, build, CNI network in a sandbox namespace, VM,
    /// HTTP answer, cleanup. (In this suite so no two VM tests share the 2 cores at once.)
    @Test(.timeLimit(.minutes(15))) func quickstartServesItsPage() throws {
        if let why = LiveRecipe.missing { print("skipping quickstart end-to-end: \(why)"); return }
        try LiveRecipe.withDir { dir in
            let home = dir + "/home"
            let path = RecipeFiles.root + "/recipes/quickstart.lua"
            var environment = ProcessInfo.processInfo.environment
            environment["FIREBUILD_HOME"] = home
            let sandbox = "t\(getpid() % 100000)"
            let context = RecipeContext(recipePath: path, args: [sandbox], environment: environment)
            let result = ScriptRunner.run(path: path, args: context.args,
                                          options: ScriptOptions(searchPaths: [RecipeFiles.root + "/recipes", RecipeFiles.root + "/lua"]),
                                          context: context)
            #expect(result.exitCode == 0, "\(result.errorOutput)")
            let namespaces = (try? Command("ip", ["netns", "list"]).check().stdoutString) ?? ""
            #expect(!namespaces.contains("fbdemo-" + sandbox), "the recipe deletes its sandbox namespace")
        }
    }
}
