-- Tests of lua/firebuild/assert.lua; run by `make test-lua` with plain lua5.4
-- (LUA_PATH="lua/?.lua;lua/?/init.lua;;"). Exits non-zero when a test fails.
local check = require "firebuild.assert"

local passed, failed = 0, 0
local function test(name, fn)
  local ok, err = pcall(fn)
  if ok then
    passed = passed + 1
  else
    failed = failed + 1
    print("FAIL " .. name .. ": " .. tostring(err))
  end
end

-- Runs fn, which must fail; returns the failure message.
local function failure(fn)
  local ok, err = pcall(fn)
  if ok then error("expected the check to fail", 2) end
  return tostring(err)
end

test("equal accepts equal scalars and deep tables", function()
  check.equal(1, 1)
  check.equal("a", "a")
  check.equal({ 1, { a = "b" }, x = true }, { 1, { a = "b" }, x = true })
end)

test("equal reports expected and actual, at the caller's line", function()
  local msg = failure(function() check.equal({ 1, 2 }, { 1, 3 }, "lists") end)
  assert(msg:find("lists: expected {1, 3}, got {1, 2}", 1, true), msg)
  assert(msg:find("test_assert.lua:%d+:"), "message names the test file line: " .. msg)
end)

test("equal distinguishes missing keys and types", function()
  failure(function() check.equal({ a = 1 }, { a = 1, b = 2 }) end)
  failure(function() check.equal(1, "1") end)
  failure(function() check.equal(nil, false) end)
end)

test("not_equal", function()
  check.not_equal(1, 2)
  local msg = failure(function() check.not_equal({ 1 }, { 1 }) end)
  assert(msg:find("different from {1}", 1, true), msg)
end)

test("truthy and falsy", function()
  check.truthy(0)
  check.falsy(nil)
  check.falsy(false)
  assert(failure(function() check.truthy(nil, "needed") end):find("needed: expected a true value, got nil", 1, true))
  assert(failure(function() check.falsy("x") end):find('expected false or nil, got "x"', 1, true))
end)

test("matches returns captures and rejects non-strings", function()
  local major, minor = check.matches("v1.22", "^v(%d+)%.(%d+)$")
  assert(major == "1" and minor == "22")
  assert(check.matches("abc", "b") == "b")
  assert(failure(function() check.matches("abc", "^x") end):find('"abc" does not match "^x"', 1, true))
  assert(failure(function() check.matches(42, "4") end):find("expected a string", 1, true))
end)

test("raises returns the error and checks its message", function()
  local err = check.raises(function() error("boom 42", 0) end, "boom %d+")
  assert(err == "boom 42")
  check.raises(function(a) error(a) end, nil, "passed through")
  assert(failure(function() check.raises(function() end) end):find("none was raised", 1, true))
  assert(failure(function() check.raises(function() error("other", 0) end, "boom") end)
    :find('error "other" does not match "boom"', 1, true))
  assert(failure(function() check.raises("not a function") end):find("expected a function", 1, true))
end)

test("format renders nested tables with sorted keys and cycles", function()
  check.equal(check.format({ 1, "a", b = { c = true }, [10] = 1 }), '{1, "a", [10] = 1, b = {c = true}}')
  local t = {}
  t.self = t
  check.equal(check.format(t), "{self = <cycle>}")
end)

test("suite counts and reports failures", function()
  local s = check.suite("inner")
  local lines = {}
  s.print = function(line) lines[#lines + 1] = line end
  s:test("ok", function() end)
  s:test("bad", function() error("nope", 0) end)
  assert(s.passed == 1 and s.failed == 1 and s.failures[1] == "bad: nope")
  local ok, err = pcall(s.done, s)
  assert(not ok and err == "1 test(s) failed in inner", err)
  assert(lines[#lines] == "inner: 1 passed, 1 failed", lines[#lines])
  local good = check.suite("good")
  good.print = function() end
  good:test("ok", function() end)
  assert(good:done() == 1)
end)

print(string.format("test_assert: %d passed, %d failed", passed, failed))
if failed > 0 then os.exit(1) end
