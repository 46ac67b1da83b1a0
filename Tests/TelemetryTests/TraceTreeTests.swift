import Build
import FirebuildCore
import Foundation
import Store
import Testing
import Tracing
import VM
@testable import Telemetry

/// Spans received by the in-test collector, as the indented tree an operator sees in Jaeger.
struct SpanTree {
    let spans: [OTLPReceiver.Span]

    /// An exporter may deliver a span twice (a retried batch); one copy per span id.
    init(spans: [OTLPReceiver.Span]) {
        var seen = Set<String>()
        self.spans = spans.filter { seen.insert($0.spanID).inserted }
    }

    func children(of id: String) -> [OTLPReceiver.Span] {
        spans.filter { $0.parentSpanID == id }.sorted { $0.startNanos < $1.startNanos }
    }

    var roots: [OTLPReceiver.Span] {
        let ids = Set(spans.map(\.spanID))
        return spans.filter { $0.parentSpanID.isEmpty || !ids.contains($0.parentSpanID) }.sorted { $0.startNanos < $1.startNanos }
    }

    func first(_ name: String) -> OTLPReceiver.Span? { spans.first { $0.name == name } }
    func all(_ name: String) -> [OTLPReceiver.Span] { spans.filter { $0.name == name } }

    /// Whether `name` sits (at any depth) below `ancestor`.
    func isBelow(_ span: OTLPReceiver.Span, _ ancestor: OTLPReceiver.Span) -> Bool {
        var current = span
        while let parent = spans.first(where: { $0.spanID == current.parentSpanID }) {
            if parent.spanID == ancestor.spanID { return true }
            current = parent
        }
        return false
    }

    /// `name  [key=value …]  12.3 ms`, two spaces per level.
    func render() -> String {
        var out = ""
        func walk(_ s: OTLPReceiver.Span, _ depth: Int) {
            let ms = Double(s.endNanos &- s.startNanos) / 1e6
            let shown = [FirebuildSpanKey.stage, FirebuildSpanKey.stepLine, FirebuildSpanKey.step, FirebuildSpanKey.cached,
                         FirebuildSpanKey.layerIndex, FirebuildSpanKey.tag, FirebuildSpanKey.bytes, FirebuildSpanKey.vmID]
                .compactMap { k in s.attributes[k].map { "\(k.replacingOccurrences(of: "firebuild.", with: ""))=\($0)" } }
            let status = s.statusCode == 2 ? " ERROR" : ""
            out += String(repeating: "  ", count: depth) + s.name
                + (shown.isEmpty ? "" : "  [" + shown.joined(separator: " ") + "]")
                + String(format: "  %.1f ms", ms) + status + "\n"
            for c in children(of: s.spanID) { walk(c, depth + 1) }
        }
        roots.forEach { walk($0, 0) }
        return out
    }
}

/// Real operations traced through the real exporter to the in-test OTLP/HTTP receiver.
@Suite(.serialized) struct TraceTreeTests {
    /// Runs `body` on its own thread inside a root span with the exporting tracer, flushes, and
    /// returns what the collector received. Blocking work stays off the cooperative pool the
    /// exporter runs on.
    func traced(_ root: String, _ body: @escaping @Sendable () throws -> Void) async throws -> SpanTree {
        let (tree, failure) = try await tracedResult(root, body)
        if let failure { throw failure }
        return tree
    }

    func tracedResult(_ root: String, _ body: @escaping @Sendable () throws -> Void) async throws -> (SpanTree, Error?) {
        let receiver = try OTLPReceiver()
        defer { receiver.stop() }
        let backend = try TelemetryBackend(options: TracingOptions(enabled: true, collectorHostPort: "127.0.0.1:\(receiver.port)"))
        let failure: Error? = await withCheckedContinuation { c in
            Thread.detachNewThread {
                do {
                    try withTracer(backend.tracer) {
                        try FirebuildTracing.span(root, attributes: [FirebuildSpanKey.command: root]) { _ in try body() }
                    }
                    c.resume(returning: nil)
                } catch { c.resume(returning: error) }
            }
        }
        let flushed = await withCheckedContinuation { c in
            DispatchQueue.global().async { c.resume(returning: backend.shutdown(timeout: 15)) }
        }
        #expect(flushed)
        return (SpanTree(spans: receiver.spans), failure)
    }

