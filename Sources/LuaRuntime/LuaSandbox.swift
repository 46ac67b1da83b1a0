/// What recipes may use. Applied by `LuaVM.init` after the standard library is opened.
///
/// Default (sandboxed): string, table, math, utf8, coroutine, the base library (print, pcall,
/// error, select, type, tostring, setmetatable, …), `require` of pure-Lua modules, and `os`
/// reduced to time, clock, date, difftime and getenv. Refused, with a message naming the
/// calling line and the `--unsafe` flag: the `io` and `debug` libraries, every other `os`
/// function (execute, remove, rename, exit, tmpname, setlocale), `loadfile`, `dofile`,
/// `package.loadlib`, C modules and precompiled (binary) chunks; `load` only takes text.
///
/// With `--unsafe` the full standard library is left as Lua ships it.
///
/// Module search (`require "name"`): first the built-in modules (`LuaVM.register(module:)`,
/// e.g. `firebuild`), then `dir/name.lua` and `dir/name/init.lua` for each directory of
/// `LuaOptions.searchPaths`, in order (dots in `name` become `/`). The recipe runner passes:
/// the recipe's directory, `./lua`, then the project's `lua/` folder. Modules are loaded in text
/// mode with chunk name `@file`, so their errors name `file:line:` too.
enum LuaSandbox {
    static func apply(to vm: LuaVM) throws {
        try vm.run(source, chunkName: "=firebuild.sandbox",
                   args: [.boolean(vm.options.unsafe), .string(try vm.options.packagePath())])
    }

    static let source = #"""
    local unsafe, path = ...
    if unsafe then
      if path ~= "" then package.path = path .. ";" .. package.path end
      return
    end
    package.path = path
    package.cpath = ""

    local function disabled(what)
      local msg = what .. " is disabled in recipes; run with --unsafe to allow it"
      return function() error(msg, 2) end
    end
    local function disabledLibrary(name)
      local msg = name .. " is disabled in recipes; run with --unsafe to allow it"
      local function refuse() error(msg, 2) end
      return setmetatable({}, { __index = refuse, __newindex = refuse, __metatable = false })
    end

    io = disabledLibrary("io")
    debug = disabledLibrary("debug")
    package.loaded.io = io
    package.loaded.debug = debug

    local allowedOs = { time = true, clock = true, date = true, difftime = true, getenv = true }
    for name in pairs(os) do
      if not allowedOs[name] then os[name] = disabled("os." .. name) end
    end

    local rawload, rawloadfile, searchpath = load, loadfile, package.searchpath
    local format = string.format
    loadfile = disabled("loadfile")
    dofile = disabled("dofile")
    package.loadlib = disabled("package.loadlib")
    load = function(chunk, chunkname, mode, ...)
      if type(chunk) == "string" and chunk:byte(1) == 27 then
        return nil, "precompiled (binary) chunks are disabled in recipes; run with --unsafe to allow them"
      end
      return rawload(chunk, chunkname, "t", ...)
    end

    -- Built-in (preloaded) modules, then pure-Lua files in text mode. No C modules.
    local preload = package.searchers[1]
    package.searchers = {
      preload,
      function(name)
        local file, err = searchpath(name, package.path)
        if not file then return err end
        local chunk, msg = rawloadfile(file, "t")
        if not chunk then
          error(format("error loading module '%s' from file '%s':\n\t%s", name, file, msg), 0)
        end
        return chunk, file
      end,
    }
    """#
}
