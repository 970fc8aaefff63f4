/*
 * Change notification: how long a publish takes to wake a process waiting for it, beside a
 * bare futex ping-pong and a POSIX semaphore ping-pong measured in the same run, and how
 * many 512x512 float32 frames per second a writer and a reader using shmap_read_frame move.
 *
 * Latency is measured as a ping-pong between two processes: A publishes on one segment, B
 * (waiting on it) publishes on another, A (waiting there) takes the time. Half a round trip
 * is one publish-to-wake. Both sides block in the kernel every time, as a consumer waiting
 * for a frame does; nobody spins. The three mechanisms run in alternating blocks, so drift
 * on a shared machine hits them alike. Run once with the two processes on different CPUs
 * and once with both on the same CPU.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "shmap.h"

#define ROUNDS 10000 /* round trips per mechanism and placement */
#define BLOCK 500    /* round trips per block before switching mechanism */
#define TARGET_VS_FUTEX 1.2

enum mech { M_SHMAP, M_FUTEX, M_SEM, NMECH };
static const char *const mech_names[NMECH] = {"shmap publish/wait", "bare futex",
                                              "POSIX semaphore"};

/* Shared between the two processes: a bare futex pair, a semaphore pair, a command word. */
struct shared {
    uint32_t ping, pong;   /* futex words */
    sem_t sping, spong;
    uint32_t command;      /* which mechanism B serves next (futex word), or QUIT */
    uint32_t command_seq;
    uint32_t ready;        /* B has read the generation it starts from */
};
#define QUIT 99u

static char ping_name[64], pong_name[64];

static void futex_wait(uint32_t *w, uint32_t v)
{
    syscall(SYS_futex, w, FUTEX_WAIT, v, NULL, NULL, 0);
}

