#!/bin/sh
# Hook call overhead per build step: an empty before_step, on_output and after_step hook called
# through the real Lua VM (LuaBuildObserver → LuaFunctionRef with a step table) N times.
# Target: < 1 ms per step. Usage: bench/hooks/run.sh [STEPS]   (default 20000)
set -eu
cd "$(dirname "$0")/../.."
FB_HOOK_BENCH_STEPS="${1:-20000}" swift test --filter 'RecipeTests.HookBenchmark' 2>&1 \
  | grep -E 'hook overhead|passed|failed' | grep -v 'Suite\|started'
