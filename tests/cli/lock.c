/*
 * shmap lock and the lock state in shmap info: the command runs holding the lock and exits
 * with its status, a timeout fails with status 1 and one clear line, a dead writer is named
 * in a warning line.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "../util.h"

TEST(cli__lock_runs_the_command_holding_the_lock_and_exits_with_its_status)
{
    char *out = NULL, *err = NULL;
    const char *name = test_name("run");
    shmap_seg *seg = util_kept_rdwr(name, 8);
    /* Inside the command the lock is held: a try from a lock that does not know it runs
     * under it (SHMAP_LOCK_PIDS removed: it would run under the hold) fails. */
    char script[512];
    snprintf(script, sizeof script,
             "env -u SHMAP_LOCK_PIDS '%s' lock %s --timeout 0 -- true 2>/dev/null && exit 9; "
             "echo inside; exit 3", test_shmap_bin(), name);
    RUN(3, "lock", name, "--", "sh", "-c", script);
    CHECK_STR(out, "inside\n");
    util_clear(&out, &err);
    /* Afterwards it is free again, for this process too. */
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 0));
    CHECK_OK(shmap_unlock(seg));
    RUN(0, "lock", name, "--read", "--", "true");
    util_clear(&out, &err);
    /* The same mode given twice is that mode (both, a usage error: error_lines.c). */
    RUN(0, "lock", name, "--read", "--read", "--", "true");
    RUN(0, "lock", name, "--write", "--write", "--", "true");
    util_clear(&out, &err);
    RUN(127, "lock", name, "--", "/nonexistent/command");
    CHECK_CONTAINS(err, "cannot run");
    util_clear(&out, &err);
    /* "--" may end the options before NAME, as for every command: then the second "--"
     * starts COMMAND. After NAME, a "--" is COMMAND's own argument. */
    RUN(0, "lock", "--read", "--", name, "--", "echo", "ok");
    CHECK_STR(out, "ok\n");
    RUN(0, "lock", name, "--", "echo", "--", "x");
    CHECK_STR(out, "-- x\n");
    RUN(2, "lock", "--", "--", "true");
    CHECK_USAGE_ERROR(err, "lock", "missing NAME");
    /* "-- NAME COMMAND" is one "--" short: said so, with the way to write it. */
    RUN(2, "lock", "--", name, "echo", "ok");
    CHECK_USAGE_ERROR(err, "lock", "missing NAME before -- COMMAND (to end the options "
                                   "before NAME: shmap lock -- NAME -- COMMAND)");
    util_clear(&out, &err);
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(name));
}

TEST(cli__lock_timeout_fails_with_status_1_and_a_clear_message)
{
    char *out = NULL, *err = NULL;
    const char *name = test_name("tmo");
    shmap_seg *seg = util_kept_rdwr(name, 8);
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_SHARED, 0));
    RUN(1, "lock", name, "--timeout", "0.2", "--", "echo", "ran");
    CHECK_STR(out, "");
    CHECK(strncmp(err, "shmap: ", 7) == 0 && strchr(err, '\n') == err + strlen(err) - 1);
    CHECK_CONTAINS(err, "timed out");
    CHECK_CONTAINS(err, name);
    util_clear(&out, &err);
    /* Readers share. */
    RUN(0, "lock", name, "--read", "--timeout", "0", "--", "true");
    util_clear(&out, &err);
    RUN(1, "lock", name, "--write", "--timeout", "0", "--", "true");
    util_clear(&out, &err);
    RUN(2, "lock", name, "--read", "--write", "--", "true");
    util_clear(&out, &err);
    RUN(2, "lock", name, "--timeout", "-1", "--", "true");
    util_clear(&out, &err);
    RUN(2, "lock", name);
    util_clear(&out, &err);
    CHECK_OK(shmap_unlock(seg));
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(name));
}

