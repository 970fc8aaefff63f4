/*
 * gc racing an open. A process that opens a transient segment while gc judges it either
 * gets the segment, which then keeps its name, or finds no segment: never a mapping of a
 * segment gc removed from under it. Each round leaves a transient segment whose creator is
 * dead and runs gc while a child opens and closes it in a loop, so that some opens land
 * inside gc's judgement (without the protocol in gc.c, a few rounds in 300 catch gc
 * removing a segment the child had just opened).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include "../util.h"

#define ROUNDS 300

/* Spin for about `us` microseconds: a sleep would round up to the timer's slack. */
static void spin_us(long us)
{
    double until = util_now_s() + (double)us * 1e-6;
    while (util_now_s() < until)
        ;
}

/* Shared between a round's two processes. */
struct race {
    int turn;      /* 0 until the child's first open, 1 once gc is done */
    int rc;        /* the child's failed open, when it says 'E' */
    char why[512]; /* and its detail */
};

/*
 * One round. The child opens the segment over and over, holding each handle a moment and
 * asking whether the segment still has its name, until it finds no segment or this process
 * has run gc; it answers 'X' if a segment it held lost its name, 'E' if an open failed
 * otherwise than finding none (the failure in `r`), else 'O'.
 */
static void race_once(const char *name, unsigned open_flags, unsigned seed, struct race *r)
{
    int *turn = &r->turn;
    util_make_by_dead_creator(name, SHMAP_CREATE_TRANSIENT);
    __atomic_store_n(turn, 0, __ATOMIC_SEQ_CST);
    struct util_chan c;
    util_chan_open(&c);
    pid_t pid = util_spawn();
    if (pid == 0) {
        int lost = 0, rc = 0;
        while (__atomic_load_n(turn, __ATOMIC_SEQ_CST) != 1) {
            shmap_seg *seg = NULL;
            if ((rc = shmap_open(&seg, name, open_flags)) < 0)
                break;
            int zero = 0;
            __atomic_compare_exchange_n(turn, &zero, -1, false, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST);
            spin_us(5);
            shmap_info info;
            lost += shmap_info_get(seg, &info) < 0 || info.deleted;
            shmap_close(seg);
        }
        int zero = 0;
        __atomic_compare_exchange_n(turn, &zero, -1, false, __ATOMIC_SEQ_CST,
                                    __ATOMIC_SEQ_CST);
        if (!lost && rc < 0 && rc != -ENOENT) {
            r->rc = rc;
            snprintf(r->why, sizeof r->why, "%s", shmap_last_error());
        }
        util_child_send(&c, lost ? 'X' : rc < 0 && rc != -ENOENT ? 'E' : 'O');
        _exit(0);
    }
    /* gc once the child is at it, after a moment that varies from round to round. */
    while (__atomic_load_n(turn, __ATOMIC_SEQ_CST) == 0)
        ;
    srand(seed);
    spin_us(rand() % 20);
    CHECK_OK(shmap_gc(name, 0, NULL, NULL));
    __atomic_store_n(turn, 1, __ATOMIC_SEQ_CST);
    char said = util_parent_recv(&c);
    CHECK_EQ_INT(test_wait(pid), 0);
    util_chan_close(&c);
    /* Kept because the child held it when gc looked: removed now. */
    shmap_seg *seg = NULL;
    if (shmap_open(&seg, name, SHMAP_RDONLY) == 0) {
        CHECK_OK(shmap_close(seg));
        CHECK_OK(shmap_delete(name, 0, SHMAP_DELETE_FORCE));
    }
    if (said == 'X')
        test_fail(__FILE__, __LINE__, "round %u: gc removed %s while a child held it", seed,
                  name);
    if (said == 'E')
        test_fail(__FILE__, __LINE__, "round %u: the child's open failed: %s (%d)", seed,
                  r->why, r->rc);
    CHECK_EQ_INT(said, 'O');
}

static void race(const char *name, unsigned open_flags)
{
    struct race *r = mmap(NULL, sizeof *r, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                          -1, 0);
    CHECK(r != MAP_FAILED);
    for (unsigned i = 0; i < ROUNDS; i++)
        race_once(name, open_flags, i, r);
    munmap(r, sizeof *r);
}

TEST(gc_race__an_open_read_write_racing_gc_keeps_its_segment_named_or_finds_none)
{
    race(test_name("rw"), SHMAP_RDWR);
}

