/*
 * Locks across real processes: exclusion, shared holders, try and timeouts, holders killed
 * with SIGKILL, a stress test of increments under the exclusive lock with readers checking
 * an invariant, and a reused pid simulated in the attach table.
 *
 * Every child is started with PR_SET_PDEATHSIG, so a failing test (whose process exits)
 * takes its children with it.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

#include "../util.h"

static shmap_seg *make_seg(const char *name, uint64_t n)
{
    shmap_seg *seg = NULL;
    const uint64_t dims[1] = {n};
    CHECK_OK(shmap_create(&seg, name, SHMAP_U64, 1, dims, NULL));
    return seg;
}

/* A child that opens the segment, takes a lock, reports 'L' (or 'E' on failure), then
 * sleeps until killed. */
static pid_t spawn_holder(const char *name, unsigned flags, struct util_chan *c)
{
    pid_t pid = util_spawn();
    if (pid == 0) {
        shmap_seg *seg = NULL;
        if (shmap_open(&seg, name, SHMAP_RDWR) < 0 || shmap_lock(seg, flags, -1) != 0) {
            util_child_send(c, 'E');
            _exit(1);
        }
        util_child_send(c, 'L');
        for (;;)
            pause();
    }
    return pid;
}

static struct shmap__lockarea *area(shmap_seg *seg)
{
    return (struct shmap__lockarea *)((char *)shmap_data(seg) - 4096 + SHMAP__LOCK_OFFSET);
}

TEST(lock__exclusive_excludes_exclusive_and_shared_across_processes)
{
    const char *name = test_name("excl");
    shmap_seg *seg = make_seg(name, 16);
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, -1));
    struct util_chan c;
    util_chan_open(&c);
    pid_t pid = util_spawn();
    if (pid == 0) {
        shmap_seg *s = NULL;
        if (shmap_open(&s, name, SHMAP_RDWR) < 0)
            _exit(10);
        if (shmap_lock(s, SHMAP_LOCK_EXCLUSIVE, 0) != -EBUSY)
            _exit(11);
        if (shmap_lock(s, SHMAP_LOCK_SHARED, 0) != -EBUSY)
            _exit(12);
        util_child_send(&c, 'T');
        /* Blocks until the parent has written its mark and unlocked. */
        if (shmap_lock(s, SHMAP_LOCK_EXCLUSIVE, 10) != 0)
            _exit(13);
        if (((uint64_t *)shmap_data(s))[0] != 42)
            _exit(14);
        ((uint64_t *)shmap_data(s))[1] = 7;
        if (shmap_unlock(s) != 0)
            _exit(15);
        if (shmap_lock(s, SHMAP_LOCK_SHARED, 10) != 0)
            _exit(16);
        shmap_close(s);
        _exit(0);
    }
    /* Its tries failed while we held the lock; we let go only once it sleeps in its wait. */
    CHECK_EQ_INT(util_parent_recv(&c), 'T');
    CHECK(util_wait_asleep(pid));
    ((uint64_t *)shmap_data(seg))[0] = 42;
    CHECK_OK(shmap_unlock(seg));
    CHECK_EQ_INT(test_wait(pid), 0);
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 0));
    CHECK_EQ_INT(((uint64_t *)shmap_data(seg))[1], 7);
    CHECK_OK(shmap_unlock(seg));
    CHECK_OK(shmap_close(seg));
    util_chan_close(&c);
}

TEST(lock__shared_allows_many_holders)
{
    const char *name = test_name("many");
    shmap_seg *seg = make_seg(name, 4);
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_SHARED, 0));
    struct util_chan c;
    util_chan_open(&c);
    pid_t kids[3];
    for (int i = 0; i < 3; i++)
        kids[i] = spawn_holder(name, SHMAP_LOCK_SHARED, &c);
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(util_parent_recv(&c), 'L');
    shmap_lockinfo li;
    CHECK_OK(shmap_lock_info(seg, &li));
    CHECK_EQ_INT(li.shared, 4);
    CHECK_EQ_INT(li.writer, 0);
    shmap_attacher at[8];
    CHECK_EQ_INT(shmap_attached(seg, at, 8), 4);
    for (int i = 0; i < 4; i++)
        CHECK(at[i].alive && at[i].shared == 1 && !at[i].writer && at[i].writable);
    /* A writer cannot get in while they hold. */
    shmap_seg *w = NULL;
    CHECK_OK(shmap_dup(&w, seg));
    CHECK_ERR(shmap_lock(w, SHMAP_LOCK_EXCLUSIVE, 0), -EBUSY);
    for (int i = 0; i < 3; i++) {
        kill(kids[i], SIGTERM);
        CHECK_EQ_INT(test_wait(kids[i]), 128 + SIGTERM);
    }
    CHECK_OK(shmap_unlock(seg));
    CHECK_OK(shmap_close(w));
    CHECK_OK(shmap_close(seg));
}

TEST(lock__try_and_misuse_give_distinct_codes)
{
    const char *name = test_name("try");
    shmap_seg *seg = make_seg(name, 4);
    CHECK_ERR(shmap_lock(seg, 0, 0), SHMAP_EINVAL);
    CHECK_ERR(shmap_lock(seg, SHMAP_LOCK_SHARED | SHMAP_LOCK_EXCLUSIVE, 0), SHMAP_EINVAL);
    CHECK_ERR(shmap_unlock(seg), SHMAP_EINVAL);
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_SHARED, 0));
    CHECK_ERR(shmap_lock(seg, SHMAP_LOCK_SHARED, 0), -EDEADLK);
    shmap_seg *other = NULL;
    CHECK_OK(shmap_dup(&other, seg));
    /* Another handle of the same process is excluded like another process. */
    CHECK_ERR(shmap_lock(other, SHMAP_LOCK_EXCLUSIVE, 0), -EBUSY);
    CHECK_OK(shmap_lock(other, SHMAP_LOCK_SHARED, 0));
    CHECK_OK(shmap_unlock(other));
    CHECK_OK(shmap_unlock(seg));
    CHECK_OK(shmap_lock(other, SHMAP_LOCK_EXCLUSIVE, 0));
    CHECK_ERR(shmap_lock(seg, SHMAP_LOCK_SHARED, 0), -EBUSY);
    /* Closing a handle releases what it holds. */
    CHECK_OK(shmap_close(other));
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 0));
    CHECK_OK(shmap_unlock(seg));
    CHECK_OK(shmap_close(seg));
}