TEST(cli__lock_warns_naming_the_writer_that_died_holding_it)
{
    char *out = NULL, *err = NULL;
    const char *name = test_name("dead");
    shmap_seg *seg = util_kept_rdwr(name, 8);
    struct util_chan ch;
    util_chan_open(&ch);
    pid_t pid = util_spawn();
    if (pid == 0) {
        shmap_seg *s = NULL;
        util_child_send(&ch, shmap_open(&s, name, SHMAP_RDWR) == 0 &&
                                     shmap_lock(s, SHMAP_LOCK_EXCLUSIVE, 5) == 0 ? 'L' : 'E');
        for (;;)
            pause();
    }
    CHECK(util_parent_recv(&ch) == 'L');
    util_chan_close(&ch);
    CHECK(kill(pid, SIGKILL) == 0);
    CHECK_EQ_INT(test_wait(pid), 128 + SIGKILL);
    RUN(0, "lock", name, "--timeout", "10", "--", "echo", "ran");
    CHECK_STR(out, "ran\n");
    char want[32];
    snprintf(want, sizeof want, "pid %d", (int)pid);
    CHECK_CONTAINS(err, "warning");
    CHECK_CONTAINS(err, want);
    util_clear(&out, &err);
    /* Told once. */
    RUN(0, "lock", name, "--", "true");
    CHECK_STR(err, "");
    util_clear(&out, &err);
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(name));
}

/*
 * A command killed while it holds the write lock may have left its writing half done: the
 * next writer is warned, naming it, as it would be had the command held the lock itself.
 * One that exits, whatever its status, and a reader killed, leave no such news.
 */
TEST(cli__lock_write_warns_the_next_writer_of_a_command_killed_holding_it)
{
    char *out = NULL, *err = NULL;
    const char *name = test_name("cmdkill");
    shmap_seg *seg = util_kept_rdwr(name, 8);
    RUN(128 + SIGKILL, "lock", name, "--write", "--", "sh", "-c", "echo $$; kill -9 $$");
    long cmd = strtol(out, NULL, 10);
    CHECK(cmd > 0);
    char want[128];
    snprintf(want, sizeof want, "warning: 'sh' (pid %ld) was ended by signal %d (Killed) while "
             "holding the write lock", cmd, SIGKILL);
    CHECK_CONTAINS(err, want);
    util_clear(&out, &err);
    shmap_lockinfo li;
    CHECK_OK(shmap_lock_info(seg, &li));
    CHECK(li.owner_died && li.dead_pid == cmd && li.writer == 0);
    snprintf(want, sizeof want, "previous writer (pid %ld) died while holding the lock", cmd);
    RUN(0, "lock", name, "--timeout", "10", "--", "true");
    CHECK_CONTAINS(err, want);
    util_clear(&out, &err);
    RUN(0, "lock", name, "--", "true"); /* told once */
    CHECK_STR(err, "");
    util_clear(&out, &err);
    RUN(7, "lock", name, "--write", "--", "sh", "-c", "exit 7");
    CHECK_STR(err, "");
    util_clear(&out, &err);
    RUN(128 + SIGKILL, "lock", name, "--read", "--", "sh", "-c", "kill -9 $$");
    CHECK_STR(err, "");
    util_clear(&out, &err);
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 0));
    CHECK_OK(shmap_unlock(seg));
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(name));
}

TEST(cli__info_shows_the_attached_processes_and_the_lock)
{
    char *out = NULL, *err = NULL;
    const char *name = test_name("info");
    shmap_seg *seg = util_kept_rdwr(name, 8);
    RUN(0, "info", name);
    CHECK_CONTAINS(out, "lock:            free\n");
    CHECK_CONTAINS(out, "attached:        1 process\n");
    util_clear(&out, &err);
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 0));
    char want[64];
    snprintf(want, sizeof want, "exclusive, held by pid %d", (int)getpid());
    RUN(0, "info", name);
    CHECK_CONTAINS(out, want);
    util_clear(&out, &err);
    RUN(0, "info", name, "--json");
    snprintf(want, sizeof want, "\"pid\": %d", (int)getpid());
    CHECK_CONTAINS(out, "\"attached\": [");
    CHECK_CONTAINS(out, want);
    CHECK_CONTAINS(out, "\"writer\": true");
    CHECK_CONTAINS(out, "\"writable\": true, \"other_pidns\": false}");
    snprintf(want, sizeof want, "\"lock\": {\"writer\": %d, \"writer_alive\": true, ",
             (int)getpid());
    CHECK_CONTAINS(out, want);
    util_clear(&out, &err);
    CHECK_OK(shmap_unlock(seg));
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(name));
}

