/*
 * shmap demo: one producer, two consumers, a 512x512 float32 segment.
 *
 * The producer creates a segment under a fresh name, records the number of frames it will
 * write in a keyword, and starts two consumers: copies of this program run with
 * `--consumer`, which get nothing but the segment's name. Each consumer attaches read-only,
 * checks the type and shape the header gives, then sleeps until each new frame is published
 * (no polling: the publish wakes it) and checks every frame it sees. Halfway through, the
 * producer runs `shmap ls` and `shmap info NAME` ($SHMAP_BIN, else the `shmap` next to this
 * program) so the segment is seen from outside. At the end it closes the segment, which
 * destroys it, and checks that the name is gone.
 *
 * Frame k holds k in element 0 and a pattern derived from k and the index elsewhere, all
 * integers below 2^24 so every value is exact in float32. The producer brackets each frame
 * with shmap_write_begin and shmap_publish; a consumer copies frames out with
 * shmap_read_frame, which never returns a torn frame, and checks each against the pattern
 * of its number. What is an error: a wrong type or shape, a frame that is not the one its
 * number says or is torn, frame numbers going backwards, a last frame missing, a consumer
 * that times out, or a segment left behind. Frames a consumer was too slow to see are
 * counted as skipped, which is not an error.
 *
 * Cleanup happens on every path: children are killed and reaped, the segment is closed
 * (and so destroyed) and, as a last resort, its name is unlinked; SIGINT, SIGTERM and
 * SIGHUP do the same. If the producer is killed outright (SIGKILL), the consumers are told
 * by the kernel and remove the segment in its place.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "shmap.h"

#define ROWS 512
#define COLS 512
#define NELEM ((size_t)ROWS * COLS)
#define NFRAMES 200
#define FRAME_INTERVAL_NS 5000000L /* 5 ms between frames: about a second in all */
#define NCONSUMERS 2
#define TIMEOUT_S 10

/* ---------------------------------------------------------------------------------------- */
/* What the producer writes and the consumers check. */

static float frame_value(uint32_t k, size_t i)
{
    if (i == 0)
        return (float)k;
    /* A different permutation of 24-bit integers for every frame. */
    uint32_t v = (uint32_t)i * 2654435761u + k * 40503u;
    return (float)((v ^ (v >> 13)) & 0xffffffu);
}

static void frame_write(float *data, uint32_t k)
{
    for (size_t i = 0; i < NELEM; i++)
        data[i] = frame_value(k, i);
}

