/*
 * shmap watch NAME [--interval SECONDS] [--count N]
 *                  [--dtype TYPE --shape D,D,... [--offset BYTES]] [--private]
 *
 * A live view of a segment: its generation, the update rate, the time of the last update
 * and the minimum, maximum and mean of the data (of the newest frame, read so that it is
 * never torn). On a terminal one line is redrawn in place until 'q' or Ctrl-C; otherwise
 * one line is printed per interval (a second by default), which suits logs and pipes.
 *
 * When the newest frame cannot be had whole, the line says why rather than going quiet: a
 * writer that died in the middle of it leaves a torn frame, whose statistics are shown
 * marked "torn: writer pid N died mid-frame"; a live writer in the middle of it leaves the
 * statistics of an earlier frame, marked as such, or none yet. Statistics that are not of
 * the newest frame are always marked, whatever the writer does by the time that is found.
 *
 * Between lines watch waits for a publish only until it sees one: it then sleeps until the
 * next line is due, so a writer publishing thousands of frames a second does not wake it
 * for each. It learns at each line (one stat(2)) whether the segment still has its name,
 * and while nothing is published, within the library's slice of 50 ms.
 *
 * SIGINT and SIGTERM stop it (status 0) at once: the signal interrupts a sleep, and one
 * that arrives while watch is not sleeping is found by the wait check (asked at the end of
 * every slice of a library wait) or by the mask that ppoll() lifts only while it sleeps.
 * With the terminal's echo turned off for the keys, any other signal that would end watch
 * (Ctrl-\, a hangup, SIGUSR1...) puts the terminal's settings back first and then ends it as
 * it would have, and Ctrl-Z puts them back while watch is stopped and turns echo off again
 * when it is continued in the foreground.
 *
 * A raw mapping has no generation to wait on and no write sequence to read by: it is
 * polled, once per interval, and its line has only the statistics of the data as it is
 * then (a writer in the middle of a frame may mix old and new values).
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

enum { OPT_INTERVAL, OPT_COUNT };
static const cli_opt opts[] = {{"interval", 1}, {"count", 1}, CLI_RAW_OPTS, {NULL, 0}};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* The terminal's settings while watch reads keys: as found, and with echo off; and
 * whether they are put back for good (watch is ending), after which none turns echo off. */
static struct termios tty_saved, tty_keys;
static volatile sig_atomic_t tty_done;

/* Signals that end a process by default: while echo is off, caught to put it back first. */
static const int ending_signals[] = {SIGHUP,  SIGQUIT, SIGALRM,   SIGUSR1, SIGUSR2,
                                     SIGPIPE, SIGXCPU, SIGVTALRM, SIGPROF, SIGXFSZ};
#define NENDING (sizeof ending_signals / sizeof ending_signals[0])

/* Put the terminal's settings back, even from the background (SIGTTOU held off). */
static void tty_put_back(void)
{
    sigset_t ttou, old;
    sigemptyset(&ttou);
    sigaddset(&ttou, SIGTTOU);
    sigprocmask(SIG_BLOCK, &ttou, &old);
    tcsetattr(0, TCSANOW, &tty_saved);
    sigprocmask(SIG_SETMASK, &old, NULL);
}

/* Give @p sig its default action again, keeping the one it had in @p old (if not NULL). */
static void to_default(int sig, struct sigaction *old)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(sig, &dfl, old);
}

/* An ending signal: the settings back, then the signal's own default action, which ends
 * the process once the handler returns (the signal is held until then). */
static void on_ending(int sig)
{
    int e = errno;
    tty_done = 1;
    tty_put_back();
    to_default(sig, NULL);
    raise(sig);
    errno = e;
}

/* The signals watch catches while echo is off: each handler holds off the others. */
static void tty_signals(sigset_t *set)
{
    sigemptyset(set);
    for (size_t i = 0; i < NENDING; i++)
        sigaddset(set, ending_signals[i]);
    sigaddset(set, SIGTSTP);
    sigaddset(set, SIGCONT);
}

/* Catch @p sig with @p fn, unless it was inherited ignored (nohup, a background job). */
static void catch_signal(int sig, void (*fn)(int), struct sigaction *old)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    tty_signals(&sa.sa_mask);
    sigaction(sig, NULL, old);
    if (old->sa_handler == SIG_DFL)
        sigaction(sig, &sa, NULL);
}

