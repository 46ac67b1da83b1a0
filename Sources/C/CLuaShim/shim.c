#include "CLuaShim.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Why C: every function here either raises (lua_error, luaL_*), allocates (any push of a
// collectable value, which raises on out-of-memory) or is a macro. Raising longjmps, and a
// longjmp across a Swift frame is undefined behaviour. So Swift only ever calls the fb_*
// entry points below, which run the risky part as a C function under lua_pcall; the only
// frames a longjmp can cross are C frames.

static fb_dispatch_fn fb_dispatch = NULL;
static fb_release_fn fb_release = NULL;

void fb_set_callbacks(fb_dispatch_fn dispatch, fb_release_fn release) {
    fb_dispatch = dispatch;
    fb_release = release;
}

// Addresses used as unique light-userdata keys in the registry and in metatables.
static const char fb_box_marker = 0;   // metatable field: "this userdata holds a Swift object"
static const char fb_cache_key = 0;    // registry field: weak table object pointer -> userdata

// MARK: allocator with a cap

typedef struct {
    size_t used;
    size_t limit;  // 0 = unlimited
} fb_alloc_state;

static void *fb_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    fb_alloc_state *st = (fb_alloc_state *)ud;
    size_t old = ptr ? osize : 0;  // when ptr is NULL, osize encodes the object kind
    if (nsize == 0) {
        free(ptr);
        st->used -= old;
        return NULL;
    }
    // Refusing (returning NULL) makes Lua run an emergency collection and retry, then raise
    // LUA_ERRMEM "not enough memory": a clean, catchable error instead of a crash.
    if (st->limit && nsize > old && st->used - old + nsize > st->limit) return NULL;
    void *p = realloc(ptr, nsize);
    if (!p) return NULL;
    st->used = st->used - old + nsize;
    return p;
}

static int fb_panic(lua_State *L) {
    const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(error object is not a string)";
    fprintf(stderr, "firebuild: fatal: Lua error outside any protected call: %s\n", msg);
    fflush(stderr);
    abort();
    return 0;
}

// Warnings (e.g. errors inside __gc) go to stderr; "@on"/"@off" control them as in lua.c.
static void fb_warn(void *ud, const char *msg, int tocont) {
    static int off = 0, continuing = 0;
    (void)ud;
    if (!continuing && *msg == '@') {
        if (strcmp(msg, "@off") == 0) off = 1;
        else if (strcmp(msg, "@on") == 0) off = 0;
        return;
    }
    if (off) { continuing = tocont; return; }
    if (!continuing) fputs("firebuild: Lua warning: ", stderr);
    fputs(msg, stderr);
    if (!tocont) fputc('\n', stderr);
    continuing = tocont;
}

lua_State *fb_newstate(size_t limit) {
    fb_alloc_state *st = calloc(1, sizeof *st);
    if (!st) return NULL;
    st->limit = limit;
    lua_State *L = lua_newstate(fb_alloc, st);
    if (!L) { free(st); return NULL; }
    lua_atpanic(L, fb_panic);
    lua_setwarnf(L, fb_warn, NULL);
    return L;
}

static fb_alloc_state *alloc_state(lua_State *L) {
    void *ud = NULL;
    lua_getallocf(L, &ud);
    return (fb_alloc_state *)ud;
}

void fb_close(lua_State *L) {
    fb_alloc_state *st = alloc_state(L);
    lua_close(L);  // runs every pending __gc, releasing the Swift objects userdata hold
    free(st);
}

size_t fb_memory_used(lua_State *L) { return alloc_state(L)->used; }
size_t fb_memory_limit(lua_State *L) { return alloc_state(L)->limit; }
void fb_set_memory_limit(lua_State *L, size_t limit) { alloc_state(L)->limit = limit; }

// Runs `f` under lua_pcall with `nargs` arguments already pushed (the function is inserted
// below them). On failure the error object is popped.
static int protected(lua_State *L, lua_CFunction f, int nargs, int nresults) {
    lua_pushcfunction(L, f);  // a light C function: no allocation
    lua_insert(L, -(nargs + 1));
    int status = lua_pcall(L, nargs, nresults, 0);
    if (status != LUA_OK) lua_pop(L, 1);
    return status;
}

