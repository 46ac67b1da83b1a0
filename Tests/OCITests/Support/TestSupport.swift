import FirebuildCore
import Foundation
@testable import OCI

/// A temporary directory removed by `cleanup()` (call it in a defer).
struct TempDir {
    let path: String
    init(_ label: String = "fbtest") throws {
        let template = NSTemporaryDirectory() + "/\(label)-XXXXXX"
        var buf = Array(template.utf8CString)
        guard mkdtemp(&buf) != nil else { throw FirebuildError.posix("mkdtemp", path: template) }
        path = String(cString: buf)
    }
    func sub(_ name: String) throws -> String {
        let p = path + "/" + name
        try FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        return p
    }
    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

/// Builds a layer tar in memory with the library's own writer (names written verbatim).
func makeTar(_ build: (TarWriter) throws -> Void) throws -> Data {
    let (writer, result) = TarWriter.inMemory()
    try build(writer)
    try writer.finish()
    return result()
}

/// Applies in-memory tars, in order, to a fresh root; returns the root path.
@discardableResult
func applyLayers(_ layers: [Data], to root: String) throws -> String {
    let applier = try LayerApplier(root: root)
    for (i, layer) in layers.enumerated() {
        try applier.apply(tar: DataSource(layer), what: "test layer \(i + 1)")
    }
    return root
}

func lstatOrNil(_ path: String) -> stat? {
    var st = stat()
    return lstat(path, &st) == 0 ? st : nil
}

func exists(_ path: String) -> Bool { lstatOrNil(path) != nil }

func readString(_ path: String) -> String? {
    FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
}

func writeFile(_ path: String, _ data: Data) throws {
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    guard FileManager.default.createFile(atPath: path, contents: data) else { throw FirebuildError.posix("create", path: path) }
}

func tool(_ name: String) -> Bool { Command.which(name) != nil }

/// A version-1 security.capability value granting cap_net_raw (bit 13) permitted+effective.
let netRawCapability: [UInt8] = {
    var v: [UInt8] = []
    func le32(_ x: UInt32) { v += [UInt8(x & 0xFF), UInt8((x >> 8) & 0xFF), UInt8((x >> 16) & 0xFF), UInt8(x >> 24)] }
    le32(0x0200_0001)        // VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE
    le32(1 << 13); le32(0)   // permitted, inheritable (low 32 bits)
    le32(0); le32(0)         // high 32 bits
    return v
}()
