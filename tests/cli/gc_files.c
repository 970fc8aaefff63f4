/*
 * shmap gc --prefix file:/DIR/...: the hidden leftover a creation into a file left when its
 * process died, found and removed in that directory (files are looked at only so).
 */
#include "../util.h"

TEST(cli__gc_with_a_file_prefix_removes_a_dead_creators_hidden_file)
{
    const char *dir = util_test_dir(); /* removed by its guard should a CHECK fail */
    char name[160], prefix[160], line[256];
    snprintf(name, sizeof name, "file:%s/h.shm", dir);
    snprintf(prefix, sizeof prefix, "file:%s/", dir);
    pid_t dead = util_make_by_dead_creator(name, SHMAP_CREATE_HIDDEN);
    CHECK_EQ_INT(util_dir_entries(dir), 1);
    char *out = NULL, *err = NULL;
    RUN(0, "gc", "--prefix", name, "--dry-run");
    snprintf(line, sizeof line, "would remove hidden leftover file:%s/.shmap-tmp-%d-", dir,
             (int)dead);
    CHECK_CONTAINS(out, line);
    CHECK_CONTAINS(out, "1 hidden leftover to remove");
    CHECK_EQ_INT(util_dir_entries(dir), 1);
    RUN(0, "gc", "--prefix", prefix);
    CHECK_CONTAINS(out, "1 hidden leftover removed");
    CHECK_EQ_INT(util_dir_entries(dir), 0);
    CHECK(rmdir(dir) == 0);
    util_clear(&out, &err);
}
