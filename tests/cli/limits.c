/*
 * The command under the limits a user meets, each set for real in the child that runs it:
 * the file size limit (ulimit -f, setrlimit), a full file system (a private tmpfs), the
 * open files limit (ulimit -n), the process limit (ulimit -u), and a signal while the
 * memory of a large segment is being reserved (in a private /dev/shm). What each proves:
 * the command ends in one error line that names the limit and the numbers a user can act
 * on, with its usual exit status, and leaves nothing behind (no hidden file, no hidden
 * object of a creation).
 *
 * Mounts are made in forked children with a mount namespace of their own (root only:
 * others skip, saying so), and go with them. Files live in this test's directory, which a
 * guard process removes however the test ends.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>

#include "../util.h"

/* ---------------------------------------------------------------------------------------- */
/* Running the command in a child that has the limit */

/* How a run is set up. */
struct run {
    int resource;      /* RLIMIT_*, given soft and hard; -1: none */
    rlim_t limit;
    const char *out;   /* standard output: this file, opened with out_flags; NULL: /dev/null */
    int out_flags;
    int nobody;        /* as the user nobody (root only) */
    int no_proc;       /* in a mount namespace of its own, with /proc unmounted (root only) */
};

/* A child could not be set up (status of its exit): a mount or exec failed. */
#define SETUP_FAILED 120

/* Remove the lines a sanitizer adds ("==PID==WARNING: ..."): without /proc, the sanitized
 * build warns that it cannot read its own executable's name, whatever the command does. */
static void drop_sanitizer_lines(char *text)
{
    char *w = text;
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) + 1 : strlen(line);
        if (!(line[0] == '=' && line[1] == '=')) {
            memmove(w, line, len);
            w += len;
        }
        line += len;
    }
    *w = '\0';
}

/*
 * Run `shmap ARGS...` (up to a NULL) as @p r says; its standard error into *err (to free).
 * The child keeps only descriptors 0, 1 and 2: the runner's log and anything else this
 * test holds would count against a descriptor limit. Returns the exit status, or 128+N if
 * signal N ended it.
 */
