/* Linux: facts about processes from /proc. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
#include <sys/single_threaded.h>
#define SINGLE_THREADED() (__libc_single_threaded != 0)
#else
#define SINGLE_THREADED() false
#endif
#include <time.h>
#include <unistd.h>

#include "internal.h"

/*
 * Field `want` of /proc/PID/stat (pid 0: /proc/self/stat), numbered as proc(5) numbers them,
 * and the state (field 3).
 * Field 22 is the start time in clock ticks since boot: with the pid it names a process
 * uniquely, since a reused pid has a later start time. The command name (field 2) is in
 * parentheses and may itself hold spaces and parentheses, so parse from the last ')'.
 */
static uint64_t stat_field(pid_t pid, int want, char *state)
{
    char path[64], buf[1024];
    if (pid)
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    else
        snprintf(path, sizeof path, "/proc/self/stat");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    /* After ") " come fields 3.. */
    p++;
    if (state)
        *state = p[0] == ' ' ? p[1] : '?';
    for (int field = 3; field < want; field++) {
        p = strchr(p + 1, ' ');
        if (!p)
            return 0;
    }
    return strtoull(p + 1, NULL, 10);
}

static uint64_t proc_stat(pid_t pid, char *state)
{
    return stat_field(pid, 22, state);
}

/* Field 20 of /proc/self/stat: this process's threads; 0 if unknown. (Not /proc/PID: in
 * a pid namespace whose /proc was not mounted again, that is another process.) */
unsigned shmap__self_threads(void)
{
    return (unsigned)stat_field(0, 20, NULL);
}

/* An ancestor is alive (were it dead, we would have been given to another parent), so its
 * pid names it alone. The walk stops at a parent outside our pid namespace (getppid() and
 * /proc give 0 for it). */
bool shmap__is_ancestor(pid_t pid)
{
    pid_t p = getppid();
    for (int depth = 0; p > 0 && pid > 0 && depth < 1024; depth++) {
        if (p == pid)
            return true;
        p = (pid_t)stat_field(p, 4, NULL); /* field 4: the parent's pid */
    }
    return false;
}

uint64_t shmap__proc_start(pid_t pid)
{
    return proc_stat(pid, NULL);
}

/*
 * A process is dead when kill() says there is no such pid, when /proc shows it a zombie
 * (a holder killed but not yet reaped still answers kill(pid, 0)), or when the pid now
 * names a process that started at another time (the pid was reused).
 */
bool shmap__proc_alive(pid_t pid, uint64_t start)
{
    if (pid <= 0)
        return false;
    if (kill(pid, 0) < 0 && errno == ESRCH)
        return false;
    char state = '?';
    uint64_t now = proc_stat(pid, &state);
    if (now == 0)
        return kill(pid, 0) == 0 || errno != ESRCH;
    if (state == 'Z' || state == 'X' || state == 'x')
        return false;
    return start == 0 || now == start;
}

/* Our pid namespace, once read; forgotten in a child after fork (process.c), which may be
 * in another (unshare(CLONE_NEWPID) or setns() before the fork). */
static uint32_t cached_pidns;

void shmap__forget_pidns(void)
{
    __atomic_store_n(&cached_pidns, 0, __ATOMIC_RELAXED);
}

/* The inode of our pid namespace ("pid:[4026531836]"), low 32 bits; 0 if unknown. */
uint32_t shmap__self_pidns(void)
{
    uint32_t ns = __atomic_load_n(&cached_pidns, __ATOMIC_RELAXED);
    if (ns)
        return ns;
    char buf[64];
    ssize_t n = readlink("/proc/self/ns/pid", buf, sizeof buf - 1);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *p = strchr(buf, '[');
    ns = p ? (uint32_t)strtoull(p + 1, NULL, 10) : 0;
    __atomic_store_n(&cached_pidns, ns, __ATOMIC_RELAXED);
    return ns;
}

/*
 * The umask. umask() can only be asked by setting it; in a process with one thread nobody
 * can create a file between the two calls, so that costs two system calls. With other
 * threads it is read without changing it, from the "Umask:" line of
 * /proc/thread-self/status (Linux 4.7 and later; tens of microseconds). Without that file,
 * it is set to 077 for the moment between the two calls, so a file another thread creates
 * meanwhile gets fewer permissions, never more.
 */
static mode_t umask_by_setting(void)
{
    mode_t mask = umask(077);
    umask(mask);
    return mask & 0777;
}

mode_t shmap__umask(void)
{
    if (SINGLE_THREADED())
        return umask_by_setting();
    char buf[512];
    int fd = open("/proc/thread-self/status", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n > 0) {
        buf[n] = '\0';
        const char *line = strstr(buf, "\nUmask:");
        char *end;
        unsigned long v = line ? strtoul(line + 7, &end, 8) : 0;
        if (line && end != line + 7 && v <= 0777)
            return (mode_t)v;
    }
    return umask_by_setting();
}
