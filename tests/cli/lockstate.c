/*
 * The lock state in shmap info tells a writer that waits for readers from one that holds
 * the lock: a writer blocked behind shared holds has claimed the lock (new readers queue)
 * but holds nothing yet.
 */
#include <signal.h>
#include <sys/stat.h>
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
                                "lock: shared hold by pid %d\n", name, (int)getpid());
    CHECK_STR(err, want);
    /* Two holders: in the plural. */
    pid_t other = util_spawn_holder(name, SHMAP_LOCK_SHARED);
    RUN(1, "lock", name, "--timeout", "0", "--", "true");
    int first = other < getpid() ? (int)other : (int)getpid();
    int second = other < getpid() ? (int)getpid() : (int)other;
    char want2[256];
    snprintf(want, sizeof want, "shmap: %s: not free: shared holds by pids %d, %d\n", name,
             first, second);
    snprintf(want2, sizeof want2, "shmap: %s: not free: shared holds by pids %d, %d\n", name,
             second, first);
    if (strcmp(err, want) != 0 && strcmp(err, want2) != 0)
        test_fail(__FILE__, __LINE__, "\"%s\" is neither \"%s\" nor \"%s\"", err, want, want2);
    util_kill9(other);
    util_clear(&out, &err);
    CHECK_OK(shmap_unlock(seg));
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(name));
}

/*
 * What info says of a writer that died holding the lock, at each step: held by a dead pid
 * until a locker finds it; then owner_died with its pid until an exclusive locker is told;
 * then owner_died false, and dead_pid still naming it (it names the last writer found dead,
 * until another dies so).
 */
TEST(cli__info_keeps_the_dead_writers_pid_after_the_next_writer_is_told)
{
    char *out = NULL, *err = NULL, want[256];
    const char *name = test_name("died");
    shmap_seg *seg = util_kept_rdwr(name, 8);
    pid_t pid = util_spawn_holder(name, SHMAP_LOCK_EXCLUSIVE);
    util_kill9(pid);
    RUN(0, "info", name, "--json");
    snprintf(want, sizeof want, "\"lock\": {\"writer\": %d, \"writer_alive\": false,", (int)pid);
    CHECK_CONTAINS(out, want);
    CHECK_CONTAINS(out, "\"owner_died\": false, \"dead_pid\": null,");

    /* A reader finds the writer dead and takes its shared hold: nobody is told yet. */
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_SHARED, 10));
    RUN(0, "info", name, "--json");
    snprintf(want, sizeof want, "\"owner_died\": true, \"dead_pid\": %d,", (int)pid);
    CHECK_CONTAINS(out, want);
    RUN(0, "info", name);
    snprintf(want, sizeof want, "owner_died:      pid %d died holding the exclusive lock",
             (int)pid);
    CHECK_CONTAINS(out, want);
    CHECK_OK(shmap_unlock(seg));

    /* The next exclusive locker is told; owner_died is cleared, dead_pid kept. */
    CHECK_ERR(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 10), SHMAP_EOWNERDEAD);
    CHECK_OK(shmap_unlock(seg));
    RUN(0, "info", name, "--json");
    snprintf(want, sizeof want, "\"owner_died\": false, \"dead_pid\": %d,", (int)pid);
    CHECK_CONTAINS(out, want);
    RUN(0, "info", name);
    CHECK(!strstr(out, "owner_died"));
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 0)); /* told once */
    CHECK_OK(shmap_unlock(seg));
    util_clear(&out, &err);
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(name));
}

/*
 * A holder in another pid namespace (a container sharing the segment) cannot be checked:
 * its pid means nothing here, so it is counted alive, never recovered, and every report
 * says why. (Simulated: a slot naming a pid that is dead here and another namespace.)
 */
TEST(cli__a_holder_in_another_pid_namespace_is_reported_as_unchecked)
{
    char *out = NULL, *err = NULL, want[160];
    const char *name = test_name("pidns");
    shmap_seg *seg = util_kept_rdwr(name, 8);
    struct stat ns;
    CHECK(stat("/proc/self/ns/pid", &ns) == 0);
    pid_t gone = util_spawn();
    if (gone == 0)
        _exit(0);
    CHECK_EQ_INT(test_wait(gone), 0);
    struct shmap__lockarea *a =
        (struct shmap__lockarea *)((char *)shmap_data(seg) - 4096 + SHMAP__LOCK_OFFSET);
    struct shmap__lockslot *s = &a->slots[5];
    s->pidns = (uint32_t)ns.st_ino + 1;
    s->start = 12345;
    s->flags = SHMAP__SLOT_RDWR;
    __atomic_store_n(&s->shared, 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&s->pid, gone, __ATOMIC_SEQ_CST);
    a->nslots = 6;

    shmap_attacher att[8];
    int n = shmap_attached(seg, att, 8);
    CHECK_EQ_INT(n, 2);
    CHECK(att[1].pid == gone && att[1].alive && att[1].other_pidns && att[1].shared == 1);
    CHECK(att[0].pid == getpid() && !att[0].other_pidns);
    CHECK_ERR(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 0.05), -ETIMEDOUT);
    char who[512];
    CHECK_OK(shmap_lock_holders(seg, who, sizeof who));
    CHECK_CONTAINS(who, "in another pid namespace, so it cannot be checked");
    CHECK_EQ_INT(s->pid, gone); /* not reclaimed */

    RUN(0, "info", name);
    snprintf(want, sizeof want, "  pid %-8d ?     shared 1  read-write  (in another pid "
                                "namespace: cannot be checked)\n", (int)gone);
    CHECK_CONTAINS(out, want);
    RUN(0, "info", name, "--json");
    snprintf(want, sizeof want, "{\"pid\": %d, \"alive\": true, \"shared\": 1, ", (int)gone);
    CHECK_CONTAINS(out, want);
    CHECK_CONTAINS(out, "\"writable\": true, \"other_pidns\": true}");
    RUN(1, "rm", name, "--timeout", "0");
    CHECK_CONTAINS(err, "in another pid namespace, so it cannot be checked: if that process is "
                        "gone, use --force)");
    util_clear(&out, &err);

    /* As the writer, likewise. */
    __atomic_store_n(&s->shared, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&a->word, SHMAP__LW_WRITER | 5u, __ATOMIC_SEQ_CST);
    shmap_lockinfo li;
    CHECK_OK(shmap_lock_info(seg, &li));
    CHECK(li.writer == gone && li.writer_alive && li.writer_other_pidns);
    RUN(0, "info", name);
    snprintf(want, sizeof want, "exclusive, held by pid %d (in another pid namespace: cannot "
                                "be checked)\n", (int)gone);
    CHECK_CONTAINS(out, want);
    RUN(0, "info", name, "--json");
    CHECK_CONTAINS(out, "\"writer_other_pidns\": true}");
    util_clear(&out, &err);
    __atomic_store_n(&a->word, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&s->pid, 0, __ATOMIC_SEQ_CST);
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(name));
}