TEST(lock__a_read_only_handle_locks_when_its_user_may_write_the_segment)
{
    const char *name = test_name("ro");
    shmap_seg *seg = make_seg(name, 4);
    shmap_seg *ro = NULL;
    CHECK_OK(shmap_open(&ro, name, SHMAP_RDONLY));
    /* A read-only open is not recorded... */
    CHECK_EQ_INT(shmap_attached(ro, NULL, 0), 1);
    /* ...until it locks, through a read-write map of the header page alone. */
    CHECK_OK(shmap_lock(ro, SHMAP_LOCK_SHARED, 0));
    shmap_lockinfo li;
    CHECK_OK(shmap_lock_info(ro, &li));
    CHECK_EQ_INT(li.shared, 1);
    CHECK_ERR(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 0), -EBUSY);
    CHECK_OK(shmap_unlock(ro));
    CHECK_OK(shmap_lock(ro, SHMAP_LOCK_EXCLUSIVE, 0));
    CHECK_ERR(shmap_lock(seg, SHMAP_LOCK_SHARED, 0), -EBUSY);
    shmap_attacher at[4];
    CHECK_EQ_INT(shmap_attached(seg, at, 4), 2);
    CHECK(at[1].writer && !at[1].writable && at[0].writable);
    /* Closing it releases the lock and leaves the table. */
    CHECK_OK(shmap_close(ro));
    CHECK_EQ_INT(shmap_attached(seg, NULL, 0), 1);
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_SHARED, 0));
    CHECK_OK(shmap_unlock(seg));
    CHECK_OK(shmap_close(seg));
}

/* A segment of 4 bytes with permission bits @p mode. */
static shmap_seg *make_mode(const char *name, mode_t mode)
{
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.mode = mode;
    shmap_seg *seg = NULL;
    const uint64_t dims[1] = {4};
    CHECK_OK(shmap_create(&seg, name, SHMAP_U8, 1, dims, &opts));
    return seg;
}

/* In a child: a read-only handle on @p name that "nobody" opened (root bypasses permission
 * bits, so checks of them run as another user). Exits 10 or 11 when it cannot. */
static shmap_seg *nobody_opens_read_only(const char *name)
{
    if (geteuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0))
        _exit(10);
    shmap_seg *ro = NULL;
    if (shmap_open(&ro, name, SHMAP_RDONLY) != 0)
        _exit(11);
    return ro;
}

TEST(lock__a_read_only_handle_without_write_permission_gets_ereadonly)
{
    const char *name = test_name("ro0444");
    shmap_seg *seg = make_mode(name, 0444);
    pid_t pid = util_spawn();
    if (pid == 0) {
        shmap_seg *ro = nobody_opens_read_only(name);
        if (shmap_lock(ro, SHMAP_LOCK_SHARED, 0) != SHMAP_EREADONLY ||
            !strstr(shmap_last_error(), name))
            _exit(12);
        shmap_lockinfo li;
        if (shmap_lock_info(ro, &li) != 0 || shmap_attached(ro, NULL, 0) != 1)
            _exit(13);
        if (shmap_open(&ro, name, SHMAP_RDONLY | SHMAP_HOLD) != SHMAP_EREADONLY || ro)
            _exit(14);
        _exit(0);
    }
    CHECK_EQ_INT(test_wait(pid), 0);
    CHECK_OK(shmap_close(seg));
}

/* The segment a read-only handle opened is deleted, and a segment this user may not write
 * (nor read, the second time) is made under its name: locking says the handle's segment is
 * gone, not that this user may not write it (which it could). */
TEST(lock__a_read_only_handle_whose_name_leads_to_another_users_segment_gets_eremoved)
{
    const mode_t modes[2] = {0644, 0600};
    for (int k = 0; k < 2; k++) {
        const char *name = test_name("ro-gone");
        shmap_seg *seg = make_mode(name, 0666);
        struct util_chan c;
        util_chan_open(&c);
        pid_t pid = util_spawn();
        if (pid == 0) {
            shmap_seg *ro = nobody_opens_read_only(name);
            util_child_send(&c, 'O');
            if (util_child_recv(&c) != 'R')
                _exit(12);
            int rc = shmap_lock(ro, SHMAP_LOCK_SHARED, 0);
            if (rc != SHMAP_EREMOVED || !strstr(shmap_last_error(), "deleted or replaced"))
                _exit(rc == SHMAP_EREADONLY ? 13 : 14);
            _exit(shmap_close(ro) == 0 ? 0 : 15);
        }
        CHECK_EQ_INT(util_parent_recv(&c), 'O');
        CHECK_OK(shmap_close(seg)); /* the creator's close deletes it */
        CHECK(!util_shm_exists(name));
        seg = make_mode(name, modes[k]);
        util_parent_send(&c, 'R');
        CHECK_EQ_INT(test_wait(pid), 0);
        util_chan_close(&c);
        CHECK_OK(shmap_close(seg));
    }
}

TEST(lock__hold_while_open_makes_opens_wait_for_each_other)
{
    const char *name = test_name("hold");
    shmap_seg *seg = make_seg(name, 4);
    shmap_set_destroy(seg, 0);
    CHECK_OK(shmap_close(seg));
    shmap_seg *w = NULL;
    CHECK_OK(shmap_open(&w, name, SHMAP_RDWR | SHMAP_HOLD));
    ((uint64_t *)shmap_data(w))[0] = 1;
    pid_t pid = util_spawn();
    if (pid == 0) {
        /* Two readers at once in this child; both wait for the writer's close. */
        shmap_seg *r1 = NULL, *r2 = NULL;
        if (shmap_open(&r1, name, SHMAP_RDONLY | SHMAP_HOLD) != 0)
            _exit(10);
        if (((uint64_t *)shmap_data(r1))[0] != 2)
            _exit(11);
        if (shmap_open(&r2, name, SHMAP_RDONLY | SHMAP_HOLD) != 0)
            _exit(12);
        shmap_close(r2);
        shmap_close(r1);
        _exit(0);
    }
    CHECK(util_wait_asleep(pid)); /* in its first open, waiting for us */
    ((uint64_t *)shmap_data(w))[0] = 2;
    CHECK_OK(shmap_close(w));
    CHECK_EQ_INT(test_wait(pid), 0);
    /* A writer's hold waits for readers' holds. */
    shmap_seg *r = NULL;
    CHECK_OK(shmap_open(&r, name, SHMAP_RDONLY | SHMAP_HOLD));
    struct util_chan c;
    util_chan_open(&c);
    pid = util_spawn();
    if (pid == 0) {
        shmap_seg *s = NULL;
        if (shmap_open(&s, name, SHMAP_RDWR) != 0)
            _exit(20);
        if (shmap_lock(s, SHMAP_LOCK_EXCLUSIVE, 0) != -EBUSY)
            _exit(21);
        shmap_close(s);
        util_child_send(&c, 'T');
        if (shmap_open(&s, name, SHMAP_RDWR | SHMAP_HOLD) != 0)
            _exit(22);
        shmap_close(s);
        _exit(0);
    }
    CHECK_EQ_INT(util_parent_recv(&c), 'T');
    CHECK(util_wait_asleep(pid)); /* in its hold-while-open, waiting for us */
    CHECK_OK(shmap_close(r));
    CHECK_EQ_INT(test_wait(pid), 0);
    util_chan_close(&c);
    CHECK_OK(shmap_unlink(name));
}

