import FirebuildCore
import Foundation

/// A tag in the image store: `org/name:version`.
///
/// The rule (anchored, the whole string must match):
/// - `org` and `name` are Docker path components: lowercase letters and digits joined by `.`, `_`,
///   `__` or dashes (`[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`), 1-128 characters each.
/// - `org` may be omitted (`name:version`): it is then `_`, the original's org for single-name images;
///   `_` may also be written explicitly (`_/alpine:3.19`).
/// - `version` is a Docker tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`; omitted means `latest`.
/// - More than two path components, uppercase, empty parts and digests are rejected with the reason.
public struct ImageTag: Hashable, Codable, Comparable, CustomStringConvertible, Sendable {
    public static let defaultOrg = "_"
    public static let defaultVersion = "latest"

    public let org: String
    public let name: String
    public let version: String

    public init(org: String = ImageTag.defaultOrg, name: String, version: String = ImageTag.defaultVersion) throws {
        try ImageTag.check(org: org, name: name, version: version, text: "\(org)/\(name):\(version)")
        self.org = org
        self.name = name
        self.version = version
    }

    public init(parsing text: String) throws {
        guard !text.isEmpty else {
            throw FirebuildError(.invalidArgument, "empty image tag: use org/name:version, e.g. acme/web:1.0")
        }
        guard !text.contains("@") else {
            throw FirebuildError(.invalidArgument, "invalid tag \"\(text)\": a store tag cannot contain a digest (@sha256:…); pull the digest with --tag org/name:version")
        }
        var rest = Substring(text)
        var version = ImageTag.defaultVersion
        if let colon = rest.lastIndex(of: ":") {
            version = String(rest[rest.index(after: colon)...])
            rest = rest[..<colon]
        }
        let parts = rest.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        let org: String, name: String
        switch parts.count {
        case 1: (org, name) = (ImageTag.defaultOrg, parts[0])
        case 2: (org, name) = (parts[0], parts[1])
        default:
            throw FirebuildError(.invalidArgument, "invalid tag \"\(text)\": a store tag has at most two path components (org/name:version)")
        }
        try ImageTag.check(org: org, name: name, version: version, text: text)
        self.org = org
        self.name = name
        self.version = version
    }

    public init(from decoder: Decoder) throws {
        try self.init(parsing: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }

    /// Canonical form; `_` is always written so the text maps one-to-one to the directory layout.
    public var description: String { "\(org)/\(name):\(version)" }
    /// The form users typed for single-name images (`alpine:3.19`).
    public var shortDescription: String { org == ImageTag.defaultOrg ? "\(name):\(version)" : description }
    /// `org/name/version`, the store's directory for this tag.
    public var relativePath: String { "\(org)/\(name)/\(version)" }

    public static func < (a: ImageTag, b: ImageTag) -> Bool {
        (a.org, a.name, a.version) < (b.org, b.name, b.version)
    }

    /// Docker's path-component rule: `[a-z0-9]+` runs joined by `.`, `_`, `__` or one or more `-`.
    static func isComponent(_ s: String) -> Bool {
        guard (1...128).contains(s.utf8.count) else { return false }
        var separator: [UInt8] = []
        var sawAlnum = false
        for c in s.utf8 {
            switch c {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                if !separator.isEmpty {
                    guard sawAlnum, isSeparator(separator) else { return false }
                    separator = []
                }
                sawAlnum = true
            case UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                separator.append(c)
            default:
                return false
            }
        }
        return sawAlnum && separator.isEmpty
    }

    private static func isSeparator(_ s: [UInt8]) -> Bool {
        s == [UInt8(ascii: ".")] || s == [UInt8(ascii: "_")] || s == [UInt8(ascii: "_"), UInt8(ascii: "_")]
            || s.allSatisfy { $0 == UInt8(ascii: "-") }
    }

    static func isVersion(_ s: String) -> Bool {
        let bytes = Array(s.utf8)
        guard (1...128).contains(bytes.count) else { return false }
        func word(_ c: UInt8) -> Bool {
            (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
                || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "_")
        }
        guard word(bytes[0]) else { return false }
        return bytes.dropFirst().allSatisfy { word($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
    }

    private static func check(org: String, name: String, version: String, text: String) throws {
        guard org == defaultOrg || isComponent(org) else {
            throw FirebuildError(.invalidArgument,
                "invalid tag \"\(text)\": org \"\(org)\" must be lowercase letters and digits joined by . _ __ or - (or _ for none)")
        }
        guard isComponent(name) else {
            throw FirebuildError(.invalidArgument,
                "invalid tag \"\(text)\": name \"\(name)\" must be 1-128 lowercase letters and digits joined by . _ __ or -")
        }
        guard isVersion(version) else {
            throw FirebuildError(.invalidArgument,
                "invalid tag \"\(text)\": version \"\(version)\" must be 1-128 characters of A-Z a-z 0-9 _ . - and not start with . or -")
        }
    }

    /// A store tag for an image reference such as `docker.io/library/alpine:3.19`,
    /// `ghcr.io/acme/tools/web:1` or `registry:5000/app@sha256:…`: the last two repository
    /// components become org/name (`library` and single names give org `_`), the tag the version;
    /// a digest-only reference gets `sha256-<first 12 hex>` as version. Uppercase is lowered.
    public static func derived(fromReference reference: String) throws -> ImageTag {
        var ref = Substring(reference)
        var digestVersion: String?
        if let at = ref.firstIndex(of: "@") {
            let digest = ref[ref.index(after: at)...]
            ref = ref[..<at]
            let hex = digest.split(separator: ":").last.map(String.init) ?? ""
            digestVersion = "sha256-" + String(hex.prefix(12))
        }
        var version = defaultVersion
        if let colon = ref.lastIndex(of: ":"), !ref[ref.index(after: colon)...].contains("/") {
            version = String(ref[ref.index(after: colon)...])
            ref = ref[..<colon]
        }
        if let digestVersion { version = digestVersion }
        var parts = ref.split(separator: "/").map { String($0).lowercased() }
        // A first component with a dot, a colon or "localhost" is a registry host, not part of the name.
        if parts.count > 1, let first = parts.first, first.contains(".") || first.contains(":") || first == "localhost" {
            parts.removeFirst()
        }
        guard let name = parts.last else {
            throw FirebuildError(.invalidArgument, "cannot derive a tag from reference \"\(reference)\"; pass --tag org/name:version")
        }
        var org = parts.count >= 2 ? parts[parts.count - 2] : defaultOrg
        if org == "library" { org = defaultOrg }
        do {
            return try ImageTag(org: org, name: name, version: version)
        } catch let e as FirebuildError {
            throw FirebuildError(.invalidArgument, "cannot derive a store tag from \"\(reference)\" (\(e.message)); pass --tag org/name:version")
        }
    }
}
