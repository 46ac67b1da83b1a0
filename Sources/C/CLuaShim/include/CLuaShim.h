// Thin C layer over Lua 5.4 for what Swift cannot import (function-like macros,
// LUA_REGISTRYINDEX, variadic luaL_error) and, above all, for every call that may raise:
// those run here, under lua_pcall or in C trampolines, never across a Swift frame.
#pragma once
#include <lua5.4/lua.h>
#include <lua5.4/lauxlib.h>
#include <lua5.4/lualib.h>

static inline int fb_lua_registryindex(void) { return LUA_REGISTRYINDEX; }
static inline int fb_lua_upvalueindex(int i) { return lua_upvalueindex(i); }
static inline void fb_lua_pop(lua_State *L, int n) { lua_settop(L, -(n)-1); }
static inline const char *fb_lua_tostring(lua_State *L, int i) { return lua_tolstring(L, i, NULL); }
