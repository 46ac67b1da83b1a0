-- common.lua: what the example recipes share: settings from $FIREBUILD_HOME, the original's two
-- networks, and a stored kernel (id from $FIREBUILD_KERNEL, default "vmlinux-v6.1").
-- Needs internet access for the upstream Dockerfiles and images.
local firebuild = require "firebuild"
local networks = require "firebuild.networks"

local M = {}

function M.setup()
  firebuild.api(1)
  local home = firebuild.env("FIREBUILD_HOME")
  if home then firebuild.settings { home = home } end
  return {
    kernel = firebuild.env("FIREBUILD_KERNEL", "vmlinux-v6.1"),
    builds = networks.builds(),
    machines = networks.machines(),
  }
end

--- Runs `image` as VM `name` and returns it once `port` answers.
function M.run(env, opts)
  local vm = firebuild.vm.run {
    from = opts.from, name = opts.name, kernel = env.kernel, network = env.machines, mem = opts.mem or 256,
    env = opts.env, ready_port = opts.port, ready_timeout = opts.timeout or 180,
  }
  print(("%s is up at %s:%d"):format(vm:id(), tostring(vm:ip()), opts.port))
  return vm
end

return M
