/*
 * Private (copy-on-write) handles across processes: they keep their own writes to
 * themselves, yet follow the object's writers. A wait, a frame read or a keyword change
 * through a private mapping writes to (or, for a futex wait, pins for writing) its header
 * page, which copy-on-write then makes the process's own copy: these tests make such a
 * handle do that first, then check that another process's publishes still reach it, at
 * once, and that its own publishes and keywords reach nobody.
 */
#include <pthread.h>
#include <sys/stat.h>

#include "../util.h"
#include "internal.h"

/* In a child: after `delay_ms`, open `name` read-write, set keyword `key` = `value` when
 * `key` is given, fill the data with `value` and publish it once. */
static pid_t spawn_publisher(const char *name, long delay_ms, const char *key, int value)
{
    fflush(NULL);
    pid_t pid = util_spawn();
    CHECK(pid >= 0);
    if (pid != 0)
        return pid;
    util_sleep_ms(delay_ms);
    shmap_seg *w = NULL;
    if (shmap_open(&w, name, SHMAP_RDWR) < 0)
        _exit(10);
    if (key) {
        shmap_keyword kw;
        memset(&kw, 0, sizeof kw);
        snprintf(kw.name, sizeof kw.name, "%s", key);
        kw.type = SHMAP_KW_INT;
        kw.i = value;
        if (shmap_keyword_set(w, &kw) < 0)
            _exit(11);
    }
    int32_t *d = shmap_data(w);
    if (shmap_write_begin(w, NULL) < 0)
        _exit(12);
    for (int i = 0; i < 4; i++)
        d[i] = value;
    if (shmap_publish(w) < 0)
        _exit(13);
    shmap_close(w);
    _exit(0);
}

static void set_int(shmap_seg *seg, const char *key, int value)
{
    shmap_keyword kw;
    memset(&kw, 0, sizeof kw);
    snprintf(kw.name, sizeof kw.name, "%s", key);
    kw.type = SHMAP_KW_INT;
    kw.i = value;
    CHECK_OK(shmap_keyword_set(seg, &kw));
}

/*
 * The whole story on one segment: a private handle whose wait slept (and timed out) is
 * woken by the next publish of another process, at once, and sees its generation; so is a
 * frame read; its own publish and keyword stay in this process, after which it still
 * follows the writers' generations, but no longer their keywords (its keyword area is its
 * own copy from its first keyword change on).
 */