/* Ctrl-Z: the settings back, and stopped here. */
static void on_stop(int sig)
{
    int e = errno;
    tty_put_back();
    struct sigaction ours;
    to_default(sig, &ours);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    raise(sig); /* stopped until SIGCONT, whose handler runs once this one returns */
    sigaction(sig, &ours, NULL);
    errno = e;
}

/* Continued (`fg`, or `bg` and then `fg`): echo off again once in the foreground; in the
 * background the keys are not read, and the change waits for the next SIGCONT. */
static void on_cont(int sig)
{
    (void)sig;
    int e = errno;
    pid_t fg = tcgetpgrp(0);
    if (!tty_done && fg >= 0 && fg == getpgrp())
        tcsetattr(0, TCSANOW, &tty_keys);
    errno = e;
}

/* The library's wait check: a long wait asks it at the end of every slice, so a signal
 * that came while nothing slept still ends the wait within one. */
static int stop_check(void *arg)
{
    (void)arg;
    return stop ? -EINTR : 0;
}

/*
 * Is this process in the terminal's foreground? Started in the background (`timeout`
 * moves its command to a process group of its own; `&` in an interactive shell), a change
 * to the terminal's settings would stop it with SIGTTOU and a read with SIGTTIN, for good
 * when nothing continues it: so keys are read only from the foreground.
 */
static int foreground(void)
{
    pid_t fg = tcgetpgrp(0);
    return fg >= 0 && fg == getpgrp();
}

/*
 * Sleep @p s seconds (without end from 1e9 on: --interval inf), until a key is typed
 * (@p keys), or until a signal asks to stop. The signals are let in only while ppoll()
 * sleeps, so one that came before is seen at once rather than slept through.
 */
