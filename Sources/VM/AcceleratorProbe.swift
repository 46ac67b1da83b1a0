import FirebuildCore
import Foundation
import Logging

/// Decides between KVM and TCG once per host. `/dev/kvm` existing is not enough: on a PVM host
/// (a Firecracker guest offering kvm-pvm) KVM_CREATE_VM works but a stock kernel never boots.
/// So: no /dev/kvm, or no vmx/svm CPU flag → TCG at once; otherwise boot the kernel under KVM for a
/// few seconds and require its banner on the console. The verdict is cached per host kernel and QEMU.
public struct AcceleratorProbe: Sendable {
    public var qemuBinary: String
    public var cachePath: String
    public var timeout: TimeInterval = 6

    public init(qemuBinary: String, cachePath: String) {
        self.qemuBinary = qemuBinary
        self.cachePath = cachePath
    }

    struct Cached: Codable {
        var hostKernel: String
        var qemu: String
        var accelerator: QEMUDriver.Accelerator
        var reason: String
    }

    static func hostKernel() -> String {
        var u = utsname()
        uname(&u)
        return withUnsafeBytes(of: &u.release) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
    }

    /// `FIREBUILD_QEMU_ACCEL=kvm|tcg` overrides; otherwise the cached or probed verdict.
    public func detect(kernelPath: String) -> QEMUDriver.Accelerator {
        if let forced = ProcessInfo.processInfo.environment["FIREBUILD_QEMU_ACCEL"].flatMap(QEMUDriver.Accelerator.init(rawValue:)) {
            return forced
        }
        let logger = makeLogger("vm")
        let qemu = Command.which(qemuBinary) ?? qemuBinary
        let key = Self.hostKernel()
        if let data = FileManager.default.contents(atPath: cachePath),
           let cached = try? JSONDecoder().decode(Cached.self, from: data), cached.hostKernel == key, cached.qemu == qemu {
            return cached.accelerator
        }
        let (accel, reason) = probe(kernelPath: kernelPath)
        logger.info("QEMU accelerator chosen", metadata: ["accel": .string(accel.rawValue), "reason": .string(reason)])
        try? FileLock.withLock(cachePath + ".lock", timeout: 5) {
            try AtomicFile.writeJSON(Cached(hostKernel: key, qemu: qemu, accelerator: accel, reason: reason), to: cachePath)
        }
        return accel
    }

    func probe(kernelPath: String) -> (QEMUDriver.Accelerator, String) {
        let fd = open("/dev/kvm", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return (.tcg, "/dev/kvm cannot be opened") }
        close(fd)
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let flags = cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") } ?? ""
        let words = Set(flags.split(separator: " "))
        guard words.contains("vmx") || words.contains("svm") else {
            return (.tcg, "/dev/kvm present but the CPU shows no vmx/svm (paravirtual KVM such as kvm-pvm cannot boot a stock kernel)")
        }
        let dir = FileManager.default.temporaryDirectory.path + "/fb-kvmprobe-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let console = dir + "/console.log"
        let argv = [qemuBinary, "-M", "microvm", "-accel", "kvm", "-cpu", "host", "-m", "128", "-nodefaults", "-no-user-config",
                    "-nographic", "-no-reboot", "-kernel", kernelPath,
                    "-append", "console=ttyS0 earlyprintk=ttyS0 panic=-1 root=/dev/null",
                    "-serial", "file:\(console)"]
        guard let pid = try? VMProcess.spawn(argv, logPath: dir + "/qemu.log") else { return (.tcg, "qemu could not be started") }
        let start = VMProcess.startTime(pid)
        defer { try? VMProcess.kill(pid: pid, startTime: start) }
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let text = try? String(contentsOfFile: console, encoding: .utf8), text.contains("Linux version") {
                return (.kvm, "a kernel printed its banner under KVM")
            }
            if VMProcess.exitStatus(pid: pid, startTime: start) != nil {
                return (.tcg, "qemu -accel kvm failed: \(VMProcess.tail(dir + "/qemu.log", lines: 2))")
            }
            usleep(50_000)
        }
        return (.tcg, "no kernel output within \(Int(timeout)) s under KVM")
    }
}
