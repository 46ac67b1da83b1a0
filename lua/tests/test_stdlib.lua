-- Tests of the recipe standard library (lua/firebuild/*.lua) with plain lua5.4 and a stub of
-- the host API (`package.loaded.firebuild`); run by `make test-lua`.
local check = require "firebuild.assert"

-- A stub host API recording calls.
local calls = {}
local clock_sleeps = 0
local stub = {
  network = function(opts) calls[#calls + 1] = { "network", opts }; return { name = opts.name } end,
  sleep = function(s) clock_sleeps = clock_sleeps + 1 end,
  tcp = { wait = function(o) calls[#calls + 1] = { "tcp.wait", o }; return 0.5 end },
  http = {},
  image = { from_files = function(spec) calls[#calls + 1] = { "from_files", spec }; return { tag = spec.tag } end },
}
package.loaded.firebuild = stub

local s = check.suite("stdlib")

local D = require "firebuild.dockerfile"
s:test("dockerfile renders instructions in order, exec form quoted", function()
  local text = D.new("debian:bookworm-slim")
    :arg("VERSION", "1.0")
    :env { LANG = "C.UTF-8", A = "two words" }
    :run { "apt-get update", "apt-get install -y curl" }
    :copy("index.html", "/www/", { chown = "1000:1000" })
    :expose(80, 443)
    :cmd { "httpd", "-f", "-h", "/www" }
    :render()
  check.equal(text, table.concat({
    "FROM debian:bookworm-slim",
    "ARG VERSION=1.0",
    'ENV A="two words" LANG=C.UTF-8',
    "RUN apt-get update \\\n    && apt-get install -y curl",
    'COPY --chown=1000:1000 ["index.html", "/www/"]',
    "EXPOSE 80 443",
    'CMD ["httpd", "-f", "-h", "/www"]',
  }, "\n") .. "\n")
end)

s:test("dockerfile json strings escape quotes, backslashes and control characters", function()
  check.equal(D.json_string('a"b\\c\n'), '"a\\"b\\\\c\\n"')
  check.equal(D.exec_form({ "sh", "-c", "echo 'x'" }), '["sh", "-c", "echo \'x\'"]')
  check.equal(tostring(D.new("scratch", "base")), "FROM scratch AS base\n")
  check.raises(function() D.new(""):render() end, "needs an image")
end)

local debian = require "firebuild.debian"
s:test("debian baseos: packages, user, ssh; unknown options rejected", function()
  local text = debian.baseos { release = "bookworm-slim", packages = { "curl" } }
  check.matches(text, "^FROM debian:bookworm%-slim\n")
  check.matches(text, "apt%-get install %-y %-%-no%-install%-recommends [^\n]*curl")
  check.matches(text, "openssh%-server")
  check.matches(text, "useradd %-m %-U %-s /bin/bash debian")
  check.matches(text, "ssh%-keygen %-A")
  local bare = debian.baseos { user = false, ssh = false, init = false }
  check.falsy(bare:find("useradd"), "no user")
  check.falsy(bare:find("openssh"), "no ssh")
  check.equal(debian.packages { ssh = false, init = false, user = false }, { "ca-certificates", "iproute2", "iputils-ping", "procps", "util-linux" })
  check.raises(function() debian.baseos { relase = "x" } end, 'unknown option "relase"')
end)

local alpine = require "firebuild.alpine"
s:test("alpine baseos: apk, openrc, user", function()
  local text = alpine.baseos { version = "3.18", packages = { "curl" } }
  check.matches(text, "^FROM alpine:3%.18\n")
  check.matches(text, "apk add %-%-no%-cache ca%-certificates curl openrc openssh sudo")
  check.matches(text, "rc%-update add sshd default")
  check.matches(text, "adduser %-D %-s /bin/sh alpine")
  check.raises(function() alpine.baseos { versoin = "1" } end, "valid: init")
end)

local busybox = require "firebuild.busybox"
s:test("busybox spec: tree, applets, users, config merged", function()
  local spec = busybox.spec { tag = "_/bb:1", users = { "www" }, files = { ["/www/index.html"] = { content = "hi" } },
    config = { Cmd = { "httpd", "-f" } } }
  check.equal(spec.tag, "_/bb:1")
  check.equal(spec.files["/bin/busybox"], { source = "/bin/busybox", mode = 493 })
  check.equal(spec.files["/www/index.html"], { content = "hi" })
  check.matches(spec.files["/etc/passwd"].content, "\nwww:x:1000:1000:www:/home/www:/bin/sh\n$")
  check.equal(spec.symlinks["/bin/sh"], "busybox")
  check.equal(spec.symlinks["/bin/httpd"], "busybox")
  check.equal(spec.config.Cmd, { "httpd", "-f" })
  check.equal(spec.config.Env, { "PATH=" .. busybox.path })
  local has_home = false
  for _, d in ipairs(spec.dirs) do if d == "/home/www" then has_home = true end end
  check.truthy(has_home, "the user's home is created")
  check.raises(function() busybox.spec {} end, 'option "tag"')
  check.raises(function() busybox.spec { tag = "a:1", cmd = "x" } end, 'unknown option "cmd"')
end)

s:test("busybox image stores through firebuild.image.from_files", function()
  calls = {}
  local image = busybox.image { tag = "_/bb:2" }
  check.equal(image.tag, "_/bb:2")
  check.equal(calls[1][1], "from_files")
end)

local networks = require "firebuild.networks"
s:test("network presets are the original's subnets; overrides win", function()
  check.equal(networks.options("machines"), { name = "machines", subnet = "192.168.127.0/24", bridge = "machines0" })
  check.equal(networks.options("builds", { conf_dir = "/x" }).subnet, "192.168.128.0/24")
  check.equal(networks.options("builds", { conf_dir = "/x" }).conf_dir, "/x")
  calls = {}
  networks.machines { subnet = "10.1.0.0/24" }
  check.equal(calls[1], { "network", { name = "machines", subnet = "10.1.0.0/24", bridge = "machines0" } })
  check.raises(function() networks.options("nope") end, "presets: builds, machines")
end)

local wait = require "firebuild.wait"
s:test("wait.until retries, then times out with the last error", function()
  local n = 0
  check.equal(wait.until_true(function() n = n + 1; return n >= 3 and "ready" end, { timeout = 10, interval = 0 }), "ready")
  check.equal(n, 3)
  local err = check.raises(function()
    wait.until_true(function() error("not yet", 0) end, { timeout = 0, what = "the thing" })
  end, "timed out after 0 s waiting for the thing")
  check.matches(tostring(err), "last error: not yet")
end)

s:test("wait.port and wait.url go through the host API", function()
  calls = {}
  check.equal(wait.port { host = "10.0.0.2", port = 80, timeout = 5 }, 0.5)
  check.equal(calls[1][2], { host = "10.0.0.2", port = 80, timeout = 5 })
  local answers = { { status = 503, body = "" }, { status = 200, body = "hello world" } }
  stub.http.get = function() return table.remove(answers, 1) end
  local r = wait.url { url = "http://10.0.0.2/", match = "hello", timeout = 10, interval = 0 }
  check.equal(r.body, "hello world")
  stub.http.get = function() error("connection refused", 0) end
  check.raises(function() wait.url { url = "http://x/", timeout = 0 } end, "connection refused")
end)

s:done()
