/*
 * SHMAP_CREATE_HIDDEN and shmap_create_finish(): a segment filled before it has its name.
 * Nobody opens it by name until it is finished; finishing gives it the name atomically
 * (never over another segment without REPLACE); a creation given up, closed or killed,
 * leaves nothing under the name, and gc removes what a killed creator left hidden.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <unistd.h>
#include <sys/ipc.h>
#include <sys/shm.h>

#include "../util.h"
#include "format.h"

static shmap_seg *make_hidden(const char *name, unsigned extra)
{
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_HIDDEN | SHMAP_CREATE_KEEP | extra;
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_U32, 1, (const uint64_t[]){16}, &opts));
    return seg;
}

static void fill(shmap_seg *seg, uint32_t v)
{
    uint32_t *d = shmap_data(seg);
    for (int i = 0; i < 16; i++)
        d[i] = v + (uint32_t)i;
}

/* Open `name` read-only and check it holds what fill(v) wrote. */
static void check_holds(const char *name, uint32_t v)
{
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDONLY));
    const uint32_t *d = shmap_data(seg);
    for (int i = 0; i < 16; i++)
        CHECK_EQ_INT(d[i], v + (uint32_t)i);
    CHECK_OK(shmap_close(seg));
}

/* A name's store before and after: for a file, the test directory must hold `n` entries. */
static void filled_then_named(const char *name)
{
    shmap_seg *seg = make_hidden(name, 0);
    fill(seg, 100);
    shmap_seg *other = NULL;
    CHECK_ERR(shmap_open(&other, name, SHMAP_RDONLY), -ENOENT);
    CHECK_OK(shmap_create_finish(seg));
    CHECK_ERR(shmap_create_finish(seg), SHMAP_EINVAL);
    CHECK_CONTAINS(shmap_last_error(), "finished already");
    CHECK_OK(shmap_close(seg)); /* KEEP: it stays */
    check_holds(name, 100);
    CHECK_OK(shmap_delete(name, 0, 0));
}

TEST(hidden__a_posix_segment_gets_its_name_only_when_finished)
{
    filled_then_named(test_name("h"));
}

TEST(hidden__a_file_segment_gets_its_name_only_when_finished)
{
    char name[600];
    snprintf(name, sizeof name, "file:%s", util_test_path("h.shm"));
    filled_then_named(name);
    CHECK_EQ_INT(util_dir_entries(util_test_dir()), 0);
}

TEST(hidden__a_system_v_segment_is_being_created_until_finished)
{
    key_t key = test_sysv_key();
    char name[64];
    snprintf(name, sizeof name, "sysv://0x%08x", (unsigned)key);
    shmap_seg *seg = make_hidden(name, 0);
    fill(seg, 7);
    /* Its key is taken, its header says INIT: an open waits, and gives up after 2 s. */
    int id = shmget(key, 0, 0);
    CHECK(id >= 0);
    const struct shmap__header *h = shmat(id, NULL, SHM_RDONLY);
    CHECK(h != (void *)-1);
    CHECK_EQ_INT(h->state, SHMAP__STATE_INIT);
    CHECK_OK(shmap_create_finish(seg));
    CHECK_EQ_INT(h->state, SHMAP__STATE_READY);
    shmdt(h);
    CHECK_OK(shmap_close(seg));
    check_holds(name, 7);
    CHECK_OK(shmap_delete(name, 0, 0));
}

TEST(hidden__a_memfd_segment_has_nothing_to_finish)
{
    shmap_seg *seg = make_hidden("memfd:h", 0);
    CHECK_OK(shmap_create_finish(seg));
    CHECK_OK(shmap_close(seg));
}

/* Closed unfinished: nothing is left, KEEP or not, in any store. */
TEST(hidden__closed_before_it_is_finished_it_leaves_nothing)
{
    const char *name = test_name("gone");
    shmap_seg *seg = make_hidden(name, 0), *dup = NULL;
    CHECK_OK(shmap_dup(&dup, seg));
    CHECK_OK(shmap_close(seg));
    CHECK_EQ_INT(util_count_hidden_of(getpid()), 1); /* a reference is left */
    CHECK_OK(shmap_close(dup));
    CHECK_EQ_INT(util_count_hidden_of(getpid()), 0);
    CHECK(!util_shm_exists(name));

    char file[600];
    snprintf(file, sizeof file, "file:%s", util_test_path("gone.shm"));
    CHECK_OK(shmap_close(make_hidden(file, 0)));
    CHECK_EQ_INT(util_dir_entries(util_test_dir()), 0);

    key_t key = test_sysv_key();
    char sysv[64];
    snprintf(sysv, sizeof sysv, "sysv://0x%08x", (unsigned)key);
    CHECK_OK(shmap_close(make_hidden(sysv, 0)));
    CHECK(!util_sysv_exists(key));
}

