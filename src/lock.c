/*
 * Shared and exclusive locks, and the table of attached processes, kept in the header's
 * lock area (bytes 512..4095; struct shmap__lockarea in format.h, prose in docs/FORMAT.md).
 *
 * Design note. Everything lives in the segment, so the locks work for every store (System V
 * segments have no file descriptor to fcntl-lock) and survive nothing but the segment.
 *
 * Attach table. Each process that maps the segment read-write owns one 32-byte slot: pid,
 * start time, and `shared`, the number of shared holds its handles have. A slot is taken by
 * a CAS of `pid` from 0 to ours and freed when the process's last reference goes. `nslots`
 * is the high-water mark of slots ever used, so scans stay short. A slot whose process is
 * dead (kill says ESRCH, /proc shows a zombie, or the pid now has another start time; one
 * in another pid namespace cannot be judged and counts as alive) is
 * reclaimed by a CAS of `pid` to minus the reclaimer's pid (only one reclaimer wins), which
 * then writes its own start time to `rstart`, zeroes the holds and sets `pid` to 0 by CAS.
 * A reclaimer killed half-way leaves a slot that names it: judged as any other, by pid and
 * start, it is reclaimed again when found dead, so no holds are left behind for good.
 *
 * Lock word. `word` holds WRITER, the writer's slot index, SLEEP (someone sleeps on the word
 * with FUTEX_WAIT, so a release must FUTEX_WAKE), DIED (a writer died holding the lock) and
 * GEN, 13 bits bumped by every exclusive acquire and kept across releases: a waiter that
 * judged a writer dead replaces the word by CAS against the value it judged, and GEN keeps
 * a later writer that happens to reuse the same slot from matching that value.
 *
 *   shared lock:    ++slot.shared; if WRITER is clear, done. Else --slot.shared and sleep
 *                   on the word until it changes. This is a Dekker pair with the writer's
 *                   CAS below: both are full barriers, so one side always sees the other.
 *   exclusive lock: CAS WRITER|slot into the word (waiting while another writer has it),
 *                   note that claim in `draining`, then wait until every slot's `shared`
 *                   is 0; then clear `draining`. Readers arriving meanwhile see WRITER and
 *                   back off, so writers are not starved.
 *   shared unlock:  --slot.shared; if it reached 0 while WRITER is set, bump `drain` and
 *                   wake it: the writer sleeps on `drain`, read before its scan, so a wake
 *                   between its scan and its sleep is not lost.
 *   exclusive unlock: CAS the word to GEN alone, and FUTEX_WAKE if SLEEP was set.
 *
 * Read-only handles. The table needs a write, so a read-only mapping gets a second,
 * read-write mapping of the header page alone at its first lock (`lock_base`), if this user
 * may open the object read-write and the name still holds the same object; otherwise locks
 * fail with SHMAP_EREADONLY. Read-only opens that never lock stay out of the table, so
 * a plain read-only attach writes nothing.
 *
 * A process that created a segment and destroys it at close skips clearing its slot when it
 * never wrote the header through its mapping (segment.c): the name is gone, so nobody can
 * attach, and the write would only fault the page in.
 *
 * Uncontended, a shared lock+unlock is two atomic adds and two loads on lines already in
 * the cache; an exclusive one is a CAS, a scan of `nslots` counts and a CAS back (the word
 * is read again after the scan only if the first CAS found DIED). shmap_lock() does that
 * first round inline; waiting, a try's recovery and the error messages are out of line, so
 * the path that takes a free lock is short.
 *
 * Wait check. After every sleep (a wake, a slice's end, a signal) a waiter asks the calling
 * thread's wait check, if one is set (shmap_set_wait_check()); a non-zero answer ends the
 * wait as a timeout would, giving back a writer's claim on the word.
 *
 * Crash recovery. Waiters sleep in 10 ms slices, and a waiter checks the holders every
 * 10 ms of its wait, however its sleeps end (a signal or another process's wake may cut
 * every one short), and once more at its deadline (check_due()); a try, which never
 * sleeps, checks them before it reports the lock busy, at most once a slice per mapping
 * (try_recovers()). A writer whose slot's process is dead (or whose slot is free) has its
 * WRITER bit replaced by DIED with a CAS, its pid kept in `dead_pid`; readers that are
 * dead have their slots reclaimed, which drops their holds. A writer that died while
 * `draining` still named its claim never held the lock and wrote nothing: its claim is
 * dropped without DIED, as is that of a holder that writes nothing (a delete, which names
 * its claim in `quiet` for the whole hold). The next exclusive locker that finds DIED
 * clears it once it holds the lock and returns SHMAP_EOWNERDEAD, as pthread robust
 * mutexes do. Reclaiming a slot that the word names as the writer first moves the word
 * off it, so a later owner of the slot is never mistaken for the writer. (A pid that dies
 * and is reused by a process that attaches within one check is not caught: the start time
 * makes that need a wrap of the pid space in a few ms.)
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define SLICE_NS 10000000LL
#define NO_DEADLINE INT64_MAX

/* Kept out of the inline path that takes a free lock: waits (SLOW) and what seldom runs
 * (RARE, which the compiler also places apart from the hot code). */
#define SLOW __attribute__((noinline))
#define RARE __attribute__((noinline, cold))
/* Inlined wherever it is called, whatever the compiler makes of the caller's size: what
 * shmap_unlock() does on its fast path (an out-of-line release costs it a tenth), and the
 * sleep of a wait, whose every frame a woken waiter pays for (see linux/futex_inline.h). */
#define HOT __attribute__((always_inline))
/* What a waiter woken from its futex wait runs until the lock call returns, and
 * shmap_unlock(), the other half of a hand-off, placed together (in .text.hot) so that the
 * waiter's path spans one or two pages of code rather than three or four: after
 * a switch between processes each page's first use can cost as much as the rest of the
 * path. (Measured by shmap-bench-lock: the hand-off on one CPU went from 1.07x a bare
 * futex's to 1.04x with this and linux/futex_inline.h together.) */
#define WAKE_PATH __attribute__((hot))

static pthread_mutex_t slot_mutex = PTHREAD_MUTEX_INITIALIZER;

void shmap__slots_hold(bool hold)
{
    if (hold)
        pthread_mutex_lock(&slot_mutex);
    else
        pthread_mutex_unlock(&slot_mutex);
}

/* The lock area to write (valid once my_slot() succeeded) and to read. */
static inline struct shmap__lockarea *area_of(const struct shmap__map *m)
{
    return (struct shmap__lockarea *)((char *)m->lock_base + SHMAP__LOCK_OFFSET);
}

static inline struct shmap__lockarea *area_rd(const struct shmap__map *m)
{
    /* The object's table: a private mapping's own copy of it may be stale (segment.c). */
    return (struct shmap__lockarea *)((char *)m->live + SHMAP__LOCK_OFFSET);
}

/* The high-water mark, which comes from shared memory and is clamped to the table. */
static unsigned nslots_of(struct shmap__lockarea *a)
{
    unsigned n = __atomic_load_n(&a->nslots, __ATOMIC_ACQUIRE);
    return n > SHMAP__LOCK_SLOTS ? SHMAP__LOCK_SLOTS : n;
}

