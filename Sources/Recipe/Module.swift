/// The recipe API (`require "firebuild"`): bindings of every public operation, hooks.