static void pause_for(double s, int keys)
{
    sigset_t ends, old;
    sigemptyset(&ends);
    sigaddset(&ends, SIGINT);
    sigaddset(&ends, SIGTERM);
    sigprocmask(SIG_BLOCK, &ends, &old);
    if (!stop) {
        struct pollfd p = {.fd = keys && foreground() ? 0 : -1, .events = POLLIN};
        struct timespec ts = {0};
        if (s > 0 && s < 1e9) {
            ts.tv_sec = (time_t)s;
            ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
        }
        ppoll(&p, 1, s < 1e9 ? &ts : NULL, &old);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Has the user typed 'q' (or 'Q')? Reads what is waiting on a raw terminal. */
static int quit_key(void)
{
    if (!foreground())
        return 0;
    struct pollfd p = {.fd = 0, .events = POLLIN};
    char c;
    while (poll(&p, 1, 0) > 0 && (p.revents & POLLIN)) {
        if (read(0, &c, 1) != 1)
            return 0;
        if (c == 'q' || c == 'Q')
            return 1;
    }
    return 0;
}

struct stats {
    int valid;   /* 0 for records, or before any read */
    double min, max, mean;
    uint64_t nan;
};

static void compute(const cli_layout *l, const unsigned char *frame, size_t nelem,
                    struct stats *st)
{
    double sum = 0, v;
    uint64_t n = 0;
    st->valid = 0;
    st->nan = 0;
    st->min = INFINITY;
    st->max = -INFINITY;
    for (size_t i = 0; i < nelem; i++) {
        if (cli_value_real(l, frame + i * l->elsize, &v) < 0)
            return;
        if (isnan(v)) {
            st->nan++;
            continue;
        }
        st->min = v < st->min ? v : st->min;
        st->max = v > st->max ? v : st->max;
        sum += v;
        n++;
    }
    st->valid = 1;
    st->mean = n ? sum / (double)n : NAN;
    /* Nothing but NaN: no minimum or maximum, rather than the search's starting values. */
    if (n == 0)
        st->min = st->max = NAN;
}

/*
 * Read the newest frame into @p frame and its statistics into @p st, or say in @p note why
 * they are not of a whole newest frame. @p *gen is the generation read just before; a newer
 * frame copied meanwhile (a writer in the middle of one is given @p wait_s to publish it)
 * moves it on, so the line names the frame its statistics are of. Returns 0, or what ends
 * the watch: #SHMAP_EREMOVED, or -EINTR from the wait check (a signal asked to stop).
 */
static int read_newest(shmap_seg *seg, const cli_layout *l, unsigned char *frame, size_t fsize,
                       double wait_s, uint64_t *gen, struct stats *st, char *note,
                       size_t notesize)
{
    note[0] = '\0';
    if (*gen == 0) {
        /* Nothing published yet: the data as it is, unless a first frame is being written
         * (then there is nothing whole to show yet) or was abandoned half-way (torn). */
        pid_t writer = 0;
        int state = shmap_write_state(seg, &writer);
        if (state == SHMAP_WRITE_IN_PROGRESS || state == SHMAP_WRITE_ABORTED) {
            snprintf(note, notesize, state == SHMAP_WRITE_ABORTED
                                         ? "  no statistics yet: pid %d aborted a frame"
                                         : "  no statistics yet: pid %d is writing a frame",
                     (int)writer);
            return 0;
        }
        memcpy(frame, shmap_data(seg), fsize);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        /* Whole only if no write began or was published meanwhile, as a snapshot is checked
         * (cli/snapshot.c): a first fill that began during the copy was half in it. */
        pid_t writer2 = 0;
        int state2 = shmap_write_state(seg, &writer2);
        uint64_t now = shmap_generation(seg);
        if (now != 0) {
            *gen = now; /* published meanwhile: that frame, read whole */
            return read_newest(seg, l, frame, fsize, wait_s, gen, st, note, notesize);
        }
        if (state2 != state || writer2 != writer) {
            if (state2 == SHMAP_WRITE_IN_PROGRESS)
                snprintf(note, notesize, "  no statistics yet: pid %d is writing a frame",
                         (int)writer2);
            else
                snprintf(note, notesize, "  no statistics yet: a frame was being written");
            return 0;
        }
        compute(l, frame, fsize / l->elsize, st);
        if (state == SHMAP_WRITE_ABANDONED)
            snprintf(note, notesize, "  torn: writer pid %d died mid-frame", (int)writer);
        return 0;
    }
    uint64_t fseen = *gen - 1;
    int rc = shmap_read_frame(seg, &fseen, frame, wait_s, NULL);
    if (rc == SHMAP_EREMOVED || rc == -EINTR)
        return rc;
    if (rc == 0 || rc == SHMAP_EOWNERDEAD) {
        compute(l, frame, fsize / l->elsize, st);
        if (fseen > *gen)
            *gen = fseen;
    }
    if (rc == 0)
        return 0;
    pid_t writer = 0;
    int state = shmap_write_state(seg, &writer);
    if (rc == SHMAP_EOWNERDEAD) {
        if (state == SHMAP_WRITE_ABANDONED)
            snprintf(note, notesize, "  torn: writer pid %d died mid-frame", (int)writer);
        else
            snprintf(note, notesize, "  torn: the writer died mid-frame");
        return 0;
    }
    /*
     * No whole frame: whatever `st` holds is of an earlier frame, or there is none. That is
     * said whatever this second look finds, since the writer may have published since the
     * copy failed; it only tells whom to name.
     */
    if ((rc == -EAGAIN || rc == -ETIMEDOUT) && state == SHMAP_WRITE_IN_PROGRESS)
        snprintf(note, notesize, st->valid ? "  (earlier frame: pid %d is writing)"
                                           : "  no statistics yet: pid %d is writing a frame",
                 (int)writer);
    else if ((rc == -EAGAIN || rc == -ETIMEDOUT) && state == SHMAP_WRITE_ABORTED)
        snprintf(note, notesize, st->valid ? "  (earlier frame: pid %d aborted the newest)"
                                           : "  no statistics yet: pid %d aborted a frame",
                 (int)writer);
    else if (rc == -EAGAIN || rc == -ETIMEDOUT)
        snprintf(note, notesize, st->valid ? "  (earlier frame: the newest was being written)"
                                           : "  no statistics yet: a frame was being written");
    else
        snprintf(note, notesize, st->valid ? "  (earlier frame: %s)" : "  no statistics: %s",
                 shmap_strerror(rc));
    return 0;
}

/*
 * @p info NULL: a raw mapping, which has no generation, rate or last update to show. @p rate
 * NaN: none measured yet (the first line has no interval to count over), shown as "-".
 */
static void show(FILE *out, int tty, uint64_t gen, double rate, const shmap_info *info,
                 const cli_layout *l, const struct stats *st, const char *note)
{
    char when[64] = "never", ago[32] = "", mn[32], mx[32], mean[32], per_s[40] = "-";
    if (info && info->published_ns) {
        cli_format_time(when, sizeof when, info->published_ns);
        cli_format_age(ago, sizeof ago, info->published_ns, cli_now_ns());
    }
    if (!isnan(rate))
        snprintf(per_s, sizeof per_s, "%.1f/s", rate);
    if (tty)
        fputs("\r\033[K", out);
    if (info)
        fprintf(out, "gen %llu  rate %s  last %s%s%s%s", (unsigned long long)gen, per_s, when,
                *ago ? " (" : "", ago, *ago ? " ago)" : "");
    else
        fputs("raw", out);
    if (st->valid) {
        cli_value_format_real(mn, sizeof mn, l, st->min);
        cli_value_format_real(mx, sizeof mx, l, st->max);
        cli_format_double(mean, sizeof mean, st->mean);
        fprintf(out, "  min %s  max %s  mean %s", mn, mx, mean);
        if (st->nan)
            fprintf(out, "  nan %llu", (unsigned long long)st->nan);
    }
    fputs(note, out);
    if (!tty)
        fputc('\n', out);
    /* A write cut short by the signal that stops watch (stdout a pipe nobody reads for the
     * moment) is the stop, not a failure to write. The line goes with it (stdio drops what
     * a failed write held): waiting at exit for a reader to make room would not end watch
     * at once. A pipe takes a line whole or not at all, so no part of one is left. Another
     * failure is noted with its errno while it is fresh (cli_stdout_failed()), for the
     * error line. */
    if (fflush(out) != 0 && errno == EINTR && stop)
        clearerr(out);
    else
        cli_stdout_failed();
}

int cmd_watch(int argc, char **argv)
{
    double interval = -1;
    uint64_t count = 0;
    int opt;
    cli_raw raw = {0};
    cli_args a;
    cli_args_init(&a, "watch", opts, argc, argv);
    while ((opt = cli_args_next(&a)) >= 0) {
        if (cli_raw_option(&raw, opts[opt].name, a.value))
            continue;
        if (opt == OPT_INTERVAL &&
            (cli_parse_seconds(a.value, &interval) < 0 || interval < 0.01))
            return cli_usage_error("watch", "--interval wants seconds (0.01 or more), not '%s'",
                                   a.value);
        if (opt == OPT_COUNT && (cli_parse_u64(a.value, &count) < 0 || count == 0))
            return cli_usage_error("watch", "--count wants a positive number, not '%s'",
                                   a.value);
    }
    if (opt == CLI_ARGS_EXIT)
        return a.status;
    if (a.npos != 1)
        return a.npos ? cli_usage_error("watch", "unexpected argument '%s'", a.argv[1])
                      : cli_usage_error("watch", "missing NAME");
    if (cli_raw_check("watch", &raw) != 0 || cli_check_names("watch", a.argv, 1) != 0)
        return CLI_EXIT_USAGE;

    const char *name = a.argv[0];
    shmap_seg *seg;
    shmap_info info;
    cli_layout layout;
    int opened = cli_open("watch", name, SHMAP_RDONLY, &raw, &seg, &info, &layout);
    if (opened != 0)
        return opened;
    int tty = isatty(1), keys = tty && isatty(0) && foreground();
    if (interval < 0)
        interval = tty ? 0.5 : 1.0;
    size_t fsize = raw.raw ? (size_t)info.data_size : shmap_frame_size(seg);
    unsigned char *frame = malloc(fsize ? fsize : 1);
    if (!frame) {
        cli_layout_free(&layout);
        shmap_close(seg);
        return cli_fail(name, "out of memory for a %zu-byte frame", fsize);
    }

    struct sigaction sa, old_int, old_term, old_ending[NENDING], old_tstp, old_cont;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: a wait returns at once */
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    if (keys && tcgetattr(0, &tty_saved) == 0) {
        tty_keys = tty_saved;
        tty_keys.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
        tty_keys.c_cc[VMIN] = 0;
        tty_keys.c_cc[VTIME] = 0;
        /* The handlers first: a signal between the two finds the settings to put back. */
        for (size_t i = 0; i < NENDING; i++)
            catch_signal(ending_signals[i], on_ending, &old_ending[i]);
        catch_signal(SIGTSTP, on_stop, &old_tstp);
        catch_signal(SIGCONT, on_cont, &old_cont);
        tcsetattr(0, TCSANOW, &tty_keys);
    } else {
        keys = 0;
    }

    shmap_set_wait_check(stop_check, NULL);

    /*
     * A line is due at `next`. Until then watch waits for a publish, which also finds the
     * segment deleted within a slice; once it has seen one there is nothing more to learn
     * before the line (it shows the newest frame and counts the publishes then), so it only
     * sleeps: a fast writer does not wake it for each frame.
     */
    int status = CLI_EXIT_OK, fresh = 0;
    struct stats st = {0};
    uint64_t seen = raw.raw ? 0 : shmap_generation(seg), shown_gen = seen, lines = 0;
    /* A live writer in the middle of the newest frame gets this long to publish it, so a
     * slow writer's frames are shown rather than its earlier ones; lines keep their pace. */
    double read_s = interval < 0.2 ? interval / 2 : 0.1;
    double shown_at = 0, next = mono_s();
    char note[96] = "";
    while (!stop && !(keys && quit_key())) {
        double now = mono_s();
        if (now >= next) {
            uint64_t gen = 0;
            double rate = NAN;
            int rc = 0;
            if (raw.raw) {
                /* Nothing to wait on tells a raw watch its object went: its name is asked. */
                shmap_info_get(seg, &info);
                if (!info.deleted) {
                    /* Copied first: the statistics describe one copy, not a moving target. */
                    memcpy(frame, shmap_data(seg), fsize);
                    compute(&layout, frame, fsize / layout.elsize, &st);
                }
            } else {
                gen = shmap_generation(seg);
                rc = read_newest(seg, &layout, frame, fsize, read_s, &gen, &st, note,
                                 sizeof note);
                shmap_info_get(seg, &info);
                if (lines)
                    rate = (double)(gen - shown_gen) / (now - shown_at);
                shown_gen = gen;
                shown_at = now;
                seen = gen > seen ? gen : seen;
                fresh = 0;
            }
            if (rc == -EINTR)
                break; /* stopped by a signal */
            if (rc == SHMAP_EREMOVED || info.deleted) {
                if (tty)
                    fputc('\n', stdout);
                tty = 0;
                status = rc < 0 ? cli_fail_lib(name, rc)
                                : cli_fail(name, "the %s was deleted or replaced while watched",
                                           raw.raw ? "object" : "segment");
                break;
            }
            show(stdout, tty, gen, rate, raw.raw ? NULL : &info, &layout, &st, note);
            if (cli_stdout_failed())
                break; /* the lines reach nobody (a full disk): main() says why */
            next = now + interval;
            /* Counted with or without --count: a line after the first shows a rate. */
            lines++;
            if (count && lines >= count)
                break;
            continue; /* a signal that came while the line was made ends watch now */
        }
        /* Short slices on a terminal, so 'q' is seen promptly. */
        double slice = next - mono_s();
        if (keys && slice > 0.1)
            slice = 0.1;
        if (raw.raw || fresh) {
            pause_for(slice, keys);
            continue;
        }
        int rc = shmap_wait(seg, &seen, slice > 0 ? slice : 0);
        if (rc == 0)
            fresh = 1;
        if (rc == SHMAP_EREMOVED) {
            if (tty)
                fputc('\n', stdout);
            status = cli_fail_lib(name, rc);
            tty = 0;
            break;
        }
        if (rc < 0 && rc != -ETIMEDOUT && rc != -EAGAIN && rc != -EINTR) {
            status = cli_fail_lib(name, rc);
            break;
        }
    }
    shmap_set_wait_check(NULL, NULL);
    if (tty)
        fputc('\n', stdout);
    if (keys) {
        /* Put back even if moved to the background meanwhile (Ctrl-Z, bg), with the
         * signals held off until their own dispositions are back. */
        sigset_t held, old;
        tty_signals(&held);
        sigprocmask(SIG_BLOCK, &held, &old);
        tty_done = 1;
        tty_put_back();
        for (size_t i = 0; i < NENDING; i++)
            sigaction(ending_signals[i], &old_ending[i], NULL);
        sigaction(SIGTSTP, &old_tstp, NULL);
        sigaction(SIGCONT, &old_cont, NULL);
        sigprocmask(SIG_SETMASK, &old, NULL);
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    free(frame);
    cli_layout_free(&layout);
    shmap_close(seg);
    return status;
}