TEST(lock__timeout_gives_etimedout_within_bounds)
{
    const char *name = test_name("tmo");
    shmap_seg *seg = make_seg(name, 4);
    shmap_seg *mine = NULL;
    CHECK_OK(shmap_dup(&mine, seg));
    pid_t pid = util_spawn_holder(name, SHMAP_LOCK_EXCLUSIVE);
    double t0 = util_now_s();
    CHECK_ERR(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 0.2), -ETIMEDOUT);
    double t1 = util_now_s();
    CHECK(t1 - t0 >= 0.19 && t1 - t0 < 5);
    /* The detail says who holds it. */
    char holder[128];
    snprintf(holder, sizeof holder, "waiting for the exclusive lock: the exclusive lock is "
             "held by pid %d", (int)pid);
    CHECK_CONTAINS(shmap_last_error(), holder);
    CHECK_ERR(shmap_lock(mine, SHMAP_LOCK_SHARED, 0.1), -ETIMEDOUT);
    CHECK(util_now_s() - t1 >= 0.09);
    kill(pid, SIGTERM);
    test_wait(pid);
    CHECK_OK(shmap_close(mine));
    CHECK_OK(shmap_close(seg));
}

/* Seconds of CPU this thread has used. */
static double thread_cpu_s(void)
{
    struct rusage ru;
    CHECK(getrusage(RUSAGE_THREAD, &ru) == 0);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/*
 * Waits sleep in the kernel: half a second of waiting for a writer, for readers to drain and
 * for a publish costs a few milliseconds of CPU (a look at the holders every 10 ms), not the
 * half second of a wait whose sleeps end at once (a futex call that misreads its timeout, as
 * the plain one does on a 32-bit system built with a 64-bit time_t, spins instead).
 */
TEST(lock__waits_sleep_rather_than_spin)
{
    const char *name = test_name("sleep");
    shmap_seg *seg = make_seg(name, 4);
    pid_t pid = util_spawn_holder(name, SHMAP_LOCK_EXCLUSIVE);
    double cpu = thread_cpu_s(), t0 = util_now_s();
    CHECK_ERR(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 0.5), -ETIMEDOUT);
    CHECK(util_now_s() - t0 >= 0.49);
    double used = thread_cpu_s() - cpu;
    if (used >= 0.05)
        test_fail(__FILE__, __LINE__, "waiting 0.5 s for a writer used %.3f s of CPU", used);
    kill(pid, SIGTERM);
    test_wait(pid);
    /* A writer waiting for a reader to let go sleeps on another word. */
    pid = util_spawn_holder(name, SHMAP_LOCK_SHARED);
    cpu = thread_cpu_s();
    CHECK_ERR(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 0.5), -ETIMEDOUT);
    used = thread_cpu_s() - cpu;
    if (used >= 0.05)
        test_fail(__FILE__, __LINE__, "waiting 0.5 s for a reader used %.3f s of CPU", used);
    kill(pid, SIGTERM);
    test_wait(pid);
    uint64_t seen = shmap_generation(seg);
    cpu = thread_cpu_s();
    CHECK_ERR(shmap_wait(seg, &seen, 0.5), -ETIMEDOUT);
    used = thread_cpu_s() - cpu;
    if (used >= 0.05)
        test_fail(__FILE__, __LINE__, "waiting 0.5 s for a publish used %.3f s of CPU", used);
    CHECK_OK(shmap_close(seg));
}

TEST(lock__timeout_of_a_draining_writer_lets_readers_back_in)
{
    const char *name = test_name("drain");
    shmap_seg *seg = make_seg(name, 4);
    pid_t pid = util_spawn_holder(name, SHMAP_LOCK_SHARED);
    CHECK_ERR(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 0.1), -ETIMEDOUT);
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_SHARED, 0));
    CHECK_OK(shmap_unlock(seg));
    kill(pid, SIGTERM);
    test_wait(pid);
    CHECK_OK(shmap_close(seg));
}

TEST(lock__writer_killed_releases_and_next_writer_is_told)
{
    const char *name = test_name("wdead");
    shmap_seg *seg = make_seg(name, 4);
    pid_t pid = util_spawn_holder(name, SHMAP_LOCK_EXCLUSIVE);
    CHECK_ERR(shmap_lock(seg, SHMAP_LOCK_SHARED, 0), -EBUSY);
    CHECK(kill(pid, SIGKILL) == 0);
    /* Dead but not reaped: a zombie holder must count as dead too. */
    util_wait_zombie(pid);
    double t0 = util_now_s();
    CHECK_ERR(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 10), SHMAP_EOWNERDEAD);
    CHECK(util_now_s() - t0 < UTIL_PROMPT_S);
    char want[32];
    snprintf(want, sizeof want, "pid %d", (int)pid);
    CHECK_CONTAINS(shmap_last_error(), want);
    /* The lock is held after SHMAP_EOWNERDEAD. */
    shmap_seg *other = NULL;
    CHECK_OK(shmap_dup(&other, seg));
    CHECK_ERR(shmap_lock(other, SHMAP_LOCK_SHARED, 0), -EBUSY);
    shmap_lockinfo li;
    CHECK_OK(shmap_lock_info(seg, &li));
    CHECK_EQ_INT(li.dead_pid, pid);
    CHECK_EQ_INT(li.writer, getpid());
    CHECK_OK(shmap_unlock(seg));
    CHECK_EQ_INT(test_wait(pid), 128 + SIGKILL);
    /* Told once: the next writer finds a healthy lock. */
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 1));
    CHECK_OK(shmap_unlock(seg));
    CHECK_OK(shmap_close(other));
    CHECK_OK(shmap_close(seg));
}

/* Another process takes the exclusive lock of `name` next: it must be told that `dead`
 * died holding it. */
static void check_next_writer_told(const char *name, pid_t dead)
{
    pid_t next = util_spawn();
    if (next == 0) {
        shmap_seg *w = NULL;
        if (shmap_open(&w, name, SHMAP_RDWR) < 0)
            _exit(10);
        int rc = shmap_lock(w, SHMAP_LOCK_EXCLUSIVE, 10);
        char want[32];
        snprintf(want, sizeof want, "pid %d", (int)dead);
        if (rc != SHMAP_EOWNERDEAD || !strstr(shmap_last_error(), want))
            _exit(11);
        _exit(shmap_unlock(w) == 0 ? 0 : 12);
    }
    CHECK_EQ_INT(test_wait(next), 0);
}

/*
 * A holder that cannot repair what a dead writer left passes the news on: released with
 * shmap_unlock_inconsistent(), the lock tells the next writer (another process) of the same
 * dead writer; shmap_unlock() then clears it. A lock taken from a live writer cannot be
 * released so.
 */
TEST(lock__an_unrepaired_lock_tells_the_next_writer_of_the_same_death)
{
    const char *name = test_name("unrep");
    shmap_seg *seg = make_seg(name, 4);
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 0));
    CHECK_ERR(shmap_unlock_inconsistent(seg), SHMAP_EINVAL);
    CHECK_CONTAINS(shmap_last_error(), "not taken from a writer that died");
    CHECK_OK(shmap_unlock(seg));
    CHECK_ERR(shmap_unlock_inconsistent(seg), SHMAP_EINVAL);
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_SHARED, 0));
    CHECK_ERR(shmap_unlock_inconsistent(seg), SHMAP_EINVAL);
    CHECK_OK(shmap_unlock(seg));

    pid_t pid = util_spawn_holder(name, SHMAP_LOCK_EXCLUSIVE);
    util_kill9(pid);
    CHECK_ERR(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 10), SHMAP_EOWNERDEAD);
    CHECK_OK(shmap_unlock_inconsistent(seg));
    shmap_lockinfo li;
    CHECK_OK(shmap_lock_info(seg, &li));
    CHECK(li.owner_died && li.dead_pid == pid && li.writer == 0);
    check_next_writer_told(name, pid);
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 1));
    CHECK_OK(shmap_unlock(seg));
    CHECK_OK(shmap_close(seg));
}

