/*
 * shmap export and import with a FILE that names a descriptor: /dev/stdout, /dev/stdin,
 * /dev/fd/N, /proc/self/fd/N, /proc/PID/fd/N, or a link that leads to one. Linux shows
 * each as a link to the descriptor's open file, so these names must be written through
 * (as a shell's `>` would), never taken for a file to replace: replacing /dev/stdout would
 * break every later `> /dev/stdout` on the machine. Sockets, which Linux cannot open by
 * name, are written and read through the descriptor that holds them.
 *
 * Files live in this test's directory, which a guard process removes however the test
 * ends; segments carry this test's prefix, which the runner removes if a test fails.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "../util.h"

/* The raw bytes of a u16 2x2 ramp: what every export here writes. */
static const uint16_t ramp[4] = {0, 1, 2, 3};

/* A file holds the ramp's raw bytes, @p times over. */
static void check_raw(const char *path, int times, int line)
{
    size_t len;
    unsigned char *b = util_read_file(path, &len);
    int ok = len == times * sizeof ramp;
    for (int i = 0; ok && i < times; i++)
        ok = memcmp(b + i * sizeof ramp, ramp, sizeof ramp) == 0;
    free(b);
    if (!ok)
        test_fail(__FILE__, line, "%s holds %zu bytes, not the ramp %d times", path, len,
                  times);
}
#define CHECK_RAW(path, times) check_raw((path), (times), __LINE__)

/*
 * Shell text that waits (10 s at most) until process $p's descriptor (the first %s) leads
 * to the file (the second %s), so that its redirection is in place; the holder started
 * with `&` may not have made it yet when the shell goes on.
 */
#define HOLDER_READY                                                                          \
    "i=0; while [ \"$(readlink /proc/$p/fd/%s)\" != '%s' ] && [ $i -lt 1000 ]; do "           \
    "sleep 0.01; i=$((i+1)); done; "

static const char *make_ramp(void)
{
    char *out = NULL, *err = NULL;
    const char *name = test_name("src");
    RUN(0, "create", name, "u16", "2", "2");
    RUN(0, "fill", name, "ramp");
    util_clear(&out, &err);
    return name;
}