static int run_limited(const struct run *r, char **err, ...)
{
    const char *argv[32] = {test_shmap_bin()};
    int argc = 1;
    va_list ap;
    va_start(ap, err);
    for (const char *a; (a = va_arg(ap, const char *));) {
        CHECK(argc < 31);
        argv[argc++] = a;
    }
    va_end(ap);
    argv[argc] = NULL;
    int p[2];
    CHECK(pipe(p) == 0);
    pid_t pid = util_spawn();
    if (pid == 0) {
        if (r->no_proc && (unshare(CLONE_NEWNS) < 0 ||
                           mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
                           umount2("/proc", MNT_DETACH) < 0))
            _exit(SETUP_FAILED);
        int in = open("/dev/null", O_RDONLY);
        int out = r->out ? open(r->out, r->out_flags, 0600) : open("/dev/null", O_WRONLY);
        if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(p[1], 2) < 0)
            _exit(SETUP_FAILED);
        for (int fd = 3; fd < 1024; fd++)
            close(fd);
        if (r->nobody)
            util_become_nobody();
#ifdef UTIL_ASAN
        /* LeakSanitizer makes a thread at exit, which a process limit refuses, and reads
         * /proc to find it. */
        if (r->resource == RLIMIT_NPROC || r->no_proc)
            setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
#endif
        struct rlimit rl = {r->limit, r->limit};
        if (r->resource >= 0 && setrlimit(r->resource, &rl) < 0)
            _exit(SETUP_FAILED);
        execv(argv[0], (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(SETUP_FAILED);
    }
    close(p[1]);
    char *buf = malloc(1 << 16);
    CHECK(buf != NULL);
    util_read_to_end(p[0], buf, 1 << 16);
    drop_sanitizer_lines(buf);
    *err = buf;
    return test_wait(pid);
}

/* A kept segment of @p bytes (u8), its data made of non-zero bytes. */
static void make_segment(const char *name, uint64_t bytes)
{
    shmap_seg *seg = util_kept_rdwr(name, bytes);
    memset(shmap_data(seg), 0x5a, (size_t)bytes);
    CHECK_OK(shmap_publish(seg));
    CHECK_OK(shmap_close(seg));
}

/* ---------------------------------------------------------------------------------------- */
/* The file size limit (ulimit -f) */

#define FSIZE_LIMIT 65536
#define BIG 262144 /* bytes of data: four times the limit */

/*
 * A write past the limit raised SIGXFSZ, which killed export (exit 153) with no word and,
 * where the file is written in a hidden directory, left that directory. Now the write fails
 * with EFBIG and the export says so, in one line, exit 1, and leaves nothing.
 */
TEST(limits__export_past_the_file_size_limit_says_so_and_leaves_nothing)
{
    const char *name = test_name("fsz");
    make_segment(name, BIG);
    const char *dir = util_test_dir();
    char *err = NULL, want[256];
    struct run r = {RLIMIT_FSIZE, FSIZE_LIMIT, NULL, 0, 0, 0};

    CHECK_EQ_INT(run_limited(&r, &err, "export", name, util_test_path("f.npy"), NULL), 1);
    snprintf(want, sizeof want, "f.npy: exceeds this process's file size limit (ulimit -f) "
                                "of %d bytes: %d bytes to write", FSIZE_LIMIT, BIG + 128);
    CHECK_ERROR_LINE(err, want);
    CHECK_EQ_INT(util_dir_entries(dir), 0);
    free(err);

    CHECK_EQ_INT(run_limited(&r, &err, "export", name, util_test_path("f.raw"), NULL), 1);
    snprintf(want, sizeof want, "f.raw: exceeds this process's file size limit (ulimit -f) "
                                "of %d bytes: %d bytes to write", FSIZE_LIMIT, BIG);
    CHECK_ERROR_LINE(err, want);
    CHECK_EQ_INT(util_dir_entries(dir), 0);
    free(err);

    if (util_fits_built()) {
        CHECK_EQ_INT(run_limited(&r, &err, "export", name, util_test_path("f.fits"), NULL), 1);
        snprintf(want, sizeof want, "f.fits: exceeds this process's file size limit "
                                    "(ulimit -f) of %d bytes: at least ", FSIZE_LIMIT);
        CHECK_ERROR_LINE(err, want);
        CHECK_EQ_INT(util_dir_entries(dir), 0);
        free(err);
    }
    CHECK_OK(shmap_unlink(name));
}

/* Standard output redirected to a file: written as it is (no hidden file), so what made it
 * is said, counting what the file held already when appended to. */
TEST(limits__export_to_standard_output_past_the_file_size_limit_says_so)
{
    const char *name = test_name("fszout");
    make_segment(name, BIG);
    char *err = NULL, want[256];
    const char *path = util_test_path("out.raw");
    struct run r = {RLIMIT_FSIZE, FSIZE_LIMIT, path, O_WRONLY | O_CREAT | O_TRUNC, 0, 0};
    CHECK_EQ_INT(run_limited(&r, &err, "export", name, "-", NULL), 1);
    snprintf(want, sizeof want, "-: exceeds this process's file size limit (ulimit -f) of "
                                "%d bytes: %d bytes to write", FSIZE_LIMIT, BIG);
    CHECK_ERROR_LINE(err, want);
    free(err);

    /* >> path: 1000 bytes there already, and /dev/stdout names the descriptor. */
    char head[1000];
    memset(head, 'h', sizeof head);
    util_write_file(path, head, sizeof head);
    r.out_flags = O_WRONLY | O_APPEND;
    CHECK_EQ_INT(run_limited(&r, &err, "export", name, "/dev/stdout", "--format", "raw",
                             NULL), 1);
    snprintf(want, sizeof want, "/dev/stdout: exceeds this process's file size limit "
                                "(ulimit -f) of %d bytes: %d bytes to write after the 1000 "
                                "already in it", FSIZE_LIMIT, BIG);
    CHECK_ERROR_LINE(err, want);
    free(err);

    /* Any command's standard output: cat's text of the same data. */
    r.out_flags = O_WRONLY | O_CREAT | O_TRUNC;
    CHECK_EQ_INT(run_limited(&r, &err, "cat", name, NULL), 1);
    snprintf(want, sizeof want, "shmap: %s: cannot write to standard output: exceeds this "
                                "process's file size limit (ulimit -f) of %d bytes\n", name,
             FSIZE_LIMIT);
    CHECK_STR(err, want);
    free(err);
    CHECK_OK(shmap_unlink(name));
}

/*
 * Without /proc the unnamed file cannot be named, and the file is written in a hidden
 * directory beside FILE (.FILE.shmap-XXXXXX): SIGXFSZ left it there, half written. The
 * failed write now removes it, for .npy and FITS (which CFITSIO writes by name there).
 */
TEST(limits__export_in_a_hidden_directory_past_the_file_size_limit_leaves_nothing)
{
    if (geteuid() != 0)
        TEST_SKIP("unmounting /proc in a mount namespace of its own needs root");
    const char *name = test_name("fszdir");
    make_segment(name, BIG);
    const char *dir = util_test_dir();
    char *err = NULL;
    struct run r = {RLIMIT_FSIZE, FSIZE_LIMIT, NULL, 0, 0, 1};
    int fits = util_fits_built();
    static const char *const leaves[] = {"d.npy", "d.fits"};
    for (int i = 0; i < 1 + fits; i++) {
        int rc = run_limited(&r, &err, "export", name, util_test_path(leaves[i]), NULL);
        if (rc == SETUP_FAILED)
            TEST_SKIP("cannot unmount /proc in a mount namespace here: %s", err);
        if (rc != 1)
            test_fail(__FILE__, __LINE__, "export to %s exited %d: %s", leaves[i], rc, err);
        CHECK_ERROR_LINE(err, "exceeds this process's file size limit (ulimit -f)");
        CHECK_CONTAINS(err, leaves[i]);
        CHECK_EQ_INT(util_dir_entries(dir), 0);
        free(err);
    }
    CHECK_OK(shmap_unlink(name));
}

/* ---------------------------------------------------------------------------------------- */
/* A full file system */

#define FULL_DATA 2097152 /* bytes of data, for a 1 MiB file system */

static const char *full_segment;

/* Bytes free on @p mnt for root, as the command counts them, and its real path. */
static unsigned long long free_bytes(const char *mnt, char *real)
{
    struct statvfs vfs;
    CHECK(statvfs(mnt, &vfs) == 0);
    CHECK(realpath(mnt, real) != NULL);
    return (unsigned long long)vfs.f_bfree * vfs.f_frsize;
}

static void export_to_a_full_file_system(const char *mnt)
{
    char real[PATH_MAX], path[PATH_MAX + 16], want[PATH_MAX + 256], *err = NULL;
    unsigned long long avail = free_bytes(mnt, real);
    struct run r = {-1, 0, NULL, 0, 0, 0};

    snprintf(path, sizeof path, "%s/b.npy", mnt);
    CHECK_EQ_INT(run_limited(&r, &err, "export", full_segment, path, NULL), 1);
    snprintf(want, sizeof want, "b.npy: No space left on device: %d bytes to write, %llu "
                                "bytes free in %s\n", FULL_DATA + 128, avail, real);
    CHECK_ERROR_LINE(err, want);
    CHECK_EQ_INT(util_dir_entries(mnt), 0);
    free(err);

    if (util_fits_built()) {
        snprintf(path, sizeof path, "%s/b.fits", mnt);
        CHECK_EQ_INT(run_limited(&r, &err, "export", full_segment, path, NULL), 1);
        /* The data in blocks of 2880 bytes, and one header block. */
        snprintf(want, sizeof want, "b.fits: No space left on device: at least %d bytes to "
                                    "write, %llu bytes free in %s\n",
                 (FULL_DATA / 2880 + 2) * 2880, avail, real);
        CHECK_ERROR_LINE(err, want);
        CHECK_EQ_INT(util_dir_entries(mnt), 0);
        free(err);
    }

    /* Standard output into a file there. */
    snprintf(path, sizeof path, "%s/s.raw", mnt);
    r.out = path;
    r.out_flags = O_WRONLY | O_CREAT | O_TRUNC;
    CHECK_EQ_INT(run_limited(&r, &err, "export", full_segment, "-", NULL), 1);
    snprintf(want, sizeof want, "-: No space left on device: %d bytes to write, %llu bytes "
                                "free in %s\n", FULL_DATA, avail, real);
    CHECK_ERROR_LINE(err, want);
    free(err);
    CHECK(unlink(path) == 0);
}

/* "No space left on device" said alone: now with the bytes to write and those free. */
TEST(limits__export_to_a_full_file_system_gives_the_bytes_to_write_and_free)
{
    full_segment = test_name("full");
    make_segment(full_segment, FULL_DATA);
    util_with_tmpfs(export_to_a_full_file_system, "1m");
    CHECK_OK(shmap_unlink(full_segment));
}

/* ---------------------------------------------------------------------------------------- */
/* Too many open files (ulimit -n) */

/* CFITSIO opens the file a second time; with no descriptor left that failed as "not a
 * FITS file CFITSIO can read: could not open the named file". */
TEST(limits__fits_import_out_of_descriptors_names_the_limit)
{
    if (!util_fits_built())
        TEST_SKIP("shmap is built without CFITSIO (install libcfitsio-dev)");
    const char *a = test_name("nofa"), *b = test_name("nofb");
    make_segment(a, 4096);
    const char *path = util_test_path("n.fits");
    char *out = NULL, *err = NULL;
    RUN(0, "export", a, path);
    /* 0, 1, 2 and the file itself: no room for CFITSIO's open. */
    struct run r = {RLIMIT_NOFILE, 4, NULL, 0, 0, 0};
    util_clear(&out, &err);
    CHECK_EQ_INT(run_limited(&r, &err, "import", path, b, NULL), 1);
    CHECK_ERROR_LINE(err, "n.fits: cannot open it again for CFITSIO: Too many open files "
                          "(this process's limit, ulimit -n, is 4)");
    CHECK(!util_shm_exists(b));
    CHECK_EQ_INT(util_count_hidden(b), 0);
    free(err);
    CHECK_OK(shmap_unlink(a));
}

/* ---------------------------------------------------------------------------------------- */
/* The process limit (ulimit -u) */

/* "shmap: lock: cannot fork: Resource temporarily unavailable" named neither the segment
 * nor the limit. The lock is given back, and the command exits 1. */
TEST(limits__lock_that_cannot_fork_names_the_segment_and_the_process_limit)
{
    /* Root is not held to RLIMIT_NPROC: the child runs as nobody then. Another user is
     * held to it, and already runs more than one process (this test). */
    int as_nobody = geteuid() == 0;
    const char *name = test_name("nproc");
    make_segment(name, 8);
    char path[SHMAP_NAME_MAX + 16];
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    CHECK(chmod(path, 0666) == 0);
    char *err = NULL, want[256];
    struct run r = {RLIMIT_NPROC, 1, NULL, 0, as_nobody, 0};
    int rc = run_limited(&r, &err, "lock", name, "--", "true", NULL);
    if (rc == SETUP_FAILED && as_nobody)
        TEST_SKIP("cannot run the command as nobody here: %s", err);
    if (rc != 1)
        test_fail(__FILE__, __LINE__, "lock exited %d: %s", rc, err);
    snprintf(want, sizeof want, "%s: cannot run 'true': fork: %s (this user's process "
                                "limit, ulimit -u, is 1)\n", name, strerror(EAGAIN));
    CHECK_ERROR_LINE(err, want);
    free(err);
    /* The lock was given back. */
    shmap_seg *seg;
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDWR));
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 0));
    CHECK_OK(shmap_unlock(seg));
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(name));
}

