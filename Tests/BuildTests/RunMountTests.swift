@testable import Build
import Dockerfile
import FirebuildCore
import Foundation
import Testing

/// RUN --mount planning: what each mount type adds to the step's cache key, option parsing, refusals.
@Suite struct RunMountPlanTests {
    /// The steps (with keys) of the last stage of `dockerfile` over the context `ctx`.
    static func steps(_ dockerfile: String, ctx: TempTree,
                      from: @escaping (String, [String]) throws -> (tree: SourceTree, identity: String) = { from, _ in
                          throw FirebuildError(.notFound, "no --from \(from) in unit tests")
                      }) throws -> [StageStep] {
        let parsed = try Dockerfile.parse(text: dockerfile, fileName: "Dockerfile")
        let plan = try BuildPlan.make(from: parsed)
        let scratch = ctx.root + "/.scratch"
        var planner = StageStepPlanner(context: try BuildContext.directory(ctx.root), scratch: scratch, fromTree: from)
        planner.fileName = "Dockerfile"
        guard let stage = plan.stages.last else { throw FirebuildError(.internal, "no stage") }
        return try planner.steps(stage, pre: [], post: [], startKey: "base:test")
    }

    static func runKey(_ dockerfile: String, _ files: [String: String]) throws -> String {
        let ctx = try TempTree(files)
        return try steps(dockerfile, ctx: ctx).last?.key ?? ""
    }