static void raise_nslots(struct shmap__lockarea *a, unsigned upto)
{
    unsigned n = __atomic_load_n(&a->nslots, __ATOMIC_RELAXED);
    while (n < upto && !__atomic_compare_exchange_n(&a->nslots, &n, upto, false,
                                                    __ATOMIC_RELEASE, __ATOMIC_RELAXED))
        ;
}

static void wake_drainer(struct shmap__lockarea *a)
{
    __atomic_add_fetch(&a->drain, 1, __ATOMIC_SEQ_CST);
    shmap__wake_all(&a->drain);
}

/* Empty a slot whose `pid` is `owner` (ours, or minus ours while we reclaim it), dropping
 * its shared holds (a writer draining them is woken). The pid goes last, by CAS: a slot
 * reads as free only once it is clean, and a reclaim that another process took over from
 * us (it judged us dead) is left to that process. */
static void slot_free(struct shmap__lockarea *a, struct shmap__lockslot *s, int32_t owner)
{
    uint32_t had = __atomic_exchange_n(&s->shared, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&s->start, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&s->flags, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&s->pidns, 0, __ATOMIC_RELAXED);
    /* `rstart` goes only with the pid, so that it still names us if we die before; builds
     * before it was used take it for 0 whenever `pid` is not negative. A late store over a
     * new owner's slot is harmless: claim() writes 0 too. */
    if (__atomic_compare_exchange_n(&s->pid, &owner, 0, false, __ATOMIC_SEQ_CST,
                                    __ATOMIC_RELAXED))
        __atomic_store_n(&s->rstart, 0, __ATOMIC_RELAXED);
    if (had)
        wake_drainer(a);
}

/* The part of the word that names one writer's claim: WRITER, GEN and its slot. */
static inline uint32_t claim_of(uint32_t w)
{
    return w & (SHMAP__LW_WRITER | SHMAP__LW_GEN | SHMAP__LW_SLOT);
}

/* Does the writer claim in `w` (WRITER set) still wait for readers to let go? */
static bool writer_draining(struct shmap__lockarea *a, uint32_t w)
{
    return __atomic_load_n(&a->draining, __ATOMIC_SEQ_CST) == claim_of(w);
}

/* Set `*field` (`draining` or `quiet`) to 0 if it still names `claim`: not if it was
 * taken over meanwhile (we were thought dead) and names another writer's claim. */