/* Shared holds of killed readers are counted as such on the lock line, not only on each
 * attached process's line further down: "shared, 3 holds" read as three live readers. */
TEST(cli__info_says_which_shared_holds_are_of_dead_processes)
{
    char *out = NULL, *err = NULL;
    const char *name = test_name("deadrd");
    shmap_seg *seg = util_kept_rdwr(name, 8);
    pid_t live = util_spawn_holder(name, SHMAP_LOCK_SHARED);
    pid_t dead[2] = {util_spawn_holder(name, SHMAP_LOCK_SHARED),
                     util_spawn_holder(name, SHMAP_LOCK_SHARED)};
    util_kill9(dead[0]);
    util_kill9(dead[1]);
    RUN(0, "info", name);
    CHECK_CONTAINS(out, "lock:            shared, 3 holds (2 by dead processes: the next "
                        "exclusive locker, or gc, clears them)\n");
    util_kill9(live);
    util_clear(&out, &err);
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(name));
}

/*
 * Start `shmap lock NAME [MODE] -- sh -c SCRIPT` with its stdout on a pipe (*out, to read).
 * It dies with the test; its command is in the test's process group, which the runner kills.
 */
static pid_t start_lock(const char *name, const char *script, int *out)
{
    int p[2];
    CHECK(pipe(p) == 0);
    pid_t pid = util_spawn();
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        execl(test_shmap_bin(), test_shmap_bin(), "lock", name, "--", "sh", "-c", script,
              (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    *out = p[0];
    return pid;
}

/* Read what comes on @p fd until EOF, or until @p want has come when it is not NULL. */
static void read_from(int fd, char *buf, size_t size, const char *want)
{
    size_t len = 0;
    buf[0] = '\0';
    while (len + 1 < size && (!want || !strstr(buf, want))) {
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
    }
}

/* The tester's case: `timeout`, systemd or kill sends SIGTERM to shmap, not to COMMAND. */
TEST(cli__lock_sigterm_keeps_the_lock_until_a_command_that_ignores_it_ends)
{
    char *out = NULL, *err = NULL;
    const char *name = test_name("term-ign");
    shmap_seg *seg = util_kept_rdwr(name, 8);
    char go[512], done[512], script[1280], buf[256];
    snprintf(go, sizeof go, "%s/go", util_test_dir());
    snprintf(done, sizeof done, "%s/done", util_test_dir());
    CHECK(mkfifo(go, 0600) == 0);
    /* The command holds the lock until a line comes through the FIFO. */
    snprintf(script, sizeof script,
             "trap '' TERM; echo started; read line < '%s'; echo done > '%s'; exit 5", go, done);
    int fd;
    pid_t pid = start_lock(name, script, &fd);
    read_from(fd, buf, sizeof buf, "started\n");
    CHECK_STR(buf, "started\n");
    CHECK(kill(pid, SIGTERM) == 0);
    /*
     * A helper lets the command go on once shmap has taken the signal and the next locker
     * (below) waits for the lock, so that locker must wait for the command: it sees what
     * the command wrote last. The helper says go in any case, so nothing hangs.
     */
    pid_t helper = util_spawn();
    if (helper == 0) {
        int why = util_wait_signal_taken(pid, SIGTERM) ? 0 : 10;
        shmap_seg *s = NULL;
        shmap_lockinfo li = {0};
        if (shmap_open(&s, name, SHMAP_RDONLY) != 0)
            why = why ? why : 11;
        for (int i = 0; s && i < 1000 && !li.waiters; i++) {
            if (shmap_lock_info(s, &li) != 0)
                break;
            if (!li.waiters)
                util_sleep_ms(10);
        }
        if (!li.waiters)
            why = why ? why : 12;
        int f = open(go, O_WRONLY);
        if (f < 0 || write(f, "go\n", 3) != 3)
            why = why ? why : 13;
        _exit(why);
    }
    snprintf(script, sizeof script, "cat '%s'", done);
    RUN(0, "lock", name, "--timeout", "10", "--", "sh", "-c", script);
    CHECK_STR(out, "done\n");
    CHECK_STR(err, ""); /* no "previous writer died" */
    util_clear(&out, &err);
    CHECK_EQ_INT(test_wait(helper), 0);
    CHECK_EQ_INT(test_wait(pid), 5);
    close(fd);
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(name));
}

TEST(cli__lock_passes_sigterm_to_the_command_and_ends_by_it_too)
{
    char *out = NULL, *err = NULL;
    const char *name = test_name("term");
    shmap_seg *seg = util_kept_rdwr(name, 8);
    char buf[256];
    int fd;
    pid_t pid = start_lock(name, "echo started; exec sleep 30", &fd);
    read_from(fd, buf, sizeof buf, "started\n");
    CHECK_STR(buf, "started\n");
    double t0 = util_now_s();
    CHECK(kill(pid, SIGTERM) == 0);
    /* shmap outlives the command, lets the lock go, and then ends by the signal that ended
     * the command (a shell sees 128 + 15), without a core dump of its own. */
    int status;
    while (waitpid(pid, &status, 0) < 0)
        CHECK(errno == EINTR);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM && !WCOREDUMP(status));
    CHECK(util_now_s() - t0 < 10);
    /* Released, not left to a dead holder: free at once. The signal ended the command in
     * the middle of whatever it did, so the next writer is warned, naming it. */
    shmap_lockinfo li;
    CHECK_OK(shmap_lock_info(seg, &li));
    CHECK_EQ_INT(li.writer, 0);
    CHECK_EQ_INT(li.owner_died, 1);
    CHECK(li.dead_pid > 0 && li.dead_pid != pid);
    char want[64];
    snprintf(want, sizeof want, "previous writer (pid %d) died", (int)li.dead_pid);
    RUN(0, "lock", name, "--timeout", "0", "--", "echo", "free");
    CHECK_STR(out, "free\n");
    CHECK_CONTAINS(err, want);
    util_clear(&out, &err);
    close(fd);
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(name));
}

