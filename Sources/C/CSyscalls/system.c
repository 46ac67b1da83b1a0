#define _GNU_SOURCE
#include "CSyscalls.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <spawn.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/reboot.h>
#include <termios.h>
#include <unistd.h>

int fb_reboot_poweroff(void) { sync(); return reboot(RB_POWER_OFF); }
int fb_reboot_restart(void) { sync(); return reboot(RB_AUTOBOOT); }

int fb_tap_open(const char *name, int persist) {
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) { int e = errno; close(fd); errno = e; return -1; }
    if (persist && ioctl(fd, TUNSETPERSIST, 1) < 0) { int e = errno; close(fd); errno = e; return -1; }
    return fd;
}

int fb_setns_net(int fd) { return setns(fd, CLONE_NEWNET); }
int fb_set_controlling_tty(int fd) { return ioctl(fd, TIOCSCTTY, 0); }

ssize_t fb_copy_file_range(int fd_in, int64_t *off_in, int fd_out, int64_t *off_out, size_t len) {
    loff_t in = *off_in, out = *off_out;
    ssize_t n = copy_file_range(fd_in, &in, fd_out, &out, len, 0);
    *off_in = in; *off_out = out;
    return n;
}

int fb_spawn_file_actions_addchdir(posix_spawn_file_actions_t *actions, const char *dir) {
    return posix_spawn_file_actions_addchdir_np(actions, dir);
}
