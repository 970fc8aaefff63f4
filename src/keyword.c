/*
 * Keywords: typed FITS-like cards kept in slots after the data.
 *
 * Design note. Writers serialise on `kw_lock` (the writer's pid, taken with a CAS; a
 * holder that died is detected with kill(pid, 0) and its hold taken over) and bracket each
 * change with `kw_seq`, odd while a change is in progress. Readers never write: they copy
 * what they need and retry if `kw_seq` was odd or moved, so a read-only mapping (a reader
 * without write permission) still reads consistently. Changes are rare and small, so the
 * retry loop is cheap; the lock issue's general locks will not be needed here.
 *
 * The same snapshot serves a mapping and the listing, which reads segments through their
 * store without mapping them (list.c): a `struct shmap__kwsource` says how to read the two
 * words and the slots. What a snapshot holds is then sorted and decoded by the same two
 * functions for shmap_keyword_list() and shmap_list(), so a damaged slot is skipped alike.
 *
 * A private (copy-on-write) mapping reads the keywords other processes change, under the
 * object's words (shmap__kw_words(): its own copy of the header page may have stopped
 * following the object), until it changes one itself. Its first change makes the whole
 * keyword area its own: a consistent snapshot is written over its copy of the slots, and
 * its own copy of the words starts afresh; from then on it reads and writes that copy, under
 * its own words, and no other process's change reaches it (own_keywords()). Until then, a
 * private write of data in the page the data shares with the first slots also freezes
 * those slots as they were: that is copy-on-write, and the slots stay whole or are skipped.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static struct shmap__kwslot *slots_of(const shmap_seg *seg)
{
    return (struct shmap__kwslot *)((char *)seg->map->base + shmap__fixed(seg)->kw_offset);
}

/* Slots in the keyword area, as checked at open. */
static unsigned capacity_of(const shmap_seg *seg)
{
    return shmap__fixed(seg)->kw_capacity;
}

/* Slots come from shared memory: anything but a well-formed keyword is skipped. */
bool shmap__kwslot_valid(const struct shmap__kwslot *slot)
{
    if (slot->type < SHMAP_KW_INT || slot->type > SHMAP_KW_BOOL)
        return false;
    if (!memchr(slot->name, '\0', sizeof slot->name) || !slot->name[0])
        return false;
    for (const char *c = slot->name; *c; c++)
        if (!isupper((unsigned char)*c) && !isdigit((unsigned char)*c) && *c != '_' && *c != '-')
            return false;
    return memchr(slot->s, '\0', sizeof slot->s) && memchr(slot->comment, '\0',
                                                           sizeof slot->comment);
}

unsigned shmap__keyword_count(const struct shmap__kwslot *slots, unsigned cap)
{
    unsigned n = 0;
    for (unsigned i = 0; i < cap; i++)
        n += shmap__kwslot_valid(&slots[i]);
    return n;
}

/* How long a writer that has not yet recorded who it is (kw_lock_start still 0) is left
 * unjudged: see writer_dead(). */
#define UNKNOWN_WAIT_NS 100000000LL

/*
 * Has the keyword writer `pid`, described by `who`, died, so that nobody will finish its
 * change? By its start time, so that a pid reused by another process is not taken for it. A
 * zombie is dead either way. A writer in another pid namespace than ours cannot be judged
 * from here, where its pid names another process or none: it counts as alive, as a lock
 * holder there does (lock.c), and processes in its namespace judge it.
 *
 * A writer records who it is after it takes the lock (kw_holder_set()): until its start time
 * is there, its namespace is known only from an attach slot of its pid (shmap__kw_holder_of()),
 * and judged by its pid here it could be taken for dead while it lives elsewhere. So a holder
 * seen without a start time, and not found elsewhere so, is left alone for
 * UNKNOWN_WAIT_NS (a live one records it within instructions), and judged by its pid alone
 * only if it stays so: one that died before recording it, or a writer of 0.4.0, which never
 * does. `j` keeps, across one caller's looks, since when `pid` was seen so.
 */
struct judge {
    uint32_t pid;
    int64_t unknown_since; /* 0: not seen without a start time */
};

static bool writer_dead(struct judge *j, uint32_t pid, const struct shmap__kwholder *who)
{
    if (pid == 0)
        return false;
    if (j->pid != pid) {
        j->pid = pid;
        j->unknown_since = 0;
    }
    if (who->pidns) /* set only for another namespace than ours */
        return false;
    if (!who->start) {
        int64_t now = shmap__mono_ns();
        if (!j->unknown_since)
            j->unknown_since = now;
        if (now - j->unknown_since < UNKNOWN_WAIT_NS)
            return false;
    } else {
        j->unknown_since = 0;
    }
    return !shmap__proc_alive((pid_t)pid, who->start);
}

/*
 * The keyword writer `pid` of `h`: its start time, and its pid namespace. A writer of this
 * version records both when it takes the lock, the namespace tagged with its pid before the
 * start time; a tag of another pid is another holder's (one of an older version leaves the
 * last one's in place). The three are read, then the tag and the start time again: a holder
 * that let go and another that took the lock meanwhile would mix two holds, and the holder
 * is then reported as not recorded yet (start 0), which writer_dead() leaves alone for a
 * while. Without a tag of its pid (a writer of 0.4.1 to 0.4.12, which records its start
 * time only, or one that has not recorded itself yet), its namespace is looked for in the
 * attach table, where a read-write open put its pid, start time and namespace: a slot of
 * that pid in another namespace, with its start time or one unknown, is taken for it. A
 * child that writes through a handle it inherited has no slot of its own.
 */
void shmap__kw_holder_of(const struct shmap__header *h, uint32_t pid,
                         struct shmap__kwholder *out)
{
    out->start = __atomic_load_n(&h->kw_lock_start, __ATOMIC_ACQUIRE);
    out->pidns = 0;
    uint32_t mine = shmap__self_pidns();
    if (!pid || !mine)
        return;
    uint32_t tag = __atomic_load_n(&h->kw_lock_pidns_pid, __ATOMIC_ACQUIRE);
    if (out->start && tag == pid) {
        uint32_t ns = __atomic_load_n(&h->kw_lock_pidns, __ATOMIC_ACQUIRE);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&h->kw_lock_pidns_pid, __ATOMIC_RELAXED) != pid ||
            __atomic_load_n(&h->kw_lock_start, __ATOMIC_RELAXED) != out->start) {
            out->start = 0; /* two holds mixed: not known yet */
            return;
        }
        out->pidns = ns != mine ? ns : 0;
        return;
    }
    const struct shmap__lockarea *a =
        (const struct shmap__lockarea *)((const char *)h + SHMAP__LOCK_OFFSET);
    uint32_t n = __atomic_load_n(&a->nslots, __ATOMIC_ACQUIRE);
    for (uint32_t i = 0; i < n && i < SHMAP__LOCK_SLOTS; i++) {
        const struct shmap__lockslot *s = &a->slots[i];
        if ((uint32_t)__atomic_load_n(&s->pid, __ATOMIC_ACQUIRE) != pid)
            continue;
        uint32_t ns = __atomic_load_n(&s->pidns, __ATOMIC_RELAXED);
        uint64_t start = __atomic_load_n(&s->start, __ATOMIC_RELAXED);
        if (ns && ns != mine && (!out->start || !start || start == out->start)) {
            out->pidns = ns;
            return;
        }
    }
}

