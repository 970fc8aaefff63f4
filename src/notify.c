/*
 * Change notification: the generation counter, publishing, waiting, and reading frames
 * that are never torn.
 *
 * Design note. Waiters sleep with FUTEX_WAIT on the low 32 bits of the 64-bit generation,
 * expecting the value they read; shmap_publish() bumps the generation and always issues
 * FUTEX_WAKE. Waking always (rather than only when a waiter registered) is what lets
 * read-only mappings wait: they cannot write a waiter count. It costs a system call per
 * publish, as a bare futex ping-pong does. Waits run in slices of WATCH_NS; after a slice
 * ends without news, the waiter checks that the segment still has its name, so a waiter is
 * never left for ever on a segment that was deleted or replaced. A deletion through the
 * library also sets `removed` and wakes everyone at once.
 *
 * Consistent reads are a seqlock on `write_seq`, odd while a write is in progress, with
 * the generation telling which frame is being written: frame g goes to ring index g % N,
 * and the writer of frame g starts only once g frames are published. A reader that copied
 * frame f (ring index f % N) got it whole unless a write of frame f + N or later began
 * before its copy ended. After the copy it reads `write_seq` (acquire) and then the
 * generation g: the newest frame touched is g if a write is in progress, else g - 1; if
 * that is f + N or more, the copy may be torn and is retried. The writer publishes by
 * bumping the generation before it makes `write_seq` even, so a reader can only err
 * towards a retry, never towards a torn frame. A write is in progress while `write_seq` is
 * odd, unless the generation has passed `writer_frame`, the frame it began (plus 1), which
 * counts only with `writer_seq` equal to the sequence (see writing()): a writer killed
 * between the two stores of its publish leaves a whole frame. A retry copies
 * the newest whole frame, which the writer overwrites only N - 1 frames later, and ends at
 * the deadline as a wait does: a writer faster than a reader's copy would otherwise keep
 * it copying for as long as it writes.
 *
 * A writer that gives up its frame (shmap_write_abort()) leaves the sequence odd and records
 * it in `writer_aborted`: to readers the frame is still being written, by a writer that
 * lives (they wait for it, and are told the copy may be torn only if that writer dies), and
 * the writer's next write_begin() takes the write over rather than being refused, so the
 * frame readers get is the one written again, whole.
 *
 * A plain segment's reader is given a frame torn when its writer died in the middle of it,
 * and counts it had. The write that takes such a frame over therefore writes the next frame
 * number, the abandoned one counting as lost (abandoned_here()): otherwise its publish would
 * bring that reader nothing new, and it would stay on the torn copy until the frame after.
 * The number is recorded as every write's is (`writer_frame`, the generation its publish
 * brings), so the frame is the next one for such a reader, waited for and, should this writer
 * die too, given torn in turn (a reader still on the lost frame is given this one, the lost
 * one counted missed). A write that takes over a frame a live writer gave up keeps the
 * number recorded, and the publish sets the generation with a compare-and-swap, so that two
 * writers publishing at once do not both move it on past a lost frame.
 *
 * Private (copy-on-write) handles read and wait on the object's header through a shared
 * read-only mapping of its page (shmap__live(), made at open: segment.c), never on their own
 * copy, which stops following the object once anything writes to it, a futex wait included.
 * What they publish or begin to write goes to their own copy and tells nobody, themselves
 * included: their generation is the object's.
 */
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* How often a waiter checks that its segment still has its name. */
#define WATCH_NS 50000000LL
/* How long a reader gives a writer whose frame it needs before checking it is alive. */
#define WRITER_CHECK_NS 10000000LL

/* The futex word: the low half of the generation, wherever the byte order puts it. */
static uint32_t *gen_word(struct shmap__header *h)
{
    const uint16_t one = 1;
    return (uint32_t *)&h->generation + (*(const unsigned char *)&one == 1 ? 0 : 1);
}

uint64_t shmap_generation(const shmap_seg *seg)
{
    return seg ? __atomic_load_n(&shmap__live(seg)->generation, __ATOMIC_ACQUIRE) : 0;
}

uint64_t shmap_ring_length(const shmap_seg *seg)
{
    if (!seg)
        return 0;
    const struct shmap__header *h = shmap__fixed(seg);
    return (h->flags & SHMAP_SEG_RING) ? h->dims[0] : 1;
}

