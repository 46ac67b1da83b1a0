import FirebuildCore
import Foundation

/// Bases of the layer chains: a private raw copy of the FROM image (or an empty ext4 for
/// scratch), grown to the build size. The cache owns it, so a later re-tag of the source image
/// never corrupts cached layers. The image is not touched otherwise: build VMs get the guest
/// init from an initrd segment, as `run` does (BootFiles), so it never lands in a built image.
struct BaseLayers {
    let cache: BuildCache

    func prepare(image: BaseImage?, sizeMiB: Int?) throws -> String {
        let identity = image?.identity ?? "scratch"
        let key = StepKey.key(parent: "base", parts: [identity, "size=\(sizeMiB ?? 0)"])
        if try cache.base(key) != nil { return key }
        try FileManager.default.createDirectory(atPath: cache.basesDir, withIntermediateDirectories: true)
        let tmp = "\(cache.basesDir)/.tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).raw"
        defer { unlink(tmp) }
        if let image {
            try Command("cp", ["--reflink=auto", "--sparse=always", image.rootfsPath, tmp]).check()
            try Command("e2fsck", ["-fy", tmp]).run()  // exit 1 = fixed; resize2fs needs a checked fs
        } else {
            let tree = tmp + ".tree"
            defer { try? FileManager.default.removeItem(atPath: tree) }
            try FileManager.default.createDirectory(atPath: tree, withIntermediateDirectories: true)
            try Command("mkfs.ext4", ["-q", "-F", "-T", "default", "-L", "rootfs", "-d", tree, tmp, "\(sizeMiB ?? 1024)M"]).check()
        }
        try grow(tmp, toMiB: sizeMiB)
        try cache.addBase(key: key, preparedImage: tmp, description: image?.reference ?? "scratch")
        return key
    }

    /// Gives RUN steps room: the requested size, else the image plus 1 GiB (sparse: free until written).
    func grow(_ image: String, toMiB: Int?) throws {
        var st = stat()
        guard stat(image, &st) == 0 else { throw FirebuildError.posix("stat", path: image) }
        let current = Int64(st.st_size)
        let target = toMiB.map { Int64($0) << 20 } ?? (current + (1 << 30))
        guard target > current else { return }
        guard truncate(image, off_t(target)) == 0 else { throw FirebuildError.posix("truncate", path: image) }
        try Command("resize2fs", ["-f", image]).check()
    }
}