static void futex_wake(uint32_t *w)
{
    syscall(SYS_futex, w, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
}

/* B: serve blocks of round trips as A commands them. */
static void responder(struct shared *sh, int cpu)
{
    pin(cpu);
    shmap_seg *ping = NULL, *pong = NULL;
    if (shmap_open(&ping, ping_name, SHMAP_RDONLY) < 0 ||
        shmap_open(&pong, pong_name, SHMAP_RDWR) < 0)
        _exit(1);
    uint64_t seen = shmap_generation(ping);
    uint32_t seq = 0;
    __atomic_store_n(&sh->ready, 1, __ATOMIC_RELEASE);
    futex_wake(&sh->ready);
    for (;;) {
        uint32_t s;
        while ((s = __atomic_load_n(&sh->command_seq, __ATOMIC_ACQUIRE)) == seq)
            futex_wait(&sh->command_seq, seq);
        seq = s;
        uint32_t cmd = __atomic_load_n(&sh->command, __ATOMIC_ACQUIRE);
        if (cmd == QUIT)
            _exit(0);
        for (int i = 0; i < BLOCK; i++) {
            if (cmd == M_SHMAP) {
                while (shmap_wait(ping, &seen, -1) == -EINTR)
                    ;
                shmap_publish(pong);
            } else if (cmd == M_FUTEX) {
                uint32_t v = (uint32_t)i * 2 + 1;
                uint32_t p;
                while ((p = __atomic_load_n(&sh->ping, __ATOMIC_ACQUIRE)) != v)
                    futex_wait(&sh->ping, p);
                __atomic_store_n(&sh->pong, v, __ATOMIC_RELEASE);
                futex_wake(&sh->pong);
            } else {
                while (sem_wait(&sh->sping) < 0 && errno == EINTR)
                    ;
                sem_post(&sh->spong);
            }
        }
    }
}

static void command(struct shared *sh, uint32_t cmd)
{
    __atomic_store_n(&sh->ping, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&sh->pong, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&sh->command, cmd, __ATOMIC_RELEASE);
    __atomic_add_fetch(&sh->command_seq, 1, __ATOMIC_RELEASE);
    futex_wake(&sh->command_seq);
}

/* A: one block of round trips; each sample is half a round trip, in ns. */
static void block(struct shared *sh, enum mech m, shmap_seg *ping, shmap_seg *pong,
                  uint64_t *pong_seen, double *out)
{
    command(sh, m);
    for (int i = 0; i < BLOCK; i++) {
        double t0 = bench_now_ns();
        if (m == M_SHMAP) {
            shmap_publish(ping);
            while (shmap_wait(pong, pong_seen, -1) == -EINTR)
                ;
        } else if (m == M_FUTEX) {
            uint32_t v = (uint32_t)i * 2 + 1;
            __atomic_store_n(&sh->ping, v, __ATOMIC_RELEASE);
            futex_wake(&sh->ping);
            uint32_t p;
            while ((p = __atomic_load_n(&sh->pong, __ATOMIC_ACQUIRE)) != v)
                futex_wait(&sh->pong, p);
        } else {
            sem_post(&sh->sping);
            while (sem_wait(&sh->spong) < 0 && errno == EINTR)
                ;
        }
        out[i] = (bench_now_ns() - t0) / 2;
    }
}

struct result {
    struct bench_stats st[NMECH];
    double p99[NMECH];
};

static int pingpong(int cpu_a, int cpu_b, unsigned rounds, struct result *res)
{
    struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                             -1, 0);
    if (sh == MAP_FAILED)
        return -errno;
    memset(sh, 0, sizeof *sh);
    sem_init(&sh->sping, 1, 0);
    sem_init(&sh->spong, 1, 0);
    shmap_seg *ping = NULL, *pong = NULL;
    const uint64_t dims[1] = {1};
    int rc = shmap_create(&ping, ping_name, SHMAP_U8, 1, dims, NULL);
    if (rc == 0)
        rc = shmap_create(&pong, pong_name, SHMAP_U8, 1, dims, NULL);
    pid_t b = rc == 0 ? fork() : -1;
    if (b == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        responder(sh, cpu_b);
    }
    double *samples[NMECH];
    for (int m = 0; m < NMECH; m++)
        samples[m] = calloc(rounds, sizeof(double));
    if (rc == 0 && b > 0 && samples[0] && samples[1] && samples[2]) {
        pin(cpu_a);
        while (!__atomic_load_n(&sh->ready, __ATOMIC_ACQUIRE))
            futex_wait(&sh->ready, 0);
        uint64_t pong_seen = shmap_generation(pong);
        for (unsigned done = 0, k = 0; done < rounds; done += BLOCK, k++)
            for (int j = 0; j < NMECH; j++) {
                enum mech m = (enum mech)((j + k) % NMECH); /* rotate who goes first */
                block(sh, m, ping, pong, &pong_seen, samples[m] + done);
            }
        for (int m = 0; m < NMECH; m++) {
            bench_stats_of(samples[m], rounds, &res->st[m]);
            qsort(samples[m], rounds, sizeof(double), bench__cmp_double);
            res->p99[m] = bench__quantile(samples[m], rounds, 0.99);
        }
    } else if (rc == 0) {
        rc = -ENOMEM;
    }
    if (b > 0) {
        command(sh, QUIT);
        waitpid(b, NULL, 0);
    }
    for (int m = 0; m < NMECH; m++)
        free(samples[m]);
    shmap_close(ping);
    shmap_close(pong);
    munmap(sh, sizeof *sh);
    cpu_set_t all;
    CPU_ZERO(&all);
    for (int c = 0; c < CPU_SETSIZE && c < 64; c++)
        CPU_SET(c, &all);
    sched_setaffinity(0, sizeof all, &all);
    return rc;
}

/*
 * A 512x512 float32 stream through shmap_write_begin/publish and shmap_read_frame, the
 * writer going flat out: in a plain segment (a reader gets a frame only when its copy fits
 * between two writes) and in a ring of `ring` frames.
 */