    @Test func cacheFromSeedsFromADirectoryOfTheSourceAndIsPartOfTheKey() throws {
        let ctx = try TempTree([:])
        let other = try TempTree(["deps/x.txt": "x", "file.txt": "f"])
        func steps(_ source: String, identity: String) throws -> [StageStep] {
            try Self.steps("FROM scratch\nRUN --mount=type=cache,target=/c,from=deps,source=\(source) ls /c\n", ctx: ctx) { _, _ in
                (SourceTree(root: other.root, preserveOwnership: true, label: "--from=deps"), identity)
            }
        }
        let a = try steps("/deps", identity: "stage:one")
        #expect(a.last?.mounts == [.cache(target: "/c", id: "/c", sharing: .shared, readOnly: false, mode: nil, uid: nil, gid: nil,
                                          seed: other.root + "/deps")])
        #expect(try steps("/deps", identity: "stage:two").last?.key != a.last?.key, "another seed source re-runs the step")
        #expect(try steps("/", identity: "stage:one").last?.key != a.last?.key)
        #expect(throws: FirebuildError.self) { try steps("/file.txt", identity: "stage:one") }
        #expect(throws: FirebuildError.self) { try steps("/missing", identity: "stage:one") }
    }

    @Test func bindContentIsPartOfTheKey() throws {
        let df = "FROM scratch\nRUN --mount=type=bind,source=conf,target=/conf cat /conf/a.txt\n"
        let a = try Self.runKey(df, ["conf/a.txt": "one"])
        let b = try Self.runKey(df, ["conf/a.txt": "two"])
        let c = try Self.runKey(df, ["conf/a.txt": "one", "other.txt": "not bound"])
        #expect(a != b, "a changed bound file must re-run the step")
        #expect(a == c, "files outside the bound source do not matter")
        let plain = try Self.runKey("FROM scratch\nRUN cat /conf/a.txt\n", ["conf/a.txt": "one"])
        #expect(plain != a)
    }

    @Test func cacheTmpfsAndSecretContentsAreNotPartOfTheKey() throws {
        let df = """
        FROM scratch
        RUN --mount=type=cache,target=/root/.cache --mount=type=secret,id=tok --mount=type=tmpfs,target=/scratch,size=1m make
        """
        let ctx = try TempTree(["x": "1"])
        let steps = try Self.steps(df, ctx: ctx)
        let key1 = steps.last?.key
        // The planner never sees secret values or cache contents: same Dockerfile, same key,
        // whatever the secrets or caches hold at build time.
        #expect(try Self.steps(df, ctx: ctx).last?.key == key1)
        let mounts = try #require(steps.last?.mounts)
        #expect(mounts.count == 3)
        #expect(mounts.contains(.cache(target: "/root/.cache", id: "/root/.cache", sharing: .shared, readOnly: false, mode: nil, uid: nil, gid: nil)))
        #expect(mounts.contains(.secret(id: "tok", target: "/run/secrets/tok", env: nil, required: false, mode: 0o400, uid: 0, gid: 0)))
        #expect(mounts.contains(.tmpfs(target: "/scratch", size: 1 << 20)))
        // The declaration is part of the key (as in BuildKit's ExecOp digest): another cache id re-runs.
        let other = try Self.steps(df.replacingOccurrences(of: "target=/root/.cache", with: "target=/root/.cache,id=x"), ctx: ctx)
        #expect(other.last?.key != key1)
    }

    @Test func bindDefaultsAndRelativeTargets() throws {
        let ctx = try TempTree(["go.mod": "module x", "src/main.go": "package main"])
        let steps = try Self.steps("FROM scratch\nWORKDIR /w\nRUN --mount=type=bind,source=go.mod,target=go.mod --mount=target=/src,rw true\n", ctx: ctx)
        let mounts = try #require(steps.last?.mounts)
        guard case let .bind(t1, staging1, source1, ops1, ro1) = mounts[0], case let .bind(t2, _, source2, ops2, ro2) = mounts[1] else {
            Issue.record("expected two bind mounts: \(mounts)"); return
        }
        #expect(t1 == "/w/go.mod" && ro1 && source1 == staging1 + "/go.mod")
        #expect(ops1.contains { if case .file(let p, _, _, _) = $0 { return p == staging1 + "/go.mod" } else { return false } })
        #expect(t2 == "/src" && !ro2 && source2.hasSuffix("/m1"), "source defaults to the context root")
        #expect(ops2.contains { if case .file(let p, _, _, _) = $0 { return p.hasSuffix("/m1/src/main.go") } else { return false } })
    }

    @Test func sshAndMissingBindSourceAreClearErrors() throws {
        let ctx = try TempTree(["a": "1"])
        do {
            _ = try Self.steps("FROM scratch\nRUN echo\nRUN --mount=type=ssh git clone git@host:x\n", ctx: ctx)
            Issue.record("type=ssh must be refused")
        } catch let e as FirebuildError {
            #expect(e.code == .unsupported && e.location == "Dockerfile:3" && e.message.contains("--secret"), "\(e)")
        }
        do {
            _ = try Self.steps("FROM scratch\nRUN --mount=type=bind,source=nope,target=/n true\n", ctx: ctx)
            Issue.record("a missing bind source must fail")
        } catch let e as FirebuildError {
            #expect(e.code == .notFound && e.location == "Dockerfile:2" && e.message.contains("nope"), "\(e)")
        }
    }

    @Test func secretTargetsAndEnv() throws {
        let ctx = try TempTree(["a": "1"])
        let df = "FROM scratch\nRUN --mount=type=secret,id=a,env=A_TOKEN --mount=type=secret,id=b,env=B,target=/b,mode=0440,uid=7 --mount=type=secret,target=/etc/c.key,required true\n"
        let mounts = try #require(try Self.steps(df, ctx: ctx).last?.mounts)
        #expect(mounts == [
            .secret(id: "a", target: nil, env: "A_TOKEN", required: false, mode: 0o400, uid: 0, gid: 0),
            .secret(id: "b", target: "/b", env: "B", required: false, mode: 0o440, uid: 7, gid: 0),
            .secret(id: "c.key", target: "/etc/c.key", env: nil, required: true, mode: 0o400, uid: 0, gid: 0),
        ])
    }

    @Test(arguments: [
        ("id=npm,src=/home/me/.npmrc", "npm", BuildSecretSource.file("/home/me/.npmrc")),
        ("id=npm,source=rel/npmrc", "npm", .file("rel/npmrc")),
        ("id=TOKEN,env=GH_TOKEN", "TOKEN", .env("GH_TOKEN")),
        ("id=TOKEN", "TOKEN", .env("TOKEN")),
        ("type=file,id=k", "k", .file("k")),
        ("type=env,id=k,src=VAR", "k", .env("VAR")),
    ])
    func secretFlagParsing(spec: String, id: String, source: BuildSecretSource) throws {
        let parsed = try BuildSecretSource.parse(spec)
        #expect(parsed.id == id && parsed.source == source)
    }

    @Test(arguments: ["src=/x", "id=a,src=/x,env=B", "id=a,bogus=1", "id=a,type=socket,src=/x", "id", ""])
    func badSecretFlags(spec: String) {
        #expect(throws: FirebuildError.self) { try BuildSecretSource.parse(spec) }
    }

    @Test func secretValues() throws {
        let ctx = try TempTree(["s": "hunter2"])
        #expect(try BuildSecretSource.file(ctx.root + "/s").value(id: "s") == Array("hunter2".utf8))
        #expect(throws: FirebuildError.self) { try BuildSecretSource.file(ctx.root + "/missing").value(id: "m") }
        #expect(try BuildSecretSource.env("FIREBUILD_TEST_SURELY_UNSET_\(UInt32.random(in: 0...UInt32.max))").value(id: "x") == nil)
    }
}