TEST(io__export_to_dev_stdout_writes_where_standard_output_is_redirected)
{
    char *out = NULL, *err = NULL;
    const char *name = make_ramp(), *bin = test_shmap_bin();
    /* Standard output redirected to a regular file: /dev/stdout leads to that file. */
    CHECK_EQ_INT(test_sh(&out, &err, "'%s' export %s /dev/stdout --format raw > '%s'", bin,
                         name, util_test_path("out.raw")), 0);
    CHECK_STR(err, "");
    CHECK_RAW(util_test_path("out.raw"), 1);
    /* --force changes nothing for a descriptor: there is no file to replace. */
    CHECK_EQ_INT(test_sh(&out, &err, "'%s' export %s /dev/stdout --force --format raw > '%s'",
                         bin, name, util_test_path("out.raw")), 0);
    CHECK_RAW(util_test_path("out.raw"), 1);
    /* .npy by the format option, read back by import. */
    CHECK_EQ_INT(test_sh(&out, &err, "'%s' export %s /dev/stdout --format npy > '%s'", bin,
                         name, util_test_path("out.npy")), 0);
    const char *back = test_name("back");
    RUN(0, "import", util_test_path("out.npy"), back);
    RUN(0, "cat", back);
    CHECK_STR(out, "0 1\n2 3\n");
    CHECK_OK(shmap_unlink(back));
    /* /dev/fd/N and /proc/self/fd/N: the descriptor as the shell opened it, appending
     * with >>. */
    CHECK_EQ_INT(test_sh(&out, &err, "'%s' export %s /dev/fd/3 --format raw 3> '%s' && "
                         "'%s' export %s /proc/self/fd/3 --format raw 3>> '%s'", bin, name,
                         util_test_path("fd3.raw"), bin, name, util_test_path("fd3.raw")), 0);
    CHECK_RAW(util_test_path("fd3.raw"), 2);
    /* A link of one's own to a descriptor is written through too, --force or not, and
     * stays a link. */
    const char *link = util_test_path("link.raw");
    CHECK(symlink("/proc/self/fd/1", link) == 0);
    CHECK_EQ_INT(test_sh(&out, &err, "'%s' export %s '%s' --force > '%s'", bin, name, link,
                         util_test_path("via.raw")), 0);
    CHECK_RAW(util_test_path("via.raw"), 1);
    struct stat st;
    CHECK(lstat(link, &st) == 0 && S_ISLNK(st.st_mode));
    /* A descriptor that is not open, or open for reading only, is one clear line. */
    RUN(1, "export", name, "/dev/fd/9");
    CHECK_ERROR_LINE(err, "/dev/fd/9: descriptor 9 is not open");
    CHECK_EQ_INT(test_sh(&out, &err, "'%s' export %s /dev/stdin < '%s'", bin, name,
                         util_test_path("out.raw")), 1);
    CHECK_ERROR_LINE(err, "/dev/stdin: descriptor 0 is open for reading only");
    /* A regular file behind another process's descriptor is an existing file: written
     * over with --force, emptied first. The holder's redirection is waited for: until
     * then, /proc/$p/fd/1 is still this test's own standard output. */
    util_write_file(util_test_path("other.raw"), "old old old old old", 19);
    CHECK_EQ_INT(test_sh(&out, &err, "sleep 30 >> '%s' 2>/dev/null & p=$!; " HOLDER_READY
                         "'%s' export %s /proc/$p/fd/1 --format raw --force; rc=$?; kill $p; "
                         "exit $rc", util_test_path("other.raw"), "1", util_test_path("other.raw"),
                         bin, name), 0);
    CHECK_RAW(util_test_path("other.raw"), 1);
    /* out.raw out.npy fd3.raw link.raw via.raw other.raw: nothing hidden beside them. */
    CHECK_EQ_INT(util_dir_entries(util_test_dir()), 6);
    CHECK_OK(shmap_unlink(name));
    util_clear(&out, &err);
}

/*
 * What the audit saw as root: `export NAME /dev/stdout --force > out` replaced the link
 * /dev/stdout with a regular file and left `out` empty. Shown in a private mount namespace
 * with a /dev of its own, so the machine's /dev is never at stake, even with a shmap that
 * has the fault. Root only (mounts), with a file: segment (this /dev has no shm).
 */
TEST(io__export_to_dev_stdout_with_force_never_replaces_the_link)
{
    if (geteuid() != 0)
        TEST_SKIP("needs root for a private mount namespace");
    char *out = NULL, *err = NULL;
    if (test_sh(&out, &err, "unshare -m --propagation private true") != 0)
        TEST_SKIP("unshare -m does not work here: %s", err ? err : "");
    char seg[600];
    snprintf(seg, sizeof seg, "file:%s", util_test_path("seg.shm"));
    RUN(0, "create", seg, "u16", "2", "2");
    RUN(0, "fill", seg, "ramp");
    CHECK_EQ_INT(test_sh(&out, &err, "unshare -m --propagation private sh -c '"
                         "mount -t tmpfs -o size=1m tmpfs /dev && "
                         "ln -s /proc/self/fd/1 /dev/stdout && "
                         "\"$0\" export \"$1\" /dev/stdout --force --format raw > \"$2\"; "
                         "echo rc=$?; ls /dev; test -L /dev/stdout && echo link || "
                         "echo replaced' '%s' '%s' '%s'",
                         test_shmap_bin(), seg, util_test_path("out.raw")), 0);
    CHECK_STR(out, "rc=0\nstdout\nlink\n");
    CHECK_RAW(util_test_path("out.raw"), 1);
    RUN(0, "rm", seg);
    util_clear(&out, &err);
}

