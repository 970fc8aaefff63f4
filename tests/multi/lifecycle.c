/*
 * Deletion and garbage collection across real processes: shmap_delete() waits for lock
 * holders, times out naming them, or is forced while a holder keeps using its mapping;
 * shmap_gc() clears the slots of killed processes, removes the hidden leftovers of killed
 * creations and the transient segments nobody uses, and keeps everything else.
 *
 * gc runs scoped to this test's names (or to one dead pid's hidden objects), so tests
 * running at the same time on the machine do not collect each other's objects.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>

#include "../util.h"

static void make_kept(const char *name, unsigned extra)
{
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_KEEP | extra;
    shmap_seg *seg = NULL;
    const uint64_t dims[1] = {16};
    CHECK_OK(shmap_create(&seg, name, SHMAP_U64, 1, dims, &opts));
    CHECK_OK(shmap_close(seg));
}

/* A child that opens `name` with `flags`, optionally locks, says 'L', then waits for a
 * byte: 'U' unlocks, closes and exits 0; anything else exits at once. */
static pid_t spawn_holder(const char *name, unsigned flags, unsigned lock, struct util_chan *c)
{
    pid_t pid = util_spawn();
    if (pid == 0) {
        shmap_seg *seg = NULL;
        if (shmap_open(&seg, name, flags) != 0 || (lock && shmap_lock(seg, lock, 5) != 0)) {
            util_child_send(c, 'E');
            _exit(1);
        }
        util_child_send(c, 'L');
        if (util_child_recv(c) != 'U')
            _exit(2);
        if (lock)
            shmap_unlock(seg);
        shmap_close(seg);
        _exit(0);
    }
    return pid;
}

static const shmap_gc_event *find_event(const struct util_gc_events *e,
                                        shmap_gc_action action, const char *name)
{
    for (int i = 0; i < e->n; i++)
        if (e->ev[i].action == action && strcmp(e->ev[i].name, name) == 0)
            return &e->ev[i];
    return NULL;
}

static void gc_here(struct util_gc_events *e, unsigned flags)
{
    memset(e, 0, sizeof *e);
    CHECK_OK(shmap_gc(test_prefix(), flags, util_gc_collect, e));
}

/*
 * `shmap A1 [A2 [A3]]` under strace, which traces the system calls `calls` and delays them
 * as `inject` says (strace's -e inject=), to hold a moment open; its descriptor `quiet` (1
 * or 2) goes to /dev/null. The tracer's pid: the command is its child, and dies with it.
 */
static pid_t spawn_delayed(const char *calls, const char *inject, int quiet, const char *a1,
                           const char *a2, const char *a3)
{
    char trace[64], inj[128];
    snprintf(trace, sizeof trace, "trace=%s", calls);
    snprintf(inj, sizeof inj, "inject=%s", inject);
    int out = open("/dev/null", O_WRONLY | O_CLOEXEC);
    CHECK(out >= 0);
    pid_t pid = util_spawn();
    if (pid == 0) {
        dup2(out, quiet);
#ifdef UTIL_ASAN
        setenv("ASAN_OPTIONS", "detect_leaks=0", 1); /* LeakSanitizer cannot run traced */
#endif
        execlp("strace", "strace", "-qq", "-o", "/dev/null", "-e", trace, "-e", inj,
               test_shmap_bin(), a1, a2, a3, (char *)NULL);
        _exit(127);
    }
    close(out);
    return pid;
}

/* ---------------------------------------------------------------------------------------- */
/* Delete */

TEST(delete__waits_for_a_holder_and_succeeds_after_it_unlocks)
{
    const char *name = test_name("wait");
    make_kept(name, 0);
    unsigned locks[2] = {SHMAP_LOCK_EXCLUSIVE, SHMAP_LOCK_SHARED};
    for (int k = 0; k < 2; k++) {
        if (k)
            make_kept(name, 0);
        struct util_chan c;
        util_chan_open(&c);
        pid_t pid = spawn_holder(name, SHMAP_RDWR, locks[k], &c);
        CHECK_EQ_INT(util_parent_recv(&c), 'L');
        /* A helper lets the holder go 300 ms after it finds us asleep in delete: had
         * delete not waited for the holder, it would have returned sooner. */
        pid_t helper = util_spawn();
        if (helper == 0) {
            if (!util_wait_asleep(getppid()))
                _exit(1);
            util_sleep_ms(300);
            util_parent_send(&c, 'U');
            _exit(0);
        }
        double t0 = util_now_s();
        CHECK_OK(shmap_delete(name, 10, 0));
        double dt = util_now_s() - t0;
        CHECK(dt > 0.25);
        CHECK_EQ_INT(test_wait(pid), 0);
        CHECK_EQ_INT(test_wait(helper), 0);
        CHECK(!util_shm_exists(name));
        shmap_seg *seg = NULL;
        CHECK_ERR(shmap_open(&seg, name, SHMAP_RDONLY), -ENOENT);
    }
}

TEST(delete__waits_for_hold_while_open_users)
{
    const char *name = test_name("hold");
    make_kept(name, 0);
    struct util_chan c;
    util_chan_open(&c);
    pid_t pid = spawn_holder(name, SHMAP_RDONLY | SHMAP_HOLD, 0, &c);
    CHECK_EQ_INT(util_parent_recv(&c), 'L');
    CHECK_ERR(shmap_delete(name, 0, 0), -EBUSY);
    CHECK(util_shm_exists(name));
    util_parent_send(&c, 'U');
    CHECK_EQ_INT(test_wait(pid), 0);
    CHECK_OK(shmap_delete(name, 0, 0));
    CHECK(!util_shm_exists(name));
}

TEST(delete__try_and_timeout_fail_naming_the_holder)
{
    const char *name = test_name("tmo");
    make_kept(name, 0);
    struct util_chan c;
    util_chan_open(&c);
    pid_t pid = spawn_holder(name, SHMAP_RDWR, SHMAP_LOCK_EXCLUSIVE, &c);
    CHECK_EQ_INT(util_parent_recv(&c), 'L');
    char want[32];
    snprintf(want, sizeof want, "pid %d", (int)pid);
    CHECK_ERR(shmap_delete(name, 0, 0), -EBUSY);
    CHECK_CONTAINS(shmap_last_error(), want);
    CHECK_DETAIL_NAMES(name);
    double t0 = util_now_s();
    CHECK_ERR(shmap_delete(name, 0.2, 0), -ETIMEDOUT);
    double dt = util_now_s() - t0;
    CHECK(dt >= 0.19 && dt < 0.2 + UTIL_PROMPT_S);
    CHECK_CONTAINS(shmap_last_error(), want);
    CHECK_CONTAINS(shmap_last_error(), "timed out");
    CHECK(util_shm_exists(name));
    /* Shared holders are named too. */
    util_parent_send(&c, 'U');
    CHECK_EQ_INT(test_wait(pid), 0);
    pid = spawn_holder(name, SHMAP_RDWR, SHMAP_LOCK_SHARED, &c);
    CHECK_EQ_INT(util_parent_recv(&c), 'L');
    snprintf(want, sizeof want, "shared hold by pid %d", (int)pid);
    CHECK_ERR(shmap_delete(name, 0.05, 0), -ETIMEDOUT);
    CHECK_CONTAINS(shmap_last_error(), want);
    util_parent_send(&c, 'U');
    CHECK_EQ_INT(test_wait(pid), 0);
    CHECK_OK(shmap_delete(name, 10, 0));
}

