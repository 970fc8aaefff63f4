/*
 * A segment whose attach table is full (SHMAP__LOCK_SLOTS processes opened it read-write)
 * still opens, unrecorded, but its lock cannot be taken. Readers that copy the data (cat,
 * export) then wait for a writer holding the exclusive lock and make the checked copy
 * alone, as a reader who may not write the segment does; writers (fill, set) and `shmap
 * lock` fail at once with one clear line, never wait.
 */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "../util.h"

/* Fill the table of `name` with children that opened it read-write; their pids in `pids`. */
static void fill_table(const char *name, pid_t *pids)
{
    for (unsigned i = 0; i < SHMAP__LOCK_SLOTS; i++)
        pids[i] = util_spawn_opener(name, SHMAP_RDWR, 0);
}

static void end_children(pid_t *pids)
{
    for (unsigned i = 0; i < SHMAP__LOCK_SLOTS; i++)
        if (pids[i] > 0)
            kill(pids[i], SIGKILL);
    for (unsigned i = 0; i < SHMAP__LOCK_SLOTS; i++)
        if (pids[i] > 0)
            waitpid(pids[i], NULL, 0);
}

TEST(cli__a_full_attach_table_leaves_cat_and_export_the_checked_copy)
{
    char *out = NULL, *err = NULL;
    const char *name = test_name("full");
    shmap_seg *seg = util_kept_rdwr(name, 4);
    memcpy(shmap_data(seg), "\x01\x02\x03\x04", 4);
    CHECK_OK(shmap_close(seg));
    static pid_t pids[SHMAP__LOCK_SLOTS];
    fill_table(name, pids);

    RUN(0, "info", name);
    CHECK_CONTAINS(out, "110 processes");
    RUN(0, "cat", name);
    CHECK_STR(out, "1 2 3 4\n");
    CHECK_STR(err, "");
    const char *npy = util_test_path("full.npy");
    RUN(0, "export", name, npy);
    size_t len = 0;
    unsigned char *file = util_read_file(npy, &len);
    CHECK(len > 4 && memcmp(file + len - 4, "\x01\x02\x03\x04", 4) == 0);
    free(file);

    /* Writers and lockers need a slot: refused at once, with the reason. */
    double t0 = util_now_s();
    RUN(1, "fill", name, "9");
    CHECK_ERROR_LINE(err, "the attach table is full (110 processes)");
    RUN(1, "set", name, "0", "9");
    CHECK_ERROR_LINE(err, "the attach table is full (110 processes)");
    RUN(1, "lock", name, "--", "true");
    CHECK_ERROR_LINE(err, "the attach table is full (110 processes)");
    CHECK(util_now_s() - t0 < 10);
    RUN(0, "cat", name);
    CHECK_STR(out, "1 2 3 4\n");

    /* One process lets go: its slot serves the next locker. */
    kill(pids[0], SIGKILL);
    waitpid(pids[0], NULL, 0);
    pids[0] = 0;
    RUN(0, "fill", name, "9");
    RUN(0, "cat", name);
    CHECK_STR(out, "9 9 9 9\n");

    /* A writer that takes that slot and holds the exclusive lock, the table full again,
     * writing half now and half later: cat waits for it, as the shared lock would. */
    struct util_chan c;
    util_chan_open(&c);
    pids[0] = util_spawn();
    if (pids[0] == 0) {
        shmap_seg *w = NULL;
        if (shmap_open(&w, name, SHMAP_RDWR) < 0 || shmap_lock(w, SHMAP_LOCK_EXCLUSIVE, 5) < 0)
            _exit(10);
        memset(shmap_data(w), 5, 2);
        util_child_send(&c, 'L');
        util_child_recv(&c);
        util_sleep_ms(300);
        memset((char *)shmap_data(w) + 2, 5, 2);
        shmap_unlock(w);
        util_child_send(&c, 'U');
        for (;;)
            pause();
    }
    CHECK_EQ_INT(util_parent_recv(&c), 'L');
    RUN(1, "cat", name, "--timeout", "0.1");
    CHECK_ERROR_LINE(err, "timed out waiting for the lock");
    util_parent_send(&c, 'g');
    double t1 = util_now_s();
    RUN(0, "cat", name);
    CHECK_STR(out, "5 5 5 5\n");
    CHECK(util_now_s() - t1 >= 0.2);
    CHECK_EQ_INT(util_parent_recv(&c), 'U');
    util_chan_close(&c);

    end_children(pids);
    RUN(0, "rm", name);
    free(out);
    free(err);
}
