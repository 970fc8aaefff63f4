/*
 * shmap_gc(): what dead processes left behind in the POSIX and System V stores, and in a
 * directory of files when the prefix names one ("file:/DIR/...", gc_files()).
 *
 * Design note. Four kinds of leftovers, each judged with the liveness rules of the lock
 * waiters (pid plus start time, zombies dead, other pid namespaces alive):
 *
 *   transient segments  removed when the creator recorded in the header is dead, no live
 *                       process has an attach slot, and no process maps it (read-only
 *                       attachers stay out of the attach table): for POSIX objects /proc
 *                       tells, for System V segments the kernel's attach count, which also
 *                       sees processes of other pid namespaces. /proc does not show a user
 *                       other than root the maps of other users' processes; a segment one
 *                       of those could have opened is kept, and reported as a removal that
 *                       was not done (-EBUSY, the detail naming the process), so whoever
 *                       runs gc learns why and what to do;
 *   attach slots        of dead processes, in any described segment we can write: cleared
 *                       through a read-write mapping of the header page, by the same CAS
 *                       protocol the lock waiters use, so a concurrent locker is safe;
 *   hidden objects      ".shmap-tmp-PID-N-NAME", creations whose process died before
 *                       renaming them into place: removed when PID is dead (the start time
 *                       in the header, when it was written, guards against a reused pid);
 *                       a prefix takes those of the names it takes;
 *   unfinished System V segments
 *                       whose header still says INIT: System V has no hidden names, so
 *                       these are its creations whose process died; removed when the
 *                       creator is dead and the kernel counts no attach.
 *
 * Headers are read into a copy (pread, or a moment's read-only shmat for System V) and
 * checked like any other untrusted header before anything in them is believed. A name is
 * removed only while it still names the object that was judged: shmap__posix_remove_same
 * compares device and inode; a System V id is re-read with IPC_STAT and must still have
 * the key, creator pid and creation time it had, and no attach, just before IPC_RMID.
 *
 * A process may open a transient segment in the instant between gc's judgement and its
 * removal. So gc first marks the segment, writing its pid to `gc_pid` in the header, then
 * judges it again on a fresh copy and looks for users, removes it if there are none, and
 * clears the mark, having set `removed` first when it removed it. An opener maps the object
 * before it reads the header (segment.c): if gc looked for users before that mapping
 * existed, it had marked the segment before, and the opener's copy shows the mark, or
 * `removed` when the opener comes to read only after gc is done. The opener then waits for
 * the mark to go (shmap__gc_wait), GC_WAIT_NS at most, and starts again from the name if
 * the object lost it; so a gc acts only on a mark of its own under GC_TRUST_NS old.
 *
 * The mark's owner is judged by pid and start time like a lock holder, so a gc killed
 * half-way holds nobody up; one of another pid namespace, by the mark's age (gc_ns); a
 * claim in progress (negative), by not staying unchanged over GC_CLAIM_NS. Marking takes
 * write access; a gc that cannot write the segment removes it as before, unmarked. What
 * is left uncovered: a gc stopped for seconds between its last look at its mark and its
 * removal, and openers that give up waiting, which they do only after GC_WAIT_NS.
 *
 * An object gc cannot open, read or map is passed by, as it was before gc looked: that is
 * the object's affair (another user's, gone meanwhile, not a segment). Running out of
 * descriptors or memory is this process's (list.c, "failures of this process"): every
 * object after it would be passed by alike, and gc would report nothing to do with
 * leftovers in place, or keep a segment for a /proc it could not read. So gc stops there,
 * and returns that failure with a detail naming the cause (gc_failed()). One exception, as
 * in the listing: a System V segment (attached whole) larger than this process's
 * address-space limit itself is that segment's affair: kept, with an event saying why.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "store.h"

#define TMP_PREFIX ".shmap-tmp-"

struct gc {
    unsigned flags;
    shmap_gc_cb cb;
    void *ctx;
    const char *prefix;
    size_t plen;
    const char *dir;          /* a directory of files ("file:/DIR/"), or NULL: /dev/shm */
    const char *listing;      /* the path of the directory being walked, for messages */
    char who[SHMAP_NAME_MAX]; /* the name of the object at hand, as events name it */
    bool dir_known;           /* dir_st and dir_writable describe that directory */
    bool dir_writable;        /* this process may write and search it */
    struct stat dir_st;
};

/*
 * A step on the entry `name` of the directory being walked that failed with errno `e` (0:
 * none was set): 0 when that is the object's affair, which gc passes by, or the failure of
 * this process that ends the gc, "too many open files: cannot open /dev/shm/NAME (...)".
 */
static int gc_failed(struct gc *g, int e, const char *what, const char *name)
{
    if (!shmap__process_failure(-e))
        return 0;
    return shmap__process_error(-e, "cannot %s %s/%s", what,
                                strcmp(g->listing, "/") == 0 ? "" : g->listing, name);
}

/* The same for a System V segment, attached whole: its size tells what did not fit. */
static int gc_sysv_failed(int e, const char *what, const char *name, uint64_t size)
{
    if (!shmap__process_failure(-e))
        return 0;
    return shmap__process_error(-e, "cannot %s %s (%llu bytes)", what, name,
                                (unsigned long long)size);
}