/*
 * A command that dies of a signal which dumps core (SIGQUIT here; SIGSEGV and SIGABRT are
 * alike): shmap ends by that signal too, so a shell sees 128 + 3, but writes no core of its
 * own, even where the core limit would let it. The command keeps its own (here: none, by its
 * own `ulimit -c 0`). SIGTERM, above, never dumps, so it cannot show this.
 */
TEST(cli__lock_ends_by_a_dumping_signal_without_a_core_of_its_own)
{
    const char *name = test_name("quit");
    shmap_seg *seg = util_kept_rdwr(name, 8);
    const char *dir = util_test_dir();
    pid_t pid = util_spawn();
    if (pid == 0) {
        const struct rlimit all = {RLIM_INFINITY, RLIM_INFINITY};
        if (setrlimit(RLIMIT_CORE, &all) != 0 || chdir(dir) != 0)
            _exit(126);
        execl(test_shmap_bin(), test_shmap_bin(), "lock", name, "--", "sh", "-c",
              "ulimit -c 0; kill -QUIT $$", (char *)NULL);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        CHECK(errno == EINTR);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGQUIT);
    CHECK(!WCOREDUMP(status));
    CHECK_EQ_INT(util_dir_entries(dir), 0);
    shmap_lockinfo li;
    CHECK_OK(shmap_lock_info(seg, &li));
    CHECK_EQ_INT(li.writer, 0);
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(name));
}

/*
 * A script run under `shmap lock NAME` that deletes NAME: waiting for the lock would be
 * waiting for its own ancestor for ever (it did, then it failed at once). Under --write
 * the name is removed under the enclosing hold, at once, whether the command is rm itself
 * or a shell that runs it, and the lock ends quietly with the command's status; under
 * --read it fails at once, saying so, and the segment is kept. --force removes the name
 * under either, as ever.
 */
