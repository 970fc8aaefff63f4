/*
 * Creating, opening and closing segments, and the process-wide registry of mappings.
 *
 * Design note. Every object this process maps has one `struct shmap__map`, found in the
 * registry by device and inode (a name can be replaced, so the name alone is not enough)
 * and access mode. Handles (`shmap_seg`) are references to it: opening an object already
 * mapped with the same access adds a reference (IDL's SHMMAP of a mapped segment, or
 * SHMVAR), and the memory is unmapped when the last reference goes. shmap_unmap() with
 * references left marks the mapping unmap-pending, which refuses new references. Raw
 * mappings (no header) are in the registry for shmap_mappings() but never shared.
 *
 * The destroy policy is per mapping: a segment created here is destroyed (its name
 * removed) when the last reference goes, unless the creator asked to keep it. The pid that
 * may destroy is recorded, so a forked child closing inherited handles destroys nothing.
 * Files and memfds are never destroyed by a close.
 *
 * Every store is reached through its operations (store.h): open, read, map, unmap, close,
 * create, destroy, unlink. One mutex guards the registry. Opens run mmap under it, which
 * serialises opens within a process; that keeps two threads from mapping one object twice,
 * and fork() (which takes it) from copying a mapping not yet registered. An open that must
 * wait (for a creator, for gc) lets it go meanwhile: see unlocked_wait().
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store.h"

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shmap__map *registry;

void shmap__registry_hold(bool hold)
{
    if (hold)
        pthread_mutex_lock(&registry_lock);
    else
        pthread_mutex_unlock(&registry_lock);
}

/* How long an open waits for a creator that is still writing the header. */
#define INIT_WAIT_NS SHMAP__CREATOR_WAIT_NS

/*
 * One freed mapping record is kept for the next open. A record is some 9 KiB (names can be
 * paths), and its malloc and free cost a tenth of the user time of an attach; programs
 * that attach, read and detach in a loop reuse it.
 */
static struct shmap__map *spare_map;

static shmap_seg *new_handle(struct shmap__map *m)
{
    shmap_seg *seg = malloc(sizeof *seg);
    if (seg) {
        seg->map = m;
        seg->lock_held = 0;
        seg->lock_pid = 0;
        seg->start_own = false;
    }
    return seg;
}

/*
 * Note where a handle that an open gave by sharing an existing mapping starts, for
 * shmap_info_at_open(): a reader takes that generation as the one it attached at, and what
 * was published since the mapping's first open is not new to it. Reading the live header
 * touches its page, which a handle with a mapping of its own, the usual case, is spared:
 * its open has just read the header it keeps. (Raw mappings are never shared.)
 */
static void handle_start_now(shmap_seg *seg)
{
    const struct shmap__header *live = shmap__live(seg);
    seg->start_gen = __atomic_load_n(&live->generation, __ATOMIC_ACQUIRE);
    seg->start_pub_ns = __atomic_load_n(&live->last_publish_ns, __ATOMIC_RELAXED);
    seg->start_own = true;
}

/*
 * A new mapping record with one reference. Names are copied by length: the record is
 * large (names can be paths) and zeroing or copying all of it would cost more than the
 * rest of an attach.
 */
static struct shmap__map *map_new(const struct shmap__name *n, const struct stat *st,
                                  void *base, size_t len, int access)
{
    struct shmap__map *m = __atomic_exchange_n(&spare_map, NULL, __ATOMIC_ACQUIRE);
    if (!m && !(m = malloc(sizeof *m)))
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
    m->size = (uint64_t)st->st_size;
    m->writable = access != SHMAP__ACC_RDONLY;
    m->priv = access == SHMAP__ACC_PRIVATE;
    m->created_pid = 0;
    m->pending = false;
    m->refs = 1;
    m->destroy_pid = 0;
    m->hidden = NULL;
    m->unfinished = false;
    m->hidden_pid = 0;
    m->hidden_replace = false;
    m->lock_slot = 0;
    m->lock_slot_pid = 0;
    m->lock_touched = false;
    m->write_begun = false;
    m->try_checked_ns = 0;
    m->named_checked_ns = 0;
    m->writer_checked_ns = 0;
    /* A private mapping's header is our own copy: locks go through a shared map of it. */
    m->lock_base = access == SHMAP__ACC_RDWR ? base : NULL;
    m->lock_len = 0;
    m->ops = shmap__store_ops(n->store);
    m->data = base;
    m->live = base;
    m->live_len = 0;
    m->kw_own = false;
    m->kw_own_seq = 0;
    m->raw = false;
    m->desc = NULL;
    m->desc_fields = NULL;
    m->fd = -1;
    m->deleted = m->deleted_seen = false;
    return m;
}

/* Take the object's mode and owner as the kernel now reports them (see perm.c). Readers
 * of a handle's description take no lock, so the fields are written atomically. */
static void map_set_perm(struct shmap__map *m, const struct stat *st)
{
    __atomic_store_n(&m->mode, (unsigned)st->st_mode & 07777u, __ATOMIC_RELAXED);
    __atomic_store_n(&m->uid, st->st_uid, __ATOMIC_RELAXED);
    __atomic_store_n(&m->gid, st->st_gid, __ATOMIC_RELAXED);
}

/* Unmap what a mapping record maps: the object, and a private mapping's live header. */
static void map_unmap(struct shmap__map *m)
{
    m->ops->unmap(m->base, m->length);
    if (m->live_len)
        m->ops->unmap(m->live, m->live_len);
}

static void map_free(struct shmap__map *m)
{
    if (m->fd >= 0)
        close(m->fd);
    free(m->desc);
    free(m->desc_fields);
    free(m->hidden);
    struct shmap__map *none = NULL;
    if (!__atomic_compare_exchange_n(&spare_map, &none, m, false, __ATOMIC_RELEASE,
                                     __ATOMIC_RELAXED))
        free(m);
}

static struct shmap__map *registry_find(dev_t dev, ino_t ino, int access)
{
    bool writable = access != SHMAP__ACC_RDONLY, priv = access == SHMAP__ACC_PRIVATE;
    for (struct shmap__map *m = registry; m; m = m->next)
        if (m->dev == dev && m->ino == ino && m->writable == writable && m->priv == priv &&
            !m->raw)
            return m;
    return NULL;
}

static void registry_add(struct shmap__map *m)
{
    m->next = registry;
    registry = m;
}

/* Take `m` out of the registry: false if it was never in it (shmap__open_unregistered()). */
static bool registry_remove(struct shmap__map *m)
{
    for (struct shmap__map **p = &registry; *p; p = &(*p)->next)
        if (*p == m) {
            *p = m->next;
            return true;
        }
    return false;
}

static int access_of(unsigned flags)
{
    return (flags & SHMAP_PRIVATE) ? SHMAP__ACC_PRIVATE
           : (flags & SHMAP_RDWR)  ? SHMAP__ACC_RDWR
                                   : SHMAP__ACC_RDONLY;
}

/* Is `rc` a header check's verdict on what the header holds? */
static bool header_refused(int rc)
{
    return rc == SHMAP_EFORMAT || rc == SHMAP_ECORRUPT || rc == SHMAP_EVERSION ||
           rc == SHMAP_EBYTEORDER || rc == SHMAP_ETRUNCATED;
}

/*
 * A System V segment's memory is zero from shmget until its creator has copied the header
 * in (it has no hidden name to be built under), and a reader may catch the copy half-way:
 * a header refused in a segment made a moment ago by a live process may be one being
 * created, and is read again a while before it is believed.
 */
static bool sysv_being_made(const struct shmap__name *n, const struct shmap__obj *obj, int rc)
{
    return n->store == SHMAP_STORE_SYSV && header_refused(rc) &&
           shmap__sysv_fresh(obj->id, INIT_WAIT_NS / 1000000000);
}

/*
 * A header still marked INIT: a creator still writing it is given a moment; a dead one is
 * reported at once, and one of another pid namespace, which cannot be judged, is given the
 * moment too. The whole header page is read for this (the creator's pid namespace is in
 * slot 0 of the attach table, past the part an attach checks); on success the checked
 * part is copied to `h`. A System V header not written yet (sysv_being_made()) is waited
 * for the same way. `wait_ns` bounds the moment (0: the header is read once more).
 */
