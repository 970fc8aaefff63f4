/*
 * Linux: the futex calls of the lock and notification waits, inline.
 *
 * Design note. A process woken from a futex wait comes back through every function frame
 * that led to the wait, and after a switch between processes none of those returns is
 * predicted (the kernel refills the return stack buffer with harmless entries on a context
 * switch). Each costs about as much as the rest of the wake-up path in user space, so the
 * hand-off of a lock pays for every level of calls around the system call. These are inline
 * and, on x86-64, make the system call themselves rather than through syscall(3), so that a
 * waiter's return path is the lock function's own frames and no more.
 */
#ifndef SHMAP_LINUX_FUTEX_INLINE_H
#define SHMAP_LINUX_FUTEX_INLINE_H

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* futex(2) with four arguments: the kernel's result, -errno on failure. */
static inline __attribute__((always_inline)) long shmap__futex4(uint32_t *addr, int op,
                                                                uint32_t val,
                                                                const struct timespec *ts)
{
#if defined(__x86_64__)
    long ret;
    register const struct timespec *r10 __asm__("r10") = ts;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "0"((long)SYS_futex), "D"(addr), "S"((long)op), "d"((long)val), "r"(r10)
                     : "rcx", "r11", "memory");
    return ret;
#else
    long ret = syscall(SYS_futex, addr, op, val, ts, NULL, 0);
    return ret < 0 ? -errno : ret;
#endif
}

/* Wake every waiter on a futex word. */
static inline __attribute__((always_inline)) void shmap__wake_all(void *addr)
{
    shmap__futex4(addr, FUTEX_WAKE, INT_MAX, NULL);
}

/* Sleep while *addr == val, at most timeout_ns; 0, or -ETIMEDOUT / -EINTR / -EAGAIN (the
 * value differed). */
static inline __attribute__((always_inline)) int shmap__futex_wait(uint32_t *addr, uint32_t val,
                                                                   int64_t timeout_ns)
{
    struct timespec ts = {(time_t)(timeout_ns / 1000000000), (long)(timeout_ns % 1000000000)};
    long rc = shmap__futex4(addr, FUTEX_WAIT, val, &ts);
    return rc < 0 ? (int)rc : 0;
}

#endif
