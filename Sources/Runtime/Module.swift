/// VM lifecycle: run, inspect, ls, logs, exec, kill, purge.
