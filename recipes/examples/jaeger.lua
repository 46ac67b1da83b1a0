-- jaeger.lua: Jaeger all-in-one 1.22 from its Docker image (its Dockerfile needs a prebuilt binary).
--   firebuild script recipes/examples/jaeger.lua
local firebuild = require "firebuild"
local alpine = require "firebuild.alpine"
local common = require "common"
local env = common.setup()

firebuild.baseos { dockerfile = alpine.baseos { version = "3.13" }, tag = "_/alpine:3.13" }

local jaeger = firebuild.rootfs {
  docker_image = "jaegertracing/all-in-one:1.22",
  docker_image_base = "alpine:3.13",   -- the OS the image was built on (not in its manifest)
  network = env.builds, kernel = env.kernel,
  tag = "combust-labs/jaeger-all-in-one:1.22",
}

local vm = common.run(env, { from = jaeger, name = "jaeger1", port = 16686 })
print("Jaeger UI: http://" .. tostring(vm:ip()) .. ":16686/")