/* Waiting for a lock this process holds would wait for itself: refused at once, even
 * with no timeout, for each way of holding it. */
TEST(delete__refuses_at_once_when_this_process_holds_the_lock)
{
    const char *name = test_name("self");
    make_kept(name, 0);
    shmap_seg *seg = NULL, *held = NULL;
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDWR));
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 0));
    double t0 = util_now_s();
    CHECK_ERR(shmap_delete(name, -1, 0), -EDEADLK);
    CHECK_CONTAINS(shmap_last_error(), "this process holds the exclusive lock on it");
    CHECK_DETAIL_NAMES(name);
    CHECK_OK(shmap_unlock(seg));
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_SHARED, 0));
    CHECK_ERR(shmap_delete(name, 5, 0), -EDEADLK);
    CHECK_CONTAINS(shmap_last_error(), "this process holds 1 shared hold on it");
    CHECK_OK(shmap_unlock(seg));
    CHECK_OK(shmap_open(&held, name, SHMAP_RDONLY | SHMAP_HOLD));
    CHECK_ERR(shmap_delete(name, -1, 0), -EDEADLK);
    CHECK(util_now_s() - t0 < UTIL_PROMPT_S);
    CHECK_OK(shmap_close(held));
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_delete(name, 0, 0));
    CHECK(!util_shm_exists(name));
}

/*
 * A slot that carries this process's pid but another start time is a dead process whose
 * pid we were given again, not us: the deletion recovers its hold instead of refusing
 * as if this process held the lock. (Simulated: the slot is written by hand.)
 */
TEST(delete__a_dead_holder_with_our_pid_again_is_not_this_process)
{
    const char *name = test_name("reused");
    make_kept(name, 0);
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDWR));
    struct shmap__lockarea *a =
        (struct shmap__lockarea *)((char *)shmap_data(seg) - 4096 + SHMAP__LOCK_OFFSET);
    shmap_attacher me[4];
    CHECK_EQ_INT(shmap_attached(seg, me, 4), 1);
    struct shmap__lockslot *s = &a->slots[6];
    s->start = me[0].start + 1;
    s->pidns = a->slots[0].pidns;
    s->flags = SHMAP__SLOT_RDWR;
    __atomic_store_n(&s->shared, 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&s->pid, getpid(), __ATOMIC_SEQ_CST);
    a->nslots = 7;
    CHECK_OK(shmap_close(seg));
    double t0 = util_now_s();
    CHECK_OK(shmap_delete(name, 10, 0));
    CHECK(util_now_s() - t0 < UTIL_PROMPT_S);
    CHECK(!util_shm_exists(name));
}

struct later_unlock {
    shmap_seg *seg;
    long ms;
};

static void *unlock_later(void *p)
{
    struct later_unlock *u = p;
    util_sleep_ms(u->ms);
    return (void *)(intptr_t)shmap_unlock(u->seg);
}

/* With another thread, that thread may let go: the deletion waits for it, unless the
 * caller says no other thread will. */
TEST(delete__waits_for_another_thread_of_this_process_to_let_go)
{
    const char *name = test_name("thread");
    make_kept(name, 0);
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDWR));
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 0));
    CHECK_ERR(shmap_delete(name, -1, SHMAP_DELETE_NOT_MINE), -EDEADLK);
    /* The clock starts before the thread's 200 ms: a stall of this thread after it was
     * started (a loaded machine) cannot make the wait look shorter than it was. */
    struct later_unlock u = {seg, 200};
    pthread_t t;
    double t0 = util_now_s();
    CHECK(pthread_create(&t, NULL, unlock_later, &u) == 0);
    CHECK_OK(shmap_delete(name, 30, 0));
    CHECK(util_now_s() - t0 >= 0.19); /* it waited for the thread */
    void *rc = NULL;
    CHECK(pthread_join(t, &rc) == 0);
    CHECK(rc == NULL);
    CHECK(!util_shm_exists(name));
    CHECK_OK(shmap_close(seg));
}

/* A kept segment `name`, opened read-write and locked exclusively here. */
static shmap_seg *make_locked(const char *name)
{
    make_kept(name, 0);
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDWR));
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 0));
    return seg;
}

/*
 * SHMAP_DELETE_LOCKED under this process's exclusive lock: the name goes at once, nobody
 * gets in between (a process waiting for the lock gets it only at our unlock, and then
 * finds the data as we left it and the name gone), and our mapping works on.
 */
TEST(delete__locked_removes_the_name_under_this_process_hold)
{
    const char *name = test_name("locked");
    shmap_seg *seg = make_locked(name);
    uint64_t *d = shmap_data(seg);
    struct util_chan c;
    util_chan_open(&c);
    pid_t pid = util_spawn();
    if (pid == 0) {
        shmap_seg *w = NULL, *again = NULL;
        if (shmap_open(&w, name, SHMAP_RDWR) != 0)
            _exit(10);
        util_child_send(&c, 'O');
        if (shmap_lock(w, SHMAP_LOCK_EXCLUSIVE, 20) != 0)
            _exit(11);
        const uint64_t *wd = shmap_data(w);
        if (wd[0] != 77)
            _exit(12);
        if (shmap_open(&again, name, SHMAP_RDONLY) != -ENOENT)
            _exit(13);
        _exit(shmap_unlock(w) == 0 && shmap_close(w) == 0 ? 0 : 14);
    }
    CHECK_EQ_INT(util_parent_recv(&c), 'O');
    CHECK(util_wait_asleep(pid));
    double t0 = util_now_s();
    CHECK_OK(shmap_delete(name, -1, SHMAP_DELETE_LOCKED));
    CHECK(util_now_s() - t0 < UTIL_PROMPT_S);
    CHECK(!util_shm_exists(name));
    d[0] = 77; /* still ours, under the lock */
    shmap_lockinfo li;
    CHECK_OK(shmap_lock_info(seg, &li));
    CHECK_EQ_INT(li.writer, getpid());
    CHECK_OK(shmap_unlock(seg));
    CHECK_EQ_INT(test_wait(pid), 0);
    CHECK_OK(shmap_close(seg));
}

/* Under the exclusive lock of the process that forked us (as `shmap lock --write` runs its
 * command): the child's delete removes the name under its parent's hold. A delete without
 * the flag, which would wait for that ancestor, says how. */
