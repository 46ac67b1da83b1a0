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
  return D.package_set(opts or {}, { "ca-certificates" },
    { { "init", "openrc" }, { "ssh", "openssh" }, { "user", "sudo" } })
end

function M.baseos(opts)
  opts = opts or {}
  D.check_options("firebuild.alpine.baseos", opts, { "init", "packages", "run", "ssh", "user", "version" })
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
