import FirebuildCore
import Foundation

/// An image reference, normalised the way Docker does (`alpine` is
/// `docker.io/library/alpine:latest`). Grammar (distribution/reference):
///   reference := name [":" tag] ["@" digest]
///   name      := [domain "/"] component ("/" component)*
///   domain    := host [":" port], host a dotted name, `localhost` or `[ipv6]`
/// The first part is a domain only if it has a dot, a port, is `localhost`, or has an
/// uppercase letter; otherwise the image lives on Docker Hub.
public struct ImageReference: Hashable, Sendable, CustomStringConvertible {
    public let registry: String
    public let repository: String
    public let tag: String?
    public let digest: ContentDigest?

    public static let dockerHub = "docker.io"
    public static let maxNameLength = 255

    public init(registry: String, repository: String, tag: String?, digest: ContentDigest?) {
        self.registry = registry
        self.repository = repository
        self.tag = tag
        self.digest = digest
    }

    /// Parses and normalises; a reference with neither tag nor digest gets `latest`.
    public init(parsing text: String) throws {
        func bad(_ why: String) -> FirebuildError {
            FirebuildError(.invalidArgument, "invalid image reference \"\(text)\": \(why)")
        }
        guard !text.isEmpty else { throw bad("it is empty; write e.g. alpine:3.19 or registry.example.com/team/app:1") }
        var rest = Substring(text)
        var digest: ContentDigest?
        if let at = rest.firstIndex(of: "@") {
            let digestText = String(rest[rest.index(after: at)...])
            do {
                digest = try ContentDigest(parsing: digestText)
            } catch let e as FirebuildError {
                throw bad("bad digest: \(e.message)")
            }
            rest = rest[..<at]
        }
        var tag: String?
        let lastSlash = rest.lastIndex(of: "/")
        if let colon = rest.lastIndex(of: ":"), lastSlash.map({ colon > $0 }) ?? true {
            let t = String(rest[rest.index(after: colon)...])
            guard ImageReference.isValidTag(t) else {
                throw bad("tag \"\(t)\" must be 1-128 characters of letters, digits, _ . - and not start with . or -")
            }
            tag = t
            rest = rest[..<colon]
        }
        let name = String(rest)
        guard !name.isEmpty else { throw bad("the repository name is empty") }
        if name.count == 64, name.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) {
            throw bad("a 64-character hexadecimal string is an image ID, not a repository name")
        }

