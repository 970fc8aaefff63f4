/*
 * Describing segments without mapping them: shmap_stat() and the system-wide listing.
 *
 * A header is read into a local copy through the store (pread for descriptors) and checked
 * there, so a segment that changes or shrinks while we look cannot hurt us, and listing
 * thousands of POSIX segments costs an open, an fstat and two or three preads each, with no
 * mmap. Each store lists its own objects (store.h); the results are merged and sorted.
 *
 * Design note: attach and lock state in the listing. The header copy is the whole header
 * page, so it already holds the lock and attach area (bytes 512..4095): reading it costs
 * no extra read. It is read with shmap__lock_read(), the code behind shmap_attached() and
 * shmap_lock_info(), so an entry says what `shmap info` would; the copy is private, so
 * nothing is reclaimed from it (gc and lock waiters clear dead processes' slots), and being
 * read while lockers work it is a snapshot that may be a moment stale, like info's.
 *
 * Each entry carries the live count and the lock state inline, and the attach table as a
 * pointer. A fixed array of the table's 110 slots would add 3.5 KB to every entry for
 * tables that mostly hold zero to three processes, and an allocation per entry would need
 * a count in shmap_list_free(). Instead the attachers of all entries gather in a pool
 * kept in the list's own block, behind the entries (shmap__list_add() says why one
 * block), so the list is freed by one free() and costs 32 bytes per attached process.
 * Judging a process alive reads /proc (kill, then /proc/PID/stat: a few microseconds); a
 * process attached to many segments, a camera server with its frame buffers, is judged
 * once per listing thanks to a small cache of answers.
 *
 * Design note: keywords in the listing (SHMAP_LIST_KEYWORDS). The keyword area is read for
 * every segment anyway, to count the keywords, so `ls --json` and the Python list() need
 * not open each segment again for them (an open, an mmap and a check each: twice what
 * the listing itself costs). Asked for, the area is read as keyword.c's snapshot reads a mapping,
 * between two looks at the writer's sequence word: the header copy, read before it, and
 * one more read of 8 bytes after it; a change in progress is waited for alike. The
 * snapshot is then sorted and decoded by keyword.c's own functions, so a damaged slot is
 * skipped as shmap_keyword_list() skips it. The decoded keywords gather in a third pool of
 * the list's block, behind the attachers, so the list is still freed by one free(). Each
 * new entry gets room for the keywords of a default keyword area (32, 5 KB), so only a
 * segment with more keywords grows the block while it is described; that may move the
 * entries, which is why the stores find their entry again afterwards. The text listing
 * does not ask: it reads the area once, as before, and has no pool.
 *
 * Design note: failures of this process. An object that cannot be opened or read is that
 * object's affair (another user's, gone meanwhile, not a segment): its entry says why, and
 * the listing goes on. Running out of descriptors or memory is this process's: every
 * object after it would fail alike, each for no fault of its own, and a listing that left
 * them out (or, with SHMAP_LIST_ALL, called each one unreadable) would look complete and
 * be wrong. So the listing fails whole with that code, and a detail that names the cause
 * and the limit reached (shmap__process_error()); shmap_gc() does the same, for the same
 * reason: a gc that skipped what it could not open would report "nothing to do". One
 * exception: a System V segment (attached whole to be read) larger than this process's
 * address-space limit itself is that segment's affair: its entry says so.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "store.h"

bool shmap__process_failure(int rc)
{
    return rc == -EMFILE || rc == -ENFILE || rc == -ENOMEM || rc == -ENOBUFS;
}

int shmap__process_error(int rc, const char *fmt, ...)
{
    char what[512], limit[96] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    struct rlimit r;
    const char *cause = strerror(-rc);
    if (rc == -EMFILE || rc == -ENFILE) {
        cause = rc == -EMFILE ? "too many open files" : "too many open files in the system";
        snprintf(limit, sizeof limit, "%s", shmap__fd_hint(-rc));
    } else if (rc == -ENOMEM) {
        /* A System V segment is attached whole to be read: the address space may be what
         * ran out. */
        cause = "out of memory";
        if (getrlimit(RLIMIT_AS, &r) == 0 && r.rlim_cur != RLIM_INFINITY)
            snprintf(limit, sizeof limit,
                     " (this process's address-space limit, ulimit -v, is %llu kB)",
                     (unsigned long long)r.rlim_cur / 1024);
    }
    return shmap__err(rc, "%s: %s%s", cause, what, limit);
}

