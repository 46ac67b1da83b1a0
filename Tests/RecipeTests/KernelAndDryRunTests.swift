import FirebuildTestSupport
import Foundation
import Testing
import FirebuildCore
import LuaRuntime
import Store
@testable import Recipe

@Suite struct KernelBindingTests {
    /// Any ELF file stands in for a vmlinux: the importer stores ELF images as they are.
    static let elf = "/bin/busybox"

    @Test func importGetLsAndReuse() throws {
        try withTempDir { dir in
            let vm = try recipeVM(path: dir + "/r.lua")
            let r = try vm.run("""
                local fb = require 'firebuild'
                fb.settings { home = 'h' }
                local k = fb.kernel.import { id = 'elf', path = '\(Self.elf)' }
                local again = fb.kernel.import { id = 'elf', path = '\(Self.elf)' }   -- same source: reused
                local got = fb.kernel.get('elf')
                return k:id(), k:path(), k:initrd(), got:info().source, #fb.kernel.ls(), tostring(again)
                """)
            #expect(r.map(\.description) == ["elf", dir + "/h/kernels/elf/vmlinux", "nil", Self.elf, "1", "firebuild.Kernel(elf)"])
        }
    }

    @Test func importWithAnInitrdFileAndRemove() throws {
        try withTempDir { dir in
            try write("not really an initrd", to: dir + "/initrd.img")
            let vm = try recipeVM(path: dir + "/r.lua")
            let r = try vm.run("""
                local fb = require 'firebuild'
                fb.settings { home = 'h' }
                local k = fb.kernel.import { id = 'k1', path = '\(Self.elf)', initrd = 'initrd.img' }
                local path = k:initrd()
                fb.kernel.rm('k1')
                return path, #fb.kernel.ls()
                """)
            #expect(r.map(\.description) == [dir + "/h/kernels/k1/initrd.img", "0"])
        }
    }

    @Test func importErrors() throws {
        try withTempDir { dir in
            let vm = try recipeVM(path: dir + "/r.lua")
            try vm.run("require('firebuild').settings { home = 'h' }")
            for (code, fragment) in [
                ("fb.kernel.import { id = 'bad id', path = '\(Self.elf)' }", "invalid kernel id"),
                ("fb.kernel.import { id = 'x', path = 'missing' }", "cannot be read"),
                ("fb.kernel.import { id = 'x' }", "needs option \"path\""),
                ("fb.kernel.import { id = 'x', path = '\(Self.elf)', initrd_from_modules = true }", "no recorded version"),
                ("fb.kernel.get('nope')", "kernel \"nope\" not found"),
            ] {
                do {
                    try vm.run("local fb = require 'firebuild'\n" + code, chunkName: "@k.lua")
                    Issue.record("expected an error for \(code)")
                } catch let e as LuaScriptError {
                    #expect(e.message.hasPrefix("k.lua:2: "), "\(e.message)")
                    #expect(e.message.contains(fragment), "\(e.message)")
                }
            }
        }
    }

    static var cloudKernel: String? { TestHost.cloudKernel }

    /// The Debian cloud kernel keeps virtio_blk in a module: importing it builds the small initrd.
    @Test(.enabled(if: cloudKernel != nil && FileManager.default.fileExists(atPath: "/bin/busybox")))
    func cloudKernelGetsItsInitrdByDefault() throws {
        guard let kernel = Self.cloudKernel else { return }
        try withTempDir { dir in
            let vm = try recipeVM(path: dir + "/r.lua")
            let r = try vm.run("""
                local fb = require 'firebuild'
                fb.settings { home = 'h' }
                local k = fb.kernel.import { id = 'cloud', path = '\(kernel)' }
                return k:initrd(), k:info().initrd_source, k:version(), k:bzimage()
                """)
            #expect(r[0].string == dir + "/h/kernels/cloud/initrd.img")
            #expect(r[1].string?.hasPrefix("built:/lib/modules/") == true)
            #expect(r[2].string?.hasSuffix("cloud-amd64") == true)
            #expect(r[3].string == dir + "/h/kernels/cloud/bzImage")
        }
    }
}

@Suite struct DryRunTests {
    @Test func dryRunRecordsAPlanAndTouchesNothing() throws {
        try withTempDir { dir in
            try write("""
                local fb = require 'firebuild'
                fb.api(1)
                fb.settings { home = 'state' }
                local ns = fb.netns.create { name = 'fbt-dry' }
                fb.settings { host_netns = ns:name() }
                local k = fb.kernel.import { id = 'cloud', path = '/boot/vmlinuz-none' }
                local net = fb.network { name = 'machines', subnet = '192.168.127.0/24' }
                assert(k:path():find('state/kernels/cloud/vmlinux', 1, true))
                fb.tcp.wait { host = '192.168.127.2', port = 80 }
                ns:delete()
                """, to: dir + "/plan.lua")
            let context = RecipeContext(recipePath: dir + "/plan.lua", dryRun: true, environment: [:], logger: CapturedLogs().logger)
            let result = ScriptRunner.run(path: dir + "/plan.lua", options: ScriptOptions(dryRun: true, searchPaths: [dir]), context: context)
            #expect(result.exitCode == 0, "\(result.errorOutput)")
            #expect(result.output.hasPrefix("dry run: \(dir)/plan.lua would:\n"))
            let lines = result.output.split(separator: "\n").dropFirst().map { $0.trimmingCharacters(in: .whitespaces) }
            #expect(lines.count == 5)
            #expect(lines[0].hasPrefix("1. netns"))
            #expect(lines[1].contains("import kernel \"cloud\" from /boot/vmlinuz-none"))
            #expect(lines[2].contains("CNI network \"machines\" (192.168.127.0/24"))
            #expect(lines[3].contains("wait for 192.168.127.2:80"))
            #expect(lines[4].contains("delete network namespace fbt-dry"))
            #expect(!FileManager.default.fileExists(atPath: dir + "/state"))
            #expect(!NetworkNamespaceExists("fbt-dry"))
        }
    }

    func NetworkNamespaceExists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: "/var/run/netns/" + name) }

    @Test func emptyPlan() {
        #expect(DryRunPlan().render(recipe: "r.lua") == "dry run: r.lua would build and run nothing\n")
    }
}