/*
 * A holder that let another process write under its lock, and saw it killed, releases the
 * lock as if that process had died holding it: the next writer (another process) is told,
 * naming it. Only an exclusive lock held by this process can be released so.
 */
TEST(lock__unlock_died_tells_the_next_writer_of_the_process_named)
{
    const char *name = test_name("udied");
    shmap_seg *seg = make_seg(name, 4);
    CHECK_ERR(shmap_unlock_died(seg, 1234), SHMAP_EINVAL);
    CHECK_CONTAINS(shmap_last_error(), "holds no lock");
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_SHARED, 0));
    CHECK_ERR(shmap_unlock_died(seg, 1234), SHMAP_EINVAL);
    CHECK_CONTAINS(shmap_last_error(), "shared lock");
    CHECK_OK(shmap_unlock(seg));
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 0));
    CHECK_ERR(shmap_unlock_died(seg, 0), SHMAP_EINVAL);
    CHECK_CONTAINS(shmap_last_error(), "not a process id");
    CHECK_ERR(shmap_unlock_died(NULL, 1234), SHMAP_EINVAL);
    pid_t writer = util_spawn();
    if (writer == 0) {
        pause();
        _exit(0);
    }
    util_kill9(writer);
    CHECK_OK(shmap_unlock_died(seg, writer));
    shmap_lockinfo li;
    CHECK_OK(shmap_lock_info(seg, &li));
    CHECK(li.owner_died && li.dead_pid == writer && li.writer == 0);
    check_next_writer_told(name, writer);
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 1)); /* told once */
    CHECK_OK(shmap_unlock(seg));
    CHECK_OK(shmap_close(seg));
}

/*
 * A waiter checks the holders every 10 ms of its wait, however its sleeps end: signals
 * every 3 ms (a profiler's, a timer's), with or without SA_RESTART, cut each sleep short,
 * and a dead holder must be found all the same, not waited for until the timeout.
 */
TEST(lock__dead_holders_are_found_while_signals_cut_every_sleep_short)
{
    const char *name = test_name("pest");
    shmap_seg *seg = make_seg(name, 4);
    const int how[2] = {SA_RESTART, 0};
    for (int k = 0; k < 2; k++) {
        util_usr1_noop(true, how[k]);
        pid_t pest = util_spawn_pest(3);
        /* A dead writer: the exclusive lock is ours, told of it; a shared one is ours too. */
        pid_t pid = util_spawn_holder(name, SHMAP_LOCK_EXCLUSIVE);
        util_kill9(pid);
        double t0 = util_now_s();
        CHECK_OK(shmap_lock(seg, SHMAP_LOCK_SHARED, 10));
        CHECK(util_now_s() - t0 < UTIL_PROMPT_S);
        CHECK_OK(shmap_unlock(seg));
        t0 = util_now_s();
        CHECK_ERR(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 10), SHMAP_EOWNERDEAD);
        CHECK(util_now_s() - t0 < UTIL_PROMPT_S);
        CHECK_OK(shmap_unlock(seg));
        /* A dead reader, whom a writer waits for. */
        pid = util_spawn_holder(name, SHMAP_LOCK_SHARED);
        util_kill9(pid);
        t0 = util_now_s();
        CHECK_OK(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 10));
        CHECK(util_now_s() - t0 < UTIL_PROMPT_S);
        CHECK_OK(shmap_unlock(seg));
        util_kill9(pest);
        util_usr1_noop(false, 0);
    }
    CHECK_OK(shmap_close(seg));
}

/* A wait shorter than a slice (10 ms) still has its look at the holders, before it gives
 * up, as a try does: a dead holder is found, not reported busy for ever. */
TEST(lock__a_timeout_shorter_than_a_slice_still_finds_a_dead_holder)
{
    const char *name = test_name("short");
    shmap_seg *seg = make_seg(name, 4);
    const double timeouts[3] = {0.001, 0.005, 0.01};
    for (int i = 0; i < 3; i++) {
        pid_t pid = util_spawn_holder(name, SHMAP_LOCK_EXCLUSIVE);
        util_kill9(pid);
        CHECK_ERR(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, timeouts[i]), SHMAP_EOWNERDEAD);
        CHECK_OK(shmap_unlock(seg));
        pid = util_spawn_holder(name, SHMAP_LOCK_SHARED);
        util_kill9(pid);
        CHECK_OK(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, timeouts[i]));
        CHECK_OK(shmap_unlock(seg));
    }
    CHECK_OK(shmap_close(seg));
}

/*
 * `quiet` marks a delete's hold, which writes nothing. A value left in it by a judge that
 * knew nothing of it (an earlier version), equal to a later writer's claim (the same slot,
 * GEN come round), must not hide that writer's death: a writer's claim clears it.
 */
TEST(lock__a_stale_quiet_mark_does_not_hide_a_writers_death)
{
    const char *name = test_name("stale");
    shmap_seg *seg = make_seg(name, 4);
    char path[256];
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    CHECK(fd >= 0);
    struct shmap__header *h = mmap(NULL, SHMAP__HEADER_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
                                   fd, 0);
    CHECK(h != MAP_FAILED);
    close(fd);
    struct shmap__lockarea *a = (struct shmap__lockarea *)((char *)h + SHMAP__LOCK_OFFSET);
    /* The claim the next writer makes: the next GEN, in slot 1 (ours is slot 0). */
    uint32_t w = __atomic_load_n(&a->word, __ATOMIC_SEQ_CST);
    uint32_t claim = ((w + SHMAP__LW_GEN_ONE) & SHMAP__LW_GEN) | SHMAP__LW_WRITER | 1u;
    __atomic_store_n(&a->quiet, claim, __ATOMIC_SEQ_CST);
    pid_t pid = util_spawn_holder(name, SHMAP_LOCK_EXCLUSIVE);
    CHECK_EQ_INT(__atomic_load_n(&a->word, __ATOMIC_SEQ_CST) & ~SHMAP__LW_SLEEP, claim);
    util_kill9(pid);
    CHECK_ERR(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 5), SHMAP_EOWNERDEAD);
    CHECK_OK(shmap_unlock(seg));
    munmap(h, SHMAP__HEADER_SIZE);
    CHECK_OK(shmap_close(seg));
}

TEST(lock__writer_killed_while_readers_wait_is_still_reported)
{
    const char *name = test_name("wdead2");
    shmap_seg *seg = make_seg(name, 4);
    pid_t pid = util_spawn_holder(name, SHMAP_LOCK_EXCLUSIVE);
    CHECK(kill(pid, SIGKILL) == 0);
    CHECK_EQ_INT(test_wait(pid), 128 + SIGKILL);
    /* A reader recovers the lock first; the next writer is told all the same. */
    double t0 = util_now_s();
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_SHARED, 10));
    CHECK(util_now_s() - t0 < UTIL_PROMPT_S);
    CHECK_OK(shmap_unlock(seg));
    CHECK_ERR(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 5), SHMAP_EOWNERDEAD);
    CHECK_OK(shmap_unlock(seg));
    CHECK_OK(shmap_close(seg));
}