/* Does `h` still describe its keyword writer `pid` as `was`? */
static bool holder_is(const struct shmap__header *h, uint32_t pid,
                      const struct shmap__kwholder *was)
{
    struct shmap__kwholder now;
    shmap__kw_holder_of(h, pid, &now);
    return now.start == was->start && now.pidns == was->pidns;
}

/* What a message adds about a writer `w` in another pid namespace, which only processes
 * there can judge: else "". */
static const char *elsewhere(const struct shmap__kwholder *w)
{
    return w->pidns ? " in another pid namespace (only its processes can tell whether it is "
                      "gone, and take over its change if so)"
                    : "";
}

/* Record this process as the keyword writer that holds `h`'s lock (just taken): its pid
 * namespace, tagged with its pid, then its start time, which judges read first. */
static void kw_holder_set(struct shmap__header *h, uint32_t me, uint64_t my_start)
{
    __atomic_store_n(&h->kw_lock_pidns, shmap__self_pidns(), __ATOMIC_RELAXED);
    __atomic_store_n(&h->kw_lock_pidns_pid, me, __ATOMIC_RELEASE);
    __atomic_store_n(&h->kw_lock_start, my_start, __ATOMIC_RELEASE);
}

/* How long a reader, or another writer, waits for a live writer to finish a keyword change,
 * and how often a writer waiting for the lock judges whether its holder is alive. */
#define CHANGE_WAIT_NS 1000000000LL
#define JUDGE_EVERY_NS 10000000LL

/* How long a writer waits for its turn while others change keywords without a pause. */
#define TURN_WAIT_NS 5000000000LL

/* How long a count waits for a keyword change in progress by a live writer. */
#define COUNT_WAIT_NS 100000000LL

/*
 * As a snapshot copies the slots, but in place and with a short wait, as shmap_mappings()
 * counts under the registry lock: a change takes microseconds, so only a stopped writer
 * makes the count wait its 100 ms, after which (or at once if the writer died) the count
 * is taken as the slots read, off at most by the keyword being changed.
 */
unsigned shmap__keyword_count_live(const struct shmap__header *h,
                                   const struct shmap__kwslot *slots, unsigned cap)
{
    int64_t give_up = 0;
    struct judge j = {0, 0};
    for (int tries = 0; tries < 100; tries++) {
        uint32_t seq = __atomic_load_n(&h->kw_seq, __ATOMIC_ACQUIRE);
        for (int spins = 0; seq & 1; spins++) {
            if (spins >= 1000) {
                uint32_t holder = __atomic_load_n(&h->kw_lock, __ATOMIC_RELAXED);
                struct shmap__kwholder who;
                shmap__kw_holder_of(h, holder, &who);
                int64_t now = shmap__mono_ns();
                if (!give_up)
                    give_up = now + COUNT_WAIT_NS;
                if (holder == 0 || now > give_up || writer_dead(&j, holder, &who))
                    return shmap__keyword_count(slots, cap);
                sched_yield();
            }
            seq = __atomic_load_n(&h->kw_seq, __ATOMIC_ACQUIRE);
        }
        unsigned n = shmap__keyword_count(slots, cap);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&h->kw_seq, __ATOMIC_RELAXED) == seq)
            return n;
    }
    return shmap__keyword_count(slots, cap);
}

int shmap__keyword_snapshot(const struct shmap__kwsource *src, unsigned cap,
                            struct shmap__kwslot *copy, const char *who)
{
    /*
     * After the first hundred looks, when the first look that took no whole copy was made
     * (`since`), and when the sequence was first seen as it is now (`still`): a live writer
     * gets a second to finish a change, and its changes a second to leave room for a whole
     * copy. A busy writer is no stuck one: every change it makes starts `still` again.
     */
    int64_t since = 0, still = 0;
    uint32_t still_seq = 0;
    struct judge j = {0, 0};
    for (int spins = 0;; spins++) {
        uint32_t holder, seq, again;
        int rc = src->words(src->ctx, &holder, &seq);
        if (rc < 0)
            return rc;
        /*
         * A change in progress (odd sequence) is waited for, unless nobody holds the
         * writer lock or its holder died: then nobody will finish it, and a reader (who
         * may not be able to write) takes the slots as they are; each is validated before
         * use, and the next writer repairs the sequence.
         */
        struct shmap__kwholder writer = {0, 0};
        if ((seq & 1) && spins > 100 && holder != 0)
            src->holder(src->ctx, holder, &writer);
        bool waits =
            (seq & 1) && !(spins > 100 && (holder == 0 || writer_dead(&j, holder, &writer)));
        if (!waits) {
            if ((rc = src->slots(src->ctx, copy, cap)) < 0)
                return rc;
            __atomic_thread_fence(__ATOMIC_ACQUIRE);
            if ((rc = src->words(src->ctx, &holder, &again)) < 0)
                return rc;
            if (again == seq)
                return 0;
        }
        if (spins > 100) {
            int64_t now = shmap__mono_ns();
            bool moved = !since || seq != still_seq;
            if (moved) {
                still = now;
                still_seq = seq;
                since = since ? since : now;
            } else if (now - still > CHANGE_WAIT_NS) {
                return shmap__err(-EBUSY, "%s: keywords are being changed by pid %u%s, "
                                          "which has not finished in %lld ms", who, holder,
                                  elsewhere(&writer), CHANGE_WAIT_NS / 1000000);
            }
            /* A change that stands still now is left to the check above: the writer may
             * have stopped in it, and is then named as stuck within a second. */
            if (now - since > CHANGE_WAIT_NS && (moved || !(seq & 1))) {
                char by[32] = "";
                if (holder)
                    snprintf(by, sizeof by, " (pid %u changes them)", holder);
                return shmap__err(-EBUSY, "%s: keywords change faster than they can be read: "
                                          "they changed during every copy for %lld ms%s", who,
                                  CHANGE_WAIT_NS / 1000000, by);
            }
        }
        if (waits)
            sched_yield();
    }
}

/* A mapping's words and slots, read in place. */
struct map_source {
    const struct shmap__header *h;
    const struct shmap__kwslot *slots;
};

static int map_words(void *ctx, uint32_t *lock, uint32_t *seq)
{
    const struct map_source *m = ctx;
    *seq = __atomic_load_n(&m->h->kw_seq, __ATOMIC_ACQUIRE);
    *lock = __atomic_load_n(&m->h->kw_lock, __ATOMIC_RELAXED);
    return 0;
}

static void map_holder(void *ctx, uint32_t pid, struct shmap__kwholder *out)
{
    const struct map_source *m = ctx;
    shmap__kw_holder_of(m->h, pid, out);
}

static int map_slots(void *ctx, struct shmap__kwslot *copy, unsigned cap)
{
    const struct map_source *m = ctx;
    memcpy(copy, m->slots, (size_t)cap * sizeof *copy);
    return 0;
}

