/*
 * shmap rm with --timeout and --force, and shmap gc: rm waits for a lock holder, a timeout
 * fails with status 1 and one line naming the holder, --force removes at once while the
 * holder keeps its mapping; gc prints one line per action and a summary, and --dry-run
 * changes nothing.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <time.h>

#include "../util.h"

static void one_line(const char *err)
{
    CHECK(err && strncmp(err, "shmap: ", 7) == 0 && strchr(err, '\n') == err + strlen(err) - 1);
}

static void make_kept(const char *name, unsigned extra)
{
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_KEEP | extra;
    shmap_seg *seg = NULL;
    const uint64_t dims[1] = {8};
    CHECK_OK(shmap_create(&seg, name, SHMAP_U64, 1, dims, &opts));
    CHECK_OK(shmap_close(seg));
}

TEST(cli__rm_waits_for_a_lock_holder_and_removes_after_it_unlocks)
{
    char *out = NULL, *err = NULL;
    const char *name = test_name("wait");
    make_kept(name, 0);
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDWR));
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 0));
    /* rm runs in the background; we unlock once it waits for the lock. */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "'%s' rm %s --timeout 10", test_shmap_bin(), name);
    pid_t pid = util_spawn();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    shmap_lockinfo li = {0};
    for (int i = 0; i < 1000 && !li.waiters; i++) {
        util_sleep_ms(10);
        CHECK_OK(shmap_lock_info(seg, &li));
    }
    CHECK(li.waiters);
    CHECK(util_shm_exists(name));
    ((uint64_t *)shmap_data(seg))[0] = 5;
    CHECK_OK(shmap_unlock(seg));
    CHECK_EQ_INT(test_wait(pid), 0);
    CHECK(!util_shm_exists(name));
    CHECK_EQ_INT(((uint64_t *)shmap_data(seg))[0], 5);
    CHECK_OK(shmap_close(seg));
    RUN(1, "info", name);
    CHECK_CONTAINS(err, "no such segment");
    util_clear(&out, &err);
}

TEST(cli__rm_timeout_fails_with_status_1_naming_the_holder_and_force_removes_at_once)
{
    char *out = NULL, *err = NULL;
    const char *name = test_name("tmo");
    make_kept(name, 0);
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDWR));
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 0));
    char want[32];
    snprintf(want, sizeof want, "pid %d", (int)getpid());
    RUN(1, "rm", name, "--timeout", "0.2");
    one_line(err);
    CHECK_CONTAINS(err, name);
    CHECK_CONTAINS(err, "timed out");
    CHECK_CONTAINS(err, want);
    util_clear(&out, &err);
    RUN(1, "rm", "--timeout", "0", name);
    one_line(err);
    CHECK_CONTAINS(err, want);
    util_clear(&out, &err);
    CHECK(util_shm_exists(name));
    /* --force: gone at once, while we hold the lock and keep using the mapping. */
    RUN(0, "rm", name, "--force");
    CHECK_STR(err, "");
    util_clear(&out, &err);
    CHECK(!util_shm_exists(name));
    uint64_t *d = shmap_data(seg);
    d[3] = 77;
    CHECK_EQ_INT(d[3], 77);
    shmap_seg *again = NULL;
    CHECK_ERR(shmap_open(&again, name, SHMAP_RDONLY), -ENOENT);
    CHECK_OK(shmap_unlock(seg));
    CHECK_OK(shmap_close(seg));
    RUN(1, "rm", name);
    one_line(err);
    util_clear(&out, &err);
    RUN(2, "rm", name, "--timeout", "-1");
    util_clear(&out, &err);
    RUN(2, "rm", name, "--timeout", "soon");
    util_clear(&out, &err);
    /* Decimal seconds only ("0x10" is not 16 s), and beyond a double's range: a tiny
     * value is 0, a huge one infinite, which rm has no use for. */
    static const char *const bad[] = {"0x10", "1 2", " ", "1e400", "inf", "nan"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        RUN(2, "rm", name, "--timeout", bad[i]);
        CHECK_CONTAINS(err, "--timeout wants seconds >= 0, not '");
        util_clear(&out, &err);
    }
    RUN(1, "rm", name, "--timeout", "1e-400");
    CHECK_CONTAINS(err, "no such segment");
    util_clear(&out, &err);
}

