/*
 * The System V store: `sysv://KEY` (hex with 0x, or decimal) and `sysv://id=N`.
 *
 * Design note. A System V segment gets its size at creation and its key at once, so it
 * cannot be built under a hidden name and renamed. Instead the header is written with its
 * `state` word INIT, the memory is reserved (every page faulted in with
 * MADV_POPULATE_WRITE, so a full system is an error here and not a SIGBUS later), and only
 * then is `state` set to READY with a release store. Readers already treat INIT as "being
 * created": they wait briefly for a live creator and report SHMAP_EINCOMPLETE for a dead
 * one (segment.c, map_and_check). SHM_NORESERVE is never used.
 *
 * The segment's size is taken from shmctl(IPC_STAT) (shm_segsz) and the header is checked
 * against it before anything in it is used. Identity in the registry is (0, id): an id
 * stays reserved while anyone is attached, even after IPC_RMID.
 *
 * Huge pages (SHMAP_CREATE_HUGEPAGES) are SHM_HUGETLB. The size asked of shmget is rounded
 * up to whole huge pages, so shm_segsz (what `ipcs`, listings and attaches see) is the
 * memory the segment really holds; the header records the smaller size it needs, and
 * checks accept an object larger than that. The kernel reserves the pages at shmget, so
 * a short pool fails there and no faulting in is needed, unless SHMAP_CREATE_PREFAULT asks.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>

#include "store.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* A limit from /proc/sys/kernel, for messages; 0 if unknown. */
static unsigned long long kernel_limit(const char *what)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/sys/kernel/%s", what);
    return shmap__proc_number(path);
}

/* Parse what follows "sysv://": the key, or id=N. */
int shmap__sysv_parse(const char *text, const char *rest, struct shmap__name *out)
{
    bool by_id = strncmp(rest, "id=", 3) == 0;
    const char *num = by_id ? rest + 3 : rest;
    int base = 10;
    if (!by_id && (strncmp(num, "0x", 2) == 0 || strncmp(num, "0X", 2) == 0)) {
        num += 2;
        base = 16;
    }
    /* strtoull() would also take leading blanks and a sign: only digits make a key. */
    bool digit = base == 16 ? isxdigit((unsigned char)*num) : isdigit((unsigned char)*num);
    char *end = (char *)num;
    errno = 0;
    unsigned long long v = digit ? strtoull(num, &end, base) : 0;
    if (!digit || *end || errno ||
        v > (by_id ? (unsigned long long)INT32_MAX : 0xffffffffull))
        return shmap__err(SHMAP_EBADNAME, "'%s': give sysv://KEY (decimal, or hex with 0x) or "
                                          "sysv://id=N", text);
    if (!by_id && v == 0)
        return shmap__err(SHMAP_EBADNAME, "'%s': key 0 is IPC_PRIVATE, which names no segment; "
                                          "use sysv://id=N", text);
    if (out) {
        out->store = SHMAP_STORE_SYSV;
        if (by_id) {
            snprintf(out->name, sizeof out->name, "sysv://id=%llu", v);
            snprintf(out->os_handle, sizeof out->os_handle, "%llu", v);
        } else {
            snprintf(out->name, sizeof out->name, "sysv://0x%08llx", v);
            out->os_handle[0] = '\0'; /* the id, once the segment is found */
        }
    }
    return 0;
}

static bool by_key(const struct shmap__name *n, key_t *key)
{
    if (strncmp(n->name, "sysv://0x", 9) != 0)
        return false;
    *key = (key_t)(uint32_t)strtoull(n->name + 9, NULL, 16);
    return true;
}

/* The error for shmctl(IPC_STAT) of segment `id` failing with errno `e`. */
static int stat_error(int e, int id, const char *who)
{
    if (e == EINVAL || e == EIDRM)
        return shmap__err(-ENOENT, "%s: no System V segment with id %d", who, id);
    if (e == EACCES)
        return shmap__err(-EACCES, "%s: permission denied to read segment %d", who, id);
    return shmap__err(-e, "%s: shmctl(IPC_STAT): %s", who, strerror(e));
}