/* Check a name and make its upper-case form, NUL-padded: all of it goes into the segment. */
static int check_name(const char *name, char *upper, const char *who)
{
    memset(upper, 0, SHMAP_KEYWORD_NAME_MAX);
    if (!name)
        return shmap__err(SHMAP_EINVAL, "%s: NULL keyword name", who);
    size_t len = strlen(name);
    if (len == 0 || len >= SHMAP_KEYWORD_NAME_MAX)
        return shmap__err(SHMAP_EKEYWORD, "%s: keyword name '%s' must be 1 to %d characters", who,
                          name, SHMAP_KEYWORD_NAME_MAX - 1);
    for (size_t i = 0; i <= len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c && !isalnum(c) && c != '_' && c != '-')
            return shmap__err(SHMAP_EKEYWORD, "%s: keyword name '%s' may hold only letters, "
                                              "digits, '_' and '-'", who, name);
        upper[i] = (char)toupper(c);
    }
    return 0;
}

/* The length of the UTF-8 sequence that starts at @p s, of @p left bytes (1 to 4), or 0
 * if none does (a byte that continues one, or a lead without its continuation). */
static size_t utf8_seq(const unsigned char *s, size_t left)
{
    size_t n = s[0] < 0x80 ? 1 : s[0] >= 0xc2 && s[0] <= 0xdf ? 2 : (s[0] & 0xf0) == 0xe0 ? 3
               : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : 0;
    if (n == 0 || n > left)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

/*
 * The length of the control character at @p s, of @p left bytes, or 0: a C0 character,
 * DEL, or a C1 character, U+0080 to U+009F (UTF-8 C2 80 to C2 9F, or one such byte alone,
 * not part of a UTF-8 sequence), which some terminals obey as the start of an escape
 * sequence when `shmap info` prints the keyword.
 */
static size_t control_at(const unsigned char *s, size_t left)
{
    if (s[0] < 0x20 || s[0] == 0x7f)
        return 1;
    if (s[0] == 0xc2 && left > 1 && s[1] >= 0x80 && s[1] <= 0x9f)
        return 2;
    return s[0] >= 0x80 && s[0] <= 0x9f && !utf8_seq(s, left) ? 1 : 0;
}

/* The next step of a walk over @p s: past the control character, the UTF-8 sequence, or
 * the byte that is neither (Latin-1 text, say, which is kept as it is). */
static size_t step_at(const unsigned char *s, size_t left, size_t *control)
{
    size_t seq;
    if ((*control = control_at(s, left)) != 0)
        return *control;
    return (seq = utf8_seq(s, left)) != 0 ? seq : 1;
}

/*
 * Is text of at most `max` bytes, its NUL included, printable: short enough, and with no
 * control character? 0, or -1 with why not in `why` (`size` bytes), for a message that says
 * whether its length or a character is at fault.
 */
static int printable(const char *s, size_t max, char *why, size_t size)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t len = strnlen(s, max), control, step;
    for (size_t i = 0; i < len; i += step) {
        step = step_at(u + i, len - i, &control);
        if (control == 0)
            continue;
        if (control == 2)
            snprintf(why, size, "control character U+%04X at byte %zu", u[i + 1], i);
        else if (u[i] >= 0x80)
            snprintf(why, size, "byte 0x%02x at byte %zu, in no UTF-8 character: a C1 control",
                     u[i], i);
        else
            snprintf(why, size, "control character 0x%02x at byte %zu", u[i], i);
        return -1;
    }
    if (len == max) {
        snprintf(why, size, "longer than %zu bytes", max - 1);
        return -1;
    }
    return 0;
}

/*
 * Take the keyword writer lock: kw_lock from 0 to our pid by CAS, then our start time in
 * kw_lock_start, which goes back to 0 before the lock does, so that a judge reading both
 * sees the holder's start time or 0, never another's with this pid. A holder found dead
 * (by pid and start time: see writer_dead()) has its hold taken over. A live one that has
 * not let go within a second (stopped, or stuck) is reported with -EBUSY rather than
 * waited for without end, as is a wait of 5 s for a turn while holders come and go; the
 * wait sleeps after its first hundred looks, and judges the holder at most every 10 ms
 * (each judgement reads /proc).
 */
