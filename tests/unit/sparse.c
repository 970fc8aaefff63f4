/*
 * Objects another program made sparse (ftruncate without reserving, a sparse copy) on a
 * tmpfs that has no room left for their holes: the first read or write of a hole would kill
 * the process with SIGBUS, so opening them fails with -ENOSPC saying why; ranges without
 * holes, and the same objects once there is room, open as ever. Runs on private tmpfs
 * mounts (root): the test's own directory for files, and /dev/shm itself in a mount
 * namespace of its own for POSIX objects.
 */
#include <fcntl.h>
#include <sys/stat.h>

#include "../util.h"

#define MIB (1024 * 1024)

/* A file of `size` bytes with only its first `data` bytes written (the rest holes). */
static void make_sparse(const char *path, off_t size, size_t data)
{
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    CHECK(fd >= 0);
    char page[4096];
    memset(page, 0x5a, sizeof page);
    for (size_t at = 0; at < data; at += sizeof page)
        CHECK(pwrite(fd, page, sizeof page, (off_t)at) == (ssize_t)sizeof page);
    CHECK(ftruncate(fd, size) == 0);
    close(fd);
}

/* Fill the file system of `dir` to the last block; returns the filler's path. */
static const char *fill_up(const char *dir)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/filler", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    CHECK(fd >= 0);
    char page[4096] = {0};
    while (write(fd, page, sizeof page) == (ssize_t)sizeof page)
        ;
    close(fd);
    return path;
}

/* A shmap segment's first page (its header), copied with the rest left as holes. */
static void sparse_copy_of_a_segment(const char *dir, const char *to)
{
    char made[512];
    snprintf(made, sizeof made, "file:%s/whole.seg", dir);
    const uint64_t dims[1] = {MIB / 8};
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, made, SHMAP_F64, 1, dims, NULL));
    CHECK_OK(shmap_close(seg));
    int in = open(made + 5, O_RDONLY);
    CHECK(in >= 0);
    char head[4096];
    CHECK(pread(in, head, sizeof head, 0) == (ssize_t)sizeof head);
    struct stat st;
    CHECK(fstat(in, &st) == 0);
    close(in);
    CHECK(unlink(made + 5) == 0);
    int out = open(to, O_RDWR | O_CREAT | O_EXCL, 0600);
    CHECK(out >= 0);
    CHECK(pwrite(out, head, sizeof head, 0) == (ssize_t)sizeof head);
    CHECK(ftruncate(out, st.st_size) == 0);
    close(out);
}

static void files_on_a_full_tmpfs(const char *dir)
{
    char raw[512], seg_path[512];
    snprintf(raw, sizeof raw, "%s/sparse.raw", dir);
    snprintf(seg_path, sizeof seg_path, "%s/sparse.seg", dir);
    make_sparse(raw, MIB, 8192);
    sparse_copy_of_a_segment(dir, seg_path);
    const char *filler = fill_up(dir);

    char name[600];
    snprintf(name, sizeof name, "file:%s", raw);
    const uint64_t all[1] = {MIB}, head[1] = {8192};
    shmap_raw_opts ro = SHMAP_RAW_OPTS_INIT;
    shmap_seg *seg = NULL;
    CHECK_ERR(shmap_open_raw(&seg, name, SHMAP_U8, 1, all, &ro), -ENOSPC);
    CHECK_CONTAINS(shmap_last_error(), "bytes of it have no memory behind them");
    CHECK_CONTAINS(shmap_last_error(), "would crash this process (SIGBUS)");
    CHECK_DETAIL_NAMES(name);
    ro.flags = SHMAP_RDWR;
    CHECK_ERR(shmap_open_raw(&seg, name, SHMAP_U8, 1, all, &ro), -ENOSPC);
    ro.flags = SHMAP_PRIVATE;
    CHECK_ERR(shmap_open_raw(&seg, name, SHMAP_U8, 1, all, &ro), -ENOSPC);
    /* The part that has data behind it opens, and reads. */
    ro.flags = SHMAP_RDONLY;
    CHECK_OK(shmap_open_raw(&seg, name, SHMAP_U8, 1, head, &ro));
    CHECK_EQ_INT(((unsigned char *)shmap_data(seg))[8191], 0x5a);
    CHECK_OK(shmap_close(seg));

    snprintf(name, sizeof name, "file:%s", seg_path);
    CHECK_ERR(shmap_open(&seg, name, SHMAP_RDONLY), -ENOSPC);
    CHECK_CONTAINS(shmap_last_error(), "have no memory behind them");
    CHECK_ERR(shmap_open(&seg, name, SHMAP_RDWR), -ENOSPC);
    /* Through a descriptor of the caller's, whose offset (shared) is left where it was. */
    int fd = open(seg_path, O_RDONLY);
    CHECK(fd >= 0 && lseek(fd, 123, SEEK_SET) == 123);
    CHECK_ERR(shmap_open_fd(&seg, fd, SHMAP_RDONLY), -ENOSPC);
    CHECK_EQ_INT(lseek(fd, 0, SEEK_CUR), 123);
    close(fd);

    /* Room again: both open, and their holes read as zeros. */
    CHECK(unlink(filler) == 0);
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDWR));
    CHECK(((double *)shmap_data(seg))[MIB / 8 - 1] == 0);
    CHECK_OK(shmap_close(seg));
    snprintf(name, sizeof name, "file:%s", raw);
    CHECK_OK(shmap_open_raw(&seg, name, SHMAP_U8, 1, all, &ro));
    CHECK_EQ_INT(((unsigned char *)shmap_data(seg))[MIB - 1], 0);
    CHECK_OK(shmap_close(seg));
}

TEST(sparse__files_on_a_full_tmpfs_are_refused_not_a_sigbus)
{
    util_with_tmpfs(files_on_a_full_tmpfs, "1536k");
}

static void posix_object_in_a_full_dev_shm(void)
{
    make_sparse("/dev/shm/sparse-raw", MIB, 8192);
    fill_up("/dev/shm");
    const uint64_t all[1] = {MIB};
    shmap_raw_opts ro = SHMAP_RAW_OPTS_INIT;
    shmap_seg *seg = NULL;
    CHECK_ERR(shmap_open_raw(&seg, "sparse-raw", SHMAP_U8, 1, all, &ro), -ENOSPC);
    CHECK_CONTAINS(shmap_last_error(), "/dev/shm has ");
    CHECK_DETAIL_NAMES("sparse-raw");
}

TEST(sparse__posix_objects_in_a_full_dev_shm_are_refused_not_a_sigbus)
{
    util_with_private_dev_shm("size=1536k", posix_object_in_a_full_dev_shm);
}