/* A segment's description as a struct stat: size, identity, permissions. */
static void ds_stat(int id, const struct shmid_ds *ds, struct stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_size = (off_t)ds->shm_segsz;
    st->st_dev = 0;
    st->st_ino = (ino_t)id;
    st->st_mode = ds->shm_perm.mode & 0777;
    st->st_uid = ds->shm_perm.uid;
    st->st_gid = ds->shm_perm.gid;
}

struct find_ds {
    int id;
    struct shmid_ds *ds;
};

static int match_id(int id, const struct shmid_ds *ds, void *ctx)
{
    struct find_ds *f = ctx;
    if (id != f->id)
        return 0;
    *f->ds = *ds;
    return 1;
}

/* Segment `id`'s description as the walk `ipcs` makes (SHM_STAT_ANY) reads it, which needs
 * no read permission: true when found. */
static bool listed_ds(int id, struct shmid_ds *ds)
{
    struct find_ds f = {id, ds};
    return shmap__sysv_each(match_id, &f) == 1;
}

/* What IPC_STAT says, as a struct stat; the key, when `key` is not NULL; whether the
 * segment is marked for removal (SHM_DEST), when `deleted` is not NULL. An owner who took
 * read permission from itself still gets it (listed_ds()): it may remove the segment, and
 * change its mode; another user is refused here, as IPC_STAT refuses it. */
static int stat_id(int id, struct stat *st, key_t *key, bool *deleted, const char *who)
{
    struct shmid_ds ds;
    if (shmctl(id, IPC_STAT, &ds) < 0) {
        int e = errno;
        uid_t me = geteuid();
        if (e != EACCES || !listed_ds(id, &ds) ||
            (ds.shm_perm.uid != me && ds.shm_perm.cuid != me))
            return stat_error(e, id, who);
    }
    ds_stat(id, &ds, st);
    if (key)
        *key = ds.shm_perm.__key;
    if (deleted)
        *deleted = (ds.shm_perm.mode & SHM_DEST) != 0;
    return 0;
}

int shmap__sysv_deleted(const char *who, const char *what)
{
    return shmap__err(-ENOENT, "%s: segment was deleted and is kept only until the processes "
                               "still attached to it detach: %s", who, what);
}

/* The id a name picks: looked up by key (which needs no permission), or given. */
static int find_id(const struct shmap__name *n, int *id)
{
    key_t key;
    if (!by_key(n, &key)) {
        *id = atoi(n->os_handle);
        return 0;
    }
    *id = shmget(key, 0, 0);
    if (*id >= 0)
        return 0;
    int e = errno;
    if (e == ENOENT)
        return shmap__err(-ENOENT, "%s: no such segment", n->name);
    if (e == EACCES)
        return shmap__err(-EACCES, "%s: permission denied", n->name);
    return shmap__err(-e, "%s: shmget: %s", n->name, strerror(e));
}

static int sysv_open(struct shmap__name *n, int access, struct shmap__obj *obj)
{
    if (access == SHMAP__ACC_PRIVATE)
        return shmap__err(SHMAP_EINVAL, "%s: System V segments cannot be mapped privately "
                                        "(copy-on-write is for files)", n->name);
    int id;
    key_t key = IPC_PRIVATE;
    key_t asked;
    bool keyed = by_key(n, &asked);
    int rc = find_id(n, &id);
    /* A segment found by its key and removed before it could be looked at: the key may
     * name a new one by now, or none (then find_id() says no such segment). */
    for (int tries = 0; rc == 0; tries++) {
        rc = stat_id(id, &obj->st, &key, &obj->deleted, n->name);
        if (rc != -ENOENT || !keyed)
            break;
        rc = tries < 2 ? find_id(n, &id)
                       : shmap__err(-ENOENT, "%s: no such segment", n->name);
    }
    if (rc < 0)
        return rc;
    /* Opened by id, named by its key as the listing names it (a segment without one, or
     * removed and waiting for its last user, keeps sysv://id=N). */
    if (key != IPC_PRIVATE && strncmp(n->name, "sysv://id=", 10) == 0)
        snprintf(n->name, sizeof n->name, "sysv://0x%08x", (unsigned)key);
    obj->id = id;
    snprintf(n->os_handle, sizeof n->os_handle, "%d", id);
    return 0;
}