/* ---------------------------------------------------------------------------------------- */
/* A signal while a large segment's memory is reserved */

/* 256 MiB: reserving it takes tens of ms here, time enough to be caught in the middle. */
#define RESERVE_BYTES "268435456"

/* The first hidden object of a creation (".shmap-tmp-") in @p dir into @p buf; 1 if any. */
static int find_hidden(const char *dir, char *buf, size_t size)
{
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    int found = 0;
    for (struct dirent *e; !found && (e = readdir(d));) {
        if (strncmp(e->d_name, ".shmap-tmp-", 11) == 0) {
            snprintf(buf, size, "%s", e->d_name);
            found = 1;
        }
    }
    closedir(d);
    return found;
}

/* Whether segment @p name exists whole; removed if it does. */
static int remove_if_made(const char *name)
{
    shmap_info info;
    if (shmap_stat(name, &info) != 0)
        return 0;
    CHECK_OK(shmap_unlink(name));
    return 1;
}

/*
 * Start `shmap create NAME u8 256 MiB` (or, with @p npy, `shmap import NPY NAME` of a file of
 * that size) and send it @p sig once its hidden object exists in @p dir: in the middle of the
 * reservation. It must die of that signal, after one line saying it was interrupted, leaving
 * nothing in @p dir. A segment that was whole before the signal came (a fast or busy
 * machine) is tried again.
 */
