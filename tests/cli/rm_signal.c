/*
 * shmap rm waiting for lock holders holds a writer's claim, which keeps new readers out;
 * a signal that ends it gives the claim back before it dies, and removes nothing.
 */
#include <signal.h>
#include <sys/wait.h>

#include "../util.h"

TEST(cli__rm_ended_by_a_signal_while_it_waits_gives_its_claim_back)
{
    const char *name = test_name("rmsig");
    shmap_seg *seg = util_kept_rdwr(name, 8);
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_SHARED, 0));
    pid_t rm = util_spawn();
    if (rm == 0) {
        execl(test_shmap_bin(), test_shmap_bin(), "rm", name, (char *)NULL);
        _exit(127);
    }
    shmap_lockinfo li = {0};
    double deadline = util_now_s() + 10;
    while (shmap_lock_info(seg, &li) == 0 && !(li.writer == rm && li.writer_waiting) &&
           util_now_s() < deadline)
        util_sleep_ms(5);
    CHECK(li.writer == rm && li.writer_waiting);
    CHECK(util_wait_asleep(rm));
    kill(rm, SIGTERM);
    int status = 0;
    CHECK(waitpid(rm, &status, 0) == rm);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
    /* The claim went with it, not left for the next locker to find dead. */
    CHECK_OK(shmap_lock_info(seg, &li));
    CHECK_EQ_INT(li.writer, 0);
    CHECK(util_shm_exists(name));
    CHECK_OK(shmap_unlock(seg));
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(name));
}
