/*
 * A tmpfs with space left but no inode (its nr_inodes reached): a create fails with -ENOSPC
 * saying that it is the inodes, not the space, that ran out, and leaves nothing; an export
 * of a file there says so too. Runs with a private /dev/shm of 4 inodes, in a mount
 * namespace of its own (root).
 */
#include "../util.h"

/* Create kept segments ino0, ino1, ... until one fails: -ENOSPC, the name that failed in
 * `name` (32 bytes); how many were tried. */
static int fill_inodes(char *name)
{
    const uint64_t dims[1] = {16};
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_KEEP;
    shmap_seg *seg = NULL;
    int rc = 0, i;
    for (i = 0; i < 8 && rc == 0; i++) {
        snprintf(name, 32, "ino%d", i);
        if ((rc = shmap_create(&seg, name, SHMAP_U8, 1, dims, &opts)) == 0)
            CHECK_OK(shmap_close(seg));
    }
    CHECK_EQ_INT(rc, -ENOSPC);
    return i;
}

static void no_inode_left(void)
{
    const uint64_t dims[1] = {16};
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_KEEP;
    shmap_seg *seg = NULL;
    char name[32];
    int i = fill_inodes(name);
    CHECK_CONTAINS(shmap_last_error(), "no inode left: its file system holds as many files "
                                       "as it may, 4");
    CHECK_DETAIL_NAMES(name);
    CHECK_ERR(shmap_create(&seg, "file:/dev/shm/ino.seg", SHMAP_U8, 1, dims, &opts), -ENOSPC);
    CHECK_CONTAINS(shmap_last_error(), "no inode left");
    CHECK_EQ_INT(util_dir_entries("/dev/shm"), i - 1);
}

TEST(create__with_no_inode_left_says_so)
{
    util_with_private_dev_shm("size=1m,nr_inodes=4", no_inode_left);
}

/* export made its file where no inode was left, and said only "No space left on device". */
static void export_with_no_inode_left(void)
{
    char name[32];
    fill_inodes(name);
    char *out = NULL, *err = NULL;
    RUN(1, "export", "ino0", "/dev/shm/e.npy");
    CHECK_STR(err, "shmap: /dev/shm/e.npy: cannot write in /dev/shm: No space left on device "
                   "(no inode left: its file system holds as many files as it may, 4, "
                   "whatever space it has)\n");
    util_clear(&out, &err);
}

TEST(export__with_no_inode_left_says_so)
{
    util_with_private_dev_shm("size=1m,nr_inodes=4", export_with_no_inode_left);
}
