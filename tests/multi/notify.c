/* Change notification across real processes: wake-ups, timeouts, deletion, torn frames. */
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>

#include "../util.h"

static shmap_seg *make(const char *name, shmap_dtype dt, unsigned ndim, const uint64_t *dims,
                       unsigned flags)
{
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = flags;
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, dt, ndim, dims, &opts));
    return seg;
}

/* A kept u32[1024] segment, frame 0 published, and a writer killed in the middle of
 * frame 1 over it: its handle. */
static shmap_seg *left_mid_frame(const char *name)
{
    const uint64_t dims[1] = {1024};
    shmap_seg *seg = make(name, SHMAP_U32, 1, dims, SHMAP_CREATE_KEEP);
    CHECK_OK(shmap_publish(seg));
    const uint32_t seven = 7;
    util_kill9(util_spawn_mid_frame_writer(name, &seven, sizeof seven, 1024));
    return seg;
}

TEST(notify__one_publish_wakes_every_waiting_process)
{
    const char *name = test_name("wake");
    const uint64_t dims[1] = {16};
    shmap_seg *seg = make(name, SHMAP_F32, 1, dims, 0);
    int ready[2];
    CHECK(pipe(ready) == 0);
    enum { READERS = 4 };
    pid_t kids[READERS];
    for (int i = 0; i < READERS; i++) {
        if ((kids[i] = util_spawn()) == 0) {
            shmap_seg *r = NULL;
            if (shmap_open(&r, name, SHMAP_RDONLY) < 0)
                _exit(10);
            uint64_t seen = shmap_generation(r);
            if (write(ready[1], "x", 1) != 1)
                _exit(11);
            int rc = shmap_wait(r, &seen, 10.0);
            _exit(rc == 0 && seen == 1 ? 0 : 12);
        }
    }
    char c;
    for (int i = 0; i < READERS; i++)
        CHECK(read(ready[0], &c, 1) == 1);
    /* All asleep in their wait: the publish must wake them, not be found on the way in. */
    for (int i = 0; i < READERS; i++)
        CHECK(util_wait_asleep(kids[i]));
    CHECK_OK(shmap_publish(seg));
    for (int i = 0; i < READERS; i++)
        CHECK_EQ_INT(test_wait(kids[i]), 0);
    CHECK_OK(shmap_close(seg));
}

TEST(notify__wait_times_out_and_try_says_nothing_new)
{
    const char *name = test_name("timeout");
    const uint64_t dims[1] = {4};
    shmap_seg *seg = make(name, SHMAP_U8, 1, dims, 0);
    uint64_t seen = shmap_generation(seg);
    CHECK_ERR(shmap_wait(seg, &seen, 0), -EAGAIN);
    double t0 = util_now_s();
    CHECK_ERR(shmap_wait(seg, &seen, 0.2), -ETIMEDOUT);
    CHECK(util_now_s() - t0 >= 0.19);
    CHECK_OK(shmap_publish(seg));
    CHECK_OK(shmap_wait(seg, &seen, 0));
    CHECK_EQ_INT(seen, 1);
    CHECK_ERR(shmap_wait(seg, &seen, NAN), SHMAP_EINVAL);
    CHECK_OK(shmap_close(seg));
}

/*
 * A child that waits on `name` and exits 0 if told it was removed; returns once the child
 * sleeps in its wait, so what the test does next happens while it waits.
 */
static pid_t waiter_for_removal(const char *name)
{
    int ready[2];
    CHECK(pipe(ready) == 0);
    pid_t kid = util_spawn();
    if (kid == 0) {
        shmap_seg *r = NULL;
        if (shmap_open(&r, name, SHMAP_RDONLY) < 0)
            _exit(10);
        uint64_t seen = shmap_generation(r);
        if (write(ready[1], "x", 1) != 1)
            _exit(11);
        _exit(shmap_wait(r, &seen, 10.0) == SHMAP_EREMOVED ? 0 : 12);
    }
    char c;
    CHECK(read(ready[0], &c, 1) == 1);
    close(ready[0]);
    close(ready[1]);
    CHECK(util_wait_asleep(kid));
    return kid;
}

static void check_waiter_told(const char *name, int how)
{
    pid_t kid = waiter_for_removal(name);
    if (how == 0) {
        CHECK_OK(shmap_unlink(name));
    } else {
        const uint64_t dims[1] = {4};
        shmap_seg *again = make(name, SHMAP_U8, 1, dims, SHMAP_CREATE_REPLACE);
        CHECK_OK(shmap_close(again));
    }
    double t0 = util_now_s();
    CHECK_EQ_INT(test_wait(kid), 0);
    CHECK(util_now_s() - t0 < UTIL_PROMPT_S); /* its wait would time out after 10 s */
}

TEST(notify__a_waiter_is_told_when_its_segment_is_deleted)
{
    const char *name = test_name("deleted");
    const uint64_t dims[1] = {4};
    shmap_seg *seg = make(name, SHMAP_U8, 1, dims, SHMAP_CREATE_KEEP);
    check_waiter_told(name, 0);
    CHECK_OK(shmap_close(seg));
}

TEST(notify__a_waiter_is_told_when_its_segment_is_replaced)
{
    const char *name = test_name("replaced");
    const uint64_t dims[1] = {4};
    shmap_seg *seg = make(name, SHMAP_U8, 1, dims, SHMAP_CREATE_KEEP);
    check_waiter_told(name, 1);
    CHECK_OK(shmap_close(seg));
    util_shm_remove(name);
}

static void on_alarm(int sig)
{
    (void)sig;
}

