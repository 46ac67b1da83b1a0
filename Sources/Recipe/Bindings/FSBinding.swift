import FirebuildCore
import Foundation
import LuaRuntime

/// `firebuild.fs.read(path)`, `firebuild.fs.exists(path)`, `firebuild.fs.glob(pattern)`.
/// Relative paths are relative to the recipe's directory, not the working directory, so a
/// recipe behaves the same wherever it is run from.
public enum FSBinding: RecipeBinding {
    public static func register(into firebuild: LuaModule, vm: LuaVM, context: RecipeContext) throws {
        let fs = firebuild.table("fs")

        fs.function("read") { args in
            let path = try args.string(1)
            let full = context.resolve(path)
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: full, isDirectory: &isDir) else {
                throw FirebuildError(.notFound, "fs.read: \(path) not found (looked at \(full))")
            }
            guard !isDir.boolValue else { throw FirebuildError(.invalidArgument, "fs.read: \(path) is a directory") }
            guard let data = FileManager.default.contents(atPath: full) else {
                throw FirebuildError(.permission, "fs.read: cannot read \(full): permission denied or I/O error")
            }
            return [.bytes([UInt8](data))]
        }

        fs.function("exists") { args in
            [.boolean(FileManager.default.fileExists(atPath: context.resolve(try args.string(1))))]
        }

        fs.function("glob") { args in
            let pattern = try args.string(1)
            let matches = try Glob.expand(pattern, relativeTo: context.recipeDir)
            return [.table(LuaTable(array: matches.map { .string($0) }))]
        }
    }
}
