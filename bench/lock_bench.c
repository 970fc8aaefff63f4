/*
 * Lock hand-off: how long the exclusive lock takes to pass from a process that releases it
 * to a process asleep waiting for it, beside a bare futex lock handed off the same way in
 * the same run.
 *
 *   shmap-bench-lock [--quick] [--strict]
 *
 * Design note. Two processes, A (this one) and B (its child), share a segment made with
 * shmap_create() and an anonymous shared page holding the bare futex lock words and the
 * clock readings. In each round one process holds the lock and the other, the waiter, announces
 * that it is about to block and calls the lock function. The holder then waits until the
 * waiter is really asleep in the kernel, not spinning nor on its way: it polls, 10 us
 * apart, until (1) the lock word says a sleeper is registered (shmap_lock_info().waiters,
 * which is the SLEEP bit a waiter sets just before its FUTEX_WAIT; the value 2 of the bare
 * word, likewise), (2) /proc/PID/stat shows the waiter in state S, and (3) where the kernel
 * shows it, /proc/PID/wchan names a futex function. Between its announcement and the
 * return from the lock call the waiter blocks nowhere else, so S there means asleep on the
 * lock. (A shmap waiter also wakes by itself every 10 ms to check the holder; a release
 * that lands in that instant finds it running. That is rare and moves no median.) The
 * holder then reads CLOCK_MONOTONIC into the shared page and releases; the waiter reads
 * the clock the moment its lock call returns with the lock held. One sample is the
 * difference. The waiter now holds the lock and is the holder of that lock's next round
 * (ping-pong), so both processes play both roles.
 *
 * Mechanisms, interleaved round by round (the order rotates), each a process-shared futex:
 *
 *   shmap            shmap_lock(SHMAP_LOCK_EXCLUSIVE, -1) / shmap_unlock();
 *   bare futex       a three-state lock word (0 free, 1 held, 2 held with sleepers):
 *                    FUTEX_WAIT without a timeout, FUTEX_WAKE of one waiter on a release
 *                    that finds 2;
 *   futex, 10 ms     a second word like it, the waiter sleeping with a 10 ms timeout, as
 *                    shmap's waiters do (they wake every 10 ms to check that the holder is
 *                    alive): what arming and cancelling that timer costs on the wake path.
 *
 * Once with the two processes on different CPUs, once with both on the same CPU. Target:
 * shmap's median <= 1.0x the bare futex's. B ignores SIGINT and SIGTERM and dies with A
 * (PR_SET_PDEATHSIG); A stops at a round's end on the first signal, releases what it holds
 * so B can finish its step, and tells B to quit.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "names.h"
#include "shmap.h"

#define ROUNDS 2000      /* hand-offs per mechanism and placement */
#define QUICK_ROUNDS 200
#define TARGET_VS_FUTEX 1.0
#define SLICE_NS 10000000L   /* the timed baseline's FUTEX_WAIT timeout, as shmap's */
#define POLL_NS 10000L       /* between two looks at the waiter */
#define ASLEEP_LIMIT_NS 2e9  /* a waiter not asleep by then is an error */
#define PEER_LIMIT_NS 10e9   /* the other process not answering by then is an error */

enum mech { M_SHMAP, M_FUTEX, M_FUTEX_TIMED, NMECH };
static const char *const mech_names[NMECH] = {"shmap lock/unlock", "bare futex",
                                              "futex, 10 ms waits"};

/* The shared page. Each bare lock word has a cache line to itself. */
struct shared {
    _Alignas(64) uint32_t word;       /* the bare futex lock */
    _Alignas(64) uint32_t word_timed; /* the same, waited on in 10 ms slices */
    _Alignas(64) uint32_t ready;      /* round + 1: the waiter is about to call lock */
    uint32_t acquired;                /* round + 1: the waiter returned holding the lock */
    uint32_t quit;                    /* A tells B to stop */
    int32_t failed;                   /* B's error code, when it gives up */
    double t_release, t_acquired;     /* CLOCK_MONOTONIC, ns */
    char msg[256];                    /* B's error detail */
};

