/*
 * Creating, opening and closing segments, and the process-wide registry of mappings.
 *
 * Design note. Every object this process maps has one `struct shmap__map`, found in the
 * registry by device and inode (a name can be replaced, so the name alone is not enough)
 * and access mode. Handles (`shmap_seg`) are references to it: opening an object already
 * mapped with the same access adds a reference (IDL's SHMMAP of a mapped segment, or
 * SHMVAR), and the memory is unmapped when the last reference goes. shmap_unmap() with
 * references left marks the mapping unmap-pending, which refuses new references.
 *
 * The destroy policy is per mapping: a segment created here is destroyed (its name
 * removed) when the last reference goes, unless the creator asked to keep it. The pid that
 * may destroy is recorded, so a forked child closing inherited handles destroys nothing.
 *
 * One mutex guards the registry. Opens run mmap under it, which serialises opens within
 * a process; that keeps two threads from mapping one object twice.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shmap__map *registry;

/* How long an open waits for a creator that is still writing the header. */
#define INIT_WAIT_NS 2000000000LL

static shmap_seg *new_handle(struct shmap__map *m)
{
    shmap_seg *seg = malloc(sizeof *seg);
    if (seg) {
        seg->map = m;
        seg->lock_held = 0;
        seg->lock_pid = 0;
    }
    return seg;
}

/*
 * A new mapping record with one reference. Names are copied by length: the record is
 * large (names can be paths) and zeroing or copying all of it would cost more than the
 * rest of an attach.
 */
static struct shmap__map *map_new(const struct shmap__name *n, const struct stat *st,
                                  void *base, size_t len, bool writable)
{
    struct shmap__map *m = malloc(sizeof *m);
    if (!m)
        return NULL;
    m->next = NULL;
    m->name.store = n->store;
    strcpy(m->name.name, n->name);
    strcpy(m->name.os_handle, n->os_handle);
    m->dev = st->st_dev;
    m->ino = st->st_ino;
    m->mode = st->st_mode & 07777;
    m->uid = st->st_uid;
    m->gid = st->st_gid;
    m->base = base;
    m->length = len;
    m->writable = writable;
    m->created = false;
    m->pending = false;
    m->refs = 1;
    m->destroy_pid = 0;
    m->lock_slot = 0;
    m->lock_slot_pid = 0;
    m->lock_touched = false;
    m->lock_base = writable ? base : NULL;
    return m;
}

static struct shmap__map *registry_find(dev_t dev, ino_t ino, bool writable)
{
    for (struct shmap__map *m = registry; m; m = m->next)
        if (m->dev == dev && m->ino == ino && m->writable == writable)
            return m;
    return NULL;
}