static void private_handle_follows_the_writers(const char *name)
{
    const uint64_t dims[1] = {4};
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_KEEP;
    shmap_seg *made = NULL, *p = NULL, *shared = NULL;
    CHECK_OK(shmap_create(&made, name, SHMAP_I32, 1, dims, &opts));
    CHECK_OK(shmap_close(made));
    CHECK_OK(shmap_open(&p, name, SHMAP_PRIVATE));
    CHECK_OK(shmap_open(&shared, name, SHMAP_RDONLY));

    /* Nothing published: the wait sleeps on the futex, then times out. */
    uint64_t seen = 0;
    CHECK_ERR(shmap_wait(p, &seen, 0.2), -ETIMEDOUT);
    pid_t kid = spawn_publisher(name, 200, "THEIRS", 7);
    double t0 = util_now_s();
    CHECK_OK(shmap_wait(p, &seen, 10.0));
    CHECK(util_now_s() - t0 < UTIL_PROMPT_S); /* woken, not timed out */
    CHECK_EQ_INT(seen, 1);
    CHECK_EQ_INT(test_wait(kid), 0);
    CHECK_EQ_INT(shmap_generation(p), 1);
    shmap_info info;
    CHECK_OK(shmap_info_get(p, &info));
    CHECK_EQ_INT(info.generation, 1);
    CHECK(info.published_ns > 0);
    CHECK_EQ_INT(info.nkeywords, 1);
    shmap_keyword kw;
    CHECK_OK(shmap_keyword_get(p, "THEIRS", &kw));
    CHECK_EQ_INT(kw.i, 7);
    CHECK_EQ_INT(((const int32_t *)shmap_data(p))[3], 7);

    /* A frame read that sleeps first. */
    int32_t frame[4];
    CHECK_ERR(shmap_read_frame(p, &seen, frame, 0.1, NULL), -ETIMEDOUT);
    kid = spawn_publisher(name, 200, NULL, 8);
    t0 = util_now_s();
    CHECK_OK(shmap_read_frame(p, &seen, frame, 10.0, NULL));
    CHECK(util_now_s() - t0 < UTIL_PROMPT_S);
    CHECK_EQ_INT(test_wait(kid), 0);
    CHECK_EQ_INT(seen, 2);
    CHECK_EQ_INT(frame[0], 8);

    /* Its own writes: nobody sees them, and its generation stays the object's. */
    set_int(p, "MINE", 1);
    ((int32_t *)shmap_data(p))[0] = -1;
    CHECK_OK(shmap_write_begin(p, NULL));
    CHECK_OK(shmap_publish(p));
    CHECK_EQ_INT(shmap_generation(p), 2);
    CHECK_EQ_INT(shmap_generation(shared), 2);
    CHECK_ERR(shmap_keyword_get(shared, "MINE", &kw), SHMAP_ENOKEY);
    CHECK_EQ_INT(((const int32_t *)shmap_data(shared))[0], 8);
    CHECK_EQ_INT(shmap_write_state(shared, NULL), SHMAP_WRITE_NONE);
    CHECK_EQ_INT(shmap_write_state(p, NULL), SHMAP_WRITE_NONE);

    /* And the writers' next publish still wakes it; their keywords no longer reach it. */
    kid = spawn_publisher(name, 200, "LATER", 9);
    t0 = util_now_s();
    CHECK_OK(shmap_wait(p, &seen, 10.0));
    CHECK(util_now_s() - t0 < UTIL_PROMPT_S);
    CHECK_EQ_INT(test_wait(kid), 0);
    CHECK_EQ_INT(seen, 3);
    CHECK_OK(shmap_keyword_get(p, "MINE", &kw));
    CHECK_EQ_INT(kw.i, 1);
    CHECK_OK(shmap_keyword_get(p, "THEIRS", &kw));
    CHECK_ERR(shmap_keyword_get(p, "LATER", &kw), SHMAP_ENOKEY);
    CHECK_OK(shmap_keyword_get(shared, "LATER", &kw));
    CHECK_ERR(shmap_keyword_get(shared, "MINE", &kw), SHMAP_ENOKEY);
    CHECK_OK(shmap_info_get(p, &info));
    CHECK_EQ_INT(info.generation, 3);
    CHECK_EQ_INT(info.nkeywords, 2);
    CHECK_OK(shmap_close(shared));
    CHECK_OK(shmap_close(p));
}

TEST(private__a_file_handle_that_slept_in_a_wait_is_still_woken_by_other_writers)
{
    const char *dir = util_test_dir(); /* removed by its guard should a CHECK fail */
    char name[160];
    snprintf(name, sizeof name, "file:%s/frames", dir);
    private_handle_follows_the_writers(name);
    CHECK_OK(shmap_unlink(name));
    CHECK(rmdir(dir) == 0);
}

TEST(private__a_posix_handle_that_slept_in_a_wait_is_still_woken_by_other_writers)
{
    const char *name = test_name("priv");
    private_handle_follows_the_writers(name);
    CHECK_OK(shmap_unlink(name));
}

/* A private handle learns of a deletion as any waiter does, and its own writes never make
 * it think the segment was removed. */
TEST(private__a_waiting_private_handle_is_told_of_the_deletion_at_once)
{
    const char *dir = util_test_dir();
    char name[160];
    snprintf(name, sizeof name, "file:%s/frames", dir);
    const uint64_t dims[1] = {4};
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_KEEP;
    shmap_seg *made = NULL, *p = NULL;
    CHECK_OK(shmap_create(&made, name, SHMAP_I32, 1, dims, &opts));
    CHECK_OK(shmap_close(made));
    CHECK_OK(shmap_open(&p, name, SHMAP_PRIVATE));
    uint64_t seen = 0;
    CHECK_ERR(shmap_wait(p, &seen, 0.1), -ETIMEDOUT);
    fflush(NULL);
    pid_t kid = util_spawn();
    CHECK(kid >= 0);
    if (kid == 0) {
        util_sleep_ms(200);
        _exit(shmap_delete(name, 10.0, 0) == 0 ? 0 : 1);
    }
    double t0 = util_now_s();
    CHECK_ERR(shmap_wait(p, &seen, 10.0), SHMAP_EREMOVED);
    CHECK(util_now_s() - t0 < UTIL_PROMPT_S);
    CHECK_EQ_INT(test_wait(kid), 0);
    CHECK_OK(shmap_close(p));
    CHECK(rmdir(dir) == 0);
}

struct stuck_change {
    shmap_seg *seg;
    int rc;
};

