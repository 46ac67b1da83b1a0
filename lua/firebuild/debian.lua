-- firebuild.debian: Dockerfile text for Debian base OS images (`firebuild.baseos{dockerfile = …}`).
--
--   local debian = require "firebuild.debian"
--   local text = debian.baseos { release = "bookworm-slim", packages = { "curl" } }
--   firebuild.baseos { dockerfile = text, tag = "_/debian:bookworm" }
--
-- Options: release (default "bookworm-slim"), packages (extra apt packages), user (default
-- "debian": an EC2-style login user with passwordless sudo and an empty authorized_keys, as the
-- original's base images had), ssh (default true: openssh-server with host keys), init
-- (default true: sysvinit-core, for `vm.run{init_image = true}`), run (extra RUN commands).
-- firebuild's own guest init is injected at run time, so unlike the original nothing is
-- downloaded into the image.

local D = require "firebuild.dockerfile"

local M = {}

M.default_release = "bookworm-slim"
M.base_packages = { "ca-certificates", "iproute2", "iputils-ping", "procps", "util-linux" }

local function list_copy(t)
  local out = {}
  for i, v in ipairs(t or {}) do out[i] = v end
  return out
end

--- The apt packages an image with these options installs, sorted and unique.
function M.packages(opts)
  return D.package_set(opts or {}, M.base_packages,
    { { "ssh", "openssh-server" }, { "init", "sysvinit-core" }, { "user", "sudo" } })
end

--- The Dockerfile text of a Debian base OS image.
function M.baseos(opts)
  opts = opts or {}
  D.check_options("firebuild.debian.baseos", opts, { "init", "packages", "release", "run", "ssh", "user" })
  local release = opts.release or M.default_release
  local d = D.new("debian:" .. release)
  d:env { DEBIAN_FRONTEND = "noninteractive" }
  d:run {
    "apt-get update",
    "apt-get install -y --no-install-recommends " .. table.concat(M.packages(opts), " "),
    "rm -rf /var/lib/apt/lists/*",
  }
  if opts.ssh ~= false then d:run("mkdir -p /run/sshd && ssh-keygen -A") end
  local user = opts.user
  if user == nil then user = "debian" end
  if user then
    d:run {
      "useradd -m -U -s /bin/bash " .. user,
      "echo '" .. user .. " ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/" .. user,
      "chmod 0440 /etc/sudoers.d/" .. user,
      "install -d -m 0700 -o " .. user .. " -g " .. user .. " /home/" .. user .. "/.ssh",
      "install -m 0400 -o " .. user .. " -g " .. user .. " /dev/null /home/" .. user .. "/.ssh/authorized_keys",
    }
  end
  for _, cmd in ipairs(list_copy(opts.run)) do d:run(cmd) end
  return d:render()
end

return M