static ssize_t sysv_read(struct shmap__obj *obj, void *buf, size_t len, uint64_t off)
{
    if (!obj->peek) {
        void *p = shmat(obj->id, NULL, SHM_RDONLY);
        if (p == (void *)-1)
            return -errno;
        /* Only this open reads through it: a child forked while it waits (segment.c,
         * unlocked_wait()) must not get an attachment it could never detach. */
        madvise(p, (size_t)obj->st.st_size, MADV_DONTFORK);
        obj->peek = p;
    }
    uint64_t size = (uint64_t)obj->st.st_size;
    if (off >= size)
        return 0;
    if (len > size - off)
        len = (size_t)(size - off);
    memcpy(buf, (const char *)obj->peek + off, len);
    return (ssize_t)len;
}

static void *sysv_map(struct shmap__obj *obj, size_t len, uint64_t off, int access,
                      bool populate, int *err)
{
    (void)len;
    (void)off;
    void *p = shmat(obj->id, NULL, access == SHMAP__ACC_RDONLY ? SHM_RDONLY : 0);
    if (p == (void *)-1) {
        *err = -errno;
        return NULL;
    }
    if (populate)
        madvise(p, (size_t)obj->st.st_size, MADV_WILLNEED);
    return p;
}

static void sysv_unmap(void *base, size_t len)
{
    (void)len;
    shmdt(base);
}

static void sysv_close(struct shmap__obj *obj)
{
    if (obj->peek)
        shmdt(obj->peek);
    obj->peek = NULL;
}

/*
 * Which system-wide System V limit a new segment of `size` bytes passes, as -ENOSPC with a
 * detail that names it and the figures: no id left (kernel.shmmni), or not enough of the
 * memory System V may use (kernel.shmall). For a replace (`why` not NULL, added to the
 * figures) the old segment's id and its `freed` bytes are taken as released first (0
 * bytes: it stays while processes attach it), and the existing segment is said to be
 * kept; else the detail says how to raise the limit. 0 when neither is passed, or when
 * the kernel cannot tell.
 */
static int limit_passed(const struct shmap__name *n, uint64_t size, uint64_t freed,
                        const char *why)
{
    struct shm_info si;
    if (shmctl(0, SHM_INFO, (struct shmid_ds *)(void *)&si) < 0)
        return 0;
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t pages = (size + page - 1) / page, freed_pages = (freed + page - 1) / page;
    unsigned long long shmall = kernel_limit("shmall"), shmmni = kernel_limit("shmmni");
    bool replacing = why != NULL;
    uint64_t ids = (uint64_t)si.used_ids - (replacing && freed ? 1 : 0);
    if (shmmni && ids + 1 > shmmni)
        return shmap__err(-ENOSPC, "%s: no System V segment id left for the new segment "
                                   "(kernel.shmmni is %llu, all in use%s); %s", n->name,
                          shmmni, replacing ? why : "",
                          replacing ? "the existing segment is kept"
                                    : "raise it with sysctl kernel.shmmni");
    uint64_t in_use = (uint64_t)si.shm_tot - freed_pages;
    if (shmall && in_use + pages > shmall)
        return shmap__err(-ENOSPC, "%s: %llu bytes (%llu pages) is more than System V memory "
                                   "has left: kernel.shmall is %llu pages in all, %llu in "
                                   "use%s; %s", n->name, (unsigned long long)size,
                          (unsigned long long)pages, shmall, (unsigned long long)in_use,
                          replacing ? why : "",
                          replacing ? "the existing segment is kept"
                                    : "raise it with sysctl kernel.shmall");
    return 0;
}

