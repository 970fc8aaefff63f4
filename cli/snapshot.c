/*
 * A consistent copy of a segment's data for the commands that read it (export, cat), and
 * the exclusive lock for those that write it (fill, set).
 *
 * A snapshot, never torn by a writer that plays by the rules. The data is copied out while
 * holding the segment's shared lock, which keeps out writers that take the exclusive one
 * (`shmap lock`, shmap_lock()), and the copy is checked as shmap_read_frame() checks a
 * frame: against the generation and the write in progress (shmap_write_begin), so writers
 * that only publish, as `fill` does, are caught too; a copy a writer touched is made again.
 * A user who may read but not write the segment cannot lock it, and gets the checked copy
 * alone.
 *
 * Writers take the exclusive lock: two fills at once would otherwise interleave for good,
 * and the one that published first would end the other's write mark while it still wrote,
 * so readers took half of each for a whole copy.
 *
 * Under `shmap lock NAME -- COMMAND`, a command on the same segment would wait for ever for
 * the lock its parent holds. `shmap lock` names itself in SHMAP_LOCK_PIDS (the pids of the
 * enclosing `shmap lock` processes, space-separated), and a command finding the segment's
 * lock held by one of them works under that hold: a reader under either, a writer under
 * --write (under --read it fails at once: the shared hold would keep it out for ever). The
 * lock itself is asked, and the holder must be an ancestor of this process, so a stale or
 * forged variable lends nobody a lock.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* What is left of @p timeout seconds (< 0: for ever) begun at @p start (mono_s()). */
static double time_left(double timeout, double start)
{
    double used = mono_s() - start;
    return timeout < 0 ? timeout : timeout > used ? timeout - used : 0;
}

/* An end signal that came while this command waited for, or held, a segment's lock. */
static volatile sig_atomic_t end_signal;

static void on_end_signal(int sig)
{
    if (!end_signal)
        end_signal = sig;
}

static int stop_waiting(void *arg)
{
    (void)arg;
    return end_signal ? -EINTR : 0;
}

void cli_hold_end_signals(int hold)
{
    if (hold) {
        cli_catch_end_signals(on_end_signal, 0);
        shmap_set_wait_check(stop_waiting, NULL);
    } else {
        shmap_set_wait_check(NULL, NULL);
        cli_block_end_signals(0);
    }
}

int cli_end_signal(void)
{
    return end_signal;
}

void cli_end_if_signalled(void)
{
    if (end_signal) {
        signal(end_signal, SIG_DFL);
        raise(end_signal);
    }
}

void cli_end_signals_after_close(void)
{
    cli_end_if_signalled();
    cli_default_end_signals();
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
        if (end_signal)
            return cli_fail(name, "interrupted");
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

/* The parent of process @p pid, from /proc; 0 when it cannot be read. */
static pid_t parent_of(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* "pid (comm) state ppid ...": comm may hold spaces and parentheses. */
    const char *close = strrchr(buf, ')');
    int ppid = 0;
    if (!close || sscanf(close + 1, " %*c %d", &ppid) != 1)
        return 0;
    return (pid_t)ppid;
}

/* Is @p pid one of the enclosing `shmap lock` processes: named in SHMAP_LOCK_PIDS, and an
 * ancestor of this process? */
static int encloses(pid_t pid)
{
    const char *s = getenv("SHMAP_LOCK_PIDS");
    int named = 0;
    while (s && *s && pid > 0 && !named) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s)
            return 0;
        named = v == (long)pid;
        s = end;
    }
    pid_t p = named ? getppid() : 0;
    for (int depth = 0; p > 1 && depth < 256; depth++, p = parent_of(p))
        if (p == pid)
            return 1;
    return 0;
}

/*
 * The lock of @p seg that an enclosing `shmap lock` holds: 'w' for the exclusive lock, 'r'
 * for a shared hold, with its pid in *@p holder; 0 for none.
 */
static int enclosing_lock(shmap_seg *seg, pid_t *holder)
{
    shmap_lockinfo li;
    if (!getenv("SHMAP_LOCK_PIDS") || shmap_lock_info(seg, &li) < 0)
        return 0;
    if (li.writer > 0 && li.writer_alive && !li.writer_waiting && encloses(li.writer)) {
        *holder = li.writer;
        return 'w';
    }
    shmap_attacher *att = NULL;
    int n = shmap_attached_alloc(seg, &att), found = 0;
    for (int i = 0; i < n && !found; i++)
        if (att[i].alive && att[i].shared > 0 && encloses(att[i].pid)) {
            *holder = att[i].pid;
            found = 'r';
        }
    free(att);
    return found;
}

int cli_enclosing_lock(shmap_seg *seg, pid_t *holder)
{
    pid_t h = 0;
    int found = enclosing_lock(seg, &h);
    if (holder)
        *holder = h;
    return found;
}

int cli_enclosing_read(shmap_seg *seg, pid_t *holder)
{
    return cli_enclosing_lock(seg, holder) != 0;
}

int cli_enclosing_write(const char *name, shmap_seg *seg, pid_t *holder)
{
    pid_t h = 0;
    int enclosing = enclosing_lock(seg, &h);
    if (enclosing == 'r') {
        cli_fail(name, "runs under `shmap lock --read` (pid %d), whose shared hold would keep "
                       "a write out for ever: use `shmap lock --write`", (int)h);
        return -1;
    }
    if (holder)
        *holder = h;
    return enclosing == 'w';
}

/*
 * Take the exclusive lock, unless an enclosing `shmap lock --write` holds it: 1 when taken
 * here, 0 when held by the enclosing lock, or -CLI_EXIT_FAIL after saying why not.
 * Signals end the wait (the library gives back a half-taken claim), then wait until the
 * write is published and the lock released (write_unlock()).
 */
