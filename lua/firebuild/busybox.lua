-- firebuild.busybox: a tiny offline base image made of the host's static busybox, built without a
-- Dockerfile, a registry or a VM (`firebuild.image.from_files`).
--
--   local busybox = require "firebuild.busybox"
--   local base = busybox.image { tag = "_/busybox:base" }            -- a firebuild.Image
--   -- or only the description, to add to it before storing:
--   local spec = busybox.spec { tag = "_/busybox:base", files = { ["/www/index.html"] = { content = "hi" } } }
--   firebuild.image.from_files(spec)
--
-- Options: tag (required), busybox (default "/bin/busybox", must be static: apt-get install
-- busybox-static), applets (extra applet names to link), files / dirs / symlinks (added to the
-- tree), config (OCI config fields: Cmd, Entrypoint, Env, WorkingDir, User, …; default Cmd {"/bin/sh"}),
-- users (extra login names: uid/gid 1000, 1001, …).

local M = {}

--- Applets linked in /bin (busybox runs them by the name it is called as).
M.applets = {
  "sh", "ash", "cat", "chmod", "chown", "cp", "date", "df", "echo", "env", "false", "grep", "head", "hostname",
  "httpd", "id", "ip", "kill", "ln", "ls", "mkdir", "mount", "mv", "nc", "ping", "ps", "pwd", "rm", "sed", "sleep",
  "sort", "tail", "tar", "test", "top", "touch", "true", "umount", "uname", "vi", "wc", "wget", "which",
}

M.dirs = { "/bin", "/sbin", "/etc", "/proc", "/sys", "/dev", "/run", "/tmp", "/root", "/home", "/var", "/var/log", "/usr", "/usr/bin" }

M.path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

local valid = { tag = true, busybox = true, applets = true, files = true, dirs = true, symlinks = true, config = true, users = true }

--- The `firebuild.image.from_files` options for a busybox image.
function M.spec(opts)
  opts = opts or {}
  for k in pairs(opts) do
    if not valid[k] then
      error("firebuild.busybox: unknown option " .. string.format("%q", k)
        .. "; valid: applets, busybox, config, dirs, files, symlinks, tag, users", 2)
    end
  end
  if type(opts.tag) ~= "string" or opts.tag == "" then error("firebuild.busybox: option \"tag\" (a string) is required", 2) end

  local dirs, seen = {}, {}
  local function add_dir(d) if not seen[d] then seen[d] = true; dirs[#dirs + 1] = d end end
  for _, d in ipairs(M.dirs) do add_dir(d) end
  for _, d in ipairs(opts.dirs or {}) do add_dir(d) end

  local passwd = { "root:x:0:0:root:/root:/bin/sh" }
  local group = { "root:x:0:" }
  for i, name in ipairs(opts.users or {}) do
    local id = 999 + i
    passwd[#passwd + 1] = string.format("%s:x:%d:%d:%s:/home/%s:/bin/sh", name, id, id, name, name)
    group[#group + 1] = string.format("%s:x:%d:", name, id)
    add_dir("/home/" .. name)
  end

  local files = {
    ["/bin/busybox"] = { source = opts.busybox or "/bin/busybox", mode = 493 },       -- 0755
    ["/etc/passwd"] = { content = table.concat(passwd, "\n") .. "\n", mode = 420 },    -- 0644
    ["/etc/group"] = { content = table.concat(group, "\n") .. "\n", mode = 420 },
    ["/etc/hostname"] = { content = "busybox\n", mode = 420 },
    ["/etc/hosts"] = { content = "127.0.0.1 localhost\n", mode = 420 },
  }
  for path, f in pairs(opts.files or {}) do files[path] = f end

  local symlinks = {}
  local applets = {}
  for _, a in ipairs(M.applets) do applets[#applets + 1] = a end
  for _, a in ipairs(opts.applets or {}) do applets[#applets + 1] = a end
  for _, a in ipairs(applets) do symlinks["/bin/" .. a] = "busybox" end
  symlinks["/sbin/init"] = "../bin/busybox"
  for path, target in pairs(opts.symlinks or {}) do symlinks[path] = target end

  local config = { Cmd = { "/bin/sh" }, Env = { "PATH=" .. M.path }, WorkingDir = "/" }
  for k, v in pairs(opts.config or {}) do config[k] = v end

  return { tag = opts.tag, dirs = dirs, files = files, symlinks = symlinks, config = config }
end

--- Stores the image and returns it (a firebuild.Image). Needs the host API.
function M.image(opts)
  local firebuild = require "firebuild"
  return firebuild.image.from_files(M.spec(opts))
end

return M
