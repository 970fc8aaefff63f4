/*
 * Names of things that are not regular files: a FIFO under a file: name or in /dev/shm, a
 * symbolic link in /dev/shm (never followed), a directory, a device. Every open by name (read-only, read-write, private, raw, stat,
 * delete, open-or-create) and shmap_open_fd() refuse them at once with SHMAP_EINVAL's
 * -EINVAL and "not a regular file", leaving no descriptor open. A FIFO opened read-only
 * with no writer waits in open() for ever, so each call runs in a child that must finish
 * within a generous limit: a hang fails here, naming the call, not as a runner timeout.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "../util.h"

/* The limit for a call that should return at once; other tests load the machine. */
#define PROMPT_S 10.0

typedef int (*open_call)(const char *name);

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* A handle a call should not have got is closed, so its success shows as 0. */
static int close_if(int rc, shmap_seg *seg)
{
    if (rc == 0)
        shmap_close(seg);
    return rc;
}

static int open_rdonly(const char *name)
{
    shmap_seg *seg = NULL;
    return close_if(shmap_open(&seg, name, SHMAP_RDONLY), seg);
}

static int open_rdwr(const char *name)
{
    shmap_seg *seg = NULL;
    return close_if(shmap_open(&seg, name, SHMAP_RDWR), seg);
}

static int open_private(const char *name)
{
    shmap_seg *seg = NULL;
    return close_if(shmap_open(&seg, name, SHMAP_PRIVATE), seg);
}

static int open_hold(const char *name)
{
    shmap_seg *seg = NULL;
    return close_if(shmap_open(&seg, name, SHMAP_RDONLY | SHMAP_HOLD), seg);
}

static int open_raw(const char *name, unsigned flags)
{
    shmap_raw_opts opts = SHMAP_RAW_OPTS_INIT;
    opts.flags = flags;
    const uint64_t dims[1] = {4};
    shmap_seg *seg = NULL;
    return close_if(shmap_open_raw(&seg, name, SHMAP_U8, 1, dims, &opts), seg);
}

static int raw_rdonly(const char *name)
{
    return open_raw(name, SHMAP_RDONLY);
}

static int raw_rdwr(const char *name)
{
    return open_raw(name, SHMAP_RDWR);
}

static int raw_private(const char *name)
{
    return open_raw(name, SHMAP_PRIVATE);
}

static int stat_it(const char *name)
{
    shmap_info info;
    return shmap_stat(name, &info);
}

static int delete_it(const char *name)
{
    return shmap_delete(name, 1, 0);
}

static int open_or_create(const char *name)
{
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_OPEN | SHMAP_CREATE_KEEP;
    const uint64_t dims[1] = {4};
    shmap_seg *seg = NULL;
    return close_if(shmap_create(&seg, name, SHMAP_U8, 1, dims, &opts), seg);
}

static const struct {
    const char *what;
    open_call call;
} calls[] = {
    {"shmap_open read-only", open_rdonly},
    {"shmap_open read-write", open_rdwr},
    {"shmap_open private", open_private},
    {"shmap_open read-only holding", open_hold},
    {"shmap_open_raw read-only", raw_rdonly},
    {"shmap_open_raw read-write", raw_rdwr},
    {"shmap_open_raw private", raw_private},
    {"shmap_stat", stat_it},
    {"shmap_delete", delete_it},
    {"shmap_create open-or-create", open_or_create},
};

/*
 * Run `call` on `name` in a child, which must be done within PROMPT_S and have got -EINVAL
 * with a detail saying "not a regular file", with as many descriptors open as before.
 */
static void check_refused(const char *what, open_call call, const char *name)
{
    pid_t pid = util_spawn();
    if (pid == 0) {
        int before = count_fds();
        int rc = call(name);
        if (rc != -EINVAL || !strstr(shmap_last_error(), "not a regular file")) {
            fprintf(stderr, "%s(%s) returned %s: %s\n", what, name, shmap_errname(rc),
                    shmap_last_error());
            _exit(1);
        }
        if (count_fds() != before) {
            fprintf(stderr, "%s(%s) left a descriptor open\n", what, name);
            _exit(2);
        }
        _exit(0);
    }
    double t0 = util_now_s();
    int status = 0;
    pid_t done;
    while ((done = waitpid(pid, &status, WNOHANG)) == 0 && util_now_s() - t0 < PROMPT_S)
        util_sleep_ms(5);
    if (done == 0) {
        kill(pid, SIGKILL);
        test_wait(pid);
        test_fail(__FILE__, __LINE__, "%s(%s) still waits after %g s", what, name, PROMPT_S);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        test_fail(__FILE__, __LINE__, "%s(%s) was not refused as it should be (status 0x%x)",
                  what, name, status);
}

static void check_all_refused(const char *name)
{
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++)
        check_refused(calls[i].what, calls[i].call, name);
}