/* Whether a copied frame is entirely frame k. */
static int frame_intact(const float *frame, uint32_t k)
{
    for (size_t i = 0; i < NELEM; i++)
        if (frame[i] != frame_value(k, i))
            return 0;
    return 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ns(long ns)
{
    struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void fail_lib(const char *who, const char *what, int rc)
{
    fprintf(stderr, "shmap-demo: %s: %s: %s (%s)\n", who, what, shmap_strerror(rc),
            shmap_last_error());
}

/* ---------------------------------------------------------------------------------------- */
/* Consumer: argv = --consumer NAME INDEX FD PRODUCER_PID. Reports one line on FD, exits 0 if
 * all was well. */

struct tally {
    unsigned long seen, intact, torn, skipped;
    long first, last;
    int last_intact;
};

static char c_handle[SHMAP_NAME_MAX + 1]; /* the segment's POSIX name */
static pid_t c_parent;                    /* the producer */

/*
 * SIGTERM. When the producer was killed (even with SIGKILL, which it cannot catch), the
 * kernel sends us SIGTERM (PR_SET_PDEATHSIG). The producer can no longer remove what it
 * created, so the demo's consumers do it for it: a safety net of this demo, not what a
 * reader normally does (shmap never destroys what the process did not create).
 */
static void on_orphaned(int sig)
{
    (void)sig;
    if (getppid() != c_parent)
        shm_unlink(c_handle);
    _exit(1);
}

static int consume(const char *name, int idx, int fd, pid_t producer)
{
    char who[32];
    snprintf(who, sizeof who, "consumer %d", idx);
    /* SIGTERM was blocked across exec: one sent meanwhile arrives once the handler is set. */
    c_parent = producer;
    snprintf(c_handle, sizeof c_handle, "/%s", name);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_orphaned;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigset_t term;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigprocmask(SIG_UNBLOCK, &term, NULL);
    if (getppid() != c_parent) /* the producer died before PR_SET_PDEATHSIG took effect */
        on_orphaned(SIGTERM);

    shmap_seg *seg = NULL;
    int rc = shmap_open(&seg, name, SHMAP_RDONLY);
    if (rc < 0) {
        fail_lib(who, "open", rc);
        return 1;
    }

    /* Everything we know about the array comes from the segment itself. */
    shmap_info info;
    shmap_keyword kw;
    rc = shmap_info_get(seg, &info);
    if (rc < 0) {
        fail_lib(who, "info", rc);
        shmap_close(seg);
        return 1;
    }
    if (info.dtype != SHMAP_F32 || info.ndim != 2 || info.dims[0] != ROWS || info.dims[1] != COLS) {
        fprintf(stderr, "shmap-demo: %s: segment holds %s with %u dims, expected f32 %dx%d\n", who,
                shmap_dtype_name(info.dtype), info.ndim, ROWS, COLS);
        shmap_close(seg);
        return 1;
    }
    rc = shmap_keyword_get(seg, "NFRAMES", &kw);
    if (rc < 0 || kw.type != SHMAP_KW_INT || kw.i < 1 || kw.i > 1000000) {
        fail_lib(who, "keyword NFRAMES", rc < 0 ? rc : SHMAP_EKEYWORD);
        shmap_close(seg);
        return 1;
    }
    const uint64_t nframes = (uint64_t)kw.i;

    float *frame = malloc(NELEM * sizeof *frame);
    if (!frame) {
        shmap_close(seg);
        return 1;
    }
    /* The generation is read before the producer is told to start: read after, it could
     * already count a frame this consumer would then neither see nor count as skipped. */
    uint64_t seen = shmap_generation(seg);
    if (write(fd, "R", 1) != 1) { /* attached: the producer may start */
        free(frame);
        shmap_close(seg);
        return 1;
    }

    struct tally t = {0, 0, 0, 0, -1, -1, 0};
    char problem[160] = "";

    /*
     * Each frame is waited for (the producer's publish wakes us: no polling) and copied out
     * with shmap_read_frame, which retries a copy that a write overlapped: a torn frame
     * here is a bug, not bad luck.
     */
    while (seen < nframes && !problem[0]) {
        uint64_t missed = 0;
        rc = shmap_read_frame(seg, &seen, frame, TIMEOUT_S, &missed);
        if (rc == -EINTR)
            continue;
        if (rc == -ETIMEDOUT) {
            snprintf(problem, sizeof problem, "no new frame for %d s", TIMEOUT_S);
            break;
        }
        if (rc < 0) {
            snprintf(problem, sizeof problem, "%s", shmap_last_error());
            break;
        }
        t.skipped += missed;
        long k = (long)seen - 1;
        if (frame[0] != (float)k) {
            snprintf(problem, sizeof problem, "frame %ld holds frame number %g", k, frame[0]);
            break;
        }
        if (k <= t.last) {
            snprintf(problem, sizeof problem, "frame %ld after frame %ld", k, t.last);
            break;
        }
        t.seen++;
        if (t.first < 0)
            t.first = k;
        t.last = k;
        t.last_intact = frame_intact(frame, (uint32_t)k);
        if (t.last_intact) {
            t.intact++;
        } else {
            t.torn++;
            snprintf(problem, sizeof problem, "frame %ld is torn", k);
        }
    }

    /* The last frame is published and then left alone: it must be intact. */
    if (!problem[0] && (t.last != (long)nframes - 1 || !t.last_intact))
        snprintf(problem, sizeof problem, "last frame seen is %ld (%s), expected %llu intact",
                 t.last, t.last_intact ? "intact" : "torn", (unsigned long long)nframes - 1);

    char line[400];
    int n = snprintf(line, sizeof line,
                     "consumer %d (pid %ld): saw %lu frames (%lu intact, %lu torn), "
                     "skipped %lu, frames %ld..%ld%s%s\n",
                     idx, (long)getpid(), t.seen, t.intact, t.torn, t.skipped, t.first, t.last,
                     problem[0] ? ": FAILED: " : "", problem);
    int reported = n > 0 && write(fd, line, (size_t)n) == n;

    free(frame);
    rc = shmap_close(seg);
    if (rc < 0) {
        fail_lib(who, "close", rc);
        return 1;
    }
    return !problem[0] && reported ? 0 : 1;
}

/* ---------------------------------------------------------------------------------------- */
/* Producer. State the signal handler and cleanup need is global. */

static volatile pid_t g_child[NCONSUMERS];
static char g_handle[SHMAP_NAME_MAX + 1]; /* the POSIX name, for a last-resort shm_unlink */

static void kill_children(void)
{
    for (int i = 0; i < NCONSUMERS; i++)
        if (g_child[i] > 0)
            kill(g_child[i], SIGKILL);
}

static void on_signal(int sig)
{
    /* Only async-signal-safe calls here: kill, shm_unlink (an unlink), waitpid, write. */
    kill_children();
    if (g_handle[0])
        shm_unlink(g_handle);
    for (int i = 0; i < NCONSUMERS; i++)
        if (g_child[i] > 0)
            waitpid(g_child[i], NULL, 0);
    static const char msg[] = "shmap-demo: interrupted; segment removed\n";
    ssize_t ignored = write(2, msg, sizeof msg - 1);
    (void)ignored;
    _exit(128 + sig);
}

/* Wait for a child until the deadline; 0 and its status, or -1 if it is still running. */
static int wait_until(pid_t pid, double deadline, int *status)
{
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return 0;
        if (r < 0 && errno != EINTR)
            return -1;
        if (now_s() > deadline)
            return -1;
        sleep_ns(10000000L);
    }
}

/* Read from fd until EOF or the deadline; returns the bytes read. */
static size_t read_all(int fd, char *buf, size_t cap, double deadline)
{
    size_t len = 0;
    while (len + 1 < cap) {
        int ms = (int)((deadline - now_s()) * 1000);
        if (ms <= 0)
            break;
        struct pollfd p = {fd, POLLIN, 0};
        int r = poll(&p, 1, ms);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    return len;
}

/* The shmap command: $SHMAP_BIN, else `shmap` in this program's directory. */
static int find_shmap_bin(char *buf, size_t size)
{
    const char *env = getenv("SHMAP_BIN");
    if (env && *env) {
        snprintf(buf, size, "%s", env);
        return access(buf, X_OK) == 0 ? 0 : -1;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -1;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    if ((size_t)snprintf(buf, size, "%s/shmap", self) >= size)
        return -1;
    return access(buf, X_OK) == 0 ? 0 : -1;
}

/* Run `shmap ARGS...`, echoing the command line first; its output goes to ours. */
static int run_shmap(const char *bin, char *const argv[])
{
    printf("$ shmap");
    for (int i = 1; argv[i]; i++)
        printf(" %s", argv[i]);
    printf("\n");
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        execv(bin, argv);
        _exit(127);
    }
    int status;
    if (wait_until(pid, now_s() + TIMEOUT_S, &status) < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        return -1;
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static pid_t start_consumer(const char *self, const char *name, int idx, int fd)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    sigset_t term;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigprocmask(SIG_BLOCK, &term, NULL);
#ifdef __linux__
    /* If the producer dies, we are told with SIGTERM (the setting survives exec): see
     * on_orphaned(). */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) {
        char handle[SHMAP_NAME_MAX + 1];
        snprintf(handle, sizeof handle, "/%s", name);
        shm_unlink(handle);
        _exit(1);
    }
#endif
    /* The pipe's write end was made close-on-exec so the other consumer does not hold it;
     * ours must survive exec. */
    int fl = fcntl(fd, F_GETFD);
    if (fl < 0 || fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC) < 0)
        _exit(1);
    char idxs[16], fds[16], pids[24];
    snprintf(idxs, sizeof idxs, "%d", idx);
    snprintf(fds, sizeof fds, "%d", fd);
    snprintf(pids, sizeof pids, "%ld", (long)parent);
    execl(self, self, "--consumer", name, idxs, fds, pids, (char *)NULL);
    _exit(127);
}

static int produce(void)
{
    int ok = 0;
    int rc;
    char name[SHMAP_NAME_MAX];
    shmap_seg *seg = NULL;
    int rfd[NCONSUMERS] = {-1, -1};
    char self[PATH_MAX];

    /* Lines appear as they are printed, in order with the output of the shmap command and
     * whatever a signal cuts short, even when stdout is a pipe. */
    setvbuf(stdout, NULL, _IOLBF, 0);

    ssize_t sn = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sn <= 0) {
        perror("shmap-demo: /proc/self/exe");
        return 1;
    }
    self[sn] = '\0';

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    rc = shmap_name_unique(name, sizeof name, "demo-frames");
    if (rc < 0) {
        fail_lib("producer", "unique name", rc);
        return 1;
    }

    /* Default options: exclusive, mode 0600, destroyed when we close it. Signals are held
     * back until the handle is known so the handler always knows what to remove. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    sigprocmask(SIG_BLOCK, &block, &old);
    const uint64_t dims[2] = {ROWS, COLS};
    rc = shmap_create(&seg, name, SHMAP_F32, 2, dims, NULL);
    if (rc < 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        fail_lib("producer", "create", rc);
        return 1;
    }
    if (shmap_os_handle(seg, g_handle, sizeof g_handle) < 0)
        snprintf(g_handle, sizeof g_handle, "/%s", name);
    sigprocmask(SIG_SETMASK, &old, NULL);

    shmap_info info;
    if ((rc = shmap_info_get(seg, &info)) < 0) {
        fail_lib("producer", "info", rc);
        goto out;
    }
    printf("producer (pid %ld) created '%s': f32 %dx%d, data at offset %llu, %llu bytes in "
           "all\n",
           (long)getpid(), name, ROWS, COLS, (unsigned long long)info.data_offset,
           (unsigned long long)info.size);

    shmap_keyword kw;
    memset(&kw, 0, sizeof kw);
    snprintf(kw.name, sizeof kw.name, "NFRAMES");
    kw.type = SHMAP_KW_INT;
    kw.i = NFRAMES;
    snprintf(kw.comment, sizeof kw.comment, "frames the producer will write");
    if ((rc = shmap_keyword_set(seg, &kw)) < 0) {
        fail_lib("producer", "keyword", rc);
        goto out;
    }

    /* Consumers: each gets the name, an index and a pipe to say "attached" and report. */
    fflush(stdout);
    for (int i = 0; i < NCONSUMERS; i++) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0) {
            perror("shmap-demo: pipe");
            goto out;
        }
        g_child[i] = start_consumer(self, name, i + 1, p[1]);
        close(p[1]);
        rfd[i] = p[0];
        if (g_child[i] < 0) {
            perror("shmap-demo: fork");
            goto out;
        }
    }
    for (int i = 0; i < NCONSUMERS; i++) {
        char c;
        struct pollfd p = {rfd[i], POLLIN, 0};
        if (poll(&p, 1, TIMEOUT_S * 1000) != 1 || read(rfd[i], &c, 1) != 1 || c != 'R') {
            fprintf(stderr, "shmap-demo: consumer %d did not attach\n", i + 1);
            goto out;
        }
    }
    printf("consumers (pids %ld, %ld) attached by name, read-only; f32 %dx%d from the header\n",
           (long)g_child[0], (long)g_child[1], ROWS, COLS);

    char bin[PATH_MAX];
    int have_bin = find_shmap_bin(bin, sizeof bin) == 0;
    int cli_ok = 1;
    double t0 = now_s();
    for (uint32_t k = 0; k < NFRAMES; k++) {
        void *frame;
        if ((rc = shmap_write_begin(seg, &frame)) < 0) {
            fail_lib("producer", "write_begin", rc);
            goto out;
        }
        frame_write(frame, k);
        if ((rc = shmap_publish(seg)) < 0) {
            fail_lib("producer", "publish", rc);
            goto out;
        }
        if (k == NFRAMES / 2) {
            fflush(stdout);
            if (have_bin) {
                char *ls[] = {bin, "ls", NULL};
                char *inf[] = {bin, "info", name, NULL};
                cli_ok = run_shmap(bin, ls) == 0;
                cli_ok = run_shmap(bin, inf) == 0 && cli_ok;
            } else {
                printf("(shmap command not found: set SHMAP_BIN to see `shmap ls` here)\n");
            }
        }
        sleep_ns(FRAME_INTERVAL_NS);
    }
    double elapsed = now_s() - t0;
    printf("producer wrote %d frames in %.2f s; generation is now %llu\n", NFRAMES, elapsed,
           (unsigned long long)shmap_generation(seg));
    if (!cli_ok)
        fprintf(stderr, "shmap-demo: the shmap command failed\n");

    /* Collect the consumers' reports and exit statuses. */
    int consumers_ok = 1;
    double deadline = now_s() + TIMEOUT_S;
    for (int i = 0; i < NCONSUMERS; i++) {
        char report[512];
        read_all(rfd[i], report, sizeof report, deadline);
        int status = 0;
        if (wait_until(g_child[i], deadline, &status) < 0) {
            fprintf(stderr, "shmap-demo: consumer %d did not finish\n", i + 1);
            consumers_ok = 0;
            continue;
        }
        g_child[i] = 0;
        if (report[0])
            fputs(report, stdout);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            if (WIFSIGNALED(status))
                fprintf(stderr, "shmap-demo: consumer %d killed by signal %d\n", i + 1,
                        WTERMSIG(status));
            consumers_ok = 0;
        }
    }
    ok = consumers_ok && cli_ok;

