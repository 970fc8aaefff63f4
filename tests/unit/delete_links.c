/*
 * Deleting a segment by a name that is not its only one. A symbolic link is refused (its
 * removal would leave the segment in place, and what is deleted must be the segment); a
 * hard link is removed like any name, but the segment lives on under its other names, so
 * its waiters are not told it was deleted. Only the removal of the last name tells them.
 */
#include <fcntl.h>
#include <sys/stat.h>

#include "../util.h"

static shmap_seg *make_kept(const char *name)
{
    const uint64_t dims[1] = {4};
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_KEEP;
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_F32, 1, dims, &opts));
    return seg;
}

/* A wait through `seg` runs to its timeout: the segment is not taken for deleted. */
static void still_waits(shmap_seg *seg)
{
    uint64_t seen = shmap_generation(seg);
    CHECK_ERR(shmap_wait(seg, &seen, 0.1), -ETIMEDOUT);
}

TEST(delete__a_symbolic_link_to_a_file_segment_is_refused_and_leaves_it_whole)
{
    const char *dir = util_test_dir(); /* removed by its guard should a CHECK fail */
    char name[160], link_name[160], path[128], link_path[128];
    snprintf(path, sizeof path, "%s/frames", dir);
    snprintf(link_path, sizeof link_path, "%s/link", dir);
    snprintf(name, sizeof name, "file:%s", path);
    snprintf(link_name, sizeof link_name, "file:%s", link_path);
    shmap_seg *seg = make_kept(name);
    CHECK(symlink(path, link_path) == 0);
    CHECK_ERR(shmap_delete(link_name, 5.0, 0), -EINVAL);
    CHECK_DETAIL_NAMES(link_name);
    CHECK_CONTAINS(shmap_last_error(), "is a symbolic link");
    struct stat st;
    CHECK(lstat(link_path, &st) == 0 && S_ISLNK(st.st_mode));
    CHECK(stat(path, &st) == 0);
    still_waits(seg);
    /* By its own name it goes, and its waiters are told. */
    CHECK_OK(shmap_delete(name, 5.0, 0));
    uint64_t seen = 0;
    CHECK_ERR(shmap_wait(seg, &seen, 5.0), SHMAP_EREMOVED);
    CHECK_OK(shmap_close(seg));
    CHECK(unlink(link_path) == 0);
    CHECK(rmdir(dir) == 0);
}

TEST(delete__a_replace_through_a_symbolic_link_is_refused_and_leaves_both_whole)
{
    /* The rename would put the new segment in the link's place, and the segment it leads
     * to would live on under its own name: two segments where one was asked for. A dangling
     * link is refused alike. */
    const char *dir = util_test_dir();
    char name[160], link_name[160], path[128], link_path[128], dangling[160];
    snprintf(path, sizeof path, "%s/target", dir);
    snprintf(link_path, sizeof link_path, "%s/link", dir);
    snprintf(name, sizeof name, "file:%s", path);
    snprintf(link_name, sizeof link_name, "file:%s", link_path);
    snprintf(dangling, sizeof dangling, "file:%s/dangling", dir);
    shmap_seg *seg = make_kept(name);
    CHECK(symlink("target", link_path) == 0);
    CHECK(symlink("nowhere", dangling + 5) == 0);
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_KEEP | SHMAP_CREATE_REPLACE;
    const uint64_t dims[1] = {8};
    shmap_seg *other = NULL;
    for (int i = 0; i < 2; i++) {
        CHECK_ERR(shmap_create(&other, i ? dangling : link_name, SHMAP_F64, 1, dims, &opts),
                  -EINVAL);
        CHECK_CONTAINS(shmap_last_error(), "is a symbolic link: refusing to replace it");
    }
    struct stat st;
    CHECK(lstat(link_path, &st) == 0 && S_ISLNK(st.st_mode));
    CHECK(lstat(dangling + 5, &st) == 0 && S_ISLNK(st.st_mode));
    shmap_info info;
    CHECK_OK(shmap_stat(name, &info));
    CHECK_EQ_INT(info.dtype, SHMAP_F32);
    CHECK_EQ_INT(util_dir_entries(dir), 3);
    CHECK_OK(shmap_close(seg));
    CHECK(unlink(link_path) == 0 && unlink(dangling + 5) == 0);
    CHECK_OK(shmap_unlink(name));
    CHECK(rmdir(dir) == 0);
}

