/*
 * shmap watch, fill and set with streams of frames: what a ring refuses, how watch stops,
 * what its lines claim, when it notices a deleted object, and how often a writer wakes it.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>

#include "../util.h"

/* A command running in the background, its standard output and error on pipes. */
struct bg {
    pid_t pid;
    int out, err; /* read ends; out is -1 when the caller gave the output's descriptor */
};

/*
 * Start `shmap ARGS...` (NULL-terminated). Its standard output goes to @p out_fd when that
 * is not -1 (the caller keeps its copy), else to a new pipe read through b->out.
 */
static void bg_start(struct bg *b, int out_fd, const char *const *args)
{
    int o[2] = {-1, -1}, e[2];
    if (out_fd < 0) {
        CHECK(pipe(o) == 0);
        out_fd = o[1];
    }
    CHECK(pipe(e) == 0);
    pid_t pid = util_spawn();
    if (pid == 0) {
        char *argv[16];
        int n = 0;
        argv[n++] = (char *)test_shmap_bin();
        for (; args[n - 1] && n < 15; n++)
            argv[n] = (char *)args[n - 1];
        argv[n] = NULL;
        dup2(out_fd, 1);
        dup2(e[1], 2);
        execv(test_shmap_bin(), argv);
        _exit(127);
    }
    if (o[1] >= 0)
        close(o[1]);
    close(e[1]);
    b->pid = pid;
    b->out = o[0];
    b->err = e[0];
}

/* Read one line of @p fd into @p buf, without its newline; CHECKs that a whole line came. */
static void read_line(int fd, char *buf, size_t size)
{
    size_t len = 0;
    char c;
    ssize_t n;
    while ((n = read(fd, &c, 1)) == 1 && c != '\n')
        if (len + 1 < size)
            buf[len++] = c;
    buf[len] = '\0';
    CHECK(n == 1);
}

/* A number from /proc/PID/status ("voluntary_ctxt_switches"), or the hex mask of a
 * "Sig..." line; CHECKs that the line is there. */
static unsigned long long proc_status(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    size_t len = strlen(field);
    unsigned long long v = 0;
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        if (strncmp(line, field, len) == 0 && line[len] == ':') {
            found = 1;
            v = strtoull(line + len + 1, NULL, strncmp(field, "Sig", 3) == 0 ? 16 : 10);
        }
    }
    fclose(f);
    CHECK(found);
    return v;
}

/* Wait (10 s at most) until process @p pid catches signal @p sig (its handler is set). */
static void wait_catching(pid_t pid, int sig)
{
    for (int i = 0; i < 2000; i++) {
        if (proc_status(pid, "SigCgt") & (1ull << (sig - 1)))
            return;
        util_sleep_ms(5);
    }
    test_fail(__FILE__, __LINE__, "pid %d never caught signal %d", (int)pid, sig);
}

TEST(cli__fill_and_set_refuse_a_ring_and_write_nothing)
{
    const char *name = test_name("ringfill");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "f32", "4", "3", "--ring");
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDWR));
    float *frame;
    for (int k = 1; k <= 5; k++) { /* frames 0..4, each all k: frame 4 in slot 0 */
        CHECK_OK(shmap_write_begin(seg, (void **)&frame));
        for (int i = 0; i < 3; i++)
            frame[i] = (float)k;
        CHECK_OK(shmap_publish(seg));
    }
    float before[12];
    memcpy(before, shmap_data(seg), sizeof before);

    /* A fill would rewrite frames readers copy whole; a set would change frame 4, which
     * readers have had, and publish frame 5, whose slot still holds frame 1. */
    RUN(1, "fill", name, "9");
    CHECK_ERROR_LINE(err, "is a ring of frames: fill writes every frame at once");
    CHECK_CONTAINS(err, name);
    RUN(1, "fill", name, "ramp");
    CHECK_ERROR_LINE(err, "shmap_write_begin() and shmap_publish()");
    RUN(1, "set", name, "0", "1", "99");
    CHECK_ERROR_LINE(err, "is a ring of frames: set would change a frame");
    /* A dry run answers as the real command does. */
    RUN(1, "fill", name, "9", "--private");
    CHECK_ERROR_LINE(err, "is a ring of frames");
    RUN(1, "set", name, "0", "1", "99", "--private");
    CHECK_ERROR_LINE(err, "is a ring of frames");
    CHECK_EQ_INT(shmap_generation(seg), 5);
    CHECK(memcmp(before, shmap_data(seg), sizeof before) == 0);

    /* The object written as a raw array is the user's own business: written, not told. */
    RUN(0, "set", name, "11", "7", "--dtype", "f4", "--shape", "12", "--offset", "4096");
    CHECK_EQ_INT(((float *)shmap_data(seg))[11], 7);
    CHECK_EQ_INT(shmap_generation(seg), 5);

    /* A plain segment is filled and set as before. */
    const char *plain = test_name("plainfill");
    RUN(0, "create", plain, "f32", "4", "3");
    RUN(0, "fill", plain, "2");
    RUN(0, "set", plain, "0", "1", "3");
    RUN(0, "info", plain);
    CHECK_CONTAINS(out, "\ngeneration:      2\n");

    CHECK_OK(shmap_close(seg));
    RUN(0, "rm", name, plain);
    util_clear(&out, &err);
}

