import FirebuildCore
import Foundation
import Logging

/// An image as stored: `<root>/<org>/<name>/<version>/{rootfs,metadata.json}`.
public struct StoredImage: Equatable, Sendable {
    public var tag: ImageTag
    public var directory: String
    public var rootfsPath: String { directory + "/" + ImageStore.rootfsFile }
    public var metadataPath: String { directory + "/" + ImageStore.metadataFile }
    public var metadata: ImageMetadata
}

/// The `directory` storage provider, with the original's layout plus what it lacked: list,
/// retag, remove, atomic commits and per-tag locks.
///
/// Every change is prepared in `<root>/.tmp/<pid>-<random>` (same filesystem, so renames are
/// atomic) and published under the tag's lock (`<root>/.locks/<org>/<name>/<version>.lock`):
/// a reader sees the old image or the new one, never a mix, and two writers of one tag serialise.
/// Replacing an existing tag swaps the directories with renameat2(RENAME_EXCHANGE).
public final class ImageStore: @unchecked Sendable {
    public static let rootfsFile = "rootfs"
    public static let metadataFile = "metadata.json"

    public let root: String
    private let logger = makeLogger("store")
    /// How long a writer waits for another writer of the same tag.
    public var lockTimeout: TimeInterval = 600

    public init(root: String) {
        self.root = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
    }

    public convenience init(config: StorageConfig) {
        self.init(root: config.rootfsRoot)
    }

    var stagingRoot: String { root + "/.tmp" }

    public func directory(for tag: ImageTag) -> String { root + "/" + tag.relativePath }

    func lockPath(for tag: ImageTag) -> String { root + "/.locks/" + tag.relativePath + ".lock" }

    /// Runs `body` holding the tag's lock (other processes writing this tag wait).
    public func withTagLock<T>(_ tag: ImageTag, _ body: () throws -> T) throws -> T {
        try FileLock.withLock(lockPath(for: tag), timeout: lockTimeout, body)
    }