    @Test func importTarballTreeIsImportApplyMkfsCommit() async throws {
        for tool in ["mkfs.ext4", "tar"] where Command.which(tool) == nil {
            print("skipping: needs \(tool)")
            return
        }
        let home = "/tmp/fbtt-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: home) }
        try FileManager.default.createDirectory(atPath: home + "/tree/etc", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: home + "/tree/bin", withIntermediateDirectories: true)
        try AtomicFile.write("root:x:0:0:root:/root:/bin/sh\n", to: home + "/tree/etc/passwd")
        try AtomicFile.write(String(repeating: "x", count: 100_000), to: home + "/tree/bin/blob")
        try Command("tar", ["-cf", home + "/rootfs.tar", "-C", home + "/tree", "."]).check()
        let service = try ImageService(storage: StorageConfig(paths: FirebuildPaths(home: home + "/fb")))

        let tree = try await traced("firebuild image import") {
            _ = try service.importImage(home + "/rootfs.tar", tag: try ImageTag(parsing: "test/traced:1"))
        }
        print("trace tree (image import):\n" + tree.render())

        let root = try #require(tree.first("firebuild image import"))
        let importSpan = try #require(tree.first("image.import"))
        #expect(importSpan.parentSpanID == root.spanID)
        #expect(importSpan.attributes[FirebuildSpanKey.tag] == "test/traced:1")
        for name in ["oci.resolve", "rootfs.mkfs", "store.commit"] {
            let s = try #require(tree.first(name), "no \(name) span")
            #expect(s.parentSpanID == importSpan.spanID, "\(name) should be a child of image.import")
            #expect(s.endNanos >= s.startNanos && s.startNanos >= importSpan.startNanos)
            #expect(s.traceID == root.traceID)
        }
        // In order: resolve (layers are applied while they stream in, so their spans are its
        // children), mkfs, commit.
        #expect(tree.children(of: importSpan.spanID).map(\.name) == ["oci.resolve", "rootfs.mkfs", "store.commit"])
        let resolve = try #require(tree.first("oci.resolve"))
        let apply = try #require(tree.first("oci.apply.layer"))
        #expect(apply.parentSpanID == resolve.spanID, "oci.apply.layer should be a child of oci.resolve")
        #expect(apply.traceID == root.traceID && apply.startNanos >= resolve.startNanos)
        #expect(tree.first("oci.apply.layer")?.attributes[FirebuildSpanKey.layerIndex] == "0")
        #expect(Int(tree.first("rootfs.mkfs")?.attributes[FirebuildSpanKey.bytes] ?? "") ?? 0 > 0)
        #expect(tree.spans.allSatisfy { $0.statusCode != 2 })
    }

    @Test func failedImportIsASpanError() async throws {
        let home = "/tmp/fbtt-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: home) }
        let service = try ImageService(storage: StorageConfig(paths: FirebuildPaths(home: home)))
        let (tree, failure) = try await tracedResult("firebuild image import") {
            _ = try service.importImage(home + "/missing.tar", tag: try ImageTag(parsing: "test/missing:1"))
        }
        #expect((failure as? FirebuildError)?.code == .notFound)
        let importSpan = try #require(tree.first("image.import"))
        #expect(importSpan.statusCode == 2)
        #expect(importSpan.statusMessage.contains("missing.tar"))
        #expect(importSpan.events.contains("exception"))
        #expect(importSpan.attributes[FirebuildSpanKey.errorCode] == "notFound")
        #expect(tree.first("firebuild image import")?.statusCode == 2)
    }

    static var vmAvailable: Bool {
        let boot = (try? FileManager.default.contentsOfDirectory(atPath: "/boot")) ?? []
        return boot.contains { $0.hasPrefix("vmlinuz-") && $0.hasSuffix("-cloud-amd64") } && staticInit != nil
            && FileManager.default.fileExists(atPath: "/bin/busybox")
            && ["qemu-system-x86_64", "qemu-img", "mkfs.ext4"].allSatisfy { Command.which($0) != nil }
    }

    static var staticInit: String? {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let p = root + "/.build-static/firebuild-init-static"
        return FileManager.default.isExecutableFile(atPath: p) ? p : nil
    }

