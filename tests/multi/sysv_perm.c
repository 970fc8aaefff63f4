/*
 * What another user is told about a System V segment it may not change: a replace it may
 * not do says that removing the old segment was refused, and by whom it may be done (not
 * that the key is taken); a read-write attach without write permission says so, as a
 * POSIX segment's open does (not "cannot map N bytes"). Root runs the tests, nobody the
 * refused calls; others skip.
 */
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/stat.h>

#include "../util.h"

/* A kept System V segment of root's, made with exactly `mode`. */
static void make_root_segment(const char *name, unsigned mode)
{
    mode_t old = umask(0);
    const uint64_t dims[1] = {4};
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_KEEP;
    opts.mode = mode;
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_F32, 1, dims, &opts));
    CHECK_OK(shmap_close(seg));
    umask(old);
}

static void replace_as_nobody(const char *name)
{
    const uint64_t dims[1] = {8};
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_REPLACE | SHMAP_CREATE_KEEP;
    shmap_seg *seg = NULL;
    CHECK_ERR(shmap_create(&seg, name, SHMAP_F32, 1, dims, &opts), -EPERM);
    CHECK_DETAIL_NAMES(name);
    CHECK_CONTAINS(shmap_last_error(), "permission denied to remove the existing segment to "
                                       "replace it: only its owner (uid 0) or root may");
}

TEST(sysv_perm__a_replace_another_user_may_not_do_says_who_may)
{
    util_need_root();
    key_t key = test_sysv_key();
    char name[64];
    snprintf(name, sizeof name, "sysv://0x%08x", (unsigned)key);
    make_root_segment(name, 0666);
    int id = shmget(key, 0, 0);
    CHECK(id >= 0);
    util_as_nobody(replace_as_nobody, name);
    CHECK_EQ_INT(shmget(key, 0, 0), id); /* still there, the same */
    CHECK_OK(shmap_unlink(name));
}

static void open_rdwr_as_nobody(const char *name)
{
    shmap_seg *seg = NULL;
    CHECK_ERR(shmap_open(&seg, name, SHMAP_RDWR), -EACCES);
    CHECK_DETAIL_NAMES(name);
    CHECK_CONTAINS(shmap_last_error(), "permission denied to attach it read-write (mode 0644, "
                                       "owner uid 0)");
    /* Read-only, it attaches. */
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDONLY));
    CHECK_OK(shmap_close(seg));
}

TEST(sysv_perm__a_read_write_attach_without_write_permission_says_permission_denied)
{
    util_need_root();
    char name[64];
    snprintf(name, sizeof name, "sysv://0x%08x", (unsigned)test_sysv_key());
    make_root_segment(name, 0644);
    util_as_nobody(open_rdwr_as_nobody, name);
    CHECK_OK(shmap_unlink(name));
}
