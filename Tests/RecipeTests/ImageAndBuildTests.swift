import Foundation
import Testing
import FirebuildCore
import LuaRuntime
@testable import Recipe

@Suite struct ImageBindingTests {
    @Test func getPullImportTagRmAndConfig() throws {
        try withTempDir { dir in
            let fake = FakeEngines()
            _ = fake.store("app:1", config: ImageConfig(env: ["PATH=/bin"], cmd: ["httpd", "-f"], workingDir: "/www", labels: ["a": "b"]))
            let vm = try recipeVM(path: dir + "/r.lua", engines: fake)
            let r = try vm.run("""
                local fb = require 'firebuild'
                local app = fb.image.get('app:1')
                local cfg = app:config()
                local pulled = fb.image.pull { ref = 'docker.io/library/alpine:3.19', tag = 'alpine:3.19' }
                local imported = fb.image.import { file = 'x.tar', tag = 'imp:1' }
                local copy = fb.image.tag(app, 'app:2')
                fb.image.rm('app:1')
                return app:tag(), cfg.Cmd[2], cfg.Env[1], cfg.WorkingDir, cfg.Labels.a, pulled:tag(), imported:tag(), copy:config().Cmd[1],
                       fb.image.exists('app:1'), #fb.image.ls(), tostring(copy)
                """)
            #expect(r.map(\.description) == ["_/app:1", "-f", "PATH=/bin", "/www", "b", "_/alpine:3.19", "_/imp:1", "httpd", "false", "3",
                                             "firebuild.Image(_/app:2)"])
            #expect(fake.calls == ["pull docker.io/library/alpine:3.19", "import \(dir)/x.tar"])
        }
    }

    @Test func missingImageAndBadOptions() throws {
        let vm = try recipeVM(path: "r.lua", engines: FakeEngines())
        for (code, fragment) in [
            ("fb.image.get('nope:1')", "image nope:1 not found"),
            ("fb.image.pull { reference = 'x' }", "unknown option \"reference\" for firebuild.image.pull (did you mean \"ref\"?)"),
            ("fb.image.from_files { tag = 'a:1', files = { ['rel/x'] = { content = 'x' } } }", "must be an absolute path"),
            ("fb.image.from_files { tag = 'a:1', files = { ['/x'] = { content = 'x', source = '/etc/hostname' } } }", "exactly one of source"),
            ("fb.image.from_files { tag = 'a:1', config = { cmd = 'x' } }", "unknown option \"cmd\" for config of firebuild.image.from_files (did you mean \"Cmd\"?)"),
        ] {
            do {
                try vm.run("local fb = require 'firebuild'\n" + code, chunkName: "@i.lua")
                Issue.record("expected an error for \(code)")
            } catch let e as LuaScriptError {
                #expect(e.message.hasPrefix("i.lua:2: "), "\(e.message)")
                #expect(e.message.contains(fragment), "\(e.message)")
            }
        }
    }

    @Test func fromFilesMaterializesTheTreeAndBusyboxUsesIt() throws {
        try withTempDir { dir in
            let fake = FakeEngines()
            let vm = try recipeVM(path: dir + "/r.lua", engines: fake)
            let settings = "require('firebuild').settings { home = '\(dir)/h' }\n"
            try vm.run(settings + """
                local fb = require 'firebuild'
                local img = fb.image.from_files { tag = 'tree:1', dirs = { '/www' }, files = { ['/www/index.html'] = { content = 'hi', mode = '0600' },
                  ['/bin/tool'] = { source = '/bin/busybox', mode = 493 } }, symlinks = { ['/bin/sh'] = 'tool' },
                  config = { Cmd = 'echo hi', Env = { A = '1' }, ExposedPorts = { '80' } } }
                local cfg = img:config()
                assert(cfg.Cmd[3] == 'echo hi' and cfg.Env[1] == 'A=1' and cfg.ExposedPorts[1] == '80/tcp', require('firebuild.assert').format(cfg))
                local bb = require('firebuild.busybox').image { tag = 'busybox:base' }
                assert(bb:config().Cmd[1] == '/bin/sh')
                """)
            #expect(fake.trees["_/tree:1"] == ["bin", "bin/sh", "bin/tool", "www", "www/index.html"])
            #expect(fake.trees["_/busybox:base"]?.contains("bin/httpd") == true)
            #expect(fake.trees["_/busybox:base"]?.contains("etc/passwd") == true)
            // the staging tree is gone
            #expect((try? FileManager.default.contentsOfDirectory(atPath: dir + "/h/tmp"))?.isEmpty ?? true)
        }
    }
}