size_t shmap_frame_size(const shmap_seg *seg)
{
    return seg ? (size_t)(shmap__fixed(seg)->data_size / shmap_ring_length(seg)) : 0;
}

static int need_writable(const shmap_seg *seg, const char *what)
{
    if (!seg)
        return shmap__err(SHMAP_EINVAL, "%s: NULL segment", what);
    if (seg->map->raw)
        return shmap__raw_refuse(seg, what);
    if (!seg->map->writable)
        return shmap__err(SHMAP_EREADONLY, "%s: cannot %s through a read-only handle",
                          seg->map->name.name, what);
    return 0;
}

/*
 * Is a frame being written, by the sequence `seq` and the generation `g` as read? An odd
 * sequence says so, unless the frame that write began has been published since: its writer
 * died between the generation's increment and the sequence's, and what it left is whole.
 * The frame counts only when `writer_seq` shows it was recorded by the write that made the
 * sequence `seq` (read after `seq`, with acquire: that write's stores are seen, or a later
 * write's, which differ): a writer of a version before 0.4.2 records none, and leaves the
 * last one recorded, which is another write's.
 */
static bool writing(const struct shmap__header *h, uint32_t seq, uint64_t g)
{
    if (!(seq & 1))
        return false;
    uint32_t wseq = __atomic_load_n(&h->writer_seq, __ATOMIC_ACQUIRE);
    uint64_t frame = __atomic_load_n(&h->writer_frame, __ATOMIC_RELAXED);
    return wseq != seq || !frame || g < frame;
}

/* Did its writer abort the write in progress that made the sequence `seq`? */
static bool aborted(const struct shmap__header *h, uint32_t seq)
{
    return __atomic_load_n(&h->writer_aborted, __ATOMIC_ACQUIRE) == seq;
}

/* The pid of the write recorded in the header (of the last one begun). */
static pid_t writer_pid_of(const struct shmap__header *h)
{
    return (pid_t)__atomic_load_n(&h->writer_pid, __ATOMIC_RELAXED);
}

/* Does the write recorded in the header belong to this process (not to a dead one whose
 * pid we were given again, nor to one in another pid namespace)? */
static bool writer_is_me(const struct shmap__header *h)
{
    uint64_t start = __atomic_load_n(&h->writer_start, __ATOMIC_RELAXED);
    uint32_t ns = __atomic_load_n(&h->writer_pidns, __ATOMIC_RELAXED);
    return writer_pid_of(h) == shmap__getpid() &&
           (!start || start == shmap__self_start()) && (!ns || ns == shmap__self_pidns());
}

/*
 * The generation that publishing the write in progress (the sequence `seq`, found writing
 * at generation `g`) brings: the frame it writes, plus 1, as it recorded it; g + 1 when it
 * recorded none (a writer of a version before 0.4.2).
 */
static uint64_t target_of(const struct shmap__header *h, uint32_t seq, uint64_t g)
{
    uint32_t wseq = __atomic_load_n(&h->writer_seq, __ATOMIC_ACQUIRE);
    uint64_t frame = __atomic_load_n(&h->writer_frame, __ATOMIC_RELAXED);
    return wseq == seq && frame > g ? frame : g + 1;
}

static bool writer_gone(const struct shmap__header *h, uint32_t seq);

/* Does the writer of the write that made the sequence `seq` (odd, as the caller found it)
 * run in another pid namespace than ours (both known)? Its namespace counts only when it was
 * recorded with that write (writer_seq is `seq`, read on both sides of it): a writer of a
 * version before 0.4.2 records none, and leaves the last one's, which would keep its own
 * death from ever being seen. A write published since keeps its record until the next
 * begins, so a live writer that publishes meanwhile is still judged by its namespace. */
static bool writer_elsewhere(const struct shmap__header *h, uint32_t seq)
{
    if (__atomic_load_n(&h->writer_seq, __ATOMIC_ACQUIRE) != seq)
        return false;
    uint32_t ns = __atomic_load_n(&h->writer_pidns, __ATOMIC_ACQUIRE);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return ns && shmap__self_pidns() && ns != shmap__self_pidns() &&
           __atomic_load_n(&h->writer_seq, __ATOMIC_RELAXED) == seq;
}