TEST(delete__locked_removes_the_name_under_an_ancestor_hold)
{
    const char *name = test_name("ancestor");
    shmap_seg *seg = make_locked(name);
    /* A grandchild, as a command run through sh -c is. */
    pid_t pid = util_spawn();
    if (pid == 0) {
        pid_t inner = fork();
        if (inner == 0) {
            /* Without the flag it would wait for its ancestor in vain: said so. */
            if (shmap_delete(name, 0, 0) != -EBUSY ||
                !strstr(shmap_last_error(), "(an ancestor of this process: to delete under "
                                            "its hold, pass SHMAP_DELETE_LOCKED)"))
                _exit(4);
            _exit(shmap_delete(name, 5, SHMAP_DELETE_LOCKED) == 0 ? 0 : 1);
        }
        int status;
        if (inner < 0 || waitpid(inner, &status, 0) != inner)
            _exit(2);
        _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 3);
    }
    CHECK_EQ_INT(test_wait(pid), 0);
    CHECK(!util_shm_exists(name));
    CHECK_OK(shmap_unlock(seg));
    CHECK_OK(shmap_close(seg));
}

/*
 * SHMAP_DELETE_LOCKED when the exclusive lock is not held for us: by nobody, by us only
 * shared, by a writer still waiting for our readers, or by another process (our child,
 * not an ancestor). Each is refused at once with -ENOLCK saying which, and the segment is
 * kept.
 */
TEST(delete__locked_refuses_a_hold_that_is_not_ours_and_keeps_the_segment)
{
    const char *name = test_name("notours");
    make_kept(name, 0);
    CHECK_ERR(shmap_delete(name, -1, SHMAP_DELETE_LOCKED), -ENOLCK);
    CHECK_CONTAINS(shmap_last_error(), "nobody holds its exclusive lock");
    CHECK_DETAIL_NAMES(name);
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDWR));
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_SHARED, 0));
    CHECK_ERR(shmap_delete(name, -1, SHMAP_DELETE_LOCKED), -ENOLCK);
    CHECK_CONTAINS(shmap_last_error(), "nobody holds its exclusive lock");

    /* A writer claims the lock and waits for our shared hold. */
    struct util_chan c;
    util_chan_open(&c);
    pid_t waiter = spawn_holder(name, SHMAP_RDWR, SHMAP_LOCK_EXCLUSIVE, &c);
    shmap_lockinfo li;
    int waited_ms = 0;
    while (shmap_lock_info(seg, &li) == 0 && !li.writer_waiting && waited_ms < 5000) {
        util_sleep_ms(5);
        waited_ms += 5;
    }
    CHECK(li.writer_waiting);
    CHECK_ERR(shmap_delete(name, -1, SHMAP_DELETE_LOCKED), -ENOLCK);
    CHECK_CONTAINS(shmap_last_error(), "still waits for its exclusive lock");
    CHECK_OK(shmap_unlock(seg));

    /* Now the child holds it: not this process, nor an ancestor. */
    CHECK_EQ_INT(util_parent_recv(&c), 'L');
    double t0 = util_now_s();
    CHECK_ERR(shmap_delete(name, -1, SHMAP_DELETE_LOCKED), -ENOLCK);
    char want[96];
    snprintf(want, sizeof want, "held by pid %d, neither this process nor one of its ancestors",
             (int)waiter);
    CHECK_CONTAINS(shmap_last_error(), want);
    CHECK(util_now_s() - t0 < UTIL_PROMPT_S);
    CHECK(util_shm_exists(name));
    util_parent_send(&c, 'U');
    CHECK_EQ_INT(test_wait(waiter), 0);
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_delete(name, 5, 0));
    CHECK(!util_shm_exists(name));
}

TEST(delete__force_removes_at_once_while_a_holder_keeps_its_mapping)
{
    const char *name = test_name("force");
    make_kept(name, 0);
    struct util_chan c;
    util_chan_open(&c);
    pid_t pid = util_spawn();
    if (pid == 0) {
        shmap_seg *seg = NULL;
        if (shmap_open(&seg, name, SHMAP_RDWR | SHMAP_HOLD) != 0)
            _exit(10);
        uint64_t *d = shmap_data(seg);
        d[0] = 41;
        util_child_send(&c, 'L');
        if (util_child_recv(&c) != 'G')
            _exit(11);
        /* The name is gone; the mapping is not. */
        if (d[0] != 41)
            _exit(12);
        d[1] = 42;
        if (d[1] != 42)
            _exit(13);
        shmap_seg *again = NULL;
        if (shmap_open(&again, name, SHMAP_RDONLY) != -ENOENT)
            _exit(14);
        if (shmap_close(seg) != 0)
            _exit(15);
        _exit(0);
    }
    CHECK_EQ_INT(util_parent_recv(&c), 'L');
    double t0 = util_now_s();
    CHECK_OK(shmap_delete(name, -1, SHMAP_DELETE_FORCE));
    CHECK(util_now_s() - t0 < UTIL_PROMPT_S); /* the holder lets go only when told */
    CHECK(!util_shm_exists(name));
    shmap_seg *seg = NULL;
    CHECK_ERR(shmap_open(&seg, name, SHMAP_RDWR), -ENOENT);
    CHECK_ERR(shmap_delete(name, 0, 0), -ENOENT);
    CHECK_ERR(shmap_delete(name, 0, SHMAP_DELETE_FORCE), -ENOENT);
    util_parent_send(&c, 'G');
    CHECK_EQ_INT(test_wait(pid), 0);
}

TEST(delete__refuses_a_foreign_object_unless_forced)
{
    const char *name = test_name("foreign");
    char junk[8192];
    memset(junk, 'x', sizeof junk);
    util_shm_write(name, junk, sizeof junk);
    CHECK_ERR(shmap_delete(name, 0, 0), SHMAP_EFORMAT);
    CHECK_DETAIL_NAMES(name);
    CHECK_CONTAINS(shmap_last_error(), "force");
    CHECK(util_shm_exists(name));
    CHECK_OK(shmap_delete(name, 0, SHMAP_DELETE_FORCE));
    CHECK(!util_shm_exists(name));
    CHECK_ERR(shmap_delete(name, 0, 1u << 7), SHMAP_EINVAL);
    CHECK_ERR(shmap_delete(".shmap-tmp-1-1", 0, 0), SHMAP_EBADNAME);
}

TEST(delete__a_holder_killed_does_not_block_delete_for_long)
{
    const char *name = test_name("killed");
    make_kept(name, 0);
    unsigned locks[2] = {SHMAP_LOCK_EXCLUSIVE, SHMAP_LOCK_SHARED};
    for (int k = 0; k < 2; k++) {
        if (k)
            make_kept(name, 0);
        struct util_chan c;
        util_chan_open(&c);
        pid_t pid = spawn_holder(name, SHMAP_RDWR, locks[k], &c);
        CHECK_EQ_INT(util_parent_recv(&c), 'L');
        CHECK(kill(pid, SIGKILL) == 0);
        CHECK_EQ_INT(test_wait(pid), 128 + SIGKILL);
        double t0 = util_now_s();
        CHECK_OK(shmap_delete(name, 10, 0));
        CHECK(util_now_s() - t0 < UTIL_PROMPT_S);
        CHECK(!util_shm_exists(name));
    }
}

/*
 * A delete writes nothing: killed while it holds the lock (held open here by strace, which
 * delays its unlink), it must not leave the next writer told that a writer died.
 */