/* A FILE in /dev that is no device is refused: it would stand for one. */
TEST(io__export_makes_no_file_in_dev)
{
    char *out = NULL, *err = NULL;
    const char *name = make_ramp();
    char path[300];
    snprintf(path, sizeof path, "/dev/%s.npy", test_name("x"));
    int rc = test_cli(&out, &err, NULL, "export", name, path, NULL);
    int made = access(path, F_OK) == 0;
    unlink(path); /* a shmap with the fault made it */
    CHECK(!made);
    CHECK_EQ_INT(rc, 1);
    CHECK_ERROR_LINE(err, "export makes no file in /dev");
    CHECK_CONTAINS(err, "give - for standard output");
    CHECK_OK(shmap_unlink(name));
    util_clear(&out, &err);
}

/* Run the shmap command with @p in as standard input and @p outfd as standard output
 * (-1: /dev/null), stderr into *err; its exit status. */
static int run_fds(int in, int outfd, char **err, char *const *args)
{
    int ep[2];
    CHECK(pipe(ep) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(in >= 0 ? in : null, 0);
        dup2(outfd >= 0 ? outfd : null, 1);
        dup2(ep[1], 2);
        char *argv[16];
        int n = 0;
        argv[n++] = (char *)test_shmap_bin();
        for (; args[n - 1] && n < 15; n++)
            argv[n] = args[n - 1];
        argv[n] = NULL;
        execv(argv[0], argv);
        _exit(127);
    }
    close(ep[1]);
    char buf[4096];
    util_read_to_end(ep[0], buf, sizeof buf);
    free(*err);
    *err = strdup(buf);
    return test_wait(pid);
}

TEST(io__sockets_are_written_and_read_through_the_descriptor_that_holds_them)
{
    char *out = NULL, *err = NULL;
    const char *name = make_ramp();
    /* Standard output a socket: /dev/stdout, /dev/fd/1 and /proc/self/fd/1 are written
     * through it, as - is. */
    static const char *const outs[] = {"/dev/stdout", "/dev/fd/1", "/proc/self/fd/1", "-"};
    for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++) {
        int sv[2];
        CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
        char *args[] = {"export", (char *)name, (char *)outs[i], "--format", "raw", NULL};
        int rc = run_fds(-1, sv[1], &err, args);
        close(sv[1]);
        if (rc != 0)
            test_fail(__FILE__, __LINE__, "export to %s exited %d: %s", outs[i], rc, err);
        unsigned char got[64];
        size_t n = util_read_to_end(sv[0], (char *)got, sizeof got);
        CHECK_EQ_INT(n, sizeof ramp);
        CHECK(memcmp(got, ramp, sizeof ramp) == 0);
    }
    /* Standard input a socket: read through it as - is. */
    const char *npy = util_test_path("r.npy");
    RUN(0, "export", name, npy);
    size_t len;
    unsigned char *file = util_read_file(npy, &len);
    static const char *const ins[] = {"/dev/stdin", "/dev/fd/0", "/proc/self/fd/0", "-"};
    const char *back = test_name("back");
    for (size_t i = 0; i < sizeof ins / sizeof ins[0]; i++) {
        int sv[2];
        CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
        pid_t writer = util_spawn();
        if (writer == 0) {
            close(sv[1]);
            _exit(write(sv[0], file, len) == (ssize_t)len ? 0 : 1);
        }
        close(sv[0]);
        char *args[] = {"import", (char *)ins[i], (char *)back, NULL};
        int rc = run_fds(sv[1], -1, &err, args);
        close(sv[1]);
        CHECK_EQ_INT(test_wait(writer), 0);
        if (rc != 0)
            test_fail(__FILE__, __LINE__, "import from %s exited %d: %s", ins[i], rc, err);
        RUN(0, "cat", back);
        CHECK_STR(out, "0 1\n2 3\n");
        CHECK_OK(shmap_unlink(back));
    }
    free(file);
    /* A socket by its own name is no descriptor of ours: refused, saying what to do. */
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(s >= 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    const char *sock = util_test_path("s.sock");
    CHECK(strlen(sock) < sizeof addr.sun_path);
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock);
    CHECK(bind(s, (struct sockaddr *)&addr, sizeof addr) == 0 && listen(s, 1) == 0);
    RUN(1, "export", name, sock);
    CHECK_ERROR_LINE(err, "s.sock: is a socket, which cannot be opened: give - and redirect "
                          "standard output to it");
    RUN(1, "import", sock, back);
    CHECK_ERROR_LINE(err, "s.sock: is a socket, which cannot be opened: give - and redirect "
                          "standard input from it");
    CHECK(!util_shm_exists(back));
    close(s);
    CHECK_OK(shmap_unlink(name));
    util_clear(&out, &err);
}

