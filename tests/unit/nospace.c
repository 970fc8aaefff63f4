/*
 * A full /dev/shm: creation reserves its memory, so asking for more than there is fails at
 * create time with -ENOSPC and leaves nothing behind, neither the name nor a hidden object.
 */
#include <pthread.h>
#include <signal.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "../util.h"

/* What asking for more than /dev/shm holds gets: -ENOSPC, or on a 32-bit system, which cannot
 * map that much, SHMAP_ESIZE first; either way nothing is left. */
#define TOO_BIG (sizeof(size_t) < 8 ? SHMAP_ESIZE : -ENOSPC)

TEST(create__larger_than_dev_shm_is_enospc_and_leaves_nothing)
{
    struct statvfs vfs;
    CHECK(statvfs("/dev/shm", &vfs) == 0);
    uint64_t total = (uint64_t)vfs.f_blocks * vfs.f_frsize;
    const char *name = test_name("big");
    /* 1 TiB of f32, or more than the whole of /dev/shm if that is larger. */
    uint64_t elems = 1ull << 38;
    while (elems * 4 <= total)
        elems *= 2;
    const uint64_t dims[1] = {elems};
    shmap_seg *seg = (shmap_seg *)1;
    CHECK_ERR(shmap_create(&seg, name, SHMAP_F32, 1, dims, NULL), TOO_BIG);
    CHECK(seg == NULL);
    CHECK_DETAIL_NAMES(name);
    CHECK(!util_shm_exists(name));
    CHECK_EQ_INT(util_count_hidden_of(getpid()), 0);
    /* The same in two dimensions, and with replace and open-or-create. */
    const uint64_t dims2[2] = {elems / 1024, 1024};
    CHECK_ERR(shmap_create(&seg, name, SHMAP_F32, 2, dims2, NULL), TOO_BIG);
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_REPLACE;
    CHECK_ERR(shmap_create(&seg, name, SHMAP_F32, 1, dims, &opts), TOO_BIG);
    opts.flags = SHMAP_CREATE_OPEN;
    CHECK_ERR(shmap_create(&seg, name, SHMAP_F32, 1, dims, &opts), TOO_BIG);
    CHECK(!util_shm_exists(name));
    CHECK_EQ_INT(util_count_hidden_of(getpid()), 0);
}

TEST(create__replace_that_fails_for_space_keeps_the_old_segment)
{
    const char *name = test_name("keep");
    const uint64_t small[1] = {8};
    util_make_kept(name, SHMAP_I32, 1, small);
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_REPLACE;
    const uint64_t huge[1] = {1ull << 45};
    shmap_seg *seg = NULL;
    CHECK_ERR(shmap_create(&seg, name, SHMAP_F64, 1, huge, &opts), TOO_BIG);
    shmap_info st;
    CHECK_OK(shmap_stat(name, &st));
    CHECK_EQ_INT(st.dtype, SHMAP_I32);
    CHECK_EQ_INT(st.dims[0], 8);
    CHECK_EQ_INT(util_count_hidden_of(getpid()), 0);
    CHECK_OK(shmap_unlink(name));
}

/*
 * In a child with a private mount namespace, /dev/shm is a tmpfs of `size` bytes, as in a
 * container started without --shm-size. Returns 77 when that is not permitted here.
 */
static int in_small_dev_shm(const char *size, int (*fn)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (unshare(CLONE_NEWNS) < 0)
            _exit(77);
        /* Keep our mounts from propagating to the host's namespace. */
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
            _exit(77);
        char opts[64];
        snprintf(opts, sizeof opts, "size=%s,mode=1777", size);
        if (mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
            _exit(77);
        _exit(fn());
    }
    return test_wait(pid);
}

static const char *small_name;

/* The free space of a file system, as this process (root, in these tests) may use it. */
static unsigned long long free_space(const char *path)
{
    struct statvfs vfs;
    if (statvfs(path, &vfs) < 0)
        return 0;
    return (unsigned long long)(geteuid() == 0 ? vfs.f_bfree : vfs.f_bavail) * vfs.f_frsize;
}

