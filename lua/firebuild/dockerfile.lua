-- firebuild.dockerfile: Dockerfile text from Lua, for recipes that generate their images.
--
--   local D = require "firebuild.dockerfile"
--   local text = D.new("debian:bookworm-slim")
--     :arg("VERSION", "1.0")
--     :env { LANG = "C.UTF-8" }
--     :run { "apt-get update", "apt-get install -y --no-install-recommends curl" }   -- joined with &&
--     :copy("index.html", "/www/")
--     :cmd { "httpd", "-f", "-h", "/www" }
--     :render()
--
-- Values are quoted as Dockerfile JSON (exec form) where it matters; tables with keys are
-- emitted in sorted order so the same recipe always produces the same text (and cache keys).
-- Pure Lua: works in recipes and in plain lua5.4.

local M = {}
local Builder = {}
Builder.__index = Builder

local function json_string(s)
  s = tostring(s)
  local escaped = s:gsub('[%c"\\]', function(c)
    local map = { ['"'] = '\\"', ['\\'] = '\\\\', ['\n'] = '\\n', ['\t'] = '\\t', ['\r'] = '\\r' }
    return map[c] or string.format("\\u%04x", c:byte())
  end)
  return '"' .. escaped .. '"'
end
M.json_string = json_string

--- `{"a", "b"}` → `["a", "b"]` (exec form).
local function exec_form(list)
  local parts = {}
  for i, v in ipairs(list) do parts[i] = json_string(v) end
  return "[" .. table.concat(parts, ", ") .. "]"
end
M.exec_form = exec_form

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

-- A value in KEY=value instructions (ENV, LABEL, ARG): quoted when it has spaces or quotes.
local function kv_value(v)
  v = tostring(v)
  if v == "" or v:find("[%s\"'\\$]") then return json_string(v) end
  return v
end

--- A new Dockerfile starting `FROM image [AS name]`.
--- Sorted, de-duplicated package list: `always` first, then each `{when, package}` whose
--- option is not false, then the caller's extra `packages`. Shared by the base OS helpers.
function M.package_set(opts, always, optional)
  local set, out = {}, {}
  local function add(p) if not set[p] then set[p] = true; out[#out + 1] = p end end
  for _, p in ipairs(always) do add(p) end
  for _, o in ipairs(optional) do if opts[o[1]] ~= false then add(o[2]) end end
  for _, p in ipairs(opts.packages or {}) do add(p) end
  table.sort(out)
  return out
end

--- Raises (at the caller's caller) for an option not in `valid`, listing the valid ones.
function M.check_options(fname, opts, valid)
  local ok = {}
  for _, k in ipairs(valid) do ok[k] = true end
  for k in pairs(opts) do
    if not ok[k] then
      table.sort(valid)
      error(fname .. ": unknown option " .. string.format("%q", k) .. "; valid: " .. table.concat(valid, ", "), 3)
    end
  end
end

function M.new(from, as)
  local self = setmetatable({ lines = {} }, Builder)
  if from then self:from(from, as) end
  return self
end

function Builder:line(text)
  self.lines[#self.lines + 1] = text
  return self
end

function Builder:comment(text) return self:line("# " .. tostring(text)) end

function Builder:from(image, as)
  assert(type(image) == "string" and image ~= "", "dockerfile:from needs an image name")
  return self:line("FROM " .. image .. (as and (" AS " .. as) or ""))
end

--- `RUN`: a string, or a list of commands joined with ` && \` on separate lines.
function Builder:run(commands)
  if type(commands) == "table" then
    assert(#commands > 0, "dockerfile:run needs at least one command")
    return self:line("RUN " .. table.concat(commands, " \\\n    && "))
  end
  return self:line("RUN " .. tostring(commands))
end

local function pairs_instruction(self, name, t)
  local parts = {}
  for _, k in ipairs(sorted_keys(t)) do parts[#parts + 1] = tostring(k) .. "=" .. kv_value(t[k]) end
  if #parts == 0 then return self end
  return self:line(name .. " " .. table.concat(parts, " "))
end

function Builder:env(t) return pairs_instruction(self, "ENV", t) end
function Builder:label(t) return pairs_instruction(self, "LABEL", t) end

function Builder:arg(name, default)
  return self:line("ARG " .. name .. (default ~= nil and ("=" .. kv_value(default)) or ""))
end

local function copy_like(self, instr, src, dest, opts)
  opts = opts or {}
  local flags = {}
  for _, k in ipairs(sorted_keys(opts)) do flags[#flags + 1] = "--" .. k .. "=" .. tostring(opts[k]) end
  local sources = type(src) == "table" and src or { src }
  local all = {}
  for i, s in ipairs(sources) do all[i] = s end
  all[#all + 1] = dest
  local head = instr .. (#flags > 0 and (" " .. table.concat(flags, " ")) or "")
  return self:line(head .. " " .. exec_form(all))
end

--- `COPY [--from=..., --chown=...] src... dest` (src a string or a list).
function Builder:copy(src, dest, opts) return copy_like(self, "COPY", src, dest, opts) end
function Builder:add(src, dest, opts) return copy_like(self, "ADD", src, dest, opts) end

function Builder:workdir(dir) return self:line("WORKDIR " .. dir) end
function Builder:user(user) return self:line("USER " .. user) end
function Builder:expose(...)
  local ports = { ... }
  if type(ports[1]) == "table" then ports = ports[1] end
  local parts = {}
  for i, p in ipairs(ports) do parts[i] = tostring(p) end
  return self:line("EXPOSE " .. table.concat(parts, " "))
end

local function command_instruction(self, name, cmd)
  if type(cmd) == "table" then return self:line(name .. " " .. exec_form(cmd)) end
  return self:line(name .. " " .. tostring(cmd))
end
function Builder:cmd(cmd) return command_instruction(self, "CMD", cmd) end
function Builder:entrypoint(cmd) return command_instruction(self, "ENTRYPOINT", cmd) end
function Builder:stopsignal(sig) return self:line("STOPSIGNAL " .. tostring(sig)) end

--- The Dockerfile text (ends with a newline).
function Builder:render() return table.concat(self.lines, "\n") .. "\n" end
Builder.__tostring = Builder.render

return M
