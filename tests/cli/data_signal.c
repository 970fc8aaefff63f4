/*
 * The commands that read or write a segment's data under its lock (cat, fill, set, export),
 * ended by a signal or a closed pipe, let the segment go first: no dead attach slot or
 * shared hold is left for `ls` and `info` to show until someone cleans up after them.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include "../util.h"

/* Every attach slot of @p seg is of a live process, and there are @p live of them. */
static void check_no_dead_slot(const shmap_seg *seg, int live, const char *after)
{
    shmap_attacher att[16];
    int n = shmap_attached(seg, att, 16);
    CHECK(n >= 0 && n <= 16);
    for (int i = 0; i < n; i++)
        if (!att[i].alive)
            test_fail(__FILE__, __LINE__, "after %s: a dead slot of pid %d is left", after,
                      (int)att[i].pid);
    if (n != live)
        test_fail(__FILE__, __LINE__, "after %s: %d slots, expected %d", after, n, live);
}

TEST(cli__data_commands_ended_by_a_signal_while_they_wait_leave_no_slot)
{
    const char *name = test_name("dsig");
    char out[600];
    snprintf(out, sizeof out, "%s", util_test_path("out.npy"));
    shmap_seg *seg = util_kept_rdwr(name, 8);
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 0));
    const char *bin = test_shmap_bin();
    const char *cmds[4][5] = {{"cat", name, NULL}, {"fill", name, "1", NULL},
                              {"set", name, "0", "1", NULL}, {"export", name, out, NULL}};
    for (int c = 0; c < 4; c++) {
        pid_t pid = util_spawn();
        if (pid == 0) {
            int null = open("/dev/null", O_WRONLY);
            dup2(null, 1);
            dup2(null, 2);
            execl(bin, bin, cmds[c][0], cmds[c][1], cmds[c][2], cmds[c][3], cmds[c][4],
                  (char *)NULL);
            _exit(127);
        }
        /* Waiting for the lock: its slot is taken, and it sleeps. */
        double deadline = util_now_s() + 10;
        while (shmap_attached(seg, NULL, 0) < 2 && util_now_s() < deadline)
            util_sleep_ms(5);
        CHECK_EQ_INT(shmap_attached(seg, NULL, 0), 2);
        CHECK(util_wait_asleep(pid));
        kill(pid, SIGINT);
        int status = 0;
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT);
        check_no_dead_slot(seg, 1, cmds[c][0]);
    }
    CHECK(access(out, F_OK) != 0);
    CHECK_OK(shmap_unlock(seg));
    shmap_lockinfo li;
    CHECK_OK(shmap_lock_info(seg, &li));
    CHECK_EQ_INT(li.shared, 0);
    CHECK_EQ_INT(li.writer, 0);
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(name));
}

TEST(cli__cat_ended_by_a_closed_pipe_leaves_no_slot)
{
    const char *name = test_name("dpipe");
    shmap_seg *seg = util_kept_rdwr(name, 300000); /* far more than a pipe holds */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' cat %s | head -c 10 >/dev/null", test_shmap_bin(), name);
    pid_t sh = util_spawn();
    if (sh == 0) {
        signal(SIGPIPE, SIG_DFL); /* as in a terminal: the runner may ignore it */
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    CHECK(waitpid(sh, &status, 0) == sh);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    check_no_dead_slot(seg, 1, "cat | head");
    shmap_lockinfo li;
    CHECK_OK(shmap_lock_info(seg, &li));
    CHECK_EQ_INT(li.shared, 0);
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(name));
}

/*
 * The same for a signal that comes after the lock is given back but before the segment is
 * closed: delivered by a debugger as shmap_close() is entered. Skipped without gdb, or
 * where this process may not trace another.
 */
TEST(cli__data_commands_signalled_as_they_close_leave_no_slot)
{
    char *out = NULL, *err = NULL;
    if (test_sh(&out, &err, "gdb -q -batch -ex 'run' --args true") != 0 ||
        !strstr(out ? out : "", "exited normally")) {
        util_clear(&out, &err);
        TEST_SKIP("gdb cannot run a program here");
    }
    util_clear(&out, &err);
    const char *name = test_name("dclose");
    char exp[600];
    snprintf(exp, sizeof exp, "%s", util_test_path("close.npy"));
    shmap_seg *seg = util_kept_rdwr(name, 8);
    const char *cmds[4] = {"fill %s 1", "set %s 0 1", "cat %s", "export %s '%s' --force"};
    for (int c = 0; c < 4; c++) {
        char args[1200];
        snprintf(args, sizeof args, cmds[c], name, exp);
        CHECK_EQ_INT(test_sh(&out, &err, "gdb -q -batch -ex 'set pagination off' "
                             "-ex 'set breakpoint pending on' -ex 'handle SIGINT stop pass' "
                             "-ex 'break shmap_close' -ex run -ex delete -ex 'signal SIGINT' "
                             "--args '%s' %s", test_shmap_bin(), args), 0);
        CHECK_CONTAINS(out, "Breakpoint 1, shmap_close");
        util_clear(&out, &err);
        check_no_dead_slot(seg, 1, cmds[c]);
    }
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(name));
}
