/*
 * gc and files: files live anywhere, so gc looks at them only when its prefix names them,
 * "file:/DIR/NAME" (or "file:/DIR/" for all of DIR), and then only in that directory. There
 * it removes what the POSIX walk removes in /dev/shm: the hidden ".shmap-tmp-PID-N-NAME" of
 * a creation or import whose process died before naming it (as large as its data), and
 * transient segments whose creator is dead and that nobody maps. Persistent files, and what
 * live processes hold, are left alone.
 */
#include <dirent.h>
#include <linux/magic.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>

#include "../util.h"

/* Skip unless `dir` is on a file system whose files' users gc can see (as the library's
 * list has them): elsewhere (a container's overlayfs /tmp) it keeps every transient file. */
static void need_users_visible(const char *dir)
{
    struct statfs fs;
    CHECK(statfs(dir, &fs) == 0);
    unsigned long t = (unsigned long)fs.f_type;
    if (t != TMPFS_MAGIC && t != EXT4_SUPER_MAGIC && t != XFS_SUPER_MAGIC &&
        t != BTRFS_SUPER_MAGIC)
        TEST_SKIP("%s is on a file system (0x%lx) where gc does not remove files", dir, t);
}

/* The one entry of `dir` starting with ".shmap-tmp-", into `buf`; 0 if there is none. */
static int hidden_entry(const char *dir, char *buf, size_t size)
{
    DIR *d = opendir(dir);
    CHECK(d);
    int found = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strncmp(e->d_name, ".shmap-tmp-", 11) == 0) {
            snprintf(buf, size, "%s", e->d_name);
            found++;
        }
    closedir(d);
    CHECK(found <= 1);
    return found;
}

TEST(gc_files__a_dead_creators_hidden_file_goes_with_a_file_prefix_only)
{
    const char *dir = util_test_dir(); /* removed by its guard should a CHECK fail */
    char name[160], prefix[160], hidden[256];
    snprintf(name, sizeof name, "file:%s/frames.shm", dir);
    pid_t dead = util_make_by_dead_creator(name, SHMAP_CREATE_HIDDEN);
    CHECK_EQ_INT(hidden_entry(dir, hidden, sizeof hidden), 1);
    char want[64];
    snprintf(want, sizeof want, ".shmap-tmp-%d-", (int)dead);
    CHECK(strncmp(hidden, want, strlen(want)) == 0);

    /* The POSIX walk never looks at files. */
    struct util_gc_events ev;
    memset(&ev, 0, sizeof ev);
    CHECK_OK(shmap_gc(test_prefix(), 0, util_gc_collect, &ev));
    CHECK_EQ_INT(ev.n, 0);
    CHECK_EQ_INT(hidden_entry(dir, hidden, sizeof hidden), 1);

    /* A dry run by the file's name says what it would do, and does nothing. */
    memset(&ev, 0, sizeof ev);
    CHECK_OK(shmap_gc(name, SHMAP_GC_DRY_RUN, util_gc_collect, &ev));
    CHECK_EQ_INT(ev.n, 1);
    CHECK_EQ_INT(ev.ev[0].action, SHMAP_GC_REMOVED_TMP);
    CHECK_EQ_INT(ev.ev[0].pid, dead);
    CHECK(ev.ev[0].dry_run);
    char full[512];
    snprintf(full, sizeof full, "file:%s/%s", dir, hidden);
    CHECK_STR(ev.ev[0].name, full);
    CHECK_EQ_INT(hidden_entry(dir, hidden, sizeof hidden), 1);

    /* The directory's prefix takes it. */
    snprintf(prefix, sizeof prefix, "file:%s/", dir);
    memset(&ev, 0, sizeof ev);
    CHECK_OK(shmap_gc(prefix, 0, util_gc_collect, &ev));
    CHECK_EQ_INT(ev.n, 1);
    CHECK_EQ_INT(ev.ev[0].action, SHMAP_GC_REMOVED_TMP);
    CHECK_EQ_INT(ev.ev[0].status, 0);
    CHECK_STR(ev.ev[0].name, full);
    CHECK_EQ_INT(hidden_entry(dir, hidden, sizeof hidden), 0);
    CHECK_EQ_INT(util_dir_entries(dir), 0);
    CHECK(rmdir(dir) == 0);
}

TEST(gc_files__a_live_creators_hidden_file_stays)
{
    const char *dir = util_test_dir();
    char name[160], prefix[160], hidden[256];
    snprintf(name, sizeof name, "file:%s/frames.shm", dir);
    snprintf(prefix, sizeof prefix, "file:%s/", dir);
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_HIDDEN | SHMAP_CREATE_KEEP;
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_U8, 1, (const uint64_t[]){8}, &opts));
    struct util_gc_events ev;
    memset(&ev, 0, sizeof ev);
    CHECK_OK(shmap_gc(prefix, 0, util_gc_collect, &ev));
    CHECK_EQ_INT(ev.n, 0);
    CHECK_EQ_INT(hidden_entry(dir, hidden, sizeof hidden), 1);
    CHECK_OK(shmap_close(seg)); /* never finished: it goes */
    CHECK_EQ_INT(util_dir_entries(dir), 0);
    CHECK(rmdir(dir) == 0);
}