static int kw_lock(struct shmap__header *h, const char *who)
{
    uint32_t me = (uint32_t)shmap__getpid();
    uint64_t my_start = shmap__self_start();
    /* As for a snapshot: since the first wait, and since the holder and the sequence were
     * as they are now. A holder that changes keywords is no stuck one. */
    int64_t since = 0, t0 = 0, judged = 0;
    uint32_t t0_holder = 0, t0_seq = 0;
    struct judge j = {0, 0};
    for (int spins = 0;; spins++) {
        uint32_t expected = 0;
        if (__atomic_compare_exchange_n(&h->kw_lock, &expected, me, false, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED)) {
            kw_holder_set(h, me, my_start);
            return 0;
        }
        if (spins < 100) {
            sched_yield();
            continue;
        }
        int64_t now = shmap__mono_ns();
        uint32_t seq = __atomic_load_n(&h->kw_seq, __ATOMIC_RELAXED);
        if (!t0 || expected != t0_holder || seq != t0_seq) {
            t0 = now;
            t0_holder = expected;
            t0_seq = seq;
            since = since ? since : now;
        }
        struct shmap__kwholder writer;
        shmap__kw_holder_of(h, expected, &writer);
        /* Another thread of this process holds it (our pid, our start, our namespace): it
         * will let go. */
        bool ours = expected == me && (writer.start == 0 || writer.start == my_start) &&
                    !writer.pidns;
        if (!ours && now - judged >= JUDGE_EVERY_NS) {
            judged = now;
            /* Judged on /proc, which takes a while: the holder is looked at again just
             * before the takeover, which a hold begun meanwhile makes wait. */
            if (writer_dead(&j, expected, &writer) && holder_is(h, expected, &writer)) {
                if (__atomic_compare_exchange_n(&h->kw_lock, &expected, me, false,
                                                __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
                    kw_holder_set(h, me, my_start);
                    /* It may have died mid-change: make the sequence even again. */
                    seq = __atomic_load_n(&h->kw_seq, __ATOMIC_RELAXED);
                    if (seq & 1)
                        __atomic_store_n(&h->kw_seq, seq + 1, __ATOMIC_RELEASE);
                    return 0;
                }
                continue; /* someone else took it over first: look again */
            }
        }
        if (now - t0 > CHANGE_WAIT_NS)
            return shmap__err(-EBUSY, "%s: keywords are being changed by pid %u%s, which has "
                                      "not finished in %lld ms", who, expected,
                              elsewhere(&writer), CHANGE_WAIT_NS / 1000000);
        if (now - since > TURN_WAIT_NS)
            return shmap__err(-EBUSY, "%s: keywords were changed by others without a pause for "
                                      "%lld ms (pid %u last): no turn to change them", who,
                              TURN_WAIT_NS / 1000000, expected);
        struct timespec pause = {0, 1000000};
        nanosleep(&pause, NULL);
    }
}

static void kw_unlock(struct shmap__header *h)
{
    __atomic_store_n(&h->kw_lock_start, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&h->kw_lock_pidns_pid, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&h->kw_lock, 0, __ATOMIC_RELEASE);
}

static void begin_change(struct shmap__header *h)
{
    __atomic_add_fetch(&h->kw_seq, 1, __ATOMIC_ACQ_REL);
}

static void end_change(struct shmap__header *h)
{
    __atomic_add_fetch(&h->kw_seq, 1, __ATOMIC_RELEASE);
}

static struct shmap__kwslot *snapshot_of(const shmap_seg *seg, int *rc);

/* Serialises the first keyword changes of private mappings (own_keywords()), and the
 * reads of their keywords until then (snapshot()); held across
 * fork() with the library's other mutexes (process.c), so a child never finds it taken by a
 * thread it does not have. */
static pthread_mutex_t own_mutex = PTHREAD_MUTEX_INITIALIZER;

void shmap__kw_own_hold(bool hold)
{
    if (hold)
        pthread_mutex_lock(&own_mutex);
    else
        pthread_mutex_unlock(&own_mutex);
}

/*
 * Before a private mapping's first keyword change: make its keyword area its own (see the
 * note above). Every byte of the area is written, so whatever the copy-on-write faults
 * copied meanwhile is replaced by the snapshot, which is whole. Readers of the mapping's
 * keywords wait meanwhile (snapshot()).
 */
static int own_keywords(const shmap_seg *seg)
{
    struct shmap__map *m = seg->map;
    if (!m->priv || __atomic_load_n(&m->kw_own, __ATOMIC_ACQUIRE))
        return 0;
    pthread_mutex_lock(&own_mutex);
    int rc = 0;
    if (!__atomic_load_n(&m->kw_own, __ATOMIC_RELAXED)) {
        struct shmap__kwslot *copy = snapshot_of(seg, &rc);
        if (copy) {
            struct shmap__header *own = m->base;
            /* Counts (shmap__kw_count_of()) look again if they overlapped this. */
            __atomic_add_fetch(&m->kw_own_seq, 1, __ATOMIC_ACQ_REL);
            memcpy(slots_of(seg), copy, (size_t)capacity_of(seg) * sizeof *copy);
            free(copy);
            /* After the snapshot: at least the order of every keyword it holds. */
            own->kw_order = __atomic_load_n(&m->live->kw_order, __ATOMIC_ACQUIRE);
            own->kw_lock_start = 0;
            own->kw_lock_pidns_pid = 0;
            own->kw_lock = 0;
            own->kw_seq = 0;
            __atomic_store_n(&m->kw_own, true, __ATOMIC_RELEASE);
            __atomic_add_fetch(&m->kw_own_seq, 1, __ATOMIC_RELEASE);
        }
    }
    pthread_mutex_unlock(&own_mutex);
    return rc;
}

/*
 * The count of a mapping's keywords. A private mapping's slots are written over while its
 * keywords are made its own (own_keywords()), outside the change sequence a count checks:
 * it looks again when it overlapped that, which kw_own_seq tells. It does not wait for
 * own_mutex, held through the switch's snapshot (up to a second, against a busy writer) and
 * by other handles' reads: shmap_mappings() counts under the registry lock, which opens and
 * closes need. During the copy itself (kw_own_seq odd), which is short, it sleeps in steps
 * of 20 us rather than yield, so that the copying thread runs even when this one has the
 * higher priority.
 */
unsigned shmap__kw_count_of(const struct shmap__map *m)
{
    const struct shmap__header *h = shmap__fixed_of(m);
    const struct shmap__kwslot *slots =
        (const struct shmap__kwslot *)((const char *)m->base + h->kw_offset);
    for (;;) {
        uint32_t own = __atomic_load_n(&m->kw_own_seq, __ATOMIC_ACQUIRE);
        if (own & 1) {
            struct timespec pause = {0, 20000}; /* asleep: the copier runs, whatever runs us */
            nanosleep(&pause, NULL);
            continue;
        }
        unsigned n = shmap__keyword_count_live(shmap__kw_words(m), slots, h->kw_capacity);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&m->kw_own_seq, __ATOMIC_RELAXED) == own)
            return n;
    }
}

static int writable_or_err(const shmap_seg *seg)
{
    if (!seg)
        return shmap__err(SHMAP_EINVAL, "keyword: NULL segment");
    if (seg->map->raw)
        return shmap__raw_refuse(seg, "keywords");
    if (!seg->map->writable)
        return shmap__err(SHMAP_EREADONLY, "%s: cannot change keywords through a read-only "
                                           "handle", seg->map->name.name);
    return 0;
}

/* Check a keyword as shmap_keyword_set() takes it; its name upper-cased into `upper`. */
static int keyword_check(const shmap_keyword *kw, char *upper, const char *who)
{
    int rc;
    char why[96];
    if (!kw)
        return shmap__err(SHMAP_EINVAL, "%s: NULL keyword", who);
    if ((rc = check_name(kw->name, upper, who)) < 0)
        return rc;
    switch (kw->type) {
    case SHMAP_KW_INT:
    case SHMAP_KW_FLOAT:
        break;
    case SHMAP_KW_BOOL:
        if (kw->i != 0 && kw->i != 1)
            return shmap__err(SHMAP_EKEYWORD, "%s: keyword %s: bool value must be 0 or 1", who,
                              upper);
        break;
    case SHMAP_KW_STRING:
        if (printable(kw->s, SHMAP_KEYWORD_STRING_MAX, why, sizeof why) < 0)
            return shmap__err(SHMAP_EKEYWORD, "%s: keyword %s: string value must be at most %d "
                                              "printable characters (%s)", who, upper,
                              SHMAP_KEYWORD_STRING_MAX - 1, why);
        break;
    default:
        return shmap__err(SHMAP_EKEYWORD, "%s: keyword %s: unknown value type %d", who, upper,
                          (int)kw->type);
    }
    if (printable(kw->comment, SHMAP_KEYWORD_COMMENT_MAX, why, sizeof why) < 0)
        return shmap__err(SHMAP_EKEYWORD, "%s: keyword %s: comment must be at most %d printable "
                                          "characters (%s)", who, upper,
                          SHMAP_KEYWORD_COMMENT_MAX - 1, why);
    return 0;
}

/* A checked keyword's value and comment into its slot (name and order are the slot's). */
static void slot_write(struct shmap__kwslot *slot, const shmap_keyword *kw)
{
    slot->i = kw->type == SHMAP_KW_INT || kw->type == SHMAP_KW_BOOL ? kw->i : 0;
    slot->f = kw->type == SHMAP_KW_FLOAT ? kw->f : 0;
    memset(slot->s, 0, sizeof slot->s);
    if (kw->type == SHMAP_KW_STRING)
        snprintf(slot->s, sizeof slot->s, "%s", kw->s);
    memset(slot->comment, 0, sizeof slot->comment);
    snprintf(slot->comment, sizeof slot->comment, "%s", kw->comment);
    slot->type = (uint32_t)kw->type;
}

struct ranked {
    uint32_t order;
    uint32_t slot;
};

static int by_rank(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    return x->order < y->order ? -1 : x->order > y->order;
}

/*
 * The order number of a keyword new to the segment (keywords list in the order they were
 * first set). kw_order only grows, by one for each new keyword, deleted ones included: a
 * writer that sets and deletes a keyword per frame would wrap it (2^32) within weeks, or
 * an hour flat out, and new keywords would then list first. Before that, the keywords in
 * use are numbered again from 0, in their order. Inside a change (begin_change()), with
 * the keyword lock held; the slot being filled is still empty (type 0).
 */
