/*
 * shmap rm by a name that is not the segment's only one: a symbolic link is refused with
 * one line saying what to do (the segment stays, and so does the link); a hard link goes,
 * and the segment lives on under its other name, its waiters not told it was deleted.
 */
#include <sys/stat.h>

#include "../util.h"

TEST(cli__rm_of_a_symbolic_link_is_refused_and_the_segment_still_waits)
{
    const char *seg = test_name("real");
    char link_path[256], link_name[300], target[SHMAP_NAME_MAX + 16];
    snprintf(link_path, sizeof link_path, "%s/alink", util_test_dir());
    snprintf(link_name, sizeof link_name, "file:%s", link_path);
    snprintf(target, sizeof target, "/dev/shm/%s", seg);
    char *out = NULL, *err = NULL;
    RUN(0, "create", seg, "f32", "4");
    CHECK(symlink(target, link_path) == 0);
    RUN(1, "rm", link_name);
    CHECK_ERROR_LINE(err, "is a symbolic link: remove the link with rm(1), or delete the "
                          "segment by its own name");
    CHECK_CONTAINS(err, link_name);
    CHECK(util_shm_exists(seg));
    /* Not marked deleted: a wait runs to its timeout. */
    RUN(1, "wait", seg, "--timeout", "0.2");
    CHECK_ERROR_LINE(err, "no update within");
    RUN(0, "rm", seg);
    CHECK(unlink(link_path) == 0);
    CHECK(rmdir(util_test_dir()) == 0);
    util_clear(&out, &err);
}

TEST(cli__rm_of_a_hard_link_removes_that_name_only)
{
    char path[256], backup[256], name[300], backup_name[300];
    snprintf(path, sizeof path, "%s/b.shm", util_test_dir());
    snprintf(backup, sizeof backup, "%s/b-backup.shm", util_test_dir());
    snprintf(name, sizeof name, "file:%s", path);
    snprintf(backup_name, sizeof backup_name, "file:%s", backup);
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "f32", "4");
    CHECK(link(path, backup) == 0);
    RUN(0, "rm", backup_name);
    struct stat st;
    CHECK(lstat(backup, &st) < 0 && errno == ENOENT);
    CHECK(stat(path, &st) == 0);
    RUN(1, "wait", name, "--timeout", "0.2");
    CHECK_ERROR_LINE(err, "no update within");
    RUN(0, "rm", name);
    CHECK(rmdir(util_test_dir()) == 0);
    util_clear(&out, &err);
}
