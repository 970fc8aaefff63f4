/*
 * fork() while another thread is inside the library: the child starts with none of the
 * library's mutexes held (a thread that held one does not exist in the child), so it can
 * open, lock and close as the docs promise, instead of waiting for ever.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../util.h"

struct churn {
    const char *name;
    int stop; /* atomic */
    int id;
};

/* Open, lock and close, read-write and read-only by turns, until told to stop: the thread
 * is inside the registry's and the attach table's critical sections much of the time. */
static void *churn(void *arg)
{
    struct churn *c = arg;
    for (long i = 0; !__atomic_load_n(&c->stop, __ATOMIC_RELAXED); i++) {
        shmap_seg *s = NULL;
        if (shmap_open(&s, c->name, ((i + c->id) & 1) ? SHMAP_RDWR : SHMAP_RDONLY) == 0) {
            if (shmap_lock(s, i % 3 ? SHMAP_LOCK_SHARED : SHMAP_LOCK_EXCLUSIVE, 5) >= 0)
                shmap_unlock(s);
            shmap_close(s);
        }
    }
    return NULL;
}

TEST(multi__a_child_forked_while_other_threads_are_in_the_library_is_not_stuck)
{
    const char *name = test_name("forkthr");
    const uint64_t dims[1] = {1024};
    util_make_kept(name, SHMAP_U8, 1, dims);
    struct churn c[2] = {{name, 0, 0}, {name, 0, 1}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&t[i], NULL, churn, &c[i]) == 0);
    int stuck = 0, failed = 0;
    for (int round = 0; round < 40; round++) {
        fflush(NULL);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            alarm(10); /* a child that waits for ever ends here, counted as stuck */
            shmap_seg *s = NULL;
            int ok = shmap_open(&s, name, SHMAP_RDWR) == 0 &&
                     shmap_lock(s, SHMAP_LOCK_EXCLUSIVE, 5) >= 0 && shmap_unlock(s) == 0 &&
                     shmap_close(s) == 0;
            _exit(ok ? 0 : 1);
        }
        int rc = test_wait(pid);
        stuck += rc == 128 + SIGALRM;
        failed += rc != 0 && rc != 128 + SIGALRM;
        util_sleep_ms(2);
    }
    for (int i = 0; i < 2; i++) {
        __atomic_store_n(&c[i].stop, 1, __ATOMIC_RELAXED);
        pthread_join(t[i], NULL);
    }
    CHECK_OK(shmap_delete(name, 5, 0));
    if (stuck || failed)
        test_fail(__FILE__, __LINE__, "of 40 children forked, %d stuck and %d failed", stuck,
                  failed);
}

struct slow_open {
    const char *name;
    int rc;
    double took;
};

static void *open_slowly(void *arg)
{
    struct slow_open *o = arg;
    double t0 = util_now_s();
    shmap_seg *s = NULL;
    o->rc = shmap_open(&s, o->name, SHMAP_RDONLY);
    o->took = util_now_s() - t0;
    if (o->rc == 0)
        shmap_close(s);
    return NULL;
}

/* How many mappings of the System V segment of key `key` this process has. */
static int sysv_mappings(key_t key)
{
    char line[512], tag[32];
    snprintf(tag, sizeof tag, "SYSV%08x", (unsigned)key);
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return -1;
    int n = 0;
    while (fgets(line, sizeof line, f))
        n += strstr(line, tag) != NULL;
    fclose(f);
    return n;
}

/*
 * An open that waits for a creator still writing a System V header (2 s at most) waits
 * alone: meanwhile other threads open, dup and close other segments, and fork, at once.
 * A child forked then does not get the mapping the waiting open is making, which it could
 * never release.
 */
TEST(multi__an_open_waiting_for_a_creator_holds_up_no_other_thread)
{
    char name[64];
    key_t key = test_sysv_key();
    snprintf(name, sizeof name, "sysv://0x%08x", (unsigned)key);
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_HIDDEN; /* its header says INIT until it is finished */
    shmap_seg *making = NULL;
    CHECK_OK(shmap_create(&making, name, SHMAP_U8, 1, (const uint64_t[]){16}, &opts));
    const char *other = test_name("slowother");
    util_make_kept(other, SHMAP_U8, 1, (const uint64_t[]){16});
    shmap_seg *seg = NULL, *dup = NULL, *again = NULL;
    CHECK_OK(shmap_open(&seg, other, SHMAP_RDWR));

    int before = sysv_mappings(key);
    CHECK(before >= 1);
    struct slow_open o = {name, 0, 0};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, open_slowly, &o) == 0);
    util_sleep_ms(300); /* the thread is in its wait */
    double t0 = util_now_s();
    CHECK_OK(shmap_dup(&dup, seg));
    CHECK_OK(shmap_open(&again, other, SHMAP_RDONLY));
    CHECK_OK(shmap_close(again));
    CHECK_OK(shmap_close(dup));
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        _exit(sysv_mappings(key) == before ? 0 : 10 + sysv_mappings(key));
    CHECK_EQ_INT(test_wait(pid), 0);
    double took = util_now_s() - t0;
    pthread_join(t, NULL);
    if (took > 1.0)
        test_fail(__FILE__, __LINE__, "dup, open, close and fork took %.2f s beside a waiting "
                  "open", took);
    CHECK_EQ_INT(o.rc, SHMAP_EINCOMPLETE);
    CHECK(o.took > 1.0);
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_close(making)); /* never finished: it goes */
    CHECK_OK(shmap_delete(other, 5, 0));
}

/* Open @p arg (a name) read-only 200 times, keeping every handle: a first use of the library
 * that takes its registry's mutex and nothing else, in a process that never used it. */
static int opener_started;

static void *open_many(void *arg)
{
    __atomic_store_n(&opener_started, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 200; i++) {
        shmap_seg *s = NULL;
        shmap_open(&s, arg, SHMAP_RDONLY);
    }
    return NULL;
}

/*
 * The same, where the process's first use of the library is a read-only open in another
 * thread: the handlers that hold the mutexes across fork() were registered only by a later
 * call, so a child forked during that open inherited the registry's mutex held, and its own
 * first open waited for ever. Each round is a process that has not used the library (this
 * test makes its segment through the command), forking a few microseconds into the open.
 */
TEST(multi__a_child_forked_during_a_first_read_only_open_is_not_stuck)
{
    const char *name = test_name("forkfirst");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "u8", "16");
    int stuck = 0, failed = 0, rounds = 0;
    for (; rounds < 30 && !stuck; rounds++) {
        fflush(NULL);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            pthread_t t;
            if (pthread_create(&t, NULL, open_many, (void *)name) != 0)
                _exit(2);
            while (!__atomic_load_n(&opener_started, __ATOMIC_ACQUIRE))
                ;
            struct timespec pause = {0, (rounds % 50) * 1000L};
            nanosleep(&pause, NULL);
            pid_t child = fork();
            if (child == 0) {
                alarm(3); /* one that waits for ever ends here, counted as stuck */
                shmap_seg *s = NULL;
                _exit(shmap_open(&s, name, SHMAP_RDONLY) == 0 ? 0 : 1);
            }
            _exit(child < 0 ? 3 : test_wait(child));
        }
        int rc = test_wait(pid);
        stuck += rc == 128 + SIGALRM;
        failed += rc != 0 && rc != 128 + SIGALRM;
    }
    RUN(0, "rm", name);
    util_clear(&out, &err);
    if (stuck || failed)
        test_fail(__FILE__, __LINE__, "in %d rounds, %d children stuck and %d failed", rounds,
                  stuck, failed);
}