/*
 * A signal that comes while watch is not asleep in a wait (here: while its line waits for
 * room in a full pipe, as when its reader is stopped; or while it copies a large frame)
 * ends it at once, not an interval later: status 0, nothing on stderr. The line it was
 * writing goes out whole if the reader made room before the signal was taken, else not at
 * all (which of the two is a race between this reader and the signal).
 */
static void stops_while_writing(const char *name, const char *const *args, int sig)
{
    int p[2];
    CHECK(pipe(p) == 0);
    CHECK(fcntl(p[1], F_SETPIPE_SZ, 4096) >= 0);
    CHECK(fcntl(p[1], F_SETFL, O_NONBLOCK) == 0);
    char fill[512];
    memset(fill, '.', sizeof fill);
    while (write(p[1], fill, sizeof fill) > 0)
        ;
    CHECK(errno == EAGAIN);
    CHECK(fcntl(p[1], F_SETFL, 0) == 0);
    struct bg b;
    bg_start(&b, p[1], args);
    close(p[1]);
    /* Its handler is set just before its first line, whose write then blocks. */
    wait_catching(b.pid, sig);
    CHECK(util_wait_asleep(b.pid));
    double t0 = util_now_s();
    kill(b.pid, sig);
    /* Reading makes room, for the line or for the end of the file. */
    static char all[1 << 16];
    util_read_to_end(p[0], all, sizeof all);
    double took = util_now_s() - t0;
    int status = test_wait(b.pid);
    char err[1024];
    util_read_to_end(b.err, err, sizeof err);
    if (status != 0 || took > UTIL_PROMPT_S)
        test_fail(__FILE__, __LINE__, "%s: exited %d %.2f s after signal %d (interval 20 s); "
                  "stderr: %s", name, status, took, sig, err);
    CHECK_STR(err, "");
    /* After the filler: nothing, or a line ending as watch's lines end. */
    const char *wrote = all + strspn(all, "."), *tail = "  min 0  max 0  mean 0\n";
    size_t n = strlen(wrote), t = strlen(tail);
    if (n && (n < t || strcmp(wrote + n - t, tail) != 0))
        test_fail(__FILE__, __LINE__, "after signal %d watch wrote part of a line: '%s'", sig,
                  wrote);
}

TEST(cli__watch_stops_at_once_on_a_signal_that_comes_while_it_is_not_waiting)
{
    const char *name = test_name("wsig"), *raw = test_name("wsigraw");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "u8", "64");
    const char *const args[] = {"watch", name, "--interval", "20", NULL};
    stops_while_writing(name, args, SIGINT);
    stops_while_writing(name, args, SIGTERM);
    RUN(0, "rm", name);

    /* A raw watch polls with no library wait: the same. */
    unsigned char zeros[64] = {0};
    util_shm_write(raw, zeros, sizeof zeros);
    const char *const raw_args[] = {"watch",   raw, "--dtype", "u1", "--shape",
                                    "64", "--interval", "20", NULL};
    stops_while_writing(raw, raw_args, SIGTERM);
    util_shm_remove(raw);
    util_clear(&out, &err);
}

