import FirebuildCore
import FirebuildTestSupport
import Foundation
import Store
@testable import VM

/// Test fixtures built at run time in temp directories: never committed.
enum Fixtures {
    static func tempDir(_ tag: String) -> String {
        // Short paths: Unix socket paths must fit in 107 bytes.
        let dir = "/tmp/fbvm-\(tag)-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// The Debian cloud kernel's bzImage, when installed.
    static var cloudKernel: String? { TestHost.cloudKernel }

    static var canBoot: Bool {
        cloudKernel != nil && Command.which("qemu-system-x86_64") != nil && Command.which("qemu-img") != nil
            && Command.which("mkfs.ext4") != nil && FileManager.default.fileExists(atPath: "/bin/busybox")
    }

    static var skipReason: String {
        "needs qemu-system-x86, qemu-utils, linux-image-cloud-amd64, busybox-static, e2fsprogs (apt-get install them)"
    }

    /// Directories shared by several tests live until the test process exits.
    nonisolated(unsafe) private static var removeAtExit: [String] = []
    private static let registerExit: Void = {
        atexit {
            for dir in Fixtures.removeAtExit { try? FileManager.default.removeItem(atPath: dir) }
        }
    }()

    static func processLifetimeDir(_ tag: String) -> String {
        lock.lock()
        defer { lock.unlock() }
        _ = registerExit
        let dir = tempDir(tag)
        removeAtExit.append(dir)
        return dir
    }

    /// One imported kernel with a built initrd, shared by the boot tests (import + initrd take seconds).
    nonisolated(unsafe) private static var shared: (store: KernelStore, kernel: StoredKernel)?
    private static let lock = NSLock()

    static func bootKernel() throws -> (store: KernelStore, kernel: StoredKernel) {
        let root = processLifetimeDir("kstore")
        lock.lock()
        defer { lock.unlock() }
        if let shared { try? FileManager.default.removeItem(atPath: root); return shared }
        guard let path = cloudKernel else { throw FirebuildError(.notFound, "no cloud kernel") }
        let store = KernelStore(root: root)
        try KernelImporter(store: store).import(id: "cloud", path: path)
        let (kernel, _) = try InitrdBuilder.buildAndStore(kernelID: "cloud", store: store)
        shared = (store, kernel)
        return (store, kernel)
    }

    /// A tiny ext4 root: busybox and an /sbin/init shell script.
    static func rootfs(in dir: String, initScript: String, size: String = "24M") throws -> String {
        let tree = dir + "/tree"
        let fm = FileManager.default
        for d in ["bin", "sbin", "proc", "sys", "dev", "tmp", "etc"] {
            try fm.createDirectory(atPath: tree + "/" + d, withIntermediateDirectories: true)
        }
        try fm.copyItem(atPath: "/bin/busybox", toPath: tree + "/bin/busybox")
        try fm.createSymbolicLink(atPath: tree + "/bin/sh", withDestinationPath: "busybox")
        try AtomicFile.write(initScript, to: tree + "/sbin/init", mode: 0o755)
        let image = dir + "/rootfs.ext4"
        try Command("mkfs.ext4", ["-q", "-F", "-T", "default", "-d", tree, image, size]).check()
        return image
    }

    static let markerInit = """
    #!/bin/busybox sh
    /bin/busybox mount -t proc proc /proc 2>/dev/null
    echo "FB-VM-MARKER uptime=$(/bin/busybox cut -d' ' -f1 /proc/uptime)"
    /bin/busybox sync
    /bin/busybox poweroff -f
    """

    /// Prints the marker and then waits forever (for stop/kill tests).
    static let hangingInit = """
    #!/bin/busybox sh
    echo "FB-VM-MARKER hanging"
    while true; do /bin/busybox sleep 1; done
    """

    static func waitForFile(_ path: String, containing text: String, timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let s = try? String(contentsOfFile: path, encoding: .utf8), s.contains(text) { return true }
            usleep(50_000)
        }
        return false
    }
}