TEST(delete__killed_holding_the_lock_leaves_no_writer_death_behind)
{
    if (system("strace -V >/dev/null 2>&1") != 0)
        TEST_SKIP("strace is not installed (apt-get install strace)");
    const char *name = test_name("quiet");
    make_kept(name, 0);
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDWR));
    pid_t tracer = spawn_delayed("unlink,unlinkat", "unlink,unlinkat:delay_enter=2000000", 2,
                                 "rm", name, NULL);
    shmap_lockinfo li = {0};
    double t0 = util_now_s();
    while ((shmap_lock_info(seg, &li) != 0 || !li.writer || li.writer_waiting) &&
           util_now_s() - t0 < 10)
        util_sleep_ms(1);
    CHECK(li.writer > 0 && li.writer != tracer && !li.writer_waiting);
    CHECK(kill(li.writer, SIGKILL) == 0);
    CHECK_EQ_INT(test_wait(tracer), 128 + SIGKILL);
    CHECK(util_shm_exists(name));
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 5));
    CHECK_OK(shmap_lock_info(seg, &li));
    CHECK(!li.owner_died);
    CHECK_EQ_INT(li.dead_pid, 0);
    CHECK_OK(shmap_unlock(seg));
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_delete(name, 0, 0));
}

/* A writer died holding the lock, then the segment was deleted while another process still
 * maps it: that process's next exclusive lock is still told of the death. */
TEST(delete__leaves_a_writer_death_for_the_next_writer_of_a_mapping_kept)
{
    const char *name = test_name("news");
    make_kept(name, 0);
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDWR));
    pid_t pid = util_spawn_holder(name, SHMAP_LOCK_EXCLUSIVE);
    util_kill9(pid);
    CHECK_OK(shmap_delete(name, 5, 0));
    CHECK(!util_shm_exists(name));
    CHECK_ERR(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 5), SHMAP_EOWNERDEAD);
    shmap_lockinfo li;
    CHECK_OK(shmap_lock_info(seg, &li));
    CHECK_EQ_INT(li.dead_pid, pid);
    CHECK_OK(shmap_unlock(seg));
    CHECK_OK(shmap_close(seg));
}

/* ---------------------------------------------------------------------------------------- */
/* gc */

TEST(gc__clears_the_slot_of_a_process_killed_between_attach_and_detach)
{
    const char *name = test_name("slot");
    make_kept(name, 0);
    struct util_chan c;
    util_chan_open(&c);
    pid_t pid = spawn_holder(name, SHMAP_RDWR, 0, &c);
    CHECK_EQ_INT(util_parent_recv(&c), 'L');
    CHECK(kill(pid, SIGKILL) == 0);
    CHECK_EQ_INT(test_wait(pid), 128 + SIGKILL);
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDONLY));
    shmap_attacher at[4];
    CHECK_EQ_INT(shmap_attached(seg, at, 4), 1);
    CHECK(at[0].pid == pid && !at[0].alive);

    struct util_gc_events e;
    gc_here(&e, SHMAP_GC_DRY_RUN);
    const shmap_gc_event *ev = find_event(&e, SHMAP_GC_CLEARED_SLOTS, name);
    CHECK(ev && ev->slots == 1 && ev->dry_run && ev->status == 0);
    CHECK_EQ_INT(shmap_attached(seg, NULL, 0), 1);

    gc_here(&e, 0);
    CHECK_EQ_INT(e.n, 1);
    ev = find_event(&e, SHMAP_GC_CLEARED_SLOTS, name);
    CHECK(ev && ev->slots == 1 && !ev->dry_run && ev->status == 0);
    CHECK_EQ_INT(shmap_attached(seg, NULL, 0), 0);
    /* A persistent segment is kept, whatever its slots said. */
    CHECK(util_shm_exists(name));
    gc_here(&e, 0);
    CHECK_EQ_INT(e.n, 0);
    CHECK_OK(shmap_close(seg));
    /* Nor does it block delete. */
    CHECK_OK(shmap_delete(name, 1, 0));
}

TEST(gc__removes_the_hidden_leftover_of_a_creator_killed_mid_creation)
{
    /* A dead pid: a child that exited, a zombie until the end (see util_zombie_pid()). */
    pid_t dead = util_zombie_pid();
    char hidden[80], handle[96], prefix[64];
    snprintf(prefix, sizeof prefix, ".shmap-tmp-%d-", (int)dead);
    snprintf(hidden, sizeof hidden, "%s1", prefix);
    snprintf(handle, sizeof handle, "/%s", hidden);
    /* A live creation in progress (ours) must be kept. */
    char mine[64], mine_handle[80];
    snprintf(mine, sizeof mine, ".shmap-tmp-%d-999999", (int)getpid());
    snprintf(mine_handle, sizeof mine_handle, "/%s", mine);
    int fd = shm_open(handle, O_RDWR | O_CREAT | O_EXCL, 0600);
    CHECK(fd >= 0);
    CHECK(ftruncate(fd, 8192) == 0);
    close(fd);
    fd = shm_open(mine_handle, O_RDWR | O_CREAT | O_EXCL, 0600);
    CHECK(fd >= 0);
    close(fd);

    /* Never listed. */
    shmap_entry *list = NULL;
    size_t n = 0;
    CHECK_OK(shmap_list(&list, &n, SHMAP_LIST_ALL));
    for (size_t i = 0; i < n; i++)
        CHECK(strncmp(list[i].info.name, ".shmap-", 7) != 0);
    shmap_list_free(list);

    struct util_gc_events e;
    memset(&e, 0, sizeof e);
    CHECK_OK(shmap_gc(prefix, SHMAP_GC_DRY_RUN, util_gc_collect, &e));
    CHECK_EQ_INT(e.n, 1);
    CHECK(e.ev[0].action == SHMAP_GC_REMOVED_TMP && e.ev[0].pid == dead && e.ev[0].dry_run);
    CHECK_STR(e.ev[0].name, hidden);
    CHECK(util_shm_exists(hidden));

    memset(&e, 0, sizeof e);
    CHECK_OK(shmap_gc(prefix, 0, util_gc_collect, &e));
    CHECK_EQ_INT(e.n, 1);
    CHECK(e.ev[0].action == SHMAP_GC_REMOVED_TMP && e.ev[0].status == 0 && !e.ev[0].dry_run);
    CHECK(!util_shm_exists(hidden));

    memset(&e, 0, sizeof e);
    snprintf(prefix, sizeof prefix, ".shmap-tmp-%d-", (int)getpid());
    CHECK_OK(shmap_gc(prefix, 0, util_gc_collect, &e));
    CHECK_EQ_INT(e.n, 0);
    CHECK(util_shm_exists(mine));
    util_shm_remove(mine);
    CHECK_EQ_INT(test_wait(dead), 0);
}

TEST(gc__keeps_a_persistent_segment_whose_creator_died)
{
    const char *name = test_name("persist");
    util_make_by_dead_creator(name, 0);
    struct util_gc_events e;
    gc_here(&e, 0);
    CHECK(!find_event(&e, SHMAP_GC_REMOVED_TRANSIENT, name));
    CHECK(util_shm_exists(name));
    CHECK_OK(shmap_delete(name, 0, 0));
}