static int openlibs_impl(lua_State *L) {
    luaL_openlibs(L);
    return 0;
}

int fb_openlibs(lua_State *L) {
    if (!lua_checkstack(L, 4)) return LUA_ERRMEM;
    return protected(L, openlibs_impl, 0, 0);
}

static int gc_impl(lua_State *L) {
    lua_gc(L, LUA_GCCOLLECT);
    return 0;
}

int fb_gc_collect(lua_State *L) {
    if (!lua_checkstack(L, 4)) return LUA_ERRMEM;
    return protected(L, gc_impl, 0, 0);
}

// MARK: protected pushes

static int pushlstring_impl(lua_State *L) {
    const char *s = (const char *)lua_touserdata(L, 1);
    size_t len = (size_t)lua_tointeger(L, 2);
    lua_pushlstring(L, s, len);
    return 1;
}

int fb_pushlstring(lua_State *L, const char *s, size_t len) {
    if (!lua_checkstack(L, 4)) return LUA_ERRMEM;
    lua_pushlightuserdata(L, (void *)s);
    lua_pushinteger(L, (lua_Integer)len);
    return protected(L, pushlstring_impl, 2, 1);
}

static int newtable_impl(lua_State *L) {
    lua_createtable(L, (int)lua_tointeger(L, 1), (int)lua_tointeger(L, 2));
    return 1;
}

int fb_newtable(lua_State *L, int narr, int nrec) {
    if (!lua_checkstack(L, 4)) return LUA_ERRMEM;
    lua_pushinteger(L, narr < 0 ? 0 : narr);
    lua_pushinteger(L, nrec < 0 ? 0 : nrec);
    return protected(L, newtable_impl, 2, 1);
}

static int rawset_impl(lua_State *L) {
    lua_rawset(L, 1);  // raises on a nil/NaN key or out of memory
    return 0;
}

int fb_rawset(lua_State *L, int tidx) {
    tidx = lua_absindex(L, tidx);
    if (!lua_checkstack(L, 4)) { lua_pop(L, 2); return LUA_ERRMEM; }
    lua_pushvalue(L, tidx);     // ... k v t
    lua_rotate(L, -3, 1);       // ... t k v
    return protected(L, rawset_impl, 3, 0);
}

static int fb_trampoline(lua_State *L) {
    void *box = lua_touserdata(L, lua_upvalueindex(1));
    const char *msg = NULL;
    size_t len = 0;
    // The Swift side returns here before anything below can raise.
    int n = fb_dispatch ? fb_dispatch(L, box, &msg, &len) : FB_CALL_ERROR;
    if (n >= 0) return n;
    if (n == FB_CALL_RAISE_TOP) return lua_error(L);
    luaL_where(L, 1);  // the Lua line that called the binding, e.g. "recipes/app.lua:12: "
    if (msg) lua_pushlstring(L, msg, len);
    else lua_pushliteral(L, "firebuild binding failed");
    lua_concat(L, 2);
    return lua_error(L);
}

static int push_swift_function_impl(lua_State *L) {
    lua_pushcclosure(L, fb_trampoline, 1);
    return 1;
}

int fb_push_swift_function(lua_State *L, void *box) {
    if (!lua_checkstack(L, 4)) return LUA_ERRMEM;
    lua_pushlightuserdata(L, box);
    return protected(L, push_swift_function_impl, 1, 1);
}

