// Guest init helpers; see CSyscallsGuest.h. Code after fork() uses only async-signal-safe calls.
#define _GNU_SOURCE
#include "CSyscallsGuest.h"
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/vm_sockets.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <linux/random.h>
#include <time.h>
#include <unistd.h>

static void child_fail(int fd, int stage) {
    int msg[2] = {errno, stage};
    ssize_t r = write(fd, msg, sizeof msg);
    (void)r;
    _exit(127);
}

static int move_fd(int fd, int target) {
    if (fd == target) {  // keep it, but make sure it survives exec
        int flags = fcntl(fd, F_GETFD);
        return flags < 0 ? -1 : fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
    }
    return dup2(fd, target) < 0 ? -1 : 0;
}

pid_t fb_spawn(const char *path, char *const argv[], char *const envp[], int set_ids, uint32_t uid, uint32_t gid,
               const uint32_t *groups, int ngroups, const char *workdir, int stdin_fd, int stdout_fd, int stderr_fd,
               int *err_errno, int *err_stage) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) { *err_errno = errno; *err_stage = 9; return -1; }
    gid_t gids[256];
    int ng = ngroups > 256 ? 256 : ngroups;
    for (int i = 0; i < ng; i++) gids[i] = (gid_t)groups[i];
    pid_t pid = fork();
    if (pid < 0) { *err_errno = errno; *err_stage = 8; close(p[0]); close(p[1]); return -1; }
    if (pid == 0) {
        close(p[0]);
        if (setsid() < 0) child_fail(p[1], 1);
        // stdio targets may collide with each other's numbers: move to high fds first.
        int in = fcntl(stdin_fd, F_DUPFD_CLOEXEC, 10), out = fcntl(stdout_fd, F_DUPFD_CLOEXEC, 10),
            err = fcntl(stderr_fd, F_DUPFD_CLOEXEC, 10);
        if (in < 0 || out < 0 || err < 0) child_fail(p[1], 2);
        if (move_fd(in, 0) < 0 || move_fd(out, 1) < 0 || move_fd(err, 2) < 0) child_fail(p[1], 2);
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_DFL;
        for (int s = 1; s < 65; s++) if (s != SIGKILL && s != SIGSTOP) sigaction(s, &sa, NULL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (set_ids) {
            if (setgroups((size_t)ng, gids) < 0) child_fail(p[1], 3);
            if (setgid((gid_t)gid) < 0) child_fail(p[1], 4);
            if (setuid((uid_t)uid) < 0) child_fail(p[1], 5);
        }
        if (workdir && chdir(workdir) < 0) child_fail(p[1], 6);
        execve(path, argv, envp);
        child_fail(p[1], 7);
    }
    close(p[1]);
    int msg[2];
    ssize_t n;
    do { n = read(p[0], msg, sizeof msg); } while (n < 0 && errno == EINTR);
    close(p[0]);
    if (n == (ssize_t)sizeof msg) {  // exec failed: reap the child, report why
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        *err_errno = msg[0]; *err_stage = msg[1];
        errno = msg[0];
        return -1;
    }
    return pid;
}

int fb_signalfd(const int *signals, int count) {
    sigset_t mask;
    sigemptyset(&mask);
    for (int i = 0; i < count; i++) sigaddset(&mask, signals[i]);
    if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) return -1;
    return signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
}

int fb_signalfd_read(int fd) {
    struct signalfd_siginfo si;
    ssize_t n = read(fd, &si, sizeof si);
    if (n == (ssize_t)sizeof si) return (int)si.ssi_signo;
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
    return -1;
}

void fb_ignore_sigpipe(void) { signal(SIGPIPE, SIG_IGN); }
int fb_set_child_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }

static int ifreq_socket(const char *ifname, struct ifreq *ifr) {
    memset(ifr, 0, sizeof *ifr);
    if (strlen(ifname) >= IFNAMSIZ) { errno = ENAMETOOLONG; return -1; }
    strncpy(ifr->ifr_name, ifname, IFNAMSIZ - 1);
    return socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
}

int fb_if_up(const char *ifname) {
    struct ifreq ifr;
    int s = ifreq_socket(ifname, &ifr);
    if (s < 0) return -1;
    int rc = ioctl(s, SIOCGIFFLAGS, &ifr);
    if (rc == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        rc = ioctl(s, SIOCSIFFLAGS, &ifr);
    }
    int e = errno; close(s); errno = e;
    return rc;
}

static void set_sin(struct sockaddr *sa, uint32_t host_order) {
    struct sockaddr_in *in = (struct sockaddr_in *)sa;
    memset(in, 0, sizeof *in);
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(host_order);
}

int fb_if_set_ipv4(const char *ifname, uint32_t addr, uint32_t netmask) {
    struct ifreq ifr;
    int s = ifreq_socket(ifname, &ifr);
    if (s < 0) return -1;
    set_sin(&ifr.ifr_addr, addr);
    int rc = ioctl(s, SIOCSIFADDR, &ifr);
    if (rc == 0) {
        set_sin(&ifr.ifr_netmask, netmask);
        rc = ioctl(s, SIOCSIFNETMASK, &ifr);
    }
    int e = errno; close(s); errno = e;
    return rc;
}