static uint32_t next_order(struct shmap__header *h, struct shmap__kwslot *slots, unsigned cap)
{
    if (h->kw_order > UINT32_MAX - SHMAP__KW_MAX_CAPACITY) {
        struct ranked *r = malloc((cap ? cap : 1) * sizeof *r);
        unsigned n = 0;
        for (unsigned i = 0; r && i < cap; i++)
            if (slots[i].type != 0)
                r[n++] = (struct ranked){slots[i].order, i};
        if (r) { /* (without memory, tried again at the next new keyword) */
            qsort(r, n, sizeof *r, by_rank);
            for (unsigned k = 0; k < n; k++)
                slots[r[k].slot].order = k;
            h->kw_order = n;
        }
        free(r);
    }
    return h->kw_order++;
}

/* The slot named `upper` among `n`, or the first empty one in `*empty` (may stay NULL). */
static struct shmap__kwslot *slot_find(struct shmap__kwslot *slots, unsigned n,
                                       const char *upper, struct shmap__kwslot **empty)
{
    for (unsigned i = 0; i < n; i++) {
        if (!shmap__kwslot_valid(&slots[i])) {
            if (!*empty)
                *empty = &slots[i];
        } else if (strncmp(slots[i].name, upper, sizeof slots[i].name) == 0) {
            return &slots[i];
        }
    }
    return NULL;
}

int shmap__keyword_prefill(const shmap_keyword *kws, unsigned n, unsigned cap,
                           struct shmap__kwslot *slots, const char *who)
{
    unsigned used = 0;
    memset(slots, 0, (size_t)(n < cap ? n : cap) * sizeof *slots);
    for (unsigned k = 0; k < n; k++) {
        char upper[SHMAP_KEYWORD_NAME_MAX];
        int rc = keyword_check(&kws[k], upper, who);
        if (rc < 0)
            return rc;
        struct shmap__kwslot *empty = NULL, *slot = slot_find(slots, used, upper, &empty);
        if (!slot) {
            if (used == cap)
                return shmap__err(SHMAP_EKEYFULL, "%s: %u keyword slots cannot hold the "
                                                  "keywords given (%s is one too many)",
                                  who, cap, upper);
            slot = &slots[used];
            memcpy(slot->name, upper, sizeof slot->name);
            slot->order = used++;
        }
        slot_write(slot, &kws[k]);
    }
    return (int)used;
}

int shmap_keyword_set(shmap_seg *seg, const shmap_keyword *kw)
{
    int rc = writable_or_err(seg);
    if (rc < 0)
        return rc;
    const char *who = seg->map->name.name;
    char upper[SHMAP_KEYWORD_NAME_MAX];
    if ((rc = keyword_check(kw, upper, who)) < 0 || (rc = own_keywords(seg)) < 0)
        return rc;
    struct shmap__header *h = shmap__hdr(seg);
    struct shmap__kwslot *slots = slots_of(seg);
    if ((rc = kw_lock(h, who)) < 0)
        return rc;
    const unsigned cap = capacity_of(seg);
    struct shmap__kwslot *empty = NULL, *slot = slot_find(slots, cap, upper, &empty);
    if (!slot && !empty) {
        kw_unlock(h);
        return shmap__err(SHMAP_EKEYFULL, "%s: every keyword slot is in use (%u in all)", who,
                          cap);
    }
    begin_change(h);
    if (!slot) {
        slot = empty;
        memset(slot, 0, sizeof *slot);
        memcpy(slot->name, upper, sizeof slot->name);
        slot->order = next_order(h, slots, cap);
    }
    slot_write(slot, kw);
    end_change(h);
    kw_unlock(h);
    return 0;
}

static void slot_to_keyword(const struct shmap__kwslot *slot, shmap_keyword *out)
{
    memset(out, 0, sizeof *out);
    memcpy(out->name, slot->name, sizeof out->name);
    out->name[sizeof out->name - 1] = '\0';
    out->type = (shmap_kw_type)slot->type;
    out->i = slot->i;
    out->f = slot->f;
    memcpy(out->s, slot->s, sizeof out->s);
    out->s[sizeof out->s - 1] = '\0';
    memcpy(out->comment, slot->comment, sizeof slot->comment);
    out->comment[sizeof slot->comment - 1] = '\0';
}

/*
 * A consistent copy of all slots; NULL on failure (detail set, code in *rc). A private
 * mapping whose keywords are not yet its own is copied under own_mutex: own_keywords()
 * makes them its own under it, and a copy begun before that, checked against the object's
 * words, would meanwhile see the mapping's own writes, which those words do not count.
 */
static struct shmap__kwslot *snapshot(const shmap_seg *seg, int *rc)
{
    const struct shmap__map *m = seg->map;
    if (!m->priv || __atomic_load_n(&m->kw_own, __ATOMIC_ACQUIRE))
        return snapshot_of(seg, rc);
    pthread_mutex_lock(&own_mutex);
    struct shmap__kwslot *copy = snapshot_of(seg, rc);
    pthread_mutex_unlock(&own_mutex);
    return copy;
}

/* snapshot(), own_mutex aside. */
static struct shmap__kwslot *snapshot_of(const shmap_seg *seg, int *rc)
{
    if (seg->map->raw) {
        *rc = shmap__raw_refuse(seg, "keywords");
        return NULL;
    }
    const unsigned cap = capacity_of(seg);
    struct shmap__kwslot *copy = malloc(((size_t)cap + 1) * sizeof *copy);
    if (!copy) {
        *rc = shmap__err(-ENOMEM, "%s: out of memory", seg->map->name.name);
        return NULL;
    }
    struct map_source m = {shmap__kw_words(seg->map), slots_of(seg)};
    const struct shmap__kwsource src = {map_words, map_holder, map_slots, &m};
    if ((*rc = shmap__keyword_snapshot(&src, cap, copy, seg->map->name.name)) < 0) {
        free(copy);
        return NULL;
    }
    return copy;
}

int shmap_keyword_get(const shmap_seg *seg, const char *name, shmap_keyword *out)
{
    if (!seg || !out)
        return shmap__err(SHMAP_EINVAL, "shmap_keyword_get: NULL argument");
    const char *who = seg->map->name.name;
    char upper[SHMAP_KEYWORD_NAME_MAX];
    int rc = check_name(name, upper, who);
    if (rc < 0)
        return rc;
    struct shmap__kwslot *copy = snapshot(seg, &rc);
    if (!copy)
        return rc;
    rc = shmap__err(SHMAP_ENOKEY, "%s: no keyword %s", who, upper);
    for (unsigned i = 0; i < capacity_of(seg); i++) {
        if (shmap__kwslot_valid(&copy[i]) &&
            strncmp(copy[i].name, upper, sizeof copy[i].name) == 0) {
            slot_to_keyword(&copy[i], out);
            rc = 0;
            break;
        }
    }
    free(copy);
    return rc;
}

/* Is the slot name @p name (SHMAP_KEYWORD_NAME_MAX bytes, maybe without a NUL) one of those
 * a delete asks for (@p ctx)? */
typedef bool name_match(const void *ctx, const char *name);

/*
 * Are none of the names a delete asks for (@p match) among @p seg's keywords, as one whole
 * state of them shows? Then the delete has nothing to do and takes no lock. Taken and let go
 * with no change, again and again (a loop deleting what is not there), the lock would keep
 * writers waiting for nothing, and one waiting could not tell that holder from a stuck one:
 * it judges progress by the holder and the change sequence (kw_lock()), and neither moves.
 * The names are read in place under the sequence, nothing written: false when one may be
 * there, or the keywords changed meanwhile, and the lock then decides.
 */
