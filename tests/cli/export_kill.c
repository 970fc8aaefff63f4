/*
 * shmap export leaves FILE whole or as it was, and nothing else beside it: killed (kill -9)
 * in the middle of writing, replacing FILE with --force, finding a FILE that appeared
 * meanwhile. On a file system without O_TMPFILE (made here by a seccomp filter that
 * refuses O_TMPFILE as such a file system does) it falls back to a hidden directory,
 * which a SIGTERM still removes. (Other signals: io__an_export_stopped_by_a_signal...)
 *
 * "In the middle of writing" is seen from outside: the export's descriptors, in
 * /proc/PID/fd, lead to a file in FILE's directory (an unnamed one, or one in the hidden
 * directory) that holds part of the data. An export that ends before it is caught, as on a
 * busy machine it may, is tried again.
 *
 * Files live in this test's directory, which a guard process removes however the test
 * ends; segments carry this test's prefix, which the runner removes if a test fails.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "../util.h"

/* The segment a kill must catch in the middle of writing: large enough that writing it
 * takes a while (60 ms to a second here), small enough for a machine with little memory.
 * Tests that need no such timing export less, to keep their time down. */
#define BIG ((long long)256 << 20)
#define MID ((long long)64 << 20)

/* What an export of @p n u8 elements writes: .npy (a 128-byte header), or FITS (one
 * 2880-byte header block, the data padded to whole blocks); raw is @p n bytes. */
static long long npy_size(long long n)
{
    return n + 128;
}

static long long fits_size(long long n)
{
    return 2880 + (n + 2879) / 2880 * 2880;
}

/* ---------------------------------------------------------------------------------------- */
/* A file system without O_TMPFILE, by a seccomp filter */

#if defined(__x86_64__)
#define THIS_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define THIS_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

/* The low 32 bits of system call argument i, where the flags of open() are. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i))
#else
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i) + 4)
#endif

/*
 * In a child: have the kernel answer open() and openat() with O_TMPFILE by EOPNOTSUPP,
 * as a file system without it does, for this process and the command it executes next
 * (a seccomp filter stays across exec). 0, or -1 where seccomp filters are not available.
 */
static int deny_tmpfile(void)
{
#ifdef THIS_AUDIT_ARCH
    const unsigned int bit = O_TMPFILE & ~O_DIRECTORY;
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, THIS_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_openat, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(2)),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, bit, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EOPNOTSUPP),
#ifdef __NR_open
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_open, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(1)),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, bit, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EOPNOTSUPP),
#endif
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {(unsigned short)(sizeof code / sizeof code[0]), code};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
        return -1;
    return 0;
#else
    return -1;
#endif
}

/* Skip the test unless deny_tmpfile() works here, which a child tries. */
static void need_deny_tmpfile(void)
{
    pid_t pid = util_spawn();
    if (pid == 0) {
        if (deny_tmpfile() < 0)
            _exit(2);
        int fd = open(util_test_dir(), O_TMPFILE | O_RDWR, 0600);
        _exit(fd < 0 && errno == EOPNOTSUPP ? 0 : 1);
    }
    int rc = test_wait(pid);
    if (rc == 2)
        TEST_SKIP("no seccomp filters here, to refuse O_TMPFILE as some file systems do");
    CHECK_EQ_INT(rc, 0);
}

/* ---------------------------------------------------------------------------------------- */
/* Exports watched from outside */

/*
 * Start `shmap export ARGS...` in a child, the arguments in @p ap up to a NULL; with
 * @p no_tmpfile under deny_tmpfile(). Its stderr goes into a pipe whose reading end is
 * *errfd (to read once it has ended), or with @p errfd NULL to /dev/null.
 */
static pid_t start_export_v(int no_tmpfile, int *errfd, va_list ap)
{
    const char *argv[16] = {"shmap", "export"};
    int argc = 2;
    for (const char *a; (a = va_arg(ap, const char *));) {
        CHECK(argc < 15);
        argv[argc++] = a;
    }
    argv[argc] = NULL;
    int p[2] = {-1, -1};
    if (errfd)
        CHECK(pipe2(p, O_CLOEXEC) == 0);
    pid_t pid = util_spawn();
    if (pid == 0) {
        int fd = errfd ? p[1] : open("/dev/null", O_WRONLY);
        if (fd < 0 || dup2(fd, 2) < 0 || (no_tmpfile && deny_tmpfile() < 0))
            _exit(126);
        execv(test_shmap_bin(), (char *const *)argv);
        _exit(127);
    }
    if (errfd) {
        close(p[1]);
        *errfd = p[0];
    }
    return pid;
}