static void stat_fields(shmap_info *info, const struct stat *st)
{
    info->size = (uint64_t)st->st_size;
    info->mode = st->st_mode & 07777;
    info->uid = st->st_uid;
    info->gid = st->st_gid;
}

/* An object's keyword words and slots, read through its store. The words are first taken
 * from the header copy, read before the slots as a first read of them would be: one read
 * fewer per segment. */
struct store_source {
    const struct shmap__store_ops *ops;
    struct shmap__obj *obj;
    uint64_t kw_offset;
    const struct shmap__header *first; /* the header copy, until the words are read once */
};

_Static_assert(offsetof(struct shmap__header, kw_seq) ==
               offsetof(struct shmap__header, kw_lock) + 4, "the keyword words are adjacent");

static int store_words(void *ctx, uint32_t *lock, uint32_t *seq)
{
    struct store_source *s = ctx;
    uint32_t w[2];
    if (s->first) {
        *lock = s->first->kw_lock;
        *seq = s->first->kw_seq;
        s->first = NULL;
        return 0;
    }
    if (s->ops->read(s->obj, w, sizeof w, offsetof(struct shmap__header, kw_lock)) !=
        (ssize_t)sizeof w)
        return SHMAP_ETRUNCATED;
    *lock = w[0];
    *seq = w[1];
    return 0;
}

/* The header page read again, its attach table with it: asked only to judge a writer that
 * has not finished. */
static void store_holder(void *ctx, uint32_t pid, struct shmap__kwholder *out)
{
    struct store_source *s = ctx;
    struct shmap__header h;
    out->start = 0;
    out->pidns = 0;
    if (s->ops->read(s->obj, &h, sizeof h, 0) == (ssize_t)sizeof h)
        shmap__kw_holder_of(&h, pid, out);
}

static int store_slots(void *ctx, struct shmap__kwslot *copy, unsigned cap)
{
    struct store_source *s = ctx;
    size_t len = (size_t)cap * sizeof *copy;
    return s->ops->read(s->obj, copy, len, s->kw_offset) == (ssize_t)len ? 0 : SHMAP_ETRUNCATED;
}

/* The keywords of an object being listed (SHMAP_LIST_KEYWORDS). */
struct listed_keywords {
    struct shmap__kwslot *slots; /* a snapshot, sorted: `n` valid slots first; to be freed */
    unsigned n;
    int status;                  /* 0, or why there is no snapshot */
};

/* Read and check the header into `h`, and describe the object in `info`; `got` receives
 * the bytes of the header read. With `kw`, the keyword area is read as a snapshot and handed
 * over sorted (on success only). */
static int describe_header(const struct shmap__store_ops *ops, struct shmap__obj *obj,
                           shmap_info *info, const char *who, struct shmap__header *h,
                           size_t *got, struct listed_keywords *kw)
{
    stat_fields(info, &obj->st);
    ssize_t n = ops->read(obj, h, sizeof *h, 0);
    /* A System V segment is read by attaching it, which its mode may refuse its owner. */
    if (n == -EACCES)
        return shmap__err((int)n, "%s: permission denied to read it", who);
    if (n < 0)
        return shmap__err((int)n, "%s: read: %s", who, strerror((int)-n));
    *got = (size_t)n;
    int rc = shmap__header_check(h, (size_t)n, (uint64_t)obj->st.st_size, who);
    if (rc < 0)
        return rc;
    size_t kwbytes = (size_t)h->kw_capacity * sizeof(struct shmap__kwslot);
    struct shmap__kwslot *slots = malloc(kwbytes + 1);
    char rec[SHMAP_RECORD_FIELDS_MAX] = "";
    if (!slots)
        return shmap__err(-ENOMEM, "%s: out of memory", who);
    if (h->rec_len && ops->read(obj, rec, h->rec_len, h->rec_offset) != (ssize_t)h->rec_len)
        rc = SHMAP_ETRUNCATED;
    else if (h->rec_len)
        rc = shmap__record_check(rec, h->rec_len, h->elsize, who, NULL);
    if (rc == 0 && kw) {
        struct store_source s = {ops, obj, h->kw_offset, h};
        const struct shmap__kwsource src = {store_words, store_holder, store_slots, &s};
        kw->status = shmap__keyword_snapshot(&src, h->kw_capacity, slots, who);
        /* A writer that does not finish leaves the keywords unread, not the segment. */
        if (kw->status != -EBUSY)
            rc = kw->status;
    }
    if (rc == 0 && (!kw || kw->status < 0) &&
        ops->read(obj, slots, kwbytes, h->kw_offset) != (ssize_t)kwbytes)
        rc = SHMAP_ETRUNCATED;
    if (rc == SHMAP_ETRUNCATED)
        rc = shmap__err(rc, "%s: keyword area cannot be read", who);
    if (rc < 0) {
        free(slots);
        return rc;
    }
    shmap__info_fill(info, h, NULL, slots, h->rec_len ? rec : NULL);
    if (kw && kw->status == 0) {
        kw->n = shmap__keyword_sort(slots, h->kw_capacity);
        kw->slots = slots;
    } else {
        free(slots);
    }
    return 0;
}