@Suite struct CacheMountStoreTests {
    @Test func uuidIsStableAndDistinctPerSlot() {
        let a = CacheMountStore.uuid(name: CacheMountStore.name(id: "/root/.cache", slot: 0))
        #expect(a == CacheMountStore.uuid(name: CacheMountStore.name(id: "/root/.cache", slot: 0)))
        #expect(a != CacheMountStore.uuid(name: CacheMountStore.name(id: "/root/.cache", slot: 1)))
        #expect(a.count == 36 && a.split(separator: "-").map(\.count) == [8, 4, 4, 4, 12])
    }

    @Test(.enabled(if: Command.which("mkfs.ext4") != nil && Command.which("debugfs") != nil, "needs e2fsprogs"))
    func aNewCacheStartsWithItsSeedAndAnExistingOneKeepsItsFiles() throws {
        let root = "/tmp/fbcachemounts-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let seed = try TempTree(["pkgs/a.txt": "alpha", "pkgs/sub/b.txt": "beta"])
        let store = CacheMountStore(root: root)
        let first = try store.attach([.init(id: "deps", sharing: .shared, seed: seed.root + "/pkgs")])
        let image = first.attached[0].path
        first.release()
        #expect(try Command("debugfs", ["-R", "cat /cache/sub/b.txt", image]).check().stdoutString == "beta")
        // Seeds only apply to new images: another seed later does not replace what the cache holds.
        let other = try TempTree(["c.txt": "gamma"])
        let again = try store.attach([.init(id: "deps", sharing: .shared, seed: other.root)])
        again.release()
        #expect(try Command("debugfs", ["-R", "cat /cache/a.txt", image]).check().stdoutString == "alpha")
        #expect(!(try Command("debugfs", ["-R", "ls /cache", image]).check().stdoutString.contains("c.txt")))
    }

    @Test(.enabled(if: Command.which("mkfs.ext4") != nil, "needs mkfs.ext4"))
    func attachLocksPrivateTakesAnAlternateAndPruneSkipsHeldImages() throws {
        let root = "/tmp/fbcachemounts-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = CacheMountStore(root: root)
        let first = try store.attach([.init(id: "go", sharing: .locked)])
        #expect(first.disks.count == 1 && FileManager.default.fileExists(atPath: first.attached[0].path))
        // A second user of a held image: private gets another image; locked would wait (timeout here).
        let second = try store.attach([.init(id: "go", sharing: .private)])
        #expect(second.attached[0].path != first.attached[0].path && second.uuid(for: "go") != first.uuid(for: "go"))
        #expect(throws: FirebuildError.self) { try store.attach([.init(id: "go", sharing: .locked)], waitTimeout: 0.2) }
        second.release()
        #expect(store.list().map(\.id) == ["go", "go"])
        // Held images survive a prune; released ones go.
        #expect(try store.prune() > 0)
        #expect(store.list().map(\.path) == [first.attached[0].path])
        first.release()
        _ = try store.prune()
        #expect(store.list().isEmpty)
        let blkid = try Command("dumpe2fs", ["-h", try store.attach([.init(id: "go", sharing: .shared)]).attached[0].path]).run().stdoutString
        #expect(blkid.contains(CacheMountStore.uuid(name: CacheMountStore.name(id: "go", slot: 0))))
    }
}