static int report(struct gc *g, shmap_gc_action action, const char *name, pid_t pid,
                  unsigned slots, uint64_t size, int status);

/*
 * A System V segment that could not be attached (errno `e`). One larger than this
 * process's address-space limit itself is its own affair, as the listing takes it: kept,
 * said in an event (a look at the segment, CLEARED_SLOTS, that could not be made), and gc
 * goes on. Else as gc_sysv_failed() says.
 */
static int gc_sysv_unattached(struct gc *g, int e, const char *name, uint64_t size)
{
    if (e == ENOMEM && shmap__past_as_limit(size))
        return report(g, SHMAP_GC_CLEARED_SLOTS, name, 0, 0, size,
                      shmap__err(-ENOMEM, "%s: kept: cannot attach its %llu bytes to look at "
                                          "it%s; run gc where the limit allows it", name,
                                 (unsigned long long)size, shmap__as_hint(size)));
    return gc_sysv_failed(e, "attach", name, size);
}

/* The name events and details give the entry `name` of the directory at hand: the entry
 * itself in /dev/shm (a POSIX segment's name), "file:/DIR/NAME" for a file. */
static const char *who_of(struct gc *g, const char *name)
{
    if (!g->dir)
        return name;
    snprintf(g->who, sizeof g->who, "%s%s", g->dir, name);
    return g->who;
}

static int report(struct gc *g, shmap_gc_action action, const char *name, pid_t pid,
                  unsigned slots, uint64_t size, int status)
{
    if (!g->cb)
        return 0;
    shmap_gc_event ev;
    memset(&ev, 0, sizeof ev);
    ev.action = action;
    snprintf(ev.name, sizeof ev.name, "%s", who_of(g, name));
    ev.pid = pid;
    ev.slots = slots;
    ev.size = size;
    ev.dry_run = (g->flags & SHMAP_GC_DRY_RUN) != 0;
    ev.status = status;
    return g->cb(&ev, g->ctx);
}

/*
 * A leftover this user may not remove (another user's, in a sticky directory such as
 * /dev/shm, or in a directory it may not write) is kept, and said to be, in a dry run as
 * in a real one: the refusal the removal would meet (-EPERM, -EACCES), with a detail
 * "NAME: kept: ..." saying who may remove it, as kept_unseen() says why a segment may be in
 * use. 0 when this user may remove it, or when that cannot be told (the removal then says
 * what is wrong).
 */
static int not_ours_to_remove(struct gc *g, const char *name, const struct stat *st)
{
    if (!g->dir_known)
        return 0;
    int rc = shmap__may_unlink(&g->dir_st, g->dir_writable, st);
    if (rc == -EACCES)
        return shmap__err(-EACCES, "%s: kept: this user may not write %s, where it is; run gc "
                                  "as root or as a user who may", who_of(g, name), g->listing);
    if (rc < 0)
        return shmap__err(rc, "%s: kept: it belongs to uid %u, and only its owner or root "
                                  "may remove it from %s, a sticky directory; run gc as root "
                                  "or as uid %u", who_of(g, name), (unsigned)st->st_uid,
                          g->listing, (unsigned)st->st_uid);
    return 0;
}

/* The same for a System V segment, which its owner, its creator or root may remove. */
static int sysv_not_ours_to_remove(const struct shmid_ds *ds, const char *name)
{
    uid_t uid = ds->shm_perm.uid, cuid = ds->shm_perm.cuid;
    if (shmap__may_rmid(uid, cuid) == 0)
        return 0;
    char may[SHMAP__WHO_MAY_MAX], run[64] = "one of them";
    if (uid == cuid)
        snprintf(run, sizeof run, "root or as uid %u", (unsigned)uid);
    return shmap__err(-EPERM, "%s: kept: only %s may remove it; run gc as %s", name,
                      shmap__who_may(may, sizeof may, uid, true, cuid), run);
}

/* Is the creator recorded in a checked header copy gone? A creator that recorded itself in
 * slot 0 from another pid namespace cannot be judged from here: it counts as alive. */
static bool creator_gone(const struct shmap__header *h)
{
    return shmap__creator_state(h, sizeof *h) == SHMAP__CREATOR_DEAD;
}

/*
 * The status of a transient segment kept because processes whose maps this user cannot
 * read may map it: -EBUSY, with a detail that names one of them and says what would
 * decide. "NAME: kept: " starts it, which `shmap gc` relies on to print the rest.
 */