/*
 * A thread that watches a file system's free space while a create runs, for the least it
 * saw: a create that does not fit must refuse before it takes any of it, so that the other
 * users of the file system never find it full meanwhile. (A create that took the space and
 * gave it back could still be missed between two looks; the message checks catch those.)
 */
struct space_watch {
    const char *path;
    unsigned long long least;
    int stop;
    pthread_t thread;
};

static void *watch_space(void *arg)
{
    struct space_watch *w = arg;
    while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
        unsigned long long now = free_space(w->path);
        if (now < w->least)
            w->least = now;
    }
    return NULL;
}

static void watch_start(struct space_watch *w, const char *path)
{
    w->path = path;
    w->least = free_space(path);
    w->stop = 0;
    CHECK(pthread_create(&w->thread, NULL, watch_space, w) == 0);
}

static unsigned long long watch_stop(struct space_watch *w)
{
    __atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
    pthread_join(w->thread, NULL);
    return w->least;
}

/*
 * Does a refusal for space give both figures and name the file system: "N bytes needed, M
 * available in WHERE", M being what was free before the call, WHERE the mount point (not a
 * file in it), and N at least `least`? NULL if so, else what is wrong.
 */
static const char *says_no_space(const char *detail, unsigned long long avail, const char *where,
                                 unsigned long long least)
{
    static char why[256];
    char want[SHMAP_NAME_MAX + 64];
    snprintf(want, sizeof want, " %llu available in %s", avail, where);
    const char *at = strstr(detail, want);
    if (!at || !strchr(" \n", at[strlen(want)]))
        return snprintf(why, sizeof why, "no \"%s\" at the end", want), why;
    const char *needed = strstr(detail, "bytes needed");
    const char *num = needed ? needed - 1 : NULL;
    while (num && num > detail && num[-1] >= '0' && num[-1] <= '9')
        num--;
    if (!num || strtoull(num, NULL, 10) < least)
        return snprintf(why, sizeof why, "needs at least %llu bytes needed", least), why;
    return NULL;
}

static int fill_small(void)
{
    /* 1 MiB of tmpfs: 512 KiB fits, 4 MiB does not; then a second segment does not fit. */
    shmap_seg *a = NULL, *b = NULL;
    const uint64_t fits[1] = {128 * 1024}, too_big[1] = {1024 * 1024};
    char name_b[SHMAP_NAME_MAX];
    snprintf(name_b, sizeof name_b, "%s-b", small_name);
    struct space_watch w;
    unsigned long long free0 = free_space("/dev/shm");
    watch_start(&w, "/dev/shm");
    int rc = shmap_create(&b, name_b, SHMAP_F32, 1, too_big, NULL);
    unsigned long long least = watch_stop(&w);
    if (rc != -ENOSPC) {
        fprintf(stderr, "4 MiB in a 1 MiB /dev/shm: %s (%s)\n", shmap_errname(rc),
                shmap_last_error());
        return 1;
    }
    if (!strstr(shmap_last_error(), name_b)) {
        fprintf(stderr, "detail does not name the segment: %s\n", shmap_last_error());
        return 1;
    }
    const char *wrong = says_no_space(shmap_last_error(), free0, "/dev/shm", 4u << 20);
    if (wrong) {
        fprintf(stderr, "%s: %s\n", wrong, shmap_last_error());
        return 1;
    }
    if (least != free0 || free_space("/dev/shm") != free0) {
        fprintf(stderr, "/dev/shm had %llu bytes free, %llu during the create, %llu after\n",
                free0, least, free_space("/dev/shm"));
        return 1;
    }
    if (util_shm_exists(name_b) || util_count_hidden(test_prefix()) != 0) {
        fprintf(stderr, "a failed create left something in /dev/shm\n");
        return 1;
    }
    rc = shmap_create(&a, small_name, SHMAP_F32, 1, fits, NULL);
    if (rc != 0) {
        fprintf(stderr, "512 KiB in a 1 MiB /dev/shm: %s (%s)\n", shmap_errname(rc),
                shmap_last_error());
        return 1;
    }
    /* Every page is reserved: writing all of it must not SIGBUS. */
    memset(shmap_data(a), 0x5a, 512 * 1024);
    const uint64_t second[1] = {160 * 1024}; /* 640 KiB: the first took more than 384 */
    rc = shmap_create(&b, name_b, SHMAP_F32, 1, second, NULL);
    if (rc != -ENOSPC) {
        fprintf(stderr, "second 640 KiB segment: %s (%s)\n", shmap_errname(rc), shmap_last_error());
        return 1;
    }
    if (util_shm_exists(name_b) || util_count_hidden(test_prefix()) != 0) {
        fprintf(stderr, "the second failed create left something in /dev/shm\n");
        return 1;
    }
    shmap_close(a);
    if (util_shm_exists(small_name)) {
        fprintf(stderr, "the segment was not destroyed\n");
        return 1;
    }
    /* With the space back, the second segment fits. */
    rc = shmap_create(&b, name_b, SHMAP_F32, 1, second, NULL);
    if (rc != 0) {
        fprintf(stderr, "after freeing: %s (%s)\n", shmap_errname(rc), shmap_last_error());
        return 1;
    }
    shmap_close(b);
    return 0;
}

