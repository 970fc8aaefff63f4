/*
 * Frames against writers that never pause, writers in other pid namespaces, writers killed
 * right after a publish, and tries on a segment removed by hand: real processes.
 */
#include <sched.h>
#include <stdbool.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <time.h>

#include "../util.h"
#include "internal.h"

/* The header of a segment this process maps read-write, to do by hand what a writer of
 * another version, or one killed half-way, leaves there. */
static struct shmap__header *header_of(shmap_seg *seg)
{
    shmap_info info;
    CHECK_OK(shmap_info_get(seg, &info));
    return (struct shmap__header *)((char *)shmap_data(seg) - info.data_offset);
}

/* A child that opens `name` read-write and, until killed, begins a frame, stores the
 * frame's number in its first, middle and last bytes when `mark`, sleeps `pause_us` (the
 * timer rounds it up to tens of microseconds), and publishes it; it says 'r' on `c` after
 * its first publish. */
static pid_t spawn_busy_writer(const char *name, struct util_chan *c, bool mark, long pause_us)
{
    pid_t pid = util_spawn();
    if (pid != 0)
        return pid;
    shmap_seg *w = NULL;
    if (shmap_open(&w, name, SHMAP_RDWR) < 0)
        _exit(20);
    size_t size = shmap_frame_size(w);
    for (uint64_t k = 0;; k++) {
        unsigned char *frame;
        if (shmap_write_begin(w, (void **)&frame) < 0)
            _exit(21);
        if (mark)
            frame[0] = frame[size / 2] = frame[size - 1] = (unsigned char)(k & 0xff);
        if (pause_us) {
            struct timespec ts = {0, pause_us * 1000};
            nanosleep(&ts, NULL);
        }
        if (shmap_publish(w) < 0)
            _exit(22);
        if (k == 0)
            util_child_send(c, 'r');
    }
}

/*
 * A writer that publishes during every copy a reader makes of a large plain frame (it
 * publishes every half millisecond and is always in the middle of its next frame) leaves
 * the reader no whole frame: the timeout still ends the call, and a try gives up after a
 * few copies, rather than copying for as long as the writer writes.
 */
TEST(frames__a_timeout_ends_a_read_against_a_writer_that_overwrites_every_copy)
{
    const char *name = test_name("overrun");
    const uint64_t dims[1] = {8u << 20}; /* 32 MiB of f32: a copy takes milliseconds */
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_F32, 1, dims, NULL));
    struct util_chan c;
    util_chan_open(&c);
    pid_t writer = spawn_busy_writer(name, &c, false, 500);
    CHECK_EQ_INT(util_parent_recv(&c), 'r');
    float *dst = malloc(shmap_frame_size(seg));
    CHECK(dst != NULL);
    for (int round = 0; round < 3; round++) {
        uint64_t seen = 0;
        double t0 = util_now_s();
        int rc = shmap_read_frame(seg, &seen, dst, 0.05, NULL);
        double took = util_now_s() - t0;
        /* Whole frames may slip through when the writer is not given a CPU for a while;
         * what must never happen is a call that outlives its timeout by the writer's whole
         * run. A writer not given a CPU in the middle of a frame leaves the reader waiting
         * for its publish when the 50 ms end: then the timeout says that it is writing. */
        CHECK(rc == 0 || rc == -ETIMEDOUT);
        CHECK(took < UTIL_PROMPT_S);
        if (rc == -ETIMEDOUT && !strstr(shmap_last_error(), "overwrote every copy")) {
            char stalled[128];
            snprintf(stalled, sizeof stalled, "no whole frame within the timeout: pid %d is "
                     "writing it", (int)writer);
            CHECK_CONTAINS(shmap_last_error(), stalled);
        }
        seen = 0;
        t0 = util_now_s();
        rc = shmap_read_frame(seg, &seen, dst, 0, NULL);
        CHECK(rc == 0 || rc == -EAGAIN);
        CHECK(util_now_s() - t0 < UTIL_PROMPT_S);
    }
    util_kill9(writer);
    util_chan_close(&c);
    free(dst);
    CHECK_OK(shmap_close(seg));
}

/*
 * A ring reader whose copy of a frame takes longer than the writer takes per frame: a copy
 * of the oldest frame tears every time (the writer's next frame overwrites it), so after
 * one that tore it reads the newest, which the writer overwrites only n - 1 frames later,
 * and gets whole frames (the ones in between counted as missed), rather than none for as
 * long as the writer writes.
 */