TEST(lock__three_readers_killed_while_holding_release_the_writer)
{
    const char *name = test_name("rdead");
    shmap_seg *seg = make_seg(name, 4);
    struct util_chan c;
    util_chan_open(&c);
    pid_t kids[3];
    for (int i = 0; i < 3; i++)
        kids[i] = spawn_holder(name, SHMAP_LOCK_SHARED, &c);
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(util_parent_recv(&c), 'L');
    CHECK_ERR(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 0), -EBUSY);
    for (int i = 0; i < 3; i++)
        CHECK(kill(kids[i], SIGKILL) == 0);
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(test_wait(kids[i]), 128 + SIGKILL);
    double t0 = util_now_s();
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 10));
    CHECK(util_now_s() - t0 < UTIL_PROMPT_S);
    shmap_lockinfo li;
    CHECK_OK(shmap_lock_info(seg, &li));
    CHECK_EQ_INT(li.shared, 0);
    CHECK_EQ_INT(li.owner_died, 0);
    /* Their slots were freed: only this process is attached. */
    CHECK_EQ_INT(shmap_attached(seg, NULL, 0), 1);
    CHECK_OK(shmap_unlock(seg));
    CHECK_OK(shmap_close(seg));
}

#define STRESS_N 64
#define STRESS_WRITERS 4
#define STRESS_ITERS 5000

TEST(lock__stress_exclusive_increments_lose_nothing_and_readers_see_no_torn_array)
{
    const char *name = test_name("stress");
    shmap_seg *seg = make_seg(name, STRESS_N + 2);
    volatile uint64_t *done = (uint64_t *)shmap_data(seg) + STRESS_N;
    uint64_t *start = (uint64_t *)shmap_data(seg) + STRESS_N + 1;
    pid_t kids[STRESS_WRITERS + 2];
    for (int k = 0; k < STRESS_WRITERS + 2; k++) {
        kids[k] = util_spawn();
        if (kids[k] != 0)
            continue;
        shmap_seg *s = NULL;
        if (shmap_open(&s, name, SHMAP_RDWR) < 0)
            _exit(10);
        volatile uint64_t *v = shmap_data(s);
        while (!__atomic_load_n(&v[STRESS_N + 1], __ATOMIC_ACQUIRE))
            sched_yield();
        if (k < STRESS_WRITERS) {
            /* Writer: increment every element, so all stay equal outside the lock. */
            for (int i = 0; i < STRESS_ITERS; i++) {
                if (shmap_lock(s, SHMAP_LOCK_EXCLUSIVE, 30) != 0)
                    _exit(11);
                for (int j = 0; j < STRESS_N; j++) {
                    v[j] = v[j] + 1;
                    /* Now and then be preempted mid-update, so others contend. */
                    if (j == STRESS_N / 2 && (i & 31) == 0)
                        sched_yield();
                }
                if (shmap_unlock(s) != 0)
                    _exit(12);
            }
            __atomic_add_fetch(&v[STRESS_N], 1, __ATOMIC_SEQ_CST);
        } else {
            long checks = 0;
            while (__atomic_load_n(&v[STRESS_N], __ATOMIC_SEQ_CST) < STRESS_WRITERS ||
                   checks < 100) {
                if (shmap_lock(s, SHMAP_LOCK_SHARED, 30) != 0)
                    _exit(13);
                uint64_t first = v[0];
                if ((checks & 15) == 0)
                    sched_yield();
                for (int j = 1; j < STRESS_N; j++)
                    if (v[j] != first)
                        _exit(14);
                if (shmap_unlock(s) != 0)
                    _exit(15);
                checks++;
            }
            if (checks == 0)
                _exit(16);
        }
        shmap_close(s);
        _exit(0);
    }
    __atomic_store_n(start, 1, __ATOMIC_RELEASE);
    for (int k = 0; k < STRESS_WRITERS + 2; k++)
        CHECK_EQ_INT(test_wait(kids[k]), 0);
    CHECK_EQ_INT(*done, STRESS_WRITERS);
    const uint64_t *v = shmap_data(seg);
    for (int j = 0; j < STRESS_N; j++)
        CHECK_EQ_INT(v[j], STRESS_WRITERS * STRESS_ITERS);
    CHECK_OK(shmap_close(seg));
}

/* A process's start time as the lock table records it (field 22 of /proc/PID/stat). */
static uint64_t start_of(pid_t pid)
{
    uint64_t start = 0;
    for (int i = 0; i < 100 && start == 0; i++) {
        char path[64], buf[1024];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        FILE *f = fopen(path, "r");
        if (f) {
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            fclose(f);
            buf[n] = '\0';
            char *p = strrchr(buf, ')');
            for (int field = 2; p && field < 22; field++)
                p = strchr(p + 1, ' ');
            if (p)
                start = strtoull(p + 1, NULL, 10);
        }
    }
    CHECK(start != 0);
    return start;
}

/* A child that sleeps until killed: a live pid for the slots the tests forge. */
static pid_t sleeper(void)
{
    pid_t pid = util_spawn();
    if (pid == 0) {
        for (;;)
            pause();
    }
    return pid;
}

/* Forge slot i of the attach table: a read-write process `pid` started at `start`, with
 * `shared` shared holds. */
static void forge_slot(struct shmap__lockarea *a, unsigned i, pid_t pid, uint64_t start,
                       uint32_t shared)
{
    a->slots[i].pid = pid;
    a->slots[i].start = start;
    a->slots[i].flags = SHMAP__SLOT_RDWR;
    __atomic_store_n(&a->slots[i].shared, shared, __ATOMIC_SEQ_CST);
}

TEST(lock__reused_pid_with_another_start_time_is_treated_as_dead)
{
    const char *name = test_name("reuse");
    shmap_seg *seg = make_seg(name, 4);
    /* A live process (a sleeping child) whose pid a dead holder's slot claims to have. */
    pid_t live = sleeper();
    struct shmap__lockarea *a = area(seg);
    uint64_t real = start_of(live);
    /* Slot 5: a "reader" holding the shared lock, with the live pid but a wrong start. */
    forge_slot(a, 5, live, real + 12345, 2);
    a->nslots = 6;
    double t0 = util_now_s();
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 10));
    CHECK(util_now_s() - t0 < UTIL_PROMPT_S);
    CHECK_EQ_INT(a->slots[5].pid, 0);
    CHECK_OK(shmap_unlock(seg));
    /* The same as a "writer": the word names slot 7, whose pid is live but not the one. */
    a->slots[7].pid = live;
    a->slots[7].start = real + 1;
    a->nslots = 8;
    __atomic_store_n(&a->word, SHMAP__LW_WRITER | 7u, __ATOMIC_SEQ_CST);
    t0 = util_now_s();
    CHECK_ERR(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 10), SHMAP_EOWNERDEAD);
    CHECK(util_now_s() - t0 < UTIL_PROMPT_S);
    CHECK_OK(shmap_unlock(seg));
    /* With the right start time the same pid is alive and holds. */
    a->slots[7].pid = live;
    a->slots[7].start = real;
    __atomic_store_n(&a->word, SHMAP__LW_WRITER | 7u, __ATOMIC_SEQ_CST);
    CHECK_ERR(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 0.1), -ETIMEDOUT);
    __atomic_store_n(&a->word, 0, __ATOMIC_SEQ_CST);
    a->slots[7].pid = 0;
    kill(live, SIGKILL);
    test_wait(live);
    CHECK_OK(shmap_close(seg));
}