static int ref_impl(lua_State *L) {
    int *out = (int *)lua_touserdata(L, 2);
    lua_settop(L, 1);
    *out = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

int fb_ref(lua_State *L, int *ref) {
    if (!lua_checkstack(L, 4)) { lua_pop(L, 1); return LUA_ERRMEM; }
    lua_pushlightuserdata(L, ref);
    return protected(L, ref_impl, 2, 0);
}

static int unref_impl(lua_State *L) {
    luaL_unref(L, LUA_REGISTRYINDEX, (int)lua_tointeger(L, 1));
    return 0;
}

int fb_unref(lua_State *L, int ref) {
    if (!lua_checkstack(L, 4)) return LUA_ERRMEM;
    lua_pushinteger(L, ref);
    return protected(L, unref_impl, 1, 0);
}

static int setglobal_impl(lua_State *L) {
    const char *name = (const char *)lua_touserdata(L, 2);
    lua_settop(L, 1);
    lua_setglobal(L, name);  // may run __newindex of _G
    return 0;
}

int fb_setglobal(lua_State *L, const char *name) {
    if (!lua_checkstack(L, 4)) { lua_pop(L, 1); return LUA_ERRMEM; }
    lua_pushlightuserdata(L, (void *)name);  // value name
    return protected(L, setglobal_impl, 2, 0);
}

static int getglobal_impl(lua_State *L) {
    lua_getglobal(L, (const char *)lua_touserdata(L, 1));
    return 1;
}

int fb_getglobal(lua_State *L, const char *name) {
    if (!lua_checkstack(L, 4)) return LUA_ERRMEM;
    lua_pushlightuserdata(L, (void *)name);
    return protected(L, getglobal_impl, 1, 1);
}

static int setloaded_impl(lua_State *L) {
    const char *name = (const char *)lua_touserdata(L, 2);
    lua_settop(L, 1);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, name);
    return 0;
}

int fb_setloaded(lua_State *L, const char *name) {
    if (!lua_checkstack(L, 4)) { lua_pop(L, 1); return LUA_ERRMEM; }
    lua_pushlightuserdata(L, (void *)name);
    return protected(L, setloaded_impl, 2, 0);
}

static int tostring_impl(lua_State *L) {
    luaL_tolstring(L, 1, NULL);
    return 1;
}

int fb_tostring(lua_State *L, int idx) {
    idx = lua_absindex(L, idx);
    if (!lua_checkstack(L, 4)) return LUA_ERRMEM;
    lua_pushvalue(L, idx);
    return protected(L, tostring_impl, 1, 1);
}

// MARK: loading and calling

int fb_load(lua_State *L, const char *buf, size_t len, const char *chunkname, const char *mode) {
    if (!lua_checkstack(L, 4)) return LUA_ERRMEM;
    // lua_load runs the parser in protected mode: it returns a status, it does not raise.
    return luaL_loadbufferx(L, buf, len, chunkname, mode);
}

// Message handler: message + traceback as one string (split again on the Swift side).
static int fb_msgh(lua_State *L) {
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            msg = lua_tostring(L, -1);
        else
            msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

int fb_pcall(lua_State *L, int nargs, int nresults) {
    if (!lua_checkstack(L, 4)) {
        lua_pop(L, nargs + 1);  // pushing a message would allocate: report "no message" instead
        return FB_ERR_NOSTACK;
    }
    int base = lua_gettop(L) - nargs;  // the function
    lua_pushcfunction(L, fb_msgh);
    lua_insert(L, base);
    int status = lua_pcall(L, nargs, nresults, base);
    lua_remove(L, base);
    return status;
}

// MARK: userdata boxes

static int box_gc(lua_State *L) {
    void **slot = (void **)lua_touserdata(L, 1);
    if (slot && *slot) {
        void *object = *slot;
        *slot = NULL;  // a resurrected userdata must not release twice
        if (fb_release) fb_release(object);
    }
    return 0;
}

static int register_type_impl(lua_State *L) {
    // args: tname (light), has_tostring, methods, [tostring]
    const char *tname = (const char *)lua_touserdata(L, 1);
    int has_tostring = lua_toboolean(L, 2);
    if (!luaL_newmetatable(L, tname)) return luaL_error(L, "type %s is already registered", tname);
    int mt = lua_gettop(L);
    lua_pushvalue(L, 3);
    lua_setfield(L, mt, "__index");
    if (has_tostring) {
        lua_pushvalue(L, 4);
        lua_setfield(L, mt, "__tostring");
    }
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, mt, "__gc");
    lua_pushstring(L, tname);
    lua_setfield(L, mt, "__metatable");  // recipes cannot swap methods or __gc
    lua_pushboolean(L, 1);
    lua_rawsetp(L, mt, &fb_box_marker);
    lua_pushlightuserdata(L, (void *)lua_topointer(L, mt));
    return 1;
}