static void interrupt_making(const char *dir, const char *name, int sig, const char *npy)
{
    const char *what = npy ? "import" : "create";
    for (int attempt = 0; attempt < 5; attempt++) {
        int p[2];
        CHECK(pipe(p) == 0);
        pid_t pid = util_spawn();
        if (pid == 0) {
            dup2(p[1], 2);
            close(p[0]);
            close(p[1]);
            if (npy)
                execl(test_shmap_bin(), test_shmap_bin(), "import", npy, name, (char *)NULL);
            else
                execl(test_shmap_bin(), test_shmap_bin(), "create", name, "u8", RESERVE_BYTES,
                      (char *)NULL);
            _exit(127);
        }
        close(p[1]);
        char hidden[NAME_MAX + 1];
        int seen = 0;
        double deadline = util_now_s() + 10;
        siginfo_t si;
        for (;;) {
            if ((seen = find_hidden(dir, hidden, sizeof hidden)) || util_now_s() > deadline)
                break;
            /* Ended already? (Left to be reaped below.) */
            si.si_pid = 0;
            CHECK(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0);
            if (si.si_pid == pid)
                break;
            usleep(500);
        }
        if (seen)
            kill(pid, sig);
        char err[4096];
        util_read_to_end(p[0], err, sizeof err);
        int rc = test_wait(pid);
        if (remove_if_made(name))
            continue; /* whole before the signal came, which then ended nothing half made */
        if (!seen)
            test_fail(__FILE__, __LINE__, "%s exited %d, made nothing: %s", what, rc, err);
        if (rc != 128 + sig)
            test_fail(__FILE__, __LINE__, "%s exited %d, not by signal %d: %s", what, rc, sig,
                      err);
        if (util_dir_entries(dir) != 0)
            test_fail(__FILE__, __LINE__, "signal %d left %s behind (%s exited %d: %s)", sig,
                      find_hidden(dir, hidden, sizeof hidden) ? hidden : "an object", what,
                      rc, err);
        char want[PATH_MAX + 64];
        snprintf(want, sizeof want, "%s: interrupted\n", name);
        CHECK_ERROR_LINE(err, want);
        return;
    }
    test_fail(__FILE__, __LINE__, "the %s was never caught in the middle", what);
}

