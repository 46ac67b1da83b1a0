import Foundation
import Testing
import FirebuildCore
import LuaRuntime
@testable import Recipe

enum RecipeFiles {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let all = ["recipes/quickstart.lua", "recipes/examples/consul.lua", "recipes/examples/postgres.lua",
                      "recipes/examples/jaeger.lua", "recipes/examples/kafka-proxy.lua"]

    static func dryRun(_ relative: String) -> ScriptResult {
        let path = root + "/" + relative
        let context = RecipeContext(recipePath: path, dryRun: true, environment: ["FIREBUILD_HOME": "/tmp/fb-dry-\(getpid())"],
                                    logger: CapturedLogs().logger)
        return ScriptRunner.run(path: path, options: ScriptOptions(dryRun: true), context: context)
    }
}

/// Every shipped recipe parses and dry-runs (CI has no internet: the examples only dry-run).
@Suite struct RecipeFilesTests {
    @Test(arguments: RecipeFiles.all)
    func dryRuns(recipe: String) {
        let result = RecipeFiles.dryRun(recipe)
        #expect(result.exitCode == 0, "\(result.errorOutput)")
        #expect(result.output.contains(" would:\n"))
        #expect(!FileManager.default.fileExists(atPath: "/tmp/fb-dry-\(getpid())"), "a dry run writes nothing")
    }

    @Test func quickstartPlanListsEveryStep() {
        let out = RecipeFiles.dryRun("recipes/quickstart.lua").output
        for fragment in ["import kernel \"quickstart-cloud\"", "as _/busybox:quickstart-base", "rootfs _/quickstart:1 from Dockerfile",
                         "create network namespace fbdemo-host", "CNI network \"quickstart\" (192.168.127.0/24", "run _/quickstart:1 as quickstart",
                         "wait for port 80", "GET http://", "stop VM quickstart", "delete network namespace fbdemo-host"] {
            #expect(out.contains(fragment), "missing \(fragment) in:\n\(out)")
        }
    }

    @Test func examplesPlanTheOriginalsSteps() {
        let consul = RecipeFiles.dryRun("recipes/examples/consul.lua").output
        #expect(consul.contains("baseos _/alpine:3.12 from inline Dockerfile"))
        #expect(consul.contains("rootfs combust-labs/consul:1.9.4 from Dockerfile git+https://github.com/hashicorp/docker-consul.git:/0.X/Dockerfile"))
        #expect(consul.contains("network machine-builds") == false)
        #expect(consul.contains("CNI network \"machine-builds\" (192.168.128.0/24"))
        let jaeger = RecipeFiles.dryRun("recipes/examples/jaeger.lua").output
        #expect(jaeger.contains("from image jaegertracing/all-in-one:1.22 on alpine:3.13"))
        let kafka = RecipeFiles.dryRun("recipes/examples/kafka-proxy.lua").output
        #expect(kafka.contains("(with hooks)") && kafka.contains("foreground"))
    }
}