TEST(frames__a_lagging_ring_reader_still_gets_whole_frames)
{
    const char *name = test_name("lagring");
    const uint64_t dims[2] = {16, 1u << 20}; /* 16 frames of 1 MiB */
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_RING;
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_U8, 2, dims, &opts));
    struct util_chan c;
    util_chan_open(&c);
    pid_t writer = spawn_busy_writer(name, &c, true, 1);
    CHECK_EQ_INT(util_parent_recv(&c), 'r');
    size_t size = shmap_frame_size(seg);
    unsigned char *dst = malloc(size);
    CHECK(dst != NULL);
    util_sleep_ms(20); /* let the ring fill, so that the oldest frame is one being overwritten */
    uint64_t seen = 0, missed = 0;
    int got = 0;
    double t0 = util_now_s();
    while (got < 20 && util_now_s() - t0 < 1.5) {
        int rc = shmap_read_frame(seg, &seen, dst, 0.5, &missed);
        CHECK(rc == 0 || rc == -ETIMEDOUT);
        if (rc < 0)
            continue;
        /* Whole: the marks are the frame's number. */
        unsigned char want = (unsigned char)((seen - 1) & 0xff);
        CHECK(dst[0] == want && dst[size / 2] == want && dst[size - 1] == want);
        got++;
    }
    util_kill9(writer);
    util_chan_close(&c);
    CHECK(got >= 20);
    free(dst);
    CHECK_OK(shmap_close(seg));
}

/* In a pid namespace of its own: begin a frame, say so, and wait to be killed. */
static void begin_and_wait(const char *name)
{
    shmap_seg *w = NULL;
    void *frame;
    if (shmap_open(&w, name, SHMAP_RDWR) < 0 || shmap_write_begin(w, &frame) < 0)
        _exit(30);
    if (util_ns_ready() < 0)
        _exit(31);
    pause();
}

/*
 * A writer in another pid namespace (a container sharing /dev/shm) cannot be judged from
 * here, its pid naming another process or none: it counts as alive, as lock holders there
 * do, so its frame is waited for, not reported torn by a dead writer.
 */
TEST(frames__a_writer_in_another_pid_namespace_counts_as_alive)
{
    util_need_root();
    const char *name = test_name("nswriter");
    const uint64_t dims[1] = {1024};
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_U32, 1, dims, NULL));
    CHECK_OK(shmap_publish(seg));
    pid_t outer = util_spawn_ready_in_new_pid_namespace(begin_and_wait, name);
    pid_t who = 0;
    CHECK_EQ_INT(shmap_write_state(seg, &who), SHMAP_WRITE_IN_PROGRESS);
    CHECK_EQ_INT(who, 1); /* pid 1 there */
    uint32_t frame[1024];
    uint64_t seen = 1;
    CHECK_ERR(shmap_read_frame(seg, &seen, frame, 0.2, NULL), -ETIMEDOUT);
    CHECK_CONTAINS(shmap_last_error(), "pid 1 is writing it");
    util_kill9(outer); /* the namespace's init goes with it */
    CHECK_OK(shmap_close(seg));
}

/* In a pid namespace of its own: say it began, then write and publish frames for 2 s. */
static void publish_for_a_while(const char *name)
{
    shmap_seg *w = NULL;
    void *frame;
    if (shmap_open(&w, name, SHMAP_RDWR) < 0)
        _exit(30);
    if (util_ns_ready() < 0)
        _exit(31);
    double end = util_now_s() + 2;
    while (util_now_s() < end)
        if (shmap_write_begin(w, &frame) < 0 || shmap_publish(w) < 0)
            _exit(32);
    _exit(shmap_close(w) == 0 ? 0 : 33);
}

/*
 * A live writer in another pid namespace that publishes frame after frame: its write state,
 * asked here, is never "abandoned". It was, once in a hundred or so, when the writer
 * published between the state's look at the sequence and its judgement of the writer, which
 * then no longer counted the writer's namespace and judged its pid here (pid 1: init).
 */
TEST(frames__a_busy_writer_in_another_pid_namespace_is_never_reported_dead)
{
    util_need_root();
    const char *name = test_name("nsbusy");
    const uint64_t dims[1] = {16};
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_U32, 1, dims, NULL));
    pid_t outer = util_spawn_ready_in_new_pid_namespace(publish_for_a_while, name);
    long asked = 0, abandoned = 0, in_progress = 0;
    double end = util_now_s() + 1.5;
    while (util_now_s() < end) {
        int state = shmap_write_state(seg, NULL);
        asked++;
        abandoned += state == SHMAP_WRITE_ABANDONED;
        in_progress += state == SHMAP_WRITE_IN_PROGRESS;
    }
    util_pid_namespace_done(outer);
    if (abandoned)
        test_fail(__FILE__, __LINE__, "%ld of %ld states said abandoned (%ld in progress)",
                  abandoned, asked, in_progress);
    CHECK(in_progress > 0); /* it did look at writes in progress */
    CHECK_OK(shmap_close(seg));
}