/* Replaces the word, once a writer of ours has claimed it, with the claim `fake`. */
struct take_claim {
    struct shmap__lockarea *a;
    uint32_t fake;
    int done;
};

static void *take_claim_thread(void *p)
{
    struct take_claim *t = p;
    double t0 = util_now_s();
    while (util_now_s() - t0 < 5) {
        uint32_t w = __atomic_load_n(&t->a->word, __ATOMIC_SEQ_CST);
        if ((w & SHMAP__LW_WRITER) && w != t->fake &&
            __atomic_compare_exchange_n(&t->a->word, &w, t->fake, 0, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST)) {
            __atomic_store_n(&t->a->draining, t->fake, __ATOMIC_SEQ_CST);
            t->done = 1;
            break;
        }
        util_sleep_ms(1);
    }
    return NULL;
}

/*
 * A writer whose claim was taken from it while it waited for readers (it was thought
 * dead: simulated by rewriting the word) and whose wait then times out leaves the word
 * and `draining` to the claim that replaced its own: giving back "its" claim would
 * release another writer's lock.
 */
TEST(lock__a_timed_out_writer_gives_back_only_its_own_claim)
{
    const char *name = test_name("unwind");
    shmap_seg *seg = make_seg(name, 4);
    pid_t live = sleeper();
    struct shmap__lockarea *a = area(seg);
    uint64_t start = start_of(live);
    /* Slot 5: a live reader holding the shared lock, so the writer has to wait. Slot 7:
     * the live writer whose claim replaces ours. */
    forge_slot(a, 5, live, start, 1);
    forge_slot(a, 7, live, start, 0);
    a->nslots = 8;
    struct take_claim t = {a, SHMAP__LW_WRITER | SHMAP__LW_GEN_ONE * 77 | 7u, 0};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, take_claim_thread, &t) == 0);
    CHECK_ERR(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 0.3), -ETIMEDOUT);
    pthread_join(th, NULL);
    CHECK(t.done);
    CHECK_EQ_INT(__atomic_load_n(&a->word, __ATOMIC_SEQ_CST), t.fake);
    CHECK_EQ_INT(__atomic_load_n(&a->draining, __ATOMIC_SEQ_CST), t.fake);

    __atomic_store_n(&a->word, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&a->draining, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&a->slots[5].shared, 0, __ATOMIC_SEQ_CST);
    a->slots[5].pid = a->slots[7].pid = 0;
    kill(live, SIGKILL);
    test_wait(live);
    CHECK_OK(shmap_close(seg));
}

/*
 * A process killed while it reclaimed a dead holder's slot leaves the slot marked with
 * minus its pid and its start time in `rstart`, the holds not yet dropped. While that
 * reclaimer lives, the holds stand; once it is dead, the next waiter reclaims the slot
 * again, so nobody waits for good. (Simulated: the kill would have to land between two
 * stores.)
 */
TEST(lock__a_reclaimer_killed_half_way_blocks_nobody)
{
    const char *name = test_name("reclaim");
    shmap_seg *seg = make_seg(name, 4);
    pid_t reclaimer = sleeper();
    struct shmap__lockarea *a = area(seg);
    uint64_t start = start_of(reclaimer);
    /* Slot 5 had a reader with 2 holds, and the reclaimer has marked it. */
    a->slots[5].pid = -reclaimer;
    a->slots[5].rstart = start;
    __atomic_store_n(&a->slots[5].shared, 2, __ATOMIC_SEQ_CST);
    a->nslots = 6;
    CHECK_ERR(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 0.1), -ETIMEDOUT);
    CHECK_EQ_INT(a->slots[5].pid, -reclaimer);
    util_kill9(reclaimer);
    double t0 = util_now_s();
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 10));
    CHECK(util_now_s() - t0 < UTIL_PROMPT_S);
    CHECK_EQ_INT(a->slots[5].pid, 0);
    CHECK_EQ_INT(a->slots[5].shared, 0);
    CHECK_OK(shmap_unlock(seg));

    /* The same when the slot was the writer's: the word still names it, and the next
     * exclusive locker is told that a writer died. */
    a->slots[7].pid = -reclaimer;
    a->slots[7].rstart = start;
    a->nslots = 8;
    __atomic_store_n(&a->writer_pid, 4242, __ATOMIC_SEQ_CST);
    __atomic_store_n(&a->word, SHMAP__LW_WRITER | 7u, __ATOMIC_SEQ_CST);
    t0 = util_now_s();
    CHECK_ERR(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 10), SHMAP_EOWNERDEAD);
    CHECK(util_now_s() - t0 < UTIL_PROMPT_S);
    CHECK_EQ_INT(a->slots[7].pid, 0);
    CHECK_OK(shmap_unlock(seg));

    /* A bare -1 with holds (an earlier version's mark, whose reclaimer may still be at
     * work, or damage) names nobody to wait for: it gets one slice, then is reclaimed. */
    a->slots[3].pid = -1;
    a->slots[3].rstart = 0;
    __atomic_store_n(&a->slots[3].shared, 1, __ATOMIC_SEQ_CST);
    /* Readers only report it, through a read-only mapping too: they write nothing. */
    shmap_seg *ro = NULL;
    CHECK_OK(shmap_open(&ro, name, SHMAP_RDONLY));
    shmap_attacher att[8];
    CHECK(shmap_attached(ro, att, 8) >= 1);
    shmap_lockinfo li;
    CHECK_OK(shmap_lock_info(ro, &li));
    CHECK(a->slots[3].rstart == 0);
    CHECK_OK(shmap_close(ro));
    CHECK_ERR(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 0), -EBUSY);
    t0 = util_now_s();
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 10));
    CHECK(util_now_s() - t0 < UTIL_PROMPT_S);
    CHECK_EQ_INT(a->slots[3].pid, 0);
    CHECK_OK(shmap_unlock(seg));
    CHECK_OK(shmap_close(seg));
}

TEST(lock__a_forked_child_does_not_own_its_parents_lock)
{
    const char *name = test_name("fork");
    shmap_seg *seg = make_seg(name, 4);
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 0));
    struct util_chan c;
    util_chan_open(&c);
    pid_t pid = util_spawn();
    if (pid == 0) {
        if (shmap_unlock(seg) != SHMAP_EINVAL)
            _exit(10);
        if (shmap_lock(seg, SHMAP_LOCK_SHARED, 0) != -EBUSY)
            _exit(11);
        util_child_send(&c, 'T');
        if (shmap_lock(seg, SHMAP_LOCK_SHARED, 10) != 0)
            _exit(12);
        if (shmap_unlock(seg) != 0)
            _exit(13);
        _exit(0);
    }
    /* Our lock kept it out, and it waits for it: only then do we let go. */
    CHECK_EQ_INT(util_parent_recv(&c), 'T');
    CHECK(util_wait_asleep(pid));
    CHECK_OK(shmap_unlock(seg));
    CHECK_EQ_INT(test_wait(pid), 0);
    util_chan_close(&c);
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 0));
    CHECK_OK(shmap_unlock(seg));
    CHECK_OK(shmap_close(seg));
}