TEST(cli__rm_refuses_an_object_that_is_not_a_segment_unless_forced)
{
    char *out = NULL, *err = NULL;
    const char *name = test_name("foreign");
    char junk[4096];
    memset(junk, 'j', sizeof junk);
    util_shm_write(name, junk, sizeof junk);
    RUN(1, "rm", name);
    one_line(err);
    CHECK_CONTAINS(err, "not a shmap segment");
    CHECK_CONTAINS(err, "force");
    util_clear(&out, &err);
    CHECK(util_shm_exists(name));
    RUN(0, "rm", "--force", name);
    util_clear(&out, &err);
    CHECK(!util_shm_exists(name));
}

TEST(cli__gc_prints_its_actions_and_dry_run_changes_nothing)
{
    char *out = NULL, *err = NULL;
    const char *tname = test_name("transient");
    const char *pname = test_name("persistent");
    /* Both made by a creator that died. */
    fflush(NULL);
    pid_t creator = fork();
    CHECK(creator >= 0);
    if (creator == 0) {
        shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
        opts.flags = SHMAP_CREATE_KEEP | SHMAP_CREATE_TRANSIENT;
        shmap_seg *seg = NULL;
        const uint64_t dims[1] = {8};
        if (shmap_create(&seg, tname, SHMAP_U8, 1, dims, &opts) != 0 || shmap_close(seg))
            _exit(1);
        opts.flags = SHMAP_CREATE_KEEP;
        if (shmap_create(&seg, pname, SHMAP_U8, 1, dims, &opts) != 0 || shmap_close(seg))
            _exit(1);
        _exit(0);
    }
    CHECK_EQ_INT(test_wait(creator), 0);
    /* A creation killed half-way, by hand: its creator is a zombie until the end (see
     * util_zombie_pid()). */
    pid_t dead = util_zombie_pid();
    char hidden[80], handle[96], hprefix[64];
    snprintf(hprefix, sizeof hprefix, ".shmap-tmp-%d-", (int)dead);
    snprintf(hidden, sizeof hidden, "%s1", hprefix);
    snprintf(handle, sizeof handle, "/%s", hidden);
    int fd = shm_open(handle, O_RDWR | O_CREAT | O_EXCL, 0600);
    CHECK(fd >= 0);
    close(fd);
    RUN(0, "ls", "--all");
    CHECK(!strstr(out, ".shmap-"));
    util_clear(&out, &err);

    char line[512];
    RUN(0, "gc", "--dry-run", "--prefix", test_prefix());
    snprintf(line, sizeof line,
             "would remove transient segment %s (creator pid %d dead, no live attachers)\n",
             tname, (int)creator);
    CHECK_CONTAINS(out, line);
    CHECK(!strstr(out, pname));
    CHECK_CONTAINS(out, "gc (dry run): 1 transient segment to remove, ");
    util_clear(&out, &err);
    /* Unscoped, a dry run sees both and still changes nothing. */
    RUN(0, "gc", "--dry-run");
    CHECK_CONTAINS(out, line);
    char tmpline[256];
    snprintf(tmpline, sizeof tmpline,
             "would remove hidden leftover %s of a dead creator (pid %d)\n", hidden, (int)dead);
    CHECK_CONTAINS(out, tmpline);
    CHECK_CONTAINS(out, "gc (dry run): ");
    util_clear(&out, &err);
    CHECK(util_shm_exists(tname) && util_shm_exists(pname) && util_shm_exists(hidden));

    RUN(0, "gc", "--prefix", test_prefix());
    snprintf(line, sizeof line,
             "removed transient segment %s (creator pid %d dead, no live attachers)\n", tname,
             (int)creator);
    CHECK_CONTAINS(out, line);
    CHECK_CONTAINS(out, "gc: 1 transient segment removed, 0 stale attach slots cleared in 0 "
                        "segments, 0 hidden leftovers removed\n");
    CHECK_STR(err, "");
    util_clear(&out, &err);
    CHECK(!util_shm_exists(tname) && util_shm_exists(pname));
    RUN(0, "gc", "--prefix", hprefix);
    snprintf(tmpline, sizeof tmpline, "removed hidden leftover %s of a dead creator (pid %d)\n",
             hidden, (int)dead);
    CHECK_CONTAINS(out, tmpline);
    util_clear(&out, &err);
    CHECK(!util_shm_exists(hidden));
    RUN(0, "gc", "--prefix", test_prefix());
    CHECK_STR(out, "gc: nothing to do\n");
    util_clear(&out, &err);
    RUN(2, "gc", "extra");
    util_clear(&out, &err);
    RUN(0, "rm", pname);
    util_clear(&out, &err);
    CHECK_EQ_INT(test_wait(dead), 0);
}