static int write_lock(const char *name, shmap_seg *seg, double timeout)
{
    int enclosing = cli_enclosing_write(name, seg, NULL);
    if (enclosing < 0)
        return -CLI_EXIT_FAIL;
    cli_hold_end_signals(1);
    int rc = enclosing ? 0 : shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, timeout);
    cli_block_end_signals(1);
    if (rc == SHMAP_EOWNERDEAD) {
        shmap_lockinfo li;
        if (shmap_lock_info(seg, &li) == 0 && li.dead_pid > 0)
            cli_warn(name, "previous writer (pid %ld) died while holding the lock: data may "
                           "be inconsistent", (long)li.dead_pid);
        rc = 0;
    }
    if (rc == 0 && end_signal) {
        if (!enclosing)
            shmap_unlock(seg);
        rc = -EINTR;
    }
    if (rc == 0)
        return !enclosing;
    char who[512];
    if (end_signal)
        cli_fail(name, "interrupted");
    else if ((rc == -ETIMEDOUT || rc == -EBUSY) && shmap_lock_holders(seg, who, sizeof who) >= 0)
        cli_fail(name, "timed out after %g s waiting for the exclusive lock: %s", timeout, who);
    else
        cli_fail_lib(name, rc);
    cli_hold_end_signals(0);
    return -CLI_EXIT_FAIL;
}

/* Release what write_lock() took (@p took, its result), and let the signals in. */
static void write_unlock(shmap_seg *seg, int took)
{
    if (took > 0)
        shmap_unlock(seg);
    cli_hold_end_signals(0);
}

int cli_write_begin(const char *name, shmap_seg *seg, double timeout)
{
    int took = write_lock(name, seg, timeout);
    if (took < 0)
        return took;
    int rc = shmap_write_begin(seg, NULL);
    if (rc == 0)
        return took;
    cli_fail_lib(name, rc);
    write_unlock(seg, took);
    return -CLI_EXIT_FAIL;
}

int cli_write_publish(const char *name, shmap_seg *seg, int took)
{
    int rc = shmap_publish(seg);
    int status = rc < 0 ? cli_fail_lib(name, rc) : CLI_EXIT_OK;
    write_unlock(seg, took);
    return status;
}

/*
 * A reader that cannot lock (a full attach table, or no write permission) still waits for a
 * live writer that holds the exclusive lock, as the shared lock would have: the lock state
 * is readable without a slot. It looks every 10 ms; 0, or -ETIMEDOUT once @p timeout
 * seconds (< 0: for ever) have passed.
 */
static int wait_for_writer(shmap_seg *seg, double timeout)
{
    double deadline = timeout >= 0 ? mono_s() + timeout : 0;
    for (;;) {
        shmap_lockinfo li;
        if (shmap_lock_info(seg, &li) < 0 || li.writer <= 0 || !li.writer_alive ||
            li.writer_waiting)
            return 0;
        if (timeout >= 0 && mono_s() >= deadline)
            return -ETIMEDOUT;
        if (end_signal)
            return -EINTR;
        struct timespec tick = {0, 10000000};
        nanosleep(&tick, NULL);
    }
}

/* The copy, and @p also, once the lock is held (or cannot be). */
static int copy_under_lock(const char *name, shmap_seg *seg, double timeout, cli_copy_fn copy,
                           void *ctx, int (*also)(void *ctx))
{
    /* A writer that died holding the exclusive lock may have left the data half-written:
     * the next writer is told, and a reader is told here, as the copy may show it. */
    shmap_lockinfo li;
    if (shmap_lock_info(seg, &li) == 0 && li.owner_died && li.dead_pid > 0)
        cli_warn(name, "previous writer (pid %ld) died while holding the lock: data may be "
                       "inconsistent", (long)li.dead_pid);
    int status = copy_whole(name, seg, timeout, copy, ctx);
    if (status == CLI_EXIT_OK && also)
        status = also(ctx);
    return status;
}

int cli_snapshot(const char *name, shmap_seg *seg, double timeout, cli_copy_fn copy,
                 void *ctx, int (*also)(void *ctx))
{
    /* One timeout for both waits: the lock's, then the copy's. Under a `shmap lock` that
     * holds it, the copy is made under that hold. */
    double start = mono_s();
    int enclosed = cli_enclosing_read(seg, NULL);
    cli_hold_end_signals(1);
    int rc = enclosed ? 0 : shmap_lock(seg, SHMAP_LOCK_SHARED, timeout);
    int locked = !enclosed && rc == 0;
    /* A reader who may not write the segment cannot lock it, nor one that finds the attach
     * table full: it waits for a writer holding the exclusive lock, then makes the checked
     * copy alone. */
    if (rc == SHMAP_EREADONLY || rc == -EUSERS)
        rc = wait_for_writer(seg, time_left(timeout, start));
    int status = CLI_EXIT_FAIL;
    if (rc == -EINTR && end_signal) {
        cli_fail(name, "interrupted");
    } else if (rc == -ETIMEDOUT || rc == -EBUSY) {
        char who[512];
        shmap_lock_holders(seg, who, sizeof who);
        cli_fail(name, "timed out waiting for the lock: %s", who);
    } else if (rc < 0) {
        cli_fail_lib(name, rc);
    } else {
        status = copy_under_lock(name, seg, time_left(timeout, start), copy, ctx, also);
    }
    if (locked)
        shmap_unlock(seg);
    cli_hold_end_signals(0);
    if (status == CLI_EXIT_OK && end_signal)
        status = cli_fail(name, "interrupted");
    return status;
}
