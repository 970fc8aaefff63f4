/*
 * A try (timeout 0) never waits, so it cannot wait for a waiter's liveness check either: it
 * checks the holders itself, at most once a 10 ms slice per mapping. A holder or a waiting
 * writer killed with SIGKILL must not keep a try reporting "busy" until some blocking
 * locker happens along.
 */
#include <signal.h>

#include "../util.h"

/*
 * Try the lock until it is no longer busy: a try checks the holders at most once a 10 ms
 * slice per mapping, so one made just after an earlier busy try may still see the dead
 * holder. The code of the first try that was not busy; a dead holder must not keep tries
 * busy for more than a fraction of a second (bounded loosely, by UTIL_PROMPT_S, so that a
 * loaded machine does not fail it: tries that stay busy run on to 10 s).
 */
static int try_until_free(shmap_seg *seg, unsigned flags)
{
    double t0 = util_now_s();
    int rc;
    while ((rc = shmap_lock(seg, flags, 0)) == -EBUSY && util_now_s() - t0 < 10)
        util_sleep_ms(1);
    CHECK(util_now_s() - t0 < UTIL_PROMPT_S);
    return rc;
}

TEST(trylock__a_writer_killed_holding_the_lock_does_not_keep_tries_busy)
{
    const char *name = test_name("tw");
    shmap_seg *seg = util_kept_rdwr(name, 16);
    pid_t writer = util_spawn_holder(name, SHMAP_LOCK_EXCLUSIVE);
    CHECK_EQ_INT(shmap_lock(seg, SHMAP_LOCK_SHARED, 0), -EBUSY); /* alive: busy */
    util_kill9(writer);
    /* A try of the shared lock recovers the lock; the next writer is still told. */
    CHECK_OK(try_until_free(seg, SHMAP_LOCK_SHARED));
    CHECK_OK(shmap_unlock(seg));
    CHECK_EQ_INT(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 0), SHMAP_EOWNERDEAD);
    char want[64];
    snprintf(want, sizeof want, "pid %d", (int)writer);
    CHECK_CONTAINS(shmap_last_error(), want);
    CHECK_OK(shmap_unlock(seg));
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(name));
}

TEST(trylock__an_exclusive_try_recovers_a_killed_writer_itself)
{
    const char *name = test_name("tx");
    shmap_seg *seg = util_kept_rdwr(name, 16);
    pid_t writer = util_spawn_holder(name, SHMAP_LOCK_EXCLUSIVE);
    util_kill9(writer);
    CHECK_EQ_INT(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 0), SHMAP_EOWNERDEAD);
    CHECK_OK(shmap_unlock(seg));
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(name));
}

TEST(trylock__readers_killed_holding_the_lock_do_not_keep_an_exclusive_try_busy)
{
    const char *name = test_name("tr");
    shmap_seg *seg = util_kept_rdwr(name, 16);
    pid_t readers[3];
    for (int i = 0; i < 3; i++)
        readers[i] = util_spawn_holder(name, SHMAP_LOCK_SHARED);
    CHECK_EQ_INT(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 0), -EBUSY);
    for (int i = 0; i < 3; i++)
        util_kill9(readers[i]);
    CHECK_OK(try_until_free(seg, SHMAP_LOCK_EXCLUSIVE)); /* no writer died: plain success */
    shmap_lockinfo li;
    CHECK_OK(shmap_lock_info(seg, &li));
    CHECK(li.shared == 0 && !li.owner_died);
    CHECK_OK(shmap_unlock(seg));
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(name));
}

TEST(trylock__a_writer_killed_while_waiting_for_readers_does_not_keep_tries_busy)
{
    const char *name = test_name("tww");
    shmap_seg *seg = util_kept_rdwr(name, 16);
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_SHARED, 0));
    pid_t writer = util_spawn(); /* waits for our shared hold to end */
    if (writer == 0) {
        shmap_seg *s = NULL;
        if (shmap_open(&s, name, SHMAP_RDWR) == 0)
            shmap_lock(s, SHMAP_LOCK_EXCLUSIVE, -1);
        _exit(1);
    }
    shmap_lockinfo li = {0};
    double deadline = util_now_s() + 10;
    while (shmap_lock_info(seg, &li) == 0 && li.writer != writer && util_now_s() < deadline)
        util_sleep_ms(2);
    CHECK(li.writer == writer && li.writer_waiting);
    util_kill9(writer);
    CHECK_OK(shmap_unlock(seg));
    /* Its claim keeps new readers out until someone sees it is dead: a try does. */
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_SHARED, 0));
    CHECK_OK(shmap_unlock(seg));
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 0)); /* it held nothing: nobody is told */
    CHECK_OK(shmap_unlock(seg));
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(name));
}
