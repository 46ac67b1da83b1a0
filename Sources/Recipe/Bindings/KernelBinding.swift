import FirebuildCore
import Foundation
import LuaRuntime
import Store
import VM

/// A stored (or, in a dry run, planned) kernel.
public final class KernelObject {
    public let id: String
    public var kernel: StoredKernel?
    let plannedDirectory: String
    var plannedInitrd: Bool

    init(kernel: StoredKernel) {
        id = kernel.record.id
        self.kernel = kernel
        plannedDirectory = kernel.directory
        plannedInitrd = kernel.initrdPath != nil
    }

    init(plannedID: String, directory: String, initrd: Bool) {
        id = plannedID
        plannedDirectory = directory
        plannedInitrd = initrd
    }

    var vmlinuxPath: String { kernel?.vmlinuxPath ?? plannedDirectory + "/" + KernelStore.vmlinuxName }
    var initrdPath: String? {
        if let kernel { return kernel.initrdPath }
        return plannedInitrd ? plannedDirectory + "/" + KernelStore.initrdName : nil
    }
}

/// `firebuild.kernel.import{id=, path=, initrd=, initrd_from_modules=, modules_dir=, busybox=, replace=}`,
/// `.get(id)`, `.ls()`, `.rm(id)`, `.build{source=, config=, id=, jobs=, work_dir=, replace=}`: the same
/// `KernelImporter`/`InitrdBuilder`/`KernelBuilder` the `firebuild kernel` commands call.
/// Objects: `:id()`, `:path()` (ELF vmlinux), `:bzimage()`, `:initrd()`, `:version()`, `:info()`.
public enum KernelBinding: RecipeBinding {
    static let importKeys = ["id", "path", "initrd", "initrd_from_modules", "modules_dir", "busybox", "replace"]
    static let buildKeys = ["source", "config", "id", "jobs", "work_dir", "replace"]