TEST(hidden__the_name_is_checked_at_create_and_taken_atomically_at_finish)
{
    const char *name = test_name("taken");
    util_make_kept(name, SHMAP_U8, 1, (const uint64_t[]){4});
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_HIDDEN;
    shmap_seg *seg = NULL;
    CHECK_ERR(shmap_create(&seg, name, SHMAP_U32, 1, (const uint64_t[]){16}, &opts), -EEXIST);
    CHECK_EQ_INT(util_count_hidden_of(getpid()), 0);
    opts.flags |= SHMAP_CREATE_OPEN;
    CHECK_ERR(shmap_create(&seg, name, SHMAP_U32, 1, (const uint64_t[]){16}, &opts),
              SHMAP_EINVAL);

    /* Taken between create and finish: EEXIST, the other segment untouched, ours gone at
     * close. */
    CHECK_OK(shmap_delete(name, 0, 0));
    seg = make_hidden(name, 0);
    fill(seg, 1);
    util_make_kept(name, SHMAP_U8, 1, (const uint64_t[]){4});
    CHECK_ERR(shmap_create_finish(seg), -EEXIST);
    CHECK_OK(shmap_close(seg));
    CHECK_EQ_INT(util_count_hidden_of(getpid()), 0);
    shmap_seg *there = NULL;
    CHECK_OK(shmap_open(&there, name, SHMAP_RDONLY));
    shmap_info info;
    CHECK_OK(shmap_info_get(there, &info));
    CHECK_EQ_INT(info.dtype, SHMAP_U8);
    CHECK_OK(shmap_close(there));

    /* With REPLACE, finishing replaces it at once. */
    seg = make_hidden(name, SHMAP_CREATE_REPLACE);
    fill(seg, 50);
    CHECK_OK(shmap_create_finish(seg));
    CHECK_OK(shmap_close(seg));
    check_holds(name, 50);
    CHECK_OK(shmap_delete(name, 0, 0));
}

/* A creator killed before it finished: nothing under the name, and gc takes what is left. */
TEST(hidden__a_creator_killed_before_finishing_leaves_what_gc_removes)
{
    const char *name = test_name("killed");
    key_t key = test_sysv_key();
    char sysv[64];
    snprintf(sysv, sizeof sysv, "sysv://0x%08x", (unsigned)key);
    struct util_chan c;
    util_chan_open(&c);
    pid_t pid = util_spawn();
    if (pid == 0) {
        shmap_seg *a = make_hidden(name, 0), *b = make_hidden(sysv, 0);
        fill(a, 1);
        fill(b, 1);
        util_child_send(&c, 'M');
        for (;;)
            pause();
    }
    CHECK_EQ_INT(util_parent_recv(&c), 'M');
    util_chan_close(&c);
    CHECK_EQ_INT(util_count_hidden_of(pid), 1);
    util_kill9(pid);
    CHECK(util_wait_unmapped(sysv)); /* the kernel counts its attach a moment longer */
    CHECK(!util_shm_exists(name));
    /* gc scoped to what the creator left, not to other tests' objects. */
    char hidden[64];
    snprintf(hidden, sizeof hidden, ".shmap-tmp-%d-", (int)pid);
    struct util_gc_events e;
    memset(&e, 0, sizeof e);
    CHECK_OK(shmap_gc(hidden, 0, util_gc_collect, &e));
    CHECK_EQ_INT(e.n, 1);
    CHECK(e.ev[0].action == SHMAP_GC_REMOVED_TMP && e.ev[0].pid == pid);
    memset(&e, 0, sizeof e);
    CHECK_OK(shmap_gc(sysv, 0, util_gc_collect, &e));
    CHECK_EQ_INT(e.n, 1);
    CHECK(e.ev[0].action == SHMAP_GC_REMOVED_TMP && e.ev[0].pid == pid);
    CHECK_EQ_INT(util_count_hidden_of(pid), 0);
    CHECK(!util_sysv_exists(key));
}