TEST(lock__attach_table_lists_processes_and_their_death)
{
    const char *name = test_name("attach");
    shmap_seg *seg = make_seg(name, 4);
    shmap_attacher at[4];
    CHECK_EQ_INT(shmap_attached(seg, at, 4), 1);
    CHECK_EQ_INT(at[0].pid, getpid());
    CHECK(at[0].alive && at[0].start != 0);
    pid_t pid = util_spawn_holder(name, SHMAP_LOCK_EXCLUSIVE);
    CHECK_EQ_INT(shmap_attached(seg, at, 4), 2);
    int k = at[0].pid == pid ? 0 : 1;
    CHECK_EQ_INT(at[k].pid, pid);
    CHECK(at[k].writer && at[k].alive);
    kill(pid, SIGKILL);
    CHECK_EQ_INT(test_wait(pid), 128 + SIGKILL);
    CHECK_EQ_INT(shmap_attached(seg, at, 4), 2);
    CHECK(!at[k].alive);
    /* A forked child shares the parent's mapping but is attached in its own right: it keeps
     * its slot while it holds the inherited reference, and is listed dead once gone. */
    pid = util_spawn();
    if (pid == 0) {
        shmap_seg *s = NULL;
        _exit(shmap_open(&s, name, SHMAP_RDWR) < 0 || shmap_close(s) < 0);
    }
    CHECK_EQ_INT(test_wait(pid), 0);
    CHECK_EQ_INT(shmap_attached(seg, at, 4), 3);
    for (int i = 0; i < 3; i++)
        CHECK(at[i].alive == (at[i].pid == getpid()));
    /* The writer's slot was reclaimed when a locker found it dead. */
    CHECK_ERR(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 5), SHMAP_EOWNERDEAD);
    CHECK_OK(shmap_unlock(seg));
    CHECK_EQ_INT(shmap_attached(seg, at, 4), 2);
    CHECK_OK(shmap_close(seg));
}

struct thread_arg {
    shmap_seg *seg;
    int fails;
};

static void *thread_increments(void *p)
{
    struct thread_arg *t = p;
    volatile uint64_t *v = shmap_data(t->seg);
    for (int i = 0; i < 20000; i++) {
        if (shmap_lock(t->seg, SHMAP_LOCK_EXCLUSIVE, 30) != 0) {
            t->fails++;
            continue;
        }
        uint64_t x = v[0];
        if ((i & 255) == 0)
            sched_yield();
        v[0] = x + 1;
        v[1] = x + 1;
        shmap_unlock(t->seg);
    }
    return NULL;
}

TEST(lock__threads_with_their_own_handles_exclude_each_other)
{
    const char *name = test_name("threads");
    shmap_seg *seg = make_seg(name, 2);
    struct thread_arg args[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        args[i].fails = 0;
        CHECK_OK(shmap_dup(&args[i].seg, seg));
        CHECK(pthread_create(&th[i], NULL, thread_increments, &args[i]) == 0);
    }
    for (int i = 0; i < 3; i++) {
        CHECK(pthread_join(th[i], NULL) == 0);
        CHECK_EQ_INT(args[i].fails, 0);
        CHECK_OK(shmap_close(args[i].seg));
    }
    const uint64_t *v = shmap_data(seg);
    CHECK_EQ_INT(v[0], 60000);
    CHECK_EQ_INT(v[1], 60000);
    CHECK_OK(shmap_close(seg));
}

/* A wait check that counts its calls, tries a shared lock through another handle on its
 * second call, and ends the wait on its fifth. */
struct check_state {
    int calls;
    int reader_try;      /* what a new reader's try gave while the writer waited */
    shmap_seg *reader;
};

static int count_then_cancel(void *arg)
{
    struct check_state *st = arg;
    if (++st->calls == 2) {
        st->reader_try = shmap_lock(st->reader, SHMAP_LOCK_SHARED, 0);
        if (st->reader_try == 0)
            shmap_unlock(st->reader);
    }
    return st->calls >= 5 ? -ECANCELED : 0;
}

TEST(lock__a_wait_check_keeps_the_writers_place_and_can_end_the_wait)
{
    const char *name = test_name("check");
    shmap_seg *seg = make_seg(name, 4);
    struct check_state st = {0, 1, NULL};
    CHECK_OK(shmap_dup(&st.reader, seg));
    pid_t pid = util_spawn_holder(name, SHMAP_LOCK_SHARED);

    shmap_set_wait_check(count_then_cancel, &st);
    double t0 = util_now_s();
    CHECK_ERR(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 10), -ECANCELED);
    double spent = util_now_s() - t0;
    shmap_set_wait_check(NULL, NULL);
    CHECK(strstr(shmap_last_error(), "stopped by the wait check") != NULL);
    CHECK_EQ_INT(st.calls, 5);
    /* Each call came after a 10 ms slice: the check is asked, not busy-polled. */
    CHECK(spent >= 0.035 && spent < 5);
    /* Between the check's calls the writer kept its claim: a new reader was kept out. */
    CHECK_ERR(st.reader_try, -EBUSY);
    /* Ended, it gave the claim back: readers get in, and the handle holds nothing. */
    CHECK_OK(shmap_lock(st.reader, SHMAP_LOCK_SHARED, 0));
    CHECK_OK(shmap_unlock(st.reader));
    CHECK_ERR(shmap_unlock(seg), SHMAP_EINVAL);
    /* Without the check, the same wait runs to its timeout. */
    CHECK_ERR(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 0.05), -ETIMEDOUT);
    CHECK_EQ_INT(st.calls, 5);

    kill(pid, SIGTERM);
    test_wait(pid);
    CHECK_OK(shmap_close(st.reader));
    CHECK_OK(shmap_close(seg));
}

static int go_on(void *arg)
{
    ++*(int *)arg;
    return 0;
}

struct thread_wait {
    shmap_seg *seg;
    int rc;
};

static void *thread_waits(void *p)
{
    struct thread_wait *t = p;
    t->rc = shmap_lock(t->seg, SHMAP_LOCK_SHARED, 0.05);
    return NULL;
}

