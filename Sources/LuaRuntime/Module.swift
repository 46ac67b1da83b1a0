/// The embedded Lua 5.4 runtime and the binding layer Swift modules register functions and types with.
