-- consul.lua: HashiCorp Consul 1.9.4 from its upstream Dockerfile (the original's first example).
--   firebuild script recipes/examples/consul.lua
local firebuild = require "firebuild"
local alpine = require "firebuild.alpine"
local common = require "common"
local env = common.setup()

firebuild.baseos { dockerfile = alpine.baseos { version = "3.12" }, tag = "_/alpine:3.12" }

local consul = firebuild.rootfs {
  dockerfile = "git+https://github.com/hashicorp/docker-consul.git:/0.X/Dockerfile",
  network = env.builds, kernel = env.kernel,
  tag = "combust-labs/consul:1.9.4",
}

local vm = common.run(env, { from = consul, name = "consul1", port = 8500 })
local leader = firebuild.http.get { url = "http://" .. tostring(vm:ip()) .. ":8500/v1/status/leader" }
print("consul leader: " .. leader.body)