int fb_register_type(lua_State *L, const char *tname, int has_tostring, const void **metatable) {
    int n = has_tostring ? 2 : 1;
    if (!lua_checkstack(L, 6)) { lua_pop(L, n); return LUA_ERRMEM; }
    lua_pushlightuserdata(L, (void *)tname);
    lua_pushboolean(L, has_tostring);
    lua_rotate(L, -(n + 2), 2);  // tname has methods [tostring]
    int status = protected(L, register_type_impl, n + 2, 1);
    if (status == LUA_OK) {
        *metatable = lua_touserdata(L, -1);
        lua_pop(L, 1);
    }
    return status;
}

static int push_box_impl(lua_State *L) {
    void *object = lua_touserdata(L, 1);
    const char *tname = (const char *)lua_touserdata(L, 2);
    int *reused = (int *)lua_touserdata(L, 3);
    // The cache maps an object to its live userdata, so one Swift object is one Lua value
    // (== and table keys work). Weak values: it never keeps a userdata alive.
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &fb_cache_key) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_createtable(L, 0, 1);
        lua_pushliteral(L, "v");
        lua_setfield(L, -2, "__mode");
        lua_setmetatable(L, -2);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &fb_cache_key);
    }
    int cache = lua_gettop(L);
    if (lua_rawgetp(L, cache, object) == LUA_TUSERDATA) {
        void **slot = (void **)lua_touserdata(L, -1);
        if (*slot == object) {
            *reused = 1;
            return 1;
        }
    }
    lua_pop(L, 1);
    void **slot = (void **)lua_newuserdatauv(L, sizeof(void *), 0);
    *slot = NULL;  // until every allocation below succeeded, __gc has nothing to release
    luaL_setmetatable(L, tname);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, cache, object);
    *slot = object;  // ownership of the +1 passes to the userdata; nothing below allocates
    *reused = 0;
    return 1;
}

int fb_push_box(lua_State *L, void *object, const char *tname, int *reused) {
    if (!lua_checkstack(L, 8)) return LUA_ERRMEM;
    *reused = 0;
    lua_pushlightuserdata(L, object);
    lua_pushlightuserdata(L, (void *)tname);
    lua_pushlightuserdata(L, reused);
    return protected(L, push_box_impl, 3, 1);
}

static int box_is_ours(lua_State *L, int idx, const void *metatable) {
    if (lua_type(L, idx) != LUA_TUSERDATA || lua_rawlen(L, idx) < sizeof(void *)) return 0;
    if (!lua_checkstack(L, 2) || !lua_getmetatable(L, idx)) return 0;
    int ours;
    if (metatable) ours = lua_topointer(L, -1) == metatable;
    else {
        ours = lua_rawgetp(L, -1, &fb_box_marker) == LUA_TBOOLEAN;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return ours;
}

void *fb_tobox(lua_State *L, int idx) {
    idx = lua_absindex(L, idx);
    return box_is_ours(L, idx, NULL) ? *(void **)lua_touserdata(L, idx) : NULL;
}

void *fb_testbox(lua_State *L, int idx, const void *metatable) {
    idx = lua_absindex(L, idx);
    return box_is_ours(L, idx, metatable) ? *(void **)lua_touserdata(L, idx) : NULL;
}

void fb_where(lua_State *L, int level, char *buf, size_t size) {
    lua_Debug ar;
    if (size == 0) return;
    buf[0] = '\0';
    // "Sl" only reads existing fields: no allocation, no error.
    if (lua_getstack(L, level, &ar) && lua_getinfo(L, "Sl", &ar) && ar.currentline > 0)
        snprintf(buf, size, "%s:%d:", ar.short_src, ar.currentline);
}
