/*
 * shmap_gc() and `shmap gc` run by one user against segments that processes of another
 * user map. A read-only reader is in no attach table, and a user other than root cannot
 * read the maps of other users' processes: gc must then keep the segment and say why, not
 * take "cannot see" for "not mapped". What this user may not remove (another user's, in
 * the sticky /dev/shm) is kept, and said to be, in a dry run as in a real one. Failures
 * name the segment once, and the summary counts them.
 *
 * Root only: the tests switch to the user nobody (65534) in children, and need another
 * user's processes. Names are this test's; the runner removes whatever a failure leaves.
 */
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/ipc.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/stat.h>

#include "../util.h"

/* A segment of `mode` made with `flags` besides KEEP by a process (nobody, or root) that has
 * exited; its pid. */
static pid_t make_by_dead(const char *name, bool by_nobody, unsigned mode, unsigned flags)
{
    pid_t pid = util_spawn();
    if (pid == 0) {
        if (by_nobody)
            util_become_nobody();
        umask(0);
        shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
        opts.flags = SHMAP_CREATE_KEEP | flags;
        opts.mode = mode;
        shmap_seg *seg = NULL;
        const uint64_t dims[1] = {16};
        if (shmap_create(&seg, name, SHMAP_U8, 1, dims, &opts) != 0) {
            fprintf(stderr, "create %s: %s\n", name, shmap_last_error());
            _exit(1);
        }
        /* A hidden creation closed unfinished leaves nothing: this one dies making it. */
        _exit((flags & SHMAP_CREATE_HIDDEN) || shmap_close(seg) == 0 ? 0 : 1);
    }
    CHECK_EQ_INT(test_wait(pid), 0);
    return pid;
}

/* A transient segment whose creator (nobody, or root) has exited; its pid. */
static pid_t make_transient(const char *name, bool by_nobody, unsigned mode)
{
    return make_by_dead(name, by_nobody, mode, SHMAP_CREATE_TRANSIENT);
}

/* A root child that maps `name` read-only (no lock, so in no attach table), says 'L', and
 * holds it until told 'U'. */
static pid_t spawn_reader(const char *name, struct util_chan *c)
{
    util_chan_open(c);
    pid_t pid = util_spawn();
    if (pid == 0) {
        shmap_seg *seg = NULL;
        if (shmap_open(&seg, name, SHMAP_RDONLY) != 0) {
            util_child_send(c, 'E');
            _exit(1);
        }
        util_child_send(c, 'L');
        char b = util_child_recv(c);
        shmap_close(seg);
        _exit(b == 'U' ? 0 : 2);
    }
    CHECK_EQ_INT(util_parent_recv(c), 'L');
    return pid;
}

static void stop_reader(pid_t pid, struct util_chan *c)
{
    util_parent_send(c, 'U');
    CHECK_EQ_INT(test_wait(pid), 0);
    util_chan_close(c);
}

static void gc_events(struct util_gc_events *e, const char *name, unsigned flags)
{
    memset(e, 0, sizeof *e);
    CHECK_OK(shmap_gc(name, flags, util_gc_collect, e));
}

/* Whether the segment `name` (in /dev/shm, or a file: one) is there. */
static bool exists(const char *name)
{
    struct stat st;
    if (strncmp(name, "file:", 5) == 0)
        return lstat(name + 5, &st) == 0;
    return util_shm_exists(name);
}

/* The path of a file segment in this test's directory, which anyone may write (without the
 * sticky bit): nobody may remove root's files there, but not ask for their lease. */
static const char *open_dir_file(const char *leaf)
{
    static char name[PATH_MAX];
    CHECK(chmod(util_test_dir(), 0777) == 0);
    snprintf(name, sizeof name, "file:%s", util_test_path(leaf));
    return name;
}

/* ---------------------------------------------------------------------------------------- */

/* As nobody: gc of its own segment, which a root reader maps, removes nothing. */
static void nobody_gc_removes_nothing(const char *name)
{
    struct util_gc_events e;
    gc_events(&e, name, SHMAP_GC_DRY_RUN);
    CHECK_EQ_INT(e.n, 0);
    gc_events(&e, name, 0);
    CHECK_EQ_INT(e.n, 0);
    CHECK(util_shm_exists(name));
    char *out = NULL, *err = NULL;
    RUN(0, "gc", "--prefix", name);
    CHECK_STR(out, "gc: nothing to do\n");
    CHECK_STR(err, "");
    util_clear(&out, &err);
    CHECK(util_shm_exists(name));
}