/* What shmget's ENOMEM, EPERM or EINVAL means for a segment in huge pages of @p hp bytes. */
static int huge_create_error(int e, const struct shmap__name *n, uint64_t size, size_t hp)
{
    unsigned long long kb = hp / 1024, pages = size / hp;
    if (e == ENOMEM) {
        static const char *const fields[2] = {"HugePages_Free", "HugePages_Rsvd"};
        unsigned long long pool[2];
        shmap__meminfo(fields, pool, 2);
        unsigned long long nfree = pool[0], rsvd = pool[1];
        return shmap__err(-ENOSPC, "%s: not enough free huge pages: %llu bytes need %llu x "
                                   "%llu kB, %llu are free and unreserved (see "
                                   "/proc/meminfo; raise vm.nr_hugepages)", n->name,
                          (unsigned long long)size, pages, kb, nfree > rsvd ? nfree - rsvd : 0);
    }
    /* Kernels that still let a locked-memory limit (ulimit -l) stand in for these warn that
     * it is obsolete, and recent ones refuse it: not offered. */
    if (e == EPERM)
        return shmap__err(-EPERM, "%s: this user may not put System V segments in huge "
                                  "pages: that needs CAP_IPC_LOCK, or membership of the group "
                                  "vm.hugetlb_shm_group names (gid %llu now)", n->name,
                          shmap__proc_number("/proc/sys/vm/hugetlb_shm_group"));
    return shmap__err(-EINVAL, "%s: %llu bytes (whole huge pages of %llu kB) is more than the "
                               "system allows for one System V segment (kernel.shmmax is %llu; "
                               "raise it with sysctl kernel.shmmax)", n->name,
                      (unsigned long long)size, kb, kernel_limit("shmmax"));
}

static int create_error(int e, const struct shmap__name *n, uint64_t size, size_t hp)
{
    if (hp && (e == ENOMEM || e == EPERM || e == EINVAL))
        return huge_create_error(e, n, size, hp);
    if (e == EINVAL)
        return shmap__err(-EINVAL, "%s: %llu bytes is more than the system allows for one "
                                   "System V segment (kernel.shmmax is %llu; raise it with "
                                   "sysctl kernel.shmmax)", n->name, (unsigned long long)size,
                          kernel_limit("shmmax"));
    int rc;
    if (e == ENOSPC && (rc = limit_passed(n, size, 0, NULL)) < 0)
        return rc;
    if (e == ENOSPC)
        return shmap__err(-ENOSPC, "%s: the system's System V limits are reached "
                                   "(kernel.shmmni %llu segments, kernel.shmall %llu pages "
                                   "in all; raise them with sysctl)", n->name,
                          kernel_limit("shmmni"), kernel_limit("shmall"));
    if (e == ENOMEM)
        return shmap__err(-ENOMEM, "%s: not enough memory for %llu bytes", n->name,
                          (unsigned long long)size);
    if (e == EACCES || e == EPERM)
        return shmap__err(-e, "%s: permission denied", n->name);
    return shmap__err(-e, "%s: shmget: %s", n->name, strerror(e));
}

static int read_ds(int id, struct shmid_ds *ds, const char *who);
static int set_ds(const struct shmap__name *n, int id, struct shmid_ds *ds,
                  const struct shmap__perm_change *ch);

/*
 * Replace: remove the segment `old` that holds the key, so that the key is free again (its
 * users keep it until they detach). Only its owner, its creator or root may: anyone else is
 * told so, and by whom it may be done, rather than that the key is taken.
 */
static int remove_replaced(const struct shmap__name *n, int old)
{
    if (shmctl(old, IPC_RMID, NULL) == 0 || errno != EPERM)
        return 0; /* gone, or the shmget that follows says what is wrong */
    struct shmid_ds ds;
    if (read_ds(old, &ds, n->name) < 0)
        return shmap__err(-EPERM, "%s: permission denied to remove the existing segment to "
                                  "replace it", n->name);
    char may[SHMAP__WHO_MAY_MAX];
    return shmap__err(-EPERM, "%s: permission denied to remove the existing segment to replace "
                              "it: only %s may", n->name,
                      shmap__who_may(may, sizeof may, ds.shm_perm.uid, true, ds.shm_perm.cuid));
}