out:
    kill_children();
    for (int i = 0; i < NCONSUMERS; i++) {
        if (g_child[i] > 0)
            waitpid(g_child[i], NULL, 0);
        g_child[i] = 0;
        if (rfd[i] >= 0)
            close(rfd[i]);
    }
    /* Closing destroys what we created; check that it did, and remove it if not. */
    rc = shmap_close(seg);
    if (rc < 0) {
        fail_lib("producer", "close", rc);
        ok = 0;
    }
    shmap_info gone;
    rc = shmap_stat(name, &gone);
    if (rc != -ENOENT) {
        fprintf(stderr, "shmap-demo: '%s' still exists after close (%s); removing it\n", name,
                shmap_strerror(rc));
        shmap_unlink(name);
        ok = 0;
    } else {
        printf("segment '%s' destroyed on close: no longer in /dev/shm\n", name);
    }
    g_handle[0] = '\0';
    printf("%s\n", ok ? "demo OK" : "demo FAILED");
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 6 && strcmp(argv[1], "--consumer") == 0) {
        char *end, *end2;
        long fd = strtol(argv[4], &end, 10);
        long producer = strtol(argv[5], &end2, 10);
        if (*end || *end2 || fd < 0 || fd > INT_MAX || producer <= 0)
            return 2;
        return consume(argv[2], atoi(argv[3]), (int)fd, (pid_t)producer);
    }
    if (argc != 1) {
        fprintf(stderr, "usage: %s\n", argv[0]);
        return 2;
    }
    return produce();
}