static bool none_there(const shmap_seg *seg, name_match *match, const void *ctx)
{
    const struct shmap__header *h = shmap__hdr(seg);
    const struct shmap__kwslot *slots = slots_of(seg);
    uint32_t seq = __atomic_load_n(&h->kw_seq, __ATOMIC_ACQUIRE);
    if (seq & 1)
        return false;
    for (unsigned i = 0; i < capacity_of(seg); i++) {
        char name[sizeof slots[i].name];
        memcpy(name, slots[i].name, sizeof name);
        if (match(ctx, name))
            return false;
    }
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return __atomic_load_n(&h->kw_seq, __ATOMIC_RELAXED) == seq;
}

static bool is_name(const void *upper, const char *name)
{
    return strncmp(name, upper, SHMAP_KEYWORD_NAME_MAX) == 0;
}

int shmap_keyword_delete(shmap_seg *seg, const char *name)
{
    int rc = writable_or_err(seg);
    if (rc < 0)
        return rc;
    const char *who = seg->map->name.name;
    char upper[SHMAP_KEYWORD_NAME_MAX];
    if ((rc = check_name(name, upper, who)) < 0 || (rc = own_keywords(seg)) < 0)
        return rc;
    if (none_there(seg, is_name, upper))
        return shmap__err(SHMAP_ENOKEY, "%s: no keyword %s", who, upper);
    struct shmap__header *h = shmap__hdr(seg);
    struct shmap__kwslot *slots = slots_of(seg);
    if ((rc = kw_lock(h, who)) < 0)
        return rc;
    rc = shmap__err(SHMAP_ENOKEY, "%s: no keyword %s", who, upper);
    for (unsigned i = 0; i < capacity_of(seg); i++) {
        if (shmap__kwslot_valid(&slots[i]) &&
            strncmp(slots[i].name, upper, sizeof slots[i].name) == 0) {
            begin_change(h);
            memset(&slots[i], 0, sizeof slots[i]);
            end_change(h);
            rc = 0;
            break;
        }
    }
    kw_unlock(h);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Several at once */

/*
 * Design note. A change of several keywords is one change: every keyword is checked, and
 * the names sorted, before the keyword lock is taken; under it, one pass over the slots
 * finds the names there (a binary search of the sorted names each), and the writes go
 * between one begin_change() and its end_change(), so readers see all of it or none.
 * Of a name given twice, the last value counts, and a new one's place in the listing is
 * where it was first given. Under the lock the work is O(capacity x log n + n), whatever
 * n: a long list of names does not hold other writers up. The free slots are found once
 * (many_locate()) and only those are written: a writer that ignores the lock and fills
 * one meanwhile has it overwritten, never a byte past the keyword area.
 */

typedef char kw_name[SHMAP_KEYWORD_NAME_MAX];

/* The names of one change of several, checked and upper-cased. */
struct many {
    size_t n;
    kw_name *upper;    /* [n] */
    size_t *uniq;      /* [nuniq]: the index of the last of each name, sorted by name */
    size_t *first;     /* [nuniq]: the index of the first of each name */
    size_t nuniq;
    size_t *kof;       /* [n]: the position in uniq of each name */
    ptrdiff_t *slotof; /* [nuniq]: the slot that holds the name, -1 for none */
    unsigned *free_at; /* [capacity]: the free slots, many_locate()'s count of them */
};

static void many_free(struct many *m)
{
    free(m->upper);
    free(m->uniq);
    free(m->first);
    free(m->kof);
    free(m->slotof);
    free(m->free_at);
}

/* Is m->upper[i] the first of its name? */
static bool many_first(const struct many *m, size_t i)
{
    return m->first[m->kof[i]] == i;
}

/* A name to sort, with its index: by name, then by index, so that the last of a name
 * given twice sorts last. */
struct named {
    const char *name;
    size_t i;
};

static int by_name(const void *a, const void *b)
{
    const struct named *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->i > y->i) - (x->i < y->i);
}

/* The position in m->uniq of @p name, or -1. */
static ptrdiff_t many_find(const struct many *m, const char *name)
{
    size_t lo = 0, hi = m->nuniq;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strncmp(name, m->upper[m->uniq[mid]], SHMAP_KEYWORD_NAME_MAX);
        if (c == 0)
            return (ptrdiff_t)mid;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return -1;
}

/* Is @p name one of the names of @p m (a struct many)? A binary search, as many_locate()'s. */
static bool is_many_name(const void *m, const char *name)
{
    return many_find(m, name) >= 0;
}

/* Sort the names; 0 or -ENOMEM. */
static int many_sort(struct many *m)
{
    size_t n = m->n;
    struct named *order = malloc(n * sizeof *order);
    m->uniq = malloc(n * sizeof *m->uniq);
    m->first = malloc(n * sizeof *m->first);
    m->kof = malloc(n * sizeof *m->kof);
    if (!order || !m->uniq || !m->first || !m->kof) {
        free(order);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        order[i] = (struct named){m->upper[i], i};
    qsort(order, n, sizeof *order, by_name);
    for (size_t i = 0, run = 0; i < n; i++) {
        m->kof[order[i].i] = m->nuniq;
        if (i + 1 < n && strcmp(order[i].name, order[i + 1].name) == 0)
            continue; /* not the last of its name */
        m->first[m->nuniq] = order[run].i;
        m->uniq[m->nuniq++] = order[i].i;
        run = i + 1;
    }
    free(order);
    m->slotof = malloc((m->nuniq ? m->nuniq : 1) * sizeof *m->slotof);
    return m->slotof ? 0 : -ENOMEM;
}

/* Find which names @p cap slots hold, in m->slotof, and which slots are free, in
 * m->free_at (NULL: not asked); the free slots' count. */
static unsigned many_locate(struct many *m, const struct shmap__kwslot *slots, unsigned cap)
{
    unsigned free_slots = 0;
    for (size_t k = 0; k < m->nuniq; k++)
        m->slotof[k] = -1;
    for (unsigned i = 0; i < cap; i++) {
        if (!shmap__kwslot_valid(&slots[i])) {
            if (m->free_at)
                m->free_at[free_slots] = i;
            free_slots++;
            continue;
        }
        ptrdiff_t k = many_find(m, slots[i].name);
        if (k >= 0 && m->slotof[k] < 0)
            m->slotof[k] = (ptrdiff_t)i;
    }
    return free_slots;
}

/* Append @p name to the list "A, B" in @p buf, ending it with ", ..." when it is full. */
static void list_add(char *buf, size_t size, size_t *used, const char *name)
{
    if (*used >= size)
        return;
    size_t need = strlen(name) + (*used ? 2 : 0);
    if (*used + need + sizeof ", ..." > size) {
        snprintf(buf + *used, size - *used, ", ...");
        *used = size;
        return;
    }
    *used += (size_t)snprintf(buf + *used, size - *used, "%s%s", *used ? ", " : "", name);
}

/* The names (each once, in the order first given) that m->slotof has in no slot, as
 * "A, B"; their count. */
static size_t many_absent(const struct many *m, char *buf, size_t size)
{
    size_t used = 0, absent = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < m->n; i++) {
        if (many_first(m, i) && m->slotof[m->kof[i]] < 0) {
            absent++;
            list_add(buf, size, &used, m->upper[i]);
        }
    }
    return absent;
}