static int kept_unseen(const char *name, const struct shmap__unseen *u)
{
    if (!u->pid)
        return shmap__err(-EBUSY,
                          "%s: kept: %s, so the processes that may map it cannot be seen; "
                          "run gc as root",
                          name, u->reason);
    char who[64], fix[64];
    if (u->uid == (uid_t)-1)
        snprintf(who, sizeof who, "pid %d (uid unknown)", (int)u->pid);
    else
        snprintf(who, sizeof who, "pid %d (uid %u)", (int)u->pid, (unsigned)u->uid);
    /* Root that cannot read them lacks CAP_SYS_PTRACE (a container, often). The same
     * user could read them only if they were dumpable: then root must. */
    if (geteuid() == 0)
        snprintf(fix, sizeof fix, "gc needs CAP_SYS_PTRACE to read them");
    else if (u->one_uid && u->uid != 0 && u->uid != (uid_t)-1 && u->uid != geteuid())
        snprintf(fix, sizeof fix, "run gc as root or as uid %u", (unsigned)u->uid);
    else
        snprintf(fix, sizeof fix, "run gc as root");
    if (u->others)
        return shmap__err(-EBUSY,
                          "%s: kept: %s and %u other %s may map it and this user cannot read "
                          "their mappings; %s",
                          name, who, u->others, u->others == 1 ? "process" : "processes", fix);
    return shmap__err(-EBUSY,
                      "%s: kept: %s may map it and this user cannot read its mappings; %s",
                      name, who, fix);
}

/* How long an opener waits for a gc's verdict at most, and how old a mark of another pid
 * namespace may be before nobody heeds it: such a gc cannot be judged by its pid, and one
 * stopped or killed there should not hold opens up for good. */
#define GC_WAIT_NS 2000000000ll
/* How old its mark may be when a gc removes the segment: well inside GC_WAIT_NS, so that no
 * opener has stopped heeding it by then (a gc takes milliseconds). */
#define GC_TRUST_NS 1000000000ll

static int64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A mark being written (gc_pid negative) lasts a few stores: one seen unchanged this long
 * was left by a gc that died, or froze, in the middle of them. */
#define GC_CLAIM_NS 10000000ll

/*
 * Is the gc whose complete mark (`pid` > 0) is in the live header `live` still at work? By
 * pid and start time, as a lock holder is judged, in this pid namespace; one of another
 * namespace, whose pid means nothing here, is heeded while its mark is under GC_WAIT_NS
 * old (and not dated as far ahead: a clock stepped back must not stretch it). This
 * process's own mark is another thread's gc: alive (one left by an earlier process that
 * had our pid has another start time: dead).
 */
static bool gc_alive(const struct shmap__header *live, int32_t pid)
{
    uint32_t ns = __atomic_load_n(&live->gc_pidns, __ATOMIC_RELAXED);
    if (ns && shmap__self_pidns() && ns != shmap__self_pidns()) {
        int64_t age = realtime_ns() - __atomic_load_n(&live->gc_ns, __ATOMIC_RELAXED);
        return age > -GC_WAIT_NS && age < GC_WAIT_NS;
    }
    uint64_t start = __atomic_load_n(&live->gc_start, __ATOMIC_RELAXED);
    if (pid == shmap__getpid() && (start == 0 || start == shmap__self_start()))
        return true;
    return shmap__proc_alive(pid, start);
}

/*
 * The mark `pid` as read, once a claim in progress (negative) has settled: the value it
 * moved on to, or the claim itself with `*stale` set when it stayed unchanged GC_CLAIM_NS
 * (its gc died or froze half-way).
 */
static int32_t settled_mark(const struct shmap__header *live, int32_t pid, bool *stale)
{
    *stale = false;
    int64_t t0 = shmap__mono_ns();
    while (pid < 0) {
        if (shmap__mono_ns() - t0 >= GC_CLAIM_NS) {
            *stale = true;
            return pid;
        }
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
        int32_t now = __atomic_load_n(&live->gc_pid, __ATOMIC_ACQUIRE);
        if (now != pid) {
            pid = now;
            t0 = shmap__mono_ns();
        }
    }
    return pid;
}