/* A name may start with a dot (only ".shmap-" is reserved): such a segment is listed,
 * and gc collects it as any other. */
TEST(gc__collects_and_list_shows_a_segment_whose_name_starts_with_a_dot)
{
    char name[SHMAP_NAME_MAX];
    snprintf(name, sizeof name, ".%s", test_name("dot"));
    util_make_by_dead_creator(name, SHMAP_CREATE_TRANSIENT);
    shmap_entry *list = NULL;
    size_t n = 0, seen = 0;
    CHECK_OK(shmap_list(&list, &n, 0));
    for (size_t i = 0; i < n; i++)
        seen += strcmp(list[i].info.name, name) == 0 && list[i].status == 0;
    shmap_list_free(list);
    CHECK_EQ_INT(seen, 1);
    struct util_gc_events e;
    memset(&e, 0, sizeof e);
    CHECK_OK(shmap_gc(name, 0, util_gc_collect, &e));
    CHECK(find_event(&e, SHMAP_GC_REMOVED_TRANSIENT, name));
    CHECK(!util_shm_exists(name));
}

TEST(gc__keeps_a_transient_segment_whose_creator_is_alive)
{
    const char *name = test_name("alive");
    struct util_chan c;
    util_chan_open(&c);
    pid_t pid = util_spawn();
    if (pid == 0) {
        shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
        opts.flags = SHMAP_CREATE_KEEP | SHMAP_CREATE_TRANSIENT;
        shmap_seg *seg = NULL;
        const uint64_t dims[1] = {16};
        /* Created and closed: the creator no longer maps it, but lives. */
        if (shmap_create(&seg, name, SHMAP_U64, 1, dims, &opts) != 0 || shmap_close(seg))
            _exit(1);
        util_child_send(&c, 'L');
        util_child_recv(&c);
        _exit(0);
    }
    CHECK_EQ_INT(util_parent_recv(&c), 'L');
    struct util_gc_events e;
    gc_here(&e, 0);
    CHECK_EQ_INT(e.n, 0);
    CHECK(util_shm_exists(name));
    util_parent_send(&c, 'Q');
    CHECK_EQ_INT(test_wait(pid), 0);
    /* Once it is gone, the segment is garbage. */
    gc_here(&e, 0);
    CHECK_EQ_INT(e.n, 1);
    CHECK(find_event(&e, SHMAP_GC_REMOVED_TRANSIENT, name));
    CHECK(!util_shm_exists(name));
}

TEST(gc__keeps_a_transient_segment_with_a_live_attacher)
{
    const char *name = test_name("used");
    util_make_by_dead_creator(name, SHMAP_CREATE_TRANSIENT);
    /* A read-write attacher, in the attach table. */
    struct util_chan c;
    util_chan_open(&c);
    pid_t pid = spawn_holder(name, SHMAP_RDWR, 0, &c);
    CHECK_EQ_INT(util_parent_recv(&c), 'L');
    struct util_gc_events e;
    gc_here(&e, 0);
    CHECK(!find_event(&e, SHMAP_GC_REMOVED_TRANSIENT, name));
    CHECK(util_shm_exists(name));
    util_parent_send(&c, 'U');
    CHECK_EQ_INT(test_wait(pid), 0);
    /* A read-only attacher that never locked: not in the table, but /proc shows it. */
    pid = spawn_holder(name, SHMAP_RDONLY, 0, &c);
    CHECK_EQ_INT(util_parent_recv(&c), 'L');
    gc_here(&e, 0);
    CHECK_EQ_INT(e.n, 0);
    CHECK(util_shm_exists(name));
    util_parent_send(&c, 'U');
    CHECK_EQ_INT(test_wait(pid), 0);
    /* This process attached keeps it too, read-write or read-only. */
    unsigned modes[2] = {SHMAP_RDWR, SHMAP_RDONLY};
    for (int k = 0; k < 2; k++) {
        shmap_seg *seg = NULL;
        CHECK_OK(shmap_open(&seg, name, modes[k]));
        gc_here(&e, 0);
        CHECK_EQ_INT(e.n, 0);
        CHECK_OK(shmap_close(seg));
    }
    gc_here(&e, 0);
    CHECK(find_event(&e, SHMAP_GC_REMOVED_TRANSIENT, name));
    CHECK(!util_shm_exists(name));
}

TEST(gc__removes_a_transient_segment_whose_creator_and_attachers_are_dead)
{
    const char *name = test_name("dead");
    const char *keep = test_name("keep");
    pid_t creator = util_make_by_dead_creator(name, SHMAP_CREATE_TRANSIENT);
    util_make_by_dead_creator(keep, 0);
    /* An attacher killed while attached, holding a shared lock. */
    struct util_chan c;
    util_chan_open(&c);
    pid_t pid = spawn_holder(name, SHMAP_RDWR, SHMAP_LOCK_SHARED, &c);
    CHECK_EQ_INT(util_parent_recv(&c), 'L');
    CHECK(kill(pid, SIGKILL) == 0);
    CHECK_EQ_INT(test_wait(pid), 128 + SIGKILL);

    /* The persistent one's creator exited without closing: its slot is stale. */
    struct util_gc_events e;
    gc_here(&e, SHMAP_GC_DRY_RUN);
    CHECK_EQ_INT(e.n, 2);
    const shmap_gc_event *ev = find_event(&e, SHMAP_GC_REMOVED_TRANSIENT, name);
    CHECK(ev && ev->pid == creator && ev->dry_run && ev->status == 0);
    ev = find_event(&e, SHMAP_GC_CLEARED_SLOTS, keep);
    CHECK(ev && ev->slots == 1 && ev->dry_run);
    CHECK(util_shm_exists(name));
    CHECK(util_shm_exists(keep));

    gc_here(&e, 0);
    CHECK_EQ_INT(e.n, 2);
    CHECK(find_event(&e, SHMAP_GC_CLEARED_SLOTS, keep));
    ev = find_event(&e, SHMAP_GC_REMOVED_TRANSIENT, name);
    CHECK(ev && ev->pid == creator && !ev->dry_run && ev->status == 0 && ev->size >= 4096);
    CHECK(!util_shm_exists(name));
    CHECK(util_shm_exists(keep));
    shmap_seg *seg = NULL;
    CHECK_ERR(shmap_open(&seg, name, SHMAP_RDONLY), -ENOENT);
    CHECK_OK(shmap_delete(keep, 0, 0));
}

/* A child that creates `name` with `flags`, then (destroy >= 0) shmap_set_destroy(destroy),
 * and is killed -9 with it still mapped; returns its pid. */
static pid_t killed_creator(const char *name, unsigned flags, int destroy)
{
    struct util_chan c;
    util_chan_open(&c);
    pid_t pid = util_spawn();
    if (pid == 0) {
        shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
        opts.flags = flags;
        shmap_seg *seg = NULL;
        const uint64_t dims[1] = {16};
        int ok = shmap_create(&seg, name, SHMAP_U64, 1, dims, &opts) == 0 &&
                 (destroy < 0 || shmap_set_destroy(seg, destroy) == 0);
        util_child_send(&c, ok ? 'L' : 'E');
        for (;;)
            pause();
    }
    char said = util_parent_recv(&c);
    util_chan_close(&c);
    util_kill9(pid);
    CHECK_EQ_INT(said, 'L');
    return pid;
}