/* A link elsewhere to a POSIX segment, named as a file: the audit's case. */
TEST(delete__a_symbolic_link_to_a_posix_segment_is_refused_and_leaves_it_whole)
{
    const char *name = test_name("linked");
    const char *dir = util_test_dir();
    char link_name[160], link_path[128], target[SHMAP_NAME_MAX + 16];
    snprintf(link_path, sizeof link_path, "%s/alink", dir);
    snprintf(link_name, sizeof link_name, "file:%s", link_path);
    snprintf(target, sizeof target, "/dev/shm/%s", name);
    shmap_seg *seg = make_kept(name);
    CHECK(symlink(target, link_path) == 0);
    CHECK_ERR(shmap_delete(link_name, 5.0, 0), -EINVAL);
    CHECK_CONTAINS(shmap_last_error(), "is a symbolic link");
    CHECK(util_shm_exists(name));
    still_waits(seg);
    CHECK_OK(shmap_close(seg));
    CHECK(unlink(link_path) == 0);
    CHECK_OK(shmap_unlink(name));
    CHECK(rmdir(dir) == 0);
}

TEST(delete__a_hard_link_of_a_file_segment_goes_and_its_waiters_are_not_told)
{
    const char *dir = util_test_dir();
    char name[160], backup_name[160], path[128], backup[128];
    snprintf(path, sizeof path, "%s/frames", dir);
    snprintf(backup, sizeof backup, "%s/frames-backup", dir);
    snprintf(name, sizeof name, "file:%s", path);
    snprintf(backup_name, sizeof backup_name, "file:%s", backup);
    shmap_seg *seg = make_kept(name);
    CHECK(link(path, backup) == 0);
    CHECK_OK(shmap_delete(backup_name, 5.0, 0));
    struct stat st;
    CHECK(lstat(backup, &st) < 0 && errno == ENOENT);
    CHECK(stat(path, &st) == 0 && st.st_nlink == 1);
    still_waits(seg);
    /* A new handle by its name waits as well: nothing in the segment says "removed". */
    shmap_seg *again = NULL;
    CHECK_OK(shmap_open(&again, name, SHMAP_RDONLY));
    still_waits(again);
    CHECK_OK(shmap_close(again));
    /* Its last name goes: now its waiters are told at once. */
    CHECK_OK(shmap_delete(name, 5.0, 0));
    uint64_t seen = 0;
    CHECK_ERR(shmap_wait(seg, &seen, 5.0), SHMAP_EREMOVED);
    CHECK_OK(shmap_close(seg));
    CHECK(rmdir(dir) == 0);
}

TEST(delete__a_hard_link_of_a_posix_segment_goes_and_its_waiters_are_not_told)
{
    const char *name = test_name("orig"), *other = test_name("second");
    char path[SHMAP_NAME_MAX + 16], other_path[SHMAP_NAME_MAX + 16];
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    snprintf(other_path, sizeof other_path, "/dev/shm/%s", other);
    shmap_seg *seg = make_kept(name);
    CHECK(link(path, other_path) == 0);
    CHECK_OK(shmap_delete(other, 5.0, 0));
    CHECK(!util_shm_exists(other));
    CHECK(util_shm_exists(name));
    still_waits(seg);
    CHECK_OK(shmap_delete(name, 5.0, 0));
    uint64_t seen = 0;
    CHECK_ERR(shmap_wait(seg, &seen, 5.0), SHMAP_EREMOVED);
    CHECK_OK(shmap_close(seg));
}