TEST(create__in_a_1mib_dev_shm_is_enospc_and_leaves_nothing)
{
    small_name = test_name("small");
    int rc = in_small_dev_shm("1m", fill_small);
    if (rc == 77)
        TEST_SKIP("cannot mount a private tmpfs on /dev/shm here (needs root and unshare)");
    CHECK_EQ_INT(rc, 0);
    CHECK(!util_shm_exists(small_name));
}

static int fill_container(void)
{
    /* A 64 MiB /dev/shm: 12 frames of 1024x1024 f32 (48 MiB) fit, a second such does not. */
    const uint64_t f32dims[3] = {12, 1024, 1024};
    shmap_seg *a = NULL, *b = NULL;
    char name_b[SHMAP_NAME_MAX];
    snprintf(name_b, sizeof name_b, "%s-b", small_name);
    int rc = shmap_create(&a, small_name, SHMAP_F32, 3, f32dims, NULL);
    if (rc != 0) {
        fprintf(stderr, "48 MiB in 64 MiB: %s (%s)\n", shmap_errname(rc), shmap_last_error());
        return 1;
    }
    rc = shmap_create(&b, name_b, SHMAP_F32, 3, f32dims, NULL);
    if (rc != -ENOSPC || util_shm_exists(name_b) || util_count_hidden(test_prefix()) != 0) {
        fprintf(stderr, "second 48 MiB: %s (%s)\n", shmap_errname(rc), shmap_last_error());
        return 1;
    }
    shmap_close(a);
    return 0;
}

TEST(create__a_container_sized_64mib_dev_shm_refuses_the_second_big_segment)
{
    small_name = test_name("ctr");
    int rc = in_small_dev_shm("64m", fill_container);
    if (rc == 77)
        TEST_SKIP("cannot mount a private tmpfs on /dev/shm here (needs root and unshare)");
    CHECK_EQ_INT(rc, 0);
}

