/*
 * shmap_gc() and `shmap gc` run by one user against segments that processes of another
 * user map. A read-only reader is in no attach table, and a user other than root cannot
 * read the maps of other users' processes: gc must then keep the segment and say why, not
 * take "cannot see" for "not mapped". Failures name the segment once, and the summary
 * counts them.
 *
 * Root only: the tests switch to the user nobody (65534) in children, and need another
 * user's processes. Names are this test's; the runner removes whatever a failure leaves.
 */
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/stat.h>

#include "../util.h"

/* A transient segment of mode 0644 whose creator (nobody, or root) has exited; its pid. */
static pid_t make_transient(const char *name, bool by_nobody, unsigned mode)
{
    pid_t pid = util_spawn();
    if (pid == 0) {
        if (by_nobody)
            util_become_nobody();
        umask(0);
        shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
        opts.flags = SHMAP_CREATE_KEEP | SHMAP_CREATE_TRANSIENT;
        opts.mode = mode;
        shmap_seg *seg = NULL;
        const uint64_t dims[1] = {16};
        if (shmap_create(&seg, name, SHMAP_U8, 1, dims, &opts) != 0 || shmap_close(seg) != 0) {
            fprintf(stderr, "create %s: %s\n", name, shmap_last_error());
            _exit(1);
        }
        _exit(0);
    }
    CHECK_EQ_INT(test_wait(pid), 0);
    return pid;
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

/* As nobody, of a root-owned segment: kept, said through -EBUSY and the detail. */
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
        CHECK(util_shm_exists(name));
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
    CHECK(util_shm_exists(name));
}

TEST(gc_users__an_unprivileged_gc_keeps_a_segment_it_cannot_judge_and_says_why)
{
    util_need_root();
    const char *name = test_name("root");
    pid_t creator = make_transient(name, false, 0644);
    struct util_chan c;
    pid_t reader = spawn_reader(name, &c);

    /* Nobody neither owns it nor may read root's maps: root's processes could map it. */
    util_as_nobody(nobody_gc_keeps_and_says_why, name);
    /* Root knows the reader maps it, and keeps it without a word. */
    struct util_gc_events e;
    gc_events(&e, name, 0);
    CHECK_EQ_INT(e.n, 0);
    CHECK(util_shm_exists(name));

    stop_reader(reader, &c);
    /* This test's process is root and alive, so nobody still cannot rule it out. */
    util_as_nobody(nobody_gc_keeps_and_says_why, name);

    char *out = NULL, *err = NULL, line[256];
    RUN(0, "gc", "--dry-run", "--prefix", name);
    snprintf(line, sizeof line,
             "would remove transient segment %s (creator pid %d dead, no live attachers)\n",
             name, (int)creator);
    CHECK_CONTAINS(out, line);
    CHECK(util_shm_exists(name));
    RUN(0, "gc", "--prefix", name);
    snprintf(line, sizeof line,
             "removed transient segment %s (creator pid %d dead, no live attachers)\n", name,
             (int)creator);
    CHECK_CONTAINS(out, line);
    CHECK_CONTAINS(out, "gc: 1 transient segment removed, ");
    util_clear(&out, &err);
    CHECK(!util_shm_exists(name));
}

/* ---------------------------------------------------------------------------------------- */
/* Failures */

/* As nobody: the removal of root's System V segment fails (IPC_RMID is the owner's). */
static void nobody_gc_fails_on_sysv(const char *name)
{
    char *out = NULL, *err = NULL, line[128];
    RUN(1, "gc", "--prefix", name);
    snprintf(line, sizeof line, "shmap: %s: cannot remove: %s\n", name, strerror(EPERM));
    CHECK_STR(err, line);
    CHECK_STR(out, "gc: 1 segment could not be removed\n");
    util_clear(&out, &err);
}

TEST(gc_users__a_failed_removal_names_the_segment_once_and_the_summary_counts_it)
{
    util_need_root();
    char name[64];
    snprintf(name, sizeof name, "sysv://0x%08x", (unsigned)test_sysv_key());
    make_transient(name, false, 0644);
    util_as_nobody(nobody_gc_fails_on_sysv, name);
    char *out = NULL, *err = NULL;
    RUN(0, "gc", "--prefix", name);
    CHECK_CONTAINS(out, "gc: 1 transient segment removed, ");
    util_clear(&out, &err);
    shmap_seg *seg = NULL;
    CHECK_ERR(shmap_open(&seg, name, SHMAP_RDONLY), -ENOENT);
}

/*
 * In a pid namespace of its own, with its own /proc, nobody sees every process there is
 * (none of root's): /proc rules out every user, and the removal of root's POSIX object
 * fails, since /dev/shm is sticky. The checks run as pid 1 of that namespace, as nobody,
 * after a root child there made `name` and exited.
 */
static void in_pid_namespace(const char *name)
{
    pid_t creator = make_transient(name, false, 0644);
    util_become_nobody();
    /* Dumpable again, so that gc, as nobody too, may read this process's maps. */
    prctl(PR_SET_DUMPABLE, 1);
    char *out = NULL, *err = NULL, line[256];
    RUN(0, "gc", "--dry-run", "--prefix", name);
    snprintf(line, sizeof line,
             "would remove transient segment %s (creator pid %d dead, no live attachers)\n",
             name, (int)creator);
    CHECK_CONTAINS(out, line);
    /* Sticky /dev/shm refuses with EPERM, which glibc's shm_unlink reports as EACCES. */
    RUN(1, "gc", "--prefix", name);
    snprintf(line, sizeof line, "shmap: %s: cannot remove: %s\n", name, strerror(EACCES));
    CHECK_STR(err, line);
    CHECK_STR(out, "gc: 1 segment could not be removed\n");
    util_clear(&out, &err);
    CHECK(util_shm_exists(name));
    _exit(0);
}

TEST(gc_users__a_failed_posix_removal_is_one_line_and_counted)
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
