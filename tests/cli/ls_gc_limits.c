/*
 * shmap ls and shmap gc when the command runs out of descriptors or address space: exit 1
 * with one error line that names the cause and the limit, where they printed an empty
 * listing or "nothing to do" and exited 0. What was there stays, for a run with room.
 *
 * The command runs as `ulimit -n 4` leaves it, with descriptors 0, 1 and 2 only: /dev/shm
 * (or a file's directory) opens, nothing in it does. Or as `ulimit -v` leaves it, below the
 * size of a System V segment, which is attached whole to be read: gc keeps it, saying
 * why, rm and info say so, and ls lists that segment apart; those tests skip under
 * AddressSanitizer, which needs terabytes of address space.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "../util.h"

/* What a memfd holds, NUL-terminated (to be freed). */
static char *memfd_text(int fd)
{
    struct stat st;
    CHECK(fstat(fd, &st) == 0);
    char *buf = malloc((size_t)st.st_size + 1);
    CHECK(buf != NULL);
    CHECK(pread(fd, buf, (size_t)st.st_size, 0) == st.st_size);
    buf[st.st_size] = '\0';
    close(fd);
    return buf;
}

/*
 * Run the shmap command with the arguments given (ending with NULL) with descriptors 0
 * (/dev/null), 1 and 2 only and, when not 0, RLIMIT_NOFILE `nofile` and RLIMIT_AS `as_kb`
 * kB. Its stdout and stderr into the caller's `out` and `err` (freed first); its status.
 */
static int run_limited(char **out, char **err, rlim_t nofile, rlim_t as_kb, ...)
{
    char *argv[16];
    int argc = 0;
    argv[argc++] = (char *)test_shmap_bin();
    va_list ap;
    va_start(ap, as_kb);
    for (const char *a; argc < 15 && (a = va_arg(ap, const char *));)
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    free(*out);
    free(*err);
    int ofd = memfd_create("out", MFD_CLOEXEC), efd = memfd_create("err", MFD_CLOEXEC);
    CHECK(ofd >= 0 && efd >= 0);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        if (in < 0 || dup2(in, 0) < 0 || dup2(ofd, 1) < 0 || dup2(efd, 2) < 0)
            _exit(126);
        long max = sysconf(_SC_OPEN_MAX);
        for (int fd = 3; fd < (max > 0 && max < 65536 ? max : 65536); fd++)
            close(fd);
        struct rlimit r = {nofile, nofile}, v = {as_kb * 1024, as_kb * 1024};
        if ((nofile && setrlimit(RLIMIT_NOFILE, &r) < 0) ||
            (as_kb && setrlimit(RLIMIT_AS, &v) < 0))
            _exit(126);
        execv(argv[0], argv);
        _exit(127);
    }
    int rc = test_wait(pid);
    *out = memfd_text(ofd);
    *err = memfd_text(efd);
    return rc;
}

#define NOFILE_LINE "(this process's limit, ulimit -n, is 4)\n"

TEST(cli_limits__ls_out_of_descriptors_fails_and_names_the_limit)
{
    char *out = NULL, *err = NULL;
    const uint64_t d[1] = {4};
    const char *name = test_name("seg");
    util_make_kept(name, SHMAP_F64, 1, d);
    util_make_kept(test_name("seg2"), SHMAP_U8, 1, d);
    static const char *const opts[] = {NULL, "--all", "--json"};
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        CHECK_EQ_INT(run_limited(&out, &err, 4, 0, "ls", opts[i], NULL), 1);
        CHECK_STR(out, "");
        CHECK_ERROR_LINE(err, "shmap: cannot list segments: too many open files: cannot open "
                              "/dev/shm/");
        CHECK_CONTAINS(err, " to list it " NOFILE_LINE);
    }
    /* With room, they are listed. */
    CHECK_EQ_INT(run_limited(&out, &err, 0, 0, "ls", NULL), 0);
    CHECK_CONTAINS(out, name);
    CHECK_OK(shmap_unlink(name));
    CHECK_OK(shmap_unlink(test_name("seg2")));
    util_clear(&out, &err);
}

