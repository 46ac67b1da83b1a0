import FirebuildCore
import LuaRuntime

/// `firebuild.version`, `firebuild.api(n)`, `firebuild.env(name)`, `firebuild.dry_run`.
public enum CoreBinding: RecipeBinding {
    /// The recipe API version this firebuild implements. A recipe states the one it was written
    /// for with `firebuild.api(1)`, so semantics can change later without breaking it silently.
    public static let apiVersion: Int64 = 1

    public static func register(into firebuild: LuaModule, vm: LuaVM, context: RecipeContext) throws {
        firebuild.value("version", .string(FirebuildVersion.current))
        firebuild.value("dry_run", .boolean(context.dryRun))

        firebuild.function("api") { args in
            let wanted = try args.integer(1)
            guard wanted == apiVersion else {
                throw FirebuildError(.unsupported,
                                     "this recipe needs firebuild recipe API \(wanted), but firebuild \(FirebuildVersion.current) provides API \(apiVersion); "
                                     + "use a firebuild that supports API \(wanted) or write the recipe for API \(apiVersion)")
            }
            return [.integer(apiVersion)]
        }

        let environment = context.environment
        firebuild.function("env") { args in
            let name = try args.string(1)
            guard let value = environment[name] else { return [args.isNil(2) ? .nil : try args.value(2)] }
            return [.string(value)]
        }
    }
}
