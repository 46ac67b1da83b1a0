// Early boot helpers for firebuild-init when the kernel starts it as the initramfs's /init
// (GuestInit/EarlyBoot.swift): module loading without forking insmod, the root mount, and the
// switch into the new root. All return -1 with errno set on failure.
#pragma once

/// finit_module(fd, "", 0): loads the kernel module in the open file `fd`.
int fb_finit_module(int fd);
/// Mounts block device `source` (filesystem `fstype`) on `target`, read-only when `readonly`.
int fb_mount_root(const char *source, const char *target, const char *fstype, int readonly);
/// mount --move `from` `to`.
int fb_move_mount(const char *from, const char *to);
/// umount -l `path` (detach now, clean up when no longer busy).
int fb_umount_lazy(const char *path);
/// The switch_root step after everything is mounted under `newroot`: chdir(newroot), move it
/// onto /, chroot(.), chdir(/). The initramfs's files stay; the caller deletes them first.
int fb_enter_new_root(const char *newroot);
/// argv[0] as the process was started (kept by a constructor; "" when unknown).
const char *fb_argv0(void);
/// Takes SWIFT_DETERMINISTIC_HASHING (set for PID 1 by a constructor) out again: call first in main.
void fb_restore_environ(void);
/// 1 when the root filesystem is the initramfs (rootfs: ramfs or tmpfs), else 0.
int fb_root_is_initramfs(void);