/*
 * A segment its creator destroys at close (the library's default) goes with its creator:
 * one whose creator was killed is removed as a transient one is. The creator's later
 * choice counts: kept with shmap_set_destroy(0), it is persistent; a kept one it then
 * chose to destroy is transient.
 */
TEST(gc__removes_a_segment_its_killed_creator_would_have_destroyed)
{
    const char *dflt = test_name("default"), *kept = test_name("kept");
    const char *later = test_name("later");
    pid_t a = killed_creator(dflt, 0, -1);
    killed_creator(kept, 0, 0);
    pid_t c = killed_creator(later, SHMAP_CREATE_KEEP, 1);
    shmap_info info;
    CHECK_OK(shmap_stat(dflt, &info));
    CHECK(info.transient);
    CHECK_OK(shmap_stat(kept, &info));
    CHECK(!info.transient);
    struct util_gc_events e;
    gc_here(&e, 0);
    const shmap_gc_event *ev = find_event(&e, SHMAP_GC_REMOVED_TRANSIENT, dflt);
    CHECK(ev && ev->pid == a && ev->status == 0);
    ev = find_event(&e, SHMAP_GC_REMOVED_TRANSIENT, later);
    CHECK(ev && ev->pid == c && ev->status == 0);
    CHECK(!find_event(&e, SHMAP_GC_REMOVED_TRANSIENT, kept));
    CHECK(find_event(&e, SHMAP_GC_CLEARED_SLOTS, kept));
    CHECK(!util_shm_exists(dflt) && !util_shm_exists(later));
    CHECK(util_shm_exists(kept));
    CHECK_OK(shmap_delete(kept, 0, 0));
}

/* A creator's forked child, which never destroys its parent's segments, changes nothing. */
TEST(gc__a_forked_child_does_not_change_its_parents_choice)
{
    const char *name = test_name("fork");
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    shmap_seg *seg = NULL;
    const uint64_t dims[1] = {16};
    CHECK_OK(shmap_create(&seg, name, SHMAP_U64, 1, dims, &opts));
    pid_t pid = util_spawn();
    if (pid == 0)
        _exit(shmap_set_destroy(seg, 0) == 0 ? 0 : 1);
    CHECK_EQ_INT(test_wait(pid), 0);
    shmap_info info;
    CHECK_OK(shmap_info_get(seg, &info));
    CHECK(info.transient);
    CHECK_OK(shmap_set_destroy(seg, 0));
    CHECK_OK(shmap_info_get(seg, &info));
    CHECK(!info.transient);
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_delete(name, 0, 0));
}

/* A System V key for this test (the runner removes what a failure leaves); its name. */
static key_t sysv_key(char *name, size_t size)
{
    key_t key = test_sysv_key();
    snprintf(name, size, "sysv://0x%08x", (unsigned)key);
    return key;
}

/* util_spawn_unfinished_sysv() through a channel `c` opened here, once its segment is
 * there: its pid. */
static pid_t spawn_unfinished(const char *name, key_t key, uint64_t bytes, struct util_chan *c)
{
    util_chan_open(c);
    pid_t pid = util_spawn_unfinished_sysv(name, key, bytes, c->up[1], c->down[0]);
    CHECK_EQ_INT(util_parent_recv(c), 'L');
    return pid;
}

static void gc_name(struct util_gc_events *e, const char *name, unsigned flags)
{
    memset(e, 0, sizeof *e);
    CHECK_OK(shmap_gc(name, flags, util_gc_collect, e));
}

TEST(gc__removes_a_system_v_transient_segment_once_nobody_attaches)
{
    char name[64];
    key_t key = sysv_key(name, sizeof name);
    pid_t creator = util_make_by_dead_creator(name, SHMAP_CREATE_TRANSIENT);
    struct util_gc_events e;
    /* A read-only attacher is in no table, but the kernel counts its attach. The creator
     * exited without closing: only its slot goes. */
    struct util_chan c;
    util_chan_open(&c);
    pid_t pid = spawn_holder(name, SHMAP_RDONLY, 0, &c);
    CHECK_EQ_INT(util_parent_recv(&c), 'L');
    gc_name(&e, name, 0);
    CHECK_EQ_INT(e.n, 1);
    const shmap_gc_event *ev = find_event(&e, SHMAP_GC_CLEARED_SLOTS, name);
    CHECK(ev && ev->slots == 1 && ev->status == 0);
    CHECK(util_sysv_exists(key));
    util_parent_send(&c, 'U');
    CHECK_EQ_INT(test_wait(pid), 0);
    /* A read-write attacher killed holding a shared lock leaves a stale slot only. */
    pid = spawn_holder(name, SHMAP_RDWR, SHMAP_LOCK_SHARED, &c);
    CHECK_EQ_INT(util_parent_recv(&c), 'L');
    gc_name(&e, name, 0);
    CHECK_EQ_INT(e.n, 0);
    CHECK(kill(pid, SIGKILL) == 0);
    CHECK_EQ_INT(test_wait(pid), 128 + SIGKILL);
    CHECK(util_wait_unmapped(name)); /* the kernel counts its attach a moment longer */

    gc_name(&e, name, SHMAP_GC_DRY_RUN);
    CHECK_EQ_INT(e.n, 1);
    ev = find_event(&e, SHMAP_GC_REMOVED_TRANSIENT, name);
    CHECK(ev && ev->pid == creator && ev->dry_run && ev->status == 0 && ev->size >= 4096);
    CHECK(util_sysv_exists(key));

    gc_name(&e, name, 0);
    CHECK_EQ_INT(e.n, 1);
    ev = find_event(&e, SHMAP_GC_REMOVED_TRANSIENT, name);
    CHECK(ev && ev->pid == creator && !ev->dry_run && ev->status == 0 && ev->slots >= 1);
    CHECK(!util_sysv_exists(key));
    shmap_seg *seg = NULL;
    CHECK_ERR(shmap_open(&seg, name, SHMAP_RDONLY), -ENOENT);
}

