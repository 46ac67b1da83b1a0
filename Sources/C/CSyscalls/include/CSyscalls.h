// Linux syscalls and ioctls that Glibc does not expose to Swift (reboot is missing,
// syscall and ioctl are variadic).
#pragma once
#include <spawn.h>
#include <stdint.h>
#include <sys/types.h>
#include "CSyscallsGuest.h"

/// Powers the machine off (guest init only). Returns -1 with errno on failure.
int fb_reboot_poweroff(void);
/// Reboots the machine (guest init only).
int fb_reboot_restart(void);
/// Creates (or attaches to) a tap device named `name`; returns the fd or -1 with errno.
int fb_tap_open(const char *name, int persist);
/// Enters the network namespace whose fd is given.
int fb_setns_net(int fd);
/// ioctl(fd, TIOCSCTTY, 0): makes the terminal the controlling one.
int fb_set_controlling_tty(int fd);
/// posix_spawn_file_actions_addchdir_np (glibc 2.29+; not exported to Swift): the child starts in `dir`.
int fb_spawn_file_actions_addchdir(posix_spawn_file_actions_t *actions, const char *dir);
/// copy_file_range(2) (in-kernel copy between files at explicit offsets; offsets are advanced).
ssize_t fb_copy_file_range(int fd_in, int64_t *off_in, int fd_out, int64_t *off_out, size_t len);
#include "CSyscallsNet.h"
#include "CSyscallsEarly.h"
