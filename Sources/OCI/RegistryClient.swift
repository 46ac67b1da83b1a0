import FirebuildCore
import Foundation
import HTTP
import Logging

/// A client of the OCI distribution API (docker-registry, Docker Hub, GHCR, …): `/v2/`
/// ping, bearer tokens from `WWW-Authenticate` or basic auth, manifests of all four
/// kinds, blobs streamed into the content store with their digest checked on the way.
public final class RegistryClient: @unchecked Sendable {
    public let http: HTTPClient
    /// Registries spoken to over plain HTTP (loopback always is).
    public var insecureRegistries: [String]
    /// Explicit logins by registry host; else Docker's config file is consulted.
    public var credentials: [String: RegistryCredentials]
    public var dockerConfig: DockerConfigCredentials
    public var maxAttempts = 4
    public var retryBaseDelay: TimeInterval = 0.5

    private let lock = NSLock()
    private var authorizations: [String: String] = [:]   // "registry|repo" → Authorization value
    private let logger = makeLogger("oci")

    public init(http: HTTPClient = .shared, insecureRegistries: [String] = [],
                credentials: [String: RegistryCredentials] = [:],
                dockerConfig: DockerConfigCredentials? = nil) {
        self.http = http
        self.insecureRegistries = insecureRegistries
        self.credentials = credentials
        self.dockerConfig = dockerConfig ?? ((try? DockerConfigCredentials.load()) ?? DockerConfigCredentials())
    }

    public func baseURL(for ref: ImageReference) -> String {
        let plain = ref.isLoopbackRegistry || insecureRegistries.contains(ref.registry)
        return "\(plain ? "http" : "https")://\(ref.apiHost)"
    }

    func login(for registry: String) -> RegistryCredentials? {
        credentials[registry] ?? dockerConfig.credentials(for: registry)
    }

    // MARK: - manifests

    public struct FetchedManifest: Sendable {
        public var data: Data
        public var mediaType: String
        public var digest: ContentDigest
    }

    /// GETs a manifest by tag or digest. A digest-pinned fetch is verified against the body.
    public func manifest(_ ref: ImageReference, reference: String? = nil) throws -> FetchedManifest {
        let which = reference ?? ref.manifestReference
        let url = "\(baseURL(for: ref))/v2/\(ref.repository)/manifests/\(which)"
        let response = try send(ref, HTTPRequest(url: url, headers: [("Accept", MediaType.manifestAccept)]))
        guard response.isSuccess else { throw registryError(response, url: url, what: "manifest \(ref.name):\(which)") }
        let digest = ContentDigest.sha256(response.body)
        if let pinned = try? ContentDigest(parsing: which), pinned != digest {
            throw FirebuildError(.digestMismatch, "manifest \(ref.name)@\(pinned) from \(url) has digest \(digest); the registry returned other content")
        }
        guard let kind = JSONHelpers.manifestKind(response.body, contentType: response.headers["Content-Type"]) else {
            throw FirebuildError(.unsupported, "\(url) returned \(response.headers["Content-Type"] ?? "no content type"), which is not an image manifest or index (schema 1 manifests are not supported)")
        }
        return FetchedManifest(data: response.body, mediaType: kind, digest: digest)
    }

    // MARK: - blobs

    /// Streams a blob into the store (skipped when already there), verifying its digest.
    /// `progress(completed, total)` reports bytes. Transient failures resume (see `download`).
    @discardableResult
    public func fetchBlob(_ ref: ImageReference, _ descriptor: Descriptor, into store: ContentStore,
                          progress: ((Int64, Int64) -> Void)? = nil) throws -> String {
        if store.contains(descriptor.digest) {
            progress?(descriptor.size, descriptor.size)
            return store.path(for: descriptor.digest)
        }
        let writer = try store.newWriter()
        do {
            try download(ref, descriptor, into: writer) { progress?($0, descriptor.size) }
            try writer.commit(expected: descriptor.digest, source: "blob \(descriptor.digest) from \(blobURL(ref, descriptor))")
        } catch {
            writer.abort()
            throw error
        }
        return store.path(for: descriptor.digest)
    }

    func blobURL(_ ref: ImageReference, _ descriptor: Descriptor) -> String {
        "\(baseURL(for: ref))/v2/\(ref.repository)/blobs/\(descriptor.digest)"
    }