/* As nobody: gc of its own segment nobody uses any more removes it. */
static void nobody_gc_removes_it(const char *name)
{
    char *out = NULL, *err = NULL;
    RUN(0, "gc", "--prefix", name);
    CHECK_CONTAINS(out, "removed transient segment ");
    CHECK_CONTAINS(out, "gc: 1 transient segment removed, ");
    CHECK_STR(err, "");
    util_clear(&out, &err);
    CHECK(!util_shm_exists(name));
}

TEST(gc_users__an_unprivileged_gc_keeps_its_segment_that_a_root_reader_maps)
{
    util_need_root();
    const char *name = test_name("own");
    pid_t creator = make_transient(name, true, 0644);
    struct util_chan c;
    pid_t reader = spawn_reader(name, &c);

    /* The reader's maps are closed to nobody, but nobody owns the object: the kernel
     * tells the owner whether anyone has it open or mapped. */
    util_as_nobody(nobody_gc_removes_nothing, name);
    struct util_gc_events e;
    gc_events(&e, name, 0);
    CHECK_EQ_INT(e.n, 0);
    CHECK(util_shm_exists(name));

    stop_reader(reader, &c);
    gc_events(&e, name, SHMAP_GC_DRY_RUN);
    CHECK_EQ_INT(e.n, 1);
    CHECK(e.ev[0].action == SHMAP_GC_REMOVED_TRANSIENT && e.ev[0].status == 0);
    CHECK(e.ev[0].dry_run && e.ev[0].pid == creator);
    CHECK(util_shm_exists(name));
    util_as_nobody(nobody_gc_removes_it, name);
}

/* The detail of a kept segment: "NAME: kept: pid P (uid U) ...". Checks that P, if still
 * running, has U as its effective uid. */
static void check_kept_detail(const char *detail, const char *name)
{
    char want[128];
    snprintf(want, sizeof want, "%s: kept: pid ", name);
    CHECK(strncmp(detail, want, strlen(want)) == 0);
    CHECK_CONTAINS(detail, " may map it and this user cannot read ");
    CHECK_CONTAINS(detail, "; run gc as root");
    int pid;
    unsigned uid;
    CHECK(sscanf(detail + strlen(want), "%d (uid %u)", &pid, &uid) == 2);
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        unsigned r, eff;
        if (sscanf(line, "Uid: %u %u", &r, &eff) == 2)
            CHECK_EQ_INT(eff, uid);
    }
    fclose(f);
}

/* As nobody, of a root-owned file it may remove: kept, said through -EBUSY and the detail. */
static void nobody_gc_keeps_and_says_why(const char *name)
{
    struct util_gc_events e;
    for (int dry = 0; dry < 2; dry++) {
        gc_events(&e, name, dry ? SHMAP_GC_DRY_RUN : 0);
        CHECK_EQ_INT(e.n, 1);
        CHECK(e.ev[0].action == SHMAP_GC_REMOVED_TRANSIENT && e.ev[0].status == -EBUSY);
        CHECK_EQ_INT(e.ev[0].dry_run, dry);
        CHECK_STR(e.ev[0].name, name);
        check_kept_detail(e.detail[0], name);
        CHECK(exists(name));
    }

    char *out = NULL, *err = NULL, line[128];
    snprintf(line, sizeof line, "kept transient segment %s: pid ", name);
    RUN(0, "gc", "--dry-run", "--prefix", name);
    CHECK(strncmp(out, line, strlen(line)) == 0);
    CHECK_CONTAINS(out, " may map it and this user cannot read ");
    CHECK_CONTAINS(out, "\ngc (dry run): 1 transient segment kept (may be in use)\n");
    CHECK_STR(err, "");
    RUN(0, "gc", "--prefix", name);
    CHECK(strncmp(out, line, strlen(line)) == 0);
    CHECK_CONTAINS(out, "; run gc as root");
    CHECK_CONTAINS(out, "\ngc: 1 transient segment kept (may be in use)\n");
    CHECK(!strstr(out, "nothing to do"));
    CHECK_STR(err, "");
    util_clear(&out, &err);
    CHECK(exists(name));
}

