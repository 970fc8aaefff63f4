/*
 * A System V replace removes the old segment before it makes the new one (a key cannot be
 * given to a segment once made): whatever would make the new one fail must be found first,
 * and the old one kept with its data. A creation past kernel.shmall names it (stores.c has
 * kernel.shmmni's case).
 * Each case runs in a child with an IPC namespace of its own (root), whose limits it may set
 * without touching the host's; its segments go with it.
 */
#include <sched.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/wait.h>

#include "../util.h"

#define KEY "sysv://0x5eed"

/* The old segment, 10 f64 of 7, is still under the key after a refused replace. */
static void check_kept(void)
{
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_open(&seg, KEY, SHMAP_RDONLY));
    shmap_info info;
    CHECK_OK(shmap_info_get(seg, &info));
    CHECK_EQ_INT(info.dims[0], 10);
    const double *d = shmap_data(seg);
    CHECK(d[0] == 7 && d[9] == 7);
    CHECK_OK(shmap_close(seg));
}

static void refused_replace(uint64_t elems, int want, const char *says)
{
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_REPLACE | SHMAP_CREATE_KEEP;
    const uint64_t dims[1] = {elems};
    shmap_seg *seg = NULL;
    CHECK_ERR(shmap_create(&seg, KEY, SHMAP_F64, 1, dims, &opts), want);
    CHECK_CONTAINS(shmap_last_error(), says);
    CHECK_CONTAINS(shmap_last_error(), "the existing segment is kept");
    check_kept();
}

static void in_ipc_namespace(void (*body)(void))
{
    util_need_root();
    fflush(NULL);
    pid_t pid = util_spawn();
    if (pid == 0) {
        if (unshare(CLONE_NEWIPC) < 0)
            TEST_SKIP("unshare(CLONE_NEWIPC): %s", strerror(errno));
        shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
        opts.flags = SHMAP_CREATE_KEEP;
        const uint64_t dims[1] = {10};
        shmap_seg *seg = NULL;
        CHECK_OK(shmap_create(&seg, KEY, SHMAP_F64, 1, dims, &opts));
        for (int i = 0; i < 10; i++)
            ((double *)shmap_data(seg))[i] = 7;
        CHECK_OK(shmap_close(seg));
        body();
        _exit(0);
    }
    int rc = test_wait(pid);
    if (rc == 77)
        TEST_SKIP("(the line above says why)");
    CHECK_EQ_INT(rc, 0);
}

static void past_shmmax(void)
{
    util_write_kernel_limit("shmmax", 100000);
    refused_replace(100000, -EINVAL, "kernel.shmmax is 100000");
}

static void past_shmall(void)
{
    /* Room for the old segment's pages and a few more, not for 2 MiB. */
    util_write_kernel_limit("shmall", 16);
    refused_replace(256 * 1024, -ENOSPC, "kernel.shmall is 16 pages in all");
}

static void no_id_left_while_attached(void)
{
    /* This process attaches the old segment, so it keeps its id once removed. */
    shmap_seg *old = NULL;
    CHECK_OK(shmap_open(&old, KEY, SHMAP_RDONLY));
    util_write_kernel_limit("shmmni", 1);
    refused_replace(20, -ENOSPC, "while 1 process attach it");
    CHECK_OK(shmap_close(old));
    /* Detached, its id is freed by the removal: the replace is made. */
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_REPLACE | SHMAP_CREATE_KEEP;
    const uint64_t dims[1] = {20};
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, KEY, SHMAP_F64, 1, dims, &opts));
    CHECK_OK(shmap_close(seg));
}

static void past_the_address_space_limit(void)
{
    struct rlimit as = {1ull << 30, 1ull << 30};
    CHECK(setrlimit(RLIMIT_AS, &as) == 0);
    util_write_kernel_limit("shmmax", 1ull << 40);
    util_write_kernel_limit("shmall", 1ull << 30);
    refused_replace((2ull << 30) / 8, -ENOMEM, "address space limit, ulimit -v: 1073741824");
}

TEST(sysv_replace__past_shmmax_keeps_the_old_segment)
{
    in_ipc_namespace(past_shmmax);
}

TEST(sysv_replace__past_shmall_keeps_the_old_segment)
{
    in_ipc_namespace(past_shmall);
}

TEST(sysv_replace__with_no_id_left_keeps_the_old_segment)
{
    in_ipc_namespace(no_id_left_while_attached);
}

TEST(sysv_replace__past_the_address_space_limit_keeps_the_old_segment)
{
#ifdef UTIL_ASAN
    TEST_SKIP("an address space limit cannot be set under AddressSanitizer");
#endif
    in_ipc_namespace(past_the_address_space_limit);
}

/* A creation past a limit said "the system's System V limits are reached" with both limits'
 * values: now which, with the figures and how to raise it. Nothing is left. */
static void refused_create(uint64_t elems, const char *says)
{
    const uint64_t dims[1] = {elems};
    shmap_seg *seg = NULL;
    CHECK_ERR(shmap_create(&seg, "sysv://0x5eee", SHMAP_F64, 1, dims, NULL), -ENOSPC);
    CHECK_CONTAINS(shmap_last_error(), says);
    CHECK(shmget(0x5eee, 0, 0) < 0);
    check_kept();
}

static void create_past_shmall(void)
{
    util_write_kernel_limit("shmall", 16);
    refused_create(256 * 1024, "sysv://0x00005eee: 2106368 bytes (515 pages) is more than "
                               "System V memory has left: kernel.shmall is 16 pages in all, "
                               "3 in use; raise it with sysctl kernel.shmall");
}

TEST(sysv_replace__a_creation_past_shmall_names_that_limit)
{
    in_ipc_namespace(create_past_shmall);
}
