/* shmap wait and shmap watch, run as a user would. */
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>

#include "../util.h"

/* After `ms`, run `shmap ARG1 NAME [ARG2]` in a child; returns the child. */
static pid_t later(long ms, const char *cmd, const char *name, const char *arg)
{
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        util_sleep_ms(ms);
        int rc = test_cli(NULL, NULL, NULL, cmd, name, arg, NULL);
        _exit(rc);
    }
    return pid;
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
    pid_t kid = later(200, "fill", name, "1.5");
    char *err = NULL;
    CHECK_EQ_INT(test_cli(NULL, &err, NULL, "wait", name, "--timeout", "10", NULL), 0);
    CHECK_STR(err, "");
    CHECK_EQ_INT(test_wait(kid), 0);
    free(err);
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
    pid_t kid = later(200, "rm", name, NULL);
    char *err = NULL;
    CHECK_EQ_INT(test_cli(NULL, &err, NULL, "wait", name, "--timeout", "10", NULL), 1);
    CHECK_CONTAINS(err, "deleted or replaced");
    CHECK_EQ_INT(test_wait(kid), 0);
    free(err);
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
    util_sleep_ms(300);
    kill(watcher, SIGINT);
    CHECK_EQ_INT(test_wait(watcher), 0);
    char buf[8192];
    ssize_t n = read(out[0], buf, sizeof buf - 1);
    CHECK(n > 0);
    buf[n] = '\0';
    CHECK_CONTAINS(buf, "gen 5 ");
    CHECK_CONTAINS(buf, "max 7");
    CHECK_EQ_INT(test_cli(NULL, NULL, NULL, "rm", name, NULL), 0);
}

TEST(cli__watch_on_a_terminal_redraws_one_line_and_quits_on_q)
{
    if (access("/usr/bin/script", X_OK) != 0)
        TEST_SKIP("needs script(1) from util-linux to give watch a terminal");
    const char *name = test_name("cwatchq");
    CHECK_EQ_INT(test_cli(NULL, NULL, NULL, "create", name, "u8", "4", NULL), 0);
    char *out = NULL;
    /* script(1) runs watch on a pseudo-terminal and types what arrives on its stdin. */
    int rc = test_sh(&out, NULL,
                     "(sleep 0.5; printf q) | timeout 10 script -qfec '%s watch %s --interval 0.1'"
                     " /dev/null",
                     test_shmap_bin(), name);
    CHECK_EQ_INT(rc, 0);
    CHECK_CONTAINS(out, "\r\033[Kgen 0 ");
    CHECK_EQ_INT(test_cli(NULL, NULL, NULL, "rm", name, NULL), 0);
    free(out);
}