static int wait_for_creator(const struct shmap__store_ops *ops, struct shmap__obj *obj,
                            const struct shmap__name *n, size_t len, struct shmap__header *h,
                            int64_t wait_ns)
{
    const char *who = n->name;
    struct shmap__header *full = malloc(sizeof *full);
    if (!full)
        return shmap__err(-ENOMEM, "%s: out of memory", who);
    int64_t t0 = shmap__mono_ns();
    int rc;
    for (;;) {
        ssize_t got = ops->read(obj, full, sizeof *full, 0);
        size_t avail = got > 0 ? (size_t)got : 0;
        rc = shmap__header_check(full, avail, (uint64_t)len, who);
        bool unwritten = sysv_being_made(n, obj, rc);
        if ((rc != SHMAP_EINCOMPLETE && !unwritten) ||
            (rc == SHMAP_EINCOMPLETE &&
             shmap__creator_state(full, avail) == SHMAP__CREATOR_DEAD) ||
            shmap__mono_ns() - t0 >= wait_ns)
            break;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    if (rc == 0)
        memcpy(h, full, SHMAP__CHECKED_SIZE);
    free(full);
    return rc;
}

/* Has the object lost its name since it was opened (gc, a delete or a replace)? */
static bool unnamed_now(const struct shmap__name *n, const struct shmap__obj *obj)
{
    struct stat st;
    if (n->store == SHMAP_STORE_SYSV)
        return !shmap__sysv_alive(obj->id);
    return obj->fd >= 0 && fstat(obj->fd, &st) == 0 && st.st_nlink == 0;
}

/*
 * Let the registry lock go for a wait of up to seconds inside an open that holds it
 * (`locked`), so that other threads' opens, dups and closes and fork() go on meanwhile, and
 * take it again after (`begin` false). A child forked meanwhile must not get the mapping
 * being made, which it could never release: it is kept out of forks until the lock is
 * held again (one system call each way, on this waiting path only).
 */
static void unlocked_wait(bool locked, bool begin, void *base, size_t len)
{
    if (!locked)
        return;
    if (begin) {
        if (base)
            madvise(base, len, MADV_DONTFORK);
        pthread_mutex_unlock(&registry_lock);
    } else {
        pthread_mutex_lock(&registry_lock);
        if (base)
            madvise(base, len, MADV_DOFORK);
    }
}

/*
 * Map an open object and check it; with `locked`, the caller holds the registry lock, which
 * the waits let go (unlocked_wait()): the registry may have changed when this returns.
 * `by_name`: the object was reached by its name, which gc may be removing (SHMAP__EGONE
 * when it did).
 *
 * The header is checked in a private copy read through the store (pread for descriptors):
 * the checks cannot be raced by a writer changing it meanwhile, and an attach does not
 * fault in the header page (which costs more than the read), so attach stays close to the
 * bare system calls. The copy is read after the object is mapped: gc marks a segment
 * (`gc_pid`) before it looks for processes that map it, and sets `removed` before it
 * clears the mark, so either it sees this mapping or this copy shows the one or the other,
 * and the open waits for gc's verdict (gc.c). A segment deleted since it was opened is not
 * given either. A creator still writing the header is waited for up to `wait_ns`.
 */
static int map_and_check(struct shmap__obj *obj, const struct shmap__name *n, int access,
                         bool by_name, bool header_only, bool locked, int64_t wait_ns,
                         struct shmap__map **out)
{
    const struct shmap__store_ops *ops = shmap__store_ops(n->store);
    const struct stat *st = &obj->st;
    if ((uint64_t)st->st_size > SIZE_MAX || st->st_size < 0)
        return shmap__err(SHMAP_ESIZE, "%s: object of %lld bytes cannot be mapped", n->name,
                          (long long)st->st_size);
    size_t len = (size_t)st->st_size;
    /* The header page alone, as a whole granule (a huge page on hugetlbfs); a System V
     * segment is attached whole whatever is asked. */
    size_t maplen = len;
    if (header_only) {
        size_t g = ops->granule ? ops->granule(obj) : 0;
        maplen = g > SHMAP__HEADER_SIZE ? g : SHMAP__HEADER_SIZE;
        maplen = maplen < len ? maplen : len;
    }
    /* The header is read straight into the record that keeps it (shmap_info_at_open()). */
    struct shmap__map *m = map_new(n, st, NULL, maplen, access);
    if (!m)
        return shmap__err(-ENOMEM, "%s: out of memory", n->name);
    _Static_assert(sizeof m->head >= SHMAP__CHECKED_SIZE, "room for the checked header");
    struct shmap__header *h = (struct shmap__header *)m->head;
    int err = 0;
    int rc = shmap__fd_holes_check(obj, 0, maplen, n->name);
    if (rc < 0) {
        map_free(m);
        return rc;
    }
    void *base = len ? ops->map(obj, maplen, 0, access, false, &err) : NULL;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    ssize_t got = ops->read(obj, h, SHMAP__CHECKED_SIZE, 0);
    /* A System V segment removed since shmget can no longer be attached. */
    if ((got < 0 || !base) && by_name && unnamed_now(n, obj))
        rc = SHMAP__EGONE;
    else if (got == -EACCES) /* a System V segment's mode, checked when it is attached */
        rc = shmap__err(-EACCES, "%s: permission denied to open it %s", n->name,
                        access == SHMAP__ACC_RDWR ? "read-write" : "read-only");
    else if (got == -ENOMEM && n->store == SHMAP_STORE_SYSV) /* attached whole to be read */
        rc = shmap__err(-ENOMEM, "%s: cannot attach its %zu bytes%s", n->name, len,
                        shmap__map_hint(-ENOMEM, len));
    else if (got < 0 && n->store == SHMAP_STORE_SYSV && shmap__sysv_gone(obj->id))
        rc = shmap__err(-ENOENT, "%s: no such segment (removed while it was being opened)",
                        n->name);
    else if (got < 0)
        rc = shmap__err((int)got, "%s: read: %s", n->name, strerror((int)-got));
    else
        rc = shmap__header_check(h, (size_t)got, (uint64_t)len, n->name);
    if (rc == SHMAP_EINCOMPLETE || sysv_being_made(n, obj, rc)) {
        unlocked_wait(locked, true, base, maplen);
        rc = wait_for_creator(ops, obj, n, len, h, wait_ns);
        unlocked_wait(locked, false, base, maplen);
    }
    /* A header refused, or never finished, in an object removed meanwhile (a System V
     * segment destroyed between its creator's shmget and its header): gone, not foreign. */
    if (by_name && (header_refused(rc) || rc == SHMAP_EINCOMPLETE) && unnamed_now(n, obj))
        rc = SHMAP__EGONE;
    /* System V checks access at shmat (a POSIX object or a file, at open): said as they
     * say it. */
    if (rc == 0 && !base && err == -EACCES && n->store == SHMAP_STORE_SYSV)
        rc = shmap__err(-EACCES, "%s: permission denied to attach it %s (mode %04o, owner uid "
                                 "%u)", n->name,
                        access == SHMAP__ACC_RDWR ? "read-write" : "read-only",
                        (unsigned)(st->st_mode & 0777), (unsigned)st->st_uid);
    else if (rc == 0 && !base)
        rc = shmap__err(err, "%s: cannot map %zu bytes: %s%s", n->name, maplen,
                        strerror(-err),
                        shmap__huge_map_hint(err, maplen, ops->granule ? ops->granule(obj) : 0,
                                             (uint64_t)st->st_blocks * 512));
    if (rc == 0 && by_name && (h->gc_pid || h->removed)) {
        if (h->gc_pid) {
            unlocked_wait(locked, true, base, maplen);
            shmap__gc_wait(base, access == SHMAP__ACC_RDWR);
            unlocked_wait(locked, false, base, maplen);
        }
        if (unnamed_now(n, obj))
            rc = SHMAP__EGONE;
    }
    char fields[SHMAP_RECORD_FIELDS_MAX];
    if (rc == 0 && h->dtype == SHMAP_RECORD && !header_only &&
        (rc = shmap__record_check((const char *)base + h->rec_offset, h->rec_len, h->elsize,
                                  n->name, fields)) == 0 &&
        !(m->desc_fields = strdup(fields)))
        rc = shmap__err(-ENOMEM, "%s: out of memory", n->name);
    /*
     * A private mapping's header page becomes this process's copy at the first write to it
     * (a keyword, a publish) and at the first futex wait on it: FUTEX_WAIT pins the page for
     * writing, which breaks copy-on-write on a writable private mapping, and the key of the
     * wait is then private, out of reach of the writers' wakes. So what other processes
     * change in the header is read, and waited on, through a shared read-only mapping of
     * the header page (the descriptor is open read-only, which is enough). Plain opens
     * need none: their mapping is shared already.
     */
    void *live = NULL;
    size_t live_len = 0;
    if (rc == 0 && access == SHMAP__ACC_PRIVATE) {
        live_len = ops->granule ? ops->granule(obj) : 0;
        if (live_len < SHMAP__HEADER_SIZE)
            live_len = SHMAP__HEADER_SIZE;
        if (!(live = ops->map(obj, live_len, 0, SHMAP__ACC_RDONLY, false, &err)))
            rc = shmap__err(err, "%s: cannot map the header page: %s", n->name,
                            strerror(-err));
    }
    if (rc < 0) {
        if (base)
            ops->unmap(base, maplen);
        map_free(m);
        return rc;
    }
    m->base = base;
    m->live = live ? live : base;
    m->live_len = live ? live_len : 0;
    m->lock_base = access == SHMAP__ACC_RDWR ? base : NULL;
    m->data = header_only ? NULL : (char *)base + h->data_offset;
    *out = m;
    return 0;
}

/*
 * Find or map an open object and give a handle to it. `keep_fd`: the map keeps obj->fd;
 * `by_name`: as map_and_check() takes it. A new mapping is made and checked under the
 * registry lock, but for the waits of the check (for a creator still writing a System V
 * header, for gc's verdict: up to seconds), which let it go (unlocked_wait()). So the
 * registry is asked again once the mapping is made, and one another thread added meanwhile
 * is shared instead, this one undone.
 */
static int attach_obj(shmap_seg **out, struct shmap__obj *obj, const struct shmap__name *n,
                      int access, bool keep_fd, bool by_name)
{
    int rc = 0;
    bool shared = false;
    struct shmap__map *fresh = NULL;
    pthread_mutex_lock(&registry_lock);
    struct shmap__map *m = registry_find(obj->st.st_dev, obj->st.st_ino, access);
    if (!m) {
        rc = map_and_check(obj, n, access, by_name, false, true, INIT_WAIT_NS, &fresh);
        if (rc < 0) {
            pthread_mutex_unlock(&registry_lock);
            return rc;
        }
        m = registry_find(obj->st.st_dev, obj->st.st_ino, access);
    }
    if (m && m->pending) {
        rc = shmap__err(SHMAP_EPENDING, "%s: unmap is pending in this process; no new "
                                        "references until the last one is closed", n->name);
    } else if (m) {
        m->refs++;
        shared = true;
        map_set_perm(m, &obj->st); /* a mode changed since is shown by every handle */
        if (obj->deleted) {
            __atomic_store_n(&m->deleted, true, __ATOMIC_RELAXED);
            __atomic_store_n(&m->deleted_seen, true, __ATOMIC_RELAXED);
        }
    } else {
        m = fresh;
        fresh = NULL;
        m->deleted = m->deleted_seen = obj->deleted;
        if (keep_fd) {
            m->fd = obj->fd;
            obj->fd = -1;
        }
        registry_add(m);
    }
    if (rc == 0 && !(*out = new_handle(m))) {
        m->refs--;
        rc = shmap__err(-ENOMEM, "%s: out of memory", n->name);
    } else if (rc == 0 && shared) {
        handle_start_now(*out);
    }
    /* Record this process in the attach table (a full table only disables locks). */
    if (rc == 0 && access == SHMAP__ACC_RDWR)
        shmap__attach(m);
    pthread_mutex_unlock(&registry_lock);
    if (fresh) {
        map_unmap(fresh);
        map_free(fresh);
    }
    return rc;
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

static int check_open_flags(unsigned flags, const char *who)
{
    if (flags & ~(unsigned)(SHMAP_RDWR | SHMAP_HOLD | SHMAP_PRIVATE | SHMAP_DELETED))
        return shmap__err(SHMAP_EINVAL, "%s: unknown flags 0x%x", who, flags);
    /* Holding needs write access to the lock table, which a private open, made to need read
     * access only, does not ask for (a private handle may still take the segment's lock with
     * shmap_lock() when its user may write the object). */
    if ((flags & SHMAP_PRIVATE) && (flags & SHMAP_HOLD))
        return shmap__err(SHMAP_EINVAL, "%s: SHMAP_HOLD is refused with SHMAP_PRIVATE: holding "
                                        "the segment's lock while open needs write access, "
                                        "which a private open does not ask for (take it with "
                                        "shmap_lock() if this user may write the segment)",
                          who);
    if ((flags & SHMAP_DELETED) && (flags & (SHMAP_RDWR | SHMAP_HOLD)))
        return shmap__err(SHMAP_EINVAL, "%s: a deleted segment is opened only to be looked at: "
                                        "SHMAP_DELETED goes with a read-only open that holds no "
                                        "lock", who);
    return 0;
}

/*
 * A System V segment deleted while processes still attach it keeps its id, and Linux lets
 * anyone with access attach it by that id. A POSIX segment is gone from every open once
 * deleted, and so is a System V one on other systems: so an open by name refuses it too,
 * unless the caller asks for it (SHMAP_DELETED) to look at it. Handles already open keep
 * their mapping.
 */
static int refuse_deleted(const struct shmap__obj *obj, const struct shmap__name *n,
                          unsigned flags)
{
    if (!obj->deleted || (flags & SHMAP_DELETED))
        return 0;
    return shmap__sysv_deleted(n->name, "it cannot be opened any more");
}

static int open_segment(shmap_seg **out, const char *name, unsigned int flags)
{
    if (!out)
        return shmap__err(SHMAP_EINVAL, "shmap_open: NULL output");
    *out = NULL;
    int rc = check_open_flags(flags, "shmap_open");
    if (rc < 0)
        return rc;
    struct shmap__name n;
    if ((rc = shmap__name_parse(name, &n)) < 0)
        return rc;
    const struct shmap__store_ops *ops = shmap__store_ops(n.store);
    int access = access_of(flags);
    /* Once more from the name when the object lost it in the middle of the open (gc, a
     * delete or a replace): the name is gone, or holds a new segment. Each try starts from
     * the name as given (a System V open rewrites it to the key it found); it is parsed
     * again rather than kept in a copy, which would cost every open a copy of 8 KiB. */
    for (int tries = 0;; tries++) {
        struct shmap__obj obj = SHMAP__OBJ_INIT;
        if (tries && (rc = shmap__name_parse(name, &n)) < 0)
            return rc;
        if ((rc = ops->open(&n, access, &obj)) < 0)
            return rc;
        if ((rc = refuse_deleted(&obj, &n, flags)) == 0)
            rc = attach_obj(out, &obj, &n, access, false, !(flags & SHMAP_DELETED));
        ops->close(&obj);
        if (rc != SHMAP__EGONE)
            return rc;
        if (tries == 2)
            return shmap__err(-ENOENT, "%s: no such segment (removed while it was being "
                                       "opened)", n.name);
    }
}

/*
 * A mapping of its own, left out of the registry: no open finds it and shmap_mappings()
 * does not list it, so it neither takes nor needs a reference to this process's mapping of
 * the object, pending or not. It maps the header page alone (data NULL): what delete locks
 * and notifies through, and what tells whether a name holds a segment, so that neither
 * needs the address space of the data (a segment larger than ulimit -v is deleted as any
 * other). It is checked as an attach checks, takes a slot of its own in the attach table
 * at its first lock (slots are per mapping), and shmap_close() frees that slot and unmaps
 * it; the registry has nothing to remove then.
 */
int shmap__open_unregistered(shmap_seg **out, const struct shmap__name *name, int access,
                             int64_t wait_ns)
{
    *out = NULL;
    const struct shmap__store_ops *ops = shmap__store_ops(name->store);
    /* As open_segment(): once more from the name when the object lost it meanwhile. */
    for (int tries = 0;; tries++) {
        struct shmap__name n = *name;
        struct shmap__obj obj = SHMAP__OBJ_INIT;
        int rc = ops->open(&n, access, &obj);
        if (rc < 0)
            return rc;
        struct shmap__map *m = NULL;
        if ((rc = refuse_deleted(&obj, &n, 0)) == 0)
            rc = map_and_check(&obj, &n, access, true, true, false, wait_ns, &m);
        ops->close(&obj);
        if (rc == SHMAP__EGONE && tries < 2)
            continue;
        if (rc == SHMAP__EGONE)
            rc = shmap__err(-ENOENT, "%s: no such segment (removed while it was being "
                                     "opened)", n.name);
        if (rc < 0)
            return rc;
        if (!(*out = new_handle(m))) {
            map_unmap(m);
            map_free(m);
            return shmap__err(-ENOMEM, "%s: out of memory", n.name);
        }
        return 0;
    }
}

int shmap_open_fd(shmap_seg **out, int fd, unsigned int flags)
{
    if (!out)
        return shmap__err(SHMAP_EINVAL, "shmap_open_fd: NULL output");
    *out = NULL;
    int rc = check_open_flags(flags, "shmap_open_fd");
    if (rc < 0)
        return rc;
    struct shmap__name n;
    char link[64], target[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t len = readlink(link, target, sizeof target - 1);
    target[len > 0 ? len : 0] = '\0';
    /* A memfd reads as "/memfd:LABEL (deleted)"; anything else is a file. */
    if (strncmp(target, "/memfd:", 7) == 0) {
        n.store = SHMAP_STORE_MEMFD;
        char *del = strstr(target, " (deleted)");
        if (del)
            *del = '\0';
        snprintf(n.name, sizeof n.name, "%s", target + 1);
    } else {
        n.store = SHMAP_STORE_FILE;
        snprintf(n.name, sizeof n.name, "file:%s", len > 0 ? target : link);
    }
    struct shmap__obj obj = SHMAP__OBJ_INIT;
    if ((obj.fd = fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0) {
        int e = errno;
        return shmap__err(-e, "shmap_open_fd: descriptor %d: %s%s", fd, strerror(e),
                          shmap__fd_hint(e));
    }
    snprintf(n.os_handle, sizeof n.os_handle, "/proc/%d/fd/%d", (int)getpid(), obj.fd);
    /* An O_PATH descriptor duplicates and fstats like any other, then fails every read
     * and mmap with EBADF: say so. */
    int fl = fcntl(obj.fd, F_GETFL);
    if (fl >= 0 && (fl & O_PATH)) {
        close(obj.fd);
        return shmap__err(-EBADF, "%s: descriptor %d is an O_PATH descriptor, which cannot be "
                                  "read or mapped: open the file for reading", n.name, fd);
    }
    if (fstat(obj.fd, &obj.st) < 0 || !S_ISREG(obj.st.st_mode)) {
        close(obj.fd);
        return shmap__err(-EINVAL, "shmap_open_fd: descriptor %d is not a regular file or "
                                   "memfd", fd);
    }
    /*
     * The access is the descriptor's, checked here: a read-write mapping of the object this
     * process already has would otherwise be shared with it, and mmap would have refused it
     * (a private mapping needs only read access).
     */
    int access = access_of(flags), mode = fl & O_ACCMODE;
    if (mode == O_WRONLY || (access == SHMAP__ACC_RDWR && mode != O_RDWR)) {
        close(obj.fd);
        return shmap__err(-EACCES, "%s: descriptor %d is open %s: %s", n.name, fd,
                          mode == O_WRONLY ? "write-only" : "read-only",
                          access == SHMAP__ACC_RDWR ? "SHMAP_RDWR needs one opened read-write"
                                                    : "mapping it needs one opened for reading");
    }
    rc = attach_obj(out, &obj, &n, access, true, false);
    shmap__fd_close(&obj);
    if (rc == 0 && (flags & SHMAP_HOLD)) {
        rc = shmap_lock(*out, (flags & SHMAP_RDWR) ? SHMAP_LOCK_EXCLUSIVE : SHMAP_LOCK_SHARED,
                        -1);
        if (rc < 0 && rc != SHMAP_EOWNERDEAD) {
            shmap_close(*out);
            *out = NULL;
        }
    }
    return rc;
}

int shmap_fd(const shmap_seg *seg)
{
    if (!seg)
        return shmap__err(SHMAP_EINVAL, "shmap_fd: NULL segment");
    if (seg->map->fd < 0)
        return shmap__err(SHMAP_ESTORE, "%s: only memfd segments and those opened with "
                                        "shmap_open_fd() keep a descriptor", seg->map->name.name);
    return seg->map->fd;
}

/* A described mapping's record field list: as read at open (or given at create), else where
 * the checked header puts it; NULL when it has none. */
static const char *fields_of(const struct shmap__map *m)
{
    const struct shmap__header *h = shmap__fixed_of(m);
    return m->desc_fields ? m->desc_fields
           : h->rec_len   ? (const char *)m->base + h->rec_offset
                          : NULL;
}

/* A ring is part of the shape: its first dimension counts frames, a plain array's does not,
 * so a caller that gets the other kind would misread every frame. */
static bool same_shape(const struct shmap__header *h, const char *h_rec, shmap_dtype dtype,
                       size_t elsize, unsigned ndim, const uint64_t *dims, const char *rec,
                       bool ring)
{
    if (h->dtype != (uint32_t)dtype || h->elsize != elsize || h->ndim != ndim ||
        !(h->flags & SHMAP_SEG_RING) != !ring)
        return false;
    for (unsigned i = 0; i < ndim; i++)
        if (h->dims[i] != dims[i])
            return false;
    if (dtype == SHMAP_RECORD && (!h_rec || !shmap__record_same(h_rec, rec)))
        return false;
    return true;
}

/* "f32[512,512]", or for a record with `fields` given "record[3] {x:f4,y:f4}"; `ring` < 0
 * says nothing of rings, else "(a ring of 8 frames)" or "(not a ring)" follows. */
static void format_shape(char *buf, size_t size, shmap_dtype dtype, unsigned ndim,
                         const uint64_t *dims, const char *fields, int ring)
{
    int len = snprintf(buf, size, "%s[", shmap_dtype_name(dtype));
    for (unsigned i = 0; i < ndim && len > 0 && (size_t)len < size; i++)
        len += snprintf(buf + len, size - (size_t)len, "%s%llu", i ? "," : "",
                        (unsigned long long)dims[i]);
    if (len > 0 && (size_t)len < size)
        len += snprintf(buf + len, size - (size_t)len, "]");
    if (fields && len > 0 && (size_t)len < size)
        len += snprintf(buf + len, size - (size_t)len, " {%s}", fields);
    if (ring > 0 && len > 0 && (size_t)len < size)
        snprintf(buf + len, size - (size_t)len, " (a ring of %llu %s)",
                 (unsigned long long)dims[0], shmap__plural(dims[0], "frame", "frames"));
    else if (ring == 0 && len > 0 && (size_t)len < size)
        snprintf(buf + len, size - (size_t)len, " (not a ring)");
}

/* Open-or-create found an existing segment: it must hold the same array. */
static int open_existing(shmap_seg **out, const char *name, shmap_dtype dtype, size_t elsize,
                         unsigned ndim, const uint64_t *dims, const char *rec, bool ring)
{
    shmap_seg *seg;
    int rc = shmap_open(&seg, name, SHMAP_RDWR);
    if (rc < 0)
        return rc;
    const struct shmap__header *h = shmap__fixed(seg);
    const char *h_rec = fields_of(seg->map);
    if (!same_shape(h, h_rec, dtype, elsize, ndim, dims, rec, ring)) {
        /* Both field lists when both are records: the difference may be in them alone;
         * what each is of rings when either is one. */
        bool recs = dtype == SHMAP_RECORD && h->dtype == SHMAP_RECORD;
        bool h_ring = (h->flags & SHMAP_SEG_RING) != 0, rings = ring || h_ring;
        char want[160 + SHMAP_RECORD_FIELDS_MAX], have[sizeof want];
        format_shape(want, sizeof want, dtype, ndim, dims, recs ? rec : NULL,
                     rings ? ring : -1);
        format_shape(have, sizeof have, (shmap_dtype)h->dtype, h->ndim, h->dims,
                     recs ? h_rec : NULL, rings ? h_ring : -1);
        shmap_close(seg);
        return shmap__err(SHMAP_EMISMATCH, "%s: exists as %s, asked for %s", name, have, want);
    }
    *out = seg;
    return 0;
}

/* A field list's error, which names the field, prefixed with the segment it was given for
 * (shmap_record_parse() has no segment to name). */
static int record_error(int rc, const char *who)
{
    char detail[512];
    snprintf(detail, sizeof detail, "%s", shmap_last_error());
    return shmap__err(rc, "%s: %s", who, detail);
}

/* What shmap_create() has checked and worked out, for create_new() (pointers: a name is
 * 8 KiB, too much to copy on every create). */
struct create_plan {
    struct shmap__name *n;
    shmap_dtype dtype;
    size_t elsize;
    unsigned ndim;
    const uint64_t *dims;
    const char *rec; /* canonical field list, or NULL */
    size_t rec_len;
    const struct shmap__layout *lay;
    const struct shmap__kwslot *kw; /* keyword slots to write, `nkw` of them */
    unsigned nkw;
};

static int create_new(shmap_seg **out, const char *name, const shmap_create_opts *opts,
                      const struct create_plan *p);

static int create_segment(shmap_seg **out, const char *name, shmap_dtype dtype,
                          unsigned int ndim, const uint64_t *dims,
                          const shmap_create_opts *opts);

/* Opening instead (SHMAP_CREATE_OPEN) or replacing first tries what may fail: a creation
 * that succeeds leaves the detail message as it found it, as every successful call does. */
int shmap_create(shmap_seg **out, const char *name, shmap_dtype dtype, unsigned int ndim,
                 const uint64_t *dims, const shmap_create_opts *opts)
{
    char saved[SHMAP__ERR_SIZE];
    shmap__err_keep(saved);
    int rc = create_segment(out, name, dtype, ndim, dims, opts);
    if (rc >= 0)
        shmap__err_put_back(saved);
    return rc;
}

static int create_segment(shmap_seg **out, const char *name, shmap_dtype dtype,
                          unsigned int ndim, const uint64_t *dims,
                          const shmap_create_opts *opts)
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
                           SHMAP_CREATE_TRANSIENT | SHMAP_CREATE_PREFAULT | SHMAP_CREATE_RING |
                           SHMAP_CREATE_HUGEPAGES | SHMAP_CREATE_HIDDEN;
    if (opts->flags & ~known)
        return shmap__err(SHMAP_EINVAL, "shmap_create: unknown flags 0x%x", opts->flags & ~known);
    if ((opts->flags & SHMAP_CREATE_REPLACE) && (opts->flags & SHMAP_CREATE_OPEN))
        return shmap__err(SHMAP_EINVAL, "shmap_create: REPLACE and OPEN exclude each other");
    if ((opts->flags & SHMAP_CREATE_HIDDEN) && (opts->flags & SHMAP_CREATE_OPEN))
        return shmap__err(SHMAP_EINVAL, "shmap_create: HIDDEN and OPEN exclude each other (an "
                                        "existing segment has its name already)");
    struct shmap__name n;
    int rc = shmap__name_parse(name ? name : "memfd:", &n);
    if (rc < 0)
        return rc;
    if ((rc = shmap__mode_check(n.name, opts->mode)) < 0)
        return rc;
    if ((opts->flags & SHMAP_CREATE_HUGEPAGES) && n.store == SHMAP_STORE_POSIX)
        return shmap__err(SHMAP_ESTORE, "%s: POSIX shared memory (tmpfs) has no huge pages to "
                                        "ask for: use sysv://KEY, a file: on a hugetlbfs mount "
                                        "or a memfd segment, or mount /dev/shm with "
                                        "huge=within_size for transparent ones", n.name);
    if ((opts->flags & SHMAP_CREATE_HIDDEN) && (opts->flags & SHMAP_CREATE_REPLACE) &&
        n.store == SHMAP_STORE_SYSV)
        return shmap__err(SHMAP_EINVAL, "%s: a System V segment takes its key at creation, so a "
                                        "hidden one cannot replace another only when finished "
                                        "(remove the old one first, or create without "
                                        "SHMAP_CREATE_HIDDEN)", n.name);
    if ((opts->flags & SHMAP_CREATE_OPEN) && n.store == SHMAP_STORE_MEMFD)
        return shmap__err(SHMAP_EINVAL, "%s: a memfd segment has no name to open",
                          n.name);

    size_t elsize, rec_len = 0;
    const char *rec = NULL;
    char canon[SHMAP_RECORD_FIELDS_MAX];
    if (dtype == SHMAP_RECORD) {
        if ((rc = shmap_record_parse(opts->record_fields, &elsize)) < 0 ||
            (rc = shmap__record_canon(opts->record_fields, canon, sizeof canon)) < 0)
            return record_error(rc, n.name);
        rec = canon;
        rec_len = strlen(rec) + 1;
    } else if ((elsize = shmap_dtype_size(dtype)) == 0) {
        return shmap__err(SHMAP_EDTYPE, "%s: invalid element type code %d", n.name, (int)dtype);
    } else if (opts->record_fields) {
        return shmap__err(SHMAP_EINVAL, "%s: a field list is for record types only", n.name);
    }
    const shmap_keyword *kws = opts->version >= 2 ? opts->keywords : NULL;
    unsigned nkw = opts->version >= 2 ? opts->nkeywords : 0;
    if (nkw && !kws)
        return shmap__err(SHMAP_EINVAL, "%s: %u keywords given as NULL", n.name, nkw);
    unsigned kwcap = opts->keyword_capacity ? opts->keyword_capacity
                     : nkw > SHMAP__KW_DEFAULT_CAPACITY ? nkw
                                                        : SHMAP__KW_DEFAULT_CAPACITY;
    struct shmap__layout lay;
    if ((rc = shmap__layout(&lay, n.name, elsize, ndim, dims, kwcap, rec_len)) < 0)
        return rc;
    /* The keywords' slots, checked before anything is made. */
    struct shmap__kwslot *kwslots = NULL;
    int kwused = 0;
    if (nkw) {
        if (!(kwslots = malloc((size_t)(nkw < kwcap ? nkw : kwcap) * sizeof *kwslots)))
            return shmap__err(-ENOMEM, "%s: out of memory", n.name);
        if ((kwused = shmap__keyword_prefill(kws, nkw, kwcap, kwslots, n.name)) < 0) {
            free(kwslots);
            return kwused;
        }
    }
    struct create_plan plan = {&n,  dtype,   elsize, ndim,    dims,
                               rec, rec_len, &lay,   kwslots, (unsigned)kwused};
    rc = create_new(out, name, opts, &plan);
    free(kwslots);
    return rc;
}

/*
 * Does the name hold an object that is certainly not a segment: one with no shmap magic
 * (SHMAP_EFORMAT), or no regular file at all (-EINVAL: a FIFO, a socket, a device; `why`
 * gets the open's detail)? 0 for a segment, for nothing, and for what cannot be told: an
 * object this user may not read. Judged by a read-only open, as delete judges it, so a
 * segment whose creator is still writing its header is waited for. By id a System V
 * segment cannot be created, which the store says: 0 too.
 */
static int not_a_segment(const struct shmap__name *n, char *why, size_t size)
{
    if (n->store == SHMAP_STORE_SYSV && strncmp(n->name, "sysv://0x", 9) != 0)
        return 0;
    shmap_seg *seg = NULL;
    int rc = shmap__open_unregistered(&seg, n, SHMAP__ACC_RDONLY, INIT_WAIT_NS);
    snprintf(why, size, "%s", rc < 0 ? shmap_last_error() : "");
    if (seg)
        shmap_close(seg);
    return rc == -EINVAL || rc == SHMAP_EFORMAT ? rc : 0;
}

/* Is the POSIX object or file of `n` an empty regular file (mktemp makes one to reserve
 * a path)? */
static bool empty_file(const struct shmap__name *n)
{
    char posix[SHMAP_NAME_MAX + 16];
    const char *path = n->os_handle;
    if (n->store == SHMAP_STORE_POSIX && shmap__posix_path(posix, sizeof posix, n->os_handle))
        path = posix;
    else if (n->store != SHMAP_STORE_FILE)
        return false;
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0;
}

/*
 * Replacing replaces segments: an object of the name that is not one (a user's file under a
 * mistyped file: name, another program's object or System V segment, a FIFO or a device)
 * is refused, as delete refuses it, rather than lost; an empty file holds nothing to lose,
 * and is replaced. A file: name that is a symbolic link is refused too: the rename would
 * replace the link, not the segment it leads to. A name this user may not remove (another
 * user's, in the sticky /dev/shm) is refused before the work, saying who may; System V
 * says so as it removes the old segment. Another process can still put something there
 * between this look and the replace.
 */
static int replace_check(const struct shmap__name *n)
{
    char why[SHMAP_NAME_MAX + 128];
    int rc;
    if (n->store == SHMAP_STORE_FILE && (rc = shmap__file_symlink(n)) < 0)
        return shmap__err(rc, "%s: is a symbolic link: refusing to replace it (the link would "
                              "be replaced, not the segment it leads to)", n->name);
    if (n->store != SHMAP_STORE_SYSV && (rc = shmap__may_remove(n, "replace it")) < 0)
        return rc;
    rc = not_a_segment(n, why, sizeof why);
    if (rc == -EINVAL)
        return shmap__err(rc, "%s: refusing to replace it", why);
    if (rc < 0 && empty_file(n))
        return 0;
    if (rc < 0)
        return shmap__err(rc, "%s: not a shmap segment: refusing to replace it (remove it "
                              "with a forced delete first)", n->name);
    return 0;
}

/* How many times open-or-create goes between a name that vanishes at its open and one that
 * is there again at its create. */
#define OPEN_RACE_TRIES 100

/* shmap_create() once its arguments are checked. */
static int create_new(shmap_seg **out, const char *name, const shmap_create_opts *opts,
                      const struct create_plan *p)
{
    struct shmap__name *n = p->n;
    const struct shmap__layout *lay = p->lay;
    shmap_dtype dtype = p->dtype;
    size_t elsize = p->elsize;
    unsigned ndim = p->ndim;
    const uint64_t *dims = p->dims;
    const char *rec = p->rec;
    int rc;

    /* Open-or-create: open what is there; create only when nothing is. A creator racing
     * us may win between the two: then open what it made. */
    bool ring = (opts->flags & SHMAP_CREATE_RING) != 0;
    if (opts->flags & SHMAP_CREATE_OPEN) {
        rc = open_existing(out, name, dtype, elsize, ndim, dims, rec, ring);
        if (rc != -ENOENT)
            return rc;
    }

    if ((opts->flags & SHMAP_CREATE_REPLACE) && (rc = replace_check(n)) < 0)
        return rc;

    struct shmap__header h;
    memset(&h, 0, sizeof h);
    unsigned seg_flags = ((opts->flags & SHMAP_CREATE_TRANSIENT) ? SHMAP_SEG_TRANSIENT : 0) |
                         ((opts->flags & SHMAP_CREATE_RING) ? SHMAP_SEG_RING : 0);
    shmap__header_init(&h, lay, dtype, ndim, dims, seg_flags);
    h.state = SHMAP__STATE_READY;
    h.kw_order = p->nkw;
    shmap__attach_created(&h, NULL);

    const struct shmap__store_ops *ops = shmap__store_ops(n->store);
    bool destroys = !(opts->flags & SHMAP_CREATE_KEEP) && ops->destroys;
    h.creator_destroys = destroys && n->store != SHMAP_STORE_MEMFD;
    struct shmap__create_req req = {&h,
                                    rec,
                                    p->rec_len,
                                    p->nkw ? p->kw : NULL,
                                    (size_t)p->nkw * sizeof *p->kw,
                                    lay->total_size,
                                    opts->mode ? opts->mode : 0600,
                                    opts->flags};
    struct shmap__obj obj = SHMAP__OBJ_INIT;
    void *base = NULL;
    rc = ops->create(n, &req, &obj, &base);
    /* Lost a race: open what the other creator made. Gone again by then (another process
     * creates and deletes the name in turn), create again: open-or-create never answers
     * "no such segment", and gives up only after OPEN_RACE_TRIES rounds. */
    for (int tries = 0; rc == -EEXIST && (opts->flags & SHMAP_CREATE_OPEN); tries++) {
        if (tries == OPEN_RACE_TRIES)
            return shmap__err(-EAGAIN, "%s: created and removed by other processes faster "
                                       "than it could be opened or created (%d tries)",
                              n->name, OPEN_RACE_TRIES);
        rc = open_existing(out, name, dtype, elsize, ndim, dims, rec, ring);
        if (rc != -ENOENT)
            return rc;
        obj = (struct shmap__obj)SHMAP__OBJ_INIT;
        base = NULL;
        rc = ops->create(n, &req, &obj, &base);
    }
    if (rc == -EEXIST && !(opts->flags & SHMAP_CREATE_REPLACE)) {
        /* Said as it is when what holds the name is not a segment at all. */
        char said[SHMAP_NAME_MAX + 128], why[SHMAP_NAME_MAX + 128];
        snprintf(said, sizeof said, "%s", shmap_last_error());
        if (not_a_segment(n, why, sizeof why) < 0)
            return shmap__err(-EEXIST, "%s: the name is taken by an object that is not a "
                                       "shmap segment", n->name);
        return shmap__err(-EEXIST, "%s", said);
    }
    if (rc < 0)
        return rc;
    /* The whole object: more than the layout where huge pages rounded it up. */
    size_t maplen = (size_t)obj.st.st_size;
    bool hidden = opts->flags & SHMAP_CREATE_HIDDEN;
    struct shmap__map *m = map_new(n, &obj.st, base, maplen, SHMAP__ACC_RDWR);
    shmap_seg *seg = m ? new_handle(m) : NULL;
    /* The field list as made, kept: info and open-or-create must not read it from the
     * segment, where another process may change it. */
    if (seg && ((hidden && !(m->hidden = strdup(obj.hidden))) ||
                (rec && !(m->desc_fields = strdup(rec))))) {
        free(m->hidden);
        free(seg);
        seg = NULL;
    }
    if (!seg) {
        free(m);
        ops->unmap(base, maplen);
        if (hidden && ops->drop)
            ops->drop(n, obj.hidden);
        else if (ops->destroy)
            ops->destroy(n, obj.st.st_dev, obj.st.st_ino);
        ops->close(&obj);
        return shmap__err(-ENOMEM, "%s: out of memory", n->name);
    }
    m->hidden_pid = hidden ? shmap__getpid() : 0;
    m->unfinished = hidden;
    m->hidden_replace = (opts->flags & SHMAP_CREATE_REPLACE) != 0;
    shmap__attach_created(&h, m);
    m->data = (char *)base + lay->data_offset;
    memcpy(m->head, &h, sizeof m->head);
    if (n->store == SHMAP_STORE_MEMFD) {
        m->fd = obj.fd;
        obj.fd = -1;
    }
    ops->close(&obj);
    m->created_pid = shmap__getpid();
    m->destroy_pid = destroys ? shmap__getpid() : 0;
    pthread_mutex_lock(&registry_lock);
    registry_add(m);
    pthread_mutex_unlock(&registry_lock);
    *out = seg;
    return 0;
}

/* The alignment an element's offset must have, as C's _Alignof and numpy's alignment give
 * it: its size up to 8, a complex number its component's (c64 4, c128 8); records are
 * packed. */
static size_t alignment_of(shmap_dtype dtype, size_t elsize)
{
    if (dtype == SHMAP_RECORD)
        return 1;
    if (dtype == SHMAP_C64 || dtype == SHMAP_C128)
        elsize /= 2;
    return elsize < 8 ? elsize : 8;
}

int shmap_open_raw(shmap_seg **out, const char *name, shmap_dtype dtype, unsigned int ndim,
                   const uint64_t *dims, const shmap_raw_opts *opts)
{
    static const shmap_raw_opts defaults = SHMAP_RAW_OPTS_INIT;
    if (!out)
        return shmap__err(SHMAP_EINVAL, "shmap_open_raw: NULL output");
    *out = NULL;
    if (!opts)
        opts = &defaults;
    if (opts->version < 1 || opts->version > SHMAP_RAW_OPTS_VERSION)
        return shmap__err(SHMAP_EINVAL, "shmap_open_raw: options version %u, this library "
                                        "knows 1 to %d", opts->version, SHMAP_RAW_OPTS_VERSION);
    int rc = check_open_flags(opts->flags, "shmap_open_raw");
    if (rc < 0)
        return rc;
    if (opts->flags & SHMAP_HOLD)
        return shmap__err(SHMAP_EINVAL, "shmap_open_raw: a raw mapping has no lock to hold");
    struct shmap__name n;
    if ((rc = shmap__name_parse(name, &n)) < 0)
        return rc;

    /* The array: from the caller, or from a template. */
    shmap_info tmpl;
    const char *rec = opts->record_fields;
    if (opts->template_seg || opts->template_name) {
        if (dtype != SHMAP_DTYPE_NONE || ndim != 0)
            return shmap__err(SHMAP_EINVAL, "%s: give a template or a type and shape, not "
                                            "both", n.name);
        rc = opts->template_seg ? shmap_info_get(opts->template_seg, &tmpl)
                                : shmap_stat(opts->template_name, &tmpl);
        if (rc < 0)
            return rc;
        dtype = tmpl.dtype;
        ndim = tmpl.ndim;
        dims = tmpl.dims;
        rec = tmpl.record_fields[0] ? tmpl.record_fields : NULL;
    }
    size_t elsize;
    if (dtype == SHMAP_RECORD) {
        if ((rc = shmap_record_parse(rec, &elsize)) < 0)
            return record_error(rc, n.name);
    } else if ((elsize = shmap_dtype_size(dtype)) == 0) {
        return shmap__err(SHMAP_EDTYPE, "%s: invalid element type code %d", n.name, (int)dtype);
    }
    if (ndim < 1 || ndim > SHMAP_MAX_DIMS)
        return shmap__err(SHMAP_ESHAPE, "%s: %u dimensions; give 1 to %d", n.name, ndim,
                          SHMAP_MAX_DIMS);
    if (!dims) /* as shmap_create() says it: the count given is not at fault */
        return shmap__err(SHMAP_ESHAPE, "%s: no dimensions given", n.name);
    uint64_t nelem = 1, data_size, end;
    for (unsigned i = 0; i < ndim; i++) {
        if (dims[i] == 0)
            return shmap__err(SHMAP_ESHAPE, "%s: dimension %u is 0", n.name, i);
        if (__builtin_mul_overflow(nelem, dims[i], &nelem))
            return shmap__err(SHMAP_ESIZE, "%s: the number of elements overflows", n.name);
    }
    if (__builtin_mul_overflow(nelem, (uint64_t)elsize, &data_size) ||
        __builtin_add_overflow(data_size, opts->offset, &end) || end > SIZE_MAX / 2)
        return shmap__err(SHMAP_ESIZE, "%s: array of %llu %s at offset %llu is too large",
                          n.name, (unsigned long long)nelem,
                          shmap__plural(nelem, "element", "elements"),
                          (unsigned long long)opts->offset);
    size_t align = alignment_of(dtype, elsize);
    if (opts->offset % align != 0)
        return shmap__err(SHMAP_EINVAL, "%s: offset %llu misaligns %s elements (it must be a "
                                        "multiple of %zu)", n.name,
                          (unsigned long long)opts->offset, shmap_dtype_name(dtype), align);

    const struct shmap__store_ops *ops = shmap__store_ops(n.store);
    int access = access_of(opts->flags);
    struct shmap__obj obj = SHMAP__OBJ_INIT;
    if ((rc = ops->open(&n, access, &obj)) < 0)
        return rc;
    if ((rc = refuse_deleted(&obj, &n, opts->flags)) < 0) {
        ops->close(&obj);
        return rc;
    }
    if ((uint64_t)obj.st.st_size < end) {
        ops->close(&obj);
        return shmap__err(SHMAP_ETRUNCATED, "%s: object is %llu %s; %llu %s of %zu %s at offset "
                                            "%llu %s %llu", n.name,
                          (unsigned long long)obj.st.st_size,
                          shmap__plural((uint64_t)obj.st.st_size, "byte", "bytes"),
                          (unsigned long long)nelem, shmap__plural(nelem, "element", "elements"),
                          elsize, shmap__plural(elsize, "byte", "bytes"),
                          (unsigned long long)opts->offset, shmap__plural(nelem, "needs", "need"),
                          (unsigned long long)end);
    }
    /* Map from the page boundary below the offset, in whole pages of the store's granule
     * (huge pages for a file on hugetlbfs); System V maps the whole segment. */
    size_t granule = ops->granule ? ops->granule(&obj) : 0;
    if (granule < shmap__page_size())
        granule = shmap__page_size();
    uint64_t page_off = n.store == SHMAP_STORE_SYSV ? 0 : opts->offset & ~(uint64_t)(granule - 1);
    size_t len = n.store == SHMAP_STORE_SYSV ? (size_t)obj.st.st_size : (size_t)(end - page_off);
    if (granule > shmap__page_size()) /* munmap takes only whole huge pages */
        len = (len + granule - 1) / granule * granule;
    if ((rc = shmap__fd_holes_check(&obj, page_off, len, n.name)) < 0) {
        ops->close(&obj);
        return rc;
    }
    struct shmap__header *desc = calloc(1, sizeof *desc);
    char *fields = dtype == SHMAP_RECORD ? strdup(rec) : NULL;
    int err = 0;
    void *base = desc && (fields || dtype != SHMAP_RECORD)
                     ? ops->map(&obj, len, page_off, access, false, &err)
                     : NULL;
    struct shmap__map *m = base ? map_new(&n, &obj.st, base, len, access) : NULL;
    if (m)
        m->deleted = m->deleted_seen = obj.deleted;
    ops->close(&obj);
    if (!m) {
        if (base)
            ops->unmap(base, len);
        free(desc);
        free(fields);
        return err ? shmap__err(err, "%s: cannot map %zu %s: %s%s", n.name, len,
                                shmap__plural(len, "byte", "bytes"), strerror(-err),
                                shmap__huge_map_hint(err, len, granule,
                                                     (uint64_t)obj.st.st_blocks * 512))
                   : shmap__err(-ENOMEM, "%s: out of memory", n.name);
    }
    /* The description a header would give, kept privately for shmap_info_get(). */
    desc->dtype = (uint32_t)dtype;
    desc->elsize = (uint32_t)elsize;
    desc->ndim = ndim;
    for (unsigned i = 0; i < ndim; i++)
        desc->dims[i] = dims[i];
    desc->data_offset = opts->offset;
    desc->data_size = data_size;
    desc->total_size = end;
    desc->state = SHMAP__STATE_READY;
    desc->rec_len = fields ? (uint32_t)strlen(fields) + 1 : 0;
    m->raw = true;
    m->desc = desc;
    m->live = desc;
    m->desc_fields = fields;
    m->lock_base = NULL;
    m->data = (char *)base + (opts->offset - page_off);
    shmap_seg *seg = new_handle(m);
    if (!seg) {
        ops->unmap(base, len);
        map_free(m);
        return shmap__err(-ENOMEM, "%s: out of memory", n.name);
    }
    pthread_mutex_lock(&registry_lock);
    registry_add(m);
    pthread_mutex_unlock(&registry_lock);
    *out = seg;
    return 0;
}

void shmap__registry_perm(const struct stat *st)
{
    pthread_mutex_lock(&registry_lock);
    for (struct shmap__map *m = registry; m; m = m->next)
        if (m->dev == st->st_dev && m->ino == st->st_ino)
            map_set_perm(m, st);
    pthread_mutex_unlock(&registry_lock);
}

/*
 * Does the name still lead to the object this mapping maps, as opening it again would? A
 * POSIX object must still be the inode under its name (shm_open follows no symbolic link);
 * a file, the inode its path leads to (opening it follows links); a file attached through a
 * descriptor (shmap_open_fd()), which may have been named by any of its links, must have
 * one left; a System V segment must exist and not be marked for removal. A memfd has no
 * name to lose. When it cannot be told (a path this user may not search), the answer is yes.
 */
bool shmap__map_named(const struct shmap__map *m)
{
    char path[SHMAP_NAME_MAX + 16];
    struct stat st;
    int rc;
    /* Created hidden and not finished by this process: not named yet, but not deleted
     * either. (A forked child cannot tell whether its parent finished it: it asks the
     * name, as for any segment.) */
    if (__atomic_load_n(&m->unfinished, __ATOMIC_ACQUIRE) && m->hidden_pid == shmap__getpid())
        return true;
    switch (m->name.store) {
    case SHMAP_STORE_POSIX:
        if (!shmap__posix_path(path, sizeof path, m->name.os_handle))
            return true;
        rc = lstat(path, &st);
        break;
    case SHMAP_STORE_FILE:
        if (m->fd >= 0)
            return fstat(m->fd, &st) < 0 || st.st_nlink > 0;
        rc = stat(m->name.os_handle, &st);
        break;
    case SHMAP_STORE_SYSV:
        return shmap__sysv_alive(atoi(m->name.os_handle));
    default:
        return true;
    }
    if (rc < 0)
        return errno != ENOENT && errno != ENOTDIR;
    return st.st_dev == m->dev && st.st_ino == m->ino;
}

int shmap__raw_refuse(const shmap_seg *seg, const char *what)
{
    return shmap__err(SHMAP_ERAW, "%s: raw mapping has no header: %s needs a described "
                                  "segment", seg->map->name.name, what);
}

/* The name is the way to the object: gone, or leading elsewhere, the object is still there
 * (mapped), but its lock is out of a read-only handle's reach. */
static const char removed_rw[] = "%s: deleted or replaced since this handle opened it "
                                 "read-only, which takes the lock through the segment's name "
                                 "(a handle opened read-write before takes it without)";

/* Opening the object read-write was refused: this user may not write the segment, unless
 * its name (@p by_name: it was reached by one, not by a descriptor) now leads to another
 * object or none (ours deleted, and another user's made under its name), which
 * shmap__map_named() tells without needing to read it. */
static int refused_rw(struct shmap__map *m, bool by_name)
{
    if (by_name && !shmap__map_named(m))
        return shmap__err(SHMAP_EREMOVED, removed_rw, m->name.name);
    return shmap__err(SHMAP_EREADONLY, "%s: opened read-only, and this user may not write "
                                       "the segment's lock table", m->name.name);
}

int shmap__header_map_rw(struct shmap__map *m, void **out)
{
    const char *who = m->name.name;
    if (m->raw)
        return shmap__err(SHMAP_ERAW, "%s: raw mapping has no header", who);
    struct shmap__obj obj = SHMAP__OBJ_INIT;
    struct shmap__name n = m->name;
    int rc;
    if (m->fd >= 0) {
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", m->fd);
        rc = shmap__fd_open_path(path, who, SHMAP__ACC_RDWR, &obj);
    } else {
        rc = m->ops->open(&n, SHMAP__ACC_RDWR, &obj);
    }
    if (rc == -EACCES || rc == -EPERM)
        return refused_rw(m, m->fd < 0);
    if (rc == -ENOENT || rc == -EIDRM)
        return shmap__err(SHMAP_EREMOVED, removed_rw, who);
    if (rc < 0)
        return rc;
    if (obj.st.st_dev != m->dev || obj.st.st_ino != m->ino)
        rc = shmap__err(SHMAP_EREMOVED, removed_rw, who);
    int err = 0;
    void *p = NULL;
    size_t len = m->ops->granule ? m->ops->granule(&obj) : 0;
    if (len < SHMAP__HEADER_SIZE)
        len = SHMAP__HEADER_SIZE;
    if (rc == 0 && !(p = m->ops->map(&obj, len, 0, SHMAP__ACC_RDWR, false, &err)))
        rc = shmap__err(err == -EACCES ? SHMAP_EREADONLY : err,
                        "%s: cannot map the header read-write: %s", who, strerror(-err));
    m->ops->close(&obj);
    if (rc == 0) {
        *out = p;
        m->lock_len = len;
    }
    return rc;
}

void shmap__header_unmap_rw(struct shmap__map *m)
{
    if (m->lock_base && m->lock_base != m->base)
        m->ops->unmap(m->lock_base, m->lock_len);
}

int shmap_dup(shmap_seg **out, shmap_seg *seg)
{
    if (!out || !seg)
        return shmap__err(SHMAP_EINVAL, "shmap_dup: NULL argument");
    int rc = 0;
    pthread_mutex_lock(&registry_lock);
    struct shmap__map *m = seg->map;
    if (!(*out = new_handle(m))) {
        rc = shmap__err(-ENOMEM, "%s: out of memory", m->name.name);
    } else {
        m->refs++;
        /* Described as the handle it copies: reading the live header here would fault its
         * page in for every dup, and bindings dup a handle for each array they export. */
        (*out)->start_own = seg->start_own;
        (*out)->start_gen = seg->start_gen;
        (*out)->start_pub_ns = seg->start_pub_ns;
    }
    pthread_mutex_unlock(&registry_lock);
    return rc;
}

static int release(shmap_seg *seg, bool unmap)
{
    if (!seg)
        return 0;
    struct shmap__map *m = seg->map;
    if (!m->raw)
        shmap__lock_drop(seg);
    free(seg);
    pthread_mutex_lock(&registry_lock);
    bool last = --m->refs == 0, registered = false;
    if (last)
        registered = registry_remove(m);
    else if (unmap)
        m->pending = true;
    pthread_mutex_unlock(&registry_lock);
    if (!last)
        return 0;
    /* A frame this process began and never published goes with its last reference. */
    if (registered)
        shmap__write_give_up(m);
    int rc = 0;
    bool destroyed = false;
    if (m->unfinished && m->hidden_pid == shmap__getpid()) {
        /* Never finished: it goes, whatever was asked of its last close; waiters that
         * share it (a forked child) learn of it first. */
        shmap__notify_removed(m->base);
        if (m->ops->drop)
            m->ops->drop(&m->name, m->hidden);
        destroyed = true;
    } else if (m->destroy_pid == shmap__getpid() && m->ops->destroy && !m->raw) {
        destroyed = (rc = m->ops->destroy(&m->name, m->dev, m->ino)) == 0;
    }
    /*
     * Leave the attach table. A creator that has just removed the name and never wrote the
     * header through this mapping skips it: nobody can attach any more, and the write would
     * fault the header page in only to unmap it, a third of the cost of a small create.
     */
    if (!m->raw && (!destroyed || m->lock_touched))
        shmap__detach(m);
    map_unmap(m);
    map_free(m);
    return rc;
}

int shmap_create_finish(shmap_seg *seg)
{
    if (!seg)
        return shmap__err(SHMAP_EINVAL, "shmap_create_finish: NULL segment");
    struct shmap__map *m = seg->map;
    pthread_mutex_lock(&registry_lock);
    int rc = 0;
    if (!m->unfinished || m->hidden_pid != shmap__getpid())
        rc = shmap__err(SHMAP_EINVAL, "%s: %s", m->name.name,
                        m->unfinished ? "created hidden by another process: only it can "
                                        "finish it"
                                      : "not created hidden (SHMAP_CREATE_HIDDEN), or "
                                        "finished already");
    else if (m->ops->reveal)
        rc = m->ops->reveal(&m->name, m->hidden, m->base, m->hidden_replace);
    if (rc == 0)
        __atomic_store_n(&m->unfinished, false, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&registry_lock);
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
    struct shmap__map *m = seg->map;
    pthread_mutex_lock(&registry_lock);
    m->destroy_pid = destroy && m->ops->destroys && !m->raw ? shmap__getpid() : 0;
    /* The creator's choice is also gc's: a segment its creator destroys goes with it, so
     * one left by a creator that was killed is removed once nobody uses it. */
    struct shmap__header *h = m->base;
    if (m->created_pid == shmap__getpid() && m->writable && !m->priv && !m->raw &&
        m->name.store != SHMAP_STORE_MEMFD && shmap__fixed_of(m)->creator_pid == shmap__getpid())
        __atomic_store_n(&h->creator_destroys, m->destroy_pid ? 1u : 0u, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&registry_lock);
    return 0;
}

int shmap_unlink(const char *name)
{
    struct shmap__name n;
    int rc = shmap__name_parse(name, &n);
    if (rc < 0)
        return rc;
    const struct shmap__store_ops *ops = shmap__store_ops(n.store);
    if (!ops->unlink)
        return shmap__err(SHMAP_ESTORE, "%s: a memfd segment has no name to remove: it goes "
                                        "when its last descriptor and mapping go", n.name);
    return ops->unlink(&n);
}

void *shmap_data(const shmap_seg *seg)
{
    return seg ? seg->map->data : NULL;
}

int shmap_created(const shmap_seg *seg)
{
    /* In a forked child the mapping is the creator's, the creation is not. */
    return seg && seg->map->created_pid == shmap__getpid();
}

int shmap_writable(const shmap_seg *seg)
{
    return seg && seg->map->writable;
}

/* What the kernel said of the object: name, handle, size when it was opened, and mode and
 * owner as last seen (see map_set_perm()). */
static void object_info(const struct shmap__map *m, shmap_info *out)
{
    /* Same sizes on both sides, NUL-terminated: a copy (printf costs a microsecond here,
     * and every Python open and create asks). */
    _Static_assert(sizeof out->name == sizeof m->name.name, "name sizes");
    _Static_assert(sizeof out->os_handle == sizeof m->name.os_handle, "handle sizes");
    memcpy(out->name, m->name.name, strnlen(m->name.name, sizeof out->name - 1) + 1);
    memcpy(out->os_handle, m->name.os_handle,
           strnlen(m->name.os_handle, sizeof out->os_handle - 1) + 1);
    out->store = m->name.store;
    out->size = m->size;
    out->mode = __atomic_load_n(&m->mode, __ATOMIC_RELAXED);
    out->uid = __atomic_load_n(&m->uid, __ATOMIC_RELAXED);
    out->gid = __atomic_load_n(&m->gid, __ATOMIC_RELAXED);
}

/* What a mapping is: the header as it reads; with `ask`, whether the name still leads to
 * it (one system call, the answer kept in the mapping), else the last answer known (from
 * its last open or the last asking). */
static void map_info(struct shmap__map *m, shmap_info *out, bool ask)
{
    const struct shmap__header *h = shmap__fixed_of(m);
    memset(out, 0, sizeof *out);
    object_info(m, out);
    if (ask)
        __atomic_store_n(&m->deleted_seen, !shmap__map_named(m), __ATOMIC_RELAXED);
    out->deleted = __atomic_load_n(&m->deleted_seen, __ATOMIC_RELAXED);
    if (m->raw) {
        shmap__info_fill(out, h, NULL, NULL, m->desc_fields);
        return;
    }
    /* The fixed part as checked at open; the counters as the object holds them now, the
     * keywords as this mapping sees them (see shmap__kw_words()); the field list as it was
     * read at open, or where the checked header puts it. */
    shmap__info_fill(out, h, m->live, NULL, fields_of(m));
    out->nkeywords = shmap__kw_count_of(m);
}

int shmap_info_get(const shmap_seg *seg, shmap_info *out)
{
    if (!seg || !out)
        return shmap__err(SHMAP_EINVAL, "shmap_info_get: NULL argument");
    map_info(seg->map, out, true);
    return 0;
}

int shmap_info_at_open(const shmap_seg *seg, shmap_info *out)
{
    if (!seg || !out)
        return shmap__err(SHMAP_EINVAL, "shmap_info_at_open: NULL argument");
    struct shmap__map *m = seg->map;
    if (m->raw) {
        map_info(m, out, false); /* a raw handle's description is its own, in memory */
        out->deleted = __atomic_load_n(&m->deleted, __ATOMIC_RELAXED);
        return 0;
    }
    /* The copy holds the fixed part and the counters as they were; nothing of the
     * segment is read, so no page of it is touched. */
    const struct shmap__header *h = (const struct shmap__header *)(const void *)m->head;
    object_info(m, out);
    shmap__info_fill(out, h, NULL, NULL, NULL);
    if (seg->start_own) {
        out->generation = seg->start_gen;
        out->published_ns = seg->start_pub_ns;
    }
    out->deleted = __atomic_load_n(&m->deleted, __ATOMIC_RELAXED);
    if (m->desc_fields)
        snprintf(out->record_fields, sizeof out->record_fields, "%s", m->desc_fields);
    return 0;
}

int shmap_os_handle(const shmap_seg *seg, char *buf, size_t size)
{
    if (!seg || !buf)
        return shmap__err(SHMAP_EINVAL, "shmap_os_handle: NULL argument");
    const struct shmap__map *m = seg->map;
    const char *handle = m->name.os_handle;
    char hidden[PATH_MAX];
    /* Not finished: the hidden object's handle, the name it is under now. */
    if (__atomic_load_n(&m->unfinished, __ATOMIC_ACQUIRE) && m->hidden_pid == shmap__getpid() &&
        m->hidden[0]) {
        const char *slash = strrchr(handle, '/');
        int dlen = m->name.store == SHMAP_STORE_FILE && slash ? (int)(slash - handle) + 1 : 0;
        snprintf(hidden, sizeof hidden, "%.*s%s", dlen, handle, m->hidden);
        handle = hidden;
    }
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
    /* No system call under the registry lock (a slow file system would stall every open and
     * close): `deleted` is what the mapping last learned. */
    for (struct shmap__map *m = registry; m; m = m->next, i++) {
        map_info(m, &list[i].info, false);
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