TEST(cli__watch_first_line_has_no_rate_and_later_ones_count_the_publishes)
{
    const char *name = test_name("wrate");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "u8", "4");
    RUN(0, "fill", name, "1");
    /* One line: no interval to count publishes over, so no rate (not 0.0/s, nor a count
     * divided by the microseconds since start-up). */
    RUN(0, "watch", name, "--count", "1", "--interval", "0.1");
    CHECK(strncmp(out, "gen 1  rate -  last ", 20) == 0);
    RUN(0, "watch", name, "--count", "2", "--interval", "0.1");
    CHECK(strncmp(out, "gen 1  rate -  last ", 20) == 0);
    CHECK(strncmp(strchr(out, '\n') + 1, "gen 1  rate 0.0/s  last ", 24) == 0);
    RUN(0, "rm", name);
    util_clear(&out, &err);
}

TEST(cli__watch_without_count_shows_a_rate_from_its_second_line)
{
    const char *name = test_name("wnocount");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "u8", "4");
    RUN(0, "fill", name, "1");
    /* With no --count, every line showed "rate -": only counted lines had one. */
    struct bg b;
    const char *const args[] = {"watch", name, "--interval", "0.1", NULL};
    bg_start(&b, -1, args);
    char first[256], second[256];
    read_line(b.out, first, sizeof first);
    read_line(b.out, second, sizeof second);
    kill(b.pid, SIGINT);
    CHECK_EQ_INT(test_wait(b.pid), 0);
    close(b.out);
    close(b.err);
    if (strncmp(first, "gen 1  rate -  last ", 20) != 0 ||
        strncmp(second, "gen 1  rate 0.0/s  last ", 24) != 0)
        test_fail(__FILE__, __LINE__, "lines:\n%s\n%s", first, second);
    RUN(0, "rm", name);
    util_clear(&out, &err);
}

/* How long to keep a writer in the state it is in, without giving up the CPU. */
static void spin_us(long us)
{
    double end = util_now_s() + (double)us / 1e6;
    while (util_now_s() < end)
        ;
}

/*
 * A line's statistics are of the frame it names, or marked as not: never those of an
 * earlier frame unmarked. The writer fills frame g with g + 1 (the generation its publish
 * makes) and spends half its time in the middle of a frame, half between frames, so watch
 * often finds it mid-frame and finds it has published by the time it looks again. A line
 * with no mark must then show min = max = its generation: never less.
 */
TEST(cli__watch_marks_every_line_whose_statistics_are_not_of_the_newest_frame)
{
    const char *name = test_name("wstale");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "u32", "4096");
    struct util_chan c;
    util_chan_open(&c);
    pid_t writer = util_spawn();
    if (writer == 0) {
        shmap_seg *w = NULL;
        uint32_t *frame;
        if (shmap_open(&w, name, SHMAP_RDWR) < 0)
            _exit(20);
        util_child_send(&c, 'w');
        for (;;) {
            uint32_t v = (uint32_t)shmap_generation(w) + 1;
            if (shmap_write_begin(w, (void **)&frame) < 0)
                _exit(21);
            for (int i = 0; i < 4096; i++)
                frame[i] = v;
            spin_us(40);
            shmap_publish(w);
            spin_us(40);
        }
    }
    CHECK_EQ_INT(util_parent_recv(&c), 'w');
    util_chan_close(&c);
    RUN(0, "watch", name, "--count", "150", "--interval", "0.01");
    util_kill9(writer);
    int whole = 0, marked = 0;
    for (char *line = out, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
        *nl = '\0';
        unsigned long long gen, min, max;
        const char *m = strstr(line, "  min "), *x = strstr(line, "  max ");
        CHECK(sscanf(line, "gen %llu ", &gen) == 1);
        if (strstr(line, "(earlier frame: ") || strstr(line, "no statistics")) {
            marked++;
            continue;
        }
        if (!m || !x || sscanf(m, "  min %llu", &min) != 1 || sscanf(x, "  max %llu", &max) != 1)
            test_fail(__FILE__, __LINE__, "a line with neither statistics nor a mark: \"%s\"",
                      line);
        if (min != max || min < gen)
            test_fail(__FILE__, __LINE__, "an unmarked line shows another frame than its "
                      "own: \"%s\"", line);
        whole++;
    }
    CHECK_EQ_INT(whole + marked, 150);
    RUN(0, "rm", name);
    util_clear(&out, &err);
}

