/*
 * gc and files: files live anywhere, so gc looks at them only when its prefix names them,
 * "file:/DIR/NAME" (or "file:/DIR/" for all of DIR), and then only in that directory. There
 * it removes what the POSIX walk removes in /dev/shm: the hidden ".shmap-tmp-PID-N-NAME" of
 * a creation or import whose process died before naming it (as large as its data), and
 * transient segments whose creator is dead and that nobody maps. Persistent files, and what
 * live processes hold, are left alone.
 */
#include <dirent.h>
#include <sys/stat.h>

#include "../util.h"

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
