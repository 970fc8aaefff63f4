/*
 * shmap_delete() while this process's mappings of the segment are unmap-pending (IDL's
 * SHMUNMAP with references left): the read-write one, the read-only one, or both. Deleting
 * revives neither: it locks through a mapping of its own, so it still waits for other
 * processes' locks and for this one's, removes the name, and leaves the pending mappings,
 * and the data they show, as they were.
 */
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../util.h"

static const uint64_t dims16[1] = {16};

/* Mapping lines of /proc/self/maps that name `path` (a segment's file, or a SysV key's
 * "SYSV" line), counted before and after a call to see that it left no mapping behind. */
static int maps_lines(const char *path)
{
    FILE *f = fopen("/proc/self/maps", "r");
    CHECK(f != NULL);
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f))
        n += strstr(line, path) != NULL;
    fclose(f);
    return n;
}

/* This process's slots in a segment's attach table, as a handle of it reads them. */
static int my_slots(const shmap_seg *seg)
{
    shmap_attacher att[64];
    int n = shmap_attached(seg, att, 64);
    CHECK(n >= 0 && n <= 64);
    int mine = 0;
    for (int i = 0; i < n; i++)
        mine += att[i].pid == getpid();
    return mine;
}

/*
 * Both mappings of `name` pending: a read-write and a read-only mapping, each unmapped
 * through one handle while a second (an array's reference, in Python) keeps it. The kept
 * references come back in *rw and *ro.
 */
static void make_both_pending(const char *name, shmap_seg **rw, shmap_seg **ro)
{
    shmap_seg *a = NULL, *b = NULL;
    CHECK_OK(shmap_open(&a, name, SHMAP_RDWR));
    CHECK_OK(shmap_dup(rw, a));
    CHECK_OK(shmap_unmap(a));
    CHECK_OK(shmap_open(&b, name, SHMAP_RDONLY));
    CHECK_OK(shmap_dup(ro, b));
    CHECK_OK(shmap_unmap(b));
    shmap_seg *x = NULL;
    CHECK_ERR(shmap_open(&x, name, SHMAP_RDWR), SHMAP_EPENDING);
    CHECK_ERR(shmap_open(&x, name, SHMAP_RDONLY), SHMAP_EPENDING);
}

/* Both of this process's mappings of `name` are listed, pending, one reference each. */
static void check_still_pending(const char *name)
{
    shmap_mapping *maps = NULL;
    size_t n = 0;
    CHECK_OK(shmap_mappings(&maps, &n));
    int found = 0, pending = 0, writable = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(maps[i].info.name, name) != 0)
            continue;
        found++;
        pending += maps[i].pending;
        writable += maps[i].writable;
        CHECK_EQ_INT(maps[i].refs, 1);
    }
    shmap_mappings_free(maps);
    CHECK_EQ_INT(found, 2);
    CHECK_EQ_INT(pending, 2);
    CHECK_EQ_INT(writable, 1);
}

TEST(delete__with_both_mappings_pending_removes_the_name_and_leaves_them_working)
{
    const char *name = test_name("both");
    util_make_kept(name, SHMAP_U32, 1, dims16);
    shmap_seg *rw = NULL, *ro = NULL;
    make_both_pending(name, &rw, &ro);
    uint32_t *w = shmap_data(rw);
    const uint32_t *r = shmap_data(ro);
    for (unsigned i = 0; i < 16; i++)
        w[i] = 100 + i;
    char path[SHMAP_NAME_MAX + 16];
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    int lines = maps_lines(path), slots = my_slots(rw);
    CHECK(lines >= 2);

    CHECK_OK(shmap_delete(name, 5, 0));

    CHECK(!util_shm_exists(name));
    shmap_seg *x = NULL;
    CHECK_ERR(shmap_open(&x, name, SHMAP_RDONLY), -ENOENT);
    CHECK_ERR(shmap_delete(name, 0, 0), -ENOENT);
    /* Nothing was revived and nothing of the deletion's own mapping stays: the same
     * mappings, still pending, the same slots in the attach table. */
    check_still_pending(name);
    CHECK_EQ_INT(maps_lines(path), lines);
    CHECK_EQ_INT(my_slots(rw), slots);
    /* The memory is still there, through both, readable and writable as before. */
    for (unsigned i = 0; i < 16; i++)
        CHECK_EQ_INT(r[i], 100 + i);
    w[3] = 7;
    CHECK_EQ_INT(r[3], 7);
    /* Locks and publishing still work through the pending mapping's reference. */
    CHECK_OK(shmap_lock(rw, SHMAP_LOCK_EXCLUSIVE, 1));
    CHECK_OK(shmap_unlock(rw));
    CHECK_OK(shmap_close(rw));
    CHECK_OK(shmap_close(ro));
    CHECK_EQ_INT(util_mapping_refs(name, NULL), 0);
    CHECK_EQ_INT(maps_lines(path), 0);
}