TEST(gc_users__an_unprivileged_gc_keeps_a_segment_it_cannot_judge_and_says_why)
{
    util_need_root();
    const char *name = open_dir_file("root.seg");
    pid_t creator = make_transient(name, false, 0644);
    struct util_chan c;
    pid_t reader = spawn_reader(name, &c);

    /* Nobody may remove it, but neither owns it nor may read root's maps: root's processes
     * could map it. */
    util_as_nobody(nobody_gc_keeps_and_says_why, name);
    /* Root knows the reader maps it, and keeps it without a word. */
    struct util_gc_events e;
    gc_events(&e, name, 0);
    CHECK_EQ_INT(e.n, 0);
    CHECK(exists(name));

    stop_reader(reader, &c);
    /* This test's process is root and alive, so nobody still cannot rule it out. */
    util_as_nobody(nobody_gc_keeps_and_says_why, name);

    char *out = NULL, *err = NULL, line[PATH_MAX + 128];
    RUN(0, "gc", "--dry-run", "--prefix", name);
    snprintf(line, sizeof line,
             "would remove transient segment %s (creator pid %d dead, no live attachers)\n",
             name, (int)creator);
    CHECK_CONTAINS(out, line);
    CHECK(exists(name));
    RUN(0, "gc", "--prefix", name);
    snprintf(line, sizeof line,
             "removed transient segment %s (creator pid %d dead, no live attachers)\n", name,
             (int)creator);
    CHECK_CONTAINS(out, line);
    CHECK_CONTAINS(out, "gc: 1 transient segment removed, ");
    util_clear(&out, &err);
    CHECK(!exists(name));
}

/* ---------------------------------------------------------------------------------------- */
/* Failures */

/* Root's leftovers, which nobody may not remove: a transient segment in /dev/shm, a hidden
 * creation of a dead process there, and a transient System V segment. */
static const char *theirs[3];

/* Each event of theirs[]: kept, with the refusal the removal would meet and who may. */
static void check_kept_theirs(const struct util_gc_events *e, int dry, int n)
{
    CHECK_EQ_INT(e->n, n);
    for (int i = 0; i < e->n; i++) {
        CHECK_EQ_INT(e->ev[i].dry_run, dry);
        CHECK_EQ_INT(e->ev[i].status, -EPERM);
        char want[SHMAP_NAME_MAX + 32];
        snprintf(want, sizeof want, "%s: kept: ", e->ev[i].name);
        CHECK(strncmp(e->detail[i], want, strlen(want)) == 0);
        if (strncmp(e->ev[i].name, "sysv://", 7) == 0) {
            CHECK_CONTAINS(e->detail[i], "only its owner (uid 0) or root may remove it; run "
                                         "gc as root or as uid 0");
        } else {
            CHECK_CONTAINS(e->detail[i], "it belongs to uid 0, and only its owner or root may "
                                         "remove it from /dev/shm, a sticky directory; run gc "
                                         "as root or as uid 0");
        }
    }
}

static void nobody_gc_keeps_theirs(const char *prefix)
{
    struct util_gc_events e;
    for (int dry = 1; dry >= 0; dry--) {
        gc_events(&e, prefix, dry ? SHMAP_GC_DRY_RUN : 0);
        check_kept_theirs(&e, dry, 2);
        gc_events(&e, theirs[2], dry ? SHMAP_GC_DRY_RUN : 0);
        check_kept_theirs(&e, dry, 1);
    }
    char *out = NULL, *err = NULL, line[512];
    RUN(0, "gc", "--prefix", theirs[0]);
    snprintf(line, sizeof line, "kept transient segment %s: it belongs to uid 0, and only its "
             "owner or root may remove it from /dev/shm, a sticky directory; run gc as root "
             "or as uid 0\ngc: 1 kept that this user may not remove\n", theirs[0]);
    CHECK_STR(out, line);
    CHECK_STR(err, "");
    RUN(0, "gc", "--dry-run", "--prefix", theirs[2]);
    snprintf(line, sizeof line, "kept transient segment %s: only its owner (uid 0) or root may "
             "remove it; run gc as root or as uid 0\ngc (dry run): 1 kept that this user may "
             "not remove\n", theirs[2]);
    CHECK_STR(out, line);
    RUN(0, "gc", "--prefix", theirs[1]);
    CHECK(strncmp(out, "kept hidden leftover .shmap-tmp-", 32) == 0);
    CHECK_CONTAINS(out, "\ngc: 1 kept that this user may not remove\n");
    CHECK_STR(err, "");
    util_clear(&out, &err);
}