TEST(io__export_to_another_process_descriptor_checks_everything_before_it_writes)
{
    char *out = NULL, *err = NULL;
    const char *bin = test_shmap_bin(), *name = make_ramp();
    const char *data = util_test_path("data.txt");
    util_write_file(data, "precious data\n", 14);
    /* A failed export emptied the file behind the descriptor (opened with O_TRUNC before
     * the segment was even looked for); now it is untouched. */
    const char *none = test_name("none");
    CHECK_EQ_INT(test_sh(&out, &err, "sleep 30 3< '%s' & p=$!; " HOLDER_READY
                         "'%s' export %s /proc/$p/fd/3 --force; rc=$?; kill $p; exit $rc",
                         data, "3", data, bin, none), 1);
    CHECK_ERROR_LINE(err, "no such segment");
    size_t len;
    unsigned char *b = util_read_file(data, &len);
    CHECK(len == 14 && memcmp(b, "precious data\n", 14) == 0);
    free(b);
    /* An existing regular file needs --force, as it does by its name. */
    CHECK_EQ_INT(test_sh(&out, &err, "sleep 30 3< '%s' & p=$!; " HOLDER_READY
                         "'%s' export %s /proc/$p/fd/3 --format raw; rc=$?; kill $p; exit $rc",
                         data, "3", data, bin, name), 1);
    CHECK_CONTAINS(err, "give --force to write over it");
    b = util_read_file(data, &len);
    CHECK(len == 14 && memcmp(b, "precious data\n", 14) == 0);
    free(b);
    /* With it, the file holds the data, and nothing of what was longer before. */
    CHECK_EQ_INT(test_sh(&out, &err, "sleep 30 3< '%s' & p=$!; " HOLDER_READY
                         "'%s' export %s /proc/$p/fd/3 --format raw --force; rc=$?; kill $p; "
                         "exit $rc", data, "3", data, bin, name), 0);
    CHECK_RAW(data, 1);
    CHECK_OK(shmap_unlink(name));
    /* The segment's own object behind the descriptor is refused, and stays whole: it was
     * emptied, and the segment lost. */
    char seg[600];
    const char *path = util_test_path("seg.shm");
    snprintf(seg, sizeof seg, "file:%s", path);
    RUN(0, "create", seg, "u16", "2", "2");
    RUN(0, "fill", seg, "ramp");
    struct stat before, after;
    CHECK(stat(path, &before) == 0);
    CHECK_EQ_INT(test_sh(&out, &err, "sleep 30 3< '%s' & p=$!; " HOLDER_READY
                         "'%s' export '%s' /proc/$p/fd/3 --format raw --force; rc=$?; kill $p; "
                         "exit $rc", path, "3", path, bin, seg), 1);
    CHECK_CONTAINS(err, "own object");
    CHECK(stat(path, &after) == 0 && after.st_size == before.st_size);
    RUN(0, "cat", seg);
    CHECK_STR(out, "0 1\n2 3\n");
    RUN(0, "rm", seg);
    util_clear(&out, &err);
}