/* In a pid namespace of its own, where it is pid 1: begin a frame and exit without
 * publishing it, as a writer killed mid-frame does (0), or report what write_begin says. */
static void begin_and_exit(const char *name)
{
    shmap_seg *w = NULL;
    void *frame;
    if (shmap_open(&w, name, SHMAP_RDWR) < 0)
        _exit(40);
    int rc = shmap_write_begin(w, &frame);
    _exit(rc == 0 ? 0 : rc == -EALREADY ? 41 : 42);
}

/*
 * A writer that died mid-frame and the writer that replaces it, with the same pid (two
 * containers' pid 1, or a pid reused): the new one takes the write over instead of being
 * told that a write is already in progress in its own process.
 */
TEST(frames__a_restarted_writer_with_the_dead_ones_pid_takes_over)
{
    const char *name = test_name("pidreuse");
    const uint64_t dims[1] = {64};
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_U32, 1, dims, NULL));
    util_in_new_pid_namespace(begin_and_exit, name);
    /* From here, a writer in another pid namespace cannot be judged: it counts as alive. */
    pid_t who = 0;
    CHECK_EQ_INT(shmap_write_state(seg, &who), SHMAP_WRITE_IN_PROGRESS);
    CHECK_EQ_INT(who, 1);
    util_in_new_pid_namespace(begin_and_exit, name);
    CHECK_OK(shmap_close(seg));
}

/*
 * A writer killed after its publish made the frame's generation count but before it marked
 * the write ended leaves a whole frame: readers get it as whole, the state says no write is
 * in progress, and the next frame the restarted writer publishes reaches them (no frame
 * that was never written is handed out in its place).
 */
TEST(frames__a_writer_killed_inside_its_publish_left_a_whole_frame)
{
    const char *name = test_name("pubkill");
    enum { N = 256 };
    const uint64_t dims[1] = {N};
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_U32, 1, dims, NULL));
    pid_t writer = util_spawn();
    if (writer == 0) {
        shmap_seg *w = NULL;
        uint32_t *frame;
        if (shmap_open(&w, name, SHMAP_RDWR) < 0 || shmap_write_begin(w, (void **)&frame) < 0)
            _exit(20);
        for (int i = 0; i < N; i++)
            frame[i] = 5;
        /* The publish's first step alone (FORMAT.md: the generation, then the sequence),
         * then the end a SIGKILL would bring. */
        struct shmap__header *h = header_of(w);
        __atomic_add_fetch(&h->generation, 1, __ATOMIC_SEQ_CST);
        _exit(0);
    }
    CHECK_EQ_INT(test_wait(writer), 0);
    CHECK_EQ_INT(shmap_generation(seg), 1);
    CHECK_EQ_INT(shmap_write_state(seg, NULL), SHMAP_WRITE_NONE);
    uint32_t frame[N];
    uint64_t seen = 0;
    CHECK_OK(shmap_read_frame(seg, &seen, frame, 1.0, NULL));
    CHECK_EQ_INT(seen, 1);
    CHECK(frame[0] == 5 && frame[N - 1] == 5);
    /* Nothing more until the restarted writer's frame, which comes whole. */
    CHECK_ERR(shmap_read_frame(seg, &seen, frame, 0, NULL), -EAGAIN);
    void *fp;
    CHECK_OK(shmap_write_begin(seg, &fp));
    for (int i = 0; i < N; i++)
        ((uint32_t *)fp)[i] = 6;
    CHECK_OK(shmap_publish(seg));
    CHECK_OK(shmap_read_frame(seg, &seen, frame, 1.0, NULL));
    CHECK_EQ_INT(seen, 2);
    CHECK(frame[0] == 6 && frame[N - 1] == 6);
    CHECK_OK(shmap_close(seg));
}

/*
 * A reader that polls with tries (timeout 0), as an event loop does, is told once the
 * segment's name is gone by another tool's hand (rm /dev/shm/NAME, a creator's destroy at
 * close), within about one wait slice, as a waiting reader is.
 */
