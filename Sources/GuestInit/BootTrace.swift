// Start-up milestones of the init, on the guest's CLOCK_BOOTTIME (the clock behind /proc/uptime),
// so they line up with the kernel's own boot time and with a marker script's uptime. Sent to the
// host in the ready frame and in the metadata reply; the host logs them at debug level.
#if canImport(Glibc)
import Glibc
#endif
import Guest

enum BootTrace {
    /// Milestones so far, in order. Single-threaded init: no locking.
    nonisolated(unsafe) static var phases: [BootPhase] = []

    /// Seconds since the guest kernel booted.
    static func uptime() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_BOOTTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    static func mark(_ name: String) { phases.append(BootPhase(name, uptime())) }

    /// firebuild's initrd exports its own milestones as `FIREBUILD_BOOT_PHASES="initrd=1.93 modules=2.01 …"`
    /// (guest uptimes read by the shell); they go first. Removed from the environment so an image's
    /// own init (init=image) does not inherit it.
    static func importInitrdPhases() {
        unsetenv("SWIFT_DETERMINISTIC_HASHING")  // set by the initrd for our start-up only (see InitrdBuilder)
        guard let raw = getenv("FIREBUILD_BOOT_PHASES") else { return }
        let text = String(cString: raw)
        unsetenv("FIREBUILD_BOOT_PHASES")
        for item in text.split(separator: " ") {
            let parts = item.split(separator: "=", maxSplits: 1)
            if parts.count == 2, let t = Double(parts[1]) { phases.append(BootPhase(String(parts[0]), t)) }
        }
    }
}