TEST(gc_race__an_open_read_only_racing_gc_keeps_its_segment_named_or_finds_none)
{
    race(test_name("ro"), SHMAP_RDONLY);
}

TEST(gc_race__a_system_v_open_racing_gc_keeps_its_segment_named_or_finds_none)
{
    char name[64];
    snprintf(name, sizeof name, "sysv://0x%08x", (unsigned)test_sysv_key());
    race(name, SHMAP_RDWR);
}

/* Write `pid` (0: none) into the segment's gc mark, and `removed`, through its header. */
/* Write `pid` (0: none) into the segment's gc mark, made `age_s` seconds ago in pid
 * namespace `pidns` (0: unknown), and `removed`, through its header. */
static void set_mark_at(const char *name, pid_t pid, double age_s, uint32_t pidns,
                        uint32_t removed)
{
    struct shmap__header h;
    util_header_read(name, &h);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    h.gc_pid = pid;
    h.gc_start = 0; /* judged by pid alone */
    h.gc_pidns = pidns;
    h.gc_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec - (int64_t)(age_s * 1e9);
    h.removed = removed;
    util_header_write(name, &h);
}

static void set_mark(const char *name, pid_t pid, uint32_t removed)
{
    set_mark_at(name, pid, 0, 0, removed);
}

/* Open `name` read-only and close it; the seconds from `t0` until it was open. */
static double open_since(const char *name, double t0)
{
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDONLY));
    double took = util_now_s() - t0;
    CHECK_OK(shmap_close(seg));
    return took;
}

/* Open `name` read-only and close it; the seconds it took. */
static double timed_open(const char *name)
{
    return open_since(name, util_now_s());
}

static void *clear_mark_later(void *name)
{
    util_sleep_ms(300);
    set_mark(name, 0, 0);
    return NULL;
}

/*
 * The mark as an open meets it: a live gc's is waited for until gc clears it, or for two
 * seconds at most (a gc stopped half-way holds no open for good); a dead gc's, or
 * `removed` on a segment that still has its name (a delete that failed), is no reason to
 * wait.
 */
