// firebuild-init: PID 1 inside every firebuild microVM (implementation in progress).
print("firebuild-init: not yet implemented")
