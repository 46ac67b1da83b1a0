-- kafka-proxy.lua: grepplabs kafka-proxy v0.2.8, a multi-stage Dockerfile build from git.
--   firebuild script recipes/examples/kafka-proxy.lua
local firebuild = require "firebuild"
local common = require "common"
local env = common.setup()

local stages = {}
local proxy = firebuild.rootfs {
  dockerfile = "git+https://github.com/grepplabs/kafka-proxy.git:/Dockerfile#v0.2.8",
  network = env.builds, kernel = env.kernel,
  tag = "combust-labs/kafka-proxy:0.2.8",
  hooks = {
    before_build = function(plan) stages = plan.stages end,
    on_output = function(step, line) if line:find("error", 1, true) then print("[" .. step.stage .. "] " .. line) end end,
  },
}
print(("built %s from %d stages"):format(proxy:tag(), #stages))

local vm = firebuild.vm.run { from = proxy, name = "kafkaproxy1", kernel = env.kernel, network = env.machines,
                              cmd = { "/opt/kafka-proxy/bin/kafka-proxy", "--help" }, daemonize = false }
print("kafka-proxy --help exited")