TEST(notify__a_signal_interrupts_a_wait_with_eintr)
{
    const char *name = test_name("eintr");
    const uint64_t dims[1] = {4};
    shmap_seg *seg = make(name, SHMAP_U8, 1, dims, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm; /* no SA_RESTART */
    sigaction(SIGUSR1, &sa, NULL);
    pid_t self = getpid();
    pid_t kid = util_spawn();
    if (kid == 0) {
        /* Again and again (until killed): a signal that lands between two sleeps of the
         * wait only runs its handler, as with any system call. */
        for (;;) {
            util_sleep_ms(30);
            kill(self, SIGUSR1);
        }
    }
    uint64_t seen = shmap_generation(seg);
    CHECK_ERR(shmap_wait(seg, &seen, 10.0), -EINTR);
    kill(kid, SIGKILL);
    test_wait(kid);
    CHECK_OK(shmap_close(seg));
}

/*
 * The name is looked at every 50 ms however the waits end: with signals every 5 ms and a
 * caller that waits again after each -EINTR, as it should, a segment removed by hand is
 * still noticed, and so is a writer that died in the middle of a frame.
 */
TEST(notify__waits_made_again_after_eintr_still_notice_removal_and_dead_writers)
{
    const char *name = test_name("eintr-again");
    shmap_seg *seg = left_mid_frame(name);
    util_usr1_noop(true, 0);
    pid_t pest = util_spawn_pest(5);
    uint32_t frame[1024];
    uint64_t seen = 0;
    int rc = -EINTR;
    double t0 = util_now_s();
    while (rc == -EINTR && util_now_s() - t0 < 10)
        rc = shmap_read_frame(seg, &seen, frame, 10.0, NULL);
    CHECK_EQ_INT(rc, SHMAP_EOWNERDEAD);
    CHECK(util_now_s() - t0 < UTIL_PROMPT_S);
    /* Nothing new, and the name removed by hand. */
    seen = shmap_generation(seg);
    util_shm_remove(name);
    rc = -EINTR;
    t0 = util_now_s();
    while (rc == -EINTR && util_now_s() - t0 < 10)
        rc = shmap_wait(seg, &seen, 10.0);
    CHECK_EQ_INT(rc, SHMAP_EREMOVED);
    CHECK(util_now_s() - t0 < UTIL_PROMPT_S);
    util_kill9(pest);
    util_usr1_noop(false, 0);
    CHECK_OK(shmap_close(seg));
}

static volatile sig_atomic_t got_usr1;

static void on_usr1(int sig)
{
    (void)sig;
    got_usr1 = 1;
}

/* What the check sees, and what it tells the signalling child through the segment. */
struct signal_check {
    volatile uint8_t *data; /* [0]: set once the check has seen a signal */
    int seen;
    int stop;               /* end the wait at the next signal */
};

/* A check as an interpreter would use: it does the handler's work outside the handler. */
static int signals_seen(void *arg)
{
    struct signal_check *c = arg;
    if (!got_usr1)
        return 0;
    got_usr1 = 0;
    c->seen++;
    c->data[0] = 1;
    return c->stop ? -EINTR : 0;
}

TEST(notify__with_a_wait_check_a_signal_asks_the_check_instead_of_ending_the_wait)
{
    const char *name = test_name("chk");
    const uint64_t dims[1] = {4};
    shmap_seg *seg = make(name, SHMAP_U8, 1, dims, 0);
    struct signal_check c = {shmap_data(seg), 0, 0};
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1; /* no SA_RESTART */
    sigaction(SIGUSR1, &sa, &old);
    got_usr1 = 0;
    uint64_t seen = shmap_generation(seg);
    pid_t self = getpid();
    pid_t kid = util_spawn();
    if (kid == 0) {
        /* Signals until the check has seen one, then a publish; then, once the parent says
         * so (data[1]), signals only. */
        shmap_seg *w = NULL;
        if (shmap_open(&w, name, SHMAP_RDWR) < 0)
            _exit(20);
        volatile uint8_t *d = shmap_data(w);
        while (!d[0]) {
            util_sleep_ms(20);
            kill(self, SIGUSR1);
        }
        shmap_publish(w);
        while (!d[1])
            util_sleep_ms(5);
        for (;;) { /* until killed */
            util_sleep_ms(20);
            kill(self, SIGUSR1);
        }
    }
    shmap_set_wait_check(signals_seen, &c);
    /* The signals ask the check, which says go on: the wait ends with the publish. */
    CHECK_OK(shmap_wait(seg, &seen, 10.0));
    CHECK(c.seen >= 1);
    /* Now the check ends the wait at the next signal. */
    c.stop = 1;
    c.data[1] = 1;
    CHECK_ERR(shmap_wait(seg, &seen, 10.0), -EINTR);
    CHECK(strstr(shmap_last_error(), "stopped by the wait check") != NULL);
    shmap_set_wait_check(NULL, NULL);
    kill(kid, SIGKILL);
    test_wait(kid);
    sigaction(SIGUSR1, &old, NULL);
    CHECK_OK(shmap_close(seg));
}

/*
 * Writer: frame k has every element equal to k. `paced` reads the generation again for
 * every element: a slower writer, which leaves the reader of a plain segment more whole
 * frames to check (it can copy one only between a publish and the next write). Otherwise
 * frames are filled at memory speed, so the writer's time does not grow with a sanitizer's
 * cost per call.
 */
static void write_frames(const char *name, uint64_t count, int paced)
{
    shmap_seg *w = NULL;
    if (shmap_open(&w, name, SHMAP_RDWR) < 0)
        _exit(20);
    size_t n = shmap_frame_size(w) / sizeof(uint32_t);
    for (uint64_t k = 0; k < count; k++) {
        void *frame;
        if (shmap_write_begin(w, &frame) < 0)
            _exit(21);
        uint32_t *v = frame, g = (uint32_t)shmap_generation(w);
        for (size_t i = 0; i < n; i++)
            v[i] = paced ? (uint32_t)shmap_generation(w) : g;
        shmap_publish(w);
    }
    _exit(0);
}

static int frame_whole(const uint32_t *v, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (v[i] != v[0])
            return 0;
    return 1;
}

TEST(notify__frames_read_under_a_hammering_writer_are_never_torn)
{
    const char *name = test_name("torn");
    const uint64_t dims[2] = {128, 256};
    shmap_seg *seg = make(name, SHMAP_U32, 2, dims, 0);
    size_t n = shmap_frame_size(seg) / sizeof(uint32_t);
    uint32_t *buf = malloc(shmap_frame_size(seg));
    pid_t writer = util_spawn();
    if (writer == 0)
        write_frames(name, 20000, 1);
    uint64_t seen = 0, last = 0;
    int frames = 0;
    while (frames < 3000) {
        uint64_t missed;
        int rc = shmap_read_frame(seg, &seen, buf, 10.0, &missed);
        CHECK_OK(rc);
        if (!frame_whole(buf, n))
            test_fail(__FILE__, __LINE__, "torn frame %llu: element 0 is %u, another differs",
                      (unsigned long long)seen - 1, buf[0]);
        CHECK_EQ_INT(buf[0], seen - 1);
        CHECK(seen > last);
        last = seen;
        frames++;
        if (shmap_generation(seg) >= 20000)
            break;
    }
    kill(writer, SIGKILL);
    test_wait(writer);
    free(buf);
    CHECK_OK(shmap_close(seg));
}

TEST(notify__a_reader_behind_a_ring_learns_how_many_frames_it_missed)
{
    const char *name = test_name("ring");
    const uint64_t dims[2] = {4, 100};
    shmap_seg *seg = make(name, SHMAP_U32, 2, dims, SHMAP_CREATE_RING);
    CHECK_EQ_INT(shmap_ring_length(seg), 4);
    CHECK_EQ_INT(shmap_frame_size(seg), 400);
    pid_t writer = util_spawn();
    if (writer == 0)
        write_frames(name, 10, 0);
    CHECK_EQ_INT(test_wait(writer), 0);
    uint32_t frame[100];
    uint64_t seen = 0, missed = 99;
    CHECK_OK(shmap_read_frame(seg, &seen, frame, 1.0, &missed));
    /* Ten frames published into four slots: frames 6..9 remain, 0..5 were missed. */
    CHECK_EQ_INT(missed, 6);
    CHECK_EQ_INT(seen, 7);
    CHECK_EQ_INT(frame[0], 6);
    CHECK(frame_whole(frame, 100));
    for (uint32_t want = 7; want < 10; want++) {
        CHECK_OK(shmap_read_frame(seg, &seen, frame, 1.0, &missed));
        CHECK_EQ_INT(missed, 0);
        CHECK_EQ_INT(frame[0], want);
        CHECK(frame_whole(frame, 100));
    }
    CHECK_ERR(shmap_read_frame(seg, &seen, frame, 0, &missed), -EAGAIN);
    CHECK_OK(shmap_close(seg));
}

TEST(notify__ring_frames_under_a_hammering_writer_are_whole_and_in_order)
{
    const char *name = test_name("ringtorn");
    const uint64_t dims[2] = {2, 65536};
    shmap_seg *seg = make(name, SHMAP_U32, 2, dims, SHMAP_CREATE_RING);
    uint32_t *buf = malloc(shmap_frame_size(seg));
    /* Paced, the 50000 frames could take more than a minute under a sanitizer on a loaded
     * machine; at memory speed the reader still gets its 5000 frames first, as a rule. */
    pid_t writer = util_spawn();
    if (writer == 0)
        write_frames(name, 50000, 0);
    uint64_t seen = 0;
    int frames = 0;
    while (frames < 5000 && seen < 50000) {
        uint64_t missed, before = seen;
        CHECK_OK(shmap_read_frame(seg, &seen, buf, 10.0, &missed));
        if (!frame_whole(buf, 65536))
            test_fail(__FILE__, __LINE__, "torn ring frame %llu", (unsigned long long)seen - 1);
        CHECK_EQ_INT(buf[0], seen - 1);
        CHECK_EQ_INT(seen - 1 - before, missed);
        frames++;
    }
    kill(writer, SIGKILL);
    test_wait(writer);
    free(buf);
    CHECK_OK(shmap_close(seg));
}

TEST(notify__a_writer_killed_mid_frame_is_reported_not_waited_for)
{
    const char *name = test_name("deadwriter");
    const uint64_t dims[1] = {1024};
    shmap_seg *seg = make(name, SHMAP_U32, 1, dims, 0);
    CHECK_OK(shmap_publish(seg));
    int ready[2];
    CHECK(pipe(ready) == 0);
    pid_t writer = util_spawn();
    if (writer == 0) {
        shmap_seg *w = NULL;
        void *frame;
        if (shmap_open(&w, name, SHMAP_RDWR) < 0 || shmap_write_begin(w, &frame) < 0)
            _exit(20);
        ((uint32_t *)frame)[0] = 7;
        if (write(ready[1], "x", 1) != 1)
            _exit(21);
        pause();
        _exit(0);
    }
    char c;
    CHECK(read(ready[0], &c, 1) == 1);
    kill(writer, SIGKILL);
    test_wait(writer);
    uint32_t frame[1024];
    uint64_t seen = 0;
    double t0 = util_now_s();
    CHECK_ERR(shmap_read_frame(seg, &seen, frame, 10.0, NULL), SHMAP_EOWNERDEAD);
    CHECK(util_now_s() - t0 < UTIL_PROMPT_S);
    CHECK_CONTAINS(shmap_last_error(), "died while writing frame 1");
    CHECK_EQ_INT(seen, 1); /* frame 0, which the dead writer overwrote half of */
    /* A new writer takes over and readers get whole frames again: the frame rewritten is
     * published as frame 2, frame 1 counting as lost. */
    void *fp;
    CHECK_OK(shmap_write_begin(seg, &fp));
    memset(fp, 0, 4096);
    CHECK_OK(shmap_publish(seg));
    CHECK_EQ_INT(shmap_generation(seg), 3);
    uint64_t missed = 99;
    CHECK_OK(shmap_read_frame(seg, &seen, frame, 1.0, &missed));
    CHECK_EQ_INT(seen, 3);
    CHECK_EQ_INT(missed, 1);
    CHECK_EQ_INT(frame[0], 0);
    CHECK_OK(shmap_close(seg));
}

/* A plain segment of ONES u32, all 1, published once (frame 0). */
enum { ONES = 1024 };

static shmap_seg *published_ones(const char *name)
{
    const uint64_t dims[1] = {ONES};
    shmap_seg *seg = make(name, SHMAP_U32, 1, dims, 0);
    uint32_t *data = shmap_data(seg);
    for (size_t i = 0; i < ONES; i++)
        data[i] = 1;
    CHECK_OK(shmap_publish(seg));
    return seg;
}

/*
 * A reader that has had every frame and waits for the next is told when the writer dies in
 * the middle of that frame, with the torn copy, rather than waiting for a publish that
 * never comes; while the writer lives, the frame is waited for.
 */
TEST(notify__a_reader_waiting_for_the_next_frame_is_told_its_writer_died_in_it)
{
    const char *name = test_name("deadnext");
    enum { N = ONES };
    shmap_seg *seg = published_ones(name);
    uint32_t frame[N];
    uint64_t seen = 0, missed = 9;
    CHECK_OK(shmap_read_frame(seg, &seen, frame, 0, &missed));
    CHECK_EQ_INT(seen, 1);
    const uint32_t two = 2;
    pid_t writer = util_spawn_mid_frame_writer(name, &two, sizeof two, N);
    CHECK_ERR(shmap_read_frame(seg, &seen, frame, 0.05, NULL), -ETIMEDOUT);
    CHECK_EQ_INT(seen, 1);
    util_kill9(writer);
    double t0 = util_now_s();
    CHECK_ERR(shmap_read_frame(seg, &seen, frame, 10.0, &missed), SHMAP_EOWNERDEAD);
    CHECK(util_now_s() - t0 < UTIL_PROMPT_S);
    CHECK_CONTAINS(shmap_last_error(), "died while writing frame 1");
    CHECK_EQ_INT(seen, 2);
    CHECK_EQ_INT(missed, 0);
    CHECK_EQ_INT(frame[0], 2);
    CHECK_EQ_INT(frame[N - 1], 1);
    /* Told once: the next call waits for the next frame. */
    CHECK_ERR(shmap_read_frame(seg, &seen, frame, 0, NULL), -EAGAIN);
    /* An endless wait too, in a child, which has had frame 0. */
    pid_t kid = util_spawn();
    if (kid == 0) {
        shmap_seg *r = NULL;
        uint64_t s = 1;
        if (shmap_open(&r, name, SHMAP_RDONLY) < 0)
            _exit(10);
        signal(SIGALRM, SIG_DFL);
        alarm((unsigned)UTIL_PROMPT_S + 2);
        _exit(shmap_read_frame(r, &s, frame, -1, NULL) == SHMAP_EOWNERDEAD && s == 2 ? 0 : 12);
    }
    CHECK_EQ_INT(test_wait(kid), 0);
    CHECK_OK(shmap_close(seg));
}

/*
 * Through each of two handles (read-write, read-only), with a try, a timeout shorter than
 * the waiting path's moment and a long one, a reader that had nothing is given the torn
 * frame at once with SHMAP_EOWNERDEAD and a detail holding `says` and `pid_text`: `n`
 * elements, the first half 2 (the dead writer's), the second half `rest`; *seen 1, nothing
 * missed.
 */
static void torn_every_way(shmap_seg *const handles[2], uint32_t *frame, size_t n,
                           const char *says, const char *pid_text, uint32_t rest)
{
    const double timeouts[] = {0, 0.001, 10.0};
    for (size_t h = 0; h < 2; h++)
        for (size_t t = 0; t < sizeof timeouts / sizeof timeouts[0]; t++) {
            uint64_t seen = 0, missed = 99;
            memset(frame, 0xff, n * sizeof *frame);
            double t0 = util_now_s();
            int rc = shmap_read_frame(handles[h], &seen, frame, timeouts[t], &missed);
            if (rc != SHMAP_EOWNERDEAD)
                test_fail(__FILE__, __LINE__, "%s handle, timeout %g: %s (%s)",
                          h ? "read-only" : "read-write", timeouts[t], shmap_errname(rc),
                          shmap_last_error());
            CHECK(util_now_s() - t0 < UTIL_PROMPT_S);
            CHECK_CONTAINS(shmap_last_error(), says);
            CHECK_CONTAINS(shmap_last_error(), pid_text);
            CHECK_EQ_INT(frame[0], 2);
            CHECK_EQ_INT(frame[n / 2 - 1], 2);
            CHECK_EQ_INT(frame[n / 2], rest);
            CHECK_EQ_INT(frame[n - 1], rest);
            CHECK_EQ_INT(seen, 1);
            CHECK_EQ_INT(missed, 0);
        }
}

/*
 * A try (timeout 0) or a timeout too short for the waiting path's moment judges a writer
 * that died mid-frame as a long wait does: the frame, torn, with SHMAP_EOWNERDEAD, rather
 * than "no whole frame within the timeout" (-EAGAIN) for a frame that will never come. While
 * the writer lives, a try says -EAGAIN and shmap_write_state() names it.
 */
TEST(notify__a_try_reports_a_writer_killed_mid_frame_as_a_wait_does)
{
    const char *name = test_name("trydead");
    enum { N = ONES };
    shmap_seg *seg = published_ones(name);
    pid_t none = -1;
    CHECK_EQ_INT(shmap_write_state(seg, &none), SHMAP_WRITE_NONE);
    CHECK_EQ_INT(none, 0);

    const uint32_t two = 2;
    pid_t writer = util_spawn_mid_frame_writer(name, &two, sizeof two, N);
    char pid_text[32];
    snprintf(pid_text, sizeof pid_text, "pid %d", (int)writer);
    uint32_t frame[N];
    uint64_t seen = 0;
    pid_t who = 0;
    CHECK_EQ_INT(shmap_write_state(seg, &who), SHMAP_WRITE_IN_PROGRESS);
    CHECK_EQ_INT(who, writer);
    CHECK_ERR(shmap_read_frame(seg, &seen, frame, 0, NULL), -EAGAIN);
    CHECK_CONTAINS(shmap_last_error(), pid_text);
    CHECK_EQ_INT(seen, 0);
    double t0 = util_now_s();
    CHECK_ERR(shmap_read_frame(seg, &seen, frame, 0.05, NULL), -ETIMEDOUT);
    CHECK(util_now_s() - t0 < 0.05 + UTIL_PROMPT_S);
    CHECK_EQ_INT(seen, 0);

    util_kill9(writer);
    CHECK_EQ_INT(shmap_write_state(seg, &who), SHMAP_WRITE_ABANDONED);
    CHECK_EQ_INT(who, writer);
    /* Through this handle and a read-only one, with a try, a timeout shorter than the
     * waiting path's moment, and a long one: the same answer, at once. */
    shmap_seg *ro = NULL;
    CHECK_OK(shmap_open(&ro, name, SHMAP_RDONLY));
    shmap_seg *const handles[] = {seg, ro};
    /* The torn copy: the new first half, the old second half. It is frame 0 for a reader
     * that had nothing: the dead writer overwrote half of it. */
    torn_every_way(handles, frame, N, "died while writing frame 1 over frame 0", pid_text, 1);
    /* Having had frame 0, a try is told of frame 1, the one the dead writer was writing,
     * torn too, once; then it waits for the next. */
    seen = 1;
    CHECK_ERR(shmap_read_frame(ro, &seen, frame, 0, NULL), SHMAP_EOWNERDEAD);
    CHECK_CONTAINS(shmap_last_error(), "died while writing frame 1");
    CHECK_EQ_INT(seen, 2);
    CHECK_ERR(shmap_read_frame(ro, &seen, frame, 0, NULL), -EAGAIN);
    CHECK_EQ_INT(shmap_write_state(ro, &who), SHMAP_WRITE_ABANDONED);

    /* A new writer takes over: whole frames again, and no write in progress. */
    void *fp;
    CHECK_OK(shmap_write_begin(seg, &fp));
    CHECK_EQ_INT(shmap_write_state(ro, &who), SHMAP_WRITE_IN_PROGRESS);
    CHECK_EQ_INT(who, getpid());
    /* Meanwhile the frame is being written by a live writer: waited for, not torn again. */
    CHECK_ERR(shmap_read_frame(ro, &seen, frame, 0, NULL), -EAGAIN);
    CHECK_EQ_INT(seen, 2);
    memset(fp, 0, N * sizeof(uint32_t));
    CHECK_OK(shmap_publish(seg));
    CHECK_EQ_INT(shmap_write_state(ro, &who), SHMAP_WRITE_NONE);
    CHECK_EQ_INT(who, 0);
    /* It is published as frame 2, frame 1 counting as lost: the reader given frame 1 torn
     * gets it, whole, and so does one that had only frame 0, told it missed frame 1. */
    CHECK_EQ_INT(shmap_generation(ro), 3);
    uint64_t missed = 99;
    CHECK_OK(shmap_read_frame(ro, &seen, frame, 0, &missed));
    CHECK_EQ_INT(seen, 3);
    CHECK_EQ_INT(missed, 0);
    CHECK_EQ_INT(frame[0], 0);
    CHECK_EQ_INT(frame[N - 1], 0);
    seen = 1;
    CHECK_OK(shmap_read_frame(ro, &seen, frame, 0, &missed));
    CHECK_EQ_INT(seen, 3);
    CHECK_EQ_INT(missed, 1);
    CHECK_EQ_INT(frame[0], 0);
    CHECK_OK(shmap_close(ro));
    CHECK_OK(shmap_close(seg));
}

/*
 * A reader in a child with an endless wait (timeout -1) on a plain segment whose writer was
 * killed mid-frame: the child exits 0 if it was told SHMAP_EOWNERDEAD with frame `want`'s
 * first element and *seen `want_seen`; SIGALRM ends it if the wait never returns.
 */
static pid_t endless_reader(const char *name, uint32_t want, uint64_t want_seen)
{
    pid_t kid = util_spawn();
    if (kid == 0) {
        shmap_seg *r = NULL;
        if (shmap_open(&r, name, SHMAP_RDONLY) < 0)
            _exit(10);
        uint32_t *frame = malloc(shmap_frame_size(r));
        uint64_t seen = 0;
        signal(SIGALRM, SIG_DFL);
        alarm((unsigned)UTIL_PROMPT_S + 2);
        int rc = shmap_read_frame(r, &seen, frame, -1, NULL);
        _exit(rc == SHMAP_EOWNERDEAD && seen == want_seen && frame[0] == want ? 0 : 12);
    }
    return kid;
}

/*
 * The first frame of a plain segment (generation 0, nothing published yet) is the only frame
 * there is: a reader that has had nothing waits for its writer, and is told when that writer
 * dies in the middle of it, as for any later frame, with the torn copy counted as frame 0.
 */
TEST(notify__a_writer_killed_mid_first_frame_is_reported_not_waited_for)
{
    const char *name = test_name("deadfirst");
    enum { N = 1024 };
    const uint64_t dims[1] = {N};
    shmap_seg *seg = make(name, SHMAP_U32, 1, dims, 0);
    CHECK_EQ_INT(shmap_generation(seg), 0);
    const uint32_t two = 2;
    pid_t writer = util_spawn_mid_frame_writer(name, &two, sizeof two, N);
    char pid_text[32];
    snprintf(pid_text, sizeof pid_text, "pid %d", (int)writer);
    uint32_t frame[N];
    uint64_t seen = 0;
    /* While the writer lives, the frame is waited for, and the reader told who writes it. */
    CHECK_ERR(shmap_read_frame(seg, &seen, frame, 0, NULL), -EAGAIN);
    CHECK_CONTAINS(shmap_last_error(), pid_text);
    CHECK_EQ_INT(seen, 0);
    CHECK_ERR(shmap_read_frame(seg, &seen, frame, 0.05, NULL), -ETIMEDOUT);
    CHECK_CONTAINS(shmap_last_error(), pid_text);
    CHECK_EQ_INT(seen, 0);

    util_kill9(writer);
    pid_t who = 0;
    CHECK_EQ_INT(shmap_write_state(seg, &who), SHMAP_WRITE_ABANDONED);
    CHECK_EQ_INT(who, writer);
    shmap_seg *ro = NULL;
    CHECK_OK(shmap_open(&ro, name, SHMAP_RDONLY));
    shmap_seg *const handles[] = {seg, ro};
    /* The torn copy: the new first half, the second half as created. */
    torn_every_way(handles, frame, N, "died while writing frame 0", pid_text, 0);
    /* An endless wait too: in a child, so that a wait that never ends fails the test. */
    double t0 = util_now_s();
    CHECK_EQ_INT(test_wait(endless_reader(name, 2, 1)), 0);
    CHECK(util_now_s() - t0 < UTIL_PROMPT_S);

    /* Having had frame 0, a try waits for the next one. */
    seen = 1;
    CHECK_ERR(shmap_read_frame(ro, &seen, frame, 0, NULL), -EAGAIN);
    CHECK_EQ_INT(seen, 1);
    /* A new writer takes over frame 0 and publishes it as frame 1, frame 0 counting as
     * lost: the reader given the torn copy gets it whole, and so does one that had nothing,
     * told it missed frame 0. */
    void *fp;
    CHECK_OK(shmap_write_begin(seg, &fp));
    CHECK(fp == shmap_data(seg));
    memset(fp, 0, N * sizeof(uint32_t));
    CHECK_OK(shmap_publish(seg));
    CHECK_EQ_INT(shmap_generation(seg), 2);
    uint64_t missed = 99;
    CHECK_OK(shmap_read_frame(ro, &seen, frame, 0, &missed));
    CHECK_EQ_INT(seen, 2);
    CHECK_EQ_INT(missed, 0);
    CHECK_EQ_INT(frame[0], 0);
    CHECK_EQ_INT(frame[N - 1], 0);
    seen = 0;
    CHECK_OK(shmap_read_frame(ro, &seen, frame, 0, &missed));
    CHECK_EQ_INT(seen, 2);
    CHECK_EQ_INT(missed, 1);
    CHECK_EQ_INT(frame[0], 0);
    CHECK_EQ_INT(frame[N - 1], 0);
    CHECK_OK(shmap_close(ro));
    CHECK_OK(shmap_close(seg));
}

/* The first element of a frame of ONES u32 and its last: what a reader got. */
#define HEAD_TAIL(frame) (((uint64_t)(frame)[0] << 32) | (frame)[ONES - 1])

/*
 * A reader given a torn frame is not left on it: the frame written again by the next writer
 * (one that takes over from the dead one) reaches it as a new frame, the torn one counting as
 * lost, also when that next writer dies in the middle of it too. The reader is a child that
 * waits between frames with a timeout far longer than the test allows, so only the wake of
 * the repaired frame's publish ends its last wait in time; it says 'x' when a frame is not
 * what it should be. A reader that had only the frame before is told it missed the lost ones.
 */
TEST(notify__a_reader_given_a_torn_frame_gets_it_once_written_again)
{
    const char *name = test_name("repair");
    shmap_seg *seg = published_ones(name);
    const uint32_t two = 2, four = 4;
    util_kill9(util_spawn_mid_frame_writer(name, &two, sizeof two, ONES));
    struct util_chan c;
    util_chan_open(&c);
    pid_t reader = util_spawn();
    if (reader == 0) {
        shmap_seg *r = NULL;
        uint32_t got[ONES];
        uint64_t seen = 1, missed = 99;
        if (shmap_open(&r, name, SHMAP_RDONLY) < 0)
            _exit(10);
        /* Frame 1, torn by the first writer: its half of 2, the rest still 1. */
        bool ok = shmap_read_frame(r, &seen, got, 20.0, &missed) == SHMAP_EOWNERDEAD &&
                  seen == 2 && missed == 0 && HEAD_TAIL(got) == ((uint64_t)2 << 32 | 1);
        util_child_send(&c, ok ? 'a' : 'x');
        /* Frame 2, which the second writer took over and died in, torn too: its half of 4. */
        ok = ok && shmap_read_frame(r, &seen, got, 20.0, &missed) == SHMAP_EOWNERDEAD &&
             seen == 3 && missed == 0 && HEAD_TAIL(got) == ((uint64_t)4 << 32 | 1) &&
             strstr(shmap_last_error(), "died while writing frame 2");
        util_child_send(&c, ok ? 'b' : 'x');
        /* Frame 3, written whole by the third writer. */
        ok = ok && shmap_read_frame(r, &seen, got, 20.0, &missed) == 0 && seen == 4 &&
             missed == 0 && HEAD_TAIL(got) == ((uint64_t)5 << 32 | 5);
        _exit(ok ? 0 : 11);
    }
    CHECK_EQ_INT(util_parent_recv(&c), 'a');
    pid_t second = util_spawn_mid_frame_writer(name, &four, sizeof four, ONES);
    CHECK_EQ_INT(shmap_write_state(seg, NULL), SHMAP_WRITE_IN_PROGRESS);
    util_kill9(second);
    CHECK_EQ_INT(util_parent_recv(&c), 'b');
    CHECK(util_wait_asleep(reader));
    void *fp;
    CHECK_OK(shmap_write_begin(seg, &fp));
    for (size_t i = 0; i < ONES; i++)
        ((uint32_t *)fp)[i] = 5;
    CHECK_OK(shmap_publish(seg));
    double t0 = util_now_s();
    CHECK_EQ_INT(test_wait(reader), 0);
    CHECK(util_now_s() - t0 < UTIL_PROMPT_S);
    util_chan_close(&c);
    CHECK_EQ_INT(shmap_generation(seg), 4);
    uint32_t frame[ONES];
    uint64_t seen = 1, missed = 99;
    CHECK_OK(shmap_read_frame(seg, &seen, frame, 0, &missed));
    CHECK_EQ_INT(seen, 4);
    CHECK_EQ_INT(missed, 2);
    CHECK_EQ_INT(HEAD_TAIL(frame), (uint64_t)5 << 32 | 5);
    /* Frames written after it are numbered one by one again. */
    CHECK_OK(shmap_write_begin(seg, &fp));
    CHECK_OK(shmap_publish(seg));
    CHECK_EQ_INT(shmap_generation(seg), 5);
    CHECK_OK(shmap_close(seg));
}

/* A writer that publishes without beginning a write ends a frame abandoned by a dead writer
 * as one that takes it over does: as a new frame, for the reader given the torn one too. */
TEST(notify__a_publish_over_a_torn_frame_is_a_new_frame)
{
    const char *name = test_name("repairpub");
    shmap_seg *seg = published_ones(name);
    const uint32_t two = 2;
    util_kill9(util_spawn_mid_frame_writer(name, &two, sizeof two, ONES));
    uint32_t frame[ONES];
    uint64_t seen = 1;
    CHECK_ERR(shmap_read_frame(seg, &seen, frame, 0, NULL), SHMAP_EOWNERDEAD);
    CHECK_EQ_INT(seen, 2);
    uint32_t *data = shmap_data(seg);
    for (size_t i = 0; i < ONES; i++)
        data[i] = 6;
    CHECK_OK(shmap_publish(seg));
    CHECK_EQ_INT(shmap_generation(seg), 3);
    CHECK_EQ_INT(shmap_write_state(seg, NULL), SHMAP_WRITE_NONE);
    uint64_t missed = 99;
    CHECK_OK(shmap_read_frame(seg, &seen, frame, 0, &missed));
    CHECK_EQ_INT(seen, 3);
    CHECK_EQ_INT(missed, 0);
    CHECK_EQ_INT(HEAD_TAIL(frame), (uint64_t)6 << 32 | 6);
    CHECK_OK(shmap_close(seg));
}

/* A process that begins a frame of `name`, gives it up, and lives on. */
static pid_t spawn_aborter(const char *name)
{
    struct util_chan c;
    util_chan_open(&c);
    pid_t pid = util_spawn();
    if (pid == 0) {
        shmap_seg *w = NULL;
        void *fp;
        if (shmap_open(&w, name, SHMAP_RDWR) < 0 || shmap_write_begin(w, &fp) < 0 ||
            shmap_write_abort(w) < 0)
            _exit(20);
        util_child_send(&c, 'a');
        for (;;)
            pause();
    }
    CHECK_EQ_INT(util_parent_recv(&c), 'a');
    util_chan_close(&c);
    return pid;
}

/*
 * The next frame number a takeover gave the torn frame stays with it when its new writer
 * gives it up and writes it again, in the same process or another: the reader given it torn
 * gets it, and a wait across the takeover is told two frames.
 */
TEST(notify__a_taken_over_frame_keeps_its_new_number_through_an_abort)
{
    const char *name = test_name("repairab");
    const uint32_t two = 2;
    for (int other = 0; other < 2; other++) {
        shmap_seg *seg = published_ones(name);
        util_kill9(util_spawn_mid_frame_writer(name, &two, sizeof two, ONES));
        uint32_t frame[ONES];
        uint64_t seen = 1, waited = 1;
        CHECK_ERR(shmap_read_frame(seg, &seen, frame, 0, NULL), SHMAP_EOWNERDEAD);
        CHECK_EQ_INT(seen, 2);
        pid_t aborter = 0;
        void *fp;
        if (other) {
            aborter = spawn_aborter(name);
        } else {
            CHECK_OK(shmap_write_begin(seg, &fp));
            CHECK_OK(shmap_write_abort(seg));
        }
        CHECK_EQ_INT(shmap_write_state(seg, NULL), SHMAP_WRITE_ABORTED);
        CHECK_OK(shmap_write_begin(seg, &fp));
        for (size_t i = 0; i < ONES; i++)
            ((uint32_t *)fp)[i] = 5;
        CHECK_OK(shmap_publish(seg));
        CHECK_EQ_INT(shmap_generation(seg), 3);
        uint64_t missed = 99;
        CHECK_OK(shmap_read_frame(seg, &seen, frame, 0, &missed));
        CHECK_EQ_INT(seen, 3);
        CHECK_EQ_INT(missed, 0);
        CHECK_EQ_INT(HEAD_TAIL(frame), (uint64_t)5 << 32 | 5);
        CHECK_OK(shmap_wait(seg, &waited, 0));
        CHECK_EQ_INT(waited, 3);
        if (aborter)
            util_kill9(aborter);
        CHECK_OK(shmap_close(seg));
    }
}

/*
 * When the writer that took over a torn frame dies in it too, a reader that had only the
 * frame before is given the frame being written, once, told it missed the one lost before
 * it: not the lost frame's slot and then the same slot again as the next frame.
 */
TEST(notify__a_reader_behind_two_dead_writers_skips_the_lost_frame)
{
    const char *name = test_name("repairtwo");
    shmap_seg *seg = published_ones(name);
    const uint32_t two = 2, four = 4;
    util_kill9(util_spawn_mid_frame_writer(name, &two, sizeof two, ONES));
    util_kill9(util_spawn_mid_frame_writer(name, &four, sizeof four, ONES));
    uint32_t frame[ONES];
    uint64_t seen = 1, missed = 99;
    CHECK_ERR(shmap_read_frame(seg, &seen, frame, 0, &missed), SHMAP_EOWNERDEAD);
    CHECK_CONTAINS(shmap_last_error(), "died while writing frame 2: the copy may be torn");
    CHECK_EQ_INT(seen, 3);
    CHECK_EQ_INT(missed, 1);
    CHECK_EQ_INT(HEAD_TAIL(frame), (uint64_t)4 << 32 | 1);
    CHECK_ERR(shmap_read_frame(seg, &seen, frame, 0, NULL), -EAGAIN);
    CHECK_OK(shmap_close(seg));
}

/* The writer that takes a torn frame over runs in a pid namespace of its own. */
static void take_over_and_publish(const char *name)
{
    shmap_seg *w = NULL;
    void *fp;
    if (shmap_open(&w, name, SHMAP_RDWR) < 0 || shmap_write_begin(w, &fp) < 0)
        _exit(20);
    for (size_t i = 0; i < ONES; i++)
        ((uint32_t *)fp)[i] = 7;
    if (shmap_publish(w) < 0)
        _exit(21);
}

/*
 * A writer in another pid namespace than the dead one cannot judge it, and counts it dead:
 * the frame it writes over the torn one is a new frame too, for the reader given it torn.
 */
TEST(notify__a_takeover_from_another_pid_namespace_is_a_new_frame)
{
    const char *name = test_name("repairns");
    shmap_seg *seg = published_ones(name);
    const uint32_t two = 2;
    util_kill9(util_spawn_mid_frame_writer(name, &two, sizeof two, ONES));
    uint32_t frame[ONES];
    uint64_t seen = 1;
    CHECK_ERR(shmap_read_frame(seg, &seen, frame, 0, NULL), SHMAP_EOWNERDEAD);
    util_pid_namespace_done(util_spawn_in_new_pid_namespace(take_over_and_publish, name));
    CHECK_EQ_INT(shmap_generation(seg), 3);
    CHECK_OK(shmap_read_frame(seg, &seen, frame, 0, NULL));
    CHECK_EQ_INT(seen, 3);
    CHECK_EQ_INT(frame[0], 7);
    CHECK_OK(shmap_close(seg));
}

/*
 * A frame aborted by a writer that lives was never given torn (readers wait for it), so
 * another process that writes it keeps its number; only a dead writer's frame counts as lost.
 */
TEST(notify__a_frame_aborted_by_a_live_writer_keeps_its_number_when_taken_over)
{
    const char *name = test_name("abortover");
    shmap_seg *seg = published_ones(name);
    pid_t writer = spawn_aborter(name);
    CHECK_EQ_INT(shmap_write_state(seg, NULL), SHMAP_WRITE_ABORTED);
    void *fp;
    CHECK_OK(shmap_write_begin(seg, &fp));
    memset(fp, 0, ONES * sizeof(uint32_t));
    CHECK_OK(shmap_publish(seg));
    CHECK_EQ_INT(shmap_generation(seg), 2);
    uint32_t frame[ONES];
    uint64_t seen = 1, missed = 99;
    CHECK_OK(shmap_read_frame(seg, &seen, frame, 0, &missed));
    CHECK_EQ_INT(seen, 2);
    CHECK_EQ_INT(missed, 0);
    util_kill9(writer);
    CHECK_OK(shmap_close(seg));
}

/*
 * A reader blocked on a live writer in the middle of the only frame is still told when the
 * segment is deleted, as a waiter for a publish is.
 */
TEST(notify__a_reader_stuck_on_a_live_writer_is_told_of_deletion)
{
    const char *name = test_name("stuckdel");
    enum { N = 1024 };
    const uint64_t dims[1] = {N};
    const uint32_t two = 2;
    for (int published = 0; published < 2; published++) {
        shmap_seg *seg = make(name, SHMAP_U32, 1, dims, SHMAP_CREATE_KEEP);
        if (published)
            CHECK_OK(shmap_publish(seg));
        pid_t writer = util_spawn_mid_frame_writer(name, &two, sizeof two, N);
        struct util_chan c;
        util_chan_open(&c);
        pid_t kid = util_spawn();
        if (kid == 0) {
            shmap_seg *r = NULL;
            if (shmap_open(&r, name, SHMAP_RDONLY) < 0)
                _exit(10);
            uint32_t frame[N];
            uint64_t seen = 0;
            signal(SIGALRM, SIG_DFL);
            alarm(10);
            util_child_send(&c, 'r');
            _exit(shmap_read_frame(r, &seen, frame, -1, NULL) == SHMAP_EREMOVED ? 0 : 12);
        }
        CHECK_EQ_INT(util_parent_recv(&c), 'r');
        util_chan_close(&c);
        CHECK(util_wait_asleep(kid));
        CHECK_OK(shmap_delete(name, 1.0, 0));
        double t0 = util_now_s();
        CHECK_EQ_INT(test_wait(kid), 0);
        CHECK(util_now_s() - t0 < UTIL_PROMPT_S);
        util_kill9(writer);
        CHECK_OK(shmap_close(seg));
    }
}

/*
 * A ring reader never copies a frame being written, so it has nothing torn to be given:
 * one that finds the writer of the first frame dead waits for the frame as for any other,
 * and gets it whole when a new writer takes over.
 */
TEST(notify__a_ring_reader_waits_past_a_writer_killed_mid_first_frame)
{
    const char *name = test_name("ringdeadfirst");
    enum { N = 256 };
    const uint64_t dims[2] = {4, N};
    shmap_seg *seg = make(name, SHMAP_U32, 2, dims, SHMAP_CREATE_RING);
    const uint32_t two = 2;
    util_kill9(util_spawn_mid_frame_writer(name, &two, sizeof two, N));
    CHECK_EQ_INT(shmap_write_state(seg, NULL), SHMAP_WRITE_ABANDONED);
    uint32_t frame[N];
    uint64_t seen = 0;
    CHECK_ERR(shmap_read_frame(seg, &seen, frame, 0, NULL), -EAGAIN);
    CHECK_ERR(shmap_read_frame(seg, &seen, frame, 0.05, NULL), -ETIMEDOUT);
    CHECK_EQ_INT(seen, 0);
    void *fp;
    CHECK_OK(shmap_write_begin(seg, &fp));
    CHECK(fp == shmap_data(seg));
    memset(fp, 0, N * sizeof(uint32_t));
    CHECK_OK(shmap_publish(seg));
    /* A ring's frames keep their numbers: nobody was given the dead writer's torn. */
    CHECK_EQ_INT(shmap_generation(seg), 1);
    uint64_t missed = 99;
    CHECK_OK(shmap_read_frame(seg, &seen, frame, 0, &missed));
    CHECK_EQ_INT(seen, 1);
    CHECK_EQ_INT(missed, 0);
    CHECK_EQ_INT(frame[0], 0);
    CHECK_EQ_INT(frame[N / 2 - 1], 0);
    /* The next frame goes to the next index, and is read from there. */
    CHECK_OK(shmap_write_begin(seg, &fp));
    CHECK(fp == (char *)shmap_data(seg) + N * sizeof(uint32_t));
    for (size_t i = 0; i < N; i++)
        ((uint32_t *)fp)[i] = 3;
    CHECK_OK(shmap_publish(seg));
    CHECK_OK(shmap_read_frame(seg, &seen, frame, 0, &missed));
    CHECK_EQ_INT(seen, 2);
    CHECK_EQ_INT(missed, 0);
    CHECK_EQ_INT(frame[0], 3);
    CHECK_EQ_INT(frame[N - 1], 3);
    CHECK_OK(shmap_close(seg));
}

TEST(notify__write_state_refuses_null_and_raw_handles)
{
    pid_t who = -1;
    CHECK_ERR(shmap_write_state(NULL, &who), SHMAP_EINVAL);
    CHECK_EQ_INT(who, 0);
    const char *name = test_name("wsraw");
    const uint64_t dims[1] = {64};
    shmap_seg *seg = make(name, SHMAP_U8, 1, dims, SHMAP_CREATE_KEEP);
    CHECK_OK(shmap_close(seg));
    shmap_raw_opts opts = SHMAP_RAW_OPTS_INIT;
    shmap_seg *raw = NULL;
    CHECK_OK(shmap_open_raw(&raw, name, SHMAP_U8, 1, dims, &opts));
    CHECK_ERR(shmap_write_state(raw, NULL), SHMAP_ERAW);
    CHECK_OK(shmap_close(raw));
    CHECK_OK(shmap_unlink(name));
}

TEST(notify__write_begin_refuses_read_only_handles_and_nested_writes)
{
    const char *name = test_name("wbegin");
    const uint64_t dims[1] = {8};
    shmap_seg *seg = make(name, SHMAP_U8, 1, dims, 0);
    shmap_seg *ro = NULL;
    CHECK_OK(shmap_open(&ro, name, SHMAP_RDONLY));
    CHECK_ERR(shmap_write_begin(ro, NULL), SHMAP_EREADONLY);
    CHECK_ERR(shmap_publish(ro), SHMAP_EREADONLY);
    CHECK_OK(shmap_write_begin(seg, NULL));
    CHECK_ERR(shmap_write_begin(seg, NULL), -EALREADY);
    CHECK_OK(shmap_publish(seg));
    CHECK_EQ_INT(shmap_generation(ro), 1);
    CHECK_OK(shmap_close(ro));
    CHECK_OK(shmap_close(seg));
}

/*
 * A writer in another process that gives up its frame half-way: readers wait for that
 * frame as for one being written (they are not given it torn while its writer lives), the
 * writer may begin it again without being refused, and the frame readers then get is the
 * one written again, whole, counted once. A writer that aborts and then dies leaves the
 * frame to readers as any writer that died in it.
 */
TEST(notify__a_writer_that_aborts_a_frame_keeps_readers_waiting_for_it)
{
    const char *name = test_name("abort");
    shmap_seg *seg = published_ones(name);
    struct util_chan c;
    util_chan_open(&c);
    pid_t writer = util_spawn();
    if (writer == 0) {
        shmap_seg *w = NULL;
        void *frame;
        if (shmap_open(&w, name, SHMAP_RDWR) < 0 || shmap_write_begin(w, &frame) < 0)
            _exit(20);
        for (size_t i = 0; i < ONES / 2; i++)
            ((uint32_t *)frame)[i] = 2;
        if (shmap_write_abort(w) < 0)
            _exit(21);
        util_child_send(&c, 'a');
        util_child_recv(&c);
        if (shmap_write_abort(w) != SHMAP_EINVAL)
            _exit(22);
        usleep(100000); /* the reader waits for the frame meanwhile */
        /* Begun again (not refused as a write in progress), whole this time. */
        if (shmap_write_begin(w, &frame) < 0)
            _exit(23);
        for (size_t i = 0; i < ONES; i++)
            ((uint32_t *)frame)[i] = 3;
        if (shmap_publish(w) < 0)
            _exit(24);
        /* Once the reader has frame 1: aborted again, and killed with frame 2
         * half-written. */
        util_child_recv(&c);
        if (shmap_write_begin(w, &frame) < 0)
            _exit(25);
        ((uint32_t *)frame)[0] = 5;
        if (shmap_write_abort(w) < 0)
            _exit(26);
        util_child_send(&c, 'b');
        for (;;)
            pause();
    }
    CHECK_EQ_INT(util_parent_recv(&c), 'a');
    pid_t who = 0;
    CHECK_EQ_INT(shmap_write_state(seg, &who), SHMAP_WRITE_ABORTED);
    CHECK_EQ_INT(who, writer);
    CHECK_EQ_INT(shmap_generation(seg), 1);
    uint32_t frame[ONES];
    uint64_t seen = 1, missed = 99;
    CHECK_ERR(shmap_read_frame(seg, &seen, frame, 0, NULL), -EAGAIN);
    char want[96];
    snprintf(want, sizeof want, "pid %d aborted it and has not written it again", (int)writer);
    CHECK_CONTAINS(shmap_last_error(), want);
    CHECK_ERR(shmap_read_frame(seg, &seen, frame, 0.05, NULL), -ETIMEDOUT);
    CHECK_EQ_INT(seen, 1);
    /* A reader waiting for the frame gets it once written again, whole. */
    util_parent_send(&c, 'g');
    CHECK_OK(shmap_read_frame(seg, &seen, frame, 10.0, &missed));
    CHECK_EQ_INT(seen, 2);
    CHECK_EQ_INT(missed, 0);
    CHECK_EQ_INT(frame[0], 3);
    CHECK_EQ_INT(frame[ONES - 1], 3);
    util_parent_send(&c, 'g');
    CHECK_EQ_INT(util_parent_recv(&c), 'b');
    CHECK_EQ_INT(shmap_write_state(seg, NULL), SHMAP_WRITE_ABORTED);
    util_kill9(writer);
    CHECK_EQ_INT(shmap_write_state(seg, &who), SHMAP_WRITE_ABANDONED);
    CHECK_ERR(shmap_read_frame(seg, &seen, frame, 10.0, NULL), SHMAP_EOWNERDEAD);
    CHECK_CONTAINS(shmap_last_error(), "died while writing frame 2");
    CHECK_EQ_INT(frame[0], 5);
    CHECK_EQ_INT(frame[1], 3);
    util_chan_close(&c);
    CHECK_OK(shmap_close(seg));
}

/*
 * A frame begun and not published is given up with the last reference to the handle's
 * mapping (a writer's error path that closes and opens again): readers wait for it as for
 * an aborted frame, not for a write that will never end, and the process may begin it again
 * through a new handle. Closing one of two references leaves the write in progress.
 */
TEST(notify__the_last_close_of_a_writer_gives_its_frame_up)
{
    const char *name = test_name("closeframe");
    shmap_seg *seg = published_ones(name);
    struct util_chan c;
    util_chan_open(&c);
    pid_t writer = util_spawn();
    if (writer == 0) {
        shmap_seg *w = NULL, *w2 = NULL;
        void *frame;
        shmap_close(seg); /* the parent's handle, inherited: its reference too */
        if (shmap_open(&w, name, SHMAP_RDWR) < 0 || shmap_dup(&w2, w) < 0 ||
            shmap_write_begin(w, &frame) < 0)
            _exit(20);
        for (size_t i = 0; i < ONES / 2; i++)
            ((uint32_t *)frame)[i] = 2;
        shmap_close(w);
        util_child_send(&c, 'd'); /* one reference left: still being written */
        util_child_recv(&c);
        shmap_close(w2);
        util_child_send(&c, 'c'); /* none left: given up */
        util_child_recv(&c);
        if (shmap_open(&w, name, SHMAP_RDWR) < 0 || shmap_write_begin(w, &frame) < 0)
            _exit(21);
        for (size_t i = 0; i < ONES; i++)
            ((uint32_t *)frame)[i] = 3;
        if (shmap_publish(w) < 0)
            _exit(22);
        util_child_send(&c, 'p');
        for (;;)
            pause();
    }
    CHECK_EQ_INT(util_parent_recv(&c), 'd');
    pid_t who = 0;
    CHECK_EQ_INT(shmap_write_state(seg, &who), SHMAP_WRITE_IN_PROGRESS);
    CHECK_EQ_INT(who, writer);
    util_parent_send(&c, 'g');
    CHECK_EQ_INT(util_parent_recv(&c), 'c');
    CHECK_EQ_INT(shmap_write_state(seg, &who), SHMAP_WRITE_ABORTED);
    CHECK_EQ_INT(who, writer);
    uint32_t frame[ONES];
    uint64_t seen = 1, missed = 99;
    CHECK_ERR(shmap_read_frame(seg, &seen, frame, 0, NULL), -EAGAIN);
    CHECK_CONTAINS(shmap_last_error(), "aborted it and has not written it again");
    util_parent_send(&c, 'g');
    CHECK_EQ_INT(util_parent_recv(&c), 'p');
    CHECK_OK(shmap_read_frame(seg, &seen, frame, 0, &missed));
    CHECK_EQ_INT(seen, 2);
    CHECK_EQ_INT(missed, 0);
    CHECK_EQ_INT(HEAD_TAIL(frame), (uint64_t)3 << 32 | 3);
    util_kill9(writer);
    util_chan_close(&c);
    CHECK_OK(shmap_close(seg));
}

/* A ring's reader never copies an aborted frame: it waits for the frame to be written. The
 * frames before it stay whole and readable. */
TEST(notify__a_ring_reader_waits_past_an_aborted_frame)
{
    const char *name = test_name("ringabort");
    enum { N = 64 };
    const uint64_t dims[2] = {4, N};
    shmap_seg *seg = make(name, SHMAP_U32, 2, dims, SHMAP_CREATE_RING);
    void *fp;
    CHECK_OK(shmap_write_begin(seg, &fp));
    memset(fp, 0, N * sizeof(uint32_t));
    CHECK_OK(shmap_publish(seg));
    CHECK_OK(shmap_write_begin(seg, &fp));
    memset(fp, 0xff, sizeof(uint32_t));
    CHECK_OK(shmap_write_abort(seg));
    CHECK_EQ_INT(shmap_write_state(seg, NULL), SHMAP_WRITE_ABORTED);
    uint32_t frame[N];
    uint64_t seen = 0;
    CHECK_OK(shmap_read_frame(seg, &seen, frame, 0, NULL));
    CHECK_EQ_INT(seen, 1);
    CHECK_ERR(shmap_read_frame(seg, &seen, frame, 0, NULL), -EAGAIN);
    CHECK_ERR(shmap_read_frame(seg, &seen, frame, 0.05, NULL), -ETIMEDOUT);
    CHECK_OK(shmap_write_begin(seg, &fp));
    CHECK(fp == (char *)shmap_data(seg) + N * sizeof(uint32_t));
    memset(fp, 0, N * sizeof(uint32_t));
    CHECK_OK(shmap_publish(seg));
    CHECK_OK(shmap_read_frame(seg, &seen, frame, 0, NULL));
    CHECK_EQ_INT(seen, 2);
    CHECK_EQ_INT(frame[0], 0);
    CHECK_OK(shmap_close(seg));
}

TEST(notify__write_abort_refuses_without_a_write_of_its_own)
{
    const char *name = test_name("abortnone");
    const uint64_t dims[1] = {8};
    shmap_seg *seg = make(name, SHMAP_U8, 1, dims, 0);
    shmap_seg *ro = NULL;
    CHECK_OK(shmap_open(&ro, name, SHMAP_RDONLY));
    CHECK_ERR(shmap_write_abort(NULL), SHMAP_EINVAL);
    CHECK_ERR(shmap_write_abort(seg), SHMAP_EINVAL);
    CHECK_CONTAINS(shmap_last_error(), "no frame write in progress in this process");
    CHECK_ERR(shmap_write_abort(ro), SHMAP_EREADONLY);
    CHECK_OK(shmap_write_begin(seg, NULL));
    CHECK_ERR(shmap_write_abort(ro), SHMAP_EREADONLY);
    CHECK_OK(shmap_write_abort(seg));
    CHECK_ERR(shmap_write_abort(seg), SHMAP_EINVAL);
    /* Published: nothing left to abort. */
    CHECK_OK(shmap_write_begin(seg, NULL));
    CHECK_OK(shmap_publish(seg));
    CHECK_ERR(shmap_write_abort(seg), SHMAP_EINVAL);
    CHECK_EQ_INT(shmap_write_state(ro, NULL), SHMAP_WRITE_NONE);
    CHECK_OK(shmap_close(ro));
    CHECK_OK(shmap_close(seg));
}

TEST(notify__raw_mappings_have_no_generation_to_publish_or_wait_for)
{
    const char *name = test_name("raw");
    unsigned char bytes[64] = {0};
    util_shm_write(name, bytes, sizeof bytes);
    const uint64_t dims[1] = {16};
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_open_raw(&seg, name, SHMAP_F32, 1, dims, NULL));
    uint64_t seen = 0;
    float frame[16];
    CHECK_ERR(shmap_publish(seg), SHMAP_ERAW);
    CHECK_ERR(shmap_write_begin(seg, NULL), SHMAP_ERAW);
    CHECK_ERR(shmap_wait(seg, &seen, 0), SHMAP_ERAW);
    CHECK_ERR(shmap_read_frame(seg, &seen, frame, 0, NULL), SHMAP_ERAW);
    CHECK_OK(shmap_close(seg));
    util_shm_remove(name);
}