        var domain = ImageReference.dockerHub
        var path = name
        if let slash = name.firstIndex(of: "/") {
            let first = String(name[..<slash])
            if first.contains(".") || first.contains(":") || first == "localhost" || first.lowercased() != first {
                domain = first
                path = String(name[name.index(after: slash)...])
            }
        }
        if domain == "index.docker.io" { domain = ImageReference.dockerHub }
        if domain != ImageReference.dockerHub || name.hasPrefix("docker.io/") || name.hasPrefix("index.docker.io/") {
            guard ImageReference.isValidDomain(domain) else {
                throw bad("registry \"\(domain)\" is not a valid host[:port]")
            }
        }
        let components = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        for component in components {
            if component.contains(where: { $0.isUppercase }) {
                throw bad("repository name must be lowercase")
            }
            guard ImageReference.isValidPathComponent(component) else {
                throw bad("path component \"\(component)\" must be lowercase letters and digits separated by . _ __ or dashes")
            }
        }
        if domain == ImageReference.dockerHub && components.count == 1 {
            path = "library/" + path
        }
        let full = domain + "/" + path
        guard full.count <= ImageReference.maxNameLength else {
            throw bad("repository name is \(full.count) characters long; at most \(ImageReference.maxNameLength) are allowed")
        }
        self.registry = domain
        self.repository = path
        self.digest = digest
        self.tag = tag ?? (digest == nil ? "latest" : nil)
    }

    /// `registry/repository`.
    public var name: String { "\(registry)/\(repository)" }

    /// The fully qualified form: `docker.io/library/alpine:latest`, `host/x:t@sha256:…`.
    public var description: String {
        var s = name
        if let tag { s += ":\(tag)" }
        if let digest { s += "@\(digest)" }
        return s
    }

    /// Docker's short form: `alpine:latest`, `user/app:1`, `host:5000/app:1`.
    public var familiar: String {
        var n = name
        if registry == ImageReference.dockerHub {
            n = repository.hasPrefix("library/") && repository.split(separator: "/").count == 2
                ? String(repository.dropFirst("library/".count)) : repository
        }
        if let tag { n += ":\(tag)" }
        if let digest { n += "@\(digest)" }
        return n
    }

    /// What the manifest endpoint is asked for: the digest when pinned, else the tag.
    public var manifestReference: String { digest?.description ?? tag ?? "latest" }

    /// The host the registry API really lives on (Docker Hub's API is not at docker.io).
    public var apiHost: String { registry == ImageReference.dockerHub ? "registry-1.docker.io" : registry }

    /// A copy with another tag/digest (e.g. pinning a tag to the digest it resolved to).
    public func with(tag: String?, digest: ContentDigest?) -> ImageReference {
        ImageReference(registry: registry, repository: repository, tag: tag, digest: digest)
    }

    // MARK: - grammar pieces

    static func isValidTag(_ t: String) -> Bool {
        guard let first = t.unicodeScalars.first, t.unicodeScalars.count <= 128 else { return false }
        func word(_ c: Unicode.Scalar) -> Bool { c.isASCII && (c.properties.isAlphabetic || ("0"..."9").contains(c) || c == "_") }
        guard word(first) else { return false }
        return t.unicodeScalars.allSatisfy { word($0) || $0 == "." || $0 == "-" }
    }

    static func isValidPathComponent(_ c: String) -> Bool {
        // alnum+ (separator alnum+)*, separator = "." | "_" | "__" | "-"+
        let chars = Array(c.unicodeScalars)
        func alnum(_ s: Unicode.Scalar) -> Bool { ("a"..."z").contains(s) || ("0"..."9").contains(s) }
        guard let first = chars.first, let last = chars.last, alnum(first), alnum(last) else { return false }
        var i = 0
        while i < chars.count {
            if alnum(chars[i]) { i += 1; continue }
            var j = i
            while j < chars.count && !alnum(chars[j]) { j += 1 }
            let sep = String(String.UnicodeScalarView(chars[i..<j]))
            guard sep == "." || sep == "_" || sep == "__" || sep.allSatisfy({ $0 == "-" }) else { return false }
            i = j
        }
        return true
    }

    static func isValidDomain(_ d: String) -> Bool {
        var host = Substring(d)
        var port: Substring?
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return false }
            let inner = host[host.index(after: host.startIndex)..<close]
            guard !inner.isEmpty, inner.contains(":"), inner.allSatisfy({ $0.isHexDigit || $0 == ":" }) else { return false }
            let after = host[host.index(after: close)...]
            if !after.isEmpty {
                guard after.first == ":" else { return false }
                port = after.dropFirst()
            }
            host = ""
        } else if let colon = host.firstIndex(of: ":") {
            port = host[host.index(after: colon)...]
            host = host[..<colon]
            guard !host.isEmpty else { return false }
        }
        if let port {
            guard !port.isEmpty, port.allSatisfy({ $0.isASCII && $0.isNumber }) else { return false }
        }
        for label in host.split(separator: ".", omittingEmptySubsequences: false) where !host.isEmpty {
            guard let f = label.first, let l = label.last, f.isASCII, l.isASCII,
                  f.isLetter || f.isNumber, l.isLetter || l.isNumber,
                  label.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else { return false }
        }
        return true
    }

    /// Loopback registries (tests, local mirrors) are spoken to over plain HTTP.
    public var isLoopbackRegistry: Bool {
        let host = ImageReference.hostPart(of: registry)
        return host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    static func hostPart(of domain: String) -> String {
        if domain.hasPrefix("["), let close = domain.firstIndex(of: "]") {
            return String(domain[domain.index(after: domain.startIndex)..<close])
        }
        return String(domain.split(separator: ":", maxSplits: 1).first ?? "")
    }
}