TEST(cli__raw_watch_exits_1_when_its_object_is_deleted)
{
    const char *name = test_name("wrawrm");
    unsigned char bytes[4096] = {0};
    util_shm_write(name, bytes, sizeof bytes);
    /* At most 100 lines, 10 s: a watch that never notices ends that way, with 0. */
    const char *const args[] = {"watch",    name, "--dtype", "f4",  "--shape", "1024",
                                "--interval", "0.1", "--count", "100", NULL};
    struct bg b;
    bg_start(&b, -1, args);
    char line[256];
    read_line(b.out, line, sizeof line);
    CHECK_STR(line, "raw  min 0  max 0  mean 0");
    double t0 = util_now_s();
    util_shm_remove(name);
    int status = test_wait(b.pid);
    double took = util_now_s() - t0;
    char err[1024];
    util_read_to_end(b.err, err, sizeof err);
    close(b.out);
    if (status != 1 || took > UTIL_PROMPT_S)
        test_fail(__FILE__, __LINE__, "exited %d %.2f s after its object went; stderr: %s",
                  status, took, err);
    CHECK_ERROR_LINE(err, "the object was deleted or replaced while watched");
    CHECK_CONTAINS(err, name);
}

/*
 * watch prints once per interval, so once it has seen a publish it sleeps until its next
 * line instead of waking for each of a writer's frames: 400 publishes during one interval
 * cost it a few context switches, not one each.
 */
TEST(cli__watch_sleeps_through_publishes_until_its_next_line)
{
    const char *name = test_name("wwake");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "u8", "16");
    const char *const args[] = {"watch", name, "--interval", "30", NULL};
    struct bg b;
    bg_start(&b, -1, args);
    char line[256];
    read_line(b.out, line, sizeof line);
    CHECK_CONTAINS(line, "gen 0 ");
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDWR));
    unsigned long long before = proc_status(b.pid, "voluntary_ctxt_switches");
    for (int i = 0; i < 400; i++) {
        CHECK_OK(shmap_publish(seg));
        util_sleep_ms(2);
    }
    unsigned long long woke = proc_status(b.pid, "voluntary_ctxt_switches") - before;
    kill(b.pid, SIGINT);
    CHECK_EQ_INT(test_wait(b.pid), 0);
    close(b.out);
    close(b.err);
    if (woke > 40)
        test_fail(__FILE__, __LINE__, "watch woke %llu times for 400 publishes", woke);
    CHECK_OK(shmap_close(seg));
    RUN(0, "rm", name);
    util_clear(&out, &err);
}

/*
 * Sleeping through publishes does not make watch miss its segment's end: it learns at each
 * line that the name is gone, while a writer keeps publishing on the old segment.
 */
TEST(cli__watch_exits_1_when_the_segment_goes_under_a_busy_writer)
{
    const char *name = test_name("wbusyrm");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "u8", "16");
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDWR));
    pid_t writer = util_spawn();
    if (writer == 0) {
        for (;;) {
            shmap_publish(seg);
            util_sleep_ms(1);
        }
    }
    const char *const args[] = {"watch", name, "--interval", "0.2", "--count", "50", NULL};
    struct bg b;
    bg_start(&b, -1, args);
    char line[256];
    read_line(b.out, line, sizeof line);
    read_line(b.out, line, sizeof line);
    double t0 = util_now_s();
    util_shm_remove(name);
    int status = test_wait(b.pid);
    double took = util_now_s() - t0;
    util_kill9(writer);
    char errbuf[1024];
    util_read_to_end(b.err, errbuf, sizeof errbuf);
    close(b.out);
    if (status != 1 || took > UTIL_PROMPT_S)
        test_fail(__FILE__, __LINE__, "exited %d %.2f s after its segment went; stderr: %s",
                  status, took, errbuf);
    CHECK_ERROR_LINE(errbuf, "deleted or replaced");
    CHECK_OK(shmap_close(seg));
    util_clear(&out, &err);
}

