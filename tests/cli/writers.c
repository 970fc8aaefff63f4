/*
 * The commands that write a segment's data (fill, set) take its exclusive lock, so writers
 * from several processes never interleave, and commands run under `shmap lock` on the same
 * segment work under that lock instead of waiting for ever for it.
 */
#include <fcntl.h>
#include <sys/wait.h>

#include "../util.h"

/* Start `shmap fill NAME VALUE` in a child; its pid. */
static pid_t start_fill(const char *name, const char *value)
{
    pid_t pid = util_spawn();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 2);
        execl(test_shmap_bin(), "shmap", "fill", name, value, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/*
 * Three fills at once leave one fill's array, never a mix. Without the lock the first to
 * publish ended the others' write marks while they still wrote, and the array stayed
 * mixed, every command exiting 0.
 */
TEST(writers__fills_at_once_leave_one_whole_fill)
{
    const char *name = test_name("fills");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "f64", "1000", "1000");
    for (int round = 0; round < 3; round++) {
        pid_t a = start_fill(name, "7"), b = start_fill(name, "-3"), c = start_fill(name, "ramp");
        CHECK_EQ_INT(test_wait(a), 0);
        CHECK_EQ_INT(test_wait(b), 0);
        CHECK_EQ_INT(test_wait(c), 0);
        shmap_seg *seg = NULL;
        CHECK_OK(shmap_open(&seg, name, SHMAP_RDONLY));
        const double *d = shmap_data(seg);
        size_t sevens = 0, threes = 0, ramp = 0;
        for (size_t i = 0; i < 1000000; i++) {
            sevens += d[i] == 7;
            threes += d[i] == -3;
            ramp += d[i] == (double)i;
        }
        CHECK_EQ_INT(shmap_generation(seg), 3 * (round + 1));
        CHECK_OK(shmap_close(seg));
        if (sevens != 1000000 && threes != 1000000 && ramp != 1000000)
            test_fail(__FILE__, __LINE__, "round %d: a mix of fills: %zu 7s, %zu -3s, %zu of "
                      "the ramp", round, sevens, threes, ramp);
    }
    RUN(0, "rm", name);
    util_clear(&out, &err);
}

/* fill and set wait for a holder of the lock, --timeout seconds at most, naming it. */
TEST(writers__fill_and_set_wait_for_the_lock_up_to_their_timeout)
{
    const char *name = test_name("wait");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "u8", "4");
    pid_t holder = util_spawn_holder(name, SHMAP_LOCK_SHARED);
    double t0 = util_now_s();
    RUN(1, "fill", name, "1", "--timeout", "0.3");
    CHECK(util_now_s() - t0 >= 0.25);
    CHECK_ERROR_LINE(err, "timed out after 0.3 s waiting for the exclusive lock: shared hold");
    RUN(1, "set", name, "0", "1", "--timeout", "0");
    CHECK_ERROR_LINE(err, "waiting for the exclusive lock");
    util_kill9(holder);
    RUN(0, "fill", name, "2", "--timeout", "5");
    RUN(0, "set", name, "0", "3", "--timeout", "5");
    RUN(0, "cat", name);
    CHECK_STR(out, "3 2 2 2\n");
    /* A raw or private mapping is written without the lock: no --timeout for it. */
    RUN(2, "fill", name, "1", "--dtype", "u8", "--shape", "4", "--timeout", "1");
    CHECK_USAGE_ERROR(err, "fill", "--timeout is for a segment's lock: a raw object has none");
    RUN(2, "set", name, "0", "1", "--private", "--timeout", "1");
    CHECK_USAGE_ERROR(err, "set", "a private mapping is written without it");
    RUN(2, "fill", name, "1", "--timeout", "soon");
    RUN(0, "rm", name);
    util_clear(&out, &err);
}

/*
 * Under `shmap lock NAME --write`, commands on NAME read and write under its lock: they
 * waited for ever for it. Under --read, readers do, and a writer fails at once, saying
 * why. The lock itself decides: a forged SHMAP_LOCK_PIDS lends nobody a lock.
 */
TEST(writers__commands_under_shmap_lock_work_under_its_hold)
{
    const char *name = test_name("nest");
    char *out = NULL, *err = NULL, script[1024];
    const char *bin = test_shmap_bin(), *npy = util_test_path("n.npy");
    RUN(0, "create", name, "u8", "3");
    snprintf(script, sizeof script,
             "'%s' fill %s 1 && '%s' set %s 0 5 && '%s' cat %s && '%s' export %s '%s' && "
             "'%s' import '%s' %s --existing && '%s' cat %s", bin, name, bin, name, bin, name,
             bin, name, npy, bin, npy, name, bin, name);
    RUN(0, "lock", name, "--write", "--timeout", "5", "--", "sh", "-c", script);
    CHECK_STR(out, "5 1 1\n5 1 1\n");
    CHECK_STR(err, "");
    snprintf(script, sizeof script, "'%s' cat %s && '%s' fill %s 9", bin, name, bin, name);
    double t0 = util_now_s();
    RUN(1, "lock", name, "--read", "--timeout", "5", "--", "sh", "-c", script);
    CHECK(util_now_s() - t0 < 5);
    CHECK_STR(out, "5 1 1\n");
    CHECK_ERROR_LINE(err, "runs under `shmap lock --read` (pid ");
    CHECK_CONTAINS(err, "use `shmap lock --write`");
    /* Another process's hold, named in the variable, is not this command's to borrow. */
    pid_t holder = util_spawn_holder(name, SHMAP_LOCK_EXCLUSIVE);
    char pids[64];
    snprintf(pids, sizeof pids, "1 %d", (int)holder);
    CHECK(setenv("SHMAP_LOCK_PIDS", pids, 1) == 0);
    RUN(1, "fill", name, "4", "--timeout", "0.2");
    CHECK(unsetenv("SHMAP_LOCK_PIDS") == 0);
    CHECK_ERROR_LINE(err, "timed out");
    util_kill9(holder);
    RUN(0, "rm", name);
    util_clear(&out, &err);
}