int shmap__describe(const struct shmap__store_ops *ops, struct shmap__obj *obj,
                    shmap_info *info, const char *who)
{
    struct shmap__header h;
    size_t got;
    return describe_header(ops, obj, info, who, &h, &got, NULL);
}

_Static_assert(sizeof(shmap_entry) % _Alignof(shmap_attacher) == 0,
               "attachers can follow the entries");
_Static_assert(sizeof(shmap_attacher) % _Alignof(shmap_keyword) == 0,
               "keywords can follow the attachers");

/* The pools of attachers and keywords, behind the room for entries (see shmap__list_add()). */
static shmap_attacher *list_pool(const struct shmap__list *l)
{
    return (shmap_attacher *)(void *)((char *)l->v + l->cap * sizeof *l->v);
}

static shmap_keyword *kw_pool(const struct shmap__list *l)
{
    return (shmap_keyword *)(void *)(list_pool(l) + l->attcap);
}

/*
 * Make the block room for `cap` entries, `attcap` attachers and `kwcap` keywords, none fewer
 * than it has; 0, or -ENOMEM with the list unchanged. realloc keeps the pools at their old
 * offsets: they move behind the new room, the keywords first, as each only moves up and the
 * keywords' new place is past the attachers' old one.
 */
static int list_grow(struct shmap__list *l, size_t cap, size_t attcap, size_t kwcap)
{
    size_t esz = sizeof *l->v, asz = sizeof(shmap_attacher), ksz = sizeof(shmap_keyword);
    if (cap > SIZE_MAX / 4 / esz || attcap > SIZE_MAX / 4 / asz || kwcap > SIZE_MAX / 4 / ksz)
        return -ENOMEM;
    char *b = realloc(l->v, cap * esz + attcap * asz + kwcap * ksz);
    if (!b)
        return -ENOMEM;
    char *att = b + l->cap * esz, *kw = att + l->attcap * asz;
    char *natt = b + cap * esz, *nkw = natt + attcap * asz;
    if (l->nkw && nkw != kw)
        memmove(nkw, kw, l->nkw * ksz);
    if (l->natt && natt != att)
        memmove(natt, att, l->natt * asz);
    l->v = (shmap_entry *)(void *)b;
    l->cap = cap;
    l->attcap = attcap;
    l->kwcap = kwcap;
    return 0;
}

/* Room for `need` more in a pool of `cap` holding `used`: the capacity to grow to, or `cap`. */
static size_t pool_room(size_t used, size_t cap, size_t need)
{
    if (cap - used >= need)
        return cap;
    return used + need > 2 * cap ? used + need : 2 * cap;
}

/* Put the last entry's keywords, a sorted snapshot, in the keyword pool; growing it may move
 * the list. A snapshot that could not be taken leaves the entry without them
 * (keywords_status); no memory for them fails the listing (see "failures of this process"
 * above). */
static int list_keywords(struct shmap__list *l, const struct listed_keywords *kw,
                         const char *who)
{
    l->v[l->n - 1].keywords_status = kw->status;
    if (kw->status < 0)
        return 0;
    if (l->kwcap - l->nkw < kw->n &&
        list_grow(l, l->cap, l->attcap, pool_room(l->nkw, l->kwcap, kw->n)) < 0)
        return shmap__process_error(-ENOMEM, "no room for the %u keywords of %s", kw->n, who);
    shmap_entry *ent = &l->v[l->n - 1];
    shmap__keyword_decode(kw->slots, kw->n, kw_pool(l) + l->nkw);
    ent->nkeywords = kw->n;
    l->nkw += kw->n;
    return 0;
}

/*
 * An entry that is not a valid segment keeps why, as the detail message says it without the
 * name in front, which the code alone cannot tell: a creation at work from one whose creator
 * died (both SHMAP_EINCOMPLETE), the byte count of an object without the magic. A message
 * that does not name the object was left by something else: the code's own message is kept
 * then (list_finish()), as it is for entries the stores fill without describing them.
 */