TEST(delete__with_only_one_mapping_pending_leaves_the_other_as_it_was)
{
    /* Read-write pending, read-only not: the read-only mapping keeps its one reference and
     * is not made pending by the deletion. */
    const char *name = test_name("one");
    util_make_kept(name, SHMAP_U8, 1, dims16);
    shmap_seg *a = NULL, *keep = NULL, *ro = NULL;
    CHECK_OK(shmap_open(&a, name, SHMAP_RDWR));
    CHECK_OK(shmap_dup(&keep, a));
    CHECK_OK(shmap_unmap(a));
    CHECK_OK(shmap_open(&ro, name, SHMAP_RDONLY));
    ((unsigned char *)shmap_data(keep))[0] = 42;
    CHECK_OK(shmap_delete(name, 5, 0));
    CHECK(!util_shm_exists(name));
    shmap_mapping *maps = NULL;
    size_t n = 0;
    CHECK_OK(shmap_mappings(&maps, &n));
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(maps[i].info.name, name) != 0)
            continue;
        found++;
        CHECK_EQ_INT(maps[i].refs, 1);
        CHECK_EQ_INT(maps[i].pending, maps[i].writable);
    }
    shmap_mappings_free(maps);
    CHECK_EQ_INT(found, 2);
    CHECK_EQ_INT(((const unsigned char *)shmap_data(ro))[0], 42);
    CHECK_OK(shmap_close(ro));
    CHECK_OK(shmap_close(keep));
    CHECK_EQ_INT(util_mapping_refs(name, NULL), 0);
}

TEST(delete__with_both_mappings_pending_refuses_this_process_lock)
{
    /* A lock held through the pending mapping's reference is this process's like any
     * other: the deletion, through a mapping of its own, would wait for itself, and is
     * refused at once. */
    const char *name = test_name("self");
    util_make_kept(name, SHMAP_U32, 1, dims16);
    shmap_seg *rw = NULL, *ro = NULL;
    make_both_pending(name, &rw, &ro);
    CHECK_OK(shmap_lock(rw, SHMAP_LOCK_EXCLUSIVE, 0));
    CHECK_ERR(shmap_delete(name, -1, 0), -EDEADLK);
    CHECK_CONTAINS(shmap_last_error(), "this process holds the exclusive lock");
    CHECK_DETAIL_NAMES(name);
    CHECK_OK(shmap_unlock(rw));
    CHECK_OK(shmap_lock(rw, SHMAP_LOCK_SHARED, 0));
    CHECK_ERR(shmap_delete(name, -1, 0), -EDEADLK);
    CHECK_CONTAINS(shmap_last_error(), "shared hold");
    CHECK(util_shm_exists(name));
    check_still_pending(name);
    CHECK_OK(shmap_unlock(rw));
    CHECK_OK(shmap_delete(name, 0, 0));
    CHECK(!util_shm_exists(name));
    check_still_pending(name);
    CHECK_OK(shmap_close(rw));
    CHECK_OK(shmap_close(ro));
}

/*
 * A child that opens `name` read-write and takes `lock` on it, says 'L', and on 'U' waits
 * `hold_ms`, then (with `replace`) puts a new segment under the name, and lets go.
 */