TEST(notify__a_waiter_on_a_file_segment_is_told_of_shmap_delete_at_once)
{
    const char *dir = util_test_dir(); /* removed by its guard should a CHECK fail */
    char name[128];
    snprintf(name, sizeof name, "file:%s/frames", dir);
    const uint64_t dims[1] = {4};
    shmap_seg *seg = make(name, SHMAP_U8, 1, dims, SHMAP_CREATE_KEEP);
    pid_t kid = waiter_for_removal(name);
    CHECK_OK(shmap_close(seg));
    double t0 = util_now_s();
    CHECK_OK(shmap_delete(name, 10.0, 0));
    CHECK_EQ_INT(test_wait(kid), 0);
    CHECK(util_now_s() - t0 < UTIL_PROMPT_S); /* its wait would time out after 10 s */
    CHECK(rmdir(dir) == 0);
}

TEST(notify__a_waiter_on_a_file_learns_when_another_file_is_renamed_over_it)
{
    const char *dir = util_test_dir(); /* removed by its guard should a CHECK fail */
    char name[128], other[128], path[128];
    snprintf(name, sizeof name, "file:%s/frames", dir);
    snprintf(other, sizeof other, "file:%s/next", dir);
    snprintf(path, sizeof path, "%s/frames", dir);
    const uint64_t dims[1] = {4};
    shmap_seg *seg = make(name, SHMAP_U8, 1, dims, SHMAP_CREATE_KEEP);
    pid_t kid = waiter_for_removal(name);
    shmap_seg *next = make(other, SHMAP_U8, 1, dims, SHMAP_CREATE_KEEP);
    char next_path[128];
    snprintf(next_path, sizeof next_path, "%s/next", dir);
    CHECK(rename(next_path, path) == 0); /* as a tool that knows nothing of shmap would */
    CHECK_EQ_INT(test_wait(kid), 0);
    CHECK_OK(shmap_close(next));
    CHECK_OK(shmap_close(seg));
    CHECK(unlink(path) == 0);
    CHECK(rmdir(dir) == 0);
}