static int entry_failed(shmap_entry *ent, int rc, const char *who)
{
    const char *msg = shmap_last_error();
    size_t len = strlen(who);
    if (strncmp(msg, who, len) == 0 && msg[len] == ':' && msg[len + 1] == ' ')
        snprintf(ent->error, sizeof ent->error, "%s", msg + len + 2);
    return rc;
}

int shmap__describe_entry(const struct shmap__store_ops *ops, struct shmap__obj *obj,
                          struct shmap__list *l, const char *who)
{
    struct shmap__header h;
    size_t got;
    struct listed_keywords kw = {NULL, 0, 0};
    bool keywords = (l->flags & SHMAP_LIST_KEYWORDS) != 0;
    shmap_entry *ent = &l->v[l->n - 1];
    int rc = describe_header(ops, obj, &ent->info, who, &h, &got, keywords ? &kw : NULL);
    /* A System V segment is attached whole to be read. One larger than this process's
     * address-space limit itself is its own affair, as an object this user may not read
     * is: its entry says so. Else memory ran out, for every object after it too; its size
     * tells what did not fit. */
    uint64_t size = (uint64_t)obj->st.st_size;
    if (rc == -ENOMEM && ops->store == SHMAP_STORE_SYSV && shmap__past_as_limit(size))
        return entry_failed(ent, shmap__err(-ENOMEM, "%s: cannot attach its %llu bytes to read "
                                                     "it%s", who, (unsigned long long)size,
                                            shmap__as_hint(size)), who);
    if (shmap__process_failure(rc) && ops->store == SHMAP_STORE_SYSV)
        return shmap__process_error(rc, "cannot attach %s (%llu bytes) to list it", who,
                                    (unsigned long long)obj->st.st_size);
    if (shmap__process_failure(rc))
        return shmap__process_error(rc, "cannot read %s to list it", who);
    if (rc < 0)
        return entry_failed(ent, rc, who);
    /* A checked header is from an object of at least a page; a shorter read means it
     * shrank while we read, and a lock area read in part would tell nothing true. */
    if (got < sizeof h) {
        free(kw.slots);
        return entry_failed(ent, shmap__err(SHMAP_ETRUNCATED, "%s: the header page cannot "
                                                              "be read whole", who), who);
    }
    /* shmap__list_add() left room for a whole table in the pool. */
    struct shmap__lockarea *a = (struct shmap__lockarea *)((char *)&h + SHMAP__LOCK_OFFSET);
    int n = shmap__lock_read(a, &ent->lock, list_pool(l) + l->natt, SHMAP__LOCK_SLOTS,
                             &ent->attached, &l->alive);
    ent->nattachers = (unsigned)n;
    l->natt += (size_t)n;
    if (keywords) {
        rc = list_keywords(l, &kw, who);
        free(kw.slots);
    }
    return rc;
}

int shmap__describe_fd(int fd, const struct stat *st, shmap_info *info, const char *who)
{
    struct shmap__obj obj = SHMAP__OBJ_INIT;
    obj.fd = fd;
    obj.st = *st;
    return shmap__describe(&shmap__posix_ops, &obj, info, who);
}

int shmap_stat(const char *name, shmap_info *out)
{
    if (!out)
        return shmap__err(SHMAP_EINVAL, "shmap_stat: NULL output");
    struct shmap__name n;
    int rc = shmap__name_parse(name, &n);
    if (rc < 0)
        return rc;
    memset(out, 0, sizeof *out);
    const struct shmap__store_ops *ops = shmap__store_ops(n.store);
    struct shmap__obj obj = SHMAP__OBJ_INIT;
    rc = ops->open(&n, SHMAP__ACC_RDONLY, &obj);
    snprintf(out->name, sizeof out->name, "%s", n.name);
    snprintf(out->os_handle, sizeof out->os_handle, "%s", n.os_handle);
    out->store = n.store;
    if (rc < 0)
        return rc;
    rc = shmap__describe(ops, &obj, out, n.name);
    out->deleted = obj.deleted; /* described all the same: see shmap_info */
    ops->close(&obj);
    return rc;
}

/*
 * A list is one growing block: room for `cap` entries, then the pool of `attcap`
 * attachers, `natt` of them used, then with SHMAP_LIST_KEYWORDS the pool of `kwcap`
 * keywords, `nkw` used, each pool in the entries' order. One block, because a second
 * allocation growing behind the entries would stop realloc from extending them in place:
 * moving megabytes of entries at each doubling (an entry is some 9 KB) doubled the time
 * of a listing. Growing the entries moves only the pools, a few KB per entry. Each new
 * entry gets room for a full attach table, so describing it never moves the entries for
 * its attachers, and for a default keyword area (see the design note above).
 */
