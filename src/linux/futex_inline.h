/*
 * Linux: the futex calls of the lock and notification waits, inline (internal.h includes
 * this; a port to another system replaces it).
 *
 * Design note. A process woken from a futex wait comes back through every function frame
 * that led to the wait, and after a switch between processes those returns are seldom
 * predicted (the return stack buffer holds the kernel's or the other process's entries, or
 * harmless ones the kernel put there). Measured here, each costs about as much as the rest
 * of the wake-up path in user space, so the hand-off of a lock pays for every level of calls
 * around the system call. These are inline and, on x86-64, make the system call themselves
 * rather than through syscall(3), so that a waiter's return path is the lock function's own
 * frames and no more. They return a negative errno and leave errno alone there (its callers
 * read only what these return).
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

/* The futex call that reads this build's struct timespec. On a 32-bit system built with a
 * 64-bit time_t (_TIME_BITS=64, as Debian's 32-bit ports are), that is futex_time64 (Linux
 * 5.1): the plain call would read the timeout in the old 32-bit layout. */
#if !defined(__LP64__) && defined(SYS_futex_time64) && defined(SYS_futex)
#define SHMAP__SYS_FUTEX (sizeof(time_t) > sizeof(long) ? SYS_futex_time64 : SYS_futex)
#elif !defined(__LP64__) && defined(SYS_futex_time64)
#define SHMAP__SYS_FUTEX SYS_futex_time64
#else
#define SHMAP__SYS_FUTEX SYS_futex
#endif

/* futex(2) with four arguments: the kernel's result, -errno on failure. */
static inline __attribute__((always_inline)) long shmap__futex4(uint32_t *addr, int op,
                                                                uint32_t val,
                                                                const struct timespec *ts)
{
#if defined(__x86_64__) && defined(__LP64__) /* not x32, whose pointers are 32 bits */
    long ret;
    register const struct timespec *r10 __asm__("r10") = ts;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "0"((long)SYS_futex), "D"(addr), "S"((long)op), "d"((long)val), "r"(r10)
                     : "rcx", "r11", "memory");
    return ret;
#else
    long ret = syscall(SHMAP__SYS_FUTEX, addr, op, val, ts, NULL, 0);
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