/*
 * A file reached through a symbolic link, or attached through a descriptor, still has its
 * name while the file is there: a wait times out as on any segment. Once the file is
 * removed, both waits say so.
 */
TEST(notify__a_file_through_a_link_or_a_descriptor_keeps_its_name_until_removed)
{
    const char *dir = util_test_dir(); /* removed by its guard should a CHECK fail */
    char name[160], link_name[160], path[128], link_path[128];
    snprintf(path, sizeof path, "%s/frames", dir);
    snprintf(link_path, sizeof link_path, "%s/link", dir);
    snprintf(name, sizeof name, "file:%s", path);
    snprintf(link_name, sizeof link_name, "file:%s", link_path);
    const uint64_t dims[1] = {4};
    shmap_seg *seg = make(name, SHMAP_U8, 1, dims, SHMAP_CREATE_KEEP);
    CHECK(symlink(path, link_path) == 0);
    shmap_seg *by_link = NULL, *by_fd = NULL;
    CHECK_OK(shmap_open(&by_link, link_name, SHMAP_RDONLY));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    CHECK_OK(shmap_open_fd(&by_fd, fd, SHMAP_RDONLY));
    close(fd);
    uint64_t seen = 0;
    CHECK_ERR(shmap_wait(by_link, &seen, 0.05), -ETIMEDOUT);
    CHECK_ERR(shmap_wait(by_fd, &seen, 0.05), -ETIMEDOUT);
    CHECK(unlink(path) == 0); /* as rm(1) would: nobody is woken, the timeout tells */
    CHECK_ERR(shmap_wait(by_link, &seen, 0.05), SHMAP_EREMOVED);
    CHECK_ERR(shmap_wait(by_fd, &seen, 0.05), SHMAP_EREMOVED);
    CHECK_OK(shmap_close(by_fd));
    CHECK_OK(shmap_close(by_link));
    CHECK_OK(shmap_close(seg));
    CHECK(unlink(link_path) == 0);
    CHECK(rmdir(dir) == 0);
}