/*
 * Replace removes the old segment before it makes the new one (a key cannot be given to a
 * segment once made), and a removal cannot be undone: what would make the new one fail is
 * looked for first, and the old one kept. More than kernel.shmmax; more than kernel.shmall
 * or kernel.shmmni leave with the old one gone (while processes attach it, its memory and
 * its id stay in use); more than this process's address space limit leaves to attach it.
 */
static int replace_check(const struct shmap__name *n, int old, uint64_t size)
{
    static const char kept[] = "the existing segment is kept";
    struct shmid_ds ds;
    if (shmctl(old, IPC_STAT, &ds) < 0)
        return 0; /* gone meanwhile, or not ours to see: shmget says what is wrong */
    unsigned long long shmmax = kernel_limit("shmmax");
    if (shmmax && size > shmmax)
        return shmap__err(-EINVAL, "%s: %llu bytes is more than the system allows for one "
                                   "System V segment (kernel.shmmax is %llu; raise it with "
                                   "sysctl kernel.shmmax); %s", n->name,
                          (unsigned long long)size, shmmax, kept);
    bool freed = ds.shm_nattch == 0;
    char why[96] = "";
    if (!freed)
        snprintf(why, sizeof why, ", the existing one's while %llu process%s attach it",
                 (unsigned long long)ds.shm_nattch, ds.shm_nattch == 1 ? "" : "es");
    int rc = limit_passed(n, size, freed ? ds.shm_segsz : 0, why);
    if (rc < 0)
        return rc;
    const char *as = shmap__as_hint(size);
    if (*as)
        return shmap__err(-ENOMEM, "%s: cannot attach %llu bytes%s; %s", n->name,
                          (unsigned long long)size, as, kept);
    return 0;
}