/*
 * Is the write in progress in a plain segment one that its writer, another process, died in
 * the middle of? Readers may have been given its frame torn (shmap_read_frame()), so the
 * write that takes it over publishes the next frame number, the abandoned one counting as
 * lost: published under the same number, it would be nothing new to a reader that had it
 * torn, which would stay on the torn copy until the frame after. A writer in another pid
 * namespace, which cannot be judged from here, may have been judged dead by readers in its
 * own: it counts as dead here, the worst of it a frame counted lost that was not. A ring's
 * readers wait for a frame being written whatever became of its writer, so they never have
 * one torn: its frames keep their numbers. Checking the writer reads /proc, only when a
 * write was left in progress by another process.
 */
static bool abandoned_here(const shmap_seg *seg, uint32_t seq, uint64_t g)
{
    const struct shmap__header *h = shmap__hdr(seg);
    bool ring = shmap__fixed(seg)->flags & SHMAP_SEG_RING; /* as checked at open */
    return !ring && writing(h, seq, g) && !writer_is_me(h) &&
           (writer_elsewhere(h, seq) || writer_gone(h, seq));
}

int shmap_write_begin(shmap_seg *seg, void **frame)
{
    int rc = need_writable(seg, "write");
    if (rc < 0)
        return rc;
    struct shmap__header *h = shmap__hdr(seg);
    uint32_t seq = __atomic_load_n(&h->write_seq, __ATOMIC_RELAXED);
    uint64_t g = __atomic_load_n(&h->generation, __ATOMIC_RELAXED);
    if (writing(h, seq, g) && writer_is_me(h) && !aborted(h, seq))
        return shmap__err(-EALREADY, "%s: a write is already in progress in this process",
                          seg->map->name.name);
    /* The frame the write in progress records (one a live writer aborted, or that this
     * write takes over from a dead one, and then the next), judged before this write's
     * identity replaces its writer's. */
    uint64_t publishes_as = !writing(h, seq, g)         ? g + 1
                            : abandoned_here(seg, seq, g) ? target_of(h, seq, g) + 1
                                                          : target_of(h, seq, g);
    /* Its last close gives the write up should it not be published (shmap__write_give_up()). */
    __atomic_store_n(&seg->map->write_begun, true, __ATOMIC_RELAXED);
    /* A mark left by an aborted write never matches a later one's sequence (0 is even). */
    __atomic_store_n(&h->writer_aborted, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&h->writer_pid, shmap__getpid(), __ATOMIC_RELAXED);
    __atomic_store_n(&h->writer_start, shmap__self_start(), __ATOMIC_RELAXED);
    __atomic_store_n(&h->writer_pidns, shmap__self_pidns(), __ATOMIC_RELAXED);
    __atomic_store_n(&h->writer_frame, publishes_as, __ATOMIC_RELAXED);
    uint32_t odd = (seq | 1) + ((seq & 1) ? 2 : 0);
    __atomic_store_n(&h->writer_seq, odd, __ATOMIC_RELEASE);
    /* Odd (a write left open by a dead writer is simply taken over), after the writer's
     * identity (release: a reader that sees the write in progress sees who makes it). The
     * fence orders this store before the frame's data stores, as a seqlock writer must. */
    __atomic_store_n(&h->write_seq, odd, __ATOMIC_RELEASE);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (frame) {
        g = __atomic_load_n(&h->generation, __ATOMIC_RELAXED);
        *frame = (char *)shmap_data(seg) + (g % shmap_ring_length(seg)) * shmap_frame_size(seg);
    }
    return 0;
}

int shmap_write_abort(shmap_seg *seg)
{
    int rc = need_writable(seg, "abort a write");
    if (rc < 0)
        return rc;
    struct shmap__header *h = shmap__hdr(seg);
    uint32_t seq = __atomic_load_n(&h->write_seq, __ATOMIC_ACQUIRE);
    if (!writing(h, seq, __atomic_load_n(&h->generation, __ATOMIC_RELAXED)) ||
        !writer_is_me(h) || aborted(h, seq))
        return shmap__err(SHMAP_EINVAL, "%s: no frame write in progress in this process to "
                                        "abort", seg->map->name.name);
    /* The sequence stays odd: the frame is half-written, and readers wait for it to be
     * written again (see the design note). */
    __atomic_store_n(&h->writer_aborted, seq, __ATOMIC_RELEASE);
    return 0;
}