static pid_t spawn_holder(const char *name, unsigned lock, long hold_ms, int replace,
                          struct util_chan *c)
{
    fflush(NULL);
    pid_t pid = util_spawn();
    if (pid != 0)
        return pid;
    shmap_seg *seg = NULL;
    if (shmap_open(&seg, name, SHMAP_RDWR) != 0 || shmap_lock(seg, lock, 5) != 0)
        _exit(10);
    util_child_send(c, 'L');
    if (util_child_recv(c) != 'U')
        _exit(11);
    util_sleep_ms(hold_ms);
    if (replace) {
        shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
        opts.flags = SHMAP_CREATE_REPLACE | SHMAP_CREATE_KEEP;
        shmap_seg *next = NULL;
        if (shmap_create(&next, name, SHMAP_U8, 1, dims16, &opts) != 0 || shmap_close(next))
            _exit(12);
    }
    if (shmap_unlock(seg) != 0 || shmap_close(seg) != 0)
        _exit(13);
    _exit(0);
}

TEST(delete__with_both_mappings_pending_waits_for_another_process_lock)
{
    const char *name = test_name("other");
    util_make_kept(name, SHMAP_U32, 1, dims16);
    struct util_chan c;
    util_chan_open(&c);
    pid_t pid = spawn_holder(name, SHMAP_LOCK_EXCLUSIVE, 300, 0, &c);
    CHECK_EQ_INT(util_parent_recv(&c), 'L');
    shmap_seg *rw = NULL, *ro = NULL;
    make_both_pending(name, &rw, &ro);
    ((uint32_t *)shmap_data(rw))[0] = 5;
    char want[32];
    snprintf(want, sizeof want, "pid %d", (int)pid);

    /* Only trying, and a timeout: both fail naming the holder, and change nothing. */
    CHECK_ERR(shmap_delete(name, 0, 0), -EBUSY);
    CHECK_CONTAINS(shmap_last_error(), want);
    double t0 = util_now_s();
    CHECK_ERR(shmap_delete(name, 0.2, 0), -ETIMEDOUT);
    double dt = util_now_s() - t0;
    CHECK(dt >= 0.19 && dt < 0.2 + UTIL_PROMPT_S);
    CHECK_CONTAINS(shmap_last_error(), want);
    CHECK_CONTAINS(shmap_last_error(), "timed out");
    CHECK(util_shm_exists(name));
    check_still_pending(name);
    shmap_info info;
    CHECK_OK(shmap_stat(name, &info));

    /* Waiting: the name goes once the holder lets go (300 ms after it is told), not
     * before. The clock starts before the word, so a stall here cannot shorten it. */
    t0 = util_now_s();
    util_parent_send(&c, 'U');
    CHECK_OK(shmap_delete(name, 10, 0));
    CHECK(util_now_s() - t0 > 0.25);
    CHECK_EQ_INT(test_wait(pid), 0);
    CHECK(!util_shm_exists(name));
    check_still_pending(name);
    CHECK_EQ_INT(((const uint32_t *)shmap_data(ro))[0], 5);
    CHECK_OK(shmap_close(rw));
    CHECK_OK(shmap_close(ro));
    util_chan_close(&c);
}

TEST(delete__with_both_mappings_pending_deletes_what_replaced_the_name_meanwhile)
{
    /* The holder puts a new segment under the name before it lets go: the deletion finds
     * that the name no longer names what it locked, and deletes the new one in its turn
     * (which this process does not map, so it goes the ordinary way). */
    const char *name = test_name("repl");
    util_make_kept(name, SHMAP_U32, 1, dims16);
    struct util_chan c;
    util_chan_open(&c);
    pid_t pid = spawn_holder(name, SHMAP_LOCK_EXCLUSIVE, 300, 1, &c);
    CHECK_EQ_INT(util_parent_recv(&c), 'L');
    shmap_seg *rw = NULL, *ro = NULL;
    make_both_pending(name, &rw, &ro);
    util_parent_send(&c, 'U');
    CHECK_OK(shmap_delete(name, 10, 0));
    CHECK_EQ_INT(test_wait(pid), 0);
    CHECK(!util_shm_exists(name)); /* neither the first segment nor its replacement */
    check_still_pending(name);
    shmap_info info;
    CHECK_OK(shmap_info_get(rw, &info));
    CHECK_EQ_INT(info.dtype, SHMAP_U32); /* still the first segment's memory */
    CHECK_OK(shmap_close(rw));
    CHECK_OK(shmap_close(ro));
    util_chan_close(&c);
}