TEST(gc__keeps_system_v_segments_that_are_persistent_or_in_use)
{
    char persist[64], used[64];
    key_t kp = sysv_key(persist, sizeof persist);
    key_t ku = sysv_key(used, sizeof used);
    /* The creator exits without closing: a persistent segment with its stale slot. */
    util_make_by_dead_creator(persist, 0);
    struct util_gc_events e;
    gc_name(&e, persist, SHMAP_GC_DRY_RUN);
    CHECK_EQ_INT(e.n, 1);
    const shmap_gc_event *ev = find_event(&e, SHMAP_GC_CLEARED_SLOTS, persist);
    CHECK(ev && ev->slots == 1 && ev->dry_run);
    gc_name(&e, persist, 0);
    CHECK_EQ_INT(e.n, 1);
    ev = find_event(&e, SHMAP_GC_CLEARED_SLOTS, persist);
    CHECK(ev && ev->slots == 1 && !ev->dry_run && ev->status == 0);
    gc_name(&e, persist, 0);
    CHECK_EQ_INT(e.n, 0); /* nothing stale is left */
    CHECK(util_sysv_exists(kp));

    /* A transient one this process maps, and one whose creator lives. */
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_TRANSIENT;
    const uint64_t dims[1] = {16};
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, used, SHMAP_U64, 1, dims, &opts));
    gc_name(&e, used, 0);
    CHECK_EQ_INT(e.n, 0);
    CHECK_OK(shmap_set_destroy(seg, 0));
    CHECK_OK(shmap_close(seg));
    gc_name(&e, used, 0); /* the creator (this process) is alive */
    CHECK_EQ_INT(e.n, 0);
    CHECK(util_sysv_exists(ku));
    CHECK_OK(shmap_delete(used, 0, 0));
    CHECK_OK(shmap_delete(persist, 0, 0));
    CHECK(!util_sysv_exists(kp));
}

TEST(gc__removes_an_unfinished_system_v_segment_once_its_creator_is_dead)
{
    char name[64], want[160];
    key_t key = sysv_key(name, sizeof name);
    struct util_chan c;
    pid_t pid = spawn_unfinished(name, key, 1 << 20, &c);

    /* Its creator lives, attached or not: a creation in progress, kept. */
    shmap_info info;
    CHECK_ERR(shmap_stat(name, &info), SHMAP_EINCOMPLETE);
    snprintf(want, sizeof want, "%s: segment is still being created by pid %d", name, (int)pid);
    CHECK_CONTAINS(shmap_last_error(), want);
    struct util_gc_events e;
    gc_name(&e, name, SHMAP_GC_DRY_RUN);
    CHECK_EQ_INT(e.n, 0);
    gc_name(&e, name, 0);
    CHECK_EQ_INT(e.n, 0);
    CHECK(util_sysv_exists(key));

    /* Killed: never to be completed. Opens say so at once, without waiting for it. */
    CHECK(kill(pid, SIGKILL) == 0);
    CHECK_EQ_INT(test_wait(pid), 128 + SIGKILL);
    CHECK_ERR(shmap_stat(name, &info), SHMAP_EINCOMPLETE);
    snprintf(want, sizeof want, "%s: segment was never completed: its creator (pid %d) died "
                                "while creating it", name, (int)pid);
    CHECK_CONTAINS(shmap_last_error(), want);
    /* A live creator would be waited for 2 s: one open well within that proves the death
     * was seen, and a loaded machine gets three tries to show it. */
    shmap_seg *seg = NULL;
    double fastest = 1e9;
    for (int i = 0; i < 3 && fastest >= 1.5; i++) {
        double t0 = util_now_s();
        CHECK_ERR(shmap_open(&seg, name, SHMAP_RDONLY), SHMAP_EINCOMPLETE);
        double dt = util_now_s() - t0;
        fastest = dt < fastest ? dt : fastest;
        CHECK_CONTAINS(shmap_last_error(), want);
    }
    CHECK(fastest < 1.5);

    /* Something attached (the kernel counts it): kept until it detaches. */
    int id = shmget(key, 0, 0);
    CHECK(id >= 0);
    void *p = shmat(id, NULL, SHM_RDONLY);
    CHECK(p != (void *)-1);
    gc_name(&e, name, 0);
    CHECK_EQ_INT(e.n, 0);
    CHECK(shmdt(p) == 0);

    gc_name(&e, name, SHMAP_GC_DRY_RUN);
    CHECK_EQ_INT(e.n, 1);
    const shmap_gc_event *ev = find_event(&e, SHMAP_GC_REMOVED_TMP, name);
    CHECK(ev && ev->pid == pid && ev->dry_run && ev->status == 0 && ev->size >= (1 << 20));
    CHECK(util_sysv_exists(key));
    gc_name(&e, name, 0);
    CHECK_EQ_INT(e.n, 1);
    ev = find_event(&e, SHMAP_GC_REMOVED_TMP, name);
    CHECK(ev && ev->pid == pid && !ev->dry_run && ev->status == 0);
    CHECK(!util_sysv_exists(key));
    gc_name(&e, name, 0);
    CHECK_EQ_INT(e.n, 0);
}

/* The kernel's attach count of System V segment `key`, or -1. */
static int sysv_nattch(key_t key)
{
    struct shmid_ds ds;
    int id = shmget(key, 0, 0);
    return id >= 0 && shmctl(id, IPC_STAT, &ds) == 0 ? (int)ds.shm_nattch : -1;
}

/*
 * gc copied the header of a segment being created, its creator alive; the creator then
 * completed it and exited before gc judged it. gc took the copy's INIT for the segment's,
 * found the creator dead, and removed a complete persistent segment as unfinished. The
 * moment is held open with strace, which delays gc's detach after its copy (the attach
 * count is not 0 meanwhile, which the test waits for).
 */
TEST(gc__keeps_a_system_v_segment_completed_while_it_was_judged)
{
    if (system("strace -V >/dev/null 2>&1") != 0)
        TEST_SKIP("strace is not installed (apt-get install strace)");
    char name[64];
    key_t key = sysv_key(name, sizeof name);
    struct util_chan c;
    pid_t creator = spawn_unfinished(name, key, 4096, &c);
    CHECK_EQ_INT(sysv_nattch(key), 0);
    pid_t gc = spawn_delayed("shmdt", "shmdt:delay_enter=2000000:when=1", 1, "gc",
                             "--prefix", name);
    /* gc's first detach is the one held: it may have attached again meanwhile (one run
     * saw 2), which holds the moment open all the same. */
    double t0 = util_now_s();
    while (sysv_nattch(key) < 1 && util_now_s() - t0 < 10)
        util_sleep_ms(1);
    CHECK(sysv_nattch(key) >= 1);
    /* Completed, as its creator would, which then exits. */
    int id = shmget(key, 0, 0);
    struct shmap__header *h = shmat(id, NULL, 0);
    CHECK(h != (void *)-1);
    __atomic_store_n(&h->state, SHMAP__STATE_READY, __ATOMIC_RELEASE);
    shmdt(h);
    util_parent_send(&c, 'Q');
    CHECK_EQ_INT(test_wait(creator), 0);
    util_chan_close(&c);
    CHECK_EQ_INT(test_wait(gc), 0);
    CHECK(util_sysv_exists(key));
    shmap_info info;
    CHECK_OK(shmap_stat(name, &info));
    CHECK_OK(shmap_delete(name, 0, 0));
}

/* The fastest of three calls of shmap_delete(name, timeout, 0), each failing with `code`. */
static double fastest_failing_delete(const char *name, double timeout, int code)
{
    double fastest = 1e9;
    for (int i = 0; i < 3 && fastest >= 1.5; i++) {
        double t0 = util_now_s();
        CHECK_ERR(shmap_delete(name, timeout, 0), code);
        double dt = util_now_s() - t0;
        fastest = dt < fastest ? dt : fastest;
    }
    return fastest;
}

