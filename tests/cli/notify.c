/* shmap wait and shmap watch, run as a user would. */
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>

#include "../util.h"

/*
 * Start `shmap wait NAME --timeout 10` with its stderr on a pipe (*err, to read), and
 * return once it sleeps in its wait: what the test does next happens while it waits.
 */
static pid_t start_wait(const char *name, int *err)
{
    int p[2];
    CHECK(pipe(p) == 0);
    pid_t pid = util_spawn();
    if (pid == 0) {
        dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        execl(test_shmap_bin(), test_shmap_bin(), "wait", name, "--timeout", "10", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    *err = p[0];
    CHECK(util_wait_asleep(pid));
    return pid;
}

/* Read `fd` until EOF into `buf` (NUL-terminated, truncated to fit), and close it. */
static void read_all(int fd, char *buf, size_t size)
{
    size_t len = 0;
    ssize_t n;
    while (len + 1 < size && (n = read(fd, buf + len, size - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    close(fd);
}

/* Read one line from `fd` into `buf`, without its newline (truncated to fit); CHECKs
 * that a whole line came. */
static void read_line(int fd, char *buf, size_t size)
{
    size_t len = 0;
    char c;
    ssize_t n;
    while ((n = read(fd, &c, 1)) == 1 && c != '\n') {
        if (len + 1 < size)
            buf[len++] = c;
    }
    buf[len] = '\0';
    CHECK(n == 1);
}

static int lines_of(const char *s)
{
    int n = 0;
    for (; s && *s; s++)
        n += *s == '\n';
    return n;
}

TEST(cli__wait_exits_0_when_an_update_comes)
{
    const char *name = test_name("cwait");
    CHECK_EQ_INT(test_cli(NULL, NULL, NULL, "create", name, "f32", "8", NULL), 0);
    int fd;
    pid_t waiter = start_wait(name, &fd);
    CHECK_EQ_INT(test_cli(NULL, NULL, NULL, "fill", name, "1.5", NULL), 0);
    CHECK_EQ_INT(test_wait(waiter), 0);
    char err[1024];
    read_all(fd, err, sizeof err);
    CHECK_STR(err, "");
    CHECK_EQ_INT(test_cli(NULL, NULL, NULL, "rm", name, NULL), 0);
}

TEST(cli__wait_times_out_with_status_1_and_one_line)
{
    const char *name = test_name("cwaitto");
    CHECK_EQ_INT(test_cli(NULL, NULL, NULL, "create", name, "u8", "4", NULL), 0);
    char *err = NULL;
    CHECK_EQ_INT(test_cli(NULL, &err, NULL, "wait", name, "--timeout", "0.2", NULL), 1);
    CHECK_CONTAINS(err, "no update within 0.2 s");
    CHECK_CONTAINS(err, name);
    CHECK_EQ_INT(lines_of(err), 1);
    free(err);
    CHECK_EQ_INT(test_cli(NULL, NULL, NULL, "wait", name, "--timeout", "soon", NULL), 2);
    CHECK_EQ_INT(test_cli(NULL, NULL, NULL, "rm", name, NULL), 0);
}

TEST(cli__wait_ends_when_the_segment_is_removed)
{
    const char *name = test_name("cwaitrm");
    CHECK_EQ_INT(test_cli(NULL, NULL, NULL, "create", name, "u8", "4", NULL), 0);
    int fd;
    pid_t waiter = start_wait(name, &fd);
    CHECK_EQ_INT(test_cli(NULL, NULL, NULL, "rm", name, NULL), 0);
    CHECK_EQ_INT(test_wait(waiter), 1);
    char err[1024];
    read_all(fd, err, sizeof err);
    CHECK_CONTAINS(err, "deleted or replaced");
}

TEST(cli__watch_prints_a_line_per_interval_off_a_terminal)
{
    const char *name = test_name("cwatch");
    CHECK_EQ_INT(test_cli(NULL, NULL, NULL, "create", name, "f64", "4", "4", NULL), 0);
    CHECK_EQ_INT(test_cli(NULL, NULL, NULL, "fill", name, "ramp", NULL), 0);
    char *out = NULL;
    CHECK_EQ_INT(test_cli(&out, NULL, NULL, "watch", name, "--count", "2", "--interval", "0.1",
                          NULL),
                 0);
    CHECK_EQ_INT(lines_of(out), 2);
    CHECK_CONTAINS(out, "gen 1 ");
    CHECK_CONTAINS(out, "min 0  max 15  mean 7.5");
    CHECK(!strchr(out, '\033'));
    free(out);
    CHECK_EQ_INT(test_cli(NULL, NULL, NULL, "watch", name, "--count", "0", NULL), 2);
    CHECK_EQ_INT(test_cli(NULL, NULL, NULL, "rm", name, NULL), 0);
}

/*
 * watch never goes quiet about the data: a writer killed mid-frame leaves a torn frame,
 * whose statistics are shown marked with the dead writer's pid on every line; a live
 * writer mid-frame is named while there are no statistics of a whole frame to show.
 */
TEST(cli__watch_shows_a_frame_torn_by_a_dead_writer_and_names_a_busy_one)
{
    const char *name = test_name("cwatchtorn");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "f32", "1000");
    RUN(0, "fill", name, "1");
    const float two = 2;
    pid_t writer = util_spawn_mid_frame_writer(name, &two, sizeof two, 1000);
    char mark[96];

    RUN(0, "watch", name, "--count", "1", "--interval", "0.1");
    snprintf(mark, sizeof mark, "  no statistics yet: pid %d is writing a frame\n", (int)writer);
    CHECK_CONTAINS(out, mark);
    CHECK(!strstr(out, "min "));

    util_kill9(writer);
    RUN(0, "watch", name, "--count", "2", "--interval", "0.1");
    CHECK_EQ_INT(lines_of(out), 2);
    snprintf(mark, sizeof mark, "min 1  max 2  mean 1.5  torn: writer pid %d died mid-frame\n",
             (int)writer);
    CHECK_CONTAINS(out, mark);
    CHECK_CONTAINS(strchr(out, '\n') + 1, mark);
    CHECK_EQ_INT(err[0], '\0');

    /* Once a writer completes a frame, whole frames and no mark again. It is frame 2, the
     * torn frame 1 counting as lost: generation 3. */
    RUN(0, "fill", name, "3");
    RUN(0, "watch", name, "--count", "1", "--interval", "0.1");
    CHECK_CONTAINS(out, "gen 3 ");
    CHECK_CONTAINS(out, "min 3  max 3  mean 3\n");
    CHECK(!strstr(out, "torn") && !strstr(out, "writing"));
    RUN(0, "rm", name);
    util_clear(&out, &err);
}

TEST(cli__watch_marks_a_first_frame_being_written_or_torn_before_any_publish)
{
    /* Generation 0: nothing published, but a first frame begun is not data to show whole. */
    const char *name = test_name("cwatchfirst");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "f32", "1000");
    const float two = 2;
    pid_t writer = util_spawn_mid_frame_writer(name, &two, sizeof two, 1000);
    char mark[96];
    RUN(0, "watch", name, "--count", "1", "--interval", "0.1");
    CHECK_CONTAINS(out, "gen 0 ");
    snprintf(mark, sizeof mark, "  no statistics yet: pid %d is writing a frame\n", (int)writer);
    CHECK_CONTAINS(out, mark);
    CHECK(!strstr(out, "min "));
    util_kill9(writer);
    RUN(0, "watch", name, "--count", "1", "--interval", "0.1");
    snprintf(mark, sizeof mark, "min 0  max 2  mean 1  torn: writer pid %d died mid-frame\n",
             (int)writer);
    CHECK_CONTAINS(out, mark);
    RUN(0, "rm", name);
    util_clear(&out, &err);
}

/* A frame its writer gave up half-way (shmap_write_abort(); the writer lives on): watch
 * waits for it as for a frame being written and says so, naming the writer; export takes
 * the data as it is, with a warning; once the frame is written again, whole frames. */
TEST(cli__watch_and_export_mark_a_frame_its_writer_aborted)
{
    const char *name = test_name("cwatchabort");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "f32", "1000");
    RUN(0, "fill", name, "1");
    shmap_seg *w = NULL;
    float *frame;
    CHECK_OK(shmap_open(&w, name, SHMAP_RDWR));
    CHECK_OK(shmap_write_begin(w, (void **)&frame));
    for (size_t i = 0; i < 500; i++)
        frame[i] = 2;
    CHECK_OK(shmap_write_abort(w));
    char mark[96];
    snprintf(mark, sizeof mark, "  no statistics yet: pid %d aborted a frame\n", (int)getpid());
    RUN(0, "watch", name, "--count", "1", "--interval", "0.1");
    CHECK_CONTAINS(out, mark);
    CHECK(!strstr(out, "min "));
    snprintf(mark, sizeof mark, "warning: the writer (pid %d) aborted its write: the data may be "
                                "half-written", (int)getpid());
    RUN(0, "export", name, util_test_path("aborted.raw"));
    CHECK_ERROR_LINE(err, mark);
    size_t len;
    float *v = (float *)util_read_file(util_test_path("aborted.raw"), &len);
    CHECK_EQ_INT(len, 1000 * sizeof(float));
    CHECK(v[0] == 2 && v[999] == 1);
    free(v);
    CHECK_OK(shmap_write_begin(w, (void **)&frame));
    for (size_t i = 0; i < 1000; i++)
        frame[i] = 3;
    CHECK_OK(shmap_publish(w));
    RUN(0, "watch", name, "--count", "1", "--interval", "0.1");
    CHECK_CONTAINS(out, "min 3  max 3  mean 3\n");
    CHECK_OK(shmap_close(w));
    RUN(0, "rm", name);
    util_clear(&out, &err);
}

TEST(cli__watch_counts_updates_and_stops_on_sigint)
{
    const char *name = test_name("cwatchint");
    CHECK_EQ_INT(test_cli(NULL, NULL, NULL, "create", name, "u16", "8", NULL), 0);
    int out[2];
    CHECK(pipe(out) == 0);
    pid_t watcher = fork();
    CHECK(watcher >= 0);
    if (watcher == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(out[1], 1);
        execl(test_shmap_bin(), test_shmap_bin(), "watch", name, "--interval", "0.1", NULL);
        _exit(127);
    }
    close(out[1]);
    for (int i = 0; i < 5; i++)
        CHECK_EQ_INT(test_cli(NULL, NULL, NULL, "set", name, "0", "7", NULL), 0);
    /* Its lines come as it draws them: once one shows the five updates, SIGINT ends it. */
    char line[256];
    do
        read_line(out[0], line, sizeof line);
    while (!strstr(line, "gen 5 "));
    CHECK_CONTAINS(line, "max 7");
    kill(watcher, SIGINT);
    CHECK_EQ_INT(test_wait(watcher), 0);
    close(out[0]);
    CHECK_EQ_INT(test_cli(NULL, NULL, NULL, "rm", name, NULL), 0);
}

TEST(cli__watch_on_a_terminal_redraws_one_line_and_quits_on_q)
{
    if (access("/usr/bin/script", X_OK) != 0)
        TEST_SKIP("needs script(1) from util-linux to give watch a terminal");
    const char *name = test_name("cwatchq");
    CHECK_EQ_INT(test_cli(NULL, NULL, NULL, "create", name, "u8", "4", NULL), 0);
    char *out = NULL, screen[128];
    snprintf(screen, sizeof screen, "%s/screen", util_test_dir());
    /*
     * script(1) runs watch on a pseudo-terminal and types what arrives on its stdin: 'q',
     * once watch has drawn its line (10 s at most). What it drew goes to a file, where the
     * typist looks for it, and then to our stdout.
     */
    int rc = test_sh(&out, NULL,
                     "(i=0; until grep -q 'gen 0' '%s' 2>/dev/null || [ $i -ge 200 ]; do "
                     "sleep 0.05; i=$((i + 1)); done; printf q) | "
                     "timeout 10 script -qfec '%s watch %s --interval 0.1' /dev/null > '%s'; "
                     "s=$?; cat '%s'; exit $s",
                     screen, test_shmap_bin(), name, screen, screen);
    CHECK_EQ_INT(rc, 0);
    CHECK_CONTAINS(out, "\r\033[Kgen 0 ");
    CHECK_EQ_INT(test_cli(NULL, NULL, NULL, "rm", name, NULL), 0);
    free(out);
}
