-- firebuild.networks: the original firebuild's two CNI networks as presets.
--
--   local networks = require "firebuild.networks"
--   local net = networks.machines()                          -- 192.168.127.0/24, bridge machines0
--   local builds = networks.builds { conf_dir = "/tmp/x" }   -- 192.168.128.0/24, overrides merged
--
-- Each preset calls `firebuild.network{…}` with its options merged with yours (yours win).

local M = {}

M.presets = {
  machines = { name = "machines", subnet = "192.168.127.0/24", bridge = "machines0" },
  builds = { name = "machine-builds", subnet = "192.168.128.0/24", bridge = "builds0" },
}

--- The options a preset passes to firebuild.network, with `overrides` applied.
function M.options(preset, overrides)
  local base = M.presets[preset]
  if not base then
    local names = {}
    for k in pairs(M.presets) do names[#names + 1] = k end
    table.sort(names)
    error("firebuild.networks: no preset " .. string.format("%q", tostring(preset)) .. "; presets: " .. table.concat(names, ", "), 2)
  end
  local out = {}
  for k, v in pairs(base) do out[k] = v end
  for k, v in pairs(overrides or {}) do out[k] = v end
  return out
end

function M.machines(overrides) return require("firebuild").network(M.options("machines", overrides)) end
function M.builds(overrides) return require("firebuild").network(M.options("builds", overrides)) end

return M