static void *set_on_stuck(void *arg)
{
    struct stuck_change *c = arg;
    shmap_keyword kw;
    memset(&kw, 0, sizeof kw);
    snprintf(kw.name, sizeof kw.name, "A");
    kw.type = SHMAP_KW_INT;
    kw.i = 1;
    c->rc = shmap_keyword_set(c->seg, &kw);
    return NULL;
}

/*
 * A thread's first keyword change through a private handle makes the handle's keywords its
 * own under a mutex, held while it waits (up to a second) for another process's keyword
 * change to end. A fork meanwhile must not leave that mutex taken in the child, where no
 * thread would ever release it: the child's own first change through another private
 * handle completes.
 */
TEST(private__a_fork_while_a_thread_makes_keywords_its_own_does_not_hang_the_child)
{
    const char *stuck = test_name("kwstuck"), *other = test_name("kwother");
    const uint64_t dims[1] = {4};
    util_make_kept(stuck, SHMAP_F32, 1, dims);
    util_make_kept(other, SHMAP_F32, 1, dims);
    pid_t sleeper = util_spawn();
    if (sleeper == 0)
        for (;;)
            pause();
    /* `stuck` is in the middle of a keyword change by a live process that never ends it. */
    struct shmap__header h;
    util_header_read(stuck, &h);
    h.kw_lock = (uint32_t)sleeper;
    h.kw_lock_start = shmap__proc_start(sleeper);
    h.kw_seq |= 1;
    util_header_write(stuck, &h);
    shmap_seg *a = NULL, *b = NULL;
    CHECK_OK(shmap_open(&a, stuck, SHMAP_PRIVATE));
    CHECK_OK(shmap_open(&b, other, SHMAP_PRIVATE));
    struct stuck_change c = {a, 0};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, set_on_stuck, &c) == 0);
    util_sleep_ms(200); /* the thread waits for the stuck change, holding the mutex */
    pid_t child = util_spawn();
    if (child == 0) {
        alarm(10);
        shmap_keyword kw;
        memset(&kw, 0, sizeof kw);
        snprintf(kw.name, sizeof kw.name, "B");
        kw.type = SHMAP_KW_INT;
        kw.i = 2;
        _exit(shmap_keyword_set(b, &kw) == 0 ? 0 : 1);
    }
    CHECK_EQ_INT(test_wait(child), 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK_ERR(c.rc, -EBUSY); /* the stuck change never ended */
    util_kill9(sleeper);
    CHECK_OK(shmap_close(a));
    CHECK_OK(shmap_close(b));
    CHECK_OK(shmap_unlink(stuck));
    CHECK_OK(shmap_unlink(other));
}

/*
 * A private handle opens the object read-only: one that locks is in the attach table as a
 * read-only locker, not as a read-write opener (the table is what `shmap info` lists).
 */
TEST(private__a_private_locker_is_attached_read_only)
{
    const char *name = test_name("privlock");
    const uint64_t dims[1] = {4};
    shmap_seg *priv = NULL;
    util_make_kept(name, SHMAP_U8, 1, dims);
    pid_t kid = util_spawn();
    if (kid == 0) {
        shmap_attacher att[4];
        if (shmap_open(&priv, name, SHMAP_PRIVATE) < 0 ||
            shmap_lock(priv, SHMAP_LOCK_SHARED, 1.0) < 0)
            _exit(10);
        int n = shmap_attached(priv, att, 4);
        if (n != 1 || att[0].pid != getpid())
            _exit(11);
        _exit(att[0].writable ? 12 : 0);
    }
    CHECK_EQ_INT(test_wait(kid), 0);
    CHECK_OK(shmap_unlink(name));
}

/*
 * Keywords read through a private handle while another thread makes its first change
 * through it (own_keywords(), under the mutex that serialises it): a read begun before the
 * keywords became the handle's own was checked against the object's change count, which the
 * handle's own later changes do not move, so it could return a keyword whose value was of
 * one change and its comment of another (seen about once in a thousand rounds of a stress
 * run). Reads of such a handle now wait for that mutex: held here as the first change holds
 * it, a read waits, and goes on once it is let go. (The keyword count, which could likewise
 * be one off, is the next test's.)
 */
struct held_read {
    shmap_seg *seg;
    int (*read)(shmap_seg *seg);
    int done; /* atomic */
    int rc;
};