/*
 * watch on a terminal whose foreground is another process group: `timeout 5 shmap watch`
 * in a script run from a terminal, or `shmap watch &`. It changed the terminal's settings
 * to read keys, which stopped it with SIGTTOU, and nothing continued it: it printed nothing
 * and never ended. A session on a new pseudo-terminal runs it in a background group of its
 * own; it must print its lines and exit 0 without ever stopping.
 */
TEST(cli__watch_in_a_background_process_group_of_a_terminal_runs_to_its_count)
{
    const char *name = test_name("wbg");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "u8", "16");
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    CHECK(master >= 0 && grantpt(master) == 0 && unlockpt(master) == 0);
    char slave[128];
    CHECK(ptsname_r(master, slave, sizeof slave) == 0);
    pid_t leader = util_spawn();
    if (leader == 0) {
        /* The session's leader holds the terminal's foreground; watch gets a group of its
         * own, in the background. Exits 0 once watch exits 0, 3 if watch stopped. */
        int fd = setsid() < 0 ? -1 : open(slave, O_RDWR);
        if (fd < 0 || ioctl(fd, TIOCSCTTY, 0) < 0)
            _exit(2);
        pid_t w = fork();
        if (w == 0) {
            setpgid(0, 0);
            dup2(fd, 0);
            dup2(fd, 1);
            dup2(fd, 2);
            execl(test_shmap_bin(), test_shmap_bin(), "watch", name, "--interval", "0.05",
                  "--count", "2", (char *)NULL);
            _exit(127);
        }
        setpgid(w, w);
        int st;
        if (waitpid(w, &st, WUNTRACED) != w)
            _exit(4);
        if (WIFSTOPPED(st)) {
            kill(w, SIGKILL);
            waitpid(w, &st, 0);
            _exit(3);
        }
        _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 5);
    }
    /* Drain the terminal so the lines never block. */
    char buf[4096], all[8192] = "";
    for (ssize_t n; (n = read(master, buf, sizeof buf - 1)) > 0;) {
        buf[n] = '\0';
        strncat(all, buf, sizeof all - strlen(all) - 1);
    }
    int status = test_wait(leader);
    close(master);
    RUN(0, "rm", name);
    util_clear(&out, &err);
    if (status == 3)
        test_fail(__FILE__, __LINE__, "watch stopped (SIGTTOU) in a background group: %s",
                  all);
    CHECK_EQ_INT(status, 0);
    CHECK_CONTAINS(all, "min 0  max 0  mean 0");
}

/* Has the terminal (seen through its master @p m) echo and line editing on? */
static int tty_cooked(int m)
{
    struct termios t;
    CHECK(tcgetattr(m, &t) == 0);
    return (t.c_lflag & ECHO) && (t.c_lflag & ICANON);
}

/* Read what the terminal has for us, without blocking, so watch's lines never fill it. */
static void tty_drain(int m)
{
    char buf[4096];
    while (read(m, buf, sizeof buf) > 0)
        ;
}

/* Wait up to 5 s, draining, until the terminal is cooked (@p want 1) or has echo off;
 * @p when names the step in a failure. */
static void tty_wait(int m, int want, const char *when)
{
    double t0 = util_now_s();
    while (tty_cooked(m) != want && util_now_s() - t0 < 5) {
        tty_drain(m);
        usleep(10000);
    }
    if (tty_cooked(m) != want)
        test_fail(__FILE__, __LINE__, "echo still %s 5 s %s", want ? "off" : "on", when);
}

/* The next status change of watch that the session leader reports. */
static int watch_event(int fd)
{
    int st = 0;
    CHECK(read(fd, &st, sizeof st) == (ssize_t)sizeof st);
    return st;
}

/* The next status change, which must be a stop ('S') or a continue ('C'); else the test
 * fails saying what came instead, @p when. */
