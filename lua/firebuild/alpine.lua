-- firebuild.alpine: Dockerfile text for Alpine base OS images.
--
--   local alpine = require "firebuild.alpine"
--   firebuild.baseos { dockerfile = alpine.baseos { version = "3.19" }, tag = "_/alpine:3.19" }
--
-- Options: version (default "3.19"), packages, user (default "alpine"; false for none), ssh
-- (default true), init (default true: openrc with the serial getty), run (extra RUN commands).

local D = require "firebuild.dockerfile"

local M = {}
M.default_version = "3.19"

function M.packages(opts)
  opts = opts or {}
  local set, out = {}, {}
  local function add(p) if not set[p] then set[p] = true; out[#out + 1] = p end end
  add("ca-certificates")
  if opts.init ~= false then add("openrc") end
  if opts.ssh ~= false then add("openssh") end
  if opts.user ~= false then add("sudo") end
  for _, p in ipairs(opts.packages or {}) do add(p) end
  table.sort(out)
  return out
end

function M.baseos(opts)
  opts = opts or {}
  for k in pairs(opts) do
    if not ({ version = 1, packages = 1, user = 1, ssh = 1, init = 1, run = 1 })[k] then
      error("firebuild.alpine.baseos: unknown option " .. string.format("%q", k)
        .. "; valid: init, packages, run, ssh, user, version", 2)
    end
  end
  local d = D.new("alpine:" .. (opts.version or M.default_version))
  d:run("apk add --no-cache " .. table.concat(M.packages(opts), " "))
  if opts.ssh ~= false then d:run("ssh-keygen -A") end
  if opts.init ~= false then
    d:run {
      "mkdir -p /run/openrc",
      "touch /run/openrc/softlevel",
      "ln -sf agetty /etc/init.d/agetty.ttyS0",
      "echo ttyS0 > /etc/securetty",
      "rc-update add agetty.ttyS0 default",
      "rc-update add devfs boot",
      "rc-update add procfs boot",
      "rc-update add sysfs boot",
    }
    if opts.ssh ~= false then d:run("rc-update add sshd default") end
  end
  local user = opts.user
  if user == nil then user = "alpine" end
  if user then
    d:run {
      "adduser -D -s /bin/sh " .. user,
      "echo '" .. user .. " ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/" .. user,
      "chmod 0440 /etc/sudoers.d/" .. user,
      "install -d -m 0700 -o " .. user .. " -g " .. user .. " /home/" .. user .. "/.ssh",
      "install -m 0400 -o " .. user .. " -g " .. user .. " /dev/null /home/" .. user .. "/.ssh/authorized_keys",
    }
  end
  for _, cmd in ipairs(opts.run or {}) do d:run(cmd) end
  return d:render()
end

return M