static void file_larger_than_its_file_system(const char *mnt)
{
    char name[SHMAP_NAME_MAX];
    snprintf(name, sizeof name, "file:%s/big", mnt);
    const unsigned long long free0 = free_space(mnt);
    CHECK(free0 > 0 && free0 <= 1u << 20);
    struct space_watch w;
    watch_start(&w, mnt);
    const uint64_t too_big[1] = {1024 * 1024}; /* 4 MiB of f32 */
    shmap_seg *seg = (shmap_seg *)1;
    int rc = shmap_create(&seg, name, SHMAP_F32, 1, too_big, NULL);
    unsigned long long least = watch_stop(&w);
    CHECK_ERR(rc, -ENOSPC);
    CHECK(seg == NULL);
    CHECK_DETAIL_NAMES(name);
    const char *wrong = says_no_space(shmap_last_error(), free0, mnt, 4u << 20);
    if (wrong)
        test_fail(__FILE__, __LINE__, "%s: %s", wrong, shmap_last_error());
    /* Nothing taken meanwhile, nothing left, not even a hidden file. */
    CHECK_EQ_INT(least, free0);
    CHECK_EQ_INT(free_space(mnt), free0);
    CHECK_EQ_INT(util_dir_entries(mnt), 0);

    /* The command says the same, in one line, and leaves nothing either. */
    char *out = NULL, *err = NULL;
    RUN(1, "create", name, "f32", "1048576");
    CHECK(strchr(err, '\n') == err + strlen(err) - 1);
    wrong = says_no_space(err, free0, mnt, 4u << 20);
    if (wrong)
        test_fail(__FILE__, __LINE__, "%s: %s", wrong, err);
    util_clear(&out, &err);
    CHECK_EQ_INT(free_space(mnt), free0);
    CHECK_EQ_INT(util_dir_entries(mnt), 0);

    /* What fits is made, every page reserved: writing all of it must not SIGBUS. */
    const uint64_t fits[1] = {128 * 1024}; /* 512 KiB */
    CHECK_OK(shmap_create(&seg, name, SHMAP_F32, 1, fits, NULL));
    memset(shmap_data(seg), 0x5a, 512 * 1024);
    CHECK_OK(shmap_close(seg));
    CHECK(free_space(mnt) < free0);
    CHECK_OK(shmap_unlink(name));
    CHECK_EQ_INT(free_space(mnt), free0);
}

/*
 * A file segment larger than the file system it goes on (a 1 MiB tmpfs here) is refused
 * before any of the space is taken, naming the file system (its mount point) and both
 * figures; the file system's free space never changes and nothing is left in it.
 */
TEST(create__a_file_larger_than_its_file_system_is_refused_before_taking_any_space)
{
    util_with_tmpfs(file_larger_than_its_file_system, "1m");
}

/*
 * A file on a tmpfs that is larger than memory and swap together (a tmpfs may be given any
 * size): a segment there that fits the file system but not memory is refused for memory
 * (ENOMEM, saying how much is available), before any page is taken: the host's check
 * (MemAvailable and SwapFree in /proc/meminfo), where the cgroup's limits are unset.
 */
static unsigned long long memory_and_swap;

static void file_larger_than_memory(const char *mnt)
{
    char name[SHMAP_NAME_MAX];
    snprintf(name, sizeof name, "file:%s/big", mnt);
    const unsigned long long free0 = free_space(mnt);
    CHECK(free0 > memory_and_swap);
    const uint64_t dims[1] = {memory_and_swap / 4 + (64u << 20)}; /* f32: 256 MiB past it */
    /* Were the check to let it through, the file size limit stops it before any memory is
     * taken (EFBIG, which fails the test) instead of the host's memory filling up. */
    struct rlimit fsz = {memory_and_swap, memory_and_swap};
    CHECK(setrlimit(RLIMIT_FSIZE, &fsz) == 0);
    signal(SIGXFSZ, SIG_IGN);
    shmap_seg *seg = (shmap_seg *)1;
    CHECK_ERR(shmap_create(&seg, name, SHMAP_F32, 1, dims, NULL), -ENOMEM);
    CHECK(seg == NULL);
    CHECK_DETAIL_NAMES(name);
    CHECK_CONTAINS(shmap_last_error(), "not enough memory: ");
    CHECK_CONTAINS(shmap_last_error(), " available (available memory and swap");
    CHECK_EQ_INT(free_space(mnt), free0);
    CHECK_EQ_INT(util_dir_entries(mnt), 0);
}

TEST(create__a_file_on_a_tmpfs_larger_than_memory_is_refused_for_memory)
{
    if (util_meminfo("MemAvailable") == 0)
        TEST_SKIP("/proc/meminfo shows no MemAvailable: the host's room is not known");
    memory_and_swap = (util_meminfo("MemTotal") + util_meminfo("SwapTotal")) * 1024;
    if (memory_and_swap > SIZE_MAX / 2)
        TEST_SKIP("a size past memory cannot be mapped by this process (32-bit), which says "
                  "so before it looks at memory");
    char size[32];
    snprintf(size, sizeof size, "%llu", memory_and_swap * 2);
    util_with_tmpfs(file_larger_than_memory, size);
}