TEST(notify__a_waiter_on_system_v_learns_of_ipc_rmid_by_another_tool)
{
    char name[64];
    /* From test_sysv_key(), so the runner removes the segment should a CHECK fail. */
    snprintf(name, sizeof name, "sysv://%d", (int)test_sysv_key());
    const uint64_t dims[1] = {4};
    shmap_seg *seg = make(name, SHMAP_U8, 1, dims, SHMAP_CREATE_KEEP);
    char handle[64];
    CHECK_OK(shmap_os_handle(seg, handle, sizeof handle));
    int id = atoi(handle);
    pid_t kid = waiter_for_removal(name);
    CHECK(shmctl(id, IPC_RMID, NULL) == 0); /* as ipcrm would */
    int status = test_wait(kid);
    CHECK_OK(shmap_close(seg));
    CHECK_EQ_INT(status, 0);
}

/* A try with a seen past the generation (one kept from another segment of this name) says
 * what the generation is. */
TEST(notify__a_try_with_seen_past_the_generation_says_what_it_is)
{
    const char *name = test_name("seenpast");
    shmap_seg *seg = published_ones(name);
    uint64_t seen = 1000;
    uint32_t frame[ONES];
    CHECK_ERR(shmap_wait(seg, &seen, 0), -EAGAIN);
    CHECK_CONTAINS(shmap_last_error(), "no generation newer than 1000 (the generation is 1)");
    CHECK_ERR(shmap_read_frame(seg, &seen, frame, 0, NULL), -EAGAIN);
    CHECK_CONTAINS(shmap_last_error(), "(the generation is 1)");
    CHECK_EQ_INT(seen, 1000);
    CHECK_OK(shmap_close(seg));
}

/*
 * A write that takes over the frame of a writer killed in the middle of it publishes the
 * next frame number (the abandoned one counts as lost) in a plain segment, as the header
 * said at open: a process that marks the live header a ring meanwhile does not change how
 * frames are numbered (it did: a ring's frames keep their numbers).
 */
TEST(notify__a_taken_over_frame_is_numbered_as_the_segment_was_opened)
{
    const char *name = test_name("ringflag");
    shmap_seg *seg = left_mid_frame(name);
    struct shmap__header h;
    util_header_read(name, &h);
    h.flags |= SHMAP_SEG_RING;
    util_header_write(name, &h);
    void *frame;
    CHECK_OK(shmap_write_begin(seg, &frame));
    CHECK_OK(shmap_publish(seg));
    CHECK_EQ_INT(shmap_generation(seg), 3); /* frame 2 lost with its writer */
    CHECK_OK(shmap_close(seg));
    util_shm_remove(name);
}