/*
 * A `shmap lock` of the same segment run under `shmap lock` (a script that locks, run under
 * a lock) runs its command under the enclosing hold: --write waited for ever for its own
 * ancestor, and --read under --read for a writer queued behind the outer hold. --write under
 * --read fails at once, saying why.
 */
TEST(writers__shmap_lock_under_shmap_lock_runs_under_its_hold)
{
    const char *name = test_name("nestlock");
    char *out = NULL, *err = NULL, script[1024];
    const char *bin = test_shmap_bin();
    RUN(0, "create", name, "u8", "3");
    snprintf(script, sizeof script,
             "'%s' lock %s --write --timeout 5 -- '%s' fill %s 7 && "
             "'%s' lock %s --read --timeout 5 -- '%s' cat %s", bin, name, bin, name, bin, name,
             bin, name);
    double t0 = util_now_s();
    RUN(0, "lock", name, "--write", "--timeout", "5", "--", "sh", "-c", script);
    CHECK(util_now_s() - t0 < 5);
    CHECK_STR(out, "7 7 7\n");
    CHECK_STR(err, "");

    /* Under --read, with a writer queued behind the outer hold: the inner --read does not
     * queue behind that writer, and the inner --write is refused at once. */
    struct util_chan c;
    util_chan_open(&c);
    const char *log = util_test_path("outer.log");
    pid_t outer = util_spawn();
    if (outer == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(126);
        snprintf(script, sizeof script, "echo x >&%d; read -r _ <&%d; "
                 "'%s' lock %s --read --timeout 5 -- '%s' cat %s && "
                 "'%s' lock %s --write --timeout 5 -- true; echo \"inner write $?\"",
                 c.up[1], c.down[0], bin, name, bin, name, bin, name);
        execl(bin, bin, "lock", name, "--read", "--", "sh", "-c", script, (char *)NULL);
        _exit(127);
    }
    CHECK_EQ_INT(util_parent_recv(&c), 'x');
    pid_t writer = util_spawn();
    if (writer == 0) {
        execl(bin, bin, "fill", name, "8", "--timeout", "20", (char *)NULL);
        _exit(127);
    }
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDONLY));
    shmap_lockinfo li = {0};
    double deadline = util_now_s() + 10;
    while (shmap_lock_info(seg, &li) == 0 && li.writer != writer && util_now_s() < deadline)
        util_sleep_ms(5);
    CHECK(li.writer == writer && li.writer_waiting);
    util_parent_send(&c, '\n');
    int status = 0;
    CHECK(waitpid(outer, &status, 0) == outer);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(waitpid(writer, &status, 0) == writer);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    util_chan_close(&c);
    CHECK_OK(shmap_close(seg));
    size_t len = 0;
    char *said = (char *)util_read_file(log, &len);
    CHECK_CONTAINS(said, "7 7 7\n");
    CHECK_CONTAINS(said, "runs under `shmap lock --read` (pid ");
    CHECK_CONTAINS(said, "inner write 1\n");
    free(said);
    RUN(0, "cat", name);
    CHECK_STR(out, "8 8 8\n");
    RUN(0, "rm", name);
    util_clear(&out, &err);
}

/*
 * A nested `shmap lock` lasts only as long as the enclosing one: that one killed (kill -9),
 * or ended by a signal it passes on to its command (the shell between, which dies of it),
 * takes its hold with it, and the nested command, orphaned, is killed rather than left to
 * run on beside the next writer.
 */
TEST(writers__a_nested_lock_ends_its_command_when_the_enclosing_one_ends)
{
    const char *name = test_name("nestend");
    char *out = NULL, *err = NULL, script[2048];
    const char *bin = test_shmap_bin();
    const char *started = util_test_path("started"), *late = util_test_path("late");
    const char *log = util_test_path("inner.log");
    RUN(0, "create", name, "u8", "3");
    const int sigs[] = {SIGKILL, SIGTERM};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        unlink(started);
        unlink(late);
        /* The shell between dies with the outer lock, leaving the nested one orphaned. */
        snprintf(script, sizeof script,
                 "'%s' lock %s --write -- sh -c 'touch %s; sleep 1; touch %s' 2>%s", bin, name,
                 started, late, log);
        pid_t outer = util_spawn();
        if (outer == 0) {
            execl(bin, bin, "lock", name, "--write", "--", "sh", "-c", script, (char *)NULL);
            _exit(127);
        }
        double deadline = util_now_s() + 10;
        while (access(started, F_OK) != 0 && util_now_s() < deadline)
            util_sleep_ms(10);
        CHECK(access(started, F_OK) == 0);
        kill(outer, sigs[i]);
        test_wait(outer);
        /* The next writer gets the lock, and the nested command is gone. */
        double t0 = util_now_s();
        RUN(0, "lock", name, "--write", "--timeout", "5", "--", "true");
        CHECK(util_now_s() - t0 < 2);
        util_sleep_ms(1500);
        CHECK(access(late, F_OK) != 0);
        size_t len = 0;
        char *said = (char *)util_read_file(log, &len);
        CHECK_CONTAINS(said, "the enclosing `shmap lock` (pid ");
        CHECK_CONTAINS(said, "ended, and its lock with it: 'sh' killed");
        free(said);
    }
    RUN(0, "rm", name);
    util_clear(&out, &err);
}
