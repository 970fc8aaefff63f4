/*
 * A process under a file size limit (ulimit -f): a create larger than the limit allows fails
 * with -EFBIG saying so, before the object grows, rather than the kernel's SIGXFSZ killing
 * the process half-way and leaving its hidden object behind. Run in children, with SIGXFSZ
 * at its default action, as in a shell.
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
