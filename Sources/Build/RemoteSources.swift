import FirebuildCore
import Foundation
import HTTP

/// `ADD <url>` and `ADD <git url>` sources, fetched to the host before planning.
enum RemoteSources {
    /// Downloads `url`; verifies `--checksum=sha256:…`. Returns the file and the name Docker gives
    /// it when the destination is a directory (the last URL path segment).
    static func download(_ url: String, checksum: String?, scratch: String, http: HTTPClient = .shared) throws -> (String, String) {
        let dir = scratch + "/downloads"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = "\(dir)/\(ContentDigest.sha256(url).hex)"
        var hasher = StreamingSHA256()
        let resp = try http.download(HTTPRequest(url: url), to: path, onChunk: { hasher.update($0) })
        guard resp.isSuccess else { throw FirebuildError(.network, "ADD \(url): the server answered \(resp.status)") }
        if let checksum {
            let want = try ContentDigest(parsing: checksum)
            let got = hasher.finalize()
            guard got == want else {
                unlink(path)
                throw FirebuildError(.digestMismatch, "ADD \(url): content has digest \(got), --checksum expects \(want)")
            }
        }
        var name = url
        if let q = name.firstIndex(where: { $0 == "?" || $0 == "#" }) { name = String(name[..<q]) }
        name = name.split(separator: "/").last.map(String.init) ?? "download"
        if name.contains("://") || name.isEmpty { name = "download" }
        return (path, name.removingPercentEncoding ?? name)
    }

    /// Clones `URL[#ref]` for `ADD <git url> /dest` (the .git directory dropped unless --keep-git-dir).
    static func gitCheckout(_ spec: String, scratch: String, keepGitDir: Bool) throws -> String {
        var url = spec, ref: String?
        if let hash = url.lastIndex(of: "#") {
            let r = String(url[url.index(after: hash)...])
            ref = r.split(separator: ":").first.map(String.init)
            url = String(url[..<hash])
        }
        let dir = "\(scratch)/git-\(ContentDigest.sha256(spec).hex.prefix(16))"
        if !FileManager.default.fileExists(atPath: dir) {
            _ = try GitFetch.clone(url: url, to: dir, ref: ref)
            if !keepGitDir { try? FileManager.default.removeItem(atPath: dir + "/.git") }
        }
        return dir
    }
}