    /// Streams a blob's bytes into `writer` (the caller commits, which checks the digest, or
    /// aborts), calling `onData(bytesSoFar)` after each piece is written. A transient failure
    /// resumes where it stopped: a Range request continues the body, and from a registry
    /// that ignores Range (a full 200) the bytes already held are skipped. So a reader
    /// following the writer's file (a layer applied while it downloads) never sees a byte
    /// twice. More bytes than the descriptor says abort at once.
    public func download(_ ref: ImageReference, _ descriptor: Descriptor, into writer: ContentWriter,
                         onData: ((Int64) throws -> Void)? = nil) throws {
        let url = blobURL(ref, descriptor)
        var attempt = 0
        while true {
            attempt += 1
            let resumeAt = writer.count
            let skip = SkipCounter()
            do {
                let response = try authorized(ref) { auth in
                    var request = HTTPRequest(url: url, timeout: 60)
                    if let auth { request.headers.append(("Authorization", auth)) }
                    if resumeAt > 0 { request.headers.append(("Range", "bytes=\(resumeAt)-")) }
                    return try self.http.stream(request, onResponse: { status, headers in
                        skip.left = resumeAt
                        if status == 206 {
                            guard RegistryClient.rangeStart(headers["Content-Range"]) == resumeAt else {
                                throw FirebuildError(.network, "GET \(url): the registry resumed at the wrong offset (Content-Range \(headers["Content-Range"] ?? "missing"), wanted \(resumeAt))")
                            }
                            skip.left = 0
                        }
                    }, body: { chunk in
                        var piece = chunk
                        if skip.left > 0 {
                            let n = Int(min(Int64(piece.count), skip.left))
                            piece = UnsafeRawBufferPointer(rebasing: piece[n...])
                            skip.left -= Int64(n)
                        }
                        guard !piece.isEmpty else { return }
                        guard writer.count + Int64(piece.count) <= descriptor.size else {
                            throw FirebuildError(.digestMismatch, "blob \(descriptor.digest) from \(url) is larger than the \(descriptor.size) bytes the manifest says; nothing was stored")
                        }
                        try writer.write(piece)
                        try onData?(writer.count)
                    })
                }
                guard response.isSuccess else {
                    if attempt < maxAttempts, RegistryClient.isTransient(response.status) {
                        backoff(attempt, response)
                        continue
                    }
                    throw registryError(response, url: url, what: "blob \(descriptor.digest)")
                }
                guard writer.count == descriptor.size else {
                    throw FirebuildError(.digestMismatch, "blob \(descriptor.digest) from \(url) is \(writer.count) bytes, the manifest says \(descriptor.size); nothing was stored")
                }
                return
            } catch let error as FirebuildError where error.code == .network && attempt < maxAttempts {
                logger.warning("resuming blob download", metadata: ["url": .string(url), "at": "\(writer.count)", "error": .string(error.message)])
                backoff(attempt, nil)
            }
        }
    }

    /// The first byte of a `Content-Range: bytes START-END/TOTAL` answer.
    static func rangeStart(_ header: String?) -> Int64? {
        guard let header, header.hasPrefix("bytes ") else { return nil }
        return Int64(header.dropFirst(6).prefix { $0 != "-" })
    }

    /// Downloads small blobs (configs) into the store and returns their bytes.
    public func blobData(_ ref: ImageReference, _ descriptor: Descriptor, into store: ContentStore) throws -> Data {
        try fetchBlob(ref, descriptor, into: store)
        return try store.read(descriptor.digest)
    }

    // MARK: - requests with auth and retries

    /// `GET /v2/`: says whether the registry is there and which auth it wants.
    public func ping(_ ref: ImageReference) throws -> HTTPResponse {
        let url = "\(baseURL(for: ref))/v2/"
        let response = try withRetries(url) { try self.http.send(HTTPRequest(url: url, timeout: 30)) }
        guard response.isSuccess || response.status == 401 else {
            throw registryError(response, url: url, what: "registry \(ref.registry)")
        }
        return response
    }

    /// Sends with auth (negotiated on a 401) and retries on 429/5xx/network errors.
    public func send(_ ref: ImageReference, _ request: HTTPRequest) throws -> HTTPResponse {
        try withRetries(request.url) {
            try self.authorized(ref) { auth in
                var r = request
                if let auth { r.headers.append(("Authorization", auth)) }
                return try self.http.send(r)
            }
        }
    }

