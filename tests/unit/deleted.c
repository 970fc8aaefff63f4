/*
 * A handle's description says when its segment was deleted: its name removed, or now
 * holding another object. A POSIX object and a file vanish from their directory, so a
 * handle is the only thing left that can tell; a memfd has no name to lose.
 */
#include "../util.h"

/* shmap_info::deleted of the handle, now and at open, and of its mapping's line in
 * shmap_mappings(), which tells what the mapping last learned (here, just now). */
static void check_deleted(shmap_seg *seg, int now, int at_open)
{
    shmap_info info;
    CHECK_OK(shmap_info_get(seg, &info));
    CHECK_EQ_INT(info.deleted, now);
    CHECK_OK(shmap_info_at_open(seg, &info));
    CHECK_EQ_INT(info.deleted, at_open);
    /* Its mapping: the same object, made at the same moment (a replacement has another), and
     * mapped as this handle is (a read-only handle has a mapping of its own). */
    shmap_mapping *maps = NULL;
    size_t n = 0, seen = 0;
    CHECK_OK(shmap_mappings(&maps, &n));
    for (size_t i = 0; i < n; i++) {
        if (strcmp(maps[i].info.os_handle, info.os_handle) == 0 &&
            maps[i].info.created_ns == info.created_ns &&
            maps[i].writable == shmap_writable(seg)) {
            CHECK_EQ_INT(maps[i].info.deleted, now);
            seen++;
        }
    }
    shmap_mappings_free(maps);
    CHECK(seen > 0);
}

static shmap_seg *make(const char *name, unsigned flags)
{
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = flags;
    shmap_seg *seg = NULL;
    const uint64_t dims[1] = {8};
    CHECK_OK(shmap_create(&seg, name, SHMAP_U8, 1, dims, &opts));
    return seg;
}

TEST(deleted__a_posix_handle_says_when_its_name_is_removed_or_replaced)
{
    const char *name = test_name("p");
    shmap_seg *seg = make(name, SHMAP_CREATE_KEEP), *reader = NULL;
    CHECK_OK(shmap_open(&reader, name, SHMAP_RDONLY));
    check_deleted(seg, 0, 0);
    check_deleted(reader, 0, 0);
    CHECK_OK(shmap_unlink(name));
    check_deleted(seg, 1, 0);
    check_deleted(reader, 1, 0);
    CHECK_OK(shmap_close(reader));
    CHECK_OK(shmap_close(seg));

    /* Replaced: the old handle's name now leads to another segment. */
    shmap_seg *old = make(name, SHMAP_CREATE_KEEP);
    shmap_seg *fresh = make(name, SHMAP_CREATE_KEEP | SHMAP_CREATE_REPLACE);
    check_deleted(old, 1, 0);
    check_deleted(fresh, 0, 0);
    shmap_info info;
    CHECK_OK(shmap_stat(name, &info));
    CHECK_EQ_INT(info.deleted, 0);
    CHECK_OK(shmap_close(old));
    CHECK_OK(shmap_close(fresh));
    CHECK_OK(shmap_unlink(name));
}

/* A read-only handle takes the lock through the name (to map the header read-write): once
 * the name is gone or leads to another segment, it is told the segment was removed, not
 * "no such segment" nor that it may not write. A read-write handle still locks. */
TEST(deleted__a_read_only_handle_cannot_lock_a_removed_segment_and_says_why)
{
    const char *name = test_name("rolock");
    shmap_seg *seg = make(name, SHMAP_CREATE_KEEP), *reader = NULL;
    CHECK_OK(shmap_open(&reader, name, SHMAP_RDONLY));
    CHECK_OK(shmap_delete(name, 0, 0));
    CHECK_ERR(shmap_lock(reader, SHMAP_LOCK_SHARED, 1), SHMAP_EREMOVED);
    CHECK_CONTAINS(shmap_last_error(), "deleted or replaced since this handle opened it");
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 1));
    CHECK_OK(shmap_unlock(seg));
    shmap_seg *fresh = make(name, SHMAP_CREATE_KEEP);
    CHECK_ERR(shmap_lock(reader, SHMAP_LOCK_SHARED, 1), SHMAP_EREMOVED);
    CHECK_OK(shmap_close(reader));
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_close(fresh));
    CHECK_OK(shmap_unlink(name));
}

TEST(deleted__a_file_handle_says_when_its_file_is_removed_and_a_memfd_never_does)
{
    const char *dir = util_test_dir(); /* removed by its guard should a CHECK fail */
    char name[160], path[128];
    snprintf(path, sizeof path, "%s/frames", dir);
    snprintf(name, sizeof name, "file:%s", path);
    shmap_seg *seg = make(name, 0);
    check_deleted(seg, 0, 0);
    CHECK(unlink(path) == 0);
    check_deleted(seg, 1, 0);
    CHECK_OK(shmap_close(seg));
    CHECK(rmdir(dir) == 0);

    shmap_seg *anon = make(NULL, 0);
    check_deleted(anon, 0, 0);
    CHECK_OK(shmap_close(anon));
}
