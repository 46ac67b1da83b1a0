-- firebuild.wait: wait for something to be ready, with a deadline and a clear error.
--
--   local wait = require "firebuild.wait"
--   wait.port { host = vm:ip(), port = 80, timeout = 60 }        -- TCP accept, from the host side
--   local r = wait.url { url = "http://" .. vm:ip() .. "/", status = 200, match = "hello", timeout = 60 }
--   wait.until(function() return vm:exec("test -f /ready").code == 0 end, { timeout = 30, what = "/ready" })
--
-- `netns` (optional) is the namespace to connect from; it defaults to firebuild.settings().host_netns.
-- Waiting sleeps between attempts (firebuild.sleep), `interval` seconds (default 0.5).

local M = {}

local function firebuild() return require "firebuild" end

local function now() return os.time() end

--- Calls `fn` until it returns a true value (which is returned) or `timeout` seconds pass.
function M.until_true(fn, opts)
  opts = opts or {}
  local timeout, interval = opts.timeout or 60, opts.interval or 0.5
  local deadline = now() + timeout
  local last_err
  while true do
    local ok, result = pcall(fn)
    if ok and result then return result end
    if not ok then last_err = result end
    if now() >= deadline then
      error(string.format("timed out after %d s waiting for %s%s", timeout, opts.what or "the condition",
        last_err and (" (last error: " .. tostring(last_err) .. ")") or ""), 2)
    end
    firebuild().sleep(interval)
  end
end
M["until"] = M.until_true

--- Waits for a TCP port to accept connections; returns the seconds waited.
function M.port(opts)
  assert(type(opts) == "table", "wait.port takes a table: { host =, port =, timeout =, netns = }")
  return firebuild().tcp.wait { host = opts.host, port = opts.port, timeout = opts.timeout, netns = opts.netns }
end

--- Waits for an HTTP GET of `url` to answer with `status` (default 200) and, when given, a
--- body matching the Lua pattern `match`; returns the response { status =, body =, headers = }.
function M.url(opts)
  assert(type(opts) == "table" and opts.url, "wait.url takes a table: { url =, status =, match =, timeout =, netns = }")
  local want = opts.status or 200
  return M.until_true(function()
    local r = firebuild().http.get { url = opts.url, netns = opts.netns, timeout = 5 }
    if r.status ~= want then error("status " .. tostring(r.status) .. ", want " .. tostring(want), 0) end
    if opts.match and not tostring(r.body):find(opts.match) then error("the body does not match " .. opts.match, 0) end
    return r
  end, { timeout = opts.timeout, interval = opts.interval, what = opts.url })
end

return M
