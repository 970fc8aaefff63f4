/*
 * A consistent copy of a segment's data for the commands that read it (export, cat).
 *
 * A snapshot, never torn by a writer that plays by the rules. The data is copied out while
 * holding the segment's shared lock, which keeps out writers that take the exclusive one
 * (`shmap lock`, shmap_lock()), and the copy is checked as shmap_read_frame() checks a
 * frame: against the generation and the write in progress (shmap_write_begin), so writers
 * that only publish, as `fill` does, are caught too; a copy a writer touched is made again.
 * A user who may read but not write the segment cannot lock it, and gets the checked copy
 * alone.
 */
#include <errno.h>
#include <time.h>

#include "cli.h"

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * With no timeout, how long a copy is tried again while writers keep it from being whole.
 * The lock is waited for as long as it takes, as `shmap lock` does, but writers that
 * publish without taking it (`fill`, shmap_write_begin() alone) can change the data for
 * ever: the command then ends, saying so, rather than spinning unseen.
 */
#define COPY_PATIENCE_S 10.0

/* Copy the data until a copy is whole: no write began or was published meanwhile. */
static int copy_whole(const char *name, shmap_seg *seg, double timeout, cli_copy_fn copy,
                      void *ctx)
{
    int patience = timeout < 0;
    double deadline = mono_s() + (patience ? COPY_PATIENCE_S : timeout);
    for (;;) {
        pid_t writer = 0;
        int state = shmap_write_state(seg, &writer);
        uint64_t g0 = shmap_generation(seg);
        if (state == SHMAP_WRITE_IN_PROGRESS) {
            /* Wait for its publish, in short slices to see a writer die meanwhile. */
            double left = deadline - mono_s();
            if (left <= 0 && patience)
                return cli_fail(name, "no whole copy in %g s: pid %d has been writing the "
                                      "data all along; give --timeout SECONDS to wait longer",
                                COPY_PATIENCE_S, (int)writer);
            if (left <= 0)
                return cli_fail(name, "no whole copy within the timeout: pid %d is writing "
                                      "the data", (int)writer);
            uint64_t seen = g0;
            shmap_wait(seg, &seen, left < 0.05 ? left : 0.05);
            continue;
        }
        copy(ctx, shmap_data(seg));
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        /* Whole if nothing was published, and no write began (and was given up, or its
         * writer died) meanwhile: the same state, by the same writer. */
        pid_t writer2 = 0;
        int state2 = shmap_write_state(seg, &writer2);
        if (shmap_generation(seg) == g0 && state2 == state && writer2 == writer) {
            if (state == SHMAP_WRITE_ABANDONED)
                cli_warn(name, "the writer (pid %d) died while writing: the data may be "
                               "half-written", (int)writer);
            else if (state == SHMAP_WRITE_ABORTED)
                cli_warn(name, "the writer (pid %d) aborted its write: the data may be "
                               "half-written", (int)writer);
            return 0;
        }
        if (mono_s() > deadline && patience)
            return cli_fail(name, "no whole copy in %g s: the data kept changing (a writer "
                                  "publishes without taking the lock); give --timeout SECONDS "
                                  "to try longer, or pause the writers", COPY_PATIENCE_S);
        if (mono_s() > deadline)
            return cli_fail(name, "no whole copy within the timeout: the data kept changing");
    }
}

int cli_snapshot(const char *name, shmap_seg *seg, double timeout, cli_copy_fn copy,
                 void *ctx, int (*also)(void *ctx))
{
    /* One timeout for both waits: the lock's, then the copy's. */
    double start = mono_s();
    int rc = shmap_lock(seg, SHMAP_LOCK_SHARED, timeout);
    int locked = rc == 0;
    if (timeout >= 0)
        timeout = timeout > mono_s() - start ? timeout - (mono_s() - start) : 0;
    if (rc == -ETIMEDOUT || rc == -EBUSY) {
        char who[512];
        shmap_lock_holders(seg, who, sizeof who);
        return cli_fail(name, "timed out waiting for the lock: %s", who);
    }
    /* A reader who may not write the segment cannot lock it: the checked copy alone. */
    if (rc < 0 && rc != SHMAP_EREADONLY)
        return cli_fail_lib(name, rc);
    /* A writer that died holding the exclusive lock may have left the data half-written:
     * the next writer is told, and a reader is told here, as the copy may show it. */
    shmap_lockinfo li;
    if (shmap_lock_info(seg, &li) == 0 && li.owner_died && li.dead_pid > 0)
        cli_warn(name, "previous writer (pid %ld) died while holding the lock: data may be "
                       "inconsistent", (long)li.dead_pid);
    int status = copy_whole(name, seg, timeout, copy, ctx);
    if (status == CLI_EXIT_OK && also)
        status = also(ctx);
    if (locked)
        shmap_unlock(seg);
    return status;
}
