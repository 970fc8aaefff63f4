/*
 * This process's identity, cached. glibc no longer caches getpid(), and a create asks for
 * the pid several times; the start time and the pid namespace need a read of /proc. All
 * are reset in a child after fork (which may be in another pid namespace), through a
 * pthread_atfork handler.
 *
 * The same handlers hold the library's mutexes across fork(): a thread other than the one
 * forking may be inside the library holding one, and the child, which has no such thread,
 * would wait on it for ever. They are registered when the library is loaded, so before any
 * of its mutexes can be held: a first use that takes one (a read-only open takes the
 * registry's and asks for nothing above) could otherwise be forked in the middle of.
 */
#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static pid_t self_pid;
static uint64_t self_start;

static void forget_self(void)
{
    __atomic_store_n(&self_pid, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&self_start, 0, __ATOMIC_RELAXED);
    shmap__forget_pidns();
}

static void before_fork(void)
{
    shmap__registry_hold(true);
    shmap__slots_hold(true);
    shmap__kw_own_hold(true);
}

static void after_fork_in_parent(void)
{
    shmap__kw_own_hold(false);
    shmap__slots_hold(false);
    shmap__registry_hold(false);
}

static void after_fork_in_child(void)
{
    after_fork_in_parent();
    forget_self();
}

/* When the library is loaded (see the top). */
__attribute__((constructor)) static void register_atfork(void)
{
    pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child);
}

pid_t shmap__getpid(void)
{
    pid_t pid = __atomic_load_n(&self_pid, __ATOMIC_RELAXED);
    if (pid)
        return pid;
    pid = getpid();
    __atomic_store_n(&self_pid, pid, __ATOMIC_RELAXED);
    return pid;
}

uint64_t shmap__self_start(void)
{
    uint64_t start = __atomic_load_n(&self_start, __ATOMIC_RELAXED);
    if (start)
        return start;
    start = shmap__proc_start(0); /* /proc/self: ours even where /proc/PID is another's */
    __atomic_store_n(&self_start, start, __ATOMIC_RELAXED);
    return start;
}

int64_t shmap__mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * The calling thread's wait check (shmap_set_wait_check()). Thread-local, so a binding can
 * install one around each of its blocking calls without touching other threads' waits.
 */
static _Thread_local shmap_wait_check_fn wait_check;
static _Thread_local void *wait_check_arg;

void shmap_set_wait_check(shmap_wait_check_fn check, void *arg)
{
    wait_check = check;
    wait_check_arg = check ? arg : NULL;
}

struct shmap__check shmap__wait_check_get(void)
{
    return (struct shmap__check){wait_check, wait_check_arg};
}

int shmap__wait_check_ask(struct shmap__check check)
{
    int rc = check.fn(check.arg);
    /* Only an errno code is passed on: one of ours, SHMAP_EOWNERDEAD above all, would tell
     * the caller something that did not happen. */
    return rc == 0 || (rc < 0 && rc > -4096) ? rc : -ECANCELED;
}
