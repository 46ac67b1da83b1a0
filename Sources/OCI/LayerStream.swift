import FirebuildCore
import Foundation
import Logging

/// Registry layers fetched and applied in one pass. Each blob streams into the content
/// store (written and hashed as it arrives) while the applier reads the same bytes back
/// from the page cache, decompresses them, hashes them for the diffID and writes the tree:
/// a layer is applied while it downloads, later layers download in parallel meanwhile, and
/// layers are applied strictly in order.
///
/// Nothing unverified is kept: a blob enters the store only when its digest matches, and a
/// failed pull leaves the tree half-written, which is why the tree must be a scratch
/// directory the caller deletes on error (ImageService does).
enum LayerStream {
    static let logger = makeLogger("oci")

    static func pullAndApply(registry: RegistryClient, ref: ImageReference, layers: [Descriptor], diffIDs: [ContentDigest],
                             store: ContentStore, root: String, options: ResolveOptions) throws {
        let feeds = layers.map { _ in BlobFeed() }
        let control = StreamControl()
        let trace = FirebuildTracing.capture()
        let downloads = DispatchGroup()
        downloads.enter()
        Thread.detachNewThread {
            defer { downloads.leave() }
            do {
                try parallelForEach(layers.count, width: options.maxConcurrentDownloads) { i in
                    try trace.run { try fetch(i, layers, feeds[i], registry: registry, ref: ref, store: store, control: control, options: options) }
                }
            } catch {
                // Layers never started (the queue stops at the first error) must not leave the applier waiting.
                for feed in feeds { feed.finish(error) }
                return
            }
            for feed in feeds { feed.finish(control.cancelledError) }  // no-op for finished feeds
        }

        let applier = try LayerApplier(root: root)
        var failure: Error?
        for (i, layer) in layers.enumerated() {
            let what = "layer \(i + 1) (\(layer.digest))"
            let source = FollowingSource(feeds[i], what: what)
            let start = DispatchTime.now()
            do {
                try FirebuildTracing.span("oci.apply.layer", attributes: [FirebuildSpanKey.digest: layer.digest.description,
                                                                          FirebuildSpanKey.layerIndex: i,
                                                                          FirebuildSpanKey.bytes: Int(layer.size)]) { _ in
                    try applier.apply(stream: source, expectedDiffID: diffIDs[i], what: what)
                }
            } catch {
                // Corrupt data is most often a damaged download: when the blob's own digest
                // check fails too, that is the error worth reporting.
                if let e = error as? FirebuildError, e.code == .parse, let fetchError = feeds[i].waitFinished() {
                    failure = fetchError
                } else {
                    failure = error
                }
                break
            }
            logger.debug("applied layer", metadata: ["layer": "\(i + 1)/\(layers.count)", "digest": .string(layer.digest.description),
                                                     "seconds": .string(seconds(since: start)),
                                                     "waited_for_download": .string(String(format: "%.3f", source.waited))])
        }
        if failure != nil { control.cancel() }
        downloads.wait()
        if let failure { throw failure }
    }

    /// Downloads layer `i` into the store, publishing its progress to `feed`.
    private static func fetch(_ i: Int, _ layers: [Descriptor], _ feed: BlobFeed, registry: RegistryClient, ref: ImageReference,
                              store: ContentStore, control: StreamControl, options: ResolveOptions) throws {
        let d = layers[i]
        try FirebuildTracing.span("oci.pull.layer", attributes: [FirebuildSpanKey.digest: d.digest.description,
                                                                 FirebuildSpanKey.layerIndex: i,
                                                                 FirebuildSpanKey.bytes: Int(d.size)]) { span in
            let reporter = FirebuildProgress.reporter
            let report = { (done: Int64) in
                reporter.layer(id: String(d.digest.hex.prefix(12)), done: done, total: d.size)
                options.progress?(PullProgress(layer: d.digest, index: i, count: layers.count, completed: done, total: d.size))
            }
            if let cancelled = control.cancelledError { throw cancelled }
            if store.contains(d.digest) {
                span.attributes[FirebuildSpanKey.cached] = true
                try feed.start(path: store.path(for: d.digest))
                feed.advance(to: d.size)
                feed.finish(nil)
                report(d.size)
                return
            }
            span.attributes[FirebuildSpanKey.cached] = false
            let writer = try store.newWriter()
            do {
                try feed.start(path: writer.tempPath)
                let start = DispatchTime.now()
                try registry.download(ref, d, into: writer) { done in
                    if let cancelled = control.cancelledError { throw cancelled }
                    feed.advance(to: done)
                    report(done)
                }
                let downloaded = DispatchTime.now()
                try writer.commit(expected: d.digest, source: "blob \(d.digest) from \(registry.blobURL(ref, d))")
                logger.debug("downloaded layer", metadata: ["layer": "\(i + 1)/\(layers.count)", "digest": .string(d.digest.description),
                                                            "bytes": "\(d.size)", "seconds": .string(seconds(since: start)),
                                                            "verify_seconds": .string(seconds(since: downloaded))])
                feed.finish(nil)
            } catch {
                writer.abort()
                feed.finish(error)
                throw error
            }
        }
    }