TEST(gc_users__an_unprivileged_gc_keeps_what_it_may_not_remove_and_says_who_may)
{
    util_need_root();
    theirs[0] = test_name("t-posix");
    theirs[1] = test_name("t-hidden");
    char sysv[64];
    snprintf(sysv, sizeof sysv, "sysv://0x%08x", (unsigned)test_sysv_key());
    theirs[2] = sysv;
    pid_t creator = make_transient(theirs[0], false, 0666);
    /* Readable by all: one nobody cannot open is passed by, as any such object is. */
    pid_t hider = make_by_dead(theirs[1], false, 0644, SHMAP_CREATE_HIDDEN);
    make_transient(theirs[2], false, 0666);
    /* The test's prefix takes the two in /dev/shm and their hidden leftovers; System V
     * names are matched apart. */
    util_as_nobody(nobody_gc_keeps_theirs, test_prefix());
    CHECK(exists(theirs[0]));
    CHECK_EQ_INT(util_count_hidden_of(hider), 1);

    /* Root may, and does. */
    struct util_gc_events e;
    gc_events(&e, test_prefix(), 0);
    CHECK_EQ_INT(e.n, 2);
    for (int i = 0; i < e.n; i++) {
        CHECK_EQ_INT(e.ev[i].status, 0);
        CHECK_EQ_INT(e.ev[i].pid, e.ev[i].action == SHMAP_GC_REMOVED_TMP ? hider : creator);
    }
    gc_events(&e, theirs[2], 0);
    CHECK_EQ_INT(e.n, 1);
    CHECK_EQ_INT(e.ev[0].status, 0);
    CHECK(!exists(theirs[0]));
    CHECK_EQ_INT(util_count_hidden_of(hider), 0);
    shmap_seg *seg = NULL;
    CHECK_ERR(shmap_open(&seg, theirs[2], SHMAP_RDONLY), -ENOENT);
}

/* As nobody: root's transient segment, which a process of nobody's maps, is in use, and
 * nothing is said of it: root's gc would keep it too. */
static void nobody_gc_says_nothing_of_one_in_use(const char *name)
{
    struct util_gc_events e;
    for (int dry = 1; dry >= 0; dry--) {
        gc_events(&e, name, dry ? SHMAP_GC_DRY_RUN : 0);
        CHECK_EQ_INT(e.n, 0);
    }
    char *out = NULL, *err = NULL;
    RUN(0, "gc", "--prefix", name);
    CHECK_STR(out, "gc: nothing to do\n");
    CHECK_STR(err, "");
    util_clear(&out, &err);
}

static void nobody_gc_keeps_it_unused(const char *name)
{
    char *out = NULL, *err = NULL, line[512];
    RUN(0, "gc", "--prefix", name);
    snprintf(line, sizeof line, "kept transient segment %s: it belongs to uid 0, and only its "
             "owner or root may remove it from /dev/shm, a sticky directory; run gc as root "
             "or as uid 0\ngc: 1 kept that this user may not remove\n", name);
    CHECK_STR(out, line);
    CHECK_STR(err, "");
    util_clear(&out, &err);
}

TEST(gc_users__an_unprivileged_gc_does_not_send_to_root_for_a_segment_in_use)
{
    util_need_root();
    const char *name = test_name("used");
    make_transient(name, false, 0666);
    /* A reader of nobody's, in no attach table, dumpable so that nobody's gc sees it. */
    struct util_chan c;
    util_chan_open(&c);
    pid_t reader = util_spawn();
    if (reader == 0) {
        util_become_nobody();
        prctl(PR_SET_DUMPABLE, 1);
        shmap_seg *seg = NULL;
        if (shmap_open(&seg, name, SHMAP_RDONLY) != 0) {
            util_child_send(&c, 'E');
            _exit(1);
        }
        util_child_send(&c, 'L');
        char b = util_child_recv(&c);
        shmap_close(seg);
        _exit(b == 'U' ? 0 : 2);
    }
    CHECK_EQ_INT(util_parent_recv(&c), 'L');
    util_as_nobody(nobody_gc_says_nothing_of_one_in_use, name);
    stop_reader(reader, &c);
    CHECK(exists(name));
    /* Once unused, it is kept for want of the right to remove it, and said to be. */
    util_as_nobody(nobody_gc_keeps_it_unused, name);
    CHECK_OK(shmap_delete(name, 0, 0));
}

