import FirebuildCore
import Foundation

// WIRING POINT for the lead: `RecipeEngines.live` must forward to the real engines once they are
// merged: Store `ImageStore`/`ImageService` (wt-store), Build `BuildEngine` (wt-build), Runtime
// `RunEngine` (integ), RootFS `Ext4Editor`/`Ext4Inspector` (wt-store). Until then every call
// reports which branch is missing; option checks, dry runs and hooks work without them.

extension RecipeEngines {
    public static var live: RecipeEngines {
        let missing = MissingEngines()
        return RecipeEngines(images: missing, builder: missing, runner: missing) { _ in
            throw MissingEngines.error("editing a root filesystem", needs: "RootFS Ext4Editor (wt-store)")
        }
    }
}

/// Reports, for each call, the engine this build of firebuild lacks.
final class MissingEngines: RecipeImageService, RecipeBuilder, RecipeRunner {
    static func error(_ what: String, needs: String) -> FirebuildError {
        FirebuildError(.unsupported, "\(what) is not available in this build of firebuild: it needs \(needs); use --dry-run to check the recipe")
    }
    let store = "the image store (Store ImageStore, wt-store)"
    let runtime = "the run engine (Runtime RunEngine, integ)"

    func find(_ tag: String, settings: RecipeSettings) throws -> RecipeImage? { throw Self.error("looking up image \(tag)", needs: store) }
    func list(settings: RecipeSettings) throws -> [RecipeImage] { throw Self.error("listing images", needs: store) }
    func pull(reference: String, tag: String?, settings: RecipeSettings) throws -> RecipeImage { throw Self.error("pulling \(reference)", needs: store) }
    func importArchive(file: String, tag: String?, settings: RecipeSettings) throws -> RecipeImage { throw Self.error("importing \(file)", needs: store) }
    func tag(_ source: String, as destination: String, settings: RecipeSettings) throws -> RecipeImage { throw Self.error("tagging", needs: store) }
    func remove(_ tag: String, settings: RecipeSettings) throws { throw Self.error("removing \(tag)", needs: store) }
    func commit(tree: String, tag: String, config: ImageConfig, sizeMiB: Int?, settings: RecipeSettings) throws -> RecipeImage {
        throw Self.error("storing \(tag)", needs: store)
    }
    func recommit(_ image: RecipeImage, rootfs: String, config: ImageConfig, settings: RecipeSettings) throws -> RecipeImage {
        throw Self.error("storing \(image.tag)", needs: store)
    }
    func checkout(_ image: RecipeImage, to path: String, settings: RecipeSettings) throws { throw Self.error("copying \(image.tag)", needs: store) }
    func build(_ request: RecipeBuildRequest, observer: BuildObserver?, settings: RecipeSettings) throws -> RecipeImage {
        throw Self.error("building \(request.tag)", needs: "the build engine (Build BuildEngine, wt-build)")
    }
    func start(_ request: RecipeRunRequest, settings: RecipeSettings) throws -> RecipeVMInfo { throw Self.error("running \(request.from)", needs: runtime) }
    func exec(id: String, argv: [String], timeout: TimeInterval?, settings: RecipeSettings) throws -> RecipeExecResult { throw Self.error("exec", needs: runtime) }
    func logs(id: String, settings: RecipeSettings) throws -> String { throw Self.error("logs", needs: runtime) }
    func wait(id: String, timeout: TimeInterval, settings: RecipeSettings) throws -> Int? { throw Self.error("wait", needs: runtime) }
    func stop(id: String, timeout: TimeInterval, settings: RecipeSettings) throws { throw Self.error("stopping \(id)", needs: runtime) }
    func inspect(id: String, settings: RecipeSettings) throws -> Data { throw Self.error("inspect", needs: runtime) }
    func list(settings: RecipeSettings) throws -> [RecipeVMInfo] { throw Self.error("listing VMs", needs: runtime) }
    func purge(settings: RecipeSettings) throws -> [String] { throw Self.error("purge", needs: runtime) }
}
