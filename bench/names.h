/*
 * Names and cleanup for the benchmark programs.
 *
 * Every object a benchmark creates is named "bench-<pid>-...", and registered here before
 * it is created, so that nothing is left in /dev/shm whatever happens:
 *
 *   - the first SIGINT, SIGTERM or SIGHUP sets bench_stop: the measurement loops see it,
 *     stop, and clean up the ordinary way;
 *   - a second one unlinks every registered name at once (async-signal-safe: shm_unlink
 *     only) and exits with 128 + the signal;
 *   - at the end, bench_names_sweep() removes whatever is left in /dev/shm under the prefix,
 *     and shmap's hidden temporary objects of this pid (a create interrupted half-way).
 *
 * Names too long for the table (never the case with the prefix above) are still created;
 * only the sweep then covers them.
 */
#ifndef SHMAP_BENCH_NAMES_H
#define SHMAP_BENCH_NAMES_H

#include <signal.h>
#include <stddef.h>

/* Set by the first signal; the measurement loops poll it. */
extern volatile sig_atomic_t bench_stop;

/* "bench-<pid>", set by bench_names_init(). */
extern char bench_prefix[64];

/* Set the prefix and the program name used in messages; install the signal handlers. */
void bench_names_init(const char *prog);

/* A fresh unique name under the prefix (shmap_name_unique), registered. 0 or a shmap code. */
int bench_name_fresh(char *buf, size_t size);

/* Register a POSIX name (with or without its leading '/') made some other way. */
void bench_name_register(const char *name);

/* shm_unlink every registered name (ENOENT is expected for most). Async-signal-safe. */
void bench_names_unlink(void);

/* Remove what is left under the prefix in /dev/shm; returns how many objects it removed. */
int bench_names_sweep(void);

/* After a failed shmap call: "<prog>: <what>: <message> (<errname>): <detail>". */
void bench_error(const char *what, int rc);

/* After a failed system call (rc = -errno): the same without shmap's detail message, which
 * belongs to an earlier call. */
void bench_syserror(const char *what, int rc);

#endif