static void interrupt_posix_creates(void)
{
    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        interrupt_making("/dev/shm", test_name("big"), sigs[i], NULL);
}

/* A signal during the reservation killed create there, leaving .shmap-tmp-PID-N-NAME with
 * what was reserved so far. */
TEST(limits__create_stopped_by_a_signal_while_reserving_leaves_nothing)
{
    /* A private 1 GiB /dev/shm over the real one, which no other test then sees filled. */
    util_with_private_dev_shm("size=1g,mode=1777", interrupt_posix_creates);
}

static void interrupt_file_create(const char *mnt)
{
    char name[PATH_MAX + 16];
    snprintf(name, sizeof name, "file:%s/big.shm", mnt);
    interrupt_making(mnt, name, SIGTERM, NULL);
}

/* The same beside a file: segment, where gc does not look. */
TEST(limits__create_of_a_file_stopped_by_a_signal_while_reserving_leaves_nothing)
{
    util_with_tmpfs(interrupt_file_create, "1g");
}

/* A .npy file of RESERVE_BYTES u8 zeros, sparse: its data costs nothing until read. */
static void interrupt_imports(void)
{
    char npy[PATH_MAX], head[128];
    snprintf(npy, sizeof npy, "%s", util_test_path("big.npy"));
    int len = snprintf(head, sizeof head, "\x93NUMPY\x01%c%c%c{'descr': '|u1', "
                       "'fortran_order': False, 'shape': (%s,), }", 0, 0, 0, RESERVE_BYTES);
    memset(head + len, ' ', sizeof head - (size_t)len);
    head[8] = (char)(sizeof head - 10);
    head[sizeof head - 1] = '\n';
    int fd = open(npy, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    CHECK(write(fd, head, sizeof head) == (ssize_t)sizeof head);
    CHECK(ftruncate(fd, (off_t)sizeof head + atoll(RESERVE_BYTES)) == 0);
    close(fd);
    static const int sigs[] = {SIGTERM, SIGINT};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        interrupt_making("/dev/shm", test_name("bignpy"), sigs[i], npy);
    unlink(npy);
}

/* A signal during the import's reservation made it exit 1, "cannot reserve": an import
 * ends as the signal would have, as a create does, having left nothing. */
TEST(limits__import_stopped_by_a_signal_while_reserving_dies_of_it_leaving_nothing)
{
    util_with_private_dev_shm("size=1g,mode=1777", interrupt_imports);
}