/*
 * The checks before a change of several: a writable handle, known flags, and every name
 * (or, for a set, every keyword), into @p m, sorted. 0, or the code of the first that
 * fails, its detail set.
 */
static int many_check(shmap_seg *seg, const shmap_keyword *kw, const char *const *names,
                      size_t n, unsigned int flags, unsigned int allowed, struct many *m)
{
    memset(m, 0, sizeof *m);
    m->n = n;
    int rc = writable_or_err(seg);
    if (rc < 0)
        return rc;
    const char *who = seg->map->name.name;
    if (flags & ~allowed)
        return shmap__err(SHMAP_EINVAL, "%s: unknown keyword flags 0x%x", who, flags & ~allowed);
    if (n == 0)
        return 0;
    if (!kw && !names)
        return shmap__err(SHMAP_EINVAL, "%s: NULL keywords", who);
    if (n > SIZE_MAX / sizeof *m->upper || !(m->upper = malloc(n * sizeof *m->upper)))
        return shmap__err(-ENOMEM, "%s: out of memory for %zu keywords", who, n);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = kw ? keyword_check(&kw[i], m->upper[i], who) : check_name(names[i], m->upper[i], who);
    if (rc == 0 && many_sort(m) < 0)
        rc = shmap__err(-ENOMEM, "%s: out of memory for %zu keywords", who, n);
    /* A private mapping's first change makes the keyword area its own; a check changes
     * nothing, and reads a snapshot instead (many_slots()). */
    if (rc == 0 && !(flags & SHMAP_KEYWORD_CHECK_ONLY))
        rc = own_keywords(seg);
    return rc;
}

/*
 * The slots a change of several works on: the segment's, under the keyword lock (@p
 * *locked), or for a check alone a consistent snapshot, which takes no lock and makes no
 * private mapping's keywords its own (@p *copy, to free). NULL on failure, detail set.
 */
static struct shmap__kwslot *many_slots(shmap_seg *seg, unsigned int flags, int *rc,
                                        bool *locked, struct shmap__kwslot **copy)
{
    *locked = false;
    *copy = NULL;
    if (flags & SHMAP_KEYWORD_CHECK_ONLY)
        return *copy = snapshot(seg, rc);
    if ((*rc = kw_lock(shmap__hdr(seg), seg->map->name.name)) < 0)
        return NULL;
    *locked = true;
    return slots_of(seg);
}

/* Let go of what a change of several took: the keyword lock, the snapshot, the names. */
static void many_end(shmap_seg *seg, struct many *m, bool locked, struct shmap__kwslot *copy)
{
    if (locked)
        kw_unlock(shmap__hdr(seg));
    free(copy);
    many_free(m);
}

int shmap_keyword_set_many(shmap_seg *seg, const shmap_keyword *kw, size_t n,
                           const unsigned char *keep_comment, unsigned int flags)
{
    struct many m;
    int rc = many_check(seg, kw, NULL, n, flags, SHMAP_KEYWORD_CHECK_ONLY, &m);
    if (rc < 0 || n == 0) {
        many_free(&m);
        return rc;
    }
    const char *who = seg->map->name.name;
    const unsigned cap = capacity_of(seg);
    if (!(m.free_at = malloc((cap ? cap : 1) * sizeof *m.free_at))) {
        many_free(&m);
        return shmap__err(-ENOMEM, "%s: out of memory", who);
    }
    bool locked;
    struct shmap__kwslot *copy, *slots = many_slots(seg, flags, &rc, &locked, &copy);
    if (!slots) {
        many_free(&m);
        return rc;
    }
    unsigned free_slots = many_locate(&m, slots, cap), next_free = 0;
    char names[400];
    size_t add = many_absent(&m, names, sizeof names);
    if (add > free_slots)
        rc = shmap__err(SHMAP_EKEYFULL, "%s: no room for new %s %s: %u of %u keyword %s free "
                                        "(the number of slots is set when the segment is "
                                        "created)",
                        who, shmap__plural(add, "keyword", "keywords"), names, free_slots, cap,
                        shmap__plural(cap, "slot", "slots"));
    if (rc == 0 && locked) {
        struct shmap__header *h = shmap__hdr(seg);
        begin_change(h);
        for (size_t i = 0; i < n; i++) {
            if (!many_first(&m, i))
                continue; /* the first of a name places it; the last gives its value */
            size_t k = m.kof[i], last = m.uniq[k];
            shmap_keyword one = kw[last];
            struct shmap__kwslot *slot;
            if (m.slotof[k] >= 0) {
                slot = &slots[m.slotof[k]];
                if (keep_comment && keep_comment[last]) {
                    memcpy(one.comment, slot->comment, sizeof one.comment);
                    one.comment[sizeof one.comment - 1] = '\0';
                }
            } else {
                slot = &slots[m.free_at[next_free++]]; /* one of those counted above */
                memset(slot, 0, sizeof *slot);
                memcpy(slot->name, m.upper[i], sizeof slot->name);
                slot->order = next_order(h, slots, cap);
            }
            slot_write(slot, &one);
        }
        end_change(h);
    }
    many_end(seg, &m, locked, copy);
    return rc;
}

int shmap_keyword_delete_many(shmap_seg *seg, const char *const *names, size_t n,
                              unsigned int flags)
{
    struct many m;
    int rc = many_check(seg, NULL, names, n, flags,
                        SHMAP_KEYWORD_CHECK_ONLY | SHMAP_KEYWORD_MISSING_OK, &m);
    /* None there, and none need be: nothing to delete, no lock (see none_there()). */
    if (rc < 0 || n == 0 ||
        ((flags & SHMAP_KEYWORD_MISSING_OK) && !(flags & SHMAP_KEYWORD_CHECK_ONLY) &&
         none_there(seg, is_many_name, &m))) {
        many_free(&m);
        return rc;
    }
    const char *who = seg->map->name.name;
    const unsigned cap = capacity_of(seg);
    bool locked;
    struct shmap__kwslot *copy, *slots = many_slots(seg, flags, &rc, &locked, &copy);
    if (!slots) {
        many_free(&m);
        return rc;
    }
    many_locate(&m, slots, cap);
    char absent[400];
    size_t missing = many_absent(&m, absent, sizeof absent);
    if (missing && !(flags & SHMAP_KEYWORD_MISSING_OK)) {
        rc = shmap__err(SHMAP_ENOKEY, "%s: no %s %s%s", who,
                        shmap__plural(missing, "keyword", "keywords"), absent,
                        n > 1 ? " (none of the keywords given deleted)" : "");
    } else {
        rc = (int)(m.nuniq - missing);
        if (rc > 0 && locked) {
            struct shmap__header *h = shmap__hdr(seg);
            begin_change(h);
            for (size_t k = 0; k < m.nuniq; k++)
                if (m.slotof[k] >= 0)
                    memset(&slots[m.slotof[k]], 0, sizeof slots[0]);
            end_change(h);
        }
    }
    many_end(seg, &m, locked, copy);
    return rc;
}

static int by_order(const void *a, const void *b)
{
    const struct shmap__kwslot *x = a, *y = b;
    return x->order < y->order ? -1 : x->order > y->order;
}

