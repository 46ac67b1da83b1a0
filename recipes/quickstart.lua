-- quickstart.lua: kernel, base image, application image, network, VM, HTTP check; all offline.
--
--   firebuild script recipes/quickstart.lua             (as root; state in $FIREBUILD_HOME or /tmp/firebuild-demo)
--   firebuild script --dry-run recipes/quickstart.lua   (prints what it would do)
--
-- 1. imports the Debian cloud kernel (/boot/vmlinuz-*-cloud-amd64) and builds its small initrd;
-- 2. makes a busybox-static base image without a Dockerfile or registry (firebuild.busybox);
-- 3. builds the application image from quickstart/Dockerfile (FROM the base, COPY index.html, CMD httpd);
-- 4. creates a sandbox network namespace standing in for the host, with a CNI network inside it;
-- 5. runs the image as a microVM, waits for port 80 and fetches the page from the sandbox;
-- 6. cleans up (VM, run cache leftovers, CNI network, sandbox namespace), also when something failed.
local firebuild = require "firebuild"
local busybox = require "firebuild.busybox"
local check = require "firebuild.assert"
firebuild.api(1)

local home = firebuild.env("FIREBUILD_HOME", "/tmp/firebuild-demo")
local sandbox_name = "fbdemo-" .. (arg[1] or "host")
firebuild.settings { home = home }

local function cloud_kernel()
  local found = firebuild.fs.glob("/boot/vmlinuz-*-cloud-amd64")
  if #found == 0 then
    if firebuild.dry_run then return "/boot/vmlinuz-<version>-cloud-amd64" end
    error("no Debian cloud kernel in /boot: apt-get install linux-image-cloud-amd64")
  end
  return found[#found]
end

local kernel = firebuild.kernel.import { id = "quickstart-cloud", path = cloud_kernel() }
print("kernel: " .. kernel:id() .. " (initrd " .. tostring(kernel:initrd()) .. ")")

local base = busybox.image { tag = "_/busybox:quickstart-base" }
print("base image: " .. base:tag())

local app = firebuild.rootfs {
  dockerfile = "quickstart/Dockerfile",
  tag = "_/quickstart:1",
  kernel = kernel,
  hooks = {
    before_step = function(step) print(("  step %d/%d: %s"):format(step.index, step.count, step.instruction)) end,
    after_build = function(rootfs) rootfs:label("org.firebuild.recipe", "quickstart") end,
  },
}
print("application image: " .. app:tag())

local sandbox = firebuild.netns.create { name = sandbox_name, reuse = true }
local vm, net
local ok, err = pcall(function()
  firebuild.settings { host_netns = sandbox:name() }
  net = firebuild.network { name = "quickstart", subnet = "192.168.127.0/24", bridge = "fbdemo0" }
  vm = firebuild.vm.run {
    from = app, kernel = kernel, network = net, name = "quickstart", mem = 128,
    hooks = { on_ready = function(v) print("VM " .. v:id() .. " is up at " .. tostring(v:ip())) end },
  }
  vm:wait_port(80, 120)
  local answer = firebuild.http.get { url = "http://" .. (vm:ip() or "192.168.127.2") .. "/", timeout = 10 }
  print("HTTP " .. answer.status .. ":\n" .. answer.body)
  if not firebuild.dry_run then
    check.equal(answer.status, 200, "the VM answers over HTTP")
    check.matches(answer.body, "Hello from a firebuild microVM")
  end
end)

-- Cleanup runs whatever happened above.
if vm then pcall(vm.stop, vm) end
pcall(firebuild.vm.purge)
if net then pcall(net.remove, net) end
pcall(sandbox.delete, sandbox)
if not ok then error(err, 0) end
print("quickstart: done")