TEST(cli__rm_under_shmap_lock_of_the_segment_removes_it_under_write_and_refuses_under_read)
{
    char *out = NULL, *err = NULL;
    const char *name = test_name("rm-under");
    char script[512];
    snprintf(script, sizeof script, "exec '%s' rm --timeout 3 %s", test_shmap_bin(), name);
    shmap_seg *seg = util_kept_rdwr(name, 8);
    CHECK_OK(shmap_close(seg));
    double t0 = util_now_s();
    RUN(0, "lock", name, "--", "sh", "-c", script);
    CHECK(util_now_s() - t0 < 2.5); /* not the --timeout */
    CHECK_STR(err, "");
    CHECK(!util_shm_exists(name));
    seg = util_kept_rdwr(name, 8);
    CHECK_OK(shmap_close(seg));
    RUN(0, "lock", name, "--write", "--", test_shmap_bin(), "rm", name);
    CHECK_STR(err, "");
    CHECK(!util_shm_exists(name));

    seg = util_kept_rdwr(name, 8);
    t0 = util_now_s();
    RUN(1, "lock", name, "--read", "--", "sh", "-c", script);
    CHECK(util_now_s() - t0 < 2.5);
    CHECK_CONTAINS(err, "runs under `shmap lock --read` (pid ");
    CHECK_CONTAINS(err, "delete under `shmap lock --write`, after that lock ends, or with "
                        "--force");
    CHECK(util_shm_exists(name));
    snprintf(script, sizeof script, "exec '%s' rm --force %s", test_shmap_bin(), name);
    RUN(0, "lock", name, "--read", "--", "sh", "-c", script);
    CHECK(!util_shm_exists(name));
    util_clear(&out, &err);
    CHECK_OK(shmap_close(seg));
}

/*
 * A delete under an enclosing `shmap lock --write` of another segment is a delete as any
 * other: it waits for that segment's holder (this test process: an ancestor of rm, but no
 * enclosing `shmap lock`, which the error line says), and deletes it once that lets go.
 */
TEST(cli__rm_under_shmap_lock_waits_for_another_segment_holder)
{
    char *out = NULL, *err = NULL;
    const char *name = test_name("rm-under-a"), *other = test_name("rm-under-b");
    shmap_seg *seg = util_kept_rdwr(name, 8), *held = util_kept_rdwr(other, 8);
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_lock(held, SHMAP_LOCK_EXCLUSIVE, 0));
    RUN(1, "lock", name, "--", test_shmap_bin(), "rm", "--timeout", "0.3", other);
    CHECK_CONTAINS(err, "timed out after 0.3 s waiting for exclusive access");
    CHECK_CONTAINS(err, "(an ancestor of this process, which holds it while rm waits)");
    CHECK(util_shm_exists(other));
    CHECK(util_shm_exists(name));
    CHECK_OK(shmap_unlock(held));
    RUN(0, "lock", name, "--", test_shmap_bin(), "rm", other, name);
    CHECK(!util_shm_exists(other));
    CHECK(!util_shm_exists(name));
    util_clear(&out, &err);
    CHECK_OK(shmap_close(held));
}

/*
 * The name replaced between rm's look at the enclosing lock and the library's delete (held
 * open here by strace, which delays the delete's open of the name): the new segment is not
 * under the enclosing lock, and the library refuses to delete it so (-ENOLCK). rm looks
 * again and deletes it as any other, waiting for its holders (none here). It said "nobody
 * holds its exclusive lock ... take it first" to a user who had asked for no lock, and
 * exited 1.
 */