TEST(delete__with_both_mappings_pending_on_system_v_and_file_stores)
{
    char sysv[64], file[300];
    snprintf(sysv, sizeof sysv, "sysv://0x%x", (unsigned)test_sysv_key());
    snprintf(file, sizeof file, "file:%s/seg", util_test_dir());
    const char *names[2] = {sysv, file};
    for (int k = 0; k < 2; k++) {
        shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
        opts.flags = SHMAP_CREATE_KEEP;
        shmap_seg *seg = NULL;
        CHECK_OK(shmap_create(&seg, names[k], SHMAP_I64, 1, dims16, &opts));
        CHECK_OK(shmap_close(seg));
        shmap_seg *rw = NULL, *ro = NULL;
        make_both_pending(names[k], &rw, &ro);
        ((int64_t *)shmap_data(rw))[15] = -9;
        CHECK_OK(shmap_delete(names[k], 5, 0));
        shmap_info info;
        CHECK_ERR(shmap_stat(names[k], &info), -ENOENT);
        CHECK_OK(shmap_info_get(rw, &info)); /* the canonical name, as mappings list it */
        check_still_pending(info.name);
        CHECK_EQ_INT(((const int64_t *)shmap_data(ro))[15], -9);
        ((int64_t *)shmap_data(rw))[0] = 3;
        CHECK_EQ_INT(((const int64_t *)shmap_data(ro))[0], 3);
        CHECK_OK(shmap_close(rw));
        CHECK_OK(shmap_close(ro));
        CHECK_EQ_INT(util_mapping_refs(info.name, NULL), 0);
    }
    CHECK(rmdir(util_test_dir()) == 0); /* the file went with its name */
}

TEST(delete__a_user_who_may_not_lock_it_is_told_whether_force_would_do)
{
    if (geteuid() != 0)
        TEST_SKIP("needs root, to make a segment another user may read but not remove");
    const char *name = test_name("dfh");
    shmap_seg *seg = NULL;
    shmap_create_opts o = SHMAP_CREATE_OPTS_INIT;
    o.flags = SHMAP_CREATE_KEEP;
    o.mode = 0644;
    CHECK_OK(shmap_create(&seg, name, SHMAP_U8, 1, dims16, &o));
    CHECK_OK(shmap_close(seg));
    char dir[512], fname[600];
    snprintf(dir, sizeof dir, "%s/open", util_test_dir());
    CHECK(chmod(util_test_dir(), 0711) == 0 && mkdir(dir, 0777) == 0 && chmod(dir, 0777) == 0);
    snprintf(fname, sizeof fname, "file:%s/seg", dir);
    CHECK_OK(shmap_create(&seg, fname, SHMAP_U8, 1, dims16, &o));
    CHECK_OK(shmap_close(seg));
    fflush(NULL);
    pid_t pid = util_spawn();
    if (pid == 0) {
        if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)
            _exit(10);
        if (shmap_delete(name, 0, 0) != -EACCES)
            _exit(11);
        if (!strstr(shmap_last_error(), "this user may not remove the name"))
            _exit(12);
        if (shmap_delete(name, 0, SHMAP_DELETE_FORCE) >= 0)
            _exit(13);
        /* A file in a directory this user may write, not sticky: force would do. */
        if (shmap_delete(fname, 0, 0) != -EACCES)
            _exit(14);
        if (!strstr(shmap_last_error(), "delete with force to remove it without the lock"))
            _exit(15);
        if (shmap_delete(fname, 0, SHMAP_DELETE_FORCE) != 0)
            _exit(16);
        _exit(0);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK_EQ_INT(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0);
    CHECK(util_shm_exists(name));
    CHECK(access(fname + 5, F_OK) != 0); /* nobody removed the file */
    /* Its owner may not take the lock of a foreign object, but may force it. */
    CHECK_OK(shmap_unlink(name));
    util_shm_write(name, "not a segment", 13);
    CHECK_ERR(shmap_delete(name, 0, 0), SHMAP_EFORMAT);
    CHECK_CONTAINS(shmap_last_error(), "delete with force to remove it anyway");
    CHECK_OK(shmap_delete(name, 0, SHMAP_DELETE_FORCE));
    CHECK(!util_shm_exists(name));
}
