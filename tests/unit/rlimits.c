/*
 * A process under limits of its own (setrlimit, as `ulimit` sets them), in children:
 * - a file size limit (ulimit -f): a create larger than the limit allows fails with -EFBIG
 *   saying so, before the object grows, rather than the kernel's SIGXFSZ killing the process
 *   half-way and leaving its hidden object behind (SIGXFSZ at its default action, as in a
 *   shell);
 * - an address space limit (ulimit -v): a mapping it leaves no room for is said to be past
 *   it, not just "Cannot allocate memory".
 */
#include <signal.h>
#include <sys/resource.h>

#include "../util.h"

static void limited_create(const char *name)
{
    signal(SIGXFSZ, SIG_DFL);
    struct rlimit lim = {100 * 1024, 100 * 1024};
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    const uint64_t dims[1] = {100000};
    shmap_seg *seg = NULL;
    CHECK_ERR(shmap_create(&seg, name, SHMAP_F64, 1, dims, NULL), -EFBIG);
    CHECK_CONTAINS(shmap_last_error(), "more than this process's file size limit allows "
                                       "(ulimit -f: 102400 bytes)");
    CHECK_DETAIL_NAMES(name);
    CHECK(seg == NULL);
    /* One within the limit is made as ever. */
    const uint64_t small[1] = {1000};
    CHECK_OK(shmap_create(&seg, name, SHMAP_F64, 1, small, NULL));
    CHECK_OK(shmap_close(seg));
}

static void in_child(void (*fn)(const char *), const char *name)
{
    pid_t pid = util_spawn();
    if (pid == 0) {
        fn(name);
        _exit(0);
    }
    CHECK_EQ_INT(test_wait(pid), 0);
}

TEST(create__past_the_file_size_limit_is_efbig_and_leaves_nothing)
{
    const char *name = test_name("fsize");
    in_child(limited_create, name);
    CHECK(!util_shm_exists(name));
    CHECK_EQ_INT(util_count_hidden(name), 0);

    char path[512];
    snprintf(path, sizeof path, "file:%s", util_test_path("fsize.seg"));
    in_child(limited_create, path);
    /* The small one alone (a file is not removed by its creator's close). */
    CHECK_EQ_INT(util_dir_entries(util_test_dir()), 1);
    CHECK_OK(shmap_unlink(path));

    in_child(limited_create, "memfd:fsize");
}

static void open_past_the_address_space_limit(const char *name)
{
    /* Room for 32 MiB more than this process maps now: not for the 64 MiB segment. */
    FILE *f = fopen("/proc/self/statm", "re");
    unsigned long long pages = 0;
    CHECK(f && fscanf(f, "%llu", &pages) == 1);
    fclose(f);
    rlim_t limit = (rlim_t)(pages * (unsigned long long)sysconf(_SC_PAGESIZE) + (32 << 20));
    struct rlimit as = {limit, limit};
    CHECK(setrlimit(RLIMIT_AS, &as) == 0);
    char want[128];
    snprintf(want, sizeof want, "past this process's address space limit, ulimit -v: %llu "
             "bytes", (unsigned long long)limit);
    shmap_seg *seg = NULL;
    CHECK_ERR(shmap_open(&seg, name, SHMAP_RDONLY), -ENOMEM);
    CHECK_CONTAINS(shmap_last_error(), want);
    const uint64_t dims[1] = {64 << 20};
    shmap_raw_opts ro = SHMAP_RAW_OPTS_INIT;
    CHECK_ERR(shmap_open_raw(&seg, name, SHMAP_U8, 1, dims, &ro), -ENOMEM);
    CHECK_CONTAINS(shmap_last_error(), want);
    /* A delete needs the header alone, not room for the data. */
    CHECK_OK(shmap_delete(name, 0, 0));
    CHECK_ERR(shmap_open(&seg, name, SHMAP_RDONLY), -ENOENT);
}

TEST(open__past_the_address_space_limit_says_so_and_delete_still_deletes)
{
#ifdef UTIL_ASAN
    TEST_SKIP("an address space limit cannot be set under AddressSanitizer");
#endif
    const char *name = test_name("aslimit");
    const uint64_t dims[1] = {64 << 20};
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_KEEP;
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_U8, 1, dims, &opts));
    CHECK_OK(shmap_close(seg));
    in_child(open_past_the_address_space_limit, name);
    if (util_shm_exists(name)) {
        CHECK_OK(shmap_unlink(name));
        test_fail(__FILE__, __LINE__, "the delete left %s", name);
    }
}