TEST(cli__rm_under_shmap_lock_deletes_a_segment_put_under_the_name_meanwhile)
{
    if (system("strace -V >/dev/null 2>&1") != 0)
        TEST_SKIP("strace is not installed (apt-get install strace)");
    const char *name = test_name("rm-swap");
    shmap_seg *seg = util_kept_rdwr(name, 8);
    CHECK_OK(shmap_close(seg));
    char path[SHMAP_NAME_MAX + 16];
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    int err[2];
    CHECK(pipe(err) == 0);
    pid_t pid = util_spawn();
    if (pid == 0) {
        dup2(err[1], 2);
#ifdef UTIL_ASAN
        setenv("ASAN_OPTIONS", "detect_leaks=0", 1); /* LeakSanitizer cannot run traced */
#endif
        /* The second open of the name: rm's delete, after its look at the lock. */
        execl(test_shmap_bin(), test_shmap_bin(), "lock", name, "--write", "--", "strace",
              "-f", "-qq", "-o", "/dev/null", "-P", path, "-e",
              "inject=openat:delay_enter=4000000:when=2", test_shmap_bin(), "rm", name,
              (char *)NULL);
        _exit(127);
    }
    close(err[1]);
    util_sleep_ms(1500);
    CHECK_OK(shmap_unlink(name)); /* the locked one goes; a new one takes its name */
    seg = util_kept_rdwr(name, 8);
    CHECK_OK(shmap_close(seg));
    int status = test_wait(pid);
    char said[2048] = "";
    ssize_t n = read(err[0], said, sizeof said - 1);
    said[n > 0 ? n : 0] = '\0';
    close(err[0]);
    if (status != 0)
        test_fail(__FILE__, __LINE__, "exit %d; stderr: %s", status, said);
    CHECK_STR(said, "");
    CHECK(!util_shm_exists(name));
}

/*
 * Ctrl-C in a script that loops over locked commands stops the script, as it would with the
 * commands run bare: bash goes on after a foreground command that got the SIGINT it got
 * too unless that command died of it, so shmap must die of it, not exit with 130 (it did,
 * and the loop ran on). The terminal's SIGINT to the foreground process group is sent by
 * hand to the group of a bash started in a session of its own.
 */
TEST(cli__lock_ctrl_c_stops_a_script_that_loops_over_locked_commands)
{
    if (access("/bin/bash", X_OK) != 0)
        TEST_SKIP("no /bin/bash here");
    const char *name = test_name("ctrlc");
    shmap_seg *seg = util_kept_rdwr(name, 8);
    pid_t pid = util_spawn();
    if (pid == 0) {
        setsid();
        int null = open("/dev/null", O_RDWR);
        dup2(null, 1);
        dup2(null, 2);
        execl("/bin/bash", "bash", "-c",
              "for i in 1 2 3; do \"$0\" lock \"$1\" -- sleep 2; done; exit 7",
              test_shmap_bin(), name, (char *)NULL);
        _exit(127);
    }
    /* Once the first command holds the lock, the "terminal" interrupts. */
    shmap_lockinfo li = {0};
    double t0 = util_now_s();
    while (shmap_lock_info(seg, &li) == 0 && !li.writer && util_now_s() - t0 < 10)
        usleep(10000);
    CHECK(li.writer > 0);
    usleep(100000); /* the command is running (the lock is taken just before it starts) */
    CHECK(kill(-pid, SIGINT) == 0);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        CHECK(errno == EINTR);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT);
    CHECK(util_now_s() - t0 < 4); /* not the three rounds */
    /* Released, with the interrupted writer's death for the next writer to hear of. */
    CHECK_ERR(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 0), SHMAP_EOWNERDEAD);
    CHECK_OK(shmap_unlock(seg));
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(name));
}

/*
 * A SIGKILL, which shmap cannot pass on, ends the command too: it must not run on without
 * the lock beside the next writer (it did, for as long as it ran). The next writer is
 * warned that the holder died. This process adopts the orphaned command to see it end.
 */
TEST(cli__lock_killed_with_sigkill_takes_its_command_with_it)
{
    char *out = NULL, *err = NULL;
    const char *name = test_name("kill9");
    shmap_seg *seg = util_kept_rdwr(name, 8);
    CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
    char buf[256];
    int fd;
    pid_t pid = start_lock(name, "echo $$; exec sleep 30", &fd);
    read_from(fd, buf, sizeof buf, "\n");
    pid_t command = (pid_t)atoi(buf);
    CHECK(command > 0);
    util_kill9(pid);
    /* Reaped here once the kernel has killed it: by SIGKILL, well before its 30 s. */
    double t0 = util_now_s();
    int status = 0;
    pid_t r;
    while ((r = waitpid(command, &status, WNOHANG)) == 0 && util_now_s() - t0 < 10)
        util_sleep_ms(5);
    if (r == 0) {
        kill(command, SIGKILL);
        waitpid(command, &status, 0);
    }
    CHECK_EQ_INT(r, command);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    RUN(0, "lock", name, "--timeout", "5", "--", "echo", "next");
    CHECK_STR(out, "next\n");
    CHECK_ERROR_LINE(err, "warning: previous writer");
    util_clear(&out, &err);
    close(fd);
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(name));
}

