// Thin C layer over Lua 5.4 for what Swift cannot import (function-like macros,
// LUA_REGISTRYINDEX, variadic luaL_error) and, above all, for every call that may raise:
// those run here, under lua_pcall or in C trampolines, never across a Swift frame.
//
// Convention for the fb_* functions that return an int status: LUA_OK on success; on
// failure the error object has been popped (callers only need "it failed, almost always
// out of memory"), except fb_pcall/fb_load which leave the error message on top.
#pragma once
#include <stddef.h>
#include <lua5.4/lua.h>
#include <lua5.4/lauxlib.h>
#include <lua5.4/lualib.h>

static inline int fb_lua_registryindex(void) { return LUA_REGISTRYINDEX; }
static inline int fb_lua_upvalueindex(int i) { return lua_upvalueindex(i); }
static inline void fb_lua_pop(lua_State *L, int n) { lua_settop(L, -(n)-1); }
static inline const char *fb_lua_tostring(lua_State *L, int i) { return lua_tolstring(L, i, NULL); }

// MARK: Swift callbacks (installed once per process)

/// Runs the Swift function whose box is `box` with the arguments on L's stack. Returns the
/// number of results pushed (>= 0), FB_CALL_ERROR with a message in *msg/*len (the
/// trampoline prefixes luaL_where(L, 1) and raises), or FB_CALL_RAISE_TOP (raise the value
/// on top of the stack as is).
typedef int (*fb_dispatch_fn)(lua_State *L, void *box, const char **msg, size_t *len);
/// Releases a retained Swift object held by a userdata (called by __gc, and never raises).
typedef void (*fb_release_fn)(void *object);
enum { FB_CALL_ERROR = -1, FB_CALL_RAISE_TOP = -2 };
void fb_set_callbacks(fb_dispatch_fn dispatch, fb_release_fn release);

// MARK: state

/// A new state whose allocator refuses to go past `limit` bytes (0 = no limit), with a panic
/// handler that logs and aborts. NULL if even the state cannot be allocated.
lua_State *fb_newstate(size_t limit);
void fb_close(lua_State *L);
size_t fb_memory_used(lua_State *L);
size_t fb_memory_limit(lua_State *L);
void fb_set_memory_limit(lua_State *L, size_t limit);
/// Opens the standard libraries (all of them; the sandbox is applied afterwards in Lua).
int fb_openlibs(lua_State *L);
/// Full garbage collection, under pcall (finalizers run).
int fb_gc_collect(lua_State *L);

// MARK: protected pushes and table writes (each runs under lua_pcall)

int fb_pushlstring(lua_State *L, const char *s, size_t len);
int fb_newtable(lua_State *L, int narr, int nrec);
/// t[k] = v, raw, for the table at `tidx`; pops k and v.
int fb_rawset(lua_State *L, int tidx);
/// Pushes a C closure of the trampoline bound to `box` (a light userdata upvalue).
int fb_push_swift_function(lua_State *L, void *box);
/// Pops a value and stores it in the registry; *ref receives the reference.
int fb_ref(lua_State *L, int *ref);
int fb_unref(lua_State *L, int ref);
/// _G[name] = pop(); goes through metamethods of _G, hence protected.
int fb_setglobal(lua_State *L, const char *name);
/// Pushes _G[name].
int fb_getglobal(lua_State *L, const char *name);
/// package.loaded[name] = pop(), so `require(name)` returns it without searching.
int fb_setloaded(lua_State *L, const char *name);
/// Pushes luaL_tolstring(L, idx) (honours __tostring/__name).
int fb_tostring(lua_State *L, int idx);

// MARK: loading and calling

/// luaL_loadbufferx with the given chunk name and mode ("t" refuses binary chunks). Leaves the
/// function, or the error message, on top.
int fb_load(lua_State *L, const char *buf, size_t len, const char *chunkname, const char *mode);
/// lua_pcall with a message handler that appends a traceback (luaL_traceback). The function
/// and its `nargs` arguments are on top. On error the message (with traceback) is on top,
/// except FB_ERR_NOSTACK (the C stack could not grow; nothing pushed).
enum { FB_ERR_NOSTACK = 99 };
int fb_pcall(lua_State *L, int nargs, int nresults);

// MARK: userdata holding retained Swift objects

/// Creates the metatable `tname` (luaL_newmetatable) with __gc, __name and the firebuild box
/// marker, __index = the methods table below it on the stack, and __tostring = the function on
/// top when `has_tostring`. Pops what it used; *metatable receives the metatable's identity.
int fb_register_type(lua_State *L, const char *tname, int has_tostring, const void **metatable);
/// Pushes a userdata for `object` (a +1 retained pointer) with metatable `tname`. When a live
/// userdata for the same object already exists it is pushed instead and *reused is set to 1:
/// the caller then still owns its +1 (and must release it). On failure the caller owns it too.
int fb_push_box(lua_State *L, void *object, const char *tname, int *reused);
/// The Swift object held by the firebuild userdata at idx, or NULL (not ours, or finalized).
/// Never raises: uses only lua_touserdata/lua_getmetatable/lua_rawgetp.
void *fb_tobox(lua_State *L, int idx);
/// Like luaL_testudata, but compares the metatable by identity (recorded at registration) so
/// it never interns a string and cannot raise. Returns the held object or NULL.
void *fb_testbox(lua_State *L, int idx, const void *metatable);

// MARK: debug helpers (never raise)

/// Writes "chunk:line:" of the function at `level` (like luaL_where) into buf; "" if unknown.
void fb_where(lua_State *L, int level, char *buf, size_t size);