TEST(gc_race__an_open_waits_for_a_live_gc_mark_only)
{
    const char *name = test_name("mark");
    util_make_kept(name, SHMAP_U8, 1, (const uint64_t[]){16});
    pid_t gc = util_spawn();
    if (gc == 0) {
        for (;;)
            pause();
    }
    set_mark(name, gc, 0);
    /* Lower bounds are timed from before what they wait for starts (the thread's 300 ms,
     * the mark's last 0.3 s): a stall of this thread cannot make a wait look shorter. */
    pthread_t t;
    double t0 = util_now_s();
    CHECK(pthread_create(&t, NULL, clear_mark_later, (void *)name) == 0);
    double took = open_since(name, t0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(took >= 0.25 && took < 1.5);

    set_mark(name, gc, 0);
    took = timed_open(name);
    CHECK(took >= 1.9 && took < 5.0);

    /* A gc of this pid namespace is judged by its pid, however old its mark (its clock may
     * have been stepped): waited for until it clears it. */
    set_mark_at(name, gc, 3.0, 0, 0);
    t0 = util_now_s();
    CHECK(pthread_create(&t, NULL, clear_mark_later, (void *)name) == 0);
    took = open_since(name, t0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(took >= 0.25 && took < 1.5);
    /* One of another pid namespace, whose pid cannot be judged from here, is heeded while
     * its mark is under two seconds old, and not when it is dated that far ahead either. */
    pid_t other = getppid();
    set_mark_at(name, other, 3.0, 12345, 0);
    CHECK(timed_open(name) < 0.5);
    set_mark_at(name, other, -3.0, 12345, 0);
    CHECK(timed_open(name) < 0.5);
    t0 = util_now_s();
    set_mark_at(name, other, 1.7, 12345, 0);
    took = open_since(name, t0);
    CHECK(took >= 0.15 && took < 1.5);
    /* A claim being written (minus a pid) that stays so is a gc that died or froze half-way,
     * whoever has that pid now. */
    set_mark(name, -other, 0);
    CHECK(timed_open(name) < 0.5);
    /* A gc that died holds nobody up; a read-write open clears its mark, so that later
     * opens need not look at it. */
    util_kill9(gc);
    set_mark(name, gc, 0);
    CHECK(timed_open(name) < 0.5);
    struct shmap__header h;
    util_header_read(name, &h);
    CHECK_EQ_INT(h.gc_pid, gc);
    shmap_seg *rw = NULL;
    CHECK_OK(shmap_open(&rw, name, SHMAP_RDWR));
    CHECK_OK(shmap_close(rw));
    util_header_read(name, &h);
    CHECK_EQ_INT(h.gc_pid, 0);
    set_mark(name, 0, 1);
    CHECK(timed_open(name) < 0.5);
    CHECK_OK(shmap_delete(name, 0, 0));
}

/* A gc whose mark nobody heeds any more is replaced: the next gc removes the segment. */
TEST(gc_race__a_stale_mark_does_not_keep_a_segment_from_gc)
{
    const char *name = test_name("stale");
    util_make_by_dead_creator(name, SHMAP_CREATE_TRANSIENT);
    set_mark_at(name, getppid(), 3.0, 12345, 0); /* another namespace's, long ago */
    struct util_gc_events e;
    memset(&e, 0, sizeof e);
    CHECK_OK(shmap_gc(name, 0, util_gc_collect, &e));
    CHECK_EQ_INT(e.n, 1);
    CHECK(e.ev[0].action == SHMAP_GC_REMOVED_TRANSIENT && e.ev[0].status == 0);
    CHECK(!util_shm_exists(name));
}

/* One gc thread, another thread of the same process opening: the same guarantee. */
struct thread_race {
    const char *name;
    int *turn;
    int lost, failed;
};

static void *open_loop(void *arg)
{
    struct thread_race *r = arg;
    while (__atomic_load_n(r->turn, __ATOMIC_SEQ_CST) != 1) {
        shmap_seg *seg = NULL;
        int rc = shmap_open(&seg, r->name, SHMAP_RDONLY);
        if (rc < 0) {
            r->failed += rc != -ENOENT;
            break;
        }
        int zero = 0;
        __atomic_compare_exchange_n(r->turn, &zero, -1, false, __ATOMIC_SEQ_CST,
                                    __ATOMIC_SEQ_CST);
        spin_us(5);
        shmap_info info;
        r->lost += shmap_info_get(seg, &info) < 0 || info.deleted;
        shmap_close(seg);
    }
    int zero = 0;
    __atomic_compare_exchange_n(r->turn, &zero, -1, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return NULL;
}

TEST(gc_race__an_open_in_another_thread_of_the_gc_process_is_safe_too)
{
    const char *name = test_name("thr");
    int turn;
    for (unsigned i = 0; i < ROUNDS; i++) {
        util_make_by_dead_creator(name, SHMAP_CREATE_TRANSIENT);
        __atomic_store_n(&turn, 0, __ATOMIC_SEQ_CST);
        struct thread_race r = {name, &turn, 0, 0};
        pthread_t t;
        CHECK(pthread_create(&t, NULL, open_loop, &r) == 0);
        while (__atomic_load_n(&turn, __ATOMIC_SEQ_CST) == 0)
            ;
        srand(i);
        spin_us(rand() % 20);
        int rc = shmap_gc(name, 0, NULL, NULL);
        __atomic_store_n(&turn, 1, __ATOMIC_SEQ_CST);
        CHECK(pthread_join(t, NULL) == 0);
        shmap_seg *seg = NULL;
        if (shmap_open(&seg, name, SHMAP_RDONLY) == 0) {
            CHECK_OK(shmap_close(seg));
            CHECK_OK(shmap_delete(name, 0, SHMAP_DELETE_FORCE));
        }
        CHECK_OK(rc);
        if (r.lost)
            test_fail(__FILE__, __LINE__, "round %u: gc removed %s while a thread held it", i,
                      name);
        CHECK_EQ_INT(r.failed, 0);
    }
}

/* gc's callback: count[0] removals of transient segments, count[1] failed or kept ones.
 * (A gc may also clear the stale slots of a segment it kept because the other gc had it
 * open, before that one removes it.) */
static int count_events(const shmap_gc_event *ev, void *ctx)
{
    int *count = ctx;
    if (ev->status != 0)
        count[1]++;
    else if (ev->action == SHMAP_GC_REMOVED_TRANSIENT)
        count[0]++;
    return 0;
}

/*
 * Two gcs at once over the same leftovers: none is removed twice, nothing fails. Each gc
 * keeps a segment the other has open while it looks: what both kept, the next gc removes.
 */
TEST(gc_race__two_gcs_at_once_remove_each_leftover_once)
{
    enum { N = 40 };
    const char *family = test_name("two");
    char names[N][128];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "%s-%02d", family, i);
        util_make_by_dead_creator(names[i], SHMAP_CREATE_TRANSIENT);
    }
    int up[2];
    CHECK(pipe(up) == 0);
    pid_t other = util_spawn();
    if (other == 0) {
        int count[2] = {0, 0};
        int rc = shmap_gc(family, 0, count_events, count);
        char said[2] = {(char)count[0], (char)(rc == 0 && count[1] == 0)};
        _exit(write(up[1], said, 2) == 2 ? 0 : 1);
    }
    int count[2] = {0, 0};
    CHECK_OK(shmap_gc(family, 0, count_events, count));
    char said[2];
    CHECK(read(up[0], said, 2) == 2);
    CHECK_EQ_INT(test_wait(other), 0);
    close(up[0]);
    close(up[1]);
    CHECK_EQ_INT(said[1], 1);
    CHECK_EQ_INT(count[1], 0);
    int left = 0;
    for (int i = 0; i < N; i++)
        left += util_shm_exists(names[i]);
    CHECK_EQ_INT(count[0] + said[0] + left, N);
    count[0] = 0;
    CHECK_OK(shmap_gc(family, 0, count_events, count));
    CHECK_EQ_INT(count[0], left);
    CHECK_EQ_INT(count[1], 0);
    for (int i = 0; i < N; i++)
        CHECK(!util_shm_exists(names[i]));
}

/*
 * gc asks whether a process maps a segment by taking a write lease on it for a moment, and
 * may remove the name before it gives the lease back. An open that meets the lease and
 * then finds the name gone finds no segment (-ENOENT); it used to fail with the lease's
 * EAGAIN. Here a holder takes the lease and, when an open breaks it, removes the name and
 * gives the lease back; the opener runs at idle priority on the holder's CPU, so the
 * holder acts between the opener's first try and its next step. On a loaded machine the
 * opener may go on first and wait for the lease, and get the segment it reached by name.
 */
static void on_cpu0(void)
{
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    CPU_SET(0, &cpus);
    if (sched_setaffinity(0, sizeof cpus, &cpus) < 0)
        _exit(4);
}

TEST(gc_race__an_open_meeting_a_lease_as_the_name_goes_finds_no_segment)
{
    const char *name = test_name("lease");
    char path[SHMAP_NAME_MAX + 16];
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    struct race *r = mmap(NULL, sizeof *r, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                          -1, 0);
    CHECK(r != MAP_FAILED);
    for (int round = 0; round < 20; round++) {
        util_make_kept(name, SHMAP_U8, 1, (const uint64_t[]){16});
        struct util_chan c;
        util_chan_open(&c);
        pid_t holder = util_spawn();
        if (holder == 0) {
            on_cpu0();
            sigset_t io;
            sigemptyset(&io);
            sigaddset(&io, SIGIO);
            sigprocmask(SIG_BLOCK, &io, NULL);
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd < 0 || fcntl(fd, F_SETLEASE, F_WRLCK) < 0)
                _exit(2);
            util_child_send(&c, 'L');
            struct timespec wait = {10, 0};
            if (sigtimedwait(&io, NULL, &wait) != SIGIO)
                _exit(3);
            unlink(path);
            fcntl(fd, F_SETLEASE, F_UNLCK);
            _exit(0);
        }
        CHECK_EQ_INT(util_parent_recv(&c), 'L');
        r->rc = 1;
        pid_t opener = util_spawn();
        if (opener == 0) {
            on_cpu0();
            struct sched_param idle = {0};
            if (sched_setscheduler(0, SCHED_IDLE, &idle) < 0)
                _exit(5);
            shmap_seg *seg = NULL;
            int rc = shmap_open(&seg, name, SHMAP_RDONLY);
            snprintf(r->why, sizeof r->why, "%s", rc < 0 ? shmap_last_error() : "opened");
            if (rc == 0)
                shmap_close(seg);
            r->rc = rc;
            _exit(0);
        }
        int opened = test_wait(opener), held = test_wait(holder);
        util_chan_close(&c);
        if (util_shm_exists(name))
            util_shm_remove(name);
        CHECK_EQ_INT(opened, 0);
        CHECK_EQ_INT(held, 0);
        if (r->rc != -ENOENT && r->rc != 0)
            test_fail(__FILE__, __LINE__, "round %d: the open gave %d: %s", round, r->rc,
                      r->why);
    }
    munmap(r, sizeof *r);
}
