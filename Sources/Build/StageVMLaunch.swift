import FirebuildCore
import Foundation
import Guest
import VM

// How a build VM comes up: restored from the boot template of its machine shape (saved first
// when there is none), or booted. See BootTemplates.swift and Guest/BootPause.swift.
extension StageVM {
    struct Launched {
        var handle: VMHandle
        var connection: GuestConnection
        var restored: Bool
        /// This VM's shape had no template: one was saved first (an extra boot).
        var savedTemplate = false
    }

    /// Starts the VM from its boot template (saving the template first when the plan says so),
    /// else boots it. A template that fails is discarded and the VM booted.
    static func launch(_ config: VMConfig, driver: QEMUDriver, plan: BootTemplates.Plan, templates: BootTemplates,
                       network: BuildVMNetwork?, bootTimeout: TimeInterval) throws -> Launched {
        let logger = makeLogger("build")
        let files: BootTemplates.Files
        switch plan {
        case .boot:
            return try boot(config, driver: driver, network: network, bootTimeout: bootTimeout)
        case let .restore(existing):
            files = existing
        case let .save(new, lock):
            defer { lock.unlock() }
            do {
                let started = Date()
                try saveTemplate(config, files: new, driver: driver, bootTimeout: bootTimeout)
                logger.info("saved a boot template for build VMs", metadata: [
                    "path": .string(new.state), "seconds": "\(String(format: "%.2f", Date().timeIntervalSince(started)))"])
            } catch {
                logger.warning("could not save a boot template; booting the build VM", metadata: ["error": "\(error)"])
                return try boot(config, driver: driver, network: network, bootTimeout: bootTimeout)
            }
            files = new
        }
        do {
            var launched = try restore(config, files: files, driver: driver, bootTimeout: bootTimeout)
            if case .save = plan { launched.savedTemplate = true }
            return launched
        } catch {
            logger.warning("the build VM could not start from its boot template; booting it instead",
                           metadata: ["template": .string(files.state), "error": "\(error)"])
            templates.discard(files)
            return try boot(config, driver: driver, network: network, bootTimeout: bootTimeout)
        }
    }

    /// Boots the VM with its RAM in the template's file, saves it at the pause and stops it. The
    /// RAM file is renamed into place first, the state last: a state on disk means a whole template.
    static func saveTemplate(_ config: VMConfig, files: BootTemplates.Files, driver: QEMUDriver,
                             bootTimeout: TimeInterval) throws {
        let ramTemp = files.ram + ".tmp-\(getpid())", stateTemp = files.state + ".staged-\(getpid())"
        unlink(ramTemp)
        defer { unlink(ramTemp); unlink(stateTemp) }
        var saving = config
        saving.memoryFile = VMMemoryFile(path: ramTemp, shared: true)
        let handle = try driver.start(saving)
        let instance = driver.instance(handle)
        defer { try? instance.kill(); _ = instance.wait(timeout: 10) }
        let c = try GuestChannel.forHandle(handle).open(timeout: 30)
        defer { c.close() }
        guard try c.waitBootPaused(timeout: bootTimeout) != nil else {
            throw FirebuildError(.unsupported, "the guest init became ready without pausing (built before boot templates? run `make init`)")
        }
        try QEMUMachineState.save(qmpSocket: handle.controlSocket, to: stateTemp)
        try? instance.kill()
        _ = instance.wait(timeout: 10)
        chmod(ramTemp, 0o600)  // the guest's memory, as the state file
        guard rename(ramTemp, files.ram) == 0, rename(stateTemp, files.state) == 0 else {
            let e = FirebuildError.posix("rename", path: files.state)
            unlink(files.ram)
            throw e
        }
    }

    static func boot(_ config: VMConfig, driver: QEMUDriver, network: BuildVMNetwork?, bootTimeout: TimeInterval) throws -> Launched {
        let handle = try driver.start(config)
        network?.vmmStarted(handle)
        return try guarded(handle, driver: driver, restored: false) {
            let c = try GuestChannel.forHandle(handle).open(timeout: 30)
            if try c.waitBootPaused(timeout: bootTimeout) != nil {
                try c.resume(resumeInfo(restored: false))
            }
            try waitReady(c, id: config.id, timeout: bootTimeout)
            return Launched(handle: handle, connection: c, restored: false)
        }
    }

    static func restore(_ config: VMConfig, files: BootTemplates.Files, driver: QEMUDriver,
                        bootTimeout: TimeInterval) throws -> Launched {
        var restoring = config
        restoring.incomingState = files.state
        restoring.memoryFile = VMMemoryFile(path: files.ram, shared: false)
        let handle = try driver.start(restoring)
        return try guarded(handle, driver: driver, restored: true) {
            // The guest wakes up waiting for `resume`: it is on the channel before the VM runs.
            let c = try GuestChannel.forHandle(handle).open(timeout: 30)
            try c.resume(resumeInfo(restored: true))
            let loading = Date()
            try QEMUMachineState.runRestored(handle, state: files.state)
            let running = Date()
            try waitReady(c, id: config.id, timeout: min(bootTimeout, 60))
            // Where a restore spends its time: QEMU loading the state, then the guest going on.
            makeLogger("build").debug("build VM restored", metadata: [
                "vm": .string(config.id), "load-ms": "\(Int(running.timeIntervalSince(loading) * 1000))",
                "guest-ms": "\(Int(Date().timeIntervalSince(running) * 1000))"])
            return Launched(handle: handle, connection: c, restored: true)
        }
    }

    /// The wait for a started VMM's guest to be ready (span `vm.guest.ready`); kills the VMM
    /// (and waits for it) when `body` fails, with the console's tail in the error.
    static func guarded(_ handle: VMHandle, driver: QEMUDriver, restored: Bool, _ body: () throws -> Launched) throws -> Launched {
        do {
            return try FirebuildTracing.span("vm.guest.ready", attributes: [FirebuildSpanKey.vmID: handle.id]) { span in
                span.attributes["firebuild.vm.restored"] = restored
                return try body()
            }
        } catch {
            let console = StageVM.tail(handle.consoleLogPath)
            let instance = driver.instance(handle)
            try? instance.kill()
            _ = instance.wait(timeout: 10)
            throw FirebuildError(.guest, "the build VM did not come up: \(error)\nconsole:\n\(console)")
        }
    }

    /// The host's clock and 64 random bytes: a restored guest would otherwise go on with the
    /// template's clock and random state.
    static func resumeInfo(restored: Bool) -> ResumeInfo {
        var rng = SystemRandomNumberGenerator()
        return ResumeInfo(time: Date().timeIntervalSince1970, entropy: (0..<64).map { _ in UInt8.random(in: 0...255, using: &rng) },
                          restored: restored)
    }

    static func waitReady(_ c: GuestConnection, id: String, timeout: TimeInterval) throws {
        let ready = try c.waitReady(timeout: timeout)
        // The guest's own uptime at ready separates kernel+init time from host overhead.
        makeLogger("build").debug("build VM ready", metadata: ["vm": .string(id), "guest-uptime": "\(ready.uptime)",
                                                                "phases": .string(BootPhase.summary(ready.phases))])
    }
}