TEST(cli__info_and_gc_tell_an_unfinished_system_v_segment_from_one_being_created)
{
    char *out = NULL, *err = NULL;
    key_t key = test_sysv_key();
    char name[32], keyhex[16], line[256];
    snprintf(name, sizeof name, "sysv://0x%08x", (unsigned)key);
    snprintf(keyhex, sizeof keyhex, "0x%08x", (unsigned)key);
    struct util_chan c;
    util_chan_open(&c);
    pid_t pid = util_spawn_unfinished_sysv(name, key, 1 << 20, c.up[1], c.down[0]);
    CHECK(util_parent_recv(&c) == 'L');

    /* The creator lives: info says so (after waiting a moment for it), gc keeps it. */
    RUN(1, "info", name);
    one_line(err);
    snprintf(line, sizeof line, "segment is still being created by pid %d\n", (int)pid);
    CHECK_CONTAINS(err, line);
    RUN(0, "gc", "--dry-run", "--prefix", name);
    CHECK_STR(out, "gc (dry run): nothing to do\n");
    RUN(0, "gc", "--prefix", name);
    CHECK_STR(out, "gc: nothing to do\n");

    /* Killed: info says it will never be completed, and gc removes it (as does a forced
     * rm, which info names, as it is the way for every store). */
    CHECK(kill(pid, SIGKILL) == 0);
    CHECK_EQ_INT(test_wait(pid), 128 + SIGKILL);
    RUN(1, "info", name);
    one_line(err);
    snprintf(line, sizeof line, "segment was never completed: its creator (pid %d) died while "
                                "creating it (remove it with `shmap rm --force`)\n",
             (int)pid);
    CHECK_CONTAINS(err, line);
    RUN(0, "ls", "--all");
    CHECK_CONTAINS(out, name);
    RUN(0, "gc", "--dry-run", "--prefix", name);
    snprintf(line, sizeof line, "would remove unfinished segment %s (its creator, pid %d, died "
                                "creating it)\n", name, (int)pid);
    CHECK_CONTAINS(out, line);
    CHECK_CONTAINS(out, ", 0 hidden leftovers to remove, 1 unfinished System V segment to "
                        "remove\n");
    CHECK(util_sysv_exists(key));
    RUN(0, "gc", "--prefix", name);
    snprintf(line, sizeof line, "removed unfinished segment %s (its creator, pid %d, died "
                                "creating it)\n", name, (int)pid);
    CHECK_CONTAINS(out, line);
    CHECK_CONTAINS(out, ", 1 unfinished System V segment removed\n");
    CHECK_STR(err, "");
    CHECK(!util_sysv_exists(key));
    /* As ipcs(1) sees it too. */
    int rc = test_sh(&out, &err, "ipcs -m");
    if (rc == 0)
        CHECK(!strstr(out, keyhex));
    util_clear(&out, &err);
    RUN(0, "gc", "--prefix", name);
    CHECK_STR(out, "gc: nothing to do\n");
    util_clear(&out, &err);
    util_chan_close(&c);
}
