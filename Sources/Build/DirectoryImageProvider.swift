import Dockerfile
import FirebuildCore
import Foundation

/// The `directory` storage layout (`<root>/<org>/<name>/<version>/{rootfs,metadata.json}`), read
/// and written with the Store module's metadata field names. A bridge until the Store module's
/// ImageStore/ImageService land in this branch: then a StoreImageProvider replaces it (and adds
/// registry pulls for FROM references that are not stored tags).
public struct DirectoryImageProvider: ImageProvider {
    public var root: String
    public var lockDir: String

    public init(root: String = FirebuildPaths().rootfsStorageRoot, lockDir: String = FirebuildPaths().locks) {
        self.root = root
        self.lockDir = lockDir
    }

    struct Metadata: Codable {
        struct Source: Codable { var kind: String; var reference: String?; var dockerfile: String? }
        struct Parent: Codable { var tag: String?; var reference: String? }
        var schemaVersion = 1
        var type: String
        var tag: String
        var created: Date
        var config: ImageConfig
        var source: Source
        var parents: [Parent]
        var rootfsSize: UInt64
        var platform: String?
    }

    /// `org/name:version`, `name:version`, `name` → `org/name/version` (org `_`, version `latest`).
    public static func relativePath(_ tag: String) throws -> String {
        var rest = Substring(tag), version = "latest"
        if let colon = rest.lastIndex(of: ":"), !rest[rest.index(after: colon)...].contains("/") {
            version = String(rest[rest.index(after: colon)...])
            rest = rest[..<colon]
        }
        let parts = rest.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        let org = parts.count == 2 ? parts[0] : "_", name = parts.last ?? ""
        let ok = { (s: String) in !s.isEmpty && s != "." && s != ".." && s.allSatisfy { $0.isLetter || $0.isNumber || "._-".contains($0) } }
        guard parts.count <= 2, ok(org), ok(name), ok(version) else {
            throw FirebuildError(.invalidArgument, "invalid tag \"\(tag)\": use org/name:version (letters, digits, . _ -)")
        }
        return "\(org)/\(name)/\(version)"
    }

    public func baseImage(_ reference: String, platform: Platform) throws -> BaseImage {
        let dir = root + "/" + (try Self.relativePath(reference))
        let rootfs = dir + "/rootfs"
        guard FileManager.default.fileExists(atPath: rootfs) else {
            throw FirebuildError(.notFound, "FROM \(reference): no such tag in \(root); pull or import it first (firebuild pull / rootfs --docker-image)")
        }
        var config = ImageConfig()
        if let data = FileManager.default.contents(atPath: dir + "/metadata.json") {
            if let md = try? JSONDecoder.iso.decode(Metadata.self, from: data) { config = md.config }
        }
        return BaseImage(reference: reference, rootfsPath: rootfs, config: config, identity: BaseImage.fileIdentity(rootfs))
    }

    public func commit(rootfs: String, config: ImageConfig, tag: String, parent: BaseImage?, dockerfile: String) throws {
        let rel = try Self.relativePath(tag)
        let dir = root + "/" + rel
        try FileLock.withLock(lockDir + "/tag-" + rel.replacingOccurrences(of: "/", with: "_") + ".lock", timeout: 600) {
            // Stage next to the destination, then swap the directory in with one rename.
            let staging = "\(dir).staging-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
            var ok = false
            defer { if !ok { try? FileManager.default.removeItem(atPath: staging) } }
            if rename(rootfs, staging + "/rootfs") != 0 {
                try Command("cp", ["--sparse=always", rootfs, staging + "/rootfs"]).check()
            }
            var st = stat()
            _ = stat(staging + "/rootfs", &st)
            let md = Metadata(type: "rootfs", tag: tag, created: Date(), config: config,
                              source: .init(kind: "dockerfile", reference: nil, dockerfile: dockerfile),
                              parents: parent.map { [.init(tag: $0.reference, reference: $0.reference)] } ?? [],
                              rootfsSize: UInt64(st.st_size), platform: "linux/amd64")
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            enc.dateEncodingStrategy = .iso8601
            try AtomicFile.write(try enc.encode(md), to: staging + "/metadata.json")
            let old = "\(dir).old-\(getpid())"
            if FileManager.default.fileExists(atPath: dir) { guard rename(dir, old) == 0 else { throw FirebuildError.posix("rename", path: dir) } }
            guard rename(staging, dir) == 0 else { throw FirebuildError.posix("rename", path: staging) }
            ok = true
            try? FileManager.default.removeItem(atPath: old)
        }
    }
}
