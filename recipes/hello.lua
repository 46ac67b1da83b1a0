-- hello.lua: a first recipe, using only what needs no image or VM.
--   firebuild script recipes/hello.lua              greets $USER (or "world")
--   firebuild script recipes/hello.lua -- Ada       greets Ada
local firebuild = require "firebuild"
local check = require "firebuild.assert"   -- lua/firebuild/assert.lua
firebuild.api(1)

local who = arg[1] or firebuild.env("USER") or "world"
firebuild.log.info("recipe started", { recipe = arg[0], who = who, dry_run = firebuild.dry_run })

print(("firebuild %s says: hello, %s!"):format(firebuild.version, who))

-- Paths are relative to this recipe's directory, wherever firebuild runs from.
check.truthy(firebuild.fs.exists("hello.lua"), "a recipe sees its own directory")
local recipes = firebuild.fs.glob("*.lua")
print(("%d recipe(s) next to this one:"):format(#recipes))
for _, name in ipairs(recipes) do
  local text = firebuild.fs.read(name)
  local _, lines = text:gsub("\n", "\n")
  local title = text:match("^%-%- ([^\n]*)") or ""
  print(("  %-16s %4d lines  %s"):format(name, lines, title))
end

firebuild.log.debug("recipe finished", { recipes = #recipes })