static int sysv_create(struct shmap__name *n, const struct shmap__create_req *req,
                       struct shmap__obj *obj, void **base)
{
    key_t key;
    if (!by_key(n, &key))
        return shmap__err(SHMAP_EBADNAME, "%s: create a System V segment by key "
                                          "(sysv://KEY), not by id", n->name);
    /* shmget applies no umask; shmap does, as for every store. A mode that does not let
     * the owner read and write (0400) is set once the creator has attached read-write,
     * which shmat checks against the mode, as open() does not for a new file. */
    unsigned mode = req->mode & ~(unsigned)shmap__umask() & 0777u;
    int shmflg = IPC_CREAT | IPC_EXCL | (int)(mode | 0600u);
    uint64_t size = req->size;
    size_t hp = 0;
    if (req->flags & SHMAP_CREATE_HUGEPAGES) {
        /* Says how to configure them when the system has none. */
        if ((hp = shmap__hugepage_size(n->name)) == 0)
            return SHMAP_ESTORE;
        size = (size + hp - 1) / hp * hp;
        shmflg |= SHM_HUGETLB;
    }
    /* Memory there is not (huge pages come from their own pool, which shmget checks). A
     * replaced segment nobody has attached gives its memory back before the new one takes
     * any; a key taken without replace is EEXIST below, whatever the size. */
    int rc = 0;
    if (!hp && size >= SHMAP__MEMCHECK_MIN) {
        int old = shmget(key, 0, 0);
        struct shmid_ds ds;
        uint64_t credit = 0;
        if (old >= 0 && (req->flags & SHMAP_CREATE_REPLACE) &&
            shmctl(old, IPC_STAT, &ds) == 0 && ds.shm_nattch == 0)
            credit = ds.shm_segsz;
        if (old < 0 || (req->flags & SHMAP_CREATE_REPLACE))
            rc = shmap__memory_check(-1, size, credit, n->name);
    }
    if (rc < 0)
        return rc;
    /* A segment made here and removed by another process (a forced delete of the key)
     * before it could be attached is made again, twice at most. */
    int id = -1;
    void *p = (void *)-1;
    for (int tries = 0; p == (void *)-1 && tries < 3; tries++) {
        id = shmget(key, (size_t)size, shmflg);
        if (id < 0 && errno == EEXIST && (req->flags & SHMAP_CREATE_REPLACE)) {
            /* Replace: the old segment loses its key now; its users keep it until they
             * detach. */
            int old = shmget(key, 0, 0);
            if (old >= 0 && ((rc = replace_check(n, old, size)) < 0 ||
                             (rc = remove_replaced(n, old)) < 0))
                return rc;
            id = shmget(key, (size_t)size, shmflg);
        }
        if (id < 0) {
            int e = errno;
            if (e == EEXIST)
                return shmap__err(-EEXIST, "%s: a segment with that key exists", n->name);
            return create_error(e, n, size, hp);
        }
        p = shmat(id, NULL, 0);
        if (p == (void *)-1 && errno != EINVAL && errno != EIDRM)
            break;
    }
    if (p == (void *)-1) {
        int e = errno;
        rc = shmap__err(-e, "%s: cannot attach %llu bytes: %s%s", n->name,
                        (unsigned long long)size, strerror(e), shmap__map_hint(-e, size));
        shmctl(id, IPC_RMID, NULL);
        return rc;
    }
    struct shmid_ds ds;
    const struct shmap__perm_change ch = {true, mode, (uid_t)-1, (gid_t)-1};
    if ((mode & 0600u) != 0600u &&
        ((rc = read_ds(id, &ds, n->name)) < 0 || (rc = set_ds(n, id, &ds, &ch)) < 0)) {
        shmdt(p);
        shmctl(id, IPC_RMID, NULL);
        return rc;
    }
    /* The field list and keywords, then the header marked INIT (never READY, even for a
     * moment): readers who find the key now wait for READY, as they wait while the header
     * is still zero (segment.c). */
    if (req->rec)
        memcpy((char *)p + req->h->rec_offset, req->rec, req->rec_len);
    if (req->kw)
        memcpy((char *)p + req->h->kw_offset, req->kw, req->kw_len);
    struct shmap__header *h = p, init = *req->h;
    init.state = SHMAP__STATE_INIT;
    /* The magic last: a reader that sees it sees the rest (one that reads in between gets
     * a header it refuses, and reads again while the segment is young: segment.c). */
    memset(init.magic, 0, sizeof init.magic);
    memcpy(h, &init, sizeof init);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    memcpy(h->magic, req->h->magic, sizeof h->magic);
    /* Reserve: fault in every page so a full system fails here. Huge pages were reserved
     * by shmget; faulting them in is only for PREFAULT. */
    bool populate = !hp || (req->flags & SHMAP_CREATE_PREFAULT);
    if (populate && madvise(p, (size_t)size, MADV_POPULATE_WRITE) < 0 && errno != EINVAL) {
        int e = errno;
        rc = shmap__err(e == EFAULT || e == ENOMEM ? -ENOMEM : -e,
                        "%s: cannot reserve %llu bytes of System V memory: %s", n->name,
                        (unsigned long long)size, strerror(e));
    }
    if (rc == 0)
        rc = stat_id(id, &obj->st, NULL, NULL, n->name);
    if (rc < 0) {
        shmdt(p);
        shmctl(id, IPC_RMID, NULL);
        return rc;
    }
    /* Hidden: the key is taken, and readers that find it wait for READY until shmap gives
     * it (sysv_reveal). */
    if (!(req->flags & SHMAP_CREATE_HIDDEN))
        __atomic_store_n(&h->state, SHMAP__STATE_READY, __ATOMIC_RELEASE);
    obj->id = id;
    snprintf(n->os_handle, sizeof n->os_handle, "%d", id);
    *base = p;
    return 0;
}