    static func seconds(since start: DispatchTime) -> String {
        String(format: "%.3f", Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9)
    }
}

/// Stops downloads when the applier has failed (nobody will read them).
final class StreamControl: @unchecked Sendable {
    private let lock = NSLock()
    private var cancelled = false
    func cancel() { lock.lock(); cancelled = true; lock.unlock() }
    var cancelledError: FirebuildError? {
        lock.lock()
        defer { lock.unlock() }
        return cancelled ? FirebuildError(.conflict, "download stopped: applying an earlier layer failed") : nil
    }
}

/// One blob on its way into the store, shared by the thread writing it and the one reading it.
final class BlobFeed: @unchecked Sendable {
    private let cond = NSCondition()
    /// A descriptor of the file being written, opened before the first byte (the file is
    /// renamed into the store when verified; the descriptor follows it).
    private(set) var fd: Int32 = -1
    private var available: Int64 = 0
    private var done = false
    private var failure: Error?

    deinit { if fd >= 0 { close(fd) } }

    func start(path: String) throws {
        let f = open(path, O_RDONLY | O_CLOEXEC)
        guard f >= 0 else { throw FirebuildError.posix("open", path: path) }
        cond.lock()
        fd = f
        cond.unlock()
    }

    func advance(to bytes: Int64) {
        cond.lock()
        available = max(available, bytes)
        cond.broadcast()
        cond.unlock()
    }

    /// The end: verified and stored (nil), or failed. Only the first call counts.
    func finish(_ error: Error?) {
        cond.lock()
        if !done {
            done = true
            failure = error
            cond.broadcast()
        }
        cond.unlock()
    }

    /// Blocks until there are bytes past `offset`, or the blob is complete or failed.
    func wait(beyond offset: Int64) -> (fd: Int32, available: Int64, done: Bool, failure: Error?) {
        cond.lock()
        defer { cond.unlock() }
        while available <= offset && !done { cond.wait() }
        return (fd, available, done, failure)
    }

    /// Blocks until the download has ended; its error, if any.
    func waitFinished() -> Error? {
        cond.lock()
        defer { cond.unlock() }
        while !done { cond.wait() }
        return failure
    }
}

/// Reads a blob file while it is still being written: each read returns what has arrived,
/// waits when it has caught up, and ends when the download is complete and verified (a
/// failed download's error is thrown instead, so a layer never applies cleanly from a blob
/// that did not check out).
final class FollowingSource: ByteSource {
    private let feed: BlobFeed
    private let what: String
    private var offset: Int64 = 0
    /// Seconds spent waiting for the download (how far the applier was ahead of the network).
    private(set) var waited: Double = 0

    init(_ feed: BlobFeed, what: String) {
        self.feed = feed
        self.what = what
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard buffer.count > 0 else { return 0 }
        let before = DispatchTime.now().uptimeNanoseconds
        let state = feed.wait(beyond: offset)
        waited += Double(DispatchTime.now().uptimeNanoseconds - before) / 1e9
        if let failure = state.failure { throw failure }
        if state.available <= offset { return 0 }   // complete and verified
        guard state.fd >= 0 else { throw FirebuildError(.internal, "\(what): download has bytes but no file") }
        let want = Int(min(Int64(buffer.count), state.available - offset))
        while true {
            let n = pread(state.fd, buffer.baseAddress, want, off_t(offset))
            if n > 0 {
                offset += Int64(n)
                return n
            }
            if n < 0 && errno == EINTR { continue }
            throw n < 0 ? FirebuildError.posix("read", path: what) : FirebuildError(.io, "\(what): the downloaded file is shorter than what was written")
        }
    }
}
