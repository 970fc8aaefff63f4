/*
 * The test runner. Every test runs in its own process (fork) with a timeout, so a crash or
 * a hang is one failed test, not a dead run. A test's output is kept in a temporary file and
 * shown only when it fails. After each test the runner removes the shared-memory objects
 * that still carry the test's name prefix; a passing test that left any behind fails.
 *
 * Usage: shmap-tests [-v] [-t SECONDS] [FILTER...]   (FILTER: substrings of test names)
 * Ends with "N passed, N failed, N skipped" and exits 1 if anything failed.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>

#include "test.h"

#define MAX_TESTS 1024
#define SKIP_STATUS 77

static struct {
    const char *name;
    const char *file;
    test_fn fn;
} tests[MAX_TESTS];
static int ntests;
static int current = -1;
static pid_t runner_pid;
static char prefix[64];
static char name_buf[8][SHMAP_NAME_MAX];
static int name_next;

void test_register(const char *name, test_fn fn, const char *file)
{
    if (ntests == MAX_TESTS) {
        fprintf(stderr, "too many tests\n");
        exit(2);
    }
    tests[ntests].name = name;
    tests[ntests].file = file;
    tests[ntests].fn = fn;
    ntests++;
}

void test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(NULL);
    _exit(1);
}

void test_skip(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(NULL);
    _exit(SKIP_STATUS);
}

const char *test_prefix(void)
{
    return prefix;
}

const char *test_name(const char *suffix)
{
    char *buf = name_buf[name_next++ % 8];
    snprintf(buf, SHMAP_NAME_MAX, "%s%s", prefix, suffix ? suffix : "");
    return buf;
}

const char *test_shmap_bin(void)
{
    const char *bin = getenv("SHMAP_BIN");
    return bin && *bin ? bin : "build/shmap";
}

int test_wait(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

/* All that a memfd holds (a listing of a machine with thousands of segments is large). */
static char *slurp(int fd)
{
    struct stat st;
    size_t cap = fstat(fd, &st) == 0 && st.st_size > 0 ? (size_t)st.st_size : 0, len = 0;
    char *buf = malloc(cap + 1);
    if (!buf)
        return NULL;
    lseek(fd, 0, SEEK_SET);
    for (;;) {
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len == cap)
            break;
    }
    buf[len] = '\0';
    return buf;
}