TEST(stores__a_fifo_under_a_file_name_is_refused_at_once_by_every_open)
{
    char path[512], name[520];
    snprintf(path, sizeof path, "%s/fifo", util_test_dir());
    snprintf(name, sizeof name, "file:%s", path);
    CHECK(mkfifo(path, 0600) == 0);
    check_all_refused(name);
    /* Nothing replaced or removed it. */
    struct stat st;
    CHECK(lstat(path, &st) == 0 && S_ISFIFO(st.st_mode));
    CHECK(unlink(path) == 0);
}

TEST(stores__a_fifo_in_dev_shm_is_refused_at_once_by_every_open)
{
    const char *name = test_name("fifo");
    char path[512];
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    CHECK(mkfifo(path, 0600) == 0); /* the runner removes it if the test fails */
    check_all_refused(name);
    struct stat st;
    CHECK(lstat(path, &st) == 0 && S_ISFIFO(st.st_mode));
    /* Listing and gc pass it by. */
    shmap_entry *list = NULL;
    size_t n = 0;
    CHECK_OK(shmap_list(&list, &n, SHMAP_LIST_ALL));
    for (size_t i = 0; i < n; i++)
        CHECK(strcmp(list[i].info.name, name) != 0);
    shmap_list_free(list);
    CHECK_OK(shmap_gc(name, 0, NULL, NULL));
    CHECK(unlink(path) == 0);
}

TEST(stores__a_symbolic_link_in_dev_shm_is_refused_as_one_and_never_followed)
{
    /* It points at a real segment: following it would open, or delete, that one. */
    const char *target = test_name("target"), *name = test_name("link");
    const uint64_t dims[1] = {4};
    util_make_kept(target, SHMAP_U8, 1, dims);
    char from[512], to[512];
    snprintf(from, sizeof from, "/dev/shm/%s", target);
    snprintf(to, sizeof to, "/dev/shm/%s", name);
    CHECK(symlink(from, to) == 0); /* the runner removes it if the test fails */
    check_all_refused(name);
    /* What it says is what it is, not the system's "too many levels of symbolic links". */
    CHECK_ERR(open_rdonly(name), -EINVAL);
    CHECK_CONTAINS(shmap_last_error(), "not a regular file (it is a symbolic link)");
    struct stat st;
    CHECK(lstat(to, &st) == 0 && S_ISLNK(st.st_mode));
    CHECK(util_shm_exists(target));
    CHECK(unlink(to) == 0);
    CHECK_OK(shmap_delete(target, 1, 0));
}

TEST(stores__a_directory_or_a_device_under_a_file_name_is_refused)
{
    char name[520];
    snprintf(name, sizeof name, "file:%s", util_test_dir());
    check_all_refused(name);
    check_all_refused("file:/dev/null");
}

TEST(stores__open_fd_refuses_a_fifo_and_a_pipe_at_once)
{
    char path[512];
    snprintf(path, sizeof path, "%s/fifo", util_test_dir());
    CHECK(mkfifo(path, 0600) == 0);
    /* Read-write: opening a FIFO so does not wait for the other end. */
    int fd = open(path, O_RDWR | O_CLOEXEC);
    CHECK(fd >= 0);
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    int fds[2] = {fd, p[0]};
    unsigned modes[3] = {SHMAP_RDONLY, SHMAP_RDWR, SHMAP_PRIVATE};
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 3; k++) {
            int before = count_fds();
            shmap_seg *seg = NULL;
            double t0 = util_now_s();
            CHECK_ERR(shmap_open_fd(&seg, fds[i], modes[k]), -EINVAL);
            CHECK(util_now_s() - t0 < PROMPT_S);
            CHECK_CONTAINS(shmap_last_error(), "not a regular file");
            CHECK(seg == NULL);
            CHECK_EQ_INT(count_fds(), before);
        }
    close(fd);
    close(p[0]);
    close(p[1]);
    CHECK(unlink(path) == 0);
}