    public static func register(into firebuild: LuaModule, vm: LuaVM, context: RecipeContext) throws {
        let session = context.session
        func store() -> KernelStore { KernelStore(root: session.settings.effectiveKernelRoot) }

        try vm.registerType(KernelObject.self, name: "firebuild.Kernel", methods: [
            "id": { k, _ in [.string(k.id)] },
            "path": { k, _ in [.string(k.vmlinuxPath)] },
            "bzimage": { k, _ in [k.kernel?.bzImagePath.map(LuaValue.string) ?? .nil] },
            "initrd": { k, _ in [k.initrdPath.map(LuaValue.string) ?? .nil] },
            "version": { k, _ in [k.kernel?.record.version.map(LuaValue.string) ?? .nil] },
            "info": { k, _ in
                var t = LuaTable()
                t["id"] = .string(k.id)
                t["vmlinux"] = .string(k.vmlinuxPath)
                if let i = k.initrdPath { t["initrd"] = .string(i) }
                if let r = k.kernel?.record {
                    if let v = r.version { t["version"] = .string(v) }
                    if let s = r.source { t["source"] = .string(s) }
                    t["vmlinux_size"] = .integer(r.vmlinuxSize)
                    if let s = r.initrdSource { t["initrd_source"] = .string(s) }
                }
                return [.table(t)]
            },
        ], tostring: { "firebuild.Kernel(\($0.id))" })

        let kernel = firebuild.table("kernel")
        kernel.function("import") { args in
            let o = try OptionTable(args, function: "firebuild.kernel.import", keys: importKeys)
            let id = try o.requiredString("id")
            let path = context.resolve(try o.requiredString("path"))
            let initrd = try o.string("initrd").map(context.resolve)
            let fromModules = try o.bool("initrd_from_modules")
            let modulesDir = try o.string("modules_dir").map(context.resolve)
            let busybox = try o.string("busybox") ?? "/bin/busybox"
            let replace = try o.bool("replace") ?? false
            try KernelStore.validate(id: id)
            if initrd != nil && fromModules == true {
                throw FirebuildError(.invalidArgument, "firebuild.kernel.import: give either initrd (a file) or initrd_from_modules = true, not both")
            }
            let kernels = store()
            if context.dryRun {
                let build = initrd == nil && fromModules != false
                session.plan.record("kernel", "import kernel \"\(id)\" from \(path)"
                    + (initrd.map { " with initrd \($0)" } ?? (build ? " and build its initrd from its modules when it needs them" : "")))
                return [.userdata(KernelObject(plannedID: id, directory: kernels.directory(for: id), initrd: initrd != nil || build))]
            }
            var stored: StoredKernel
            if !replace, let existing = try? kernels.get(id), sameSource(existing, path: path) {
                stored = existing  // re-running a recipe reuses the kernel it imported before
                context.logger.debug("kernel reused", metadata: ["id": .string(id)])
            } else {
                stored = try KernelImporter(store: kernels).import(id: id, path: path, initrd: initrd, replace: replace)
            }
            if stored.initrdPath == nil, initrd == nil, fromModules != false {
                // By default only a kernel that needs its modules to reach the disk gets an initrd;
                // initrd_from_modules = true insists (and fails when the modules are missing).
                let dir = modulesDir ?? stored.record.version.map { "/lib/modules/\($0)" }
                if fromModules == true || dir.map(needsModules) == true {
                    let chosen = try dir ?? InitrdBuilder.modulesDirectory(for: stored)
                    stored = try InitrdBuilder.buildAndStore(kernelID: id, store: kernels, modulesDirectory: chosen, busyboxPath: busybox).kernel
                }
            }
            return [.userdata(KernelObject(kernel: stored))]
        }

        kernel.function("get") { args in
            let id = try args.string(1)
            return [.userdata(KernelObject(kernel: try store().get(id)))]
        }

        kernel.function("ls") { _ in
            [.table(LuaTable(array: try store().list().map { .userdata(KernelObject(kernel: $0)) }))]
        }

        kernel.function("rm") { args in
            let id = try args.string(1)
            if context.dryRun { session.plan.record("kernel", "remove kernel \"\(id)\"") } else { try store().remove(id) }
            return []
        }

        kernel.function("build") { args in
            let o = try OptionTable(args, function: "firebuild.kernel.build", keys: buildKeys)
            let id = try o.requiredString("id")
            let sourceText = try o.requiredString("source")
            let config = context.resolve(try o.requiredString("config"))
            try KernelStore.validate(id: id)
            let source = try KernelBuilder.Source(parsing: sourceText.contains("://") ? sourceText : context.resolve(sourceText))
            if context.dryRun {
                session.plan.record("kernel", "build kernel \"\(id)\" from \(sourceText) with config \(config)")
                return [.userdata(KernelObject(plannedID: id, directory: store().directory(for: id), initrd: false))]
            }
            let builder = KernelBuilder(source: source, configFile: config, jobs: try o.int("jobs") ?? 2,
                                        workDirectory: try o.string("work_dir").map(context.resolve) ?? session.settings.paths.buildsDir)
            return [.userdata(KernelObject(kernel: try builder.build(id: id, store: store(), replace: try o.bool("replace") ?? false)))]
        }
    }

    /// The stored kernel came from the same file (same path and size): importing again is a no-op.
    static func sameSource(_ k: StoredKernel, path: String) -> Bool {
        guard k.record.source == path, let size = KernelStore.fileSize(path) else { return false }
        return size == (k.record.bzImageSize ?? k.record.vmlinuxSize)
    }

    /// Whether the kernel reaches its disk only through modules (virtio_blk or ext4 not built in):
    /// then it cannot boot without an initrd that loads them.
    static func needsModules(_ dir: String) -> Bool {
        guard FileManager.default.fileExists(atPath: dir + "/modules.dep") else { return false }
        let wanted = InitrdBuilder(modulesDirectory: dir, modules: ["virtio_blk", "ext4"])
        return !((try? wanted.resolveModules()) ?? []).isEmpty
    }
}