TEST(cli_limits__gc_out_of_descriptors_fails_and_leaves_the_leftovers)
{
    char *out = NULL, *err = NULL;
    const char *transient = test_name("transient");
    util_make_by_dead_creator(transient, SHMAP_CREATE_TRANSIENT);
    /* A creation's hidden leftover whose process died: a zombie until the end, so that no
     * other run's sweep of dead processes' leftovers takes it meanwhile. */
    pid_t hider = util_zombie_pid();
    char hidden[SHMAP_NAME_MAX + 64];
    snprintf(hidden, sizeof hidden, "/.shmap-tmp-%d-1-%s", (int)hider, test_name("hidden"));
    int fd = shm_open(hidden, O_RDWR | O_CREAT | O_EXCL, 0600);
    CHECK(fd >= 0);
    CHECK(ftruncate(fd, 8192) == 0);
    close(fd);
    const char *prefix = test_prefix();
    /* Without a prefix, a dry run only: a gc of the whole machine is not this test's to
     * make, should it not fail. */
    const char *const runs[][4] = {
        {"gc", "--dry-run", NULL, NULL},
        {"gc", "--prefix", prefix, NULL},
        {"gc", "--dry-run", "--prefix", prefix},
        {"gc", "--prefix", transient, NULL},
    };
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        CHECK_EQ_INT(run_limited(&out, &err, 4, 0, runs[i][0], runs[i][1], runs[i][2],
                                 runs[i][3], NULL),
                     1);
        CHECK_STR(out, "");
        CHECK_ERROR_LINE(err, "shmap: gc: too many open files: cannot open /dev/shm/");
        CHECK_CONTAINS(err, NOFILE_LINE);
    }
    CHECK(util_shm_exists(transient));
    CHECK_EQ_INT(util_count_hidden_of(hider), 1);
    /* With room, gc removes both. */
    CHECK_EQ_INT(run_limited(&out, &err, 0, 0, "gc", "--prefix", prefix, NULL), 0);
    CHECK_CONTAINS(out, "gc: 1 transient segment removed, 0 stale attach slots cleared in 0 "
                        "segments, 1 hidden leftover removed\n");
    CHECK(!util_shm_exists(transient));
    CHECK_EQ_INT(util_count_hidden_of(hider), 0);
    CHECK_EQ_INT(test_wait(hider), 0);
    util_clear(&out, &err);
}

TEST(cli_limits__gc_of_files_out_of_descriptors_fails)
{
    char *out = NULL, *err = NULL;
    const char *dir = util_test_dir(); /* removed by its guard should a CHECK fail */
    char name[320], prefix[320], want[400];
    snprintf(name, sizeof name, "file:%s/h.shm", dir);
    snprintf(prefix, sizeof prefix, "file:%s/", dir);
    util_make_by_dead_creator(name, SHMAP_CREATE_HIDDEN);
    CHECK_EQ_INT(util_dir_entries(dir), 1);
    snprintf(want, sizeof want, "shmap: gc: too many open files: cannot open %s/", dir);
    for (int dry = 0; dry < 2; dry++) {
        CHECK_EQ_INT(run_limited(&out, &err, 4, 0, "gc", "--prefix", prefix,
                                 dry ? "--dry-run" : NULL, NULL),
                     1);
        CHECK_STR(out, "");
        CHECK_ERROR_LINE(err, want);
        CHECK_CONTAINS(err, NOFILE_LINE);
    }
    CHECK_EQ_INT(util_dir_entries(dir), 1);
    CHECK_EQ_INT(run_limited(&out, &err, 0, 0, "gc", "--prefix", prefix, NULL), 0);
    CHECK_CONTAINS(out, "1 hidden leftover removed");
    CHECK_EQ_INT(util_dir_entries(dir), 0);
    util_clear(&out, &err);
}

/* A System V segment larger than the address space the command is left: 64 MiB, against
 * 40000 kB. */
#define BIG_BYTES (64ull << 20)
#define AS_KB 40000