/* One process's side of the game. */
struct side {
    struct shared *sh;
    shmap_seg *seg;      /* this process's own handle */
    pid_t peer;          /* the other process */
    pid_t child;         /* in A: B, to notice that it exited; in B: 0 */
    bool child_gone;     /* A reaped B already */
    bool held[NMECH];    /* the locks this process holds */
    const char *why;     /* what timed out, when a wait did */
};

/* Set in A when B exits: the SIGCHLD interrupts a FUTEX_WAIT that B would never end. */
static volatile sig_atomic_t g_child_exited;

static void on_child(int sig)
{
    (void)sig;
    g_child_exited = 1;
}

static long futex(uint32_t *w, int op, uint32_t val, const struct timespec *ts)
{
    return syscall(SYS_futex, w, op, val, ts, NULL, 0);
}

static int bare_lock(uint32_t *w, bool timed)
{
    uint32_t c = 0;
    if (__atomic_compare_exchange_n(w, &c, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return 0;
    if (c != 2)
        c = __atomic_exchange_n(w, 2, __ATOMIC_ACQUIRE);
    while (c != 0) {
        const struct timespec slice = {0, SLICE_NS};
        if (g_child_exited) /* a SIGCHLD just before the wait would not interrupt it */
            return -ECHILD;
        if (futex(w, FUTEX_WAIT, 2, timed ? &slice : NULL) < 0 && errno == EINTR &&
            (bench_stop || g_child_exited))
            return bench_stop ? -EINTR : -ECHILD;
        c = __atomic_exchange_n(w, 2, __ATOMIC_ACQUIRE);
    }
    return 0;
}

static void bare_unlock(uint32_t *w)
{
    if (__atomic_exchange_n(w, 0, __ATOMIC_RELEASE) == 2)
        futex(w, FUTEX_WAKE, 1, NULL);
}

static uint32_t *bare_word(struct side *s, enum mech m)
{
    return m == M_FUTEX_TIMED ? &s->sh->word_timed : &s->sh->word;
}

static int lock_mech(struct side *s, enum mech m)
{
    int rc = m == M_SHMAP ? shmap_lock(s->seg, SHMAP_LOCK_EXCLUSIVE, -1)
                          : bare_lock(bare_word(s, m), m == M_FUTEX_TIMED);
    /* SHMAP_EOWNERDEAD (the other process died holding it) is an error here, lock held. */
    if (rc == 0 || rc == SHMAP_EOWNERDEAD)
        s->held[m] = true;
    return rc;
}

static int unlock_mech(struct side *s, enum mech m)
{
    s->held[m] = false;
    if (m == M_SHMAP)
        return shmap_unlock(s->seg);
    bare_unlock(bare_word(s, m));
    return 0;
}

static void release_all(struct side *s)
{
    for (int m = 0; m < NMECH; m++)
        if (s->held[m])
            unlock_mech(s, (enum mech)m);
}

static void sleep_ns(long ns)
{
    struct timespec ts = {0, ns};
    nanosleep(&ts, NULL);
}

/* Read a small /proc file into buf as a string; its length, or -1. */
static ssize_t read_small(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return n;
}

/* Is the process asleep in a futex wait? See the design note. */
static bool asleep_in_futex(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (read_small(path, buf, sizeof buf) <= 0)
        return false;
    const char *p = strrchr(buf, ')'); /* the command name may hold anything */
    if (!p || p[1] != ' ' || p[2] != 'S')
        return false;
    snprintf(path, sizeof path, "/proc/%d/wchan", (int)pid);
    if (read_small(path, buf, sizeof buf) <= 0 || strcmp(buf, "0") == 0)
        return true; /* the kernel does not say where: state S is what we know */
    return strstr(buf, "futex") != NULL;
}

/* Has the waiter registered itself as a sleeper in the lock word? */
static bool sleeper_registered(struct side *s, enum mech m)
{
    if (m != M_SHMAP)
        return __atomic_load_n(bare_word(s, m), __ATOMIC_ACQUIRE) == 2;
    shmap_lockinfo li;
    return shmap_lock_info(s->seg, &li) == 0 && li.waiters;
}

/* A: did B exit? (reaps it) */
static bool child_exited(struct side *s)
{
    if (s->child <= 0 || s->child_gone)
        return s->child_gone;
    if (waitpid(s->child, NULL, WNOHANG) == s->child)
        s->child_gone = true;
    return s->child_gone;
}

/* Why the wait must stop, or 0: A stops on a signal or when B is gone, B when A says so. */
static int interrupted(struct side *s)
{
    if (s->child > 0)
        return bench_stop ? -EINTR : child_exited(s) ? -ECHILD : 0;
    return __atomic_load_n(&s->sh->quit, __ATOMIC_ACQUIRE) ? -EINTR : 0;
}

/*
 * Wait until *w == want, asleep on the futex in 50 ms slices. It goes to sleep first and
 * looks at the other process afterwards, so that a holder that has just released blocks
 * at once and, on a shared CPU, leaves it to the waiter as soon as it can.
 */
static int wait_for(struct side *s, uint32_t *w, uint32_t want)
{
    double deadline = 0;
    for (;;) {
        uint32_t v = __atomic_load_n(w, __ATOMIC_ACQUIRE);
        if (v == want)
            return 0;
        const struct timespec slice = {0, 50000000L};
        futex(w, FUTEX_WAIT, v, &slice);
        if (__atomic_load_n(w, __ATOMIC_ACQUIRE) == want)
            return 0;
        int rc = interrupted(s);
        if (rc < 0)
            return rc;
        if (deadline == 0) {
            deadline = bench_now_ns() + PEER_LIMIT_NS;
        } else if (bench_now_ns() > deadline) {
            s->why = "the other process did not answer within 10 s";
            return -ETIMEDOUT;
        }
    }
}

static int wait_asleep(struct side *s, enum mech m)
{
    double deadline = bench_now_ns() + ASLEEP_LIMIT_NS;
    while (!(sleeper_registered(s, m) && asleep_in_futex(s->peer))) {
        int rc = interrupted(s);
        if (rc < 0)
            return rc;
        if (bench_now_ns() > deadline) {
            s->why = "the waiting process did not fall asleep on the lock within 2 s";
            return -ETIMEDOUT;
        }
        sleep_ns(POLL_NS);
    }
    return 0;
}

/* Round r, mechanism m: hand the lock over (holder) or take it (waiter). A gets the sample. */
static int handoff(struct side *s, uint32_t r, enum mech m, bool holder, double *sample)
{
    struct shared *sh = s->sh;
    if (!holder) {
        __atomic_store_n(&sh->ready, r + 1, __ATOMIC_RELEASE);
        futex(&sh->ready, FUTEX_WAKE, 1, NULL);
        int rc = lock_mech(s, m);
        double t1 = bench_now_ns();
        if (rc < 0)
            return rc;
        sh->t_acquired = t1;
        __atomic_store_n(&sh->acquired, r + 1, __ATOMIC_RELEASE);
        futex(&sh->acquired, FUTEX_WAKE, 1, NULL);
        if (sample) /* t_release was written before the release we acquired through */
            *sample = t1 - sh->t_release;
        return 0;
    }
    int rc = wait_for(s, &sh->ready, r + 1);
    if (rc == 0)
        rc = wait_asleep(s, m);
    if (rc < 0)
        return rc;
    double t0 = bench_now_ns();
    sh->t_release = t0;
    rc = unlock_mech(s, m);
    if (rc == 0)
        rc = wait_for(s, &sh->acquired, r + 1);
    if (rc == 0 && sample)
        *sample = sh->t_acquired - t0;
    return rc;
}

/*
 * Play `rounds` hand-offs of every mechanism. Round r belongs to mechanism (r + k) % NMECH
 * where k = r / NMECH, so the order rotates; in block k, A holds every lock when k is even.
 */
static int play(struct side *s, bool is_a, unsigned rounds, double *samples[NMECH])
{
    for (uint32_t r = 0; r < rounds * NMECH; r++) {
        uint32_t k = r / NMECH;
        enum mech m = (enum mech)((r + k) % NMECH);
        bool holder = (k % 2 == 0) == is_a;
        double x = 0;
        int rc = handoff(s, r, m, holder, is_a ? &x : NULL);
        if (rc < 0)
            return rc;
        if (is_a) {
            samples[m][k] = x;
            if (bench_stop)
                return -EINTR;
        }
    }
    return 0;
}

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
}

static void unpin(void)
{
    cpu_set_t all;
    CPU_ZERO(&all);
    for (int c = 0; c < CPU_SETSIZE; c++)
        CPU_SET(c, &all);
    sched_setaffinity(0, sizeof all, &all);
}

/* B: its own handle on the segment, then the game. */
static void child_main(struct shared *sh, const char *name, int cpu, unsigned rounds)
{
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    pin(cpu);
    struct side s = {sh, NULL, getppid(), 0, false, {false}, NULL};
    int rc = shmap_open(&s.seg, name, SHMAP_RDWR);
    if (rc == 0)
        rc = play(&s, false, rounds, NULL);
    if (rc < 0 && !__atomic_load_n(&sh->quit, __ATOMIC_ACQUIRE)) {
        snprintf(sh->msg, sizeof sh->msg, "%s", s.why ? s.why : shmap_last_error());
        __atomic_store_n(&sh->failed, rc, __ATOMIC_RELEASE);
    }
    release_all(&s);
    _exit(rc < 0 ? 1 : 0);
}

struct result {
    struct bench_stats st[NMECH];
};

/* One placement: A on cpu_a, B on cpu_b. */
static int placement(const char *name, int cpu_a, int cpu_b, unsigned rounds, struct result *res)
{
    struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
                             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) {
        bench_syserror("shared page", -errno);
        return -errno;
    }
    memset(sh, 0, sizeof *sh);
    double *samples[NMECH] = {NULL};
    int rc = 0;
    for (int m = 0; m < NMECH; m++)
        if (!(samples[m] = calloc(rounds, sizeof(double))))
            rc = -ENOMEM;
    struct side a = {sh, NULL, 0, 0, false, {false}, NULL};
    pid_t me = getpid();
    const uint64_t one = 1;
    if (rc == 0 && (rc = shmap_create(&a.seg, name, SHMAP_U8, 1, &one, NULL)) < 0)
        bench_error("create", rc);
    /* A holds every lock before B exists, so B's first lock call waits. */
    for (int m = 0; rc == 0 && m < NMECH; m++)
        if ((rc = lock_mech(&a, (enum mech)m)) < 0)
            bench_error("first lock", rc);
    pid_t b = -1;
    g_child_exited = 0;
    if (rc == 0) {
        fflush(stdout);
        b = fork();
        if (b < 0) {
            rc = -errno;
            bench_syserror("fork", rc);
        }
    }
    if (b == 0) {
        signal(SIGCHLD, SIG_DFL);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != me) /* A died before the line above */
            _exit(1);
        child_main(sh, name, cpu_b, rounds);
    }
    if (b > 0) {
        pin(cpu_a);
        a.peer = a.child = b;
        rc = play(&a, true, rounds, samples);
        int failed = __atomic_load_n(&sh->failed, __ATOMIC_ACQUIRE);
        if (rc == -ECHILD && failed) {
            fprintf(stderr, "shmap-bench-lock: the other process failed: %s (%s)%s%s\n",
                    shmap_strerror(failed), shmap_errname(failed), sh->msg[0] ? ": " : "",
                    sh->msg);
        } else if (rc == -ECHILD) {
            fprintf(stderr, "shmap-bench-lock: the other process exited unexpectedly\n");
        } else if (rc < 0 && a.why) {
            fprintf(stderr, "shmap-bench-lock: hand-off: %s\n", a.why);
        } else if (rc < 0 && rc != -EINTR) {
            bench_error("hand-off", rc);
        }
        /* Let B finish whatever step it is in, then stop it. */
        __atomic_store_n(&sh->quit, 1, __ATOMIC_RELEASE);
        release_all(&a);
        futex(&sh->ready, FUTEX_WAKE, 1, NULL);
        futex(&sh->acquired, FUTEX_WAKE, 1, NULL);
        double deadline = bench_now_ns() + 2e9;
        while (!child_exited(&a) && bench_now_ns() < deadline)
            sleep_ns(1000000L);
        if (!a.child_gone) {
            kill(b, SIGKILL);
            waitpid(b, NULL, 0);
        }
        unpin();
    }
    if (rc == 0)
        for (int m = 0; m < NMECH; m++)
            bench_stats_of(samples[m], rounds, &res->st[m]);
    release_all(&a);
    if (a.seg) {
        int crc = shmap_close(a.seg);
        if (crc < 0) {
            bench_error("close", crc);
            rc = rc < 0 ? rc : crc;
        }
    }
    for (int m = 0; m < NMECH; m++)
        free(samples[m]);
    munmap(sh, sizeof *sh);
    return rc;
}

