import Foundation
import Testing
import FirebuildCore
import LuaRuntime
@testable import Recipe

@Suite struct VMBindingTests {
    @Test func runMergesTheProfileAndCallsHooks() throws {
        try withTempDir { dir in
            let fake = FakeEngines()
            _ = fake.store("app:1")
            let vm = try recipeVM(path: dir + "/r.lua", engines: fake)
            let r = try vm.run("""
                local fb = require 'firebuild'
                local net = fb.network { name = 'machines', subnet = '192.168.127.0/24', conf_dir = 'conf' }
                local p = fb.profile { mem = 256, cpu = 2, network = net, env = { A = '1' } }
                local events = {}
                local v = fb.vm.run { from = fb.image.get('app:1'), profile = p, name = 'web', cpu = 1, ports = { '8080:80' }, cmd = 'httpd -f',
                  hooks = {
                    on_start = function(vm) events[#events + 1] = 'start:' .. vm:id() end,
                    on_ready = function(vm) events[#events + 1] = 'ready:' .. vm:ip() end,
                    on_exit = function(vm, code) events[#events + 1] = 'exit:' .. tostring(code) end,
                  } }
                local res = v:exec({ 'echo', 'hi' })
                local bad = v:exec('false')
                local info = v:inspect()
                local logs = v:logs()
                v:stop()
                v:stop()   -- idempotent: on_exit runs once
                return table.concat(events, ' '), res.code, res.stdout, bad.code, info.VMMID, logs, tostring(v), #fb.vm.ls(), fb.vm.purge()[1]
                """)
            #expect(r.map(\.description) == ["start:web ready:10.0.0.2 exit:nil", "0", "hi", "1", "web", "console of web",
                                             "firebuild.VM(web)", "1", "old1"])
            let req = try #require(fake.runs.first)
            #expect(req.run.memMiB == 256 && req.run.cpus == 1)
            #expect(req.run.env == ["A=1"])
            #expect(req.run.cniNetworkName == "machines" && req.cniConfDir == dir + "/conf")
            #expect(req.run.command == ["/bin/sh", "-c", "httpd -f"])
            #expect(req.daemonize)
            #expect(fake.calls.filter { $0.hasPrefix("stop") } == ["stop web"])
        }
    }

    @Test func foregroundRunWaitsForTheExitCode() throws {
        let fake = FakeEngines()
        _ = fake.store("job:1")
        fake.exitCode = 3
        let vm = try recipeVM(path: "r.lua", engines: fake)
        let r = try vm.run("""
            local fb = require 'firebuild'
            local code
            fb.vm.run { from = 'job:1', daemonize = false, hooks = { on_exit = function(_, c) code = c end } }
            return code
            """)
        #expect(r.first?.integer == 3)
        #expect(fake.calls == ["wait vm1", "stop vm1"])
    }

    @Test func aFailingReadyHookStopsTheVM() throws {
        let fake = FakeEngines()
        _ = fake.store("app:1")
        let vm = try recipeVM(path: "r.lua", engines: fake)
        do {
            try vm.run("""
                local fb = require 'firebuild'
                fb.vm.run { from = 'app:1', hooks = { on_ready = function(vm)
                  error('not ready') end } }
                """, chunkName: "@v.lua")
            Issue.record("expected an error")
        } catch let e as LuaScriptError {
            #expect(e.message.hasPrefix("v.lua:2: on_ready hook failed: v.lua:3: not ready"), "\(e.message)")
        }
        #expect(fake.calls == ["stop vm1"])
    }

    @Test func storedProfilesAndOptionErrors() throws {
        let fake = FakeEngines()
        _ = fake.store("app:1")
        let vm = try recipeVM(path: "r.lua", engines: fake)
        let r = try vm.run("""
            local fb = require 'firebuild'
            local p = fb.profile.load('standard')
            fb.vm.run { from = 'app:1', profile = 'standard', mem = 1024 }
            return p.mem, p.kernel, p.network, p.settings.run_cache
            """)
        #expect(throws: LuaScriptError.self) { try vm.run("require('firebuild').profile.load('nope')") }
        #expect(r.map(\.description) == ["512", "cloud", "machines", "/srv/run"])
        #expect(fake.runs.first?.run.memMiB == 1024 && fake.runs.first?.run.vmlinuxID == "cloud" && fake.runs.first?.run.cpus == 2)
        for (code, fragment) in [
            ("fb.vm.run { from = 'app:1', memory = 1 }", "unknown option \"memory\" for firebuild.vm.run (did you mean \"mem\"?); valid: boot_timeout, cmd, cni_network_name, cpu,"),
            ("fb.profile { memory = 1 }", "unknown option \"memory\" for firebuild.profile"),
            ("fb.vm.run { from = 'app:1', ports = { '80:80' } }", "ports need a network"),
            ("fb.vm.run { from = 'app:1', mem = 'lots' }", "option \"mem\" of firebuild.vm.run must be an integer"),
            ("fb.vm.run { from = 'nope:1' }", "image nope:1 not found"),
            ("fb.vm.run { from = 'app:1', profile = 'other' }", "profile other not found"),
        ] {
            do {
                try vm.run("local fb = require 'firebuild'\n" + code, chunkName: "@p.lua")
                Issue.record("expected an error for \(code)")
            } catch let e as LuaScriptError {
                #expect(e.message.hasPrefix("p.lua:2: ") && e.message.contains(fragment), "\(e.message)")
            }
        }
    }

    @Test func withoutEnginesTheErrorSaysWhatIsMissing() throws {
        let vm = try recipeVM(path: "r.lua")
        do {
            try vm.run("require('firebuild').vm.run { from = 'a:1' }", chunkName: "@m.lua")
        } catch let e as LuaScriptError {
            #expect(e.message.hasPrefix("m.lua:1: "))
            #expect(e.message.contains("not available in this build") || e.message.contains("not found"), "\(e.message)")
        }
    }
}