static void expect_event(int fd, char kind, const char *when)
{
    int st = watch_event(fd);
    if (kind == 'S' ? WIFSTOPPED(st) : WIFCONTINUED(st))
        return;
    char what[64];
    if (WIFEXITED(st))
        snprintf(what, sizeof what, "exited %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(what, sizeof what, "killed by signal %d", WTERMSIG(st));
    else if (WIFSTOPPED(st))
        snprintf(what, sizeof what, "stopped by signal %d", WSTOPSIG(st));
    else
        snprintf(what, sizeof what, "status 0x%x", st);
    test_fail(__FILE__, __LINE__, "watch %s %s, not %s", what, when,
              kind == 'S' ? "stopped" : "continued");
}

/*
 * watch turns the terminal's echo off to read 'q': Ctrl-Z (SIGTSTP) must put it back while
 * watch is stopped and turn it off again when watch is continued in the foreground, and a
 * signal that ends watch other than SIGINT and SIGTERM (Ctrl-\, a hangup, SIGUSR1) must put
 * it back before watch ends: the terminal was left without echo. After Ctrl-Z, `bg` and
 * `fg`, echo is off again (it stayed on, and 'q' waited for Enter). A session on a new
 * pseudo-terminal runs watch in the foreground group of its own, under a leader that
 * reports watch's stops and end.
 */
TEST(cli__watch_puts_the_terminal_back_when_stopped_or_ended_by_a_signal)
{
    const char *name = test_name("wtty");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "u8", "16");
    util_clear(&out, &err);
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    CHECK(master >= 0 && grantpt(master) == 0 && unlockpt(master) == 0);
    char slave[128];
    CHECK(ptsname_r(master, slave, sizeof slave) == 0);
    int report[2];
    CHECK(pipe(report) == 0);
    pid_t leader = util_spawn();
    if (leader == 0) {
        close(report[0]);
        int go[2];
        int fd = setsid() < 0 ? -1 : open(slave, O_RDWR);
        if (fd < 0 || ioctl(fd, TIOCSCTTY, 0) < 0 || pipe(go) < 0)
            _exit(2);
        pid_t w = fork();
        if (w == 0) {
            char b;
            close(go[1]);
            if (read(go[0], &b, 1) != 1)
                _exit(126);
            dup2(fd, 0);
            dup2(fd, 1);
            dup2(fd, 2);
            execl(test_shmap_bin(), test_shmap_bin(), "watch", name, "--interval", "0.2",
                  (char *)NULL);
            _exit(127);
        }
        /* watch in a foreground group of its own (a group whose members' parents are all in
         * it or out of the session is orphaned, and Ctrl-Z does not stop one). */
        setpgid(w, w);
        signal(SIGTTOU, SIG_IGN); /* the leader moves the foreground from the background */
        if (tcsetpgrp(fd, w) < 0 || write(go[1], "g", 1) != 1 ||
            write(report[1], &w, sizeof w) != (ssize_t)sizeof w)
            _exit(3);
        for (int st, stops = 0, fg_done = 0;;) {
            if (waitpid(w, &st, WUNTRACED | WCONTINUED) != w)
                _exit(4);
            if (write(report[1], &st, sizeof st) != (ssize_t)sizeof st)
                _exit(5);
            if (WIFEXITED(st) || WIFSIGNALED(st))
                _exit(0);
            /* After the second Ctrl-Z, as a shell's `bg` and then `fg` do. */
            if (WIFSTOPPED(st) && ++stops == 2 &&
                (tcsetpgrp(fd, getpgrp()) < 0 || kill(w, SIGCONT) < 0))
                _exit(6);
            if (WIFCONTINUED(st) && stops == 2 && !fg_done) {
                fg_done = 1;
                usleep(300000); /* watch runs in the background meanwhile */
                int fg = 0x7fffffff;
                if (tcsetpgrp(fd, w) < 0 || kill(w, SIGCONT) < 0 ||
                    write(report[1], &fg, sizeof fg) != (ssize_t)sizeof fg)
                    _exit(7);
            }
        }
    }
    close(report[1]);
    pid_t w = 0;
    CHECK(read(report[0], &w, sizeof w) == (ssize_t)sizeof w && w > 0);
    CHECK(fcntl(master, F_SETFL, O_NONBLOCK) == 0);
    tty_wait(master, 0, "after watch started"); /* echo off: watch reads keys */
    CHECK(kill(w, SIGTSTP) == 0);
    expect_event(report[0], 'S', "after Ctrl-Z");
    CHECK(tty_cooked(master));
    CHECK(kill(w, SIGCONT) == 0);
    expect_event(report[0], 'C', "after fg");
    tty_wait(master, 0, "after fg");
    /* Ctrl-Z, `bg`: echo stays on while watch runs in the background; `fg`: off again. */
    CHECK(kill(w, SIGTSTP) == 0);
    expect_event(report[0], 'S', "after the second Ctrl-Z");
    expect_event(report[0], 'C', "after bg");
    CHECK(tty_cooked(master));
    CHECK_EQ_INT(watch_event(report[0]), 0x7fffffff);
    tty_wait(master, 0, "after bg and then fg");
    CHECK(kill(w, SIGHUP) == 0);
    int st = watch_event(report[0]);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGHUP);
    CHECK(tty_cooked(master));
    CHECK_EQ_INT(test_wait(leader), 0);
    close(report[0]);
    close(master);
    RUN(0, "rm", name);
    util_clear(&out, &err);
}

