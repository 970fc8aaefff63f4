/*
 * This process's identity, cached. glibc no longer caches getpid(), and a create asks for
 * the pid several times; the start time needs a read of /proc. Both are reset in a child
 * after fork, through a pthread_atfork handler registered on first use.
 */
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static pid_t self_pid;
static uint64_t self_start;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void forget_self(void)
{
    __atomic_store_n(&self_pid, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&self_start, 0, __ATOMIC_RELAXED);
}

static void register_atfork(void)
{
    pthread_atfork(NULL, NULL, forget_self);
}

pid_t shmap__getpid(void)
{
    pid_t pid = __atomic_load_n(&self_pid, __ATOMIC_RELAXED);
    if (pid)
        return pid;
    pthread_once(&atfork_once, register_atfork);
    pid = getpid();
    __atomic_store_n(&self_pid, pid, __ATOMIC_RELAXED);
    return pid;
}

uint64_t shmap__self_start(void)
{
    uint64_t start = __atomic_load_n(&self_start, __ATOMIC_RELAXED);
    if (start)
        return start;
    start = shmap__proc_start(shmap__getpid());
    __atomic_store_n(&self_start, start, __ATOMIC_RELAXED);
    return start;
}

int64_t shmap__mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