static void registry_remove(struct shmap__map *m)
{
    for (struct shmap__map **p = &registry; *p; p = &(*p)->next)
        if (*p == m) {
            *p = m->next;
            return;
        }
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Is the creator recorded in a header still running (same pid, same start time)? */
static bool creator_alive(const struct shmap__header *h)
{
    if (h->creator_pid <= 0)
        return false;
    if (kill(h->creator_pid, 0) < 0 && errno == ESRCH)
        return false;
    uint64_t start = shmap__proc_start(h->creator_pid);
    return start == 0 || h->creator_start == 0 || start == h->creator_start;
}

/*
 * Check an object whose descriptor is open, then map it; the registry lock is held.
 *
 * The header is checked in a private copy read with pread: the checks cannot be raced by a
 * writer changing it meanwhile, and an attach does not fault in the header page (which
 * costs more than the read), so attach stays close to the bare system calls.
 */
static int map_and_check(int fd, const struct stat *st, const struct shmap__name *n,
                         bool writable, struct shmap__map **out)
{
    if ((uint64_t)st->st_size > SIZE_MAX || st->st_size < 0)
        return shmap__err(SHMAP_ESIZE, "%s: object of %lld bytes cannot be mapped", n->name,
                          (long long)st->st_size);
    size_t len = (size_t)st->st_size;
    struct shmap__header h;
    ssize_t got = pread(fd, &h, SHMAP__CHECKED_SIZE, 0);
    if (got < 0)
        return shmap__err(-errno, "%s: read: %s", n->name, strerror(errno));
    int rc = shmap__header_check(&h, (size_t)got, (uint64_t)len, n->name);
    /* A creator still writing the header is given a moment; a dead one is reported. */
    for (int64_t t0 = now_ns(); rc == SHMAP_EINCOMPLETE && creator_alive(&h) &&
                                now_ns() - t0 < INIT_WAIT_NS;) {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
        got = pread(fd, &h, SHMAP__CHECKED_SIZE, 0);
        rc = shmap__header_check(&h, got > 0 ? (size_t)got : 0, (uint64_t)len, n->name);
    }
    if (rc < 0)
        return rc;
    int prot = PROT_READ | (writable ? PROT_WRITE : 0);
    void *base = mmap(NULL, len, prot, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        int e = errno;
        return shmap__err(-e, "%s: cannot map %zu bytes: %s", n->name, len, strerror(e));
    }
    if (h.dtype == SHMAP_RECORD &&
        (rc = shmap__record_check((const char *)base + h.rec_offset, h.rec_len, h.elsize,
                                  n->name)) < 0) {
        munmap(base, len);
        return rc;
    }
    struct shmap__map *m = map_new(n, st, base, len, writable);
    if (!m) {
        munmap(base, len);
        return shmap__err(-ENOMEM, "%s: out of memory", n->name);
    }
    *out = m;
    return 0;
}

static int open_segment(shmap_seg **out, const char *name, unsigned int flags);

int shmap_open(shmap_seg **out, const char *name, unsigned int flags)
{
    int rc = open_segment(out, name, flags);
    if (rc < 0 || !(flags & SHMAP_HOLD))
        return rc;
    /* Hold-while-open: a shared lock for a reader, the exclusive one for a writer. */
    rc = shmap_lock(*out, (flags & SHMAP_RDWR) ? SHMAP_LOCK_EXCLUSIVE : SHMAP_LOCK_SHARED, -1);
    if (rc < 0 && rc != SHMAP_EOWNERDEAD) {
        shmap_close(*out);
        *out = NULL;
    }
    return rc;
}

static int open_segment(shmap_seg **out, const char *name, unsigned int flags)
{
    if (!out)
        return shmap__err(SHMAP_EINVAL, "shmap_open: NULL output");
    *out = NULL;
    if (flags & ~(unsigned)(SHMAP_RDWR | SHMAP_HOLD))
        return shmap__err(SHMAP_EINVAL, "shmap_open: unknown flags 0x%x", flags);
    struct shmap__name n;
    int rc = shmap__name_parse(name, &n);
    if (rc < 0)
        return rc;
    bool writable = flags & SHMAP_RDWR;
    int fd = shmap__posix_open(&n, writable);
    if (fd < 0)
        return fd;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return shmap__err(-e, "%s: fstat: %s", n.name, strerror(e));
    }
    pthread_mutex_lock(&registry_lock);
    struct shmap__map *m = registry_find(st.st_dev, st.st_ino, writable);
    if (m && m->pending) {
        rc = shmap__err(SHMAP_EPENDING, "%s: unmap is pending in this process; no new "
                                        "references until the last one is closed", n.name);
    } else if (m) {
        m->refs++;
    } else {
        rc = map_and_check(fd, &st, &n, writable, &m);
        if (rc == 0) {
            m->next = registry;
            registry = m;
        }
    }
    if (rc == 0 && !(*out = new_handle(m))) {
        m->refs--;
        rc = shmap__err(-ENOMEM, "%s: out of memory", n.name);
    }
    /* Record this process in the attach table (a full table only disables locks). */
    if (rc == 0)
        shmap__attach(m);
    pthread_mutex_unlock(&registry_lock);
    close(fd);
    return rc;
}

static bool same_shape(const struct shmap__header *h, shmap_dtype dtype, size_t elsize,
                       unsigned ndim, const uint64_t *dims, const char *rec)
{
    if (h->dtype != (uint32_t)dtype || h->elsize != elsize || h->ndim != ndim)
        return false;
    for (unsigned i = 0; i < ndim; i++)
        if (h->dims[i] != dims[i])
            return false;
    if (dtype == SHMAP_RECORD && strcmp((const char *)h + h->rec_offset, rec) != 0)
        return false;
    return true;
}

static void format_shape(char *buf, size_t size, shmap_dtype dtype, unsigned ndim,
                         const uint64_t *dims)
{
    int len = snprintf(buf, size, "%s[", shmap_dtype_name(dtype));
    for (unsigned i = 0; i < ndim && len > 0 && (size_t)len < size; i++)
        len += snprintf(buf + len, size - (size_t)len, "%s%llu", i ? "," : "",
                        (unsigned long long)dims[i]);
    if (len > 0 && (size_t)len < size)
        snprintf(buf + len, size - (size_t)len, "]");
}