int fb_if_set_mtu(const char *ifname, int mtu) {
    struct ifreq ifr;
    int s = ifreq_socket(ifname, &ifr);
    if (s < 0) return -1;
    ifr.ifr_mtu = mtu;
    int rc = ioctl(s, SIOCSIFMTU, &ifr);
    int e = errno; close(s); errno = e;
    return rc;
}

int fb_route_add_default(uint32_t gateway, const char *ifname) {
    struct rtentry rt;
    memset(&rt, 0, sizeof rt);
    set_sin(&rt.rt_dst, 0);
    set_sin(&rt.rt_genmask, 0);
    set_sin(&rt.rt_gateway, gateway);
    rt.rt_flags = RTF_UP | RTF_GATEWAY;
    rt.rt_dev = (char *)ifname;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return -1;
    int rc = ioctl(s, SIOCADDRT, &rt);
    int e = errno; close(s); errno = e;
    return rc;
}

int fb_vsock_connect(uint32_t cid, uint32_t port) {
    int s = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return -1;
    struct sockaddr_vm addr;
    memset(&addr, 0, sizeof addr);
    addr.svm_family = AF_VSOCK;
    addr.svm_cid = cid;
    addr.svm_port = port;
    if (connect(s, (struct sockaddr *)&addr, sizeof addr) < 0) { int e = errno; close(s); errno = e; return -1; }
    return s;
}

int fb_vsock_accept_one(uint32_t port) {
    int s = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return -1;
    struct sockaddr_vm addr;
    memset(&addr, 0, sizeof addr);
    addr.svm_family = AF_VSOCK;
    addr.svm_cid = VMADDR_CID_ANY;
    addr.svm_port = port;
    if (bind(s, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(s, 1) < 0) {
        int e = errno; close(s); errno = e; return -1;
    }
    int c;
    do { c = accept4(s, NULL, NULL, SOCK_CLOEXEC); } while (c < 0 && errno == EINTR);
    int e = errno; close(s); errno = e;
    return c;
}

int fb_mount(const char *source, const char *target, const char *fstype, int nosuid, int nodev, int noexec,
             const char *data) {
    unsigned long flags = 0;
    if (nosuid) flags |= MS_NOSUID;
    if (nodev) flags |= MS_NODEV;
    if (noexec) flags |= MS_NOEXEC;
    return mount(source, target, fstype, flags, data);
}

int fb_remount_root_readonly(void) { return mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY, NULL); }

int fb_is_mountpoint(const char *path) {
    struct stat a, b;
    char parent[4096];
    if (stat(path, &a) < 0) return 0;
    size_t n = strlen(path);
    if (n + 4 >= sizeof parent) return 0;
    memcpy(parent, path, n);
    memcpy(parent + n, "/..", 4);
    if (stat(parent, &b) < 0) return 0;
    return a.st_dev != b.st_dev || a.st_ino == b.st_ino;
}

int fb_bind_mount(const char *source, const char *target) { return mount(source, target, NULL, MS_BIND, NULL); }

int fb_private_mount_namespace(void) {
    if (unshare(CLONE_NEWNS) < 0) return -1;
    return mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
}

// Runs before any Swift code (and before the Swift runtime initialises): a statically linked Swift
// program needs /proc to find itself, and a kernel that starts init without an initrd has not
// mounted it. Only acts when this process is PID 1 and /proc is empty.
__attribute__((constructor(101))) static void fb_early_mount_proc(void) {
    if (getpid() != 1 || access("/proc/self", F_OK) == 0) return;
    mkdir("/proc", 0555);
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
}

int fb_disable_ctrl_alt_del(void) { return reboot(RB_DISABLE_CAD); }

int fb_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

void fb_reset_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    for (int s = 1; s < 65; s++) if (s != SIGKILL && s != SIGSTOP) sigaction(s, &sa, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

int fb_o_direct(void) { return O_DIRECT; }

int fb_add_entropy(const unsigned char *bytes, int len) {
    struct { int entropy_count; int buf_size; unsigned char buf[256]; } info;
    if (len < 0 || len > (int)sizeof(info.buf)) { errno = EINVAL; return -1; }
    info.entropy_count = len * 8;
    info.buf_size = len;
    memcpy(info.buf, bytes, (size_t)len);
    int fd = open("/dev/urandom", O_RDWR | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = ioctl(fd, RNDADDENTROPY, &info);
    if (rc == 0) rc = ioctl(fd, RNDRESEEDCRNG);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

int fb_set_realtime(int64_t seconds, int64_t nanoseconds) {
    struct timespec ts = { .tv_sec = (time_t)seconds, .tv_nsec = (long)nanoseconds };
    return clock_settime(CLOCK_REALTIME, &ts);
}