/* A child that creates `name` hidden and is killed; its pid. */
static pid_t killed_hidden_creator(const char *name)
{
    struct util_chan c;
    util_chan_open(&c);
    pid_t pid = util_spawn();
    if (pid == 0) {
        make_hidden(name, 0);
        util_child_send(&c, 'M');
        for (;;)
            pause();
    }
    CHECK_EQ_INT(util_parent_recv(&c), 'M');
    util_chan_close(&c);
    util_kill9(pid);
    return pid;
}

/*
 * The hidden object carries (the first 200 bytes of) its name, so gc scoped to a prefix
 * removes the leftovers of the names it covers, and only those.
 */
TEST(hidden__gc_with_a_prefix_removes_the_leftovers_of_its_names_only)
{
    const char *mine = test_name("scoped"), *other = test_name("other");
    char longname[240];
    snprintf(longname, sizeof longname, "%s-%0210d", test_name("long"), 7);
    pid_t a = killed_hidden_creator(mine), b = killed_hidden_creator(other);
    pid_t c = killed_hidden_creator(longname);
    CHECK_EQ_INT(util_count_hidden_of(a) + util_count_hidden_of(b) + util_count_hidden_of(c),
                 3);
    struct util_gc_events e;
    memset(&e, 0, sizeof e);
    CHECK_OK(shmap_gc(mine, 0, util_gc_collect, &e));
    CHECK_EQ_INT(e.n, 1);
    CHECK(e.ev[0].action == SHMAP_GC_REMOVED_TMP && e.ev[0].pid == a);
    CHECK_CONTAINS(e.ev[0].name, mine);
    CHECK_EQ_INT(util_count_hidden_of(a), 0);
    CHECK_EQ_INT(util_count_hidden_of(b), 1);
    /* A name longer than the hidden object keeps: the prefix of the whole name finds it. */
    memset(&e, 0, sizeof e);
    CHECK_OK(shmap_gc(longname, 0, util_gc_collect, &e));
    CHECK_EQ_INT(e.n, 1);
    CHECK(e.ev[0].pid == c);
    char *out = NULL, *err = NULL;
    RUN(0, "gc", "--prefix", other);
    CHECK_CONTAINS(out, "removed hidden leftover .shmap-tmp-");
    CHECK_CONTAINS(out, other);
    CHECK_EQ_INT(util_count_hidden_of(b), 0);
    util_clear(&out, &err);
}

/*
 * A hidden segment's handle works as any until it is finished: it is not deleted, a wait
 * waits (for a publish, not a deletion), and its OS handle is the hidden object's. A
 * System V one cannot replace another (its key is taken at creation).
 */
TEST(hidden__a_handle_works_before_it_is_finished)
{
    const char *name = test_name("works");
    shmap_seg *seg = make_hidden(name, 0);
    shmap_info info;
    CHECK_OK(shmap_info_get(seg, &info));
    CHECK_EQ_INT(info.deleted, 0);
    uint64_t seen = shmap_generation(seg);
    CHECK_ERR(shmap_wait(seg, &seen, 0.1), -ETIMEDOUT);
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 0));
    CHECK_OK(shmap_unlock(seg));
    char handle[256];
    CHECK_OK(shmap_os_handle(seg, handle, sizeof handle));
    char want[64];
    snprintf(want, sizeof want, "/.shmap-tmp-%d-", (int)getpid());
    CHECK(strncmp(handle, want, strlen(want)) == 0);
    CHECK_OK(shmap_create_finish(seg));
    CHECK_OK(shmap_os_handle(seg, handle, sizeof handle));
    CHECK_STR(handle + 1, name);
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_delete(name, 0, 0));

    char sysv[64];
    snprintf(sysv, sizeof sysv, "sysv://0x%08x", (unsigned)test_sysv_key());
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_HIDDEN | SHMAP_CREATE_REPLACE;
    CHECK_ERR(shmap_create(&seg, sysv, SHMAP_U8, 1, (const uint64_t[]){4}, &opts),
              SHMAP_EINVAL);
    CHECK_CONTAINS(shmap_last_error(), "takes its key at creation");
}

/* A forked child that shares the handle learns when its parent gives the creation up. */
TEST(hidden__a_forked_child_learns_that_its_parent_gave_it_up)
{
    const char *name = test_name("child");
    shmap_seg *seg = make_hidden(name, 0);
    struct util_chan c;
    util_chan_open(&c);
    pid_t kid = util_spawn();
    if (kid == 0) {
        uint64_t seen = shmap_generation(seg);
        util_child_send(&c, 'W');
        double t0 = util_now_s();
        int rc = shmap_wait(seg, &seen, 5.0);
        _exit(rc == SHMAP_EREMOVED && util_now_s() - t0 < 3.0 ? 0 : 10);
    }
    CHECK_EQ_INT(util_parent_recv(&c), 'W');
    util_sleep_ms(50);
    CHECK_OK(shmap_close(seg));
    CHECK_EQ_INT(test_wait(kid), 0);
    util_chan_close(&c);
    CHECK_EQ_INT(util_count_hidden_of(getpid()), 0);
}