unsigned shmap__keyword_sort(struct shmap__kwslot *copy, unsigned cap)
{
    unsigned n = 0;
    for (unsigned i = 0; i < cap; i++) {
        if (!shmap__kwslot_valid(&copy[i]))
            continue;
        if (i != n)
            copy[n] = copy[i]; /* slot n was found invalid: it may be overwritten */
        n++;
    }
    qsort(copy, n, sizeof *copy, by_order);
    return n;
}

void shmap__keyword_decode(const struct shmap__kwslot *sorted, unsigned n, shmap_keyword *out)
{
    for (unsigned i = 0; i < n; i++)
        slot_to_keyword(&sorted[i], &out[i]);
}

/* A snapshot of the keyword slots with the `*n` valid ones first, in order; NULL (and `*n`
 * the error) on failure. One snapshot: its count and its keywords always agree. */
static struct shmap__kwslot *sorted_snapshot(const shmap_seg *seg, int *n)
{
    struct shmap__kwslot *copy = snapshot(seg, n);
    if (!copy)
        return NULL;
    *n = (int)shmap__keyword_sort(copy, capacity_of(seg));
    return copy;
}

int shmap_keyword_list(const shmap_seg *seg, shmap_keyword *out, size_t cap)
{
    if (!seg || (!out && cap))
        return shmap__err(SHMAP_EINVAL, "shmap_keyword_list: NULL argument");
    int n;
    struct shmap__kwslot *copy = sorted_snapshot(seg, &n);
    if (!copy)
        return n;
    shmap__keyword_decode(copy, (size_t)n < cap ? (unsigned)n : (unsigned)cap, out);
    free(copy);
    return n;
}

int shmap_keyword_list_alloc(const shmap_seg *seg, shmap_keyword **out)
{
    if (!seg || !out)
        return shmap__err(SHMAP_EINVAL, "shmap_keyword_list_alloc: NULL argument");
    *out = NULL;
    int n;
    struct shmap__kwslot *copy = sorted_snapshot(seg, &n);
    if (!copy)
        return n;
    shmap_keyword *kw = NULL;
    if (n > 0 && !(kw = calloc((size_t)n, sizeof *kw)))
        n = shmap__err(-ENOMEM, "%s: out of memory", seg->map->name.name);
    if (n > 0)
        shmap__keyword_decode(copy, (unsigned)n, kw);
    free(copy);
    *out = kw;
    return n;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t len = strlen(s);
    while (len && isspace((unsigned char)s[len - 1]))
        s[--len] = '\0';
    return s;
}

int shmap_keyword_parse(const char *text, shmap_keyword *out)
{
    if (!text || !out)
        return shmap__err(SHMAP_EINVAL, "shmap_keyword_parse: NULL argument");
    memset(out, 0, sizeof *out);
    char buf[512];
    if (strlen(text) >= sizeof buf)
        return shmap__err(SHMAP_EKEYWORD, "keyword '%.30s...' is too long", text);
    snprintf(buf, sizeof buf, "%s", text);
    char *eq = strchr(buf, '=');
    if (!eq)
        return shmap__err(SHMAP_EKEYWORD, "keyword '%s' is not KEY=VALUE", text);
    *eq = '\0';
    char *key = trim(buf), *value = eq + 1, *comment = NULL;
    char upper[SHMAP_KEYWORD_NAME_MAX];
    int rc = check_name(key, upper, "keyword");
    if (rc < 0)
        return rc;
    memcpy(out->name, upper, sizeof out->name);
    while (isspace((unsigned char)*value))
        value++;
    if (*value == '\'' || *value == '"') {
        /* The quote doubled stands for itself, as in FITS ('it''s'): what the keyword
         * listings print reads back. The string is unquoted in place. */
        char q = *value, *from = value + 1, *to = value + 1;
        while (*from && (*from != q || from[1] == q)) {
            from += *from == q;
            *to++ = *from++;
        }
        if (!*from)
            return shmap__err(SHMAP_EKEYWORD, "keyword %s: unterminated quoted value", upper);
        *to = '\0';
        char *rest = trim(from + 1);
        if (*rest == '/')
            comment = trim(rest + 1);
        else if (*rest)
            return shmap__err(SHMAP_EKEYWORD, "keyword %s: text after the quoted value", upper);
        out->type = SHMAP_KW_STRING;
        if (strlen(value + 1) >= sizeof out->s)
            return shmap__err(SHMAP_EKEYWORD, "keyword %s: string value longer than %zu", upper,
                              sizeof out->s - 1);
        snprintf(out->s, sizeof out->s, "%s", value + 1);
    } else {
        char *slash = strstr(value, " /");
        if (slash) {
            *slash = '\0';
            comment = trim(slash + 2);
        }
        value = trim(value);
        char *end;
        double f;
        errno = 0;
        long long iv = strtoll(value, &end, 10);
        const char *digits = value + (*value == '-' || *value == '+');
        if (*end && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
            errno = 0; /* 0x10 is the integer 16, not the float strtod would make of it */
            iv = strtoll(value, &end, 16);
        }
        if (strcasecmp(value, "T") == 0 || strcasecmp(value, "true") == 0 ||
            strcasecmp(value, "F") == 0 || strcasecmp(value, "false") == 0) {
            out->type = SHMAP_KW_BOOL;
            out->i = toupper((unsigned char)value[0]) == 'T';
        } else if (*value && !*end && errno == 0) {
            out->type = SHMAP_KW_INT;
            out->i = iv;
        } else if (*value && !*end) {
            /* Digits beyond 64 bits: as a float they would lose their last digits unsaid. */
            return shmap__err(SHMAP_EKEYWORD, "keyword %s: integer %s out of range for i64 "
                                              "(write it as a float, or quote it as a string)",
                              upper, value);
        } else if (*value && (errno = 0, f = strtod(value, &end), !*end)) {
            /* 1e400 is out of range, where inf spelled out is asked for. */
            if (errno == ERANGE && isinf(f))
                return shmap__err(SHMAP_EKEYWORD, "keyword %s: value %s out of range for a "
                                                  "double (f64)", upper, value);
            out->type = SHMAP_KW_FLOAT;
            out->f = f;
        } else {
            out->type = SHMAP_KW_STRING;
            if (strlen(value) >= sizeof out->s)
                return shmap__err(SHMAP_EKEYWORD, "keyword %s: string value longer than %zu",
                                  upper, sizeof out->s - 1);
            snprintf(out->s, sizeof out->s, "%s", value);
        }
    }
    char why[96];
    if (out->type == SHMAP_KW_STRING && printable(out->s, sizeof out->s, why, sizeof why) < 0)
        return shmap__err(SHMAP_EKEYWORD, "keyword %s: the value is not printable text (%s)",
                          upper, why);
    if (comment) {
        if (printable(comment, strlen(comment) + 1, why, sizeof why) < 0)
            return shmap__err(SHMAP_EKEYWORD, "keyword %s: the comment is not printable text "
                                              "(%s)", upper, why);
        if (strlen(comment) >= sizeof out->comment)
            return shmap__err(SHMAP_EKEYWORD, "keyword %s: comment longer than %zu", upper,
                              sizeof out->comment - 1);
        snprintf(out->comment, sizeof out->comment, "%s", comment);
    }
    return 0;
}