TEST(gc_files__a_transient_file_of_a_dead_creator_goes_a_persistent_one_stays)
{
    const char *dir = util_test_dir();
    need_users_visible(dir);
    char transient[160], persistent[160], used[160], prefix[160];
    snprintf(transient, sizeof transient, "file:%s/t.shm", dir);
    snprintf(persistent, sizeof persistent, "file:%s/p.shm", dir);
    snprintf(used, sizeof used, "file:%s/u.shm", dir);
    snprintf(prefix, sizeof prefix, "file:%s/", dir);
    pid_t dead = util_make_by_dead_creator(transient, SHMAP_CREATE_TRANSIENT);
    util_make_by_dead_creator(persistent, 0);
    util_make_by_dead_creator(used, SHMAP_CREATE_TRANSIENT);
    shmap_seg *user = NULL;
    CHECK_OK(shmap_open(&user, used, SHMAP_RDONLY)); /* a live process maps it */
    struct util_gc_events ev;
    memset(&ev, 0, sizeof ev);
    CHECK_OK(shmap_gc(prefix, 0, util_gc_collect, &ev));
    /* The transient one removed; the others' stale slots (their dead creator's) cleared. */
    int removed = 0, cleared = 0;
    for (int i = 0; i < ev.n; i++) {
        CHECK_EQ_INT(ev.ev[i].status, 0);
        if (ev.ev[i].action == SHMAP_GC_REMOVED_TRANSIENT) {
            removed++;
            CHECK_EQ_INT(ev.ev[i].pid, dead);
            CHECK_STR(ev.ev[i].name, transient);
        } else {
            CHECK_EQ_INT(ev.ev[i].action, SHMAP_GC_CLEARED_SLOTS);
            CHECK(strcmp(ev.ev[i].name, persistent) == 0 || strcmp(ev.ev[i].name, used) == 0);
            cleared++;
        }
    }
    CHECK_EQ_INT(removed, 1);
    CHECK_EQ_INT(cleared, 2);
    shmap_info info;
    CHECK_ERR(shmap_stat(transient, &info), -ENOENT);
    CHECK_OK(shmap_stat(persistent, &info));
    CHECK_OK(shmap_stat(used, &info));
    CHECK_OK(shmap_close(user));
    CHECK_OK(shmap_unlink(persistent));
    CHECK_OK(shmap_unlink(used));
    CHECK(rmdir(dir) == 0);
}

/* In a mount namespace of its own: an overlay in `dir`, a transient file segment in it whose
 * creator is dead and that nobody maps, and a gc of that directory, which must keep it. */
static void overlay_keeps(const char *dir)
{
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        _exit(77);
    char sub[4][256], opts[1024];
    static const char *const leaf[4] = {"lower", "upper", "work", "merged"};
    for (int i = 0; i < 4; i++) {
        snprintf(sub[i], sizeof sub[i], "%s/%s", dir, leaf[i]);
        CHECK(mkdir(sub[i], 0700) == 0);
    }
    snprintf(opts, sizeof opts, "lowerdir=%s,upperdir=%s,workdir=%s", sub[0], sub[1], sub[2]);
    if (mount("overlay", sub[3], "overlay", 0, opts) < 0)
        _exit(77);
    char name[512], prefix[512];
    snprintf(name, sizeof name, "file:%s/t.shm", sub[3]);
    snprintf(prefix, sizeof prefix, "file:%s/", sub[3]);
    util_make_by_dead_creator(name, SHMAP_CREATE_TRANSIENT);
    struct util_gc_events ev;
    memset(&ev, 0, sizeof ev);
    CHECK_OK(shmap_gc(prefix, 0, util_gc_collect, &ev));
    int kept = 0;
    for (int i = 0; i < ev.n; i++)
        if (ev.ev[i].action == SHMAP_GC_REMOVED_TRANSIENT) {
            CHECK_EQ_INT(ev.ev[i].status, -EBUSY);
            CHECK_STR(ev.ev[i].name, name);
            kept++;
        }
    CHECK_EQ_INT(kept, 1);
    shmap_info info;
    CHECK_OK(shmap_stat(name, &info));
    CHECK_OK(shmap_unlink(name));
    CHECK(umount(sub[3]) == 0);
    _exit(0);
}

/*
 * On overlayfs (a container's root, say) a process that maps a file holds the file below:
 * its /proc maps name another device, and a lease on the file above is granted while it is
 * mapped, so gc cannot see who uses a file there. It keeps transient files there, saying
 * why, rather than remove one a process still maps.
 */
TEST(gc_files__a_transient_file_on_overlayfs_is_kept_saying_why)
{
    util_need_root();
    const char *dir = util_test_dir();
    pid_t pid = util_spawn();
    if (pid == 0)
        overlay_keeps(dir);
    int rc = test_wait(pid);
    if (rc == 77)
        TEST_SKIP("cannot mount an overlay here (needs root and a kernel with overlayfs)");
    CHECK_EQ_INT(rc, 0);
}