/*
 * The host's room as /proc/meminfo gives it, seen through a file bound over it in a mount
 * namespace of a child: a MemAvailable of 0 (a host out of memory says so) refuses a large
 * create, where it used to be taken for "not known" and let anything through; a file with no
 * MemAvailable line (kernels before 3.14) does not refuse. Exits 77 where the namespace or
 * the bind mount cannot be made.
 */
static int create_with_meminfo(const char *text, const char *name, int want)
{
    char path[300];
    snprintf(path, sizeof path, "%s", util_test_path("meminfo"));
    util_write_file(path, text, strlen(text));
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            mount(path, "/proc/meminfo", NULL, MS_BIND, NULL) < 0)
            _exit(77);
        const uint64_t dims[1] = {16u << 20}; /* f32: 64 MiB */
        shmap_seg *seg = NULL;
        int rc = shmap_create(&seg, name, SHMAP_F32, 1, dims, NULL);
        if (rc == 0)
            shmap_close(seg);
        if (rc != want) {
            fprintf(stderr, "%s, expected %s (%s)\n", shmap_errname(rc), shmap_errname(want),
                    shmap_last_error());
            _exit(1);
        }
        if (rc < 0 && (!strstr(shmap_last_error(), "not enough memory: ") ||
                       !strstr(shmap_last_error(), " bytes needed, 0 available (available "))) {
            fprintf(stderr, "unexpected detail: %s\n", shmap_last_error());
            _exit(1);
        }
        _exit(0);
    }
    return test_wait(pid);
}

TEST(create__a_host_with_no_memory_available_refuses_and_one_not_saying_does_not)
{
    util_need_root();
    const char *name = test_name("mi");
    int rc = create_with_meminfo("MemTotal:       1048576 kB\nMemFree:               0 kB\n"
                                 "MemAvailable:          0 kB\nSwapFree:              0 kB\n",
                                 name, -ENOMEM);
    if (rc == 77)
        TEST_SKIP("cannot bind a file over /proc/meminfo in a mount namespace here");
    CHECK_EQ_INT(rc, 0);
    CHECK(!util_shm_exists(name));
    CHECK_EQ_INT(util_count_hidden(test_prefix()), 0);
    rc = create_with_meminfo("MemTotal:       1048576 kB\nMemFree:               0 kB\n"
                             "SwapFree:              0 kB\n", name, 0);
    CHECK_EQ_INT(rc, 0);
    CHECK(!util_shm_exists(name));
}

/*
 * A memory cgroup with `limit` bytes for a child, which joins it and runs fn(): fn's
 * status; 77 when no memory cgroup can be made here (needs root, and cgroup v2's
 * memory.max or v1's memory controller). The child is the only member; the group is
 * removed after it.
 */
static int in_memory_cgroup(const char *limit, int (*fn)(void))
{
    char self[600] = "", line[600];
    const char *base = NULL, *knob = NULL;
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f)
        return 77;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "0::", 3) == 0 && !base &&
            access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0) {
            snprintf(self, sizeof self, "%s", line + 3);
            base = "/sys/fs/cgroup", knob = "memory.max";
        } else if (strstr(line, ":memory:")) {
            snprintf(self, sizeof self, "%s", strstr(line, ":memory:") + 8);
            base = "/sys/fs/cgroup/memory", knob = "memory.limit_in_bytes";
        }
    }
    fclose(f);
    if (!base)
        return 77;
    char dir[1400], path[1500];
    snprintf(dir, sizeof dir, "%s%s/%sgroup", base, strcmp(self, "/") == 0 ? "" : self,
             test_prefix());
    if (mkdir(dir, 0755) < 0)
        return 77;
    snprintf(path, sizeof path, "%s/%s", dir, knob);
    FILE *k = fopen(path, "we");
    int ok = k && fputs(limit, k) >= 0;
    ok = (k && fclose(k) == 0) && ok;
    int status = 77;
    if (ok) {
        fflush(NULL);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            snprintf(path, sizeof path, "%s/cgroup.procs", dir);
            FILE *p = fopen(path, "we");
            if (!p || fprintf(p, "%d\n", (int)getpid()) < 0 || fclose(p) != 0)
                _exit(77);
            _exit(fn());
        }
        status = test_wait(pid);
    }
    CHECK(rmdir(dir) == 0);
    return status;
}

