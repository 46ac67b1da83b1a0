-- postgres.lua: Postgres 13 from the docker-library Dockerfile, on a Debian base OS.
--   firebuild script recipes/examples/postgres.lua
local firebuild = require "firebuild"
local debian = require "firebuild.debian"
local common = require "common"
local env = common.setup()

-- The upstream Dockerfile is FROM debian:buster-slim: build that base first.
firebuild.baseos { dockerfile = debian.baseos { release = "buster-slim" }, tag = "_/debian:buster-slim" }

local postgres = firebuild.rootfs {
  dockerfile = "git+https://github.com/docker-library/postgres.git:/13/Dockerfile",
  network = env.builds, kernel = env.kernel, mem = 512,
  tag = "combust-labs/postgres:13",
}

local vm = common.run(env, {
  from = postgres, name = "postgres1", port = 5432, mem = 512,
  env = { POSTGRES_PASSWORD = firebuild.env("POSTGRES_PASSWORD", "some-password") },
})
local r = vm:exec { "pg_isready", "-h", "127.0.0.1" }
print("pg_isready: " .. r.stdout)