    @Test(.enabled(if: TraceTreeTests.vmAvailable, "needs qemu, the Debian cloud kernel, busybox-static and the static init (make init)"),
          .timeLimit(.minutes(15)))
    func realBuildTreeHasStagesStepsAndVMBoot() async throws {
        let home = "/tmp/fbtb-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: home) }
        setenv("FIREBUILD_INIT", Self.staticInit ?? "", 1)
        let paths = FirebuildPaths(home: home)
        let kernels = KernelStore(root: paths.kernelStorageRoot)
        let kernel = ((try? FileManager.default.contentsOfDirectory(atPath: "/boot")) ?? [])
            .filter { $0.hasPrefix("vmlinuz-") && $0.hasSuffix("-cloud-amd64") }.sorted().last.map { "/boot/" + $0 } ?? ""
        try KernelImporter(store: kernels).import(id: "cloud", path: kernel)
        _ = try InitrdBuilder.buildAndStore(kernelID: "cloud", store: kernels)
        let provider = StoreImageProvider(storage: StorageConfig(paths: paths))
        // A busybox base, imported locally (no registry).
        let tree = home + "/base"
        for d in ["bin", "etc", "proc", "sys", "dev", "tmp", "root"] {
            try FileManager.default.createDirectory(atPath: tree + "/" + d, withIntermediateDirectories: true)
        }
        try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: tree + "/bin/busybox")
        for a in ["sh", "echo", "cat", "mkdir", "ls"] { try FileManager.default.createSymbolicLink(atPath: tree + "/bin/" + a, withDestinationPath: "busybox") }
        try AtomicFile.write("root:x:0:0:root:/root:/bin/sh\n", to: tree + "/etc/passwd")
        try AtomicFile.write("root:x:0:\n", to: tree + "/etc/group")
        try Command("mkfs.ext4", ["-q", "-F", "-T", "default", "-d", tree, home + "/base.ext4", "32M"]).check()
        try provider.commit(rootfs: home + "/base.ext4", config: ImageConfig(env: ["PATH=/bin"]), tag: "busybox:1", parent: nil,
                            dockerfile: "test fixture")

        let dockerfile = """
            FROM busybox:1
            RUN mkdir -p /out && echo traced > /out/a.txt
            RUN cat /out/a.txt
            CMD ["/bin/sh"]
            """
        let engine = BuildEngine(images: provider, paths: paths)
        let request = BuildRequest(dockerfile: dockerfile, tag: "test/traced-build:1", timeout: 600,
                                   machine: BuildMachine(kernelStoreRoot: paths.kernelStorageRoot, memMiB: 256), output: { _ in })
        let cold = try await traced("firebuild build") { _ = try engine.build(request) }
        print("trace tree (cold build):\n" + cold.render())

        let root = try #require(cold.first("firebuild build"))
        let build = try #require(cold.first("build"))
        #expect(build.parentSpanID == root.spanID)
        #expect(build.attributes["firebuild.build.vm_boots"] == "1")
        let stage = try #require(cold.first("build.stage"))
        #expect(stage.parentSpanID == build.spanID)
        let steps = cold.all("build.step").sorted { $0.startNanos < $1.startNanos }
        #expect(steps.count == 2)
        #expect(steps.allSatisfy { $0.parentSpanID == stage.spanID && $0.attributes[FirebuildSpanKey.cached] == "false" })
        #expect(steps.map { $0.attributes[FirebuildSpanKey.stepLine] } == ["2", "3"])
        #expect(steps.first?.attributes[FirebuildSpanKey.step]?.contains("mkdir -p /out") == true)
        let boot = try #require(cold.first("vm.boot"))
        #expect(cold.isBelow(boot, stage))
        let ready = try #require(cold.first("vm.guest.ready"))
        #expect(cold.isBelow(ready, stage) && ready.startNanos >= boot.endNanos)
        #expect(cold.all("vm.exec").count == 2 && cold.all("vm.exec").allSatisfy { e in steps.contains { $0.spanID == e.parentSpanID } })
        #expect(cold.first("vm.shutdown").map { cold.isBelow($0, steps[1]) } == true)
        #expect(cold.first("store.commit").map { cold.isBelow($0, build) } == true)
        #expect(cold.spans.allSatisfy { $0.statusCode != 2 })

        // The same build again: both steps cached, no VM.
        let warm = try await traced("firebuild build") { _ = try engine.build(request) }
        print("trace tree (cached build):\n" + warm.render())
        #expect(warm.all("build.step").count == 2 && warm.all("build.step").allSatisfy { $0.attributes[FirebuildSpanKey.cached] == "true" })
        #expect(warm.first("vm.boot") == nil)
    }
}