/*
 * Before the first publish, watch shows the data as it is, and its statistics are of one
 * state of it: a first fill that begins while watch copies makes the copy no whole frame.
 * Its minimum and maximum were those of half a ramp, unmarked.
 */
TEST(cli__watch_before_the_first_publish_never_shows_half_a_fill)
{
    const char *name = test_name("wfirst");
    char *out = NULL, *err = NULL;
    int torn = 0, rounds = 40;
    char first[512] = "";
    for (int round = 0; round < rounds; round++) {
        RUN(0, "create", name, "f64", "1000", "1000", "--replace");
        pid_t filler = util_spawn();
        if (filler == 0) {
            util_sleep_ms(round % 6);
            execl(test_shmap_bin(), "shmap", "fill", name, "ramp", (char *)NULL);
            _exit(127);
        }
        RUN(0, "watch", name, "--count", "1", "--interval", "0.01");
        CHECK_EQ_INT(test_wait(filler), 0);
        /* All zeros, the whole ramp, or no statistics. */
        if (!strstr(out, "  max 0  ") && !strstr(out, "  max 999999  ") &&
            !strstr(out, "no statistics yet") && torn++ == 0)
            snprintf(first, sizeof first, "round %d: %s", round, out);
    }
    if (torn)
        test_fail(__FILE__, __LINE__, "%d of %d first lines showed part of a fill, first %s",
                  torn, rounds, first);
    RUN(0, "rm", name);
    util_clear(&out, &err);
}

/*
 * info tells of a frame write in progress, or left unfinished by a writer that died in
 * it, in its text and JSON: only cat, export and watch said so, and a wait that never
 * ended left the user guessing why.
 */
TEST(cli__info_shows_a_write_in_progress_and_one_abandoned)
{
    const char *name = test_name("wstate");
    char *out = NULL, *err = NULL, want[128];
    RUN(0, "create", name, "u8", "4");
    RUN(0, "info", name);
    CHECK_CONTAINS(out, "\nwrite:           none\n");
    RUN(0, "info", name, "--json");
    CHECK_CONTAINS(out, "\"write\": {\"state\": \"none\", \"pid\": null}");
    const unsigned char seven = 7;
    pid_t writer = util_spawn_mid_frame_writer(name, &seven, 1, 4);
    RUN(0, "info", name);
    snprintf(want, sizeof want, "\nwrite:           in progress by pid %d\n", (int)writer);
    CHECK_CONTAINS(out, want);
    util_kill9(writer);
    RUN(0, "info", name);
    snprintf(want, sizeof want, "\nwrite:           abandoned: pid %d died writing a frame "
                                "(the data may be half-written)\n", (int)writer);
    CHECK_CONTAINS(out, want);
    RUN(0, "info", name, "--json");
    snprintf(want, sizeof want, "\"write\": {\"state\": \"abandoned\", \"pid\": %d}",
             (int)writer);
    CHECK_CONTAINS(out, want);
    RUN(0, "rm", name);
    util_clear(&out, &err);
}
