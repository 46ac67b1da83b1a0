// Network-namespace helpers for the Network module (setns on the calling thread only).
#pragma once

/// Moves the calling thread into the network namespace at `path` (e.g. /var/run/netns/NAME).
/// On success returns an fd of the thread's previous namespace (for fb_netns_restore), else -1 with errno.
int fb_netns_enter(const char *path);
/// Returns the calling thread to the namespace `saved_fd` (from fb_netns_enter) and closes it.
int fb_netns_restore(int saved_fd);
/// Moves the calling thread into a new, empty network namespace (only a down `lo`); children it
/// forks from then on are born there. Returns an fd of the previous namespace (for
/// fb_netns_restore), else -1 with errno. Used by the guest init for `RUN --network=none`.
int fb_netns_enter_new(void);
/// Opens a tap device that already exists (attach, no create): returns the fd or -1 with errno.
/// Used to read frames the tc redirect delivers to a tap.
int fb_tap_attach(const char *name);