static int stream(double seconds, uint64_t ring, double *wfps, double *rfps,
                  uint64_t *missed_total)
{
    char name[96];
    snprintf(name, sizeof name, "%s-stream", ping_name);
    shmap_seg *seg = NULL;
    const uint64_t dims[3] = {ring, 512, 512};
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = ring > 1 ? SHMAP_CREATE_RING : 0;
    int rc = ring > 1 ? shmap_create(&seg, name, SHMAP_F32, 3, dims, &opts)
                      : shmap_create(&seg, name, SHMAP_F32, 2, dims + 1, &opts);
    if (rc < 0)
        return rc;
    uint64_t *counter = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pid_t w = fork();
    if (w == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        shmap_seg *ws = NULL;
        if (shmap_open(&ws, name, SHMAP_RDWR) < 0)
            _exit(1);
        double end = bench_now_ns() + seconds * 1e9;
        uint64_t k = 0;
        while (bench_now_ns() < end) {
            void *frame;
            shmap_write_begin(ws, &frame);
            float *f = frame;
            for (size_t i = 0; i < 512 * 512; i++)
                f[i] = (float)k;
            shmap_publish(ws);
            k++;
        }
        __atomic_store_n(counter, k, __ATOMIC_RELEASE);
        _exit(0);
    }
    float *buf = malloc(512 * 512 * sizeof(float));
    uint64_t seen = 0, frames = 0, missed = 0, m;
    double t0 = bench_now_ns();
    while (buf && shmap_read_frame(seg, &seen, buf, 1.0, &m) == 0) {
        frames++;
        missed += m;
    }
    double dt = (bench_now_ns() - t0) / 1e9 - 1.0; /* the last read timed out */
    waitpid(w, NULL, 0);
    *wfps = (double)__atomic_load_n(counter, __ATOMIC_ACQUIRE) / seconds;
    *rfps = dt > 0 ? (double)frames / dt : 0;
    *missed_total = missed;
    free(buf);
    munmap(counter, 4096);
    shmap_close(seg);
    return 0;
}

static void on_signal(int sig)
{
    char path[128];
    const char *names[] = {ping_name, pong_name};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "/%s", names[i]);
        shm_unlink(path);
    }
    snprintf(path, sizeof path, "/%s-stream", ping_name);
    shm_unlink(path);
    signal(sig, SIG_DFL);
    raise(sig);
}

int main(int argc, char **argv)
{
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);
    int quick, strict;
    if (bench_flags(argc, argv, &quick, &strict) != 0)
        return 2;
    unsigned rounds = quick ? 2 * BLOCK : ROUNDS;
    snprintf(ping_name, sizeof ping_name, "bench-notify-%ld-ping", (long)getpid());
    snprintf(pong_name, sizeof pong_name, "bench-notify-%ld-pong", (long)getpid());
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    printf("publish -> wake latency between two processes: median and p99 of half a round trip,\n"
           "in microseconds, %u round trips each, mechanisms interleaved in this run\n\n", rounds);
    printf("%-13s %-20s %9s %9s %9s  %s\n", "placement", "mechanism", "median", "p99", "/futex",
           "target");
    int missed = 0;
    for (int same = 0; same < 2; same++) {
        if (!same && ncpu < 2)
            continue;
        struct result r;
        memset(&r, 0, sizeof r);
        int rc = pingpong(0, same ? 0 : 1, rounds, &r);
        if (rc < 0) {
            fprintf(stderr, "notify bench: %s: %s\n", shmap_errname(rc), shmap_last_error());
            return 1;
        }
        double futex = r.st[M_FUTEX].median;
        for (int m = 0; m < NMECH; m++) {
            const char *target = "";
            if (m == M_SHMAP) {
                int ok = r.st[m].median <= TARGET_VS_FUTEX * futex &&
                         r.st[m].median <= r.st[M_SEM].median;
                missed += !ok;
                target = ok ? "<= 1.2x futex, <= semaphore: ok"
                            : "<= 1.2x futex, <= semaphore: MISSED";
            }
            printf("%-13s %-20s %9.2f %9.2f %8.2fx  %s\n",
                   m == 0 ? (same ? "same CPU" : "other CPUs") : "", mech_names[m],
                   r.st[m].median / 1e3, r.p99[m] / 1e3, r.st[m].median / futex, target);
        }
    }
    printf("\n512x512 float32 stream, writer flat out with write_begin/publish, reader with "
           "read_frame:\n");
    for (uint64_t ring = 1; ring <= 4; ring += 3) {
        double wfps, rfps;
        uint64_t skipped;
        if (stream(1.5, ring, &wfps, &rfps, &skipped) == 0)
            printf("  %-16s writer %6.0f frames/s, reader %6.0f whole frames/s, %llu skipped\n",
                   ring == 1 ? "plain segment:" : "ring of 4:", wfps, rfps,
                   (unsigned long long)skipped);
    }
    if (missed)
        printf("%d target(s) missed (not an error without --strict)\n", missed);
    return missed && strict ? 3 : 0;
}