/*
 * Before the command starts, SIGTERM ends shmap at once and leaves no trace: behind a
 * reader, the writer's claim it had made is given back rather than left to look like a
 * writer that died holding the lock.
 */
TEST(cli__lock_sigterm_while_waiting_ends_it_and_leaves_the_lock_clean)
{
    char *out = NULL, *err = NULL;
    const char *name = test_name("term-wait");
    shmap_seg *seg = util_kept_rdwr(name, 8);
    for (int shared = 0; shared <= 1; shared++) {
        CHECK_OK(shmap_lock(seg, shared ? SHMAP_LOCK_SHARED : SHMAP_LOCK_EXCLUSIVE, 0));
        int fd;
        pid_t pid = start_lock(name, "echo ran", &fd);
        /* Wait until it waits: behind a reader it claims the writer's place, behind a
         * writer it marks the lock as waited for. */
        shmap_lockinfo li;
        double t0 = util_now_s();
        for (;;) {
            CHECK_OK(shmap_lock_info(seg, &li));
            if (shared ? li.writer == pid : li.waiters != 0)
                break;
            CHECK(util_now_s() - t0 < 10);
            util_sleep_ms(5);
        }
        CHECK(util_wait_asleep(pid)); /* and sleeps in that wait */
        t0 = util_now_s();
        CHECK(kill(pid, SIGTERM) == 0);
        CHECK_EQ_INT(test_wait(pid), 128 + SIGTERM);
        CHECK(util_now_s() - t0 < UTIL_PROMPT_S); /* it would wait for ever */
        char buf[256];
        read_from(fd, buf, sizeof buf, NULL);
        CHECK_STR(buf, ""); /* the command never ran */
        close(fd);
        CHECK_OK(shmap_lock_info(seg, &li));
        CHECK_EQ_INT(li.owner_died, 0);
        CHECK_EQ_INT(li.writer, shared ? 0 : getpid());
        if (shared) {
            /* No writer's claim is left to keep readers out. */
            RUN(0, "lock", name, "--read", "--timeout", "0", "--", "true");
            util_clear(&out, &err);
        }
        CHECK_OK(shmap_unlock(seg));
        RUN(0, "lock", name, "--timeout", "0", "--", "true");
        CHECK_STR(err, "");
        util_clear(&out, &err);
    }
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(name));
}

TEST(cli__lock_granted_after_the_segment_was_deleted_does_not_run_the_command)
{
    /* A lock waited for behind a holder, while the segment is deleted (rm --force, or an
     * rm that got the lock first): once granted it is the lock of an object nobody will
     * open again, so the command is not run, and the wait ends with exit 1 saying why. */
    const char *name = test_name("lock-rm");
    shmap_seg *seg = util_kept_rdwr(name, 8);
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 0));
    int fd;
    pid_t pid = start_lock(name, "echo ran", &fd);
    shmap_lockinfo li;
    double t0 = util_now_s();
    do {
        CHECK_OK(shmap_lock_info(seg, &li));
        CHECK(util_now_s() - t0 < 10);
        util_sleep_ms(5);
    } while (li.waiters == 0);
    CHECK(util_wait_asleep(pid));
    CHECK_OK(shmap_delete(name, 0, SHMAP_DELETE_FORCE));
    CHECK_OK(shmap_unlock(seg));
    CHECK_EQ_INT(test_wait(pid), 1);
    char buf[256];
    read_from(fd, buf, sizeof buf, NULL);
    CHECK_STR(buf, ""); /* the command never ran */
    close(fd);
    CHECK_OK(shmap_close(seg));
}