TEST(delete__waits_for_a_creator_still_writing_the_header_only_within_its_timeout)
{
    char name[64], want[160];
    key_t key = sysv_key(name, sizeof name);
    struct util_chan c;
    pid_t pid = spawn_unfinished(name, key, 4096, &c);
    /* An open would give the creator 2 s; a delete that only tries does not wait, and one
     * with a timeout waits no longer than it. */
    snprintf(want, sizeof want, "%s: segment is still being created by pid %d", name, (int)pid);
    CHECK(fastest_failing_delete(name, 0, SHMAP_EINCOMPLETE) < 1.5);
    CHECK_CONTAINS(shmap_last_error(), want);
    CHECK(fastest_failing_delete(name, 0.1, SHMAP_EINCOMPLETE) < 1.5);
    CHECK_CONTAINS(shmap_last_error(), want);
    CHECK(util_sysv_exists(key));
    CHECK(kill(pid, SIGKILL) == 0);
    CHECK_EQ_INT(test_wait(pid), 128 + SIGKILL);
    util_chan_close(&c);
    struct util_gc_events e;
    gc_name(&e, name, 0);
    CHECK_EQ_INT(e.n, 1);
    CHECK(!util_sysv_exists(key));
}

TEST(gc__keeps_an_unfinished_system_v_segment_whose_creator_exits_only_later)
{
    /* A creator that stopped (as in a long prefault) but lives, detached: the liveness
     * rule alone keeps it, and a clean exit later makes it garbage like a kill. */
    char name[64];
    key_t key = sysv_key(name, sizeof name);
    struct util_chan c;
    pid_t pid = spawn_unfinished(name, key, 4096, &c);
    struct shmid_ds ds;
    CHECK(shmctl(shmget(key, 0, 0), IPC_STAT, &ds) == 0 && ds.shm_nattch == 0);
    struct util_gc_events e;
    gc_name(&e, name, 0);
    CHECK_EQ_INT(e.n, 0);
    CHECK(util_sysv_exists(key));
    util_parent_send(&c, 'Q');
    CHECK_EQ_INT(test_wait(pid), 0);
    gc_name(&e, name, 0);
    CHECK_EQ_INT(e.n, 1);
    CHECK(find_event(&e, SHMAP_GC_REMOVED_TMP, name));
    CHECK(!util_sysv_exists(key));
}

TEST(gc__leaves_foreign_objects_alone_and_checks_its_arguments)
{
    const char *name = test_name("foreign");
    char junk[8192];
    memset(junk, 0, sizeof junk);
    util_shm_write(name, junk, sizeof junk);
    struct util_gc_events e;
    gc_here(&e, 0);
    CHECK_EQ_INT(e.n, 0);
    CHECK(util_shm_exists(name));
    util_shm_remove(name);
    CHECK_ERR(shmap_gc(test_prefix(), 2, NULL, NULL), SHMAP_EINVAL);
    CHECK_OK(shmap_gc(test_prefix(), 0, NULL, NULL));
}

static int stop_at_first(const shmap_gc_event *ev, void *ctx)
{
    (void)ev;
    ++*(int *)ctx;
    return 7;
}

TEST(gc__a_callback_can_stop_the_walk)
{
    util_make_by_dead_creator(test_name("a"), SHMAP_CREATE_TRANSIENT);
    util_make_by_dead_creator(test_name("b"), SHMAP_CREATE_TRANSIENT);
    int calls = 0;
    CHECK_EQ_INT(shmap_gc(test_prefix(), SHMAP_GC_DRY_RUN, stop_at_first, &calls), 7);
    CHECK_EQ_INT(calls, 1);
    CHECK_OK(shmap_gc(test_prefix(), 0, NULL, NULL));
    CHECK(!util_shm_exists(test_name("a")) && !util_shm_exists(test_name("b")));
}

/*
 * Open-or-create never says "no such segment": another process that creates and deletes
 * the name meanwhile makes it lose a race between its open and its create, and it tries
 * again. Each call either opens the churner's segment or makes its own.
 */
TEST(create_open__against_a_name_that_comes_and_goes_never_fails_not_found)
{
    const char *name = test_name("race");
    pid_t churn = util_spawn_churn(name, NULL, 1.0);
    const uint64_t dims[1] = {16};
    int done = 0, rc = 0;
    double t0 = util_now_s();
    while (rc == 0 && util_now_s() - t0 < 0.9) {
        shmap_create_opts o = SHMAP_CREATE_OPTS_INIT;
        o.flags |= SHMAP_CREATE_OPEN | SHMAP_CREATE_KEEP;
        shmap_seg *seg = NULL;
        if ((rc = shmap_create(&seg, name, SHMAP_U8, 1, dims, &o)) == 0)
            rc = shmap_close(seg);
        done++;
    }
    /* The churner ends on its own, never killed in the middle of a creation. */
    CHECK(test_wait(churn) == 0);
    CHECK_OK(rc);
    CHECK(done > 0);
    shmap_delete(name, 0, SHMAP_DELETE_FORCE);
}

struct racing_open {
    const char *name;
    shmap_seg *seg;
    int rc;
};

static void *open_racing(void *arg)
{
    struct racing_open *r = arg;
    r->rc = shmap_open(&r->seg, r->name, SHMAP_RDONLY);
    return NULL;
}

/*
 * Two threads open a System V segment whose creator is still writing its header: both wait
 * for it (without the registry lock), and when it is done both map it. The second to come
 * back finds the first's mapping registered, gives up its own, and shares that one: one
 * mapping in the process, with both references, not two.
 */
TEST(open__two_threads_that_waited_for_a_creator_share_one_mapping)
{
    char name[64];
    key_t key = sysv_key(name, sizeof name);
    struct util_chan c;
    pid_t creator = spawn_unfinished(name, key, 4096, &c);
    struct racing_open r[2] = {{name, NULL, 1}, {name, NULL, 1}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&t[i], NULL, open_racing, &r[i]) == 0);
    util_sleep_ms(200); /* both in their wait, which lasts up to 2 s */
    int id = shmget(key, 0, 0);
    struct shmap__header *h = id < 0 ? (void *)-1 : shmat(id, NULL, 0);
    CHECK(h != (void *)-1);
    __atomic_store_n(&h->state, SHMAP__STATE_READY, __ATOMIC_RELEASE); /* the creator's end */
    CHECK(shmdt(h) == 0);
    for (int i = 0; i < 2; i++)
        CHECK(pthread_join(t[i], NULL) == 0);
    CHECK_OK(r[0].rc);
    CHECK_OK(r[1].rc);
    CHECK(shmap_data(r[0].seg) == shmap_data(r[1].seg));
    shmap_mapping *maps = NULL;
    size_t n = 0;
    CHECK_OK(shmap_mappings(&maps, &n));
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(maps[0].refs, 2);
    shmap_mappings_free(maps);
    CHECK_OK(shmap_close(r[0].seg));
    CHECK_OK(shmap_close(r[1].seg));
    util_parent_send(&c, 'Q'); /* the creator exits */
    util_chan_close(&c);
    CHECK_EQ_INT(test_wait(creator), 0);
    CHECK_OK(shmap_delete(name, 0, 0));
}
