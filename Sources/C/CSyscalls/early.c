// Early boot helpers; see CSyscallsEarly.h.
#define _GNU_SOURCE
#include "CSyscallsEarly.h"
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef RAMFS_MAGIC
#define RAMFS_MAGIC 0x858458f6
#endif
#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif

int fb_finit_module(int fd) { return (int)syscall(SYS_finit_module, fd, "", 0); }

int fb_mount_root(const char *source, const char *target, const char *fstype, int readonly) {
    return mount(source, target, fstype, readonly ? MS_RDONLY : 0, NULL);
}

int fb_move_mount(const char *from, const char *to) { return mount(from, to, NULL, MS_MOVE, NULL); }

int fb_umount_lazy(const char *path) { return umount2(path, MNT_DETACH); }

int fb_enter_new_root(const char *newroot) {
    if (chdir(newroot) < 0) return -1;
    if (mount(".", "/", NULL, MS_MOVE, NULL) < 0) return -1;
    if (chroot(".") < 0) return -1;
    return chdir("/");
}

int fb_root_is_initramfs(void) {
    struct statfs s;
    if (statfs("/", &s) < 0) return 0;
    return s.f_type == RAMFS_MAGIC || s.f_type == TMPFS_MAGIC;
}

// The Swift runtime seeds its hashing in a global constructor with a blocking getrandom(): as
// PID 1, early in boot (before virtio-rng is loaded, and under TCG without RDRAND), that stalls
// start-up until the kernel's CRNG is ready, about a second. Runs after the /proc mount (101)
// and before the runtime's default-priority constructors. The init's hash tables only hold
// trusted data; main() drops the variable so nothing it starts inherits it.
// Also keeps argv[0]: as PID 1 straight from the kernel, Swift's CommandLine.arguments came out
// empty (measured), and early boot needs to know whether the kernel ran us as "/init".
static const char *saved_argv0 = "";
__attribute__((constructor(102))) static void fb_early_start(int argc, char **argv, char **envp) {
    (void)envp;
    if (argc > 0 && argv && argv[0]) saved_argv0 = argv[0];
    if (getpid() == 1) setenv("SWIFT_DETERMINISTIC_HASHING", "1", 0);
}

const char *fb_argv0(void) { return saved_argv0; }