TEST(frames__tries_learn_that_the_segment_was_removed_by_hand)
{
    const char *name = test_name("tryrm");
    const uint64_t dims[1] = {16};
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_U32, 1, dims, NULL));
    shmap_seg *r = NULL;
    CHECK_OK(shmap_open(&r, name, SHMAP_RDONLY));
    uint64_t seen = shmap_generation(r);
    CHECK_ERR(shmap_wait(r, &seen, 0), -EAGAIN);
    util_shm_remove(name);
    int rc = -EAGAIN;
    uint32_t frame[16];
    double t0 = util_now_s();
    while (rc == -EAGAIN && util_now_s() - t0 < UTIL_PROMPT_S) {
        util_sleep_ms(5);
        rc = shmap_wait(r, &seen, 0);
    }
    CHECK_ERR(rc, SHMAP_EREMOVED);
    CHECK_ERR(shmap_read_frame(r, &seen, frame, 0, NULL), SHMAP_EREMOVED);
    CHECK_OK(shmap_close(r));
    CHECK_OK(shmap_close(seg));
}

/*
 * A writer of a version before 0.4.2 begins a frame the way it always did (pid, start time,
 * an odd sequence) and records neither the frame nor the sequence it writes: the frame a
 * newer writer recorded earlier is another write's and must not make its write count as
 * finished. Readers wait for it, or are told a live writer is in the middle of it, as
 * before; they never take its half-written frame for a whole one.
 */
TEST(frames__an_older_versions_write_in_progress_is_not_taken_for_a_finished_one)
{
    const char *name = test_name("oldwriter");
    enum { N = 256 };
    const uint64_t dims[1] = {N};
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_U32, 1, dims, NULL));
    void *fp;
    CHECK_OK(shmap_write_begin(seg, &fp)); /* this version's frame 0: recorded */
    memset(fp, 0, N * 4);
    CHECK_OK(shmap_publish(seg));
    pid_t writer = util_spawn();
    if (writer == 0)
        for (;;)
            pause();
    /* The older writer's begin, done here on its behalf: it is alive, mid-frame. */
    struct shmap__header *h = header_of(seg);
    uint32_t seq = __atomic_load_n(&h->write_seq, __ATOMIC_RELAXED);
    h->writer_pid = writer;
    h->writer_start = shmap__proc_start(writer);
    __atomic_store_n(&h->write_seq, (seq | 1) + ((seq & 1) ? 2 : 0), __ATOMIC_RELEASE);
    uint32_t *data = shmap_data(seg);
    for (int i = 0; i < N / 2; i++)
        data[i] = 2; /* half of frame 1 */
    pid_t who = 0;
    CHECK_EQ_INT(shmap_write_state(seg, &who), SHMAP_WRITE_IN_PROGRESS);
    CHECK_EQ_INT(who, writer);
    uint32_t frame[N];
    uint64_t seen = 0; /* frame 0, which the older writer is overwriting */
    CHECK_ERR(shmap_read_frame(seg, &seen, frame, 0, NULL), -EAGAIN);
    CHECK_EQ_INT(seen, 0);
    util_kill9(writer);
    CHECK_OK(shmap_close(seg));
}

/*
 * The same older writer after a writer in another pid namespace: the namespace that one
 * recorded stays in the header, and the older writer's write was taken for one in another
 * namespace, which cannot be judged from here. Killed in the middle of its frame, it was
 * reported writing for ever, and its frame never abandoned. The namespace now counts only
 * with the write it was recorded for.
 */
TEST(frames__an_older_writer_that_died_is_not_hidden_by_another_writers_namespace)
{
    const char *name = test_name("oldns");
    const uint64_t dims[1] = {16};
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_U32, 1, dims, NULL));
    void *fp;
    CHECK_OK(shmap_write_begin(seg, &fp));
    CHECK_OK(shmap_publish(seg));
    struct shmap__header *h = header_of(seg);
    h->writer_pidns = shmap__self_pidns() + 1; /* as a writer elsewhere left it */
    pid_t writer = util_spawn();
    if (writer == 0)
        for (;;)
            pause();
    uint32_t seq = __atomic_load_n(&h->write_seq, __ATOMIC_RELAXED);
    h->writer_pid = writer;
    h->writer_start = shmap__proc_start(writer);
    __atomic_store_n(&h->write_seq, (seq | 1) + ((seq & 1) ? 2 : 0), __ATOMIC_RELEASE);
    pid_t who = 0;
    CHECK_EQ_INT(shmap_write_state(seg, &who), SHMAP_WRITE_IN_PROGRESS);
    util_kill9(writer);
    CHECK_EQ_INT(shmap_write_state(seg, &who), SHMAP_WRITE_ABANDONED);
    CHECK_EQ_INT(who, writer);
    CHECK_OK(shmap_close(seg));
}
