/*
 * A segment whose attach table is full (SHMAP__LOCK_SLOTS processes opened it read-write)
 * still opens, unrecorded, but its lock cannot be taken. Readers that copy the data (cat,
 * export) then make the checked copy alone, as a reader who may not write the segment
 * does; writers (fill, set) and `shmap lock` fail at once with one clear line, never wait.
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

    end_children(pids);
    RUN(0, "rm", name);
    free(out);
    free(err);
}