/* Open-or-create found an existing segment: it must hold the same array. */
static int open_existing(shmap_seg **out, const char *name, shmap_dtype dtype, size_t elsize,
                         unsigned ndim, const uint64_t *dims, const char *rec)
{
    shmap_seg *seg;
    int rc = shmap_open(&seg, name, SHMAP_RDWR);
    if (rc < 0)
        return rc;
    const struct shmap__header *h = shmap__hdr(seg);
    if (!same_shape(h, dtype, elsize, ndim, dims, rec)) {
        char want[128], have[128];
        format_shape(want, sizeof want, dtype, ndim, dims);
        format_shape(have, sizeof have, (shmap_dtype)h->dtype, h->ndim, h->dims);
        shmap_close(seg);
        return shmap__err(SHMAP_EMISMATCH, "%s: exists as %s, asked for %s", name, have, want);
    }
    *out = seg;
    return 0;
}

int shmap_create(shmap_seg **out, const char *name, shmap_dtype dtype, unsigned int ndim,
                 const uint64_t *dims, const shmap_create_opts *opts)
{
    static const shmap_create_opts defaults = SHMAP_CREATE_OPTS_INIT;
    if (!out)
        return shmap__err(SHMAP_EINVAL, "shmap_create: NULL output");
    *out = NULL;
    if (!opts)
        opts = &defaults;
    if (opts->version < 1 || opts->version > SHMAP_CREATE_OPTS_VERSION)
        return shmap__err(SHMAP_EINVAL, "shmap_create: options version %u, this library knows "
                                        "1 to %d", opts->version, SHMAP_CREATE_OPTS_VERSION);
    const unsigned known = SHMAP_CREATE_REPLACE | SHMAP_CREATE_OPEN | SHMAP_CREATE_KEEP |
                           SHMAP_CREATE_TRANSIENT | SHMAP_CREATE_PREFAULT;
    if (opts->flags & ~known)
        return shmap__err(SHMAP_EINVAL, "shmap_create: unknown flags 0x%x", opts->flags & ~known);
    if ((opts->flags & SHMAP_CREATE_REPLACE) && (opts->flags & SHMAP_CREATE_OPEN))
        return shmap__err(SHMAP_EINVAL, "shmap_create: REPLACE and OPEN exclude each other");
    if (opts->mode & ~07777u)
        return shmap__err(SHMAP_EINVAL, "shmap_create: mode 0%o has bits beyond 07777",
                          opts->mode);
    struct shmap__name n;
    int rc = shmap__name_parse(name, &n);
    if (rc < 0)
        return rc;

    size_t elsize, rec_len = 0;
    const char *rec = NULL;
    if (dtype == SHMAP_RECORD) {
        rec = opts->record_fields;
        if ((rc = shmap_record_parse(rec, &elsize)) < 0)
            return rc;
        rec_len = strlen(rec) + 1;
    } else if ((elsize = shmap_dtype_size(dtype)) == 0) {
        return shmap__err(SHMAP_EDTYPE, "%s: invalid element type code %d", n.name, (int)dtype);
    } else if (opts->record_fields) {
        return shmap__err(SHMAP_EINVAL, "%s: a field list is for record types only", n.name);
    }
    struct shmap__layout lay;
    unsigned kwcap = opts->keyword_capacity ? opts->keyword_capacity : SHMAP__KW_DEFAULT_CAPACITY;
    if ((rc = shmap__layout(&lay, n.name, elsize, ndim, dims, kwcap, rec_len)) < 0)
        return rc;

    /* Open-or-create: open what is there; create only when nothing is. A creator racing
     * us may win between the two: then open what it made. */
    if (opts->flags & SHMAP_CREATE_OPEN) {
        rc = open_existing(out, name, dtype, elsize, ndim, dims, rec);
        if (rc != -ENOENT)
            return rc;
    }

    /* A hidden name left by a dead process that had our pid is skipped, not reused. */
    char tmp[64];
    unsigned mode = opts->mode ? opts->mode : 0600;
    int fd = -EEXIST;
    for (int attempt = 0; fd == -EEXIST && attempt < 16; attempt++) {
        shmap__posix_tmpname(tmp, sizeof tmp);
        fd = shmap__posix_create_tmp(tmp, mode, lay.total_size, n.name);
    }
    if (fd < 0)
        return fd;
    struct stat st;
    void *base = MAP_FAILED;
    if (fstat(fd, &st) < 0) {
        rc = shmap__err(-errno, "%s: fstat: %s", n.name, strerror(errno));
        goto fail;
    }
    /*
     * The header is written with pwrite rather than through the mapping: no other process
     * can see the object yet, and writing through the mapping would fault the page in,
     * which costs more than the copy.
     */
    struct shmap__header h;
    memset(&h, 0, sizeof h);
    unsigned seg_flags = (opts->flags & SHMAP_CREATE_TRANSIENT) ? SHMAP_SEG_TRANSIENT : 0;
    shmap__header_init(&h, &lay, dtype, ndim, dims, seg_flags);
    h.state = SHMAP__STATE_READY;
    shmap__attach_created(&h, NULL);
    if (pwrite(fd, &h, sizeof h, 0) != (ssize_t)sizeof h ||
        (rec && pwrite(fd, rec, rec_len, (off_t)lay.rec_offset) != (ssize_t)rec_len)) {
        rc = shmap__err(errno ? -errno : -EIO, "%s: cannot write the header: %s", n.name,
                        strerror(errno));
        goto fail;
    }
    int mflags = MAP_SHARED | ((opts->flags & SHMAP_CREATE_PREFAULT) ? MAP_POPULATE : 0);
    base = mmap(NULL, (size_t)lay.total_size, PROT_READ | PROT_WRITE, mflags, fd, 0);
    if (base == MAP_FAILED) {
        rc = shmap__err(-errno, "%s: cannot map %llu bytes: %s", n.name,
                        (unsigned long long)lay.total_size, strerror(errno));
        goto fail;
    }

    struct shmap__map *m = map_new(&n, &st, base, (size_t)lay.total_size, true);
    if (m)
        shmap__attach_created(&h, m);
    shmap_seg *seg = m ? new_handle(m) : NULL;
    if (!seg) {
        free(m);
        rc = shmap__err(-ENOMEM, "%s: out of memory", n.name);
        goto fail;
    }
    rc = shmap__posix_publish(tmp, n.os_handle, opts->flags & SHMAP_CREATE_REPLACE, n.name);
    if (rc == -EEXIST && (opts->flags & SHMAP_CREATE_OPEN)) {
        /* Lost a race with another creator: use its segment. */
        free(seg);
        free(m);
        munmap(base, (size_t)lay.total_size);
        close(fd);
        shm_unlink(tmp);
        return open_existing(out, name, dtype, elsize, ndim, dims, rec);
    }
    if (rc < 0) {
        free(seg);
        free(m);
        goto fail;
    }
    close(fd);
    m->created = true;
    m->destroy_pid = (opts->flags & SHMAP_CREATE_KEEP) ? 0 : shmap__getpid();
    pthread_mutex_lock(&registry_lock);
    m->next = registry;
    registry = m;
    pthread_mutex_unlock(&registry_lock);
    *out = seg;
    return 0;

fail:
    if (base != MAP_FAILED)
        munmap(base, (size_t)lay.total_size);
    close(fd);
    shm_unlink(tmp);
    return rc;
}

