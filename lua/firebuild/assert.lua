-- firebuild.assert: assertions for recipe tests and for firebuild's own Lua tests.
--
--   local check = require "firebuild.assert"
--   check.equal(actual, expected, "optional message")   -- deep for tables
--   check.matches("v1.2", "^v%d")                       -- Lua pattern
--   local msg = check.raises(function() error("boom") end, "boom")
--
--   local suite = check.suite("my tests")
--   suite:test("adds", function() check.equal(1 + 1, 2) end)
--   suite:done()   -- prints "N passed, M failed"; raises if anything failed
--
-- Failures are raised with error(msg, 2): the message names the line of the failing check.
-- Works in recipes (sandboxed) and in plain lua5.4.

local M = {}

local function format(value, depth, seen)
  depth, seen = depth or 0, seen or {}
  local kind = type(value)
  if kind == "string" then return string.format("%q", value) end
  if kind ~= "table" then return tostring(value) end
  if seen[value] then return "<cycle>" end
  if depth > 3 then return "{...}" end
  seen[value] = true
  local parts, n = {}, #value
  for i = 1, n do parts[#parts + 1] = format(value[i], depth + 1, seen) end
  local keys = {}
  for k in pairs(value) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
  end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(keys) do
    local key = type(k) == "string" and k:match("^[%a_][%w_]*$") and k or "[" .. format(k, depth + 1, seen) .. "]"
    parts[#parts + 1] = key .. " = " .. format(value[k], depth + 1, seen)
  end
  seen[value] = nil
  return "{" .. table.concat(parts, ", ") .. "}"
end

--- A readable rendering of any value (strings quoted, tables expanded with sorted keys).
M.format = format

--- Deep equality: same type and value; tables compare key by key (metatables ignored).
local function deep_equal(a, b, seen)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  seen = seen or {}
  if seen[a] == b then return true end
  seen[a] = b
  for k, v in pairs(a) do
    if not deep_equal(v, b[k], seen) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end
M.deep_equal = deep_equal

local function fail(message, detail)
  local text = message and (message .. ": " .. detail) or detail
  error(text, 3)  -- level 3: the caller of the check, not the check itself
end

function M.equal(actual, expected, message)
  if not deep_equal(actual, expected) then
    fail(message, "expected " .. format(expected) .. ", got " .. format(actual))
  end
  return actual
end

function M.not_equal(actual, unexpected, message)
  if deep_equal(actual, unexpected) then
    fail(message, "expected a value different from " .. format(unexpected))
  end
  return actual
end

function M.truthy(value, message)
  if not value then fail(message, "expected a true value, got " .. format(value)) end
  return value
end

function M.falsy(value, message)
  if value then fail(message, "expected false or nil, got " .. format(value)) end
  return value
end

--- `text` must match the Lua pattern `pattern`; returns the captures (or the match).
function M.matches(text, pattern, message)
  if type(text) ~= "string" then
    fail(message, "expected a string matching " .. format(pattern) .. ", got " .. format(text))
  end
  local found = { string.match(text, pattern) }
  if #found == 0 then fail(message, format(text) .. " does not match " .. format(pattern)) end
  return table.unpack(found)
end

--- `fn(...)` must raise an error; when `pattern` is given, its message must match it (Lua
--- pattern). Returns the error value.
function M.raises(fn, pattern, ...)
  if type(fn) ~= "function" then fail(nil, "raises: expected a function, got " .. format(fn)) end
  local ok, err = pcall(fn, ...)
  if ok then fail(nil, "expected an error" .. (pattern and (" matching " .. format(pattern)) or "") .. ", but none was raised") end
  if pattern ~= nil and not string.find(tostring(err), pattern) then
    fail(nil, "error " .. format(tostring(err)) .. " does not match " .. format(pattern))
  end
  return err
end

--- A small test suite: `suite:test(name, fn)` runs fn and records the result;
--- `suite:done()` prints the summary and raises if any test failed.
function M.suite(name)
  -- `s.print` receives the report lines (replace it to capture or silence them).
  local s = { name = name, passed = 0, failed = 0, failures = {}, print = print }

  function s:test(title, fn)
    local ok, err = pcall(fn)
    if ok then
      self.passed = self.passed + 1
    else
      self.failed = self.failed + 1
      self.failures[#self.failures + 1] = title .. ": " .. tostring(err)
      self.print("FAIL " .. self.name .. " / " .. title .. "\n  " .. tostring(err))
    end
  end

  function s:done()
    self.print(string.format("%s: %d passed, %d failed", self.name, self.passed, self.failed))
    if self.failed > 0 then error(self.failed .. " test(s) failed in " .. self.name, 0) end
    return self.passed
  end

  return s
end

return M