static int sysv_reveal(const struct shmap__name *n, const char *hidden, void *base,
                       bool replace)
{
    (void)n;
    (void)hidden;
    (void)replace; /* the key was taken at shmget, over any segment replaced */
    __atomic_store_n(&((struct shmap__header *)base)->state, SHMAP__STATE_READY,
                     __ATOMIC_RELEASE);
    return 0;
}

static void sysv_drop(const struct shmap__name *n, const char *hidden)
{
    (void)hidden;
    shmctl(atoi(n->os_handle), IPC_RMID, NULL);
}

/* Remove the segment if its id still names the one we mapped (ids stay ours while mapped). */
static int sysv_destroy(const struct shmap__name *n, dev_t dev, ino_t ino)
{
    (void)dev;
    if (shmctl((int)ino, IPC_RMID, NULL) == 0 || errno == EINVAL || errno == EIDRM)
        return 0;
    int e = errno;
    if (e == EPERM)
        return shmap__err(-EPERM, "%s: permission denied to remove it", n->name);
    return shmap__err(-e, "%s: cannot remove: %s", n->name, strerror(e));
}

int shmap__sysv_removal_denied(const struct shmap__name *n)
{
    int id;
    struct shmid_ds ds;
    /* As read_ds() reads it (the walk only when IPC_STAT is refused), but with no detail
     * left behind when it cannot be told. */
    if (find_id(n, &id) < 0 || (shmctl(id, IPC_STAT, &ds) < 0 && !listed_ds(id, &ds)))
        return 0; /* cannot tell: the removal says what is wrong */
    if (shmap__may_rmid(ds.shm_perm.uid, ds.shm_perm.cuid) == 0)
        return 0;
    char may[SHMAP__WHO_MAY_MAX];
    return shmap__err(-EPERM, "%s: permission denied to remove it: only %s may", n->name,
                      shmap__who_may(may, sizeof may, ds.shm_perm.uid, true, ds.shm_perm.cuid));
}

static int sysv_unlink(const struct shmap__name *n)
{
    struct shmap__name copy = *n;
    struct shmap__obj obj = SHMAP__OBJ_INIT;
    int rc = sysv_open(&copy, SHMAP__ACC_RDONLY, &obj);
    /* Removing needs no read permission: one who may not read it is told whether they may
     * remove it, and who may, rather than that it cannot be read. */
    if (rc == -EACCES && (rc = shmap__sysv_removal_denied(n)) == 0)
        rc = find_id(n, &obj.id);
    if (rc < 0)
        return rc;
    /* Removed already: there is no name left, as for a POSIX segment removed twice. */
    if (obj.deleted)
        return shmap__sysv_deleted(n->name, "there is no name left to remove");
    if (shmctl(obj.id, IPC_RMID, NULL) == 0)
        return 0;
    int e = errno;
    if (e == EPERM && (rc = shmap__sysv_removal_denied(n)) < 0)
        return rc;
    if (e == EPERM)
        return shmap__err(-EPERM, "%s: permission denied to remove it", n->name);
    /* Removed by another process since it was found: as a POSIX name removed twice. */
    if (e == EINVAL || e == EIDRM)
        return shmap__err(-ENOENT, "%s: no such segment", n->name);
    return shmap__err(-e, "%s: cannot remove: %s", n->name, strerror(e));
}

/* IPC_STAT needs read permission, which an owner may have taken from itself; the walk
 * `ipcs` makes (listed_ds()) needs none. */
static int read_ds(int id, struct shmid_ds *ds, const char *who)
{
    if (shmctl(id, IPC_STAT, ds) == 0)
        return 0;
    int e = errno;
    if (e == EACCES && listed_ds(id, ds))
        return 0;
    return stat_error(e, id, who);
}

/*
 * The mode and owner go through IPC_SET, which sets all three from what IPC_STAT read: a
 * change another process makes between the two is undone (System V has nothing finer).
 */