    /// A fresh scratch directory on the store's filesystem; builders put their ext4 there so
    /// `commit(..., move: true)` is a rename, not a copy. The caller removes it when done.
    public func makeScratchDirectory() throws -> String {
        let dir = stagingRoot + "/\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    // MARK: read

    public func get(_ tag: ImageTag) throws -> StoredImage {
        guard let image = try find(tag) else {
            throw FirebuildError(.notFound, "image \(tag.shortDescription) not found in \(root); pull or build it first (firebuild image ls lists what is there)")
        }
        return image
    }

    public func find(_ tag: ImageTag) throws -> StoredImage? {
        let dir = directory(for: tag)
        let metaPath = dir + "/" + ImageStore.metadataFile
        guard FileManager.default.fileExists(atPath: dir + "/" + ImageStore.rootfsFile) else { return nil }
        guard let data = FileManager.default.contents(atPath: metaPath) else {
            throw FirebuildError(.io, "image \(tag) in \(dir) has a rootfs but no readable \(ImageStore.metadataFile); remove it with firebuild image rm \(tag)")
        }
        return StoredImage(tag: tag, directory: dir, metadata: try ImageMetadata.decode(data, from: metaPath))
    }

    public func exists(_ tag: ImageTag) -> Bool {
        FileManager.default.fileExists(atPath: directory(for: tag) + "/" + ImageStore.rootfsFile)
    }

    /// Every image, sorted by tag. Unreadable entries are logged and skipped, not fatal.
    public func list() -> [StoredImage] {
        var out: [StoredImage] = []
        for org in DirectoryOps.children(root) where DirectoryOps.isDirectory(root + "/" + org) {
            for name in DirectoryOps.children(root + "/" + org) where DirectoryOps.isDirectory("\(root)/\(org)/\(name)") {
                for version in DirectoryOps.children("\(root)/\(org)/\(name)") {
                    guard let tag = try? ImageTag(org: org, name: name, version: version) else { continue }
                    do {
                        if let image = try find(tag) { out.append(image) }
                    } catch {
                        logger.warning("skipping unreadable image", metadata: ["tag": "\(tag)", "error": "\(error)"])
                    }
                }
            }
        }
        return out.sorted { $0.tag < $1.tag }
    }

    /// Copies the tag's rootfs to `destination` (reflinked where possible) under the tag lock and
    /// returns the metadata that belongs to exactly that rootfs: how `run` and builds take a
    /// private, writable copy while other processes may re-tag.
    public func checkout(_ tag: ImageTag, to destination: String) throws -> ImageMetadata {
        try withTagLock(tag) {
            let image = try get(tag)
            try FileManager.default.createDirectory(atPath: (destination as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            try DirectoryOps.copyFile(image.rootfsPath, to: destination)
            return image.metadata
        }
    }

    // MARK: write

    /// Stores `rootfs` (an ext4 image) with `metadata` as `tag`, replacing what the tag held.
    /// `move: true` renames the file in (it must be on the store's filesystem, e.g. from
    /// `makeScratchDirectory`), otherwise it is copied (reflinked where possible).
    @discardableResult
    public func commit(rootfs: String, metadata: ImageMetadata, as tag: ImageTag, move: Bool = false) throws -> StoredImage {
        try FirebuildTracing.span("store.commit", attributes: [FirebuildSpanKey.tag: tag.description]) { span in
            let stored = try commitTraced(rootfs: rootfs, metadata: metadata, as: tag, move: move)
            span.attributes[FirebuildSpanKey.bytes] = Int(stored.metadata.rootfsSize)
            return stored
        }
    }

    private func commitTraced(rootfs: String, metadata: ImageMetadata, as tag: ImageTag, move: Bool) throws -> StoredImage {
        guard FileManager.default.fileExists(atPath: rootfs) else {
            throw FirebuildError(.notFound, "cannot store \(rootfs) as \(tag): the file does not exist")
        }
        let staging = try makeScratchDirectory()
        defer { DirectoryOps.removeTree(staging) }
        let stagedRootfs = staging + "/" + ImageStore.rootfsFile
        if !(move && Foundation.rename(rootfs, stagedRootfs) == 0) {
            try DirectoryOps.copyFile(rootfs, to: stagedRootfs)
        }
        var meta = metadata
        meta.tag = tag.description
        meta.created = Date(timeIntervalSince1970: meta.created.timeIntervalSince1970.rounded(.down))
        meta.rootfsSize = try DirectoryOps.fileSize(stagedRootfs)
        try AtomicFile.write(try meta.encoded(), to: staging + "/" + ImageStore.metadataFile, mode: 0o644)
        try publish(staging, as: tag)
        logger.info("stored image", metadata: ["tag": "\(tag)", "bytes": "\(meta.rootfsSize)"])
        return StoredImage(tag: tag, directory: directory(for: tag), metadata: meta)
    }

    /// Moves a complete staging directory into the tag's place under the tag lock.
    private func publish(_ staging: String, as tag: ImageTag) throws {
        let dest = directory(for: tag)
        try withTagLock(tag) {
            // A concurrent `remove` of a sibling version may delete the empty parent between
            // mkdir and rename: recreate it and retry.
            for _ in 0..<3 {
                try FileManager.default.createDirectory(atPath: (dest as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                if Foundation.rename(staging, dest) == 0 { return }
                if errno != ENOENT { break }
            }
            guard errno == EEXIST || errno == ENOTEMPTY else { throw FirebuildError.posix("rename", path: "\(staging) -> \(dest)") }
            // The tag exists: swap atomically; `staging` then holds the old image, removed by the caller.
            if DirectoryOps.exchange(staging, dest) { return }
            // No RENAME_EXCHANGE (old kernel, odd filesystem): move the old one aside first.
            // Readers may briefly find no image, but never a mixed one.
            let aside = try makeScratchDirectory() + "/old"
            guard Foundation.rename(dest, aside) == 0 else { throw FirebuildError.posix("rename", path: dest) }
            defer { DirectoryOps.removeTree((aside as NSString).deletingLastPathComponent) }
            guard Foundation.rename(staging, dest) == 0 else { throw FirebuildError.posix("rename", path: "\(staging) -> \(dest)") }
        }
    }

    /// Gives the image `source` a second tag `destination` (an independent copy, reflinked where possible).
    @discardableResult
    public func tag(_ source: ImageTag, as destination: ImageTag) throws -> StoredImage {
        try FirebuildTracing.span("store.tag", attributes: [FirebuildSpanKey.tag: destination.description,
                                                            FirebuildSpanKey.image: source.description]) { _ in
            try tagTraced(source, as: destination)
        }
    }

    private func tagTraced(_ source: ImageTag, as destination: ImageTag) throws -> StoredImage {
        guard source != destination else { return try get(source) }
        let staging = try makeScratchDirectory()
        defer { DirectoryOps.removeTree(staging) }
        // Copy under the source's lock so a concurrent re-commit of it cannot be read half-way;
        // publish under the destination's lock only (never two locks at once: no lock-order deadlock).
        var meta = try withTagLock(source) { () throws -> ImageMetadata in
            let image = try get(source)
            try DirectoryOps.copyFile(image.rootfsPath, to: staging + "/" + ImageStore.rootfsFile)
            return image.metadata
        }
        meta.tag = destination.description
        try AtomicFile.write(try meta.encoded(), to: staging + "/" + ImageStore.metadataFile, mode: 0o644)
        let published = staging + "/image"
        try FileManager.default.createDirectory(atPath: published, withIntermediateDirectories: false)
        for f in [ImageStore.rootfsFile, ImageStore.metadataFile] {
            guard Foundation.rename(staging + "/" + f, published + "/" + f) == 0 else { throw FirebuildError.posix("rename", path: staging + "/" + f) }
        }
        try publish(published, as: destination)
        return StoredImage(tag: destination, directory: directory(for: destination), metadata: meta)
    }

    /// Removes a tag (its rootfs and metadata); empty org/name directories go too.
    public func remove(_ tag: ImageTag) throws {
        let dest = directory(for: tag)
        let trash = try makeScratchDirectory()
        defer { DirectoryOps.removeTree(trash) }
        try withTagLock(tag) {
            guard FileManager.default.fileExists(atPath: dest) else {
                throw FirebuildError(.notFound, "image \(tag.shortDescription) not found in \(root)")
            }
            guard Foundation.rename(dest, trash + "/image") == 0 else { throw FirebuildError.posix("rename", path: dest) }
        }
        let nameDir = (dest as NSString).deletingLastPathComponent
        if rmdir(nameDir) == 0 { rmdir((nameDir as NSString).deletingLastPathComponent) }
        logger.info("removed image", metadata: ["tag": "\(tag)"])
    }

    /// Removes staging directories left by processes that no longer exist (crashes, kill -9).
    @discardableResult
    public func cleanStaleStaging() -> Int {
        var removed = 0
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: stagingRoot)) ?? [] {
            guard let pid = Int32(entry.split(separator: "-").first ?? "") else { continue }
            if pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH {
                DirectoryOps.removeTree(stagingRoot + "/" + entry)
                removed += 1
            }
        }
        return removed
    }
}