/// Hook overhead: an empty Lua hook called through the real VM for every build step (before_step,
/// on_output, after_step) must cost well under 1 ms per step. `bench/hooks/run.sh` runs this.
/// A benchmark, not a timed test: it runs only from bench/hooks/run.sh, which sets FB_HOOK_BENCH_STEPS.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["FB_HOOK_BENCH_STEPS"] != nil,
                "benchmark: run bench/hooks/run.sh"))
struct HookBenchmark {
    @Test func emptyHooksCostLessThanAMillisecondPerStep() throws {
        let vm = try recipeVM(path: "r.lua")
        let hooks = try vm.run("return { before_step = function(step) end, on_output = function(step, line) end, after_step = function(step, result) end }")
        guard case .table(let t)? = hooks.first else { throw FirebuildError(.internal, "no hooks") }
        let observer = try LuaBuildObserver(try OptionTable(t, function: "hooks", keys: LuaBuildObserver.keys))
        let steps = Int(ProcessInfo.processInfo.environment["FB_HOOK_BENCH_STEPS"] ?? "") ?? 20_000
        let step = BuildStepInfo(stage: "builder", index: 3, count: 12, instruction: "RUN apt-get update && apt-get install -y curl")
        let outcome = BuildStepOutcome(cached: false, seconds: 1.5)
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<steps {
            try observer.beforeStep(step)
            try observer.onOutput(step, line: "Get:1 http://deb.debian.org/debian bookworm InRelease [151 kB]")
            try observer.afterStep(step, outcome: outcome, rootfs: nil)
        }
        let perStep = Double(DispatchTime.now().uptimeNanoseconds - start) / Double(steps) / 1000
        print("hook overhead: \(String(format: "%.1f", perStep)) µs per step (before_step + on_output + after_step, \(steps) steps)")
        #expect(perStep < 1000)
    }
}