int shmap_dup(shmap_seg **out, shmap_seg *seg)
{
    if (!out || !seg)
        return shmap__err(SHMAP_EINVAL, "shmap_dup: NULL argument");
    int rc = 0;
    pthread_mutex_lock(&registry_lock);
    struct shmap__map *m = seg->map;
    if (m->pending)
        rc = shmap__err(SHMAP_EPENDING, "%s: unmap is pending in this process", m->name.name);
    else if (!(*out = new_handle(m)))
        rc = shmap__err(-ENOMEM, "%s: out of memory", m->name.name);
    else
        m->refs++;
    pthread_mutex_unlock(&registry_lock);
    return rc;
}

static int release(shmap_seg *seg, bool unmap)
{
    if (!seg)
        return 0;
    struct shmap__map *m = seg->map;
    shmap__lock_drop(seg);
    free(seg);
    pthread_mutex_lock(&registry_lock);
    bool last = --m->refs == 0;
    if (last)
        registry_remove(m);
    else if (unmap)
        m->pending = true;
    pthread_mutex_unlock(&registry_lock);
    if (!last)
        return 0;
    int rc = 0;
    bool destroyed = false;
    if (m->destroy_pid == shmap__getpid())
        destroyed = (rc = shmap__posix_destroy(&m->name, m->dev, m->ino)) == 0;
    /*
     * Leave the attach table. A creator that has just removed the name and never wrote the
     * header through this mapping skips it: nobody can attach any more, and the write would
     * fault the header page in only to unmap it, a third of the cost of a small create.
     */
    if (!destroyed || m->lock_touched)
        shmap__detach(m);
    munmap(m->base, m->length);
    free(m);
    return rc;
}