shmap_entry *shmap__list_add(struct shmap__list *l)
{
    size_t cap = l->n < l->cap ? l->cap : l->cap ? 2 * l->cap : 64;
    size_t attcap = pool_room(l->natt, l->attcap, SHMAP__LOCK_SLOTS);
    size_t kwcap = l->flags & SHMAP_LIST_KEYWORDS
                       ? pool_room(l->nkw, l->kwcap, SHMAP_KEYWORD_CAPACITY_DEFAULT)
                       : 0;
    if ((cap != l->cap || attcap != l->attcap || kwcap != l->kwcap) &&
        list_grow(l, cap, attcap, kwcap) < 0)
        return NULL;
    shmap_entry *ent = &l->v[l->n++];
    memset(ent, 0, sizeof *ent);
    return ent;
}

void shmap__list_drop(struct shmap__list *l)
{
    l->n--;
    l->natt -= l->v[l->n].nattachers;
    l->nkw -= l->v[l->n].nkeywords;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const shmap_entry *)a)->info.name, ((const shmap_entry *)b)->info.name);
}

/* Close the list: the attachers move up behind the last entry and the keywords behind them
 * (the block keeps its size), and each entry points at its own; an entry that is not a
 * segment and has no detail of why gets its code's message. */
static int list_finish(struct shmap__list *l)
{
    if (!l->v && !(l->v = malloc(sizeof *l->v)))
        return shmap__err(-ENOMEM, "shmap_list: out of memory");
    shmap_attacher *dst = (shmap_attacher *)(void *)(l->v + l->n);
    shmap_keyword *kdst = (shmap_keyword *)(void *)(dst + l->natt);
    if (l->natt)
        memmove(dst, list_pool(l), l->natt * sizeof *dst);
    if (l->nkw)
        memmove(kdst, kw_pool(l), l->nkw * sizeof *kdst);
    for (size_t i = 0; i < l->n; i++) {
        l->v[i].attachers = l->v[i].nattachers ? dst : NULL;
        dst += l->v[i].nattachers;
        l->v[i].keywords = l->v[i].nkeywords ? kdst : NULL;
        kdst += l->v[i].nkeywords;
        /* Said as the library's other messages are: in lower case, and what was denied. */
        if (l->v[i].status == -EACCES && !l->v[i].error[0])
            snprintf(l->v[i].error, sizeof l->v[i].error, "permission denied to read it");
        else if (l->v[i].status < 0 && !l->v[i].error[0])
            snprintf(l->v[i].error, sizeof l->v[i].error, "%s", shmap_strerror(l->v[i].status));
    }
    return 0;
}

int shmap_list(shmap_entry **out, size_t *count, unsigned int flags)
{
    if (!out || !count)
        return shmap__err(SHMAP_EINVAL, "shmap_list: NULL argument");
    *out = NULL;
    *count = 0;
    /* As every call that takes flags: a bit this version does not know may mean something
     * to a newer one, so it is refused rather than silently ignored. */
    if (flags & ~(unsigned)(SHMAP_LIST_ALL | SHMAP_LIST_KEYWORDS))
        return shmap__err(SHMAP_EINVAL, "shmap_list: unknown flags 0x%x", flags);
    /* Entries that fail say why through the detail: a listing that succeeds leaves the
     * caller's as it was, as every successful call does. */
    char saved[SHMAP__ERR_SIZE];
    shmap__err_keep(saved);
    struct shmap__list l;
    memset(&l, 0, sizeof l);
    l.flags = flags;
    static const shmap_store stores[] = {SHMAP_STORE_POSIX, SHMAP_STORE_SYSV};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof stores / sizeof stores[0]; i++) {
        const struct shmap__store_ops *ops = shmap__store_ops(stores[i]);
        rc = ops->list ? ops->list(&l, flags) : 0;
    }
    if (rc == 0)
        rc = list_finish(&l);
    if (rc < 0) {
        free(l.v);
        return rc;
    }
    /* Sorting moves entries only: their attachers and keywords stay where list_finish put
     * them. */
    qsort(l.v, l.n, sizeof *l.v, by_name);
    *out = l.v;
    *count = l.n;
    shmap__err_put_back(saved);
    return 0;
}

void shmap_list_free(shmap_entry *list)
{
    free(list);
}
