/*
 * shmap lock and the lock state in shmap info: the command runs holding the lock and exits
 * with its status, a timeout fails with status 1 and one clear line, a dead writer is named
 * in a warning line.
 */
#include <signal.h>
#include <sys/prctl.h>

#include "../util.h"

static shmap_seg *make_kept(const char *name)
{
    const uint64_t dims[1] = {8};
    util_make_kept(name, SHMAP_U8, 1, dims);
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDWR));
    return seg;
}

TEST(cli__lock_runs_the_command_holding_the_lock_and_exits_with_its_status)
{
    char *out = NULL, *err = NULL;
    const char *name = test_name("run");
    shmap_seg *seg = make_kept(name);
    /* Inside the command the lock is held: a try from another lock fails. */
    char script[512];
    snprintf(script, sizeof script,
             "'%s' lock %s --timeout 0 -- true 2>/dev/null && exit 9; echo inside; exit 3",
             test_shmap_bin(), name);
    RUN(3, "lock", name, "--", "sh", "-c", script);
    CHECK_STR(out, "inside\n");
    util_clear(&out, &err);
    /* Afterwards it is free again, for this process too. */
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 0));
    CHECK_OK(shmap_unlock(seg));
    RUN(0, "lock", name, "--read", "--", "true");
    util_clear(&out, &err);
    RUN(127, "lock", name, "--", "/nonexistent/command");
    CHECK_CONTAINS(err, "cannot run");
    util_clear(&out, &err);
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(name));
}

TEST(cli__lock_timeout_fails_with_status_1_and_a_clear_message)
{
    char *out = NULL, *err = NULL;
    const char *name = test_name("tmo");
    shmap_seg *seg = make_kept(name);
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
    shmap_seg *seg = make_kept(name);
    int p[2];
    CHECK(pipe(p) == 0);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        shmap_seg *s = NULL;
        char ok = shmap_open(&s, name, SHMAP_RDWR) == 0 &&
                  shmap_lock(s, SHMAP_LOCK_EXCLUSIVE, 5) == 0 ? 'L' : 'E';
        if (write(p[1], &ok, 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    char c = 0;
    CHECK(read(p[0], &c, 1) == 1 && c == 'L');
    CHECK(kill(pid, SIGKILL) == 0);
    CHECK_EQ_INT(test_wait(pid), 128 + SIGKILL);
    RUN(0, "lock", name, "--timeout", "5", "--", "echo", "ran");
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

TEST(cli__info_shows_the_attached_processes_and_the_lock)
{
    char *out = NULL, *err = NULL;
    const char *name = test_name("info");
    shmap_seg *seg = make_kept(name);
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
    CHECK_CONTAINS(out, "\"writable\": true}");
    snprintf(want, sizeof want, "\"lock\": {\"writer\": %d, \"writer_alive\": true, ",
             (int)getpid());
    CHECK_CONTAINS(out, want);
    util_clear(&out, &err);
    CHECK_OK(shmap_unlock(seg));
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(name));
}
