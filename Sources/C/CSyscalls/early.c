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
// Not setenv(): it moves `environ` to the heap, and Swift's CommandLine.arguments then came out
// empty (measured; on Linux the runtime finds argv next to the original environ). Instead the last
// entry of the original array is swapped for the variable, and main() swaps it back with
// fb_restore_environ() (the kernel always gives init HOME and TERM). Also keeps argv[0] for early
// boot's "/init" check.
static const char *saved_argv0 = "";
static char **swapped_slot = NULL;
static char *swapped_entry = NULL;
static char deterministic_hashing[] = "SWIFT_DETERMINISTIC_HASHING=1";
__attribute__((constructor(102))) static void fb_early_start(int argc, char **argv, char **envp) {
    (void)envp;
    if (argc > 0 && argv && argv[0]) saved_argv0 = argv[0];
    if (getpid() != 1 || getenv("SWIFT_DETERMINISTIC_HASHING") != NULL || environ == NULL || environ[0] == NULL) return;
    char **last = environ;
    while (last[1]) last++;
    swapped_slot = last;
    swapped_entry = *last;
    *last = deterministic_hashing;
}

const char *fb_argv0(void) { return saved_argv0; }

void fb_restore_environ(void) {
    if (swapped_slot && *swapped_slot == deterministic_hashing) *swapped_slot = swapped_entry;
    swapped_slot = NULL;
}
