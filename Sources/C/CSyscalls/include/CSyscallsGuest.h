// Helpers for firebuild-init (the guest's PID 1): process spawning with user/groups/workdir,
// signalfd, IPv4 interface and route ioctls, AF_VSOCK, mounts. All return -1 with errno set on
// failure unless documented otherwise.
#pragma once
#include <stdint.h>
#include <sys/types.h>

/// fork + (setsid, dup2 stdio, default signals, setgroups/setgid/setuid when set_ids, chdir) + execve.
/// Returns the child pid; on failure -1 and *err_errno / *err_stage (1 setsid, 2 dup2, 3 setgroups,
/// 4 setgid, 5 setuid, 6 chdir, 7 execve, 8 fork, 9 pipe).
pid_t fb_spawn(const char *path, char *const argv[], char *const envp[], int set_ids, uint32_t uid, uint32_t gid,
               const uint32_t *groups, int ngroups, const char *workdir, int stdin_fd, int stdout_fd, int stderr_fd,
               int *err_errno, int *err_stage);
/// Blocks the given signals and returns a non-blocking, close-on-exec signalfd for them.
int fb_signalfd(const int *signals, int count);
/// Reads one signal from a signalfd: returns the signal number, 0 when none is pending, -1 on error.
int fb_signalfd_read(int fd);
/// Ignores SIGPIPE (writes to a closed channel return EPIPE instead of killing init).
void fb_ignore_sigpipe(void);
/// prctl(PR_SET_CHILD_SUBREAPER): orphans are re-parented to us when we are not PID 1 (test mode).
int fb_set_child_subreaper(void);

/// Brings an interface up (IFF_UP | IFF_RUNNING).
int fb_if_up(const char *ifname);
/// Sets the IPv4 address and netmask (host byte order) of an interface.
int fb_if_set_ipv4(const char *ifname, uint32_t addr, uint32_t netmask);
int fb_if_set_mtu(const char *ifname, int mtu);
/// Adds a default route via `gateway` (host byte order) on `ifname`.
int fb_route_add_default(uint32_t gateway, const char *ifname);

/// Connects an AF_VSOCK stream socket to (cid, port); returns the fd.
int fb_vsock_connect(uint32_t cid, uint32_t port);
/// Listens on AF_VSOCK `port` and accepts one connection; returns the connected fd.
int fb_vsock_accept_one(uint32_t port);

/// mount(2) with the common flags spelled out (Swift cannot import the MS_* enum reliably).
int fb_mount(const char *source, const char *target, const char *fstype, int nosuid, int nodev, int noexec,
             const char *data);
/// Remounts / read-only (before power-off, so ext4 is clean).
int fb_remount_root_readonly(void);
/// True (1) when `path` is a mount point other than its parent's filesystem.
int fb_is_mountpoint(const char *path);
/// Bind-mounts `source` onto `target` (both must exist).
int fb_bind_mount(const char *source, const char *target);
/// unshare(CLONE_NEWNS), then makes every mount private (MS_REC|MS_PRIVATE on /): mounts made
/// afterwards exist only for this process and its children (RUN --mount).
int fb_private_mount_namespace(void);
/// reboot(RB_DISABLE_CAD): Ctrl-Alt-Del then sends SIGINT to PID 1 instead of an instant reboot
/// (Firecracker's SendCtrlAltDel becomes a graceful shutdown).
int fb_disable_ctrl_alt_del(void);
/// pipe2(fds, O_CLOEXEC) (pipe2 is a GNU extension Swift's Glibc module does not export).
int fb_pipe_cloexec(int fds[2]);
/// Restores default dispositions and an empty signal mask (before exec'ing the image's own init).
void fb_reset_signals(void);

/// The O_DIRECT open flag (Swift's Glibc module does not export it; its value differs by architecture).
int fb_o_direct(void);

/// Credits `len` bytes (at most 256) from the host to the kernel's entropy pool (RNDADDENTROPY),
/// then forces the CRNG to reseed (RNDRESEEDCRNG): a VM restored from a boot template would
/// otherwise go on from the template's random state. Returns -1 with errno on failure.
int fb_add_entropy(const unsigned char *bytes, int len);
/// clock_settime(CLOCK_REALTIME) to `seconds` + `nanoseconds` since the epoch.
int fb_set_realtime(int64_t seconds, int64_t nanoseconds);