static void *read_in_thread(void *arg)
{
    struct held_read *r = arg;
    r->rc = r->read(r->seg);
    __atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static int read_gain(shmap_seg *seg)
{
    shmap_keyword kw;
    return shmap_keyword_get(seg, "GAIN", &kw);
}

/* The keyword count, as shmap_info_get() gives it: 0 for 2 keywords, else -1. */
static int count_two(shmap_seg *seg)
{
    shmap_info info;
    return shmap_info_get(seg, &info) == 0 && info.nkeywords == 2 ? 0 : -1;
}

/* Read through @p seg with @p read in a thread while this one holds the mutex, and with
 * @p own_seq (if not NULL) odd meanwhile, as during the switch's copy: whether the read ended
 * within @p ms (then all is let go, and the read's code is in *@p rc). */
static int read_while_copying(shmap_seg *seg, int (*read)(shmap_seg *), int ms,
                              uint32_t *own_seq, int *rc)
{
    struct held_read r = {seg, read, 0, -1};
    shmap__kw_own_hold(true);
    if (own_seq)
        __atomic_add_fetch(own_seq, 1, __ATOMIC_SEQ_CST);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, read_in_thread, &r) == 0);
    for (int i = 0; i < ms / 10 && !__atomic_load_n(&r.done, __ATOMIC_ACQUIRE); i++)
        util_sleep_ms(10);
    int done = __atomic_load_n(&r.done, __ATOMIC_ACQUIRE);
    if (own_seq)
        __atomic_add_fetch(own_seq, 1, __ATOMIC_SEQ_CST);
    shmap__kw_own_hold(false);
    CHECK(pthread_join(t, NULL) == 0);
    *rc = r.rc;
    return done;
}

/* The same with the mutex alone held. */
static int read_while_held(shmap_seg *seg, int (*read)(shmap_seg *), int ms, int *rc)
{
    return read_while_copying(seg, read, ms, NULL, rc);
}

TEST(private__keywords_are_not_read_while_a_private_handle_makes_them_its_own)
{
    const char *name = test_name("kwown");
    const uint64_t dims[1] = {4};
    util_make_kept(name, SHMAP_U8, 1, dims);
    shmap_seg *obj = NULL, *priv = NULL;
    CHECK_OK(shmap_open(&obj, name, SHMAP_RDWR));
    set_int(obj, "GAIN", 2);
    CHECK_OK(shmap_open(&priv, name, SHMAP_PRIVATE));
    int rc;
    CHECK_EQ_INT(read_while_held(priv, read_gain, 200, &rc), 0);
    CHECK_OK(rc);
    /* Once its keywords are its own, reads do not wait for the mutex. */
    set_int(priv, "OWN", 1);
    CHECK_EQ_INT(read_while_held(priv, read_gain, 2000, &rc), 1);
    CHECK_OK(rc);
    CHECK_OK(shmap_close(priv));
    CHECK_OK(shmap_close(obj));
    CHECK_OK(shmap_unlink(name));
}

/*
 * The keyword count of shmap_info_get() through such a handle was read under the object's
 * change sequence while the switch wrote the slots over, so it could be one off. It now
 * waits while the switch copies (the sequence odd, the mutex held, as here), asleep on the
 * mutex so that the copy goes on whatever the priorities, and goes on once that is done. It
 * does not wait for the switch's mutex while the switch takes its snapshot, which can take a
 * second against a busy keyword writer (shmap_mappings() counts under the registry lock,
 * which every open and close needs: it did wait so).
 */
TEST(private__the_keyword_count_is_never_of_half_a_switch_and_waits_for_no_mutex)
{
    const char *name = test_name("kwcount");
    const uint64_t dims[1] = {4};
    util_make_kept(name, SHMAP_U8, 1, dims);
    shmap_seg *obj = NULL, *priv = NULL;
    CHECK_OK(shmap_open(&obj, name, SHMAP_RDWR));
    set_int(obj, "GAIN", 2);
    set_int(obj, "BIAS", 1);
    CHECK_OK(shmap_open(&priv, name, SHMAP_PRIVATE));
    int rc;
    CHECK_EQ_INT(read_while_held(priv, count_two, 2000, &rc), 1);
    CHECK_OK(rc);
    shmap_mapping *list = NULL;
    size_t n = 0;
    shmap__kw_own_hold(true);
    CHECK_OK(shmap_mappings(&list, &n));
    shmap__kw_own_hold(false);
    free(list);
    /* The copy, as the switch makes it: the mutex held, the sequence odd. */
    CHECK_EQ_INT(read_while_copying(priv, count_two, 200, &priv->map->kw_own_seq, &rc), 0);
    CHECK_OK(rc);
    CHECK_OK(shmap_close(priv));
    CHECK_OK(shmap_close(obj));
    CHECK_OK(shmap_unlink(name));
}