@Suite struct BuildBindingTests {
    @Test func rootfsCallsEveryHookInOrderAndPatchesTheImage() throws {
        try withTempDir { dir in
            try write("FROM busybox:base\nCOPY index.html /www/\nCMD [\"httpd\"]\n", to: dir + "/app/Dockerfile")
            try write("<h1>hi</h1>", to: dir + "/app/index.html")
            let fake = FakeEngines()
            let vm = try recipeVM(path: dir + "/r.lua", engines: fake)
            let r = try vm.run("""
                local fb = require 'firebuild'
                fb.settings { home = 'h' }
                local events = {}
                local img = fb.rootfs {
                  dockerfile = 'app/Dockerfile', tag = 'app:1', build_args = { V = 2 },
                  hooks = {
                    before_build = function(plan) events[#events + 1] = 'plan:' .. #plan.steps .. ':' .. plan.stages[1] end,
                    before_step = function(step) events[#events + 1] = 'before:' .. step.index .. '/' .. step.count end,
                    on_output = function(step, line) events[#events + 1] = 'out:' .. line end,
                    after_step = function(step, result, rootfs)
                      events[#events + 1] = 'after:' .. step.instruction:match('^%u+') .. ':' .. tostring(result.cached)
                      if step.index == 2 then rootfs:label('step', 'two') end
                    end,
                    after_build = function(rootfs)
                      events[#events + 1] = 'built:' .. rootfs:read('/etc/os-release')
                      rootfs:write('/etc/motd', 'welcome\\n', { mode = '0600', uid = 1, gid = 2 })
                      rootfs:chmod('/etc/motd', 420)
                      rootfs:label('patched', 'yes')
                      assert(rootfs:exists('/etc/motd'))
                      rootfs:remove('/etc/os-release')
                    end,
                  },
                }
                return table.concat(events, ' '), img:config().Labels.patched, img:config().Labels.step
                """)
            #expect(r[0].string == "plan:3:0 before:1/3 out:step output after:FROM:false before:2/3 out:step output after:COPY:false "
                    + "before:3/3 out:step output after:CMD:false built:fake\n")
            #expect(r[1].string == "yes")
            #expect(r[2].string == "two")
            #expect(fake.builds.first?.context == dir + "/app")
            #expect(fake.builds.first?.buildArgs == ["V": "2"])
            #expect(fake.calls.contains("write /etc/motd 600 1:2"))
            #expect(fake.calls.contains("recommit _/app:1"))
            #expect(fake.files["/fake/_/app:1/rootfs"]?["/etc/os-release"] == nil)
        }
    }

    @Test func aFailingHookFailsTheBuildAndNamesBothLines() throws {
        try withTempDir { dir in
            let vm = try recipeVM(path: dir + "/r.lua", engines: FakeEngines())
            do {
                try vm.run("""
                    local fb = require 'firebuild'
                    fb.rootfs { dockerfile = 'FROM a\\nRUN b\\n', tag = 'x:1', hooks = {
                      before_step = function(step)
                        if step.index == 2 then error('refusing ' .. step.instruction) end
                      end } }
                    """, chunkName: "@recipes/app.lua")
                Issue.record("expected an error")
            } catch let e as LuaScriptError {
                #expect(e.message.hasPrefix("recipes/app.lua:2: before_step hook failed: recipes/app.lua:4: refusing RUN b"), "\(e.message)")
            }
        }
    }

    @Test func rerunReusesTheTagUntilAnInputChanges() throws {
        try withTempDir { dir in
            try write("FROM a\nRUN b\n", to: dir + "/Dockerfile")
            let fake = FakeEngines()
            fake.rootDir = dir + "/store"
            try FileManager.default.createDirectory(atPath: dir + "/store", withIntermediateDirectories: true)
            try write("FROM a\nRUN b\n", to: dir + "/app/Dockerfile")
            let vm = try recipeVM(path: dir + "/r.lua", engines: fake)
            let code = "local fb = require 'firebuild'; fb.settings { home = 'h' }; return fb.rootfs { dockerfile = 'app/Dockerfile', tag = 't:1', build_args = { X = ... } }:tag()"
            try vm.run(code, args: ["1"])
            try vm.run(code, args: ["1"])
            #expect(fake.builds.count == 1, "same inputs: reused")
            try vm.run(code, args: ["2"])
            #expect(fake.builds.count == 2, "build arg changed: rebuilt")
            try write("FROM a\nRUN c\n", to: dir + "/app/Dockerfile")
            try vm.run(code, args: ["2"])
            #expect(fake.builds.count == 3, "Dockerfile changed: rebuilt")
            try write("new", to: dir + "/app/context-file")
            try vm.run(code, args: ["2"])
            #expect(fake.builds.count == 4, "context changed: rebuilt")
            try vm.run("local fb = require 'firebuild'; fb.settings { home = 'h' }; fb.rootfs { dockerfile = 'app/Dockerfile', tag = 't:1', build_args = { X = '2' }, rebuild = true }")
            #expect(fake.builds.count == 5, "rebuild = true")
        }
    }

    @Test func rootfsOptionChecks() throws {
        let vm = try recipeVM(path: "r.lua", engines: FakeEngines())
        for (code, fragment) in [
            ("fb.rootfs { tag = 'a:1' }", "exactly one of dockerfile"),
            ("fb.rootfs { tag = 'a:1', docker_image = 'jaeger' }", "needs docker_image_base"),
            ("fb.rootfs { tag = 'a:1', dockerfile = 'FROM x', hooks = { after_stp = print } }", "unknown option \"after_stp\" for hooks of firebuild.rootfs (did you mean \"after_step\"?)"),
            ("fb.rootfs { tag = 'a:1', dockerfile = 'FROM x', build_arg = {} }", "did you mean \"build_args\""),
            ("fb.baseos { tag = 'a:1', docker_image = 'x' }", "unknown option \"docker_image\" for firebuild.baseos"),
        ] {
            do {
                try vm.run("local fb = require 'firebuild'\n" + code, chunkName: "@b.lua")
                Issue.record("expected an error for \(code)")
            } catch let e as LuaScriptError {
                #expect(e.message.hasPrefix("b.lua:2: ") && e.message.contains(fragment), "\(e.message)")
            }
        }
    }
}