/* Run argv with stdin from `input`, stdout and stderr captured through memfds. */
static int run_argv(char **out, char **err, const char *input, char *const argv[])
{
    int ofd = memfd_create("out", 0), efd = memfd_create("err", 0);
    int ifd = memfd_create("in", 0);
    if (ofd < 0 || efd < 0 || ifd < 0)
        test_fail(__FILE__, __LINE__, "memfd_create: %s", strerror(errno));
    if (input) {
        size_t len = strlen(input);
        if (write(ifd, input, len) != (ssize_t)len)
            test_fail(__FILE__, __LINE__, "write: %s", strerror(errno));
        lseek(ifd, 0, SEEK_SET);
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        test_fail(__FILE__, __LINE__, "fork: %s", strerror(errno));
    if (pid == 0) {
        if (!input) {
            close(ifd);
            ifd = open("/dev/null", O_RDONLY);
        }
        dup2(ifd, 0);
        dup2(ofd, 1);
        dup2(efd, 2);
        execvp(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int rc = test_wait(pid);
    if (out)
        *out = slurp(ofd);
    if (err)
        *err = slurp(efd);
    close(ofd);
    close(efd);
    close(ifd);
    return rc;
}

int test_cli(char **out, char **err, const char *input, ...)
{
    char *argv[64];
    int argc = 0;
    va_list ap;
    argv[argc++] = (char *)test_shmap_bin();
    va_start(ap, input);
    for (const char *a; argc < 63 && (a = va_arg(ap, const char *));)
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    return run_argv(out, err, input, argv);
}

int test_sh(char **out, char **err, const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    return run_argv(out, err, NULL, argv);
}

/*
 * Is `entry` the hidden object of an unfinished creation (".shmap-tmp-PID-N-NAME") made by
 * this run, its creator gone? Its NAME starts with this run's C or Python prefix: other
 * runs and other users may have theirs in /dev/shm, which are not ours to remove. A live
 * creator may be making it right now.
 */
static bool our_dead_hidden(const char *entry)
{
    static const char tmp[] = ".shmap-tmp-";
    if (strncmp(entry, tmp, sizeof tmp - 1) != 0)
        return false;
    const char *p = entry + sizeof tmp - 1;
    int pid = atoi(p);
    p += strspn(p, "0123456789");
    if (*p++ != '-')
        return false;
    p += strspn(p, "0123456789");
    if (*p++ != '-')
        return false;
    p += *p == '.'; /* a test's dot-named segment */
    char c[64], py[64];
    snprintf(c, sizeof c, "shmapt-%d-", (int)runner_pid);
    snprintf(py, sizeof py, "pyt%d-", (int)runner_pid);
    if (strncmp(p, c, strlen(c)) != 0 && strncmp(p, py, strlen(py)) != 0)
        return false;
    return pid > 0 && kill(pid, 0) < 0 && errno == ESRCH;
}

/*
 * Remove /dev/shm objects whose names start with `pfx`, or with a dot and `pfx` (a test's
 * dot-named segments); return how many there were. With `hidden`, `pfx` is ignored: the
 * objects taken are the hidden ones our_dead_hidden() says this run left.
 */
static int sweep_objects(const char *pfx, bool hidden, char *names, size_t size)
{
    DIR *d = opendir("/dev/shm");
    int found = 0;
    if (!d)
        return 0;
    names[0] = '\0';
    for (struct dirent *e; (e = readdir(d));) {
        const char *n = e->d_name + (e->d_name[0] == '.');
        if (hidden ? !our_dead_hidden(e->d_name) : strncmp(n, pfx, strlen(pfx)) != 0)
            continue;
        char path[512];
        snprintf(path, sizeof path, "/dev/shm/%s", e->d_name);
        unlink(path);
        found++;
        size_t len = strlen(names);
        snprintf(names + len, size - len, " %s", e->d_name);
    }
    closedir(d);
    return found;
}

/* The n-th System V key (1 to 255) of the test running as process `pid`. */
static key_t sysv_key_of(pid_t pid, unsigned n)
{
    return (key_t)(0x40000000u | (((unsigned)pid & 0x3fffffu) << 8) | (n & 0xffu));
}

key_t test_sysv_key(void)
{
    static unsigned n;
    if (++n > 255)
        test_fail(__FILE__, __LINE__, "test_sysv_key: more than 255 keys in one test");
    return sysv_key_of(getpid(), n);
}

/* Remove /dev/shm objects whose names start with `pfx`, and the System V segments under
 * the keys of the test that ran as `pid`; return how many there were. */
static int sweep(const char *pfx, pid_t pid, char *names, size_t size)
{
    int found = sweep_objects(pfx, false, names, size);
    for (unsigned n = 1; n <= 255; n++) {
        key_t key = sysv_key_of(pid, n);
        int id = shmget(key, 0, 0);
        if (id < 0)
            continue;
        shmctl(id, IPC_RMID, NULL);
        found++;
        size_t len = strlen(names);
        snprintf(names + len, size - len, " sysv://0x%08x", (unsigned)key);
    }
    return found;
}

/* Hidden objects of segments this run was creating, left by processes that died. */
static int sweep_tmp(char *names, size_t size)
{
    return sweep_objects(NULL, true, names, size);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Add pytest's "3 passed, 1 failed, 2 skipped, 1 error in 0.5s" to our counts. */
static void add_pytest_counts(const char *line, int *passed, int *failed, int *skipped)
{
    for (const char *p = line; *p;) {
        char *end;
        long n = strtol(p, &end, 10);
        if (end == p) {
            p++;
            continue;
        }
        while (*end == ' ')
            end++;
        if (strncmp(end, "passed", 6) == 0)
            *passed += (int)n;
        else if (strncmp(end, "failed", 6) == 0 || strncmp(end, "error", 5) == 0)
            *failed += (int)n;
        else if (strncmp(end, "skipped", 7) == 0)
            *skipped += (int)n;
        p = end;
    }
}

/*
 * Skipped tests, gathered by their reason: a missing package (CFITSIO, numpy) skips many
 * tests for one reason, said on one line at the end ("skip 22 tests: ... (install X)")
 * rather than once per test; a reason given once keeps its test's name. -v prints each.
 */
#define MAX_REASONS 64

static struct reason {
    char *why;
    const char *first; /* the first test skipped for it */
    int n;
} reasons[MAX_REASONS];
static int nreasons;

/* Note that @p test was skipped for @p why (its log: one line); 0, or -1 when it should be
 * printed now (no room to gather it). */
static int gather_skip(const char *test, const char *why)
{
    size_t len = strcspn(why, "\n");
    for (int i = 0; i < nreasons; i++)
        if (strlen(reasons[i].why) == len && strncmp(reasons[i].why, why, len) == 0) {
            reasons[i].n++;
            return 0;
        }
    if (nreasons == MAX_REASONS || !(reasons[nreasons].why = strndup(why, len)))
        return -1;
    reasons[nreasons].first = test;
    reasons[nreasons++].n = 1;
    return 0;
}

static void print_skips(void)
{
    for (int i = 0; i < nreasons; i++) {
        if (reasons[i].n == 1)
            printf("skip %s: %s\n", reasons[i].first, reasons[i].why);
        else
            printf("skip %d tests: %s\n", reasons[i].n, reasons[i].why);
        free(reasons[i].why);
    }
    nreasons = 0;
}

/*
 * The Python binding's tests run under pytest as one more suite when the build says how
 * (SHMAP_PYTEST, a shell command), or are counted as one skip when it says why not
 * (SHMAP_PYTEST_SKIP, a one-line reason).
 */
static void run_pytest(int *passed, int *failed, int *skipped)
{
    const char *cmd = getenv("SHMAP_PYTEST"), *why = getenv("SHMAP_PYTEST_SKIP");
    if (!cmd || !*cmd) {
        if (why && *why) {
            printf("skip python tests: %s\n", why);
            (*skipped)++;
        }
        return;
    }
    /* Names the runner's last sweep knows for this run's (sweep_tmp()). */
    char py_prefix[32];
    snprintf(py_prefix, sizeof py_prefix, "pyt%d-", (int)runner_pid);
    setenv("SHMAP_PYTEST_PREFIX", py_prefix, 1);
    fflush(NULL);
    FILE *p = popen(cmd, "r");
    if (!p) {
        printf("FAIL python tests: cannot run %s\n", cmd);
        (*failed)++;
        return;
    }
    char line[4096], summary[4096] = "";
    while (fgets(line, sizeof line, p)) {
        fputs(line, stdout);
        if (strstr(line, " passed") || strstr(line, " failed") || strstr(line, " error") ||
            strstr(line, " skipped"))
            snprintf(summary, sizeof summary, "%s", line);
    }
    int status = pclose(p);
    int before = *failed;
    add_pytest_counts(summary, passed, failed, skipped);
    if (status != 0 && *failed == before) {
        printf("FAIL python tests: pytest exited with status %d\n",
               WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        (*failed)++;
    }
}

/*
 * Ignored signals and the signal mask outlive fork and exec, so a run started by nohup
 * (SIGHUP ignored), as a background job of a script (SIGINT and SIGQUIT ignored) or by a
 * CI agent that blocks some would hand them to every test and to the commands the tests
 * start. Those commands rightly leave an ignored signal ignored, and the tests that stop
 * them with it (an interrupted create or import) then fail or hang.
 * The tests are written for a fresh process's dispositions: every signal at its default
 * and none blocked (SIGPIPE is then ignored again, below, as the tests expect).
 */
static void default_signals(void)
{
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction sa;
        if (sig != SIGKILL && sig != SIGSTOP && sigaction(sig, NULL, &sa) == 0 &&
            sa.sa_handler == SIG_IGN)
            signal(sig, SIG_DFL);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static int matches(const char *name, int nfilter, char **filter)
{
    if (nfilter == 0)
        return 1;
    for (int i = 0; i < nfilter; i++)
        if (strstr(name, filter[i]))
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    int verbose = 0, timeout = 60, opt;
    while ((opt = getopt(argc, argv, "vt:l")) != -1) {
        switch (opt) {
        case 'v': verbose = 1; break;
        case 't': timeout = atoi(optarg); break;
        case 'l':
            for (int i = 0; i < ntests; i++)
                printf("%s\n", tests[i].name);
            return 0;
        default:
            fprintf(stderr, "usage: %s [-v] [-l] [-t SECONDS] [FILTER...]\n", argv[0]);
            return 2;
        }
    }
    runner_pid = getpid();
    setvbuf(stdout, NULL, _IOLBF, 0);
    default_signals();
    signal(SIGPIPE, SIG_IGN);

    int passed = 0, failed = 0, skipped = 0;
    char leftovers[4096];
    for (int i = 0; i < ntests; i++) {
        if (!matches(tests[i].name, argc - optind, argv + optind))
            continue;
        current = i;
        snprintf(prefix, sizeof prefix, "shmapt-%d-%d-", (int)runner_pid, i);
        int logfd = memfd_create("log", 0);
        double t0 = now();
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            setpgid(0, 0);
            dup2(logfd, 1);
            dup2(logfd, 2);
            alarm((unsigned)timeout);
            tests[i].fn();
            fflush(NULL);
            _exit(0);
        }
        int rc = test_wait(pid);
        /* Kill helper processes the test may have left in its process group. */
        kill(-pid, SIGKILL);
        double dt = now() - t0;
        int left = sweep(prefix, pid, leftovers, sizeof leftovers);
        const char *why = NULL;
        char whybuf[4200];
        if (rc == 128 + SIGALRM) {
            snprintf(whybuf, sizeof whybuf, "timed out after %d s", timeout);
            why = whybuf;
        } else if (rc > 128) {
            snprintf(whybuf, sizeof whybuf, "killed by signal %d (%s)", rc - 128,
                     strsignal(rc - 128));
            why = whybuf;
        } else if (rc != 0 && rc != SKIP_STATUS) {
            why = "failed";
        } else if (rc == 0 && left) {
            snprintf(whybuf, sizeof whybuf, "left behind:%s", leftovers);
            why = whybuf;
        }
        char *log = slurp(logfd);
        close(logfd);
        if (why) {
            failed++;
            printf("FAIL %s (%s) %.2fs\n", tests[i].name, why, dt);
            if (log && *log) {
                for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n"))
                    printf("    %s\n", line);
            }
        } else if (rc == SKIP_STATUS) {
            skipped++;
            if (verbose || gather_skip(tests[i].name, log ? log : "") < 0)
                printf("skip %s: %s", tests[i].name, log ? log : "\n");
        } else {
            passed++;
            if (verbose)
                printf("ok   %s %.2fs\n", tests[i].name, dt);
        }
        free(log);
    }
    print_skips();
    run_pytest(&passed, &failed, &skipped);
    if (sweep_tmp(leftovers, sizeof leftovers)) {
        failed++;
        printf("FAIL runner: hidden objects of unfinished creations left in /dev/shm:%s\n",
               leftovers);
    }
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}
