/*
 * The lock state in shmap info tells a writer that waits for readers from one that holds
 * the lock: a writer blocked behind shared holds has claimed the lock (new readers queue)
 * but holds nothing yet.
 */
#include <signal.h>
#include <sys/wait.h>

#include "../util.h"

TEST(cli__info_tells_a_writer_waiting_for_readers_from_one_holding_the_lock)
{
    char *out = NULL, *err = NULL;
    const char *name = test_name("wait");
    shmap_seg *seg = util_kept_rdwr(name, 8);
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_SHARED, 0));
    pid_t writer = util_spawn();
    if (writer == 0) {
        execl(test_shmap_bin(), test_shmap_bin(), "lock", name, "--write", "--", "true",
              (char *)NULL);
        _exit(127);
    }
    /* The writer claims the word, then sleeps until our shared hold ends. */
    shmap_lockinfo li = {0};
    double deadline = util_now_s() + 10;
    while (shmap_lock_info(seg, &li) == 0 && li.writer != writer && util_now_s() < deadline)
        util_sleep_ms(5);
    CHECK(li.writer == writer);
    CHECK(util_wait_asleep(writer));
    CHECK_OK(shmap_lock_info(seg, &li));
    CHECK(li.writer == writer && li.writer_alive && li.writer_waiting && li.shared == 1);

    char want[128];
    snprintf(want, sizeof want, "exclusive, being taken by pid %d, waiting for 1 shared "
                                "hold to end\n", (int)writer);
    RUN(0, "info", name);
    CHECK_CONTAINS(out, want);
    RUN(0, "info", name, "--json");
    snprintf(want, sizeof want, "\"lock\": {\"writer\": %d, \"writer_alive\": true, "
                                "\"writer_waiting\": true, \"shared\": 1,", (int)writer);
    CHECK_CONTAINS(out, want);
    char who[256];
    CHECK_OK(shmap_lock_holders(seg, who, sizeof who));
    snprintf(want, sizeof want, "being taken (waiting for readers) by pid %d", (int)writer);
    CHECK_CONTAINS(who, want);

    /* Our hold ends: the writer takes the lock, runs its command and lets go. */
    CHECK_OK(shmap_unlock(seg));
    int status = 0;
    CHECK(waitpid(writer, &status, 0) == writer);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* A writer that holds the lock is not waiting. */
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 0));
    CHECK_OK(shmap_lock_info(seg, &li));
    CHECK(li.writer == getpid() && !li.writer_waiting);
    RUN(0, "info", name, "--json");
    CHECK_CONTAINS(out, "\"writer_waiting\": false");
    RUN(0, "info", name);
    snprintf(want, sizeof want, "exclusive, held by pid %d\n", (int)getpid());
    CHECK_CONTAINS(out, want);
    util_clear(&out, &err);
    CHECK_OK(shmap_unlock(seg));
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(name));
}

TEST(cli__lock_busy_or_timed_out_names_the_holders)
{
    char *out = NULL, *err = NULL;
    const char *name = test_name("who");
    shmap_seg *seg = util_kept_rdwr(name, 8);
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 0));
    char want[256];
    RUN(1, "lock", name, "--timeout", "0", "--", "true");
    snprintf(want, sizeof want, "shmap: %s: not free: the exclusive lock is held by pid %d\n",
             name, (int)getpid());
    CHECK_STR(err, want);
    CHECK_OK(shmap_unlock(seg));
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_SHARED, 0));
    RUN(1, "lock", name, "--timeout", "0.1", "--", "true");
    snprintf(want, sizeof want, "shmap: %s: timed out after 0.1 s waiting for the exclusive "
                                "lock: shared holds by pids %d\n", name, (int)getpid());
    CHECK_STR(err, want);
    util_clear(&out, &err);
    CHECK_OK(shmap_unlock(seg));
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(name));
}