/*
 * In a pid namespace of its own, with its own /proc, nobody sees every process there is
 * (none of root's): /proc rules out every user, but root's POSIX object is not nobody's to
 * remove from the sticky /dev/shm. The checks run as pid 1 of that namespace, as nobody,
 * after a root child there made `name` and exited.
 */
static void in_pid_namespace(const char *name)
{
    make_transient(name, false, 0644);
    util_become_nobody();
    /* Dumpable again, so that gc, as nobody too, may read this process's maps. */
    prctl(PR_SET_DUMPABLE, 1);
    char *out = NULL, *err = NULL, line[512];
    snprintf(line, sizeof line, "kept transient segment %s: it belongs to uid 0, and only its "
             "owner or root may remove it from /dev/shm, a sticky directory; run gc as root "
             "or as uid 0\n", name);
    RUN(0, "gc", "--dry-run", "--prefix", name);
    CHECK(strncmp(out, line, strlen(line)) == 0);
    CHECK_CONTAINS(out, "gc (dry run): 1 kept that this user may not remove\n");
    RUN(0, "gc", "--prefix", name);
    CHECK(strncmp(out, line, strlen(line)) == 0);
    CHECK_CONTAINS(out, "gc: 1 kept that this user may not remove\n");
    CHECK_STR(err, "");
    util_clear(&out, &err);
    CHECK(util_shm_exists(name));
    _exit(0);
}

TEST(gc_users__an_unprivileged_gc_that_sees_every_process_still_keeps_roots_segment)
{
    const char *name = test_name("ns");
    util_in_new_pid_namespace(in_pid_namespace, name);
    CHECK(util_shm_exists(name));
    char *out = NULL, *err = NULL;
    RUN(0, "gc", "--prefix", name);
    CHECK_CONTAINS(out, "gc: 1 transient segment removed, ");
    util_clear(&out, &err);
    CHECK(!util_shm_exists(name));
}

/* A removal that fails for want of a writable file system: one line, counted, status 1. */
static void on_read_only_tmpfs(const char *mnt)
{
    char name[PATH_MAX], prefix[PATH_MAX], line[PATH_MAX + 128];
    snprintf(name, sizeof name, "file:%s/frames.shm", mnt);
    snprintf(prefix, sizeof prefix, "file:%s/", mnt);
    make_transient(name, false, 0644);
    CHECK(chmod(mnt, 01777) == 0); /* sticky, as /dev/shm is: root's file is not nobody's */
    CHECK(mount(NULL, mnt, NULL, MS_REMOUNT | MS_RDONLY, NULL) == 0);
    char *out = NULL, *err = NULL;
    RUN(1, "gc", "--prefix", prefix);
    snprintf(line, sizeof line, "shmap: %s: %s\n", name, strerror(EROFS));
    CHECK_STR(err, line);
    CHECK_STR(out, "gc: 1 segment could not be removed\n");
    util_clear(&out, &err);
    CHECK(exists(name));
    /* The file system refuses everyone, before the sticky bit would refuse nobody: "only
     * its owner or root may remove it" would be untrue, and nobody is not told it. (It is
     * told what it cannot see: whether root's processes map the file.) */
    pid_t pid = util_spawn();
    if (pid == 0) {
        util_become_nobody();
        char *o = NULL, *e = NULL;
        int rc = test_cli(&o, &e, NULL, "gc", "--prefix", prefix, NULL);
        fprintf(stderr, "nobody's gc: %d, %s%s", rc, o ? o : "", e ? e : "");
        _exit(o && strstr(o, "kept transient segment ") && !strstr(o, "only its owner") ? 0
                                                                                    : 10);
    }
    CHECK_EQ_INT(test_wait(pid), 0);
}

TEST(gc_users__a_failed_removal_names_the_segment_once_and_the_summary_counts_it)
{
    util_with_tmpfs(on_read_only_tmpfs, "1m");
}