/* Replaced by its name, with --force, the segment's own object would leave the segment's
 * name to the copy: refused, by any store with a file, and through another hard link. */
TEST(io__export_never_replaces_the_segments_own_object)
{
    char *out = NULL, *err = NULL;
    char seg[600], hard[600];
    const char *path = util_test_path("own.shm");
    snprintf(seg, sizeof seg, "file:%s", path);
    snprintf(hard, sizeof hard, "%s", util_test_path("own-link"));
    const char *posix = test_name("own");
    char shm_path[600];
    snprintf(shm_path, sizeof shm_path, "/dev/shm/%s", posix);
    RUN(0, "create", seg, "u16", "2", "2");
    RUN(0, "fill", seg, "ramp");
    RUN(0, "create", posix, "u8", "3");
    CHECK(link(path, hard) == 0);
    const char *cases[3][2] = {{seg, path}, {seg, hard}, {posix, shm_path}};
    for (int i = 0; i < 3; i++) {
        struct stat before, after;
        CHECK(stat(cases[i][1], &before) == 0);
        RUN(1, "export", cases[i][0], cases[i][1], "--format", "raw", "--force");
        CHECK_ERROR_LINE(err, "own object: export would replace the segment with its copy");
        CHECK(stat(cases[i][1], &after) == 0 && after.st_ino == before.st_ino &&
              after.st_size == before.st_size);
    }
    RUN(0, "cat", seg);
    CHECK_STR(out, "0 1\n2 3\n");
    RUN(0, "info", posix);
    CHECK(unlink(hard) == 0);
    RUN(0, "rm", seg, posix);
    util_clear(&out, &err);
}

TEST(io__export_to_dev_stdout_is_ours_with_a_proc_of_another_pid_namespace)
{
    if (geteuid() != 0)
        TEST_SKIP("needs root for a pid namespace");
    char *out = NULL, *err = NULL;
    if (test_sh(&out, &err, "unshare -p -f true") != 0)
        TEST_SKIP("unshare -p does not work here: %s", err ? err : "");
    const char *bin = test_shmap_bin(), *name = make_ramp();
    /* Without --mount-proc, /proc is the parent namespace's: /proc/self is not getpid(),
     * and /dev/stdout was taken for another process's descriptor, emptied. */
    const char *log = util_test_path("log.txt");
    util_write_file(log, "line1\nline2\n", 12);
    CHECK_EQ_INT(test_sh(&out, &err, "unshare -p -f sh -c '\"$0\" export \"$1\" /dev/stdout "
                         "--format raw >> \"$2\"' '%s' %s '%s'", bin, name, log), 0);
    size_t len;
    unsigned char *b = util_read_file(log, &len);
    CHECK(len == 12 + sizeof ramp && memcmp(b, "line1\nline2\n", 12) == 0 &&
          memcmp(b + 12, ramp, sizeof ramp) == 0);
    free(b);
    CHECK_OK(shmap_unlink(name));
    util_clear(&out, &err);
}

TEST(io__export_takes_no_descriptor_number_with_a_leading_zero)
{
    char *out = NULL, *err = NULL;
    const char *bin = test_shmap_bin(), *name = make_ramp();
    /* The kernel has no /proc/self/fd/01: it is no name of descriptor 1, and no file
     * export may make there. */
    static const char *const paths[] = {"/dev/fd/01", "/proc/self/fd/00001", "/dev/fd/00"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        CHECK_EQ_INT(test_sh(&out, &err, "'%s' export %s %s --format raw > '%s'", bin, name,
                             paths[i], util_test_path("o.raw")), 1);
        CHECK_CONTAINS(err, "export makes no file in /proc/");
        CHECK_RAW(util_test_path("o.raw"), 0);
    }
    CHECK_OK(shmap_unlink(name));
    util_clear(&out, &err);
}