TEST(lock__a_wait_check_that_says_go_on_changes_nothing_and_is_per_thread)
{
    const char *name = test_name("goon");
    shmap_seg *seg = make_seg(name, 4);
    pid_t pid = util_spawn_holder(name, SHMAP_LOCK_EXCLUSIVE);
    int calls = 0;
    shmap_set_wait_check(go_on, &calls);
    /* A wait that runs only after its deadline never sleeps, so never asks: on a loaded
     * machine that can happen, and the wait is tried again. */
    for (int i = 0; i < 10 && calls == 0; i++)
        CHECK_ERR(shmap_lock(seg, SHMAP_LOCK_SHARED, 0.1), -ETIMEDOUT);
    CHECK(calls >= 1);
    /* Another thread's waits do not ask this thread's check. */
    int before = calls;
    struct thread_wait tw = {NULL, 0};
    CHECK_OK(shmap_dup(&tw.seg, seg));
    pthread_t th;
    CHECK(pthread_create(&th, NULL, thread_waits, &tw) == 0);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_ERR(tw.rc, -ETIMEDOUT);
    CHECK_EQ_INT(calls, before);
    CHECK_OK(shmap_close(tw.seg));
    /* The holder is killed: the wait that finds it dead ends with the lock, as without a
     * check, which was asked along the way. */
    calls = 0;
    kill(pid, SIGKILL);
    test_wait(pid);
    CHECK_ERR(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 5), SHMAP_EOWNERDEAD);
    CHECK(calls >= 1);
    CHECK_OK(shmap_unlock(seg));
    shmap_set_wait_check(NULL, NULL);
    CHECK_OK(shmap_close(seg));
}

static int say_code(void *arg)
{
    return *(int *)arg;
}

TEST(lock__a_wait_check_that_returns_no_errno_code_ends_the_wait_as_ecanceled)
{
    const char *name = test_name("ckcode");
    shmap_seg *seg = make_seg(name, 4);
    pid_t pid = util_spawn_holder(name, SHMAP_LOCK_EXCLUSIVE);
    /* A library code would claim what did not happen (owner died: lock held). */
    const int codes[] = {SHMAP_EOWNERDEAD, 7, -ETIMEDOUT};
    const int want[] = {-ECANCELED, -ECANCELED, -ETIMEDOUT};
    for (int i = 0; i < 3; i++) {
        int code = codes[i];
        shmap_set_wait_check(say_code, &code);
        CHECK_ERR(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 10), want[i]);
        shmap_set_wait_check(NULL, NULL);
        CHECK_ERR(shmap_unlock(seg), SHMAP_EINVAL);
    }
    kill(pid, SIGTERM);
    test_wait(pid);
    CHECK_OK(shmap_close(seg));
}

/* Wait (10 s at most) until the lock word names `pid` as the writer. */
static int writer_is(shmap_seg *seg, pid_t pid)
{
    for (int i = 0; i < 1000; i++) {
        shmap_lockinfo li;
        if (shmap_lock_info(seg, &li) == 0 && li.writer == pid)
            return 1;
        util_sleep_ms(10);
    }
    return 0;
}

/* A child that blocks taking the exclusive lock while a reader holds it (its report is never
 * read: it never gets the lock). */
static pid_t waiting_writer(shmap_seg *seg, const char *name)
{
    struct util_chan c;
    util_chan_open(&c);
    pid_t pid = spawn_holder(name, SHMAP_LOCK_EXCLUSIVE, &c);
    util_chan_close(&c);
    CHECK(writer_is(seg, pid));
    return pid;
}

TEST(lock__a_writer_killed_while_waiting_for_readers_wrote_nothing_and_is_not_reported)
{
    const char *name = test_name("wkw");
    shmap_seg *seg = make_seg(name, 4);
    pid_t reader = util_spawn_holder(name, SHMAP_LOCK_SHARED);
    pid_t writer = waiting_writer(seg, name);
    char who[256];
    CHECK_OK(shmap_lock_holders(seg, who, sizeof who));
    char want[96];
    snprintf(want, sizeof want, "being taken (waiting for readers) by pid %d", (int)writer);
    CHECK(strstr(who, want) != NULL);
    kill(writer, SIGKILL);
    test_wait(writer);
    kill(reader, SIGTERM);
    test_wait(reader);
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 5));
    shmap_lockinfo li;
    CHECK_OK(shmap_lock_info(seg, &li));
    CHECK(!li.owner_died && li.dead_pid == 0);
    CHECK_OK(shmap_unlock(seg));
    CHECK_OK(shmap_close(seg));
}

TEST(lock__an_earlier_writers_death_is_still_told_after_a_waiting_writer_is_killed)
{
    const char *name = test_name("wkw2");
    shmap_seg *seg = make_seg(name, 4);
    pid_t first = util_spawn_holder(name, SHMAP_LOCK_EXCLUSIVE);
    kill(first, SIGKILL);
    test_wait(first);
    pid_t reader = util_spawn_holder(name, SHMAP_LOCK_SHARED); /* gets in once the death is found */
    pid_t writer = waiting_writer(seg, name);
    kill(writer, SIGKILL);
    test_wait(writer);
    kill(reader, SIGTERM);
    test_wait(reader);
    CHECK_ERR(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 5), SHMAP_EOWNERDEAD);
    char want[64];
    snprintf(want, sizeof want, "(pid %d) died", (int)first);
    CHECK(strstr(shmap_last_error(), want) != NULL);
    CHECK_OK(shmap_unlock(seg));
    /* Told once: the lock is clean again. */
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 0));
    CHECK_OK(shmap_unlock(seg));
    CHECK_OK(shmap_close(seg));
}

/* How many of the pids listed after "shared hold(s) by pid(s) " in `who` are `pid`. */
static int listed(const char *who, pid_t pid)
{
    const char *p = strstr(who, "shared hold");
    CHECK(p != NULL);
    p = strstr(p, "pid") + 3;
    p += *p == 's';
    int n = 0;
    for (;;) {
        char *end;
        long v = strtol(p, &end, 10);
        CHECK(end != p);
        n += v == pid;
        p = strstr(end, ", ");
        if (!p)
            return n;
        p += 2;
    }
}

/*
 * A process that maps a segment twice (read-write and read-only) and holds shared locks
 * through both is one holder: shmap_lock_holders() names it once, and counts it once for
 * "hold" or "holds".
 */
TEST(lock__holders_name_a_process_with_two_handles_once)
{
    const char *name = test_name("twohandles");
    shmap_seg *rw = make_seg(name, 4), *ro = NULL;
    CHECK_OK(shmap_open(&ro, name, SHMAP_RDONLY));
    CHECK_OK(shmap_lock(rw, SHMAP_LOCK_SHARED, 0));
    CHECK_OK(shmap_lock(ro, SHMAP_LOCK_SHARED, 0));
    char who[512], want[64];
    snprintf(want, sizeof want, "shared hold by pid %d (this process)", (int)getpid());
    CHECK_OK(shmap_lock_holders(rw, who, sizeof who));
    CHECK_STR(who, want);

    /* With another process holding too: two holders, each named once. */
    pid_t other = util_spawn_holder(name, SHMAP_LOCK_SHARED);
    CHECK_OK(shmap_lock_holders(ro, who, sizeof who));
    CHECK(strncmp(who, "shared holds by pids ", 21) == 0);
    CHECK_EQ_INT(listed(who, getpid()), 1);
    CHECK_EQ_INT(listed(who, other), 1);
    CHECK(strstr(who, ", ") && !strstr(strstr(who, ", ") + 2, ", "));
    util_kill9(other);
    CHECK_OK(shmap_unlock(ro));
    CHECK_OK(shmap_unlock(rw));
    CHECK_OK(shmap_close(ro));
    CHECK_OK(shmap_close(rw));
}