int main(int argc, char **argv)
{
    int quick, strict;
    if (bench_flags(argc, argv, &quick, &strict) != 0)
        return 2;
    unsigned rounds = quick ? QUICK_ROUNDS : ROUNDS;
    bench_names_init("shmap-bench-lock");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_child; /* no SA_RESTART: a futex wait returns EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, NULL);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    printf("lock hand-off between two processes: from just before the holder's unlock to the\n"
           "waiter's return from lock, the waiter asleep on the futex; median and p90 in\n"
           "microseconds, %u hand-offs each, mechanisms interleaved round by round in this run\n\n",
           rounds);
    printf("%-11s %-19s %8s %8s %8s  %s\n", "placement", "mechanism", "median", "(p90)",
           "/futex", "target");
    double t0 = bench_now_ns();
    int missed = 0, rc = 0;
    for (int same = 0; same < 2 && rc == 0 && !bench_stop; same++) {
        if (!same && ncpu < 2)
            continue;
        char name[SHMAP_NAME_MAX];
        struct result r;
        memset(&r, 0, sizeof r);
        if ((rc = bench_name_fresh(name, sizeof name)) < 0) {
            bench_error("unique name", rc);
            break;
        }
        if ((rc = placement(name, 0, same ? 0 : 1, rounds, &r)) < 0)
            break;
        double futex_med = r.st[M_FUTEX].median;
        for (int m = 0; m < NMECH; m++) {
            const char *target = "";
            if (m == M_SHMAP) {
                int ok = r.st[m].median <= TARGET_VS_FUTEX * futex_med;
                missed += !ok;
                target = ok ? "<= 1.0x futex: ok" : "<= 1.0x futex: MISSED";
            }
            printf("%-11s %-19s %8.2f %8.2f %7.2fx  %s\n",
                   m == 0 ? (same ? "same CPU" : "other CPUs") : "", mech_names[m],
                   r.st[m].median / 1e3, r.st[m].p90 / 1e3,
                   futex_med > 0 ? r.st[m].median / futex_med : 0, target);
        }
    }
    bench_names_unlink();
    int left = bench_names_sweep();
    if (left)
        fprintf(stderr, "shmap-bench-lock: removed %d leftover object(s) of ours\n", left);
    if (bench_stop) {
        fprintf(stderr, "shmap-bench-lock: interrupted\n");
        return 1;
    }
    if (rc < 0 || left)
        return 1;
    printf("\n%.1f s in all\n", (bench_now_ns() - t0) / 1e9);
    if (missed)
        printf("%d target(s) missed%s\n", missed, strict ? "" : " (not an error without --strict)");
    return strict && missed ? 1 : 0;
}
