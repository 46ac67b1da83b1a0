import FirebuildCore
import Foundation
import Testing
@testable import Store

@Suite struct TreeScratchTests {
    static let shmIsTmpfs = TreeScratch.isTmpfsMount("/dev/shm")

    @Test(.enabled(if: shmIsTmpfs, "/dev/shm is not a tmpfs here"))
    func smallTreeGoesToTmpfs() throws {
        let dir = try #require(TreeScratch.tmpfsDirectory(for: 1 << 20, environment: [:]))
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(dir.hasPrefix("/dev/shm/firebuild-tree-"))
        var st = stat()
        #expect(stat(dir, &st) == 0 && st.st_mode & 0o777 == 0o700)
    }

    @Test(.enabled(if: shmIsTmpfs, "/dev/shm is not a tmpfs here"))
    func treeTooBigOrDisabledStaysOnDisk() {
        // More than any machine's memory: never on tmpfs.
        #expect(TreeScratch.tmpfsDirectory(for: 1 << 50, environment: [:]) == nil)
        #expect(TreeScratch.tmpfsDirectory(for: 1 << 20, environment: ["FIREBUILD_TREE_TMPFS": "0"]) == nil)
    }

    @Test func notATmpfsMountIsNotUsed() throws {
        let tmp = try TempDir("not-tmpfs")
        #expect(!TreeScratch.isTmpfsMount(tmp.path))
        #expect(TreeScratch.tmpfsDirectory(for: 1, base: tmp.path, environment: [:]) == nil)
    }

    @Test func noSpaceIsRecognised() {
        #expect(TreeScratch.isNoSpace(FirebuildError.posix("write", path: "/x", errno: ENOSPC)))
        #expect(!TreeScratch.isNoSpace(FirebuildError.posix("write", path: "/x", errno: EIO)))
        #expect(TreeScratch.memAvailable().map { $0 > 0 } ?? false)
    }
}