__attribute__((sentinel)) static pid_t start_export(int no_tmpfile, int *errfd, ...)
{
    va_list ap;
    va_start(ap, errfd);
    pid_t pid = start_export_v(no_tmpfile, errfd, ap);
    va_end(ap);
    return pid;
}

/* Run `shmap export ARGS...` under deny_tmpfile() to its end: its exit status, and its
 * stderr into @p err. */
__attribute__((sentinel)) static int export_no_tmpfile(char *err, size_t size, ...)
{
    int fd;
    va_list ap;
    va_start(ap, size);
    pid_t pid = start_export_v(1, &fd, ap);
    va_end(ap);
    int rc = test_wait(pid);
    util_read_to_end(fd, err, size);
    return rc;
}

/* Whether this test's child @p pid has ended; it is left to test_wait() to reap. */
static int ended(pid_t pid)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid;
}

/* The size of the file process @p pid has open in directory @p dir or below (an unnamed
 * file, "DIR/#INODE (deleted)", or one in a hidden directory); -1 if it has none. */
static long long open_file_size(pid_t pid, const char *dir)
{
    char fds[64];
    snprintf(fds, sizeof fds, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(fds);
    if (!d)
        return -1;
    size_t len = strlen(dir);
    long long size = -1;
    for (struct dirent *e; size < 0 && (e = readdir(d));) {
        char link[400], target[PATH_MAX];
        snprintf(link, sizeof link, "%s/%s", fds, e->d_name);
        ssize_t n = e->d_name[0] == '.' ? -1 : readlink(link, target, sizeof target - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        struct stat st;
        if (strncmp(target, dir, len) == 0 && target[len] == '/' && stat(link, &st) == 0 &&
            S_ISREG(st.st_mode))
            size = st.st_size;
    }
    closedir(d);
    return size;
}

/*
 * Wait until export @p pid has a file open in @p dir holding part of the data: more than
 * none and fewer than @p max bytes. That size; or -1 once the export has ended without
 * being seen so. Polled every 0.2 ms, for 20 s at most (CHECKs).
 */
static long long wait_writing(pid_t pid, const char *dir, long long max)
{
    double give_up = util_now_s() + 20;
    for (;;) {
        long long size = open_file_size(pid, dir);
        if (size > 0 && size < max)
            return size;
        if (ended(pid))
            return -1;
        CHECK(util_now_s() < give_up);
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
}

static long long file_size(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* The entry of a directory that holds one; CHECKs that it holds exactly one. */
static void only_entry(const char *dir, char *name, size_t size)
{
    CHECK_EQ_INT(util_dir_entries(dir), 1);
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            snprintf(name, size, "%s", e->d_name);
    closedir(d);
}

/* A u8 segment of @p n elements, all 7. */
static const char *make_seg(const char *suffix, long long n)
{
    char *out = NULL, *err = NULL, count[32];
    const char *name = test_name(suffix);
    snprintf(count, sizeof count, "%lld", n);
    RUN(0, "create", name, "u8", count);
    RUN(0, "fill", name, "7");
    util_clear(&out, &err);
    return name;
}

/* ---------------------------------------------------------------------------------------- */
/* kill -9 */

/*
 * Export @p name to @p leaf (of @p whole bytes when complete) and kill -9 it once part of
 * the data is written; the directory must then be empty. An export that ends first, or
 * is killed just after it put FILE in place, leaves FILE whole, and is tried again.
 */
static void kill_mid_write(const char *name, const char *leaf, long long whole)
{
    const char *dir = util_test_dir();
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", util_test_path(leaf));
    for (int attempt = 0;; attempt++) {
        if (attempt == 10)
            test_fail(__FILE__, __LINE__, "%s: in 10 exports, none was seen writing", leaf);
        pid_t pid = start_export(0, NULL, name, path, NULL);
        int seen = wait_writing(pid, dir, BIG) > 0;
        if (seen)
            kill(pid, SIGKILL);
        int rc = test_wait(pid);
        if (file_size(path) >= 0) {
            CHECK(rc == 0 || rc == 128 + SIGKILL);
            CHECK_EQ_INT(file_size(path), whole);
            CHECK_EQ_INT(util_dir_entries(dir), 1);
            CHECK(unlink(path) == 0);
            continue;
        }
        CHECK(seen);
        CHECK_EQ_INT(rc, 128 + SIGKILL);
        if (util_dir_entries(dir) != 0) {
            char left[256];
            only_entry(dir, left, sizeof left);
            test_fail(__FILE__, __LINE__, "%s: a kill -9 left %s behind", leaf, left);
        }
        return;
    }
}

TEST(export__a_kill_9_in_the_middle_of_writing_leaves_nothing_behind)
{
    /* Where the test directory's file system has no unnamed files, export falls back to a
     * hidden directory, which a kill -9 leaves (the fallback test covers that way). */
    int probe = open(util_test_dir(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (probe < 0)
        test_skip("%s has no O_TMPFILE (%s): export uses its hidden directory there",
                  util_test_dir(), strerror(errno));
    close(probe);
    const char *name = make_seg("big", BIG);
    kill_mid_write(name, "out.npy", npy_size(BIG));
    kill_mid_write(name, "out.raw", BIG);
    if (util_fits_built())
        kill_mid_write(name, "out.fits", fits_size(BIG));
    CHECK_OK(shmap_unlink(name));
}

/* ---------------------------------------------------------------------------------------- */
/* Replacing, or not */

/*
 * --force replaces FILE at once: watched all along, FILE is the old file or the whole new
 * one, never missing, never part-written; a descriptor open on the old one still reads
 * the old bytes (FILE was replaced, not written over); nothing else is left.
 */
TEST(export__force_replaces_file_atomically)
{
    const char *name = make_seg("mid", MID), *dir = util_test_dir();
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", util_test_path("out.npy"));
    util_write_file(path, "precious", 8);
    int old = open(path, O_RDONLY | O_CLOEXEC);
    CHECK(old >= 0);
    pid_t pid = start_export(0, NULL, name, path, "--force", NULL);
    while (!ended(pid)) {
        long long size = file_size(path);
        if (size != 8 && size != npy_size(MID))
            test_fail(__FILE__, __LINE__, "FILE seen with %lld bytes", size);
    }
    CHECK_EQ_INT(test_wait(pid), 0);
    CHECK_EQ_INT(file_size(path), npy_size(MID));
    CHECK_EQ_INT(util_dir_entries(dir), 1);
    char buf[16] = "";
    CHECK_EQ_INT(pread(old, buf, sizeof buf, 0), 8);
    CHECK(memcmp(buf, "precious", 8) == 0);
    close(old);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    CHECK_EQ_INT(pread(fd, buf, 6, 0), 6);
    CHECK(memcmp(buf, "\x93NUMPY", 6) == 0);
    CHECK_EQ_INT(pread(fd, buf, 1, npy_size(MID) - 1), 1);
    CHECK_EQ_INT(buf[0], 7);
    close(fd);
    CHECK_OK(shmap_unlink(name));
}

/*
 * A FILE made while the export writes (after the check that FILE is not there) is never
 * replaced without --force: the export fails with the usual line and FILE keeps what its
 * maker wrote. With --force it is replaced. Nothing else is left either way.
 */
TEST(export__a_file_that_appears_meanwhile_is_replaced_only_with_force)
{
    const char *name = make_seg("mid", MID), *dir = util_test_dir();
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", util_test_path("out.raw"));
    for (int force = 0; force < 2; force++) {
        for (int attempt = 0;; attempt++) {
            CHECK(attempt < 10);
            int errfd;
            pid_t pid = start_export(0, &errfd, name, path, force ? "--force" : NULL, NULL);
            int made = -1;
            if (wait_writing(pid, dir, MID) > 0)
                made = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
            if (made >= 0) {
                CHECK_EQ_INT(write(made, "mine", 4), 4);
                close(made);
            }
            int rc = test_wait(pid);
            char err[1024];
            util_read_to_end(errfd, err, sizeof err);
            if (made < 0) { /* the export was first: again */
                CHECK_EQ_INT(rc, 0);
                CHECK(unlink(path) == 0);
                continue;
            }
            if (force) {
                CHECK_EQ_INT(rc, 0);
                CHECK_EQ_INT(file_size(path), MID);
            } else {
                CHECK_EQ_INT(rc, 1);
                CHECK_ERROR_LINE(err, "out.raw: exists: give --force to replace it");
                CHECK_EQ_INT(file_size(path), 4);
            }
            CHECK_EQ_INT(util_dir_entries(dir), 1);
            CHECK(unlink(path) == 0);
            break;
        }
    }
    CHECK_OK(shmap_unlink(name));
}

/* ---------------------------------------------------------------------------------------- */
/* Without O_TMPFILE: the hidden directory */

/*
 * Where the file system has no O_TMPFILE, the export writes under a hidden directory
 * beside FILE and renames the file into place: FILE comes whole, an existing one is
 * refused without --force and replaced with it, FITS too, and nothing else is left. The
 * hidden directory is seen while a large export writes, and goes with a SIGTERM then.
 */
TEST(export__without_o_tmpfile_writes_under_a_hidden_directory)
{
    need_deny_tmpfile();
    const char *small = make_seg("small", 100000), *dir = util_test_dir();
    char path[PATH_MAX], entry[256], err[1024];
    snprintf(path, sizeof path, "%s", util_test_path("out.npy"));
    CHECK_EQ_INT(export_no_tmpfile(err, sizeof err, small, path, NULL), 0);
    CHECK_STR(err, "");
    CHECK_EQ_INT(file_size(path), npy_size(100000));
    CHECK_EQ_INT(util_dir_entries(dir), 1);
    /* An existing FILE: refused and left as it is, or replaced with --force. */
    util_write_file(path, "precious", 8);
    CHECK_EQ_INT(export_no_tmpfile(err, sizeof err, small, path, NULL), 1);
    CHECK_ERROR_LINE(err, "out.npy: exists: give --force to replace it");
    CHECK_EQ_INT(file_size(path), 8);
    CHECK_EQ_INT(util_dir_entries(dir), 1);
    CHECK_EQ_INT(export_no_tmpfile(err, sizeof err, small, path, "--force", NULL), 0);
    CHECK_EQ_INT(file_size(path), npy_size(100000));
    CHECK_EQ_INT(util_dir_entries(dir), 1);
    CHECK(unlink(path) == 0);
    if (util_fits_built()) {
        snprintf(path, sizeof path, "%s", util_test_path("out.fits"));
        CHECK_EQ_INT(export_no_tmpfile(err, sizeof err, small, path, NULL), 0);
        CHECK_EQ_INT(file_size(path), fits_size(100000));
        CHECK_EQ_INT(util_dir_entries(dir), 1);
        CHECK(unlink(path) == 0);
    }
    /* Seen writing in the hidden directory; a SIGTERM then removes it. */
    const char *big = make_seg("big", BIG);
    snprintf(path, sizeof path, "%s", util_test_path("out.npy"));
    for (int attempt = 0;; attempt++) {
        CHECK(attempt < 10);
        pid_t pid = start_export(1, NULL, big, path, NULL);
        int seen = wait_writing(pid, dir, BIG) > 0;
        if (seen) {
            only_entry(dir, entry, sizeof entry);
            kill(pid, SIGTERM);
        }
        int rc = test_wait(pid);
        if (file_size(path) >= 0) { /* it ended first: again */
            CHECK(unlink(path) == 0);
            continue;
        }
        CHECK(seen);
        CHECK(strncmp(entry, ".out.npy.shmap-", 15) == 0 && strlen(entry) == 21);
        CHECK_EQ_INT(rc, 128 + SIGTERM);
        CHECK_EQ_INT(util_dir_entries(dir), 0);
        break;
    }
    CHECK_OK(shmap_unlink(small));
    CHECK_OK(shmap_unlink(big));
}