static void drop_claim(uint32_t *field, uint32_t claim)
{
    __atomic_compare_exchange_n(field, &claim, 0, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
}

/* Is the writer claim in `w` (WRITER set) a holder's that writes nothing (a delete)? */
static bool writer_quiet(struct shmap__lockarea *a, uint32_t w)
{
    return __atomic_load_n(&a->quiet, __ATOMIC_SEQ_CST) == claim_of(w);
}

/*
 * Move the word off a writer that is gone, and wake sleepers. One that held the lock
 * leaves DIED, its pid kept for the next locker's message; one that was still waiting for
 * readers (`draining` names its claim), or that holds it to write nothing (`quiet` names
 * it), wrote nothing, and leaves DIED only if it was there already, for an earlier death.
 * `w` is the word as seen. `draining` is read before `quiet`: a holder sets `quiet` before
 * it clears `draining`, so a judge that finds `draining` clear finds `quiet` set.
 */
static bool writer_gone(struct shmap__lockarea *a, uint32_t w, pid_t pid)
{
    uint32_t claim = claim_of(w);
    bool draining = writer_draining(a, w);
    bool quiet = writer_quiet(a, w);
    bool held = !draining && !quiet;
    if (held) {
        if (pid <= 0)
            pid = __atomic_load_n(&a->writer_pid, __ATOMIC_RELAXED);
        __atomic_store_n(&a->dead_pid, pid, __ATOMIC_RELAXED);
    }
    uint32_t next = (w & SHMAP__LW_GEN) | (held ? SHMAP__LW_DIED : (w & SHMAP__LW_DIED));
    if (!__atomic_compare_exchange_n(&a->word, &w, next, false, __ATOMIC_SEQ_CST,
                                     __ATOMIC_RELAXED))
        return false;
    if (draining)
        drop_claim(&a->draining, claim);
    if (quiet)
        drop_claim(&a->quiet, claim);
    shmap__wake_all(&a->word);
    return true;
}

/* Reclaim slot i from a dead process `pid` (or from a dead reclaimer, `pid` < 0): drop
 * its holds and free it. */
static void reclaim(struct shmap__lockarea *a, unsigned i, int32_t pid)
{
    struct shmap__lockslot *s = &a->slots[i];
    int32_t expected = pid, mark = -shmap__getpid();
    if (!__atomic_compare_exchange_n(&s->pid, &expected, mark, false, __ATOMIC_SEQ_CST,
                                     __ATOMIC_RELAXED))
        return;
    __atomic_store_n(&s->pidns, shmap__self_pidns(), __ATOMIC_RELAXED);
    __atomic_store_n(&s->rstart, shmap__self_start(), __ATOMIC_RELEASE);
    /* If the dead process held (or was taking) the exclusive lock, release it first. */
    for (;;) {
        uint32_t w = __atomic_load_n(&a->word, __ATOMIC_SEQ_CST);
        if (!(w & SHMAP__LW_WRITER) || (w & SHMAP__LW_SLOT) != i || writer_gone(a, w, pid))
            break;
    }
    slot_free(a, s, mark);
}

/* A liveness answer remembered in `c`, if there is one for (pid, start). */
static bool cache_find(const struct shmap__alive_cache *c, int32_t pid, uint64_t start,
                       bool *alive)
{
    for (unsigned i = 0; c && i < c->n; i++)
        if (c->e[i].pid == pid && c->e[i].start == start) {
            *alive = c->e[i].alive;
            return true;
        }
    return false;
}

static void cache_put(struct shmap__alive_cache *c, int32_t pid, uint64_t start, bool alive)
{
    const unsigned size = sizeof c->e / sizeof c->e[0];
    if (!c)
        return;
    unsigned i = c->n < size ? c->n++ : c->next++ % size;
    c->e[i].pid = pid;
    c->e[i].start = start;
    c->e[i].alive = alive;
}

/* Does (pid, start), in our pid namespace, name this process? Not a dead one whose pid
 * we were given again. */
static bool is_me(int32_t pid, uint64_t start)
{
    uint64_t self = shmap__self_start();
    return pid == shmap__getpid() && (!start || !self || start == self);
}

bool shmap__attacher_is_me(const shmap_attacher *a)
{
    return !a->other_pidns && is_me(a->pid, a->start);
}

/* `rstart` holding the time a bare -1 was first seen (see slot_alive_cached()). */
#define SEEN_MARK (1ull << 63)

/* A bare -1 in `pid`, `rstart` as read: is it still within its slice of grace? Only a judge
 * that may write the slot (`mark`) starts the slice; a reader leaves it to one. */
static bool bare_mark_fresh(struct shmap__lockslot *s, uint64_t rstart, bool mark)
{
    uint64_t now = (uint64_t)shmap__mono_ns();
    if (rstart == 0) {
        if (!mark)
            return true;
        __atomic_compare_exchange_n(&s->rstart, &rstart, now | SEEN_MARK, false,
                                    __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
        return true;
    }
    return now - (rstart & ~SEEN_MARK) < (uint64_t)SLICE_NS;
}

/*
 * Is a slot's process alive? One in another pid namespace (a container sharing /dev/shm)
 * cannot be judged from here, its pid meaning nothing to us: it is taken as alive, since
 * breaking a live holder's lock would be worse than waiting. A slot being reclaimed (`pid`
 * < 0) is judged by its reclaimer, process -pid with start time `rstart`; until the
 * reclaimer has written `rstart` (one store after its CAS), by whether that pid exists. A
 * bare -1 with no `rstart` is an earlier version's mark (its reclaimer may be at work
 * still) or damage: the first judge to see it notes the time in `rstart` (a mark with its
 * top bit set, which no start time has), and it counts as dead a slice later. Only a judge
 * that acts on its answer (`judge`: the slot is in a writable mapping) writes that mark;
 * readers, which may look through a read-only mapping or at a copy, write nothing.
 * `cache` (may be NULL) keeps the answers of /proc across the lock areas of a listing.
 */
static bool slot_alive_cached(struct shmap__lockslot *s, int32_t *pid_out,
                              struct shmap__alive_cache *cache, bool judge)
{
    int32_t pid = __atomic_load_n(&s->pid, __ATOMIC_ACQUIRE);
    uint64_t start = __atomic_load_n(&s->start, __ATOMIC_RELAXED);
    uint32_t ns = __atomic_load_n(&s->pidns, __ATOMIC_RELAXED);
    *pid_out = pid;
    if (pid < 0) {
        if (pid == INT32_MIN)
            return false;
        start = __atomic_load_n(&s->rstart, __ATOMIC_ACQUIRE);
        if (pid == -1 && (start == 0 || (start & SEEN_MARK)))
            return bare_mark_fresh(s, start, judge);
        pid = -pid;
    }
    if (pid > 0 && ns && shmap__self_pidns() && ns != shmap__self_pidns())
        return true;
    if (pid > 0 && is_me(pid, start))
        return true;
    if (pid <= 0)
        return false;
    bool alive;
    if (!cache_find(cache, pid, start, &alive)) {
        alive = shmap__proc_alive(pid, start);
        cache_put(cache, pid, start, alive);
    }
    return alive;
}

/* Is the slot's process in another pid namespace than ours (both known)? */
static bool slot_foreign(struct shmap__lockslot *s)
{
    uint32_t ns = __atomic_load_n(&s->pidns, __ATOMIC_RELAXED), self = shmap__self_pidns();
    return ns && self && ns != self;
}

static bool slot_alive(struct shmap__lockslot *s, int32_t *pid_out)
{
    return slot_alive_cached(s, pid_out, NULL, true);
}

/* Check the writer named by the word; release its hold if it is dead. */
static void check_writer(struct shmap__lockarea *a)
{
    uint32_t w = __atomic_load_n(&a->word, __ATOMIC_SEQ_CST);
    if (!(w & SHMAP__LW_WRITER))
        return;
    unsigned i = w & SHMAP__LW_SLOT;
    int32_t pid = 0;
    if (i < SHMAP__LOCK_SLOTS && slot_alive(&a->slots[i], &pid))
        return;
    if (i < SHMAP__LOCK_SLOTS && pid != 0)
        reclaim(a, i, pid); /* frees the word too */
    else
        writer_gone(a, w, pid);
}

/* Reclaim the slots of dead processes among the first `n`; with `holders` only those
 * that hold shared locks. */
static void reap(struct shmap__lockarea *a, unsigned n, bool holders)
{
    for (unsigned i = 0; i < n; i++) {
        struct shmap__lockslot *s = &a->slots[i];
        if (holders && __atomic_load_n(&s->shared, __ATOMIC_RELAXED) == 0)
            continue;
        int32_t pid;
        if (__atomic_load_n(&s->pid, __ATOMIC_RELAXED) != 0 && !slot_alive(s, &pid) && pid != 0)
            reclaim(a, i, pid);
    }
}

static int claim(struct shmap__lockarea *a, unsigned flags)
{
    int32_t me = shmap__getpid();
    uint64_t start = shmap__self_start();
    for (int pass = 0; pass < 2; pass++) {
        for (unsigned i = 0; i < SHMAP__LOCK_SLOTS; i++) {
            struct shmap__lockslot *s = &a->slots[i];
            int32_t expected = 0;
            if (__atomic_load_n(&s->pid, __ATOMIC_RELAXED) == 0 &&
                __atomic_compare_exchange_n(&s->pid, &expected, me, false, __ATOMIC_SEQ_CST,
                                            __ATOMIC_RELAXED)) {
                __atomic_store_n(&s->start, start, __ATOMIC_RELAXED);
                __atomic_store_n(&s->pidns, shmap__self_pidns(), __ATOMIC_RELAXED);
                __atomic_store_n(&s->rstart, 0, __ATOMIC_RELAXED);
                __atomic_store_n(&s->flags, flags, __ATOMIC_RELEASE);
                raise_nslots(a, i + 1);
                return (int)i;
            }
        }
        reap(a, nslots_of(a), false);
    }
    return -EUSERS;
}

void shmap__attach_created(struct shmap__header *h, struct shmap__map *m)
{
    struct shmap__lockarea *a = (struct shmap__lockarea *)((char *)h + SHMAP__LOCK_OFFSET);
    a->slots[0].pid = shmap__getpid();
    a->slots[0].start = shmap__self_start();
    a->slots[0].flags = SHMAP__SLOT_RDWR;
    a->slots[0].pidns = shmap__self_pidns();
    a->nslots = 1;
    if (m) {
        m->lock_slot = 0;
        m->lock_slot_pid = a->slots[0].pid;
    }
}

static inline int my_slot(struct shmap__map *m, pid_t me);

int shmap__attach(struct shmap__map *m)
{
    int rc = m->writable ? my_slot(m, shmap__getpid()) : 0;
    return rc < 0 ? rc : 0;
}

void shmap__detach(struct shmap__map *m)
{
    if (!m->lock_base)
        return;
    if (m->lock_slot_pid != shmap__getpid()) {
        shmap__header_unmap_rw(m);
        return;
    }
    struct shmap__lockarea *a = area_of(m);
    struct shmap__lockslot *s = &a->slots[m->lock_slot];
    slot_free(a, s, shmap__getpid());
    m->lock_slot_pid = 0;
    shmap__header_unmap_rw(m);
}

/*
 * A read-only mapping cannot write the attach table. If this user may open the object
 * read-write, map its header page read-write beside the read-only mapping (the data stays
 * read-only); the slot_mutex is held.
 */
static int map_lock_page(struct shmap__map *m)
{
    return shmap__header_map_rw(m, &m->lock_base);
}

/* Claim our slot in this mapping (my_slot() found none of this process's): every
 * read-write open passes here, so it is out of line but not cold. */
static SLOW int claim_my_slot(struct shmap__map *m, pid_t me)
{
    int rc = 0;
    pthread_mutex_lock(&slot_mutex);
    __atomic_store_n(&m->lock_touched, true, __ATOMIC_RELAXED);
    if (m->lock_slot_pid != me && !m->lock_base)
        rc = map_lock_page(m);
    if (rc == 0 && m->lock_slot_pid != me) {
        int i = claim(area_of(m), m->writable && !m->priv ? SHMAP__SLOT_RDWR : 0);
        if (i >= 0) {
            m->lock_slot = i;
            __atomic_store_n(&m->lock_slot_pid, me, __ATOMIC_RELEASE);
        } else {
            rc = shmap__err(i, "%s: the attach table is full (%u processes)", m->name.name,
                            SHMAP__LOCK_SLOTS);
        }
    }
    pthread_mutex_unlock(&slot_mutex);
    return rc < 0 ? rc : m->lock_slot;
}

/* Our slot in this mapping (`me` is our pid): a child after fork, or an attach that found
 * the table full, claims one now. */
static inline int my_slot(struct shmap__map *m, pid_t me)
{
    if (__atomic_load_n(&m->lock_slot_pid, __ATOMIC_ACQUIRE) == me)
        return m->lock_slot;
    return claim_my_slot(m, me);
}

static inline HOT void shared_release(struct shmap__lockarea *a, struct shmap__lockslot *s)
{
    if (__atomic_sub_fetch(&s->shared, 1, __ATOMIC_SEQ_CST) == 0 &&
        (__atomic_load_n(&a->word, __ATOMIC_SEQ_CST) & SHMAP__LW_WRITER))
        wake_drainer(a);
}

/* `*checked` once a wait has had its last look at the holders, at its deadline. */
#define LAST_LOOK_DONE (-1)

/*
 * Is a check of the holders due, a slice after the last one (`*checked`, 0 before the
 * first: the wait starts then)? However the sleeps end: signals or other processes' wakes
 * may cut every one short, and the holders must be checked all the same. And once at the
 * deadline, before the wait gives up, as a try checks before it says busy: a timeout
 * shorter than a slice must find a dead holder too. Else the time left until a check is
 * due, for the next sleep; -ETIMEDOUT in *until when the wait is over.
 */
static bool check_due(int64_t now, int64_t deadline, int64_t *checked, int64_t *until)
{
    if (now >= deadline) {
        bool last = *checked != LAST_LOOK_DONE;
        *checked = LAST_LOOK_DONE;
        *until = -ETIMEDOUT;
        return last;
    }
    if (!*checked)
        *checked = now;
    if (now - *checked >= SLICE_NS) {
        *checked = now;
        return true;
    }
    *until = *checked + SLICE_NS - now;
    if (deadline - now < *until)
        *until = deadline - now;
    return false;
}

/*
 * Sleep while the word is `w` (a writer holds it), until the next check of the writer at
 * most (check_due(): `*checked` is the caller's, for the whole wait); or check it, when it
 * is due. -ETIMEDOUT once the deadline has passed, or the caller's wait check's code.
 */
static inline HOT int wait_word(struct shmap__lockarea *a, uint32_t w, int64_t deadline,
                                int64_t *checked)
{
    int64_t slice;
    if (check_due(shmap__mono_ns(), deadline, checked, &slice)) {
        check_writer(a);
        return 0; /* look again */
    }
    if (slice < 0)
        return (int)slice;
    if (!(w & SHMAP__LW_SLEEP)) {
        if (!__atomic_compare_exchange_n(&a->word, &w, w | SHMAP__LW_SLEEP, false,
                                         __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
            return 0; /* it changed: look again */
        w |= SHMAP__LW_SLEEP;
    }
    struct shmap__check check = shmap__wait_check_get();
    shmap__futex_wait(&a->word, w, slice);
    return check.fn ? shmap__wait_check_ask(check) : 0;
}

/* A writer had the word when we added our hold (`w`): let go, wait, and try again. */
static SLOW WAKE_PATH int lock_shared_wait(struct shmap__lockarea *a, struct shmap__lockslot *s,
                                           uint32_t w, int64_t deadline)
{
    int64_t checked = 0;
    for (;;) {
        shared_release(a, s);
        if (deadline == 0)
            return -EBUSY;
        int rc = wait_word(a, w, deadline, &checked);
        if (rc < 0)
            return rc;
        __atomic_add_fetch(&s->shared, 1, __ATOMIC_SEQ_CST);
        w = __atomic_load_n(&a->word, __ATOMIC_SEQ_CST);
        if (!(w & SHMAP__LW_WRITER))
            return 0;
    }
}

static inline int lock_shared(struct shmap__lockarea *a, unsigned slot, int64_t deadline)
{
    struct shmap__lockslot *s = &a->slots[slot];
    __atomic_add_fetch(&s->shared, 1, __ATOMIC_SEQ_CST);
    uint32_t w = __atomic_load_n(&a->word, __ATOMIC_SEQ_CST);
    if (!(w & SHMAP__LW_WRITER))
        return 0;
    return lock_shared_wait(a, s, w, deadline);
}

/* With WRITER taken, wait until no process has a shared hold; the holders are checked a
 * slice after the last check (check_due()), however the sleeps end. */
static WAKE_PATH int drain(struct shmap__lockarea *a, int64_t deadline)
{
    int64_t checked = 0;
    for (;;) {
        uint32_t seq = __atomic_load_n(&a->drain, __ATOMIC_SEQ_CST);
        unsigned n = nslots_of(a);
        bool busy = false;
        for (unsigned i = 0; i < n && !busy; i++)
            busy = __atomic_load_n(&a->slots[i].shared, __ATOMIC_SEQ_CST) != 0;
        if (!busy)
            return 0;
        if (deadline == 0)
            return -EBUSY;
        int64_t slice;
        if (check_due(shmap__mono_ns(), deadline, &checked, &slice)) {
            reap(a, n, true);
            continue;
        }
        if (slice < 0)
            return (int)slice;
        struct shmap__check check = shmap__wait_check_get();
        shmap__futex_wait(&a->drain, seq, slice);
        int rc = check.fn ? shmap__wait_check_ask(check) : 0;
        if (rc < 0)
            return rc;
    }
}

/* Give the word back after a failed drain; DIED, if there, stays for the next locker. */
static void unwind_writer(struct shmap__lockarea *a, uint32_t claim)
{
    /* A quiet holder's mark goes first (`draining` still names the claim meanwhile). */
    drop_claim(&a->quiet, claim);
    /* Only while the word still holds our claim: one taken from us meanwhile (we were
     * thought dead) may be another writer's now. */
    uint32_t w = __atomic_load_n(&a->word, __ATOMIC_RELAXED);
    bool ours;
    while ((ours = claim_of(w) == claim) &&
           !__atomic_compare_exchange_n(&a->word, &w, w & (SHMAP__LW_GEN | SHMAP__LW_DIED),
                                        false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
        ;
    drop_claim(&a->draining, claim);
    if (ours && (w & SHMAP__LW_SLEEP))
        shmap__wake_all(&a->word);
}

/* Does any process hold a shared lock? The scan drain() starts with, made inline for the
 * writer that finds none; its loads follow the writer's CAS, a full barrier, as there. */
static inline bool readers_hold(struct shmap__lockarea *a)
{
    unsigned n = nslots_of(a);
    for (unsigned i = 0; i < n; i++)
        if (__atomic_load_n(&a->slots[i].shared, __ATOMIC_SEQ_CST) != 0)
            return true;
    return false;
}

/* Drained, with DIED in the word we took: clear it, telling the caller through `died`. */
static SLOW int clear_died(struct shmap__lockarea *a, bool *died)
{
    uint32_t w = __atomic_load_n(&a->word, __ATOMIC_SEQ_CST);
    while ((w & SHMAP__LW_DIED) &&
           !__atomic_compare_exchange_n(&a->word, &w, w & ~SHMAP__LW_DIED, false,
                                        __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
        ;
    *died = (w & SHMAP__LW_DIED) != 0;
    return 0;
}

/* Claimed, with readers still holding: wait for them (`w` is the word our CAS replaced). */
static SLOW WAKE_PATH int exclusive_drain(struct shmap__lockarea *a, uint32_t claim,
                                          uint32_t w, int64_t deadline, bool *died)
{
    int rc = drain(a, deadline);
    if (rc < 0) {
        unwind_writer(a, claim);
        return rc;
    }
    /* By CAS: after a long drain, `draining` may name another writer's claim if ours was
     * taken from us meanwhile (the inline path's few nanoseconds are left a store). */
    drop_claim(&a->draining, claim);
    return (w & SHMAP__LW_DIED) && died ? clear_died(a, died) : 0;
}

/*
 * The word is ours (`claim`, by a CAS that replaced `w`): wait for readers to drain. While
 * it drains, the writer's claim is in `draining` and DIED stays in the word: a writer
 * killed now has written nothing, and an earlier writer's death is still the next holder's
 * to hear of. Once drained, the claim leaves `draining` first and DIED second, so a death
 * in between counts as one holding.
 *
 * A holder that writes nothing (shmap__lock_quiet(), `died` NULL) also names its claim in
 * `quiet` before it leaves `draining`, so that its death never counts as a writer's, and
 * leaves DIED in the word: an earlier writer's death stays the next writer's to hear of.
 * Any other writer sets `quiet` to 0.
 */
static inline int exclusive_claimed(struct shmap__lockarea *a, uint32_t claim, uint32_t w,
                                    pid_t me, int64_t deadline, bool *died)
{
    /* Plain stores: only a judge of this process's death reads `draining`, and a death
     * leaves every store made before it visible. */
    __atomic_store_n(&a->draining, claim, __ATOMIC_RELEASE);
    __atomic_store_n(&a->writer_pid, me, __ATOMIC_RELAXED);
    /* 0 for a writer: a value left by a judge that knew nothing of `quiet` (an earlier
     * version) or died before clearing it must not match a later claim of this slot. (A
     * load, most often of 0, is all a writer pays: the line is ours already.) */
    if (!died)
        __atomic_store_n(&a->quiet, claim, __ATOMIC_RELEASE);
    else if (__atomic_load_n(&a->quiet, __ATOMIC_RELAXED))
        __atomic_store_n(&a->quiet, 0, __ATOMIC_RELEASE);
    if (readers_hold(a))
        return exclusive_drain(a, claim, w, deadline, died);
    __atomic_store_n(&a->draining, 0, __ATOMIC_RELEASE);
    /* DIED is set only by writer_gone(), by the same CAS that takes WRITER away, and
     * cleared only by the holder: while the word holds our claim its DIED bit is the one
     * our CAS took over, so without it there is nothing to clear nor to read again. */
    return (w & SHMAP__LW_DIED) && died ? clear_died(a, died) : 0;
}

/* The claim that replaces the word `w` (WRITER clear): the next GEN, our slot, and the
 * word's SLEEP and DIED. */
static inline uint32_t claim_word(uint32_t w, uint32_t claim)
{
    return (w & (SHMAP__LW_SLEEP | SHMAP__LW_DIED)) | claim;
}

static inline uint32_t next_claim(uint32_t w, unsigned slot)
{
    return ((w + SHMAP__LW_GEN_ONE) & SHMAP__LW_GEN) | SHMAP__LW_WRITER | slot;
}

/* Claim the word, waiting while another writer has it; then drain the readers. */
static SLOW WAKE_PATH int lock_exclusive_wait(struct shmap__lockarea *a, unsigned slot,
                                              pid_t me, int64_t deadline, bool *died)
{
    int64_t checked = 0;
    for (;;) {
        uint32_t w = __atomic_load_n(&a->word, __ATOMIC_SEQ_CST);
        if (!(w & SHMAP__LW_WRITER)) {
            uint32_t claim = next_claim(w, slot);
            if (__atomic_compare_exchange_n(&a->word, &w, claim_word(w, claim), false,
                                            __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
                return exclusive_claimed(a, claim, w, me, deadline, died);
            continue;
        }
        if (deadline == 0)
            return -EBUSY;
        int rc = wait_word(a, w, deadline, &checked);
        if (rc < 0)
            return rc;
    }
}

/* lock_exclusive_wait()'s first round, inline: a free word taken at the first CAS. */
static inline int lock_exclusive(struct shmap__lockarea *a, unsigned slot, pid_t me,
                                 int64_t deadline, bool *died)
{
    uint32_t w = __atomic_load_n(&a->word, __ATOMIC_SEQ_CST);
    if (!(w & SHMAP__LW_WRITER)) {
        uint32_t claim = next_claim(w, slot);
        if (__atomic_compare_exchange_n(&a->word, &w, claim_word(w, claim), false,
                                        __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
            return exclusive_claimed(a, claim, w, me, deadline, died);
    }
    return lock_exclusive_wait(a, slot, me, deadline, died);
}

/*
 * A try found the lock busy. It never sleeps, so no slice of its own ends to check the
 * holders: it checks them now, with its claim already given back, and at most once a slice
 * per mapping, as a waiter would (the check reads /proc for each holder, and a loop of tries
 * against live holders must not pay that each time, nor keep a claim that long). True if
 * it checked, to try once more.
 */
static RARE bool try_recovers(struct shmap__map *m, struct shmap__lockarea *a)
{
    int64_t now = shmap__mono_ns();
    int64_t last = __atomic_load_n(&m->try_checked_ns, __ATOMIC_RELAXED);
    if (last && now - last < SLICE_NS)
        return false;
    __atomic_store_n(&m->try_checked_ns, now, __ATOMIC_RELAXED);
    check_writer(a);
    reap(a, nslots_of(a), true);
    return true;
}

/* A try found the lock busy: once more if try_recovers(), else -EBUSY still. */
static RARE int lock_retry(struct shmap__map *m, struct shmap__lockarea *a, unsigned flags,
                           unsigned slot, pid_t me, bool *died)
{
    if (!try_recovers(m, a))
        return -EBUSY;
    return flags == SHMAP_LOCK_SHARED ? lock_shared(a, slot, 0)
                                      : lock_exclusive(a, slot, me, 0, died);
}

/* shmap_lock() refused its arguments or this handle's state: say why. Out of line, with
 * the other ends below, so that the path that takes the lock stays short. */
static RARE int lock_refused(shmap_seg *seg, unsigned flags, double timeout_s)
{
    if (!seg)
        return shmap__err(SHMAP_EINVAL, "shmap_lock: NULL segment");
    if (seg->map->raw)
        return shmap__raw_refuse(seg, "lock");
    const char *who = seg->map->name.name;
    if (flags != SHMAP_LOCK_SHARED && flags != SHMAP_LOCK_EXCLUSIVE)
        return shmap__err(SHMAP_EINVAL, "%s: lock flags 0x%x: give SHARED or EXCLUSIVE", who,
                          flags);
    if (isnan(timeout_s))
        return shmap__err(SHMAP_EINVAL, "%s: lock timeout is not a number", who);
    return shmap__err(-EDEADLK, "%s: this handle already holds a lock", who);
}

/* The lock was not taken (`rc`: -EBUSY, -ETIMEDOUT or the wait check's code). */
static RARE int lock_failed(shmap_seg *seg, unsigned flags, double timeout_s, int rc)
{
    const char *who = seg->map->name.name;
    if (rc == -EBUSY)
        return shmap__err(rc, "%s: the lock is held", who);
    if (rc == -ETIMEDOUT) {
        /* Who holds it, as shmap_delete() and the command say (a try, which may be made in
         * a loop, is spared the look at /proc). */
        char holders[512] = "";
        shmap_lock_holders(seg, holders, sizeof holders);
        return shmap__err(rc, "%s: timed out after %g s waiting for the %s lock: %s", who,
                          timeout_s, flags == SHMAP_LOCK_SHARED ? "shared" : "exclusive",
                          holders);
    }
    return shmap__err(rc, "%s: the wait for the %s lock was stopped by the wait check",
                      who, flags == SHMAP_LOCK_SHARED ? "shared" : "exclusive");
}

/* The lock is ours, from a writer that died holding it. */
static RARE int lock_owner_died(shmap_seg *seg, struct shmap__lockarea *a)
{
    seg->lock_held |= SHMAP__HELD_DIED;
    return shmap__err(SHMAP_EOWNERDEAD, "%s: previous writer (pid %d) died while holding "
                                        "the lock: data may be inconsistent",
                      seg->map->name.name, (int)__atomic_load_n(&a->dead_pid, __ATOMIC_RELAXED));
}

/* shmap_lock(), or with `quiet` shmap__lock_quiet() (exclusive). */
static inline HOT int lock_taking(shmap_seg *seg, unsigned int flags, double timeout_s,
                                  bool quiet)
{
    if (!seg || seg->map->raw || (flags != SHMAP_LOCK_SHARED && flags != SHMAP_LOCK_EXCLUSIVE) ||
        isnan(timeout_s))
        return lock_refused(seg, flags, timeout_s);
    struct shmap__map *m = seg->map;
    pid_t me = shmap__getpid();
    if (seg->lock_held && seg->lock_pid == me)
        return lock_refused(seg, flags, timeout_s);
    int slot = my_slot(m, me);
    if (slot < 0)
        return slot;
    if (!__atomic_load_n(&m->lock_touched, __ATOMIC_RELAXED))
        __atomic_store_n(&m->lock_touched, true, __ATOMIC_RELAXED);
    int64_t deadline = NO_DEADLINE;
    if (timeout_s == 0)
        deadline = 0;
    else if (timeout_s > 0 && timeout_s < 1e9)
        deadline = shmap__mono_ns() + (int64_t)(timeout_s * 1e9);
    struct shmap__lockarea *a = area_of(m);
    bool died = false, *heard = quiet ? NULL : &died;
    int rc = flags == SHMAP_LOCK_SHARED ? lock_shared(a, (unsigned)slot, deadline)
                                        : lock_exclusive(a, (unsigned)slot, me, deadline, heard);
    if (rc == -EBUSY)
        rc = lock_retry(m, a, flags, (unsigned)slot, me, heard);
    if (rc < 0)
        return lock_failed(seg, flags, timeout_s, rc);
    seg->lock_held = flags | (quiet ? SHMAP__HELD_QUIET : 0);
    seg->lock_pid = me;
    if (died)
        return lock_owner_died(seg, a);
    return 0;
}

WAKE_PATH int shmap_lock(shmap_seg *seg, unsigned int flags, double timeout_s)
{
    return lock_taking(seg, flags, timeout_s, false);
}

int shmap__lock_quiet(shmap_seg *seg, double timeout_s)
{
    return lock_taking(seg, SHMAP_LOCK_EXCLUSIVE, timeout_s, true);
}

/* shmap_unlock() found nothing to unlock, or a lock taken from this process. */
static RARE int unlock_refused(shmap_seg *seg, bool taken)
{
    if (!seg)
        return shmap__err(SHMAP_EINVAL, "shmap_unlock: NULL segment");
    if (seg->map->raw)
        return shmap__raw_refuse(seg, "unlock");
    if (taken)
        return shmap__err(SHMAP_EINVAL, "%s: the exclusive lock was taken from this "
                                        "process (it was thought dead)", seg->map->name.name);
    return shmap__err(SHMAP_EINVAL, "%s: this handle holds no lock", seg->map->name.name);
}

/* A quiet holder lets go (the word `w`, ours if it holds `mine`): its mark goes first, so
 * that a death between the two is taken for a writer's rather than missed. The bits of the
 * word to keep: DIED, which a quiet holder leaves for the next writer. */
static RARE uint32_t quiet_release(struct shmap__lockarea *a, uint32_t w, uint32_t mine)
{
    if ((w & (SHMAP__LW_WRITER | SHMAP__LW_SLOT)) == mine)
        drop_claim(&a->quiet, claim_of(w));
    return SHMAP__LW_DIED;
}

/* Release the lock held through @p seg (checked); an exclusive one leaves the word with
 * @p left (DIED or 0) beside its GEN (and, for a quiet holder, the DIED it found). */
static inline HOT int unlock_held(shmap_seg *seg, uint32_t left)
{
    struct shmap__map *m = seg->map;
    struct shmap__lockarea *a = area_of(m);
    unsigned held = seg->lock_held;
    seg->lock_held = 0;
    if (held == SHMAP_LOCK_SHARED) {
        shared_release(a, &a->slots[m->lock_slot]);
        return 0;
    }
    uint32_t mine = SHMAP__LW_WRITER | (uint32_t)m->lock_slot;
    uint32_t w = __atomic_load_n(&a->word, __ATOMIC_RELAXED);
    uint32_t keep = SHMAP__LW_GEN;
    if (held & SHMAP__HELD_QUIET)
        keep |= quiet_release(a, w, mine);
    do {
        if ((w & (SHMAP__LW_WRITER | SHMAP__LW_SLOT)) != mine)
            return unlock_refused(seg, true);
    } while (!__atomic_compare_exchange_n(&a->word, &w, (w & keep) | left, false,
                                          __ATOMIC_SEQ_CST,
                                          __ATOMIC_RELAXED));
    if (w & SHMAP__LW_SLEEP)
        shmap__wake_all(&a->word);
    return 0;
}

WAKE_PATH int shmap_unlock(shmap_seg *seg)
{
    if (!seg || seg->map->raw)
        return unlock_refused(seg, false);
    if (!seg->lock_held || seg->lock_pid != shmap__getpid())
        return unlock_refused(seg, false);
    return unlock_held(seg, 0);
}

int shmap_unlock_inconsistent(shmap_seg *seg)
{
    if (!seg || seg->map->raw || !seg->lock_held || seg->lock_pid != shmap__getpid())
        return unlock_refused(seg, false);
    if (!(seg->lock_held & SHMAP__HELD_DIED))
        return shmap__err(SHMAP_EINVAL, "%s: this handle's lock was not taken from a writer "
                                        "that died (SHMAP_EOWNERDEAD)", seg->map->name.name);
    /* The dead writer's pid is still in `dead_pid`: the next locker is told of it. */
    return unlock_held(seg, SHMAP__LW_DIED);
}

int shmap_unlock_died(shmap_seg *seg, pid_t pid)
{
    if (!seg || seg->map->raw || !seg->lock_held || seg->lock_pid != shmap__getpid())
        return unlock_refused(seg, false);
    const char *who = seg->map->name.name;
    if (!(seg->lock_held & SHMAP_LOCK_EXCLUSIVE))
        return shmap__err(SHMAP_EINVAL, "%s: this handle holds a shared lock: only a writer's "
                                        "death is recorded", who);
    if (pid <= 0)
        return shmap__err(SHMAP_EINVAL, "%s: %d is not a process id", who, (int)pid);
    /* Only while the lock is ours: one taken from us (we were thought dead) is refused by
     * unlock_held(), and its dead_pid is the judge's. */
    struct shmap__lockarea *a = area_of(seg->map);
    uint32_t mine = SHMAP__LW_WRITER | (uint32_t)seg->map->lock_slot;
    if ((__atomic_load_n(&a->word, __ATOMIC_SEQ_CST) & (SHMAP__LW_WRITER | SHMAP__LW_SLOT)) ==
        mine)
        __atomic_store_n(&a->dead_pid, pid, __ATOMIC_RELAXED);
    return unlock_held(seg, SHMAP__LW_DIED);
}

void shmap__lock_drop(shmap_seg *seg)
{
    if (seg->lock_held && seg->lock_pid == shmap__getpid())
        shmap_unlock(seg);
}

/*
 * What the lock and attach area says, read without writing it: shmap_attached() and
 * shmap_lock_info() read a mapping, the listing a copy of the header made with pread (so
 * the copy is never reclaimed from; nobody else would see it). The word is read first and
 * the slots after it, as a waiter would. Liveness is judged only where it is asked for
 * (counting needs the pids alone, the lock state the writer's slot alone), since each
 * judgement may read /proc.
 */
int shmap__lock_read(struct shmap__lockarea *a, shmap_lockinfo *li, shmap_attacher *out,
                     size_t cap, unsigned *live, struct shmap__alive_cache *cache)
{
    uint32_t w = __atomic_load_n(&a->word, __ATOMIC_ACQUIRE);
    unsigned n = nslots_of(a), wslot = w & SHMAP__LW_SLOT;
    bool writer = (w & SHMAP__LW_WRITER) && wslot < SHMAP__LOCK_SLOTS;
    bool writer_seen = false, writer_alive = false;
    int32_t writer_pid = 0;
    unsigned shared = 0, nlive = 0;
    int count = 0;
    /* The live processes counted: one process has a slot per way it maps the segment
     * (read-write, read-only and locking, private), and counts once. */
    struct process {
        int32_t pid;
        uint64_t start;
    } seen[SHMAP__LOCK_SLOTS];
    for (unsigned i = 0; i < n; i++) {
        struct shmap__lockslot *s = &a->slots[i];
        shared += __atomic_load_n(&s->shared, __ATOMIC_RELAXED);
        bool is_writer = writer && i == wslot, alive = false;
        int32_t pid = __atomic_load_n(&s->pid, __ATOMIC_ACQUIRE);
        if (is_writer || live || (size_t)count < cap)
            alive = slot_alive_cached(s, &pid, cache, false);
        if (is_writer) {
            writer_seen = true;
            writer_alive = alive;
            writer_pid = pid;
        }
        if (pid <= 0)
            continue;
        uint64_t start = __atomic_load_n(&s->start, __ATOMIC_RELAXED);
        bool again = !live || !alive;
        for (unsigned j = 0; j < nlive && !again; j++)
            again = seen[j].pid == pid && seen[j].start == start;
        if (!again)
            seen[nlive++] = (struct process){pid, start};
        if ((size_t)count < cap) {
            shmap_attacher *o = &out[count];
            memset(o, 0, sizeof *o); /* padding too: callers may compare or copy bytes */
            o->pid = pid;
            o->start = start;
            o->shared = __atomic_load_n(&s->shared, __ATOMIC_RELAXED);
            o->writer = is_writer;
            o->alive = alive;
            o->writable = (__atomic_load_n(&s->flags, __ATOMIC_RELAXED) & SHMAP__SLOT_RDWR) != 0;
            o->other_pidns = slot_foreign(s);
        }
        count++;
    }
    if (li) {
        memset(li, 0, sizeof *li);
        li->shared = shared;
        if (writer) {
            if (!writer_seen)
                writer_alive = slot_alive_cached(&a->slots[wslot], &writer_pid, cache, false);
            li->writer_alive = writer_alive;
            li->writer = writer_pid > 0 ? writer_pid : 0;
            li->writer_waiting = writer_draining(a, w);
            li->writer_other_pidns = writer_pid > 0 && slot_foreign(&a->slots[wslot]);
        }
        /* A draining writer waits too, on another word than the sleepers'. */
        li->waiters = (w & SHMAP__LW_SLEEP) != 0 || li->writer_waiting;
        li->owner_died = (w & SHMAP__LW_DIED) != 0;
        li->dead_pid = __atomic_load_n(&a->dead_pid, __ATOMIC_RELAXED);
    }
    if (live)
        *live = nlive;
    return count;
}

int shmap_attached(const shmap_seg *seg, shmap_attacher *out, size_t cap)
{
    if (!seg || (!out && cap))
        return shmap__err(SHMAP_EINVAL, "shmap_attached: NULL argument");
    if (seg->map->raw)
        return shmap__raw_refuse(seg, "attached");
    return shmap__lock_read(area_rd(seg->map), NULL, out, cap, NULL, NULL);
}

int shmap_attached_alloc(const shmap_seg *seg, shmap_attacher **out)
{
    if (!seg || !out)
        return shmap__err(SHMAP_EINVAL, "shmap_attached_alloc: NULL argument");
    *out = NULL;
    if (seg->map->raw)
        return shmap__raw_refuse(seg, "attached");
    /* Room for every slot: the table cannot outgrow it between counting and copying. */
    shmap_attacher *att = malloc(SHMAP__LOCK_SLOTS * sizeof *att);
    if (!att)
        return shmap__err(-ENOMEM, "%s: out of memory", seg->map->name.name);
    int n = shmap_attached(seg, att, SHMAP__LOCK_SLOTS);
    if (n > 0)
        *out = att;
    else
        free(att);
    return n;
}

int shmap_mapped_by(const shmap_seg *seg, shmap_mapper **out, int *unseen)
{
    int ignored;
    if (!unseen)
        unseen = &ignored;
    *unseen = 0;
    if (!seg || !out)
        return shmap__err(SHMAP_EINVAL, "shmap_mapped_by: NULL argument");
    *out = NULL;
    const struct shmap__map *m = seg->map;
    struct stat st = {.st_dev = m->dev, .st_ino = m->ino};
    st.st_mode = __atomic_load_n(&m->mode, __ATOMIC_RELAXED);
    st.st_uid = __atomic_load_n(&m->uid, __ATOMIC_RELAXED);
    st.st_gid = __atomic_load_n(&m->gid, __ATOMIC_RELAXED);
    shmap_mapper *list;
    int n = shmap__mappers_scan(&st, m->name.store == SHMAP_STORE_SYSV, shmap__getpid(), &list,
                                unseen);
    if (n < 0)
        return shmap__err(n, "%s: cannot read /proc: %s%s", m->name.name, strerror(-n),
                          shmap__fd_hint(-n));
    shmap_attacher att[SHMAP__LOCK_SLOTS];
    int natt = m->raw ? 0 : shmap_attached(seg, att, SHMAP__LOCK_SLOTS);
    int kept = 0;
    for (int i = 0; i < n; i++) {
        bool listed = false;
        for (int j = 0; j < natt && !listed; j++)
            listed = att[j].pid == list[i].pid && (!att[j].start || att[j].start == list[i].start);
        if (!listed)
            list[kept++] = list[i];
    }
    if (kept)
        *out = list;
    else
        free(list);
    return kept;
}

int shmap_lock_info(const shmap_seg *seg, shmap_lockinfo *out)
{
    if (!seg || !out)
        return shmap__err(SHMAP_EINVAL, "shmap_lock_info: NULL argument");
    if (seg->map->raw)
        return shmap__raw_refuse(seg, "lock info");
    shmap__lock_read(area_rd(seg->map), out, NULL, 0, NULL, NULL);
    return 0;
}

/*
 * For shmap_gc(): count the slots of live and of dead processes in a lock area (a mapping,
 * or a copy read with pread), reclaiming the dead ones' slots when `clear` is set (the
 * area must then be a writable mapping). Same liveness rules as the lock waiters.
 */
void shmap__lock_scan(struct shmap__lockarea *a, bool clear, unsigned *live, unsigned *stale)
{
    unsigned n = nslots_of(a);
    *live = *stale = 0;
    for (unsigned i = 0; i < n; i++) {
        struct shmap__lockslot *s = &a->slots[i];
        int32_t pid;
        if (__atomic_load_n(&s->pid, __ATOMIC_RELAXED) == 0)
            continue;
        if (slot_alive_cached(s, &pid, NULL, clear) || pid == 0) {
            /* A slot that a live process is reclaiming right now is not ours to count. */
            if (pid > 0)
                ++*live;
            continue;
        }
        ++*stale;
        if (clear)
            reclaim(a, i, pid);
    }
}

/* What a holder in another pid namespace gets in a message: why nobody recovers it. */
#define OTHER_PIDNS " (in another pid namespace, so it cannot be checked: if that process is " \
                    "gone, delete with force)"

/*
 * Is attacher `i` a live shared holder not listed before it? A process with two mappings of
 * a segment (read-write and read-only) has a slot for each: it is one holder all the same.
 */
static bool shared_holder_first(const shmap_attacher *att, int i)
{
    if (!att[i].shared || !att[i].alive)
        return false;
    for (int j = 0; j < i; j++)
        if (att[j].shared && att[j].alive && att[j].pid == att[i].pid &&
            att[j].start == att[i].start && att[j].other_pidns == att[i].other_pidns)
            return false;
    return true;
}

int shmap_lock_holders(const shmap_seg *seg, char *buf, size_t size)
{
    if (!seg || !buf || size == 0)
        return shmap__err(SHMAP_EINVAL, "shmap_lock_holders: NULL or empty argument");
    if (seg->map->raw)
        return shmap__raw_refuse(seg, "shmap_lock_holders");
    shmap_attacher att[SHMAP__LOCK_SLOTS];
    shmap_lockinfo li;
    int n = shmap_attached(seg, att, SHMAP__LOCK_SLOTS);
    size_t len = 0;
    buf[0] = '\0';
    /* A caller whose own wait failed has withdrawn its claim: a writer that is this process
     * holds the lock through another handle. */
    bool writer_me = false;
    for (int i = 0; i < n && i < (int)SHMAP__LOCK_SLOTS; i++)
        writer_me |= att[i].writer && shmap__attacher_is_me(&att[i]);
    if (shmap_lock_info(seg, &li) == 0 && li.writer > 0)
        len += (size_t)snprintf(buf, size, "the exclusive lock is %s pid %d%s%s%s",
                                li.writer_waiting ? "being taken (waiting for readers) by"
                                                  : "held by",
                                (int)li.writer,
                                writer_me ? " (this process, through another handle)" : "",
                                li.writer_alive ? "" : " (dead)",
                                li.writer_other_pidns ? OTHER_PIDNS : "");
    /* Counted first, so one holder reads "shared hold by pid N". */
    unsigned shared = 0, nshared = 0;
    for (int i = 0; i < n && i < (int)SHMAP__LOCK_SLOTS; i++)
        nshared += shared_holder_first(att, i);
    for (int i = 0; i < n && i < (int)SHMAP__LOCK_SLOTS && len < size; i++) {
        if (!shared_holder_first(att, i))
            continue;
        const char *lead = shared ? ", "
                                  : shmap__plural(nshared, "shared hold by pid ",
                                                  "shared holds by pids ");
        len += (size_t)snprintf(buf + len, size - len, "%s%s%d%s%s",
                                !shared && len ? "; " : "", lead, (int)att[i].pid,
                                shmap__attacher_is_me(&att[i]) ? " (this process)" : "",
                                att[i].other_pidns ? OTHER_PIDNS : "");
        shared++;
    }
    if (!buf[0])
        snprintf(buf, size, "a lock holder that has just let go");
    return 0;
}
