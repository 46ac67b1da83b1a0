#define _GNU_SOURCE
#include "CSyscallsNet.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int fb_netns_enter(const char *path) {
    int saved = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (saved < 0) return -1;
    int target = open(path, O_RDONLY | O_CLOEXEC);
    if (target < 0) { int e = errno; close(saved); errno = e; return -1; }
    int rc = setns(target, CLONE_NEWNET);
    int e = errno;
    close(target);
    if (rc < 0) { close(saved); errno = e; return -1; }
    return saved;
}

int fb_netns_enter_new(void) {
    int saved = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (saved < 0) return -1;
    if (unshare(CLONE_NEWNET) < 0) { int e = errno; close(saved); errno = e; return -1; }
    return saved;
}

int fb_netns_restore(int saved_fd) {
    int rc = setns(saved_fd, CLONE_NEWNET);
    int e = errno;
    close(saved_fd);
    errno = e;
    return rc;
}

int fb_tap_attach(const char *name) {
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    // Must match the flags the tap was created with (tc-redirect-tap: vnet_hdr, one queue).
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) { int e = errno; close(fd); errno = e; return -1; }
    return fd;
}