TEST(hidden__names_planted_for_a_known_pid_do_not_stop_its_creation)
{
    /* /dev/shm is everyone's: another user who knows a process's pid must not be able to
     * take the hidden names its next creation will try, and make it fail with EEXIST. */
    const char *name = test_name("plant");
    int gofd;
    pid_t pid = util_spawn_waiting(&gofd);
    if (pid == 0) {
        shmap_seg *seg = NULL;
        shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
        opts.flags = SHMAP_CREATE_KEEP;
        _exit(shmap_create(&seg, name, SHMAP_U8, 1, (const uint64_t[]){8}, &opts) == 0 &&
                      shmap_close(seg) == 0
                  ? 0
                  : 10);
    }
    char path[512];
    int planted = 0;
    for (int i = 0; i <= 64; i++) {
        snprintf(path, sizeof path, "/dev/shm/.shmap-tmp-%d-%d-%s", (int)pid, i, name);
        int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        planted += fd >= 0;
        if (fd >= 0)
            close(fd);
    }
    util_go(gofd);
    int status = test_wait(pid);
    CHECK_EQ_INT(util_remove_hidden_of(pid), planted);
    CHECK_EQ_INT(planted, 65);
    CHECK_EQ_INT(status, 0);
    CHECK_OK(shmap_delete(name, 0, 0));
}

/* The N of the hidden name process `pid` creates `name` under, read from /dev/shm. */
static unsigned long long hidden_number(pid_t pid, const char *name)
{
    char start[64];
    snprintf(start, sizeof start, ".shmap-tmp-%d-", (int)pid);
    DIR *d = opendir("/dev/shm");
    CHECK(d != NULL);
    unsigned long long n = 0;
    bool found = false;
    for (struct dirent *e; (e = readdir(d));) {
        char *end;
        if (strncmp(e->d_name, start, strlen(start)) != 0)
            continue;
        n = strtoull(e->d_name + strlen(start), &end, 10);
        found = *end == '-' && strcmp(end + 1, name) == 0;
        if (found)
            break;
    }
    closedir(d);
    CHECK(found);
    return n;
}

TEST(hidden__a_name_seen_in_dev_shm_does_not_give_away_the_next_ones)
{
    /* A creation in progress shows its hidden name, number and all: whoever reads it must
     * not learn the names the process will try next. Those after it are taken here, as
     * many as a creation tries; the next creation goes ahead all the same. */
    const char *first = test_name("seen"), *next = test_name("next");
    struct util_chan c;
    util_chan_open(&c);
    pid_t pid = util_spawn();
    if (pid == 0) {
        shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
        opts.flags = SHMAP_CREATE_HIDDEN;
        shmap_seg *shown = NULL, *seg = NULL;
        if (shmap_create(&shown, first, SHMAP_U8, 1, (const uint64_t[]){8}, &opts) != 0)
            _exit(10);
        util_child_send(&c, 'H');
        util_child_recv(&c);
        opts.flags = SHMAP_CREATE_KEEP;
        int rc = shmap_create(&seg, next, SHMAP_U8, 1, (const uint64_t[]){8}, &opts);
        shmap_close(shown); /* unfinished: it goes */
        _exit(rc == 0 && shmap_close(seg) == 0 ? 0 : 11);
    }
    CHECK_EQ_INT(util_parent_recv(&c), 'H');
    unsigned long long n = hidden_number(pid, first);
    char path[512];
    int planted = 0;
    for (int i = 1; i <= 64; i++) {
        snprintf(path, sizeof path, "/dev/shm/.shmap-tmp-%d-%llu-%s", (int)pid, n + (unsigned)i,
                 next);
        int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        planted += fd >= 0;
        if (fd >= 0)
            close(fd);
    }
    util_parent_send(&c, 'G');
    int status = test_wait(pid);
    util_chan_close(&c);
    CHECK_EQ_INT(util_remove_hidden_of(pid), planted);
    CHECK_EQ_INT(planted, 64);
    CHECK_EQ_INT(status, 0);
    CHECK_OK(shmap_delete(next, 0, 0));
}