void shmap__write_give_up(struct shmap__map *m)
{
    /* A private mapping's writes reach nobody; a read-only one cannot have begun one. Nor
     * is the header looked at unless a write was begun here: reading it would fault its page
     * in, a cost a close that removes a segment just made avoids. */
    if (m->raw || !m->writable || m->priv || !__atomic_load_n(&m->write_begun, __ATOMIC_RELAXED))
        return;
    struct shmap__header *h = m->base;
    uint32_t seq = __atomic_load_n(&h->write_seq, __ATOMIC_ACQUIRE);
    if ((seq & 1) && writing(h, seq, __atomic_load_n(&h->generation, __ATOMIC_RELAXED)) &&
        writer_is_me(h) && !aborted(h, seq))
        __atomic_store_n(&h->writer_aborted, seq, __ATOMIC_RELEASE);
}

int shmap_publish(shmap_seg *seg)
{
    int rc = need_writable(seg, "publish");
    if (rc < 0)
        return rc;
    struct shmap__header *h = shmap__hdr(seg);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    __atomic_store_n(&h->last_publish_ns, (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec,
                     __ATOMIC_RELAXED);
    /*
     * The generation first, then the sequence: see the design note. It moves to what the
     * write in progress recorded (two on, or more, for one that took over a frame whose
     * writer died: abandoned_here()); one past that for a publish that ends such a frame
     * without having begun a write.
     */
    uint32_t seq = __atomic_load_n(&h->write_seq, __ATOMIC_RELAXED);
    uint64_t g = __atomic_load_n(&h->generation, __ATOMIC_RELAXED), to;
    /* A swap, not an add: two writers publishing at once (neither holding the lock) do not
     * both move it two on. */
    do {
        to = g + 1;
        if (seq & 1)
            to = target_of(h, seq, g) + (abandoned_here(seg, seq, g) ? 1 : 0);
    } while (!__atomic_compare_exchange_n(&h->generation, &g, to, false, __ATOMIC_SEQ_CST,
                                          __ATOMIC_RELAXED));
    seq = __atomic_load_n(&h->write_seq, __ATOMIC_RELAXED);
    if (seq & 1)
        __atomic_store_n(&h->write_seq, seq + 1, __ATOMIC_RELEASE);
    shmap__wake_all(gen_word(h));
    return 0;
}

void shmap__notify_removed(struct shmap__header *h)
{
    __atomic_store_n(&h->removed, 1, __ATOMIC_SEQ_CST);
    shmap__wake_all(gen_word(h));
}

static int removed_err(const shmap_seg *seg)
{
    return shmap__err(SHMAP_EREMOVED, "%s: the segment was deleted or replaced while waiting",
                      seg->map->name.name);
}

/* A deadline from a timeout in seconds: -1 for none, 0 for "only check". */
static int deadline_of(const shmap_seg *seg, double timeout_s, int64_t *deadline)
{
    if (isnan(timeout_s))
        return shmap__err(SHMAP_EINVAL, "%s: timeout is not a number", seg->map->name.name);
    if (timeout_s < 0 || isinf(timeout_s))
        *deadline = -1;
    else if (timeout_s == 0)
        *deadline = 0;
    else
        *deadline = shmap__mono_ns() + (int64_t)((timeout_s < 1e9 ? timeout_s : 1e9) * 1e9);
    return 0;
}

/*
 * What a sleep's end means: with a wait check set, its verdict (a signal included: the
 * check is how a binding learns of it); without one, -EINTR for a signal, else go on.
 */
static int after_sleep(const shmap_seg *seg, struct shmap__check check, int rc)
{
    if (!check.fn)
        return rc == -EINTR ? shmap__err(-EINTR, "%s: wait interrupted by a signal",
                                         seg->map->name.name)
                            : 0;
    rc = shmap__wait_check_ask(check);
    return rc < 0 ? shmap__err(rc, "%s: wait stopped by the wait check", seg->map->name.name)
                  : 0;
}

/*
 * For a wait or a try that finds nothing new: does the segment still have its name? Asked
 * at most once per slice and mapping, so that a loop of tries or of short sleeps costs no
 * system call each (the answer between two looks is yes), and at least that often however
 * the calls end: a signal may end each, and the caller make a new one. A deletion through
 * the library is seen at once, by `removed`.
 */
static bool try_named(const shmap_seg *seg)
{
    struct shmap__map *m = seg->map;
    int64_t now = shmap__mono_ns();
    int64_t last = __atomic_load_n(&m->named_checked_ns, __ATOMIC_RELAXED);
    if (last && now - last < WATCH_NS)
        return true;
    bool named = shmap__map_named(m);
    /* A name found gone is asked again by the next try: it does not come back. */
    __atomic_store_n(&m->named_checked_ns, named ? now : 0, __ATOMIC_RELAXED);
    return named;
}

/*
 * A frame is being rewritten and a reader waits for it: is a look at its writer due? One
 * WRITER_CHECK_NS after the last look through this mapping (the first gives the writer
 * that moment), kept across calls, which a signal may end each time.
 */
static bool writer_check_due(const shmap_seg *seg, int64_t now)
{
    struct shmap__map *m = seg->map;
    int64_t last = __atomic_load_n(&m->writer_checked_ns, __ATOMIC_RELAXED);
    if (last && now - last < WRITER_CHECK_NS)
        return false;
    __atomic_store_n(&m->writer_checked_ns, now, __ATOMIC_RELAXED);
    return last != 0;
}

/* Sleep until the generation is no longer `g`, the deadline passes or the name goes; `seen`,
 * the caller's, is for what a try says. */
static int wait_past(const shmap_seg *seg, uint64_t g, uint64_t seen, int64_t deadline)
{
    struct shmap__header *h = shmap__live(seg);
    if (__atomic_load_n(&h->removed, __ATOMIC_ACQUIRE))
        return removed_err(seg);
    if (deadline == 0) {
        if (!try_named(seg))
            return removed_err(seg);
        /* A seen past the generation (it may pass it by the frames lost to dead writers) is
         * said: one far past it belongs to another segment that had this name. */
        if (seen > g)
            return shmap__err(-EAGAIN, "%s: no generation newer than %llu (the generation is "
                                       "%llu)", seg->map->name.name, (unsigned long long)seen,
                              (unsigned long long)g);
        return shmap__err(-EAGAIN, "%s: no generation newer than %llu", seg->map->name.name,
                          (unsigned long long)g);
    }
    /* The name is looked at every WATCH_NS, however the sleeps end: signals may cut every
     * one short, and a caller retries after -EINTR with a new call (try_named() keeps the
     * rhythm in the mapping). The sleep ends when the next look is due. */
    if (!try_named(seg))
        return removed_err(seg);
    int64_t now = shmap__mono_ns(), slice = WATCH_NS;
    int64_t due = __atomic_load_n(&seg->map->named_checked_ns, __ATOMIC_RELAXED) + WATCH_NS - now;
    if (due < slice)
        slice = due > 0 ? due : 1;
    if (deadline > 0) {
        int64_t left = deadline - now;
        if (left <= 0)
            return shmap__err(-ETIMEDOUT, "%s: no update within the timeout",
                              seg->map->name.name);
        if (left < slice)
            slice = left;
    }
    /*
     * Before sleeping, let a writer that shares this CPU run once: if it publishes now, no
     * sleep and wake-up is needed at all (when it is elsewhere, this costs one yield).
     */
    sched_yield();
    if (__atomic_load_n(&h->generation, __ATOMIC_ACQUIRE) != g)
        return 0;
    struct shmap__check check = shmap__wait_check_get();
    int rc = shmap__futex_wait(gen_word(h), (uint32_t)g, slice);
    if (rc == -ETIMEDOUT && !try_named(seg))
        return removed_err(seg);
    return after_sleep(seg, check, rc);
}

int shmap_wait(shmap_seg *seg, uint64_t *seen, double timeout_s)
{
    if (!seg || !seen)
        return shmap__err(SHMAP_EINVAL, "shmap_wait: NULL argument");
    if (seg->map->raw)
        return shmap__raw_refuse(seg, "wait");
    int64_t deadline;
    int rc = deadline_of(seg, timeout_s, &deadline);
    while (rc == 0) {
        uint64_t g = __atomic_load_n(&shmap__live(seg)->generation, __ATOMIC_ACQUIRE);
        if (g > *seen) {
            *seen = g;
            return 0;
        }
        rc = wait_past(seg, g, *seen, deadline);
    }
    return rc;
}

/* How many copies a try makes before it says that every one was overwritten. */
#define TRY_COPIES 4

/*
 * After the `tears`-th copy that tore while the writer moved on: 0 to copy again, or the end
 * of the call: the deadline passed (a try: its copies are spent), or the wait check (a
 * signal, for a binding) says stop.
 */
static int after_tear(const shmap_seg *seg, unsigned tears, int64_t deadline)
{
    if ((deadline == 0 && tears >= TRY_COPIES) ||
        (deadline > 0 && shmap__mono_ns() >= deadline))
        return shmap__err(deadline == 0 ? -EAGAIN : -ETIMEDOUT,
                          "%s: no whole frame within the timeout: the writer overwrote "
                          "every copy while it was made (%u copies)",
                          seg->map->name.name, tears);
    struct shmap__check check = shmap__wait_check_get();
    return check.fn ? after_sleep(seg, check, 0) : 0;
}

/* Is the writer of the write in progress gone? One in another pid namespace (a container
 * sharing the segment) cannot be judged from here, its pid meaning nothing to us: it counts
 * as alive, as lock holders there do. */
static bool writer_gone(const struct shmap__header *h, uint32_t seq)
{
    if (writer_elsewhere(h, seq))
        return false;
    return !shmap__proc_alive(writer_pid_of(h),
                              __atomic_load_n(&h->writer_start, __ATOMIC_RELAXED));
}

int shmap_write_state(const shmap_seg *seg, pid_t *writer)
{
    if (writer)
        *writer = 0;
    if (!seg)
        return shmap__err(SHMAP_EINVAL, "shmap_write_state: NULL segment");
    if (seg->map->raw)
        return shmap__raw_refuse(seg, "write_state");
    const struct shmap__header *h = shmap__live(seg);
    for (int round = 0;; round++) {
        uint64_t g = __atomic_load_n(&h->generation, __ATOMIC_ACQUIRE);
        uint32_t seq = __atomic_load_n(&h->write_seq, __ATOMIC_ACQUIRE);
        if (!writing(h, seq, g))
            return SHMAP_WRITE_NONE;
        /* Read after the sequence: the pid of the write it marks, or of one begun since. */
        pid_t pid = writer_pid_of(h);
        if (writer)
            *writer = pid;
        if (!writer_gone(h, seq))
            return aborted(h, seq) ? SHMAP_WRITE_ABORTED : SHMAP_WRITE_IN_PROGRESS;
        /* Judged gone: unless the write went on meanwhile (published, or another begun,
         * whose writer the judgement may have met half-recorded): then look again. */
        if (__atomic_load_n(&h->write_seq, __ATOMIC_ACQUIRE) == seq &&
            __atomic_load_n(&h->generation, __ATOMIC_ACQUIRE) == g)
            return SHMAP_WRITE_ABANDONED;
        if (round == 100)
            return SHMAP_WRITE_IN_PROGRESS; /* writes that keep going have a writer */
    }
}

int shmap_read_frame(shmap_seg *seg, uint64_t *seen, void *dst, double timeout_s,
                     uint64_t *missed)
{
    if (!seg || !seen || !dst)
        return shmap__err(SHMAP_EINVAL, "shmap_read_frame: NULL argument");
    if (seg->map->raw)
        return shmap__raw_refuse(seg, "read_frame");
    struct shmap__header *h = shmap__live(seg);
    const uint64_t n = shmap_ring_length(seg);
    const size_t size = shmap_frame_size(seg);
    const char *data = shmap_data(seg);
    int64_t deadline;
    unsigned tears = 0;
    int rc = deadline_of(seg, timeout_s, &deadline);
    while (rc == 0) {
        uint64_t g = __atomic_load_n(&h->generation, __ATOMIC_ACQUIRE);
        uint32_t seq = __atomic_load_n(&h->write_seq, __ATOMIC_ACQUIRE);
        bool busy0 = writing(h, seq, g);
        /*
         * The next frame of a plain segment, begun and not yet published, for a reader that
         * has had every frame before it (frame 0 for one that has had none): it goes the
         * way of a frame being rewritten below (waited for, or given torn if its writer
         * died), not to a wait for a publish that a dead writer never makes. There is
         * nothing whole to copy meanwhile. A write that took over from a dead writer writes
         * a later frame than g (abandoned_here()): a reader given the abandoned one torn
         * waits for it as for the next.
         */
        bool next = n == 1 && busy0 && *seen >= g && *seen < target_of(h, seq, g);
        if (g <= *seen && !next) {
            rc = wait_past(seg, g, *seen, deadline);
            continue;
        }
        /*
         * The oldest frame after *seen that the ring still holds whole: while frame g is
         * being written, the frame g - n it overwrites is gone already. After a copy that
         * tore, the newest whole frame instead: the oldest is the next one the writer
         * overwrites, so a reader that lags would tear on it again and again, where the
         * newest leaves it the time of n - 1 frames (those skipped count as missed).
         */
        uint64_t oldest = g >= n ? g - n + (busy0 && n > 1 ? 1 : 0) : 0;
        if (tears && g >= 1 && g - 1 > oldest)
            oldest = g - 1;
        uint64_t f = *seen > oldest ? *seen : oldest;
        bool busy = busy0;
        uint64_t g2 = g;
        if (!next) {
            memcpy(dst, data + (f % n) * size, size);
            __atomic_thread_fence(__ATOMIC_ACQUIRE);
            seq = __atomic_load_n(&h->write_seq, __ATOMIC_ACQUIRE);
            g2 = __atomic_load_n(&h->generation, __ATOMIC_ACQUIRE);
            busy = writing(h, seq, g2);
            uint64_t newest_touched = busy ? g2 : g2 - 1;
            if (newest_touched < f + n) {
                if (missed)
                    *missed = f - *seen;
                *seen = f + 1;
                return 0;
            }
        }
        /* Torn. If the ring has moved on, the next round picks a later frame, within the
         * timeout (a try makes a few copies) and heeding the wait check, as a sleep would. */
        if (!busy || n > 1 || g2 != g) {
            rc = after_tear(seg, ++tears, deadline);
            continue;
        }
        /*
         * A plain segment whose only frame is being rewritten: wait for the publish, which
         * wakes us. A writer that died mid-write will never publish: say so once it has had
         * a moment and is found gone, or at once when the call is about to give up (a try,
         * or a timeout shorter than that moment), so that every timeout gives the same
         * answer about a dead writer and a try is not told to come back for a frame that
         * will never come.
         */
        if (__atomic_load_n(&h->removed, __ATOMIC_ACQUIRE))
            return removed_err(seg);
        int64_t now = shmap__mono_ns();
        /* As in wait_past(): a deletion by another tool leaves no flag, only the name gone. */
        if (!try_named(seg))
            return removed_err(seg);
        bool giving_up = deadline == 0 || (deadline > 0 && now > deadline);
        if ((giving_up || writer_check_due(seg, now)) && writer_gone(h, seq)) {
            /* A writer that published and exited while we judged it left a whole frame:
             * the next round reads it. */
            if (__atomic_load_n(&h->write_seq, __ATOMIC_ACQUIRE) != seq ||
                __atomic_load_n(&h->generation, __ATOMIC_ACQUIRE) != g2)
                continue;
            /* Its writer gone, the slot stays as it was left, copied now: the frame asked
             * for, torn (the one the dead writer overwrote for a reader behind, then, on the
             * next call, the one it was writing). A frame never published that the write
             * took over from a writer that died before it counts as lost, not had: the copy
             * is the frame being written. */
            uint64_t writes = target_of(h, seq, g2) - 1;
            if (f >= g2 && f < writes)
                f = writes;
            memcpy(dst, data, size);
            if (missed)
                *missed = f - *seen;
            *seen = f + 1;
            if (f < writes)
                return shmap__err(SHMAP_EOWNERDEAD, "%s: the writer (pid %d) died while "
                                                    "writing frame %llu over frame %llu: the "
                                                    "copy of frame %llu may be torn",
                                  seg->map->name.name, (int)writer_pid_of(h),
                                  (unsigned long long)writes, (unsigned long long)f,
                                  (unsigned long long)f);
            return shmap__err(SHMAP_EOWNERDEAD, "%s: the writer (pid %d) died while writing "
                                                "frame %llu: the copy may be torn",
                              seg->map->name.name, (int)writer_pid_of(h),
                              (unsigned long long)writes);
        }
        if (giving_up)
            return shmap__err(deadline == 0 ? -EAGAIN : -ETIMEDOUT,
                              "%s: no whole frame within the timeout: pid %d %s",
                              seg->map->name.name, (int)writer_pid_of(h),
                              aborted(h, seq) ? "aborted it and has not written it again"
                                              : "is writing it");
        /* No longer than the timeout leaves: the end of it gets its own look at the writer. */
        int64_t slice = WRITER_CHECK_NS;
        if (deadline > 0 && deadline - now < slice)
            slice = deadline - now + 1;
        struct shmap__check check = shmap__wait_check_get();
        rc = after_sleep(seg, check, shmap__futex_wait(gen_word(h), (uint32_t)g2, slice));
    }
    return rc;
}
