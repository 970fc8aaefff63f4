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
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"

static void stat_fields(shmap_info *info, const struct stat *st)
{
    info->size = (uint64_t)st->st_size;
    info->mode = st->st_mode & 07777;
    info->uid = st->st_uid;
    info->gid = st->st_gid;
}

/* Read and check the header into `h`, and describe the object in `info`; `got` receives
 * the bytes of the header read. */
static int describe_header(const struct shmap__store_ops *ops, struct shmap__obj *obj,
                           shmap_info *info, const char *who, struct shmap__header *h,
                           size_t *got)
{
    stat_fields(info, &obj->st);
    ssize_t n = ops->read(obj, h, sizeof *h, 0);
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
    if (ops->read(obj, slots, kwbytes, h->kw_offset) != (ssize_t)kwbytes ||
        (h->rec_len && ops->read(obj, rec, h->rec_len, h->rec_offset) != (ssize_t)h->rec_len)) {
        free(slots);
        return shmap__err(SHMAP_ETRUNCATED, "%s: keyword area cannot be read", who);
    }
    if (h->rec_len && (rc = shmap__record_check(rec, h->rec_len, h->elsize, who)) < 0) {
        free(slots);
        return rc;
    }
    shmap__info_fill(info, h, slots, h->rec_len ? rec : NULL);
    free(slots);
    return 0;
}

int shmap__describe(const struct shmap__store_ops *ops, struct shmap__obj *obj,
                    shmap_info *info, const char *who)
{
    struct shmap__header h;
    size_t got;
    return describe_header(ops, obj, info, who, &h, &got);
}

_Static_assert(sizeof(shmap_entry) % _Alignof(shmap_attacher) == 0,
               "attachers can follow the entries");

/* The pool of attachers, behind the room for entries (see shmap__list_add()). */
static shmap_attacher *list_pool(const struct shmap__list *l)
{
    return (shmap_attacher *)(void *)((char *)l->v + l->cap * sizeof *l->v);
}

int shmap__describe_entry(const struct shmap__store_ops *ops, struct shmap__obj *obj,
                          struct shmap__list *l, const char *who)
{
    struct shmap__header h;
    size_t got;
    shmap_entry *ent = &l->v[l->n - 1];
    int rc = describe_header(ops, obj, &ent->info, who, &h, &got);
    if (rc < 0)
        return rc;
    /* A checked header is from an object of at least a page; a shorter read means it
     * shrank while we read, and a lock area read in part would tell nothing true. */
    if (got < sizeof h)
        return shmap__err(SHMAP_ETRUNCATED, "%s: the header page cannot be read whole", who);
    /* shmap__list_add() left room for a whole table in the pool. */
    struct shmap__lockarea *a = (struct shmap__lockarea *)((char *)&h + SHMAP__LOCK_OFFSET);
    int n = shmap__lock_read(a, &ent->lock, list_pool(l) + l->natt, SHMAP__LOCK_SLOTS,
                             &ent->attached, &l->alive);
    ent->nattachers = (unsigned)n;
    l->natt += (size_t)n;
    return 0;
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
    ops->close(&obj);
    return rc;
}

/*
 * A list is one growing block: room for `cap` entries, then the pool of `attcap`
 * attachers, `natt` of them used, in the entries' order. One block, because a second
 * allocation growing behind the entries would stop realloc from extending them in place:
 * moving megabytes of entries at each doubling (an entry is some 9 KB) doubled the time
 * of a listing. Growing the entries moves only the pool, a few KB. Each new entry gets
 * room for a full attach table, so describing it never moves the entries under the
 * caller's pointer.
 */
shmap_entry *shmap__list_add(struct shmap__list *l)
{
    size_t cap = l->n < l->cap ? l->cap : l->cap ? 2 * l->cap : 64;
    size_t attcap = l->attcap;
    if (attcap - l->natt < SHMAP__LOCK_SLOTS)
        attcap = l->natt + SHMAP__LOCK_SLOTS > 2 * attcap ? l->natt + SHMAP__LOCK_SLOTS
                                                          : 2 * attcap;
    if (cap != l->cap || attcap != l->attcap) {
        char *b = realloc(l->v, cap * sizeof *l->v + attcap * sizeof(shmap_attacher));
        if (!b)
            return NULL;
        /* realloc kept the pool at its old place; move it behind the new room. */
        if (cap != l->cap && l->natt)
            memmove(b + cap * sizeof *l->v, b + l->cap * sizeof *l->v,
                    l->natt * sizeof(shmap_attacher));
        l->v = (shmap_entry *)(void *)b;
        l->cap = cap;
        l->attcap = attcap;
    }
    shmap_entry *ent = &l->v[l->n++];
    memset(ent, 0, sizeof *ent);
    return ent;
}

void shmap__list_drop(struct shmap__list *l)
{
    l->natt -= l->v[--l->n].nattachers;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const shmap_entry *)a)->info.name, ((const shmap_entry *)b)->info.name);
}

/* Close the list: the attachers move up behind the last entry (the block keeps its size),
 * and each entry points at its own. */
static int list_finish(struct shmap__list *l)
{
    if (!l->v && !(l->v = malloc(sizeof *l->v)))
        return shmap__err(-ENOMEM, "shmap_list: out of memory");
    shmap_attacher *dst = (shmap_attacher *)(void *)(l->v + l->n);
    if (l->natt)
        memmove(dst, list_pool(l), l->natt * sizeof *dst);
    for (size_t i = 0; i < l->n; i++) {
        l->v[i].attachers = l->v[i].nattachers ? dst : NULL;
        dst += l->v[i].nattachers;
    }
    return 0;
}

int shmap_list(shmap_entry **out, size_t *count, unsigned int flags)
{
    if (!out || !count)
        return shmap__err(SHMAP_EINVAL, "shmap_list: NULL argument");
    *out = NULL;
    *count = 0;
    struct shmap__list l;
    memset(&l, 0, sizeof l);
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
    /* Sorting moves entries only: their attachers stay where list_finish put them. */
    qsort(l.v, l.n, sizeof *l.v, by_name);
    *out = l.v;
    *count = l.n;
    return 0;
}

void shmap_list_free(shmap_entry *list)
{
    free(list);
}
