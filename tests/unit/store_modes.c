/*
 * The mode of a new segment is the one asked (0600 by default) less the umask, on every
 * store: memfd_create and shmget apply no umask of their own (a memfd is even made 0777),
 * so the library applies it there, reading the umask without changing it.
 */
#include <fcntl.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/stat.h>

#include "../util.h"

static unsigned memfd_mode(unsigned ask, mode_t mask, shmap_seg **out)
{
    umask(mask);
    const uint64_t dims[1] = {4};
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.mode = ask;
    CHECK_OK(shmap_create(out, "memfd:modes", SHMAP_U8, 1, dims, &opts));
    CHECK_EQ_INT(umask(mask), mask); /* read, not changed */
    struct stat st;
    CHECK(fstat(shmap_fd(*out), &st) == 0);
    shmap_info info;
    CHECK_OK(shmap_info_get(*out, &info));
    CHECK_EQ_INT(info.mode, st.st_mode & 0777);
    return st.st_mode & 0777;
}

TEST(modes__a_memfd_gets_the_mode_asked_less_the_umask_not_0777)
{
    shmap_seg *seg = NULL;
    CHECK_EQ_INT(memfd_mode(0, 022, &seg), 0600); /* the default */
    CHECK_OK(shmap_close(seg));
    CHECK_EQ_INT(memfd_mode(0666, 022, &seg), 0644);
    CHECK_OK(shmap_close(seg));
    CHECK_EQ_INT(memfd_mode(0666, 077, &seg), 0600);
    CHECK_OK(shmap_close(seg));
    /* Asked for, and no umask: all but the execute bits, which a memfd does without (and
     * where vm.memfd_noexec is set, the kernel refuses). */
    CHECK_EQ_INT(memfd_mode(0777, 0, &seg), 0666);
    CHECK_OK(shmap_close(seg));
}

/* As nobody, with a read-only descriptor of root's memfd inherited: reopening it read-write
 * through /proc must fail (it did while memfds stayed 0777). */
static int ro_fd = -1;

static void reopen_read_write(const char *unused)
{
    (void)unused;
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", ro_fd);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd >= 0)
        _exit(30);
    if (errno != EACCES)
        _exit(31);
    fd = open(path, O_RDONLY | O_CLOEXEC); /* 0600: reading is refused too */
    if (fd >= 0)
        _exit(32);
}

TEST(modes__a_read_only_memfd_descriptor_cannot_be_reopened_read_write_by_another_user)
{
    util_need_root();
    shmap_seg *seg = NULL;
    CHECK_EQ_INT(memfd_mode(0, 022, &seg), 0600);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", shmap_fd(seg));
    ro_fd = open(path, O_RDONLY); /* inherited by the child */
    CHECK(ro_fd >= 0);
    util_as_nobody(reopen_read_write, NULL);
    close(ro_fd);
    CHECK_OK(shmap_close(seg));
}

static unsigned sysv_mode(unsigned ask, mode_t mask, const char *name)
{
    umask(mask);
    const uint64_t dims[1] = {4};
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.mode = ask;
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_U8, 1, dims, &opts));
    CHECK_EQ_INT(umask(mask), mask);
    shmap_info info;
    CHECK_OK(shmap_info_get(seg, &info));
    struct shmid_ds ds;
    CHECK(shmctl(atoi(info.os_handle), IPC_STAT, &ds) == 0);
    CHECK_EQ_INT(info.mode, ds.shm_perm.mode & 0777);
    CHECK_OK(shmap_close(seg)); /* destroys it: created here, not kept */
    return ds.shm_perm.mode & 0777;
}

TEST(modes__a_system_v_segment_gets_the_mode_asked_less_the_umask)
{
    char name[64];
    snprintf(name, sizeof name, "sysv://0x%08x", (unsigned)test_sysv_key());
    CHECK_EQ_INT(sysv_mode(0666, 077, name), 0600);
    CHECK_EQ_INT(sysv_mode(0666, 022, name), 0644);
    CHECK_EQ_INT(sysv_mode(0, 0, name), 0600);
    CHECK_EQ_INT(sysv_mode(0777, 0, name), 0777);
}