void shmap__gc_wait(struct shmap__header *live, bool writable)
{
    int64_t t0 = shmap__mono_ns();
    for (;;) {
        bool stale;
        int32_t pid = settled_mark(live, __atomic_load_n(&live->gc_pid, __ATOMIC_ACQUIRE),
                                   &stale);
        if (pid == 0)
            return;
        if (stale || !gc_alive(live, pid)) {
            /* A mark nobody heeds: cleared when we may, so later opens need not look. */
            if (writable)
                __atomic_compare_exchange_n(&live->gc_pid, &pid, 0, false, __ATOMIC_SEQ_CST,
                                            __ATOMIC_RELAXED);
            return;
        }
        if (shmap__mono_ns() - t0 >= GC_WAIT_NS)
            return;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
}

/*
 * Mark a segment through a read-write mapping of its header: false when another gc at
 * work holds the mark (it decides). The pid is claimed first, negative, by compare-and-swap,
 * so that only the winner writes the rest; the positive pid then publishes it whole.
 * `*since` gets the time of the mark on this process's monotonic clock.
 */
static bool gc_mark(struct shmap__header *live, int64_t *since)
{
    bool stale;
    int32_t cur = settled_mark(live, __atomic_load_n(&live->gc_pid, __ATOMIC_ACQUIRE), &stale);
    if (cur > 0 && !stale && gc_alive(live, cur))
        return false;
    int32_t me = shmap__getpid();
    if (!__atomic_compare_exchange_n(&live->gc_pid, &cur, -me, false, __ATOMIC_SEQ_CST,
                                     __ATOMIC_RELAXED))
        return false;
    *since = shmap__mono_ns();
    __atomic_store_n(&live->gc_pidns, shmap__self_pidns(), __ATOMIC_RELAXED);
    __atomic_store_n(&live->gc_start, shmap__self_start(), __ATOMIC_RELAXED);
    __atomic_store_n(&live->gc_ns, realtime_ns(), __ATOMIC_RELAXED);
    __atomic_store_n(&live->gc_pid, me, __ATOMIC_SEQ_CST);
    return true;
}

/*
 * Is our mark, made at `since`, still ours, and young enough to act on? An opener waits
 * GC_WAIT_NS at most from when it began to, which is after the mark: a gc that acts within
 * GC_TRUST_NS of its mark acts while every opener still heeds it.
 */
static bool gc_mark_holds(const struct shmap__header *live, int64_t since)
{
    return __atomic_load_n(&live->gc_pid, __ATOMIC_SEQ_CST) == shmap__getpid() &&
           shmap__mono_ns() - since < GC_TRUST_NS;
}

/* Clear our mark; `removed`: the name is gone, which `removed` in the header says first, for
 * an opener that reached the object before and reads its header only now. */
static void gc_unmark(struct shmap__header *live, bool removed)
{
    if (removed)
        shmap__notify_removed(live);
    int32_t me = shmap__getpid();
    __atomic_compare_exchange_n(&live->gc_pid, &me, 0, false, __ATOMIC_SEQ_CST,
                                __ATOMIC_RELAXED);
}

/* Remove /dev/shm/<name> (or a file: `dfd` is its directory) if it is still the object
 * judged: see shmap__posix_remove_same(). */
static int remove_object(struct gc *g, int dfd, const char *name, const struct stat *st)
{
    return shmap__posix_remove_same(dfd, name, st->st_dev, st->st_ino, who_of(g, name));
}

/*
 * Is the hidden object `name` (".shmap-tmp-PID-N-NAME") in the scope of `prefix`: named
 * by it (".shmap-tmp-PID-" scopes one process's), or made for a NAME that starts with it?
 * A NAME cut to its first SHMAP__TMP_NAME_KEPT bytes is taken for any name it starts.
 * Objects of versions before 0.4.1, ".shmap-tmp-PID-N", have no NAME.
 */
static bool tmp_matches(const char *name, const char *prefix, size_t plen)
{
    if (strncmp(name, prefix, plen) == 0)
        return true;
    const char *p = name + strlen(TMP_PREFIX);
    p += strspn(p, "0123456789");
    if (*p++ != '-')
        return false;
    p += strspn(p, "0123456789");
    if (*p++ != '-')
        return false;
    size_t len = strlen(p);
    if (len >= plen)
        return strncmp(p, prefix, plen) == 0;
    return len == SHMAP__TMP_NAME_KEPT && strncmp(p, prefix, len) == 0;
}

/* A hidden object of a creation: ".shmap-tmp-PID-N-NAME". */
static int gc_tmp(struct gc *g, int dfd, const char *name)
{
    char *end;
    long pid = strtol(name + strlen(TMP_PREFIX), &end, 10);
    if (pid <= 0 || pid > INT32_MAX || *end != '-')
        return 0;
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return gc_failed(g, errno, "open", name);
    int e = fstat(fd, &st) < 0 ? errno : 0;
    if (e || !S_ISREG(st.st_mode)) {
        close(fd);
        return gc_failed(g, e, "stat", name);
    }
    /* The header, if the creator got as far as writing it, holds its start time and, in
     * slot 0 of the attach table, its pid namespace. */
    struct shmap__header h;
    uint64_t start = 0;
    ssize_t got = pread(fd, &h, sizeof h, 0);
    e = got < 0 ? errno : 0;
    close(fd);
    if (shmap__process_failure(-e))
        return gc_failed(g, e, "read", name);
    if (got == (ssize_t)sizeof h && h.creator_pid == (int32_t)pid) {
        const struct shmap__lockarea *a =
            (const struct shmap__lockarea *)((const char *)&h + SHMAP__LOCK_OFFSET);
        if (a->slots[0].pid == (int32_t)pid && a->slots[0].pidns && shmap__self_pidns() &&
            a->slots[0].pidns != shmap__self_pidns())
            return 0; /* made in another pid namespace: cannot be judged from here */
        start = h.creator_start;
    }
    if ((pid_t)pid == shmap__getpid() || shmap__proc_alive((pid_t)pid, start))
        return 0;
    int rc = not_ours_to_remove(g, name, &st);
    if (!rc && !(g->flags & SHMAP_GC_DRY_RUN) && (rc = remove_object(g, dfd, name, &st)) == 1)
        return 0; /* gone already */
    return report(g, SHMAP_GC_REMOVED_TMP, name, (pid_t)pid, 0, (uint64_t)st.st_size, rc);
}

/* Is a checked header copy that of a transient segment nobody holds a slot in, and whose
 * creator is gone? `stale` gets the number of dead processes' slots. */
static bool unused_transient(struct shmap__header *h, unsigned *stale)
{
    unsigned nlive;
    shmap__lock_scan((struct shmap__lockarea *)((char *)h + SHMAP__LOCK_OFFSET), false, &nlive,
                     stale);
    return shmap__transient(h, h) && nlive == 0 && creator_gone(h);
}

/* The length to map the header page with: a whole huge page on hugetlbfs (its block size),
 * where a shorter map is rounded up and could not be unmapped with its own length. */
static size_t header_map_len(const struct stat *st)
{
    return st->st_blksize > (blksize_t)SHMAP__HEADER_SIZE ? (size_t)st->st_blksize
                                                          : SHMAP__HEADER_SIZE;
}

/*
 * A transient segment that the copy `h0`, read through `fd` (read-only; closed here), shows
 * unused: marked when this user may write it, judged again on a fresh copy once marked, and
 * removed when nobody maps it either. `*done`: nothing more to do with it (it was removed, or
 * would be in a dry run, or another gc is judging it); else its stale slots are the
 * caller's to clear. The return is the report's answer, or a kept segment's when it is only
 * maybe used.
 */
static int gc_transient(struct gc *g, int dfd, const char *name, int fd, const struct stat *st,
                        const struct shmap__header *h0, bool *done)
{
    bool dry = g->flags & SHMAP_GC_DRY_RUN;
    *done = false;
    int wfd = dry ? -1 : openat(dfd, name, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    /* Not writable, it is removed unmarked: only when this user may not write it. */
    int fatal = wfd < 0 && !dry ? gc_failed(g, errno, "open", name) : 0;
    struct stat now;
    if (wfd >= 0 &&
        (fstat(wfd, &now) < 0 || now.st_dev != st->st_dev || now.st_ino != st->st_ino)) {
        close(wfd);
        wfd = -1;
    }
    size_t maplen = header_map_len(st);
    void *live = wfd < 0 ? MAP_FAILED
                         : mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_SHARED, wfd, 0);
    if (wfd >= 0 && live == MAP_FAILED)
        fatal = gc_failed(g, errno, "map", name);
    if (fatal) {
        if (wfd >= 0)
            close(wfd);
        close(fd);
        return fatal;
    }
    int64_t since = 0;
    bool marked = live != MAP_FAILED && gc_mark(live, &since);
    if (live != MAP_FAILED)
        munmap(live, maplen);
    if (live != MAP_FAILED && !marked) { /* another gc at work decides, slots too */
        close(wfd);
        close(fd);
        *done = true;
        return 0;
    }
    /* Our only descriptor from here, for the lease and the search of /proc. */
    if (marked) {
        close(fd);
        fd = wfd;
    } else if (wfd >= 0) {
        close(wfd);
    }
    /* Marked, the judgement is made again on what the header says now. */
    struct shmap__header h = *h0;
    unsigned stale = 0;
    struct shmap__unseen unseen;
    enum shmap__mapped m = SHMAP__MAPPED;
    if ((!marked || (pread(fd, &h, sizeof h, 0) == (ssize_t)sizeof h &&
                     shmap__header_check(&h, sizeof h, (uint64_t)st->st_size, name) == 0)) &&
        unused_transient(&h, &stale))
        m = shmap__mapped_by_any(fd, st, &unseen);
    /* /proc could not be searched for want of descriptors or memory: kept, and gc stops. */
    if (m == SHMAP__MAYBE_MAPPED && unseen.error) {
        fatal = gc_failed(g, -unseen.error, "search /proc for the users of", name);
        m = SHMAP__MAPPED;
    }
    /* A file (gc given a directory) on a file system that does not show its users is
     * kept, however unused it looks. */
    char hidden[160] = "";
    if (g->dir && m == SHMAP__NOT_MAPPED && !shmap__users_visible(fd, hidden, sizeof hidden))
        m = SHMAP__MAYBE_MAPPED;
    /* Our mark again (unmapped while /proc was searched, where our mapping would count as a
     * user): it must still be ours, and young enough that openers still heed it. */
    if (marked) {
        live = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (live == MAP_FAILED && !fatal)
            fatal = gc_failed(g, errno, "map", name);
        if (m == SHMAP__NOT_MAPPED && (live == MAP_FAILED || !gc_mark_holds(live, since)))
            m = SHMAP__MAPPED; /* kept: the next gc judges it */
    }
    int status = 0;
    if (m == SHMAP__NOT_MAPPED && !dry && (status = remove_object(g, dfd, name, st)) == 1)
        m = SHMAP__MAPPED; /* gone already, by another's hand: not ours to report */
    if (marked && live != MAP_FAILED) {
        gc_unmark(live, m == SHMAP__NOT_MAPPED && status == 0);
        munmap(live, maplen);
    }
    close(fd);
    if (fatal)
        return fatal;
    if (m == SHMAP__NOT_MAPPED) {
        *done = true;
        return report(g, SHMAP_GC_REMOVED_TRANSIENT, name, h.creator_pid, stale,
                      (uint64_t)st->st_size, status);
    }
    /* Kept: said when it is only a maybe. */
    if (m == SHMAP__MAYBE_MAPPED && hidden[0])
        return report(g, SHMAP_GC_REMOVED_TRANSIENT, name, h.creator_pid, 0,
                      (uint64_t)st->st_size,
                      shmap__err(-EBUSY, "%s: kept: %s; remove it with shmap rm if nobody "
                                         "uses it",
                                 who_of(g, name), hidden));
    if (m == SHMAP__MAYBE_MAPPED)
        return report(g, SHMAP_GC_REMOVED_TRANSIENT, name, h.creator_pid, 0,
                      (uint64_t)st->st_size, kept_unseen(who_of(g, name), &unseen));
    return 0;
}

/* A visible object: a described segment, or something we leave alone. */
static int gc_segment(struct gc *g, int dfd, const char *name)
{
    bool dry = g->flags & SHMAP_GC_DRY_RUN;
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return gc_failed(g, errno, "open", name);
    struct stat st;
    struct shmap__header h;
    ssize_t got = -1;
    int e = fstat(fd, &st) < 0 ? errno : 0;
    if (!e && S_ISREG(st.st_mode) && (got = pread(fd, &h, sizeof h, 0)) < 0)
        e = errno;
    if (got < 0 || shmap__header_check(&h, (size_t)got, (uint64_t)st.st_size, name) < 0 ||
        got != (ssize_t)sizeof h) {
        close(fd);
        return gc_failed(g, e, "read", name);
    }
    /* Judge on the copy; the live table is mapped only to clear it. This process uses
     * the object only through one descriptor when it looks for users, so any other open
     * file or mapping of it, ours included, means a user. */
    unsigned nlive, stale;
    int kept = 0;
    if (unused_transient(&h, &stale) && !(kept = not_ours_to_remove(g, name, &st))) {
        bool done;
        int rc = gc_transient(g, dfd, name, fd, &st, &h, &done);
        if (done || rc)
            return rc;
        /* Kept: its stale slots are still cleared below. */
    } else {
        /* One this user may not remove is said to be kept for that only when nobody is
         * seen to map it: root's gc would keep one in use too, and the line would send
         * the user to run it for nothing. */
        struct shmap__unseen unseen;
        if (kept && shmap__mapped_by_any(fd, &st, &unseen) == SHMAP__MAPPED)
            kept = 0;
        close(fd);
    }
    int rc;
    if (kept && (rc = report(g, SHMAP_GC_REMOVED_TRANSIENT, name, h.creator_pid, 0,
                             (uint64_t)st.st_size, kept)) != 0)
        return rc;
    if (!stale)
        return 0;
    /* Clearing needs write access; a dry run only checks that it would have it. */
    fd = openat(dfd, name, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return gc_failed(g, errno, "open", name);
    struct stat now;
    void *p = MAP_FAILED;
    size_t maplen = header_map_len(&st);
    e = 0;
    if (!dry && fstat(fd, &now) == 0 && now.st_dev == st.st_dev && now.st_ino == st.st_ino &&
        (p = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED)
        e = errno;
    close(fd);
    if (!dry) {
        if (p == MAP_FAILED)
            return gc_failed(g, e, "map", name);
        struct shmap__lockarea *a = (struct shmap__lockarea *)((char *)p + SHMAP__LOCK_OFFSET);
        shmap__lock_scan(a, true, &nlive, &stale);
        munmap(p, maplen);
    }
    return stale ? report(g, SHMAP_GC_CLEARED_SLOTS, name, 0, stale, (uint64_t)st.st_size, 0)
                 : 0;
}

/* Is System V segment `id` still the one described by `was`, attached `ours` times (by
 * this gc) and by nobody else? */
static bool sysv_same_and_unused(int id, const struct shmid_ds *was, shmatt_t ours)
{
    struct shmid_ds now;
    if (shmctl(id, IPC_STAT, &now) < 0)
        return false;
    return now.shm_perm.__key == was->shm_perm.__key && now.shm_cpid == was->shm_cpid &&
           now.shm_ctime == was->shm_ctime && now.shm_nattch == ours &&
           !(now.shm_perm.mode & SHM_DEST);
}

/* Is System V segment `id` (described by `ds`) still marked INIT, read afresh? */
static bool sysv_still_incomplete(int id, const struct shmid_ds *ds)
{
    struct shmap__header h;
    void *p = shmat(id, NULL, SHM_RDONLY);
    if (p == (void *)-1)
        return false;
    memcpy(&h, p, sizeof h);
    shmdt(p);
    char saved[SHMAP__ERR_SIZE];
    shmap__err_keep(saved);
    bool incomplete = shmap__header_check(&h, sizeof h, (uint64_t)ds->shm_segsz, "") ==
                      SHMAP_EINCOMPLETE;
    shmap__err_put_back(saved);
    return incomplete;
}

/*
 * A System V segment still marked INIT (sysv_shm.c): its creator either is at work or died
 * between shmget and the READY store, typically while faulting in a large segment, which
 * then holds its full size for good. POSIX and file creations leave such a thing under a
 * hidden name (gc_tmp); System V has no rename, so the state word is what tells. Removed,
 * transient or not, once the creator is dead (pid and start time; a dead creator cannot
 * finish) and the kernel counts no attach, as REMOVED_TMP: a creation that never completed.
 * The header was checked in every other respect, so a foreign segment is never taken for
 * one of these. The copy `h` was read before the creator was judged: one that completed
 * the segment and exited meanwhile is dead too, so the state is read again once it is (a
 * dead creator cannot change it any more).
 */
static int gc_sysv_incomplete(struct gc *g, int id, const struct shmid_ds *ds,
                              const struct shmap__header *h, const char *name)
{
    if (!creator_gone(h) || !sysv_still_incomplete(id, ds) || !sysv_same_and_unused(id, ds, 0))
        return 0;
    int status = sysv_not_ours_to_remove(ds, name);
    if (!status && !(g->flags & SHMAP_GC_DRY_RUN) && shmctl(id, IPC_RMID, NULL) < 0 &&
        errno != EINVAL && errno != EIDRM) {
        int e = errno;
        status = shmap__err(-e, "%s: cannot remove: %s", name, strerror(e));
    }
    return report(g, SHMAP_GC_REMOVED_TMP, name, h->creator_pid, 0, (uint64_t)ds->shm_segsz,
                  status);
}

/* gc_transient() for a System V segment, the kernel's attach count in place of /proc: an
 * opener attaches before it reads the header. */
static int gc_sysv_transient(struct gc *g, int id, const struct shmid_ds *ds, const char *name,
                             const struct shmap__header *h0, bool *done)
{
    bool dry = g->flags & SHMAP_GC_DRY_RUN;
    *done = false;
    void *live = dry ? (void *)-1 : shmat(id, NULL, 0);
    /* Not writable, it is removed unmarked: only when this user may not write it. */
    int fatal = live == (void *)-1 && !dry
                    ? gc_sysv_failed(errno, "attach", name, (uint64_t)ds->shm_segsz)
                    : 0;
    if (fatal)
        return fatal;
    int64_t since = 0;
    bool marked = live != (void *)-1 && gc_mark(live, &since);
    if (live != (void *)-1 && !marked) { /* another gc at work decides, slots too */
        shmdt(live);
        *done = true;
        return 0;
    }
    /* Marked, the judgement is made again on what the header says now. */
    struct shmap__header h = *h0;
    unsigned stale = 0;
    int status = 0;
    if (marked)
        memcpy(&h, live, sizeof h);
    *done = shmap__header_check(&h, sizeof h, (uint64_t)ds->shm_segsz, name) == 0 &&
            unused_transient(&h, &stale) && sysv_same_and_unused(id, ds, marked ? 1 : 0) &&
            (!marked || gc_mark_holds(live, since));
    if (*done && !dry && shmctl(id, IPC_RMID, NULL) < 0 && errno != EINVAL &&
        errno != EIDRM) {
        int e = errno;
        status = shmap__err(-e, "%s: cannot remove: %s", name, strerror(e));
    }
    if (marked) {
        gc_unmark(live, *done && status == 0);
        shmdt(live);
    }
    return *done ? report(g, SHMAP_GC_REMOVED_TRANSIENT, name, h.creator_pid, stale,
                          (uint64_t)ds->shm_segsz, status)
                 : 0;
}

/* A System V segment: the same judgement as gc_segment(), with the kernel's attach count
 * in place of /proc. */
static int gc_sysv(int id, const struct shmid_ds *ds, void *ctx)
{
    struct gc *g = ctx;
    bool dry = g->flags & SHMAP_GC_DRY_RUN;
    char name[64];
    shmap__sysv_name(id, ds, name, sizeof name);
    if (g->plen && strncmp(name, g->prefix, g->plen) != 0)
        return 0;
    if ((ds->shm_perm.mode & SHM_DEST) || ds->shm_segsz < sizeof(struct shmap__header))
        return 0;
    struct shmap__header h;
    void *p = shmat(id, NULL, SHM_RDONLY);
    if (p == (void *)-1)
        return gc_sysv_unattached(g, errno, name, (uint64_t)ds->shm_segsz);
    memcpy(&h, p, sizeof h);
    shmdt(p);
    uint64_t size = (uint64_t)ds->shm_segsz;
    int check = shmap__header_check(&h, sizeof h, (uint64_t)ds->shm_segsz, name);
    if (check == SHMAP_EINCOMPLETE)
        return gc_sysv_incomplete(g, id, ds, &h, name);
    if (check < 0)
        return 0;
    unsigned nlive, stale;
    int kept = 0;
    if (unused_transient(&h, &stale) && sysv_same_and_unused(id, ds, 0) &&
        !(kept = sysv_not_ours_to_remove(ds, name))) {
        bool done;
        int rc = gc_sysv_transient(g, id, ds, name, &h, &done);
        if (done || rc)
            return rc;
    }
    int rc;
    if (kept && (rc = report(g, SHMAP_GC_REMOVED_TRANSIENT, name, h.creator_pid, 0, size,
                             kept)) != 0)
        return rc;
    if (!stale)
        return 0;
    /* Clearing needs write access; a dry run only checks that it would have it. */
    p = shmat(id, NULL, 0);
    if (p == (void *)-1)
        return gc_sysv_failed(errno, "attach", name, size);
    if (!dry) {
        struct shmap__lockarea *a = (struct shmap__lockarea *)((char *)p + SHMAP__LOCK_OFFSET);
        shmap__lock_scan(a, true, &nlive, &stale);
    }
    shmdt(p);
    return stale ? report(g, SHMAP_GC_CLEARED_SLOTS, name, 0, stale, size, 0) : 0;
}

/*
 * Every entry of the directory `dir` (/dev/shm, or a directory of files) in the scope of
 * the prefix: hidden leftovers of creations, and segments, judged alike in both.
 */
static int gc_dir(struct gc *g, const char *dir)
{
    const char *prefix = g->prefix;
    size_t plen = g->plen;
    g->listing = dir;
    DIR *d = opendir(dir);
    if (!d && shmap__process_failure(-errno))
        return shmap__process_error(-errno, "cannot list %s", dir);
    if (!d)
        return shmap__err(-errno, "cannot list %s: %s", dir, strerror(errno));
    /* Whether this user may remove what it finds there (not_ours_to_remove()). A read-only
     * file system is nobody's to write, whoever they are: a removal there fails, and says
     * why (EROFS, which the kernel gives before it looks at the sticky bit). */
    g->dir_writable = faccessat(dirfd(d), ".", W_OK | X_OK, AT_EACCESS) == 0;
    g->dir_known = (g->dir_writable || errno != EROFS) && fstat(dirfd(d), &g->dir_st) == 0;
    int rc = 0;
    while (rc == 0) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e && errno && shmap__process_failure(-errno))
            rc = shmap__process_error(-errno, "cannot list %s", dir);
        else if (!e && errno)
            rc = shmap__err(-errno, "cannot list %s: %s", dir, strerror(errno));
        if (!e)
            break;
        bool tmp = strncmp(e->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0;
        if (plen && !(tmp ? tmp_matches(e->d_name, prefix, plen)
                          : strncmp(e->d_name, prefix, plen) == 0))
            continue;
        if (e->d_type != DT_REG && e->d_type != DT_UNKNOWN)
            continue;
        if (tmp)
            rc = gc_tmp(g, dirfd(d), e->d_name);
        else if (shmap__posix_listed(e->d_name))
            rc = gc_segment(g, dirfd(d), e->d_name);
    }
    closedir(d);
    return rc;
}

/*
 * A prefix "file:PATH" (or "file://PATH") names files: the directory of PATH is gc'd, for
 * the entries that start with what follows its last '/' ("file:/DIR/" takes all of DIR),
 * and nothing else. Files live anywhere, so no other walk could find them: a creation or
 * import into a file killed half-way leaves its hidden ".shmap-tmp-PID-N-NAME" beside the
 * file's name, as large as the data, and a transient file segment is removed only so.
 */
static int gc_files(struct gc *g, const char *path)
{
    char cwd[PATH_MAX], dir[PATH_MAX + 8], shown[PATH_MAX + 16];
    if (path[0] != '/') {
        if (!getcwd(cwd, sizeof cwd))
            return shmap__err(-errno, "gc: cannot resolve the relative path %s: %s", path,
                              strerror(errno));
        if (snprintf(dir, sizeof dir, "%s/%s", cwd, path) >= (int)sizeof dir)
            return shmap__err(SHMAP_EBADNAME, "gc: path too long: %s/%s", cwd, path);
    } else if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir) {
        return shmap__err(SHMAP_EBADNAME, "gc: path too long: %s", path);
    }
    char *slash = strrchr(dir, '/');
    g->prefix = path + strlen(path) - strlen(slash + 1);
    g->plen = strlen(g->prefix);
    slash[slash == dir] = '\0'; /* "/x" is in "/" */
    snprintf(shown, sizeof shown, "file:%s%s", dir, slash == dir ? "" : "/");
    g->dir = shown;
    int rc = gc_dir(g, dir);
    g->dir = NULL; /* shown goes with this frame */
    return rc;
}

int shmap_gc(const char *prefix, unsigned int flags, shmap_gc_cb cb, void *ctx)
{
    if (flags & ~(unsigned)SHMAP_GC_DRY_RUN)
        return shmap__err(SHMAP_EINVAL, "shmap_gc: unknown flags 0x%x", flags);
    size_t plen = prefix ? strlen(prefix) : 0;
    struct gc g = {flags, cb, ctx, prefix, plen, NULL, NULL, {0}};
    if (prefix && strncmp(prefix, "file://", 7) == 0)
        return gc_files(&g, prefix + 7);
    if (prefix && strncmp(prefix, "file:", 5) == 0)
        return gc_files(&g, prefix + 5);
    int rc = gc_dir(&g, shmap__posix_dir());
    if (rc == 0)
        rc = shmap__sysv_each(gc_sysv, &g);
    return rc;
}