    /// Runs `perform` with the cached authorization; on a 401 negotiates a new one from the
    /// challenge and tries once more.
    func authorized(_ ref: ImageReference, _ perform: (String?) throws -> HTTPResponse) throws -> HTTPResponse {
        let key = "\(ref.registry)|\(ref.repository)"
        lock.lock()
        let cached = authorizations[key]
        lock.unlock()
        let first = try perform(cached)
        guard first.status == 401 else { return first }
        guard let header = first.headers["WWW-Authenticate"], let challenge = AuthChallenge.parse(header) else {
            throw FirebuildError(.permission, "\(ref.registry) refused access to \(ref.repository) (401) without saying how to authenticate")
        }
        let auth = try authorization(for: ref, challenge: challenge)
        lock.lock()
        authorizations[key] = auth
        lock.unlock()
        let second = try perform(auth)
        if second.status == 401 || second.status == 403 {
            let hint = login(for: ref.registry) == nil
                ? "no login is configured for \(ref.registry): add it to \(DockerConfigCredentials.defaultPath()) (auths) or pass credentials"
                : "the configured login for \(ref.registry) was rejected"
            throw FirebuildError(.permission, "access to \(ref.name) denied (\(second.status)): \(hint)")
        }
        return second
    }

    private func authorization(for ref: ImageReference, challenge: AuthChallenge) throws -> String {
        let login = login(for: ref.registry)
        switch challenge.scheme {
        case "basic":
            guard let login else {
                throw FirebuildError(.permission, "\(ref.registry) needs a login (basic auth): add it to \(DockerConfigCredentials.defaultPath()) (auths) or pass credentials")
            }
            return login.basicAuthorization
        case "bearer":
            guard let realm = challenge.parameters["realm"], var components = URLComponents(string: realm) else {
                throw FirebuildError(.network, "\(ref.registry) sent a bearer challenge without a usable realm")
            }
            var items = components.queryItems ?? []
            if let service = challenge.parameters["service"] { items.append(URLQueryItem(name: "service", value: service)) }
            items.append(URLQueryItem(name: "scope", value: challenge.parameters["scope"] ?? "repository:\(ref.repository):pull"))
            components.queryItems = items
            guard let url = components.string else { throw FirebuildError(.network, "bad token realm \(realm)") }
            var request = HTTPRequest(url: url, timeout: 30)
            if let login { request.headers.append(("Authorization", login.basicAuthorization)) }
            let response = try withRetries(url) { try self.http.send(request) }
            guard response.isSuccess else { throw registryError(response, url: url, what: "token for \(ref.name)") }
            struct Token: Decodable { var token: String?; var access_token: String? }
            let token = try JSONHelpers.decode(Token.self, response.body, what: "token response from \(url)")
            guard let value = token.token ?? token.access_token, !value.isEmpty else {
                throw FirebuildError(.network, "token response from \(url) holds no token")
            }
            return "Bearer \(value)"
        default:
            throw FirebuildError(.unsupported, "\(ref.registry) asks for \(challenge.scheme) authentication, which firebuild does not support")
        }
    }

    static func isTransient(_ status: Int) -> Bool { status == 429 || (500...599).contains(status) && status != 501 }

    func withRetries(_ url: String, _ perform: () throws -> HTTPResponse) throws -> HTTPResponse {
        var attempt = 0
        while true {
            attempt += 1
            do {
                let response = try perform()
                if attempt < maxAttempts, RegistryClient.isTransient(response.status) {
                    logger.warning("retrying", metadata: ["url": .string(url), "status": .stringConvertible(response.status)])
                    backoff(attempt, response)
                    continue
                }
                return response
            } catch let error as FirebuildError where error.code == .network && attempt < maxAttempts {
                logger.warning("retrying", metadata: ["url": .string(url), "error": .string(error.message)])
                backoff(attempt, nil)
            }
        }
    }

    private func backoff(_ attempt: Int, _ response: HTTPResponse?) {
        var delay = retryBaseDelay * pow(2, Double(attempt - 1))
        if let after = response?.headers["Retry-After"], let seconds = Double(after) { delay = max(delay, seconds) }
        Thread.sleep(forTimeInterval: min(delay, 10))
    }

    func registryError(_ response: HTTPResponse, url: String, what: String) -> FirebuildError {
        struct Errors: Decodable { struct E: Decodable { var code: String?; var message: String? }; var errors: [E]? }
        let detail = (try? JSONDecoder().decode(Errors.self, from: response.body))?.errors?
            .map { [$0.code, $0.message].compactMap { $0 }.joined(separator: ": ") }.joined(separator: "; ")
        let suffix = detail.map { " (\($0))" } ?? ""
        switch response.status {
        case 404: return FirebuildError(.notFound, "\(what) not found: GET \(url) returned 404\(suffix)")
        case 401, 403: return FirebuildError(.permission, "\(what): access denied by the registry (\(response.status))\(suffix)")
        default: return FirebuildError(.network, "\(what): GET \(url) returned \(response.status)\(suffix)")
        }
    }
}

/// Bytes of a resent body still to drop (a registry that answered a Range request in full).
private final class SkipCounter: @unchecked Sendable {
    var left: Int64 = 0
}