/* A key of the test's own (the runner removes what is left under it) and a file's path,
 * taken before the child is forked (the test directory's guard process would join the
 * group, which could then not be removed). */
static key_t cg_key;
static char cg_file[256];

static int over_the_cgroup(void)
{
    /* 192 MiB in a 128 MiB group: refused for memory, before any page is taken (else the
     * group's out-of-memory killer ends this child). */
    const uint64_t dims[1] = {48u << 20};
    shmap_seg *seg = NULL;
    char sysv[64];
    snprintf(sysv, sizeof sysv, "sysv://0x%08x", (unsigned)cg_key);
    const char *names[2] = {small_name, sysv};
    for (int i = 0; i < 2; i++) {
        int rc = shmap_create(&seg, names[i], SHMAP_F32, 1, dims, NULL);
        if (rc != -ENOMEM || !strstr(shmap_last_error(), "not enough memory: ")) {
            fprintf(stderr, "%s: %s (%s)\n", names[i], shmap_errname(rc), shmap_last_error());
            return 1;
        }
    }
    if (util_shm_exists(small_name) || util_sysv_exists(cg_key) || util_count_hidden(test_prefix()) != 0) {
        fprintf(stderr, "a refused create left something behind\n");
        return 1;
    }
    /* Page cache the group has filled (a file written on disk) is given back before any
     * kill, so it does not count: what fits is made as before. */
    const char *path = cg_file;
    static char chunk[1 << 20];
    memset(chunk, 'c', sizeof chunk);
    FILE *f = fopen(path, "we");
    for (int i = 0; f && i < 100; i++)
        fwrite(chunk, 1, sizeof chunk, f);
    if (!f || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        return 1;
    }
    const uint64_t fits[1] = {16u << 20};
    int rc = shmap_create(&seg, small_name, SHMAP_F32, 1, fits, NULL);
    unlink(path);
    if (rc != 0) {
        fprintf(stderr, "64 MiB in 128 MiB beside 100 MiB of page cache: %s (%s)\n",
                shmap_errname(rc), shmap_last_error());
        return 1;
    }
    shmap_close(seg);
    /* Replacing a System V segment nobody has attached gives its memory back first: 80 MiB
     * replaced by 80 MiB fits in 128. */
    const uint64_t eighty[1] = {20u << 20};
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_KEEP;
    for (int i = 0; i < 2; i++) {
        rc = shmap_create(&seg, sysv, SHMAP_F32, 1, eighty, &opts);
        if (rc != 0) {
            fprintf(stderr, "80 MiB System V segment, %s: %s (%s)\n", i ? "replacing" : "new",
                    shmap_errname(rc), shmap_last_error());
            return 1;
        }
        shmap_close(seg);
        opts.flags |= SHMAP_CREATE_REPLACE;
    }
    shmap_unlink(sysv);
    return 0;
}

TEST(create__more_than_a_memory_cgroup_allows_is_enomem_not_an_oom_kill)
{
    small_name = test_name("cg");
    cg_key = test_sysv_key();
    snprintf(cg_file, sizeof cg_file, "%s", util_test_path("cache"));
    int rc = in_memory_cgroup("134217728", over_the_cgroup);
    if (rc == 77)
        TEST_SKIP("cannot make a memory cgroup here (needs root and a memory controller)");
    CHECK_EQ_INT(rc, 0);
    CHECK(!util_shm_exists(small_name));
}