static int set_ds(const struct shmap__name *n, int id, struct shmid_ds *ds,
                  const struct shmap__perm_change *ch)
{
    uid_t owner = ds->shm_perm.uid;
    if (ch->set_mode)
        ds->shm_perm.mode = (unsigned short)((ds->shm_perm.mode & ~0777u) | ch->mode);
    if (ch->uid != (uid_t)-1)
        ds->shm_perm.uid = ch->uid;
    if (ch->gid != (gid_t)-1)
        ds->shm_perm.gid = ch->gid;
    if (shmctl(id, IPC_SET, ds) == 0)
        return 0;
    int e = errno;
    struct shmid_ds now;
    if (e == EPERM)
        return shmap__perm_denied(n->name, ch, owner, true, ds->shm_perm.cuid);
    /* EINVAL is also a uid or gid this user namespace cannot map. */
    if ((e == EINVAL || e == EIDRM) && shmctl(id, IPC_STAT, &now) < 0 &&
        (errno == EINVAL || errno == EIDRM))
        return shmap__err(-ENOENT, "%s: no System V segment with id %d", n->name, id);
    if (e == EINVAL)
        return shmap__err(-EINVAL, "%s: uid %u or gid %u is not valid here", n->name,
                          (unsigned)ds->shm_perm.uid, (unsigned)ds->shm_perm.gid);
    return shmap__err(-e, "%s: shmctl(IPC_SET): %s", n->name, strerror(e));
}

static int sysv_perm(const struct shmap__name *n, const struct shmap__perm_change *ch,
                     struct stat *st)
{
    int id;
    struct shmid_ds ds;
    int rc = find_id(n, &id);
    if (rc == 0)
        rc = read_ds(id, &ds, n->name);
    if (rc == 0 && (ds.shm_perm.mode & SHM_DEST))
        rc = shmap__sysv_deleted(n->name, "it is no longer reached by name");
    if (rc == 0 && ch)
        rc = set_ds(n, id, &ds, ch);
    if (rc == 0)
        ds_stat(id, &ds, st);
    return rc;
}

int shmap__sysv_describe_id(int id, struct shmap__list *l)
{
    shmap_entry *ent = &l->v[l->n - 1];
    struct shmap__obj obj = SHMAP__OBJ_INIT;
    obj.id = id;
    int rc = stat_id(id, &obj.st, NULL, NULL, ent->info.name);
    if (rc < 0)
        return rc;
    ent->info.size = (uint64_t)obj.st.st_size;
    ent->info.mode = obj.st.st_mode & 07777;
    ent->info.uid = obj.st.st_uid;
    ent->info.gid = obj.st.st_gid;
    /* Describing may move the list, the entry's name with it. */
    char who[sizeof ent->info.name];
    snprintf(who, sizeof who, "%s", ent->info.name);
    rc = shmap__describe_entry(&shmap__sysv_ops, &obj, l, who);
    sysv_close(&obj);
    /* A header refused in a segment a live process made a moment ago is one its creator
     * is still writing (it has no hidden name to be built under; an open waits for it,
     * segment.c): said so, not called foreign. */
    struct shmid_ds ds;
    if ((rc == SHMAP_EFORMAT || rc == SHMAP_ECORRUPT || rc == SHMAP_ETRUNCATED) &&
        shmap__sysv_fresh(id, 2) && shmctl(id, IPC_STAT, &ds) == 0) {
        ent = &l->v[l->n - 1];
        snprintf(ent->error, sizeof ent->error, "segment is still being created by pid %d",
                 (int)ds.shm_cpid);
        rc = SHMAP_EINCOMPLETE;
    }
    return rc;
}

const struct shmap__store_ops shmap__sysv_ops = {
    .store = SHMAP_STORE_SYSV,
    .destroys = true,
    .open = sysv_open,
    .read = sysv_read,
    .map = sysv_map,
    .unmap = sysv_unmap,
    .close = sysv_close,
    .create = sysv_create,
    .destroy = sysv_destroy,
    .unlink = sysv_unlink,
    .reveal = sysv_reveal,
    .drop = sysv_drop,
    .list = shmap__sysv_list,
    .perm = sysv_perm,
};