int shmap_close(shmap_seg *seg)
{
    return release(seg, false);
}

int shmap_unmap(shmap_seg *seg)
{
    return release(seg, true);
}

int shmap_set_destroy(shmap_seg *seg, int destroy)
{
    if (!seg)
        return shmap__err(SHMAP_EINVAL, "shmap_set_destroy: NULL segment");
    pthread_mutex_lock(&registry_lock);
    seg->map->destroy_pid = destroy ? shmap__getpid() : 0;
    pthread_mutex_unlock(&registry_lock);
    return 0;
}

int shmap_unlink(const char *name)
{
    struct shmap__name n;
    int rc = shmap__name_parse(name, &n);
    if (rc < 0)
        return rc;
    if (shm_unlink(n.os_handle) == 0)
        return 0;
    int e = errno;
    if (e == ENOENT)
        return shmap__err(-ENOENT, "%s: no such segment", n.name);
    if (e == EACCES || e == EPERM)
        return shmap__err(-e, "%s: permission denied to remove it", n.name);
    return shmap__err(-e, "%s: cannot remove: %s", n.name, strerror(e));
}

void *shmap_data(const shmap_seg *seg)
{
    return seg ? (char *)seg->map->base + shmap__hdr(seg)->data_offset : NULL;
}

int shmap_created(const shmap_seg *seg)
{
    return seg && seg->map->created;
}

int shmap_writable(const shmap_seg *seg)
{
    return seg && seg->map->writable;
}

static void map_info(const struct shmap__map *m, shmap_info *out)
{
    const struct shmap__header *h = m->base;
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", m->name.name);
    snprintf(out->os_handle, sizeof out->os_handle, "%s", m->name.os_handle);
    out->store = m->name.store;
    out->size = m->length;
    out->mode = m->mode;
    out->uid = m->uid;
    out->gid = m->gid;
    shmap__info_fill(out, h, (const struct shmap__kwslot *)((const char *)h + h->kw_offset),
                     h->rec_len ? (const char *)h + h->rec_offset : NULL);
}

int shmap_info_get(const shmap_seg *seg, shmap_info *out)
{
    if (!seg || !out)
        return shmap__err(SHMAP_EINVAL, "shmap_info_get: NULL argument");
    map_info(seg->map, out);
    return 0;
}

int shmap_os_handle(const shmap_seg *seg, char *buf, size_t size)
{
    if (!seg || !buf)
        return shmap__err(SHMAP_EINVAL, "shmap_os_handle: NULL argument");
    const char *handle = seg->map->name.os_handle;
    if (strlen(handle) >= size)
        return shmap__err(-ERANGE, "%s: OS handle needs %zu bytes", seg->map->name.name,
                          strlen(handle) + 1);
    memcpy(buf, handle, strlen(handle) + 1);
    return 0;
}

int shmap_mappings(shmap_mapping **out, size_t *count)
{
    if (!out || !count)
        return shmap__err(SHMAP_EINVAL, "shmap_mappings: NULL argument");
    pthread_mutex_lock(&registry_lock);
    size_t n = 0;
    for (struct shmap__map *m = registry; m; m = m->next)
        n++;
    shmap_mapping *list = calloc(n ? n : 1, sizeof *list);
    if (!list) {
        pthread_mutex_unlock(&registry_lock);
        return shmap__err(-ENOMEM, "shmap_mappings: out of memory");
    }
    size_t i = 0;
    for (struct shmap__map *m = registry; m; m = m->next, i++) {
        map_info(m, &list[i].info);
        list[i].offset = list[i].info.data_offset;
        list[i].refs = m->refs;
        list[i].pending = m->pending;
        list[i].writable = m->writable;
        list[i].destroy = m->destroy_pid == shmap__getpid();
    }
    pthread_mutex_unlock(&registry_lock);
    *out = list;
    *count = n;
    return 0;
}

void shmap_mappings_free(shmap_mapping *list)
{
    free(list);
}