TEST(cli_limits__system_v_out_of_address_space_is_kept_by_gc_fails_rm_and_is_listed_apart)
{
#ifdef UTIL_ASAN
    TEST_SKIP("AddressSanitizer needs more address space than a cap would leave");
#endif
    char *out = NULL, *err = NULL;
    char name[64], want[160];
    snprintf(name, sizeof name, "sysv://0x%08x", (unsigned)test_sysv_key());
    /* A transient segment whose creator has exited: gc's to remove. */
    pid_t pid = util_spawn();
    if (pid == 0) {
        shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
        opts.flags = SHMAP_CREATE_KEEP | SHMAP_CREATE_TRANSIENT;
        shmap_seg *seg = NULL;
        const uint64_t dims[1] = {BIG_BYTES};
        _exit(shmap_create(&seg, name, SHMAP_U8, 1, dims, &opts) == 0 ? 0 : 1);
    }
    CHECK_EQ_INT(test_wait(pid), 0);
    CHECK(util_wait_unmapped(name)); /* the kernel counts its attach a moment longer */
    /* System V needs no descriptor: out of them, a gc of its names alone goes on. */
    CHECK_EQ_INT(run_limited(&out, &err, 4, 0, "gc", "--dry-run", "--prefix", name, NULL), 0);
    snprintf(want, sizeof want, "would remove transient segment %s (creator pid %d dead", name,
             (int)pid);
    CHECK_CONTAINS(out, want);
    CHECK_STR(err, "");
    /* Out of address space, it cannot be attached: larger than the limit itself, it is
     * its own affair, as in the listing: kept, saying so, and gc goes on. */
    char limit[96];
    snprintf(limit, sizeof limit, "(past this process's address space limit, ulimit -v: %d "
             "bytes, ", AS_KB * 1024);
    snprintf(want, sizeof want, "kept segment %s: cannot attach its %llu bytes to look at it ",
             name, BIG_BYTES + 4096 + 32 * 160);
    for (int dry = 0; dry < 2; dry++) {
        CHECK_EQ_INT(run_limited(&out, &err, 0, AS_KB, "gc", "--prefix", name,
                                 dry ? "--dry-run" : NULL, NULL),
                     0);
        CHECK_STR(err, "");
        CHECK_CONTAINS(out, want);
        CHECK_CONTAINS(out, limit);
        CHECK_CONTAINS(out, "; run gc where the limit allows it\n");
        CHECK_CONTAINS(out, ": 1 kept that this process cannot attach (ulimit -v)\n");
    }
    /* The listing attaches every System V segment: ours alone does not fit, and is left
     * out, as an object this user may not read is, or listed with why (--all, --json). */
    snprintf(want, sizeof want, "cannot attach its %llu bytes to read it (past this "
             "process's address space limit, ulimit -v: %d bytes, ",
             BIG_BYTES + 4096 + 32 * 160, AS_KB * 1024);
    static const char *const opts[][2] = {{NULL, NULL}, {"--json", NULL}, {"--all", NULL},
                                          {"--all", "--json"}};
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        CHECK_EQ_INT(run_limited(&out, &err, 0, AS_KB, "ls", opts[i][0], opts[i][1], NULL), 0);
        CHECK_STR(err, "");
        if (i >= 2)
            CHECK_CONTAINS(out, want);
        else
            CHECK(!strstr(out, name + 7));
    }
    /* Nor can it be opened, nor locked to be removed: said so, with the way out. */
    CHECK_EQ_INT(run_limited(&out, &err, 0, AS_KB, "info", name, NULL), 1);
    snprintf(want, sizeof want, "shmap: %s: cannot attach its %llu bytes (past this process's "
             "address space limit, ulimit -v: ", name, BIG_BYTES + 4096 + 32 * 160);
    CHECK_ERROR_LINE(err, want);
    CHECK_EQ_INT(run_limited(&out, &err, 0, AS_KB, "rm", name, NULL), 1);
    CHECK_ERROR_LINE(err, want);
    CHECK_CONTAINS(err, "; a System V segment is attached whole to take its lock (use --force "
                        "to remove it without the lock)\n");
    /* With room, gc removes it. */
    CHECK_EQ_INT(run_limited(&out, &err, 0, 0, "gc", "--prefix", name, NULL), 0);
    CHECK_CONTAINS(out, "gc: 1 transient segment removed");
    CHECK(!util_sysv_exists((key_t)strtoul(name + 7, NULL, 16)));
    util_clear(&out, &err);
}

/* A POSIX segment and a file segment larger than the address space left to the command:
 * info cannot map them, and says so; rm locks and removes them through their header page
 * (it mapped them whole, and failed as info does). */
TEST(cli_limits__rm_of_a_segment_larger_than_the_address_space_removes_it)
{
#ifdef UTIL_ASAN
    TEST_SKIP("AddressSanitizer needs more address space than a cap would leave");
#endif
    char *out = NULL, *err = NULL;
    char file[PATH_MAX + 8], want[PATH_MAX + 64];
    snprintf(file, sizeof file, "file:%s", util_test_path("big.shm"));
    const char *names[] = {test_name("big"), file};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
        opts.flags = SHMAP_CREATE_KEEP;
        shmap_seg *seg = NULL;
        CHECK_OK(shmap_create(&seg, names[i], SHMAP_U8, 1, (const uint64_t[]){BIG_BYTES},
                              &opts));
        CHECK_OK(shmap_close(seg));
        CHECK_EQ_INT(run_limited(&out, &err, 0, AS_KB, "info", names[i], NULL), 1);
        snprintf(want, sizeof want, "shmap: %s: cannot map ", names[i]);
        CHECK_ERROR_LINE(err, want);
        CHECK_CONTAINS(err, "ulimit -v");
        CHECK_EQ_INT(run_limited(&out, &err, 0, AS_KB, "rm", names[i], NULL), 0);
        CHECK_STR(err, "");
        shmap_info info;
        CHECK_ERR(shmap_stat(names[i], &info), -ENOENT);
    }
    util_clear(&out, &err);
}
