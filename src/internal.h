/* Internal declarations shared by the library's files. Nothing here is public. */
#ifndef SHMAP_INTERNAL_H
#define SHMAP_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "format.h"
#include "shmap.h"

#define SHMAP__HIDDEN __attribute__((visibility("hidden")))

/* error.c: set the thread's detail message and return `code`. */
SHMAP__HIDDEN int shmap__err(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* error.c: the detail message's size, and a copy of it kept and put back, for a call that
 * succeeds after failures of its own inner steps (successful calls leave it as it was). */
#define SHMAP__ERR_SIZE 512
SHMAP__HIDDEN void shmap__err_keep(char saved[SHMAP__ERR_SIZE]);
SHMAP__HIDDEN void shmap__err_put_back(const char saved[SHMAP__ERR_SIZE]);
/*
 * list.c: is `rc` a failure of this process rather than of the object at hand: out of
 * descriptors (-EMFILE, -ENFILE) or of memory or address space (-ENOMEM, -ENOBUFS)? A
 * listing or a gc then fails whole (see list.c), where a failure about one object (another
 * user's, gone meanwhile, not a segment) is that object's alone.
 */
SHMAP__HIDDEN bool shmap__process_failure(int rc);
/* list.c: the error for such a failure: `rc`, with a detail that names the cause first and
 * the limit reached when it is known, "too many open files: WHAT (this process's limit,
 * ulimit -n, is 1024)", WHAT formatted from `fmt`. */
SHMAP__HIDDEN int shmap__process_error(int rc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* @p one or @p many, as @p n asks, for messages that count: "1 byte", "29 bytes". */
static inline const char *shmap__plural(uint64_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

/* A parsed segment name. */
struct shmap__name {
    shmap_store store;
    char name[SHMAP_NAME_MAX];      /* canonical: "frames" */
    char os_handle[SHMAP_NAME_MAX]; /* "/frames" */
};

/* names.c */
SHMAP__HIDDEN int shmap__name_parse(const char *text, struct shmap__name *out);

/* dtype.c: field list of a record, checked; the size. */
SHMAP__HIDDEN int shmap__dtype_parse_quiet(const char *spelling, shmap_dtype *out);

/* format.c */
SHMAP__HIDDEN uint64_t shmap__checksum(const struct shmap__header *h);
SHMAP__HIDDEN size_t shmap__page_size(void);

/* Sizes of a segment, computed with overflow checks. */
struct shmap__layout {
    uint64_t nelem, data_offset, data_size, kw_offset, rec_offset, total_size;
    uint32_t elsize, kw_capacity, rec_len;
};
SHMAP__HIDDEN int shmap__layout(struct shmap__layout *lay, const char *who,
                                size_t elsize, unsigned ndim, const uint64_t *dims,
                                unsigned kw_capacity, size_t rec_len);
SHMAP__HIDDEN void shmap__header_init(struct shmap__header *h, const struct shmap__layout *lay,
                                      shmap_dtype dtype, unsigned ndim, const uint64_t *dims,
                                      unsigned flags);
/*
 * Check a header against the size of the object that holds it (as the kernel reports it).
 * `avail` is how many header bytes the caller has (a short read of a tiny object).
 */
SHMAP__HIDDEN int shmap__header_check(const struct shmap__header *h, size_t avail,
                                      uint64_t object_size, const char *who);
/* dtype.c: whether two checked field lists describe the same record, however spelled
 * ("x:f4,n:u1" and "x:float32,n:u8"). */
SHMAP__HIDDEN bool shmap__record_same(const char *a, const char *b);
/* dtype.c: a checked field list with numpy's one-letter codes written as shmap's names,
 * as a segment stores it, into `out` (`size` bytes). */
SHMAP__HIDDEN int shmap__record_canon(const char *fields, char *out, size_t size);
/* dtype.c: shmap_record_parse() of a field list read from a segment, which may have a field
 * name longer than new ones may (written by a version before 0.4.3). */
SHMAP__HIDDEN int shmap__record_parse_stored(const char *fields, size_t *elsize);
/* Check a record field list read from a segment against its element size, from one copy
 * of its @p rec_len bytes, which goes to @p out (SHMAP_RECORD_FIELDS_MAX bytes; may be
 * NULL) when it passes. */
SHMAP__HIDDEN int shmap__record_check(const char *rec, uint32_t rec_len, uint32_t elsize,
                                      const char *who, char *out);
/* lock.c: is an attach-table entry this process (pid, start time, pid namespace)? */
SHMAP__HIDDEN bool shmap__attacher_is_me(const shmap_attacher *a);
/* Is the segment transient: created so (the flags of `h`), or destroyed by its creator when
 * it unmaps it, as `live` says now (so one whose creator was killed is gc's to remove once
 * nobody uses it)? */
SHMAP__HIDDEN bool shmap__transient(const struct shmap__header *h,
                                    const struct shmap__header *live);
/* Fill `info` from a header: its fixed part from `h`, what changes (the generation, the
 * publish time, the creator's destroy policy) from `live` (NULL: `h` too, a copy). The
 * keywords are counted in `slots`, a copy (NULL: 0, for the caller to count). */
SHMAP__HIDDEN void shmap__info_fill(shmap_info *info, const struct shmap__header *h,
                                    const struct shmap__header *live,
                                    const struct shmap__kwslot *slots, const char *rec);

/* keyword.c */
/* Is a slot (a copy, or one that may change) a well-formed keyword? */
SHMAP__HIDDEN bool shmap__kwslot_valid(const struct shmap__kwslot *slot);
SHMAP__HIDDEN unsigned shmap__keyword_count(const struct shmap__kwslot *slots, unsigned cap);
/* The keywords in the `cap` mapped `slots`, counted between two reads of the change
 * sequence in the header `words`, so that the count is one the segment held; a change in
 * progress is waited for while its writer lives, 100 ms at most, then counted as the slots
 * read. */
SHMAP__HIDDEN unsigned shmap__keyword_count_live(const struct shmap__header *words,
                                                 const struct shmap__kwslot *slots,
                                                 unsigned cap);
/* The keyword writer: its start time (kw_lock_start), and its pid namespace when that is
 * known to be another than ours (else 0); the start time 0 if unknown. */
struct shmap__kwholder {
    uint64_t start;
    uint32_t pidns;
};
/* keyword.c: the keyword writer `pid` of a header (its whole page: the attach table is
 * read), as shmap__kwholder says. */
struct shmap__header;
SHMAP__HIDDEN void shmap__kw_holder_of(const struct shmap__header *h, uint32_t pid,
                                       struct shmap__kwholder *out);
/* Where a keyword snapshot reads from: a mapping, or an object read through its store (a
 * listing). Each function returns 0 or a negative code, without a detail. */
struct shmap__kwsource {
    /* The keyword writer's pid and the change sequence (kw_lock and kw_seq). */
    int (*words)(void *ctx, uint32_t *lock, uint32_t *seq);
    /* What the keyword writer `pid` said of itself (see shmap__kwholder): asked only to
     * judge a writer that has not finished. */
    void (*holder)(void *ctx, uint32_t pid, struct shmap__kwholder *out);
    /* Copy the `cap` slots. */
    int (*slots)(void *ctx, struct shmap__kwslot *copy, unsigned cap);
    void *ctx;
};
/* Read the `cap` keyword slots, which may change under us, into `copy`: a consistent copy,
 * seqlock-style. 0, -EBUSY (a live writer did not finish its change in time, detail set), or
 * the code a source's function returned. */
SHMAP__HIDDEN int shmap__keyword_snapshot(const struct shmap__kwsource *src, unsigned cap,
                                          struct shmap__kwslot *copy, const char *who);
/* The `n` keywords a segment is created with, into `slots` (room for n, or for `cap` if
 * fewer; zeroed here), as shmap_keyword_set() would set them one after another (a name
 * given twice keeps its first place and its last value): how many slots they take, or a
 * negative code (detail naming `who`) for a bad keyword or more names than `cap`. */
SHMAP__HIDDEN int shmap__keyword_prefill(const shmap_keyword *kws, unsigned n, unsigned cap,
                                         struct shmap__kwslot *slots, const char *who);
/* Move the valid slots of a snapshot first, in the order their keywords were first set, and
 * return how many there are; the slots after them are left in no particular state. */
SHMAP__HIDDEN unsigned shmap__keyword_sort(struct shmap__kwslot *copy, unsigned cap);
/* The first `n` slots of a sorted snapshot as keywords. */
SHMAP__HIDDEN void shmap__keyword_decode(const struct shmap__kwslot *sorted, unsigned n,
                                         shmap_keyword *out);

/* linux/limits.c: for the message of a mapping of `len` bytes that failed with `err`, which
 * of this process's limits it ran into, as " (...)", or "" (thread-local). */
SHMAP__HIDDEN const char *shmap__map_hint(int err, uint64_t len);
/* linux/limits.c: for the message of an open or a creation that failed with errno `e`, the
 * descriptor limit it reached (EMFILE, ENFILE) as " (...)", or "" (thread-local). */
SHMAP__HIDDEN const char *shmap__fd_hint(int e);
/* linux/limits.c: shmap__map_hint() for an object whose mappings come in `granule` bytes,
 * `allocated` of them held already: one in huge pages (hugetlbfs), which reserves the rest
 * when it is mapped, is told about the pool for an ENOMEM no other limit explains. */
SHMAP__HIDDEN const char *shmap__huge_map_hint(int err, uint64_t len, size_t granule,
                                               uint64_t allocated);
/* linux/limits.c: is `len` more than this process's address-space limit (ulimit -v) itself,
 * so that no process under it could map that much? */
SHMAP__HIDDEN bool shmap__past_as_limit(uint64_t len);
/* linux/limits.c: the first number in a /proc file (a sysctl, statm), or 0. */
SHMAP__HIDDEN unsigned long long shmap__proc_number(const char *path);
/* linux/limits.c: " (past this process's address space limit ...)" when mapping `len` bytes
 * more would pass it, else "" (thread-local, shared with shmap__map_hint()). */
SHMAP__HIDDEN const char *shmap__as_hint(uint64_t len);
/* linux/proc.c: a process's start time in clock ticks since boot (pid 0: this one), or 0
 * if unknown. */
SHMAP__HIDDEN uint64_t shmap__proc_start(pid_t pid);
/* process.c: getpid() and our start time, cached (reset after fork). */
SHMAP__HIDDEN pid_t shmap__getpid(void);
SHMAP__HIDDEN uint64_t shmap__self_start(void);
/* process.c: CLOCK_MONOTONIC in ns, for deadlines and waits. */
SHMAP__HIDDEN int64_t shmap__mono_ns(void);
/* process.c: the calling thread's wait check, read before a sleep (so that the wake-up
 * path touches no thread-local storage), and its verdict after it: 0 to go on waiting, else
 * the negative code to return, the wait undone. */
struct shmap__check {
    shmap_wait_check_fn fn; /* NULL: none */
    void *arg;
};
SHMAP__HIDDEN struct shmap__check shmap__wait_check_get(void);
SHMAP__HIDDEN int shmap__wait_check_ask(struct shmap__check check);
/* linux/futex_inline.h: shmap__futex_wait() and shmap__wake_all(), inline. */
#include "linux/futex_inline.h"
/* linux/proc.c: is the process (pid, start time) still running? Zombies count as dead; a
 * start time of 0 is not compared. */
SHMAP__HIDDEN bool shmap__proc_alive(pid_t pid, uint64_t start);
/* linux/proc.c: the process's umask, read without changing it (see there). For the stores
 * whose creation does not apply it itself: System V segments and memfds. */
SHMAP__HIDDEN mode_t shmap__umask(void);
/* linux/proc.c: our pid namespace's inode (low 32 bits), 0 if unknown. */
SHMAP__HIDDEN uint32_t shmap__self_pidns(void);
SHMAP__HIDDEN void shmap__forget_pidns(void);
/* keyword.c: hold (or release) the mutex of private mappings' first keyword changes. */
SHMAP__HIDDEN void shmap__kw_own_hold(bool hold);
/* keyword.c: the keywords a mapping sees, counted whole (never half-way through a private
 * mapping's switch to keywords of its own), without waiting on any lock. */
struct shmap__map;
SHMAP__HIDDEN unsigned shmap__kw_count_of(const struct shmap__map *m);
SHMAP__HIDDEN unsigned shmap__self_threads(void);
/* linux/proc.c: is `pid` an ancestor of this process (its parent, its parent's parent...)? */
SHMAP__HIDDEN bool shmap__is_ancestor(pid_t pid);

/* linux/meminfo.c: the numbers of `n` fields of /proc/meminfo ("HugePages_Free"; sizes in
 * kB, as the file gives them), read in one pass; 0 for a field absent or unreadable. Returns
 * the fields found, bit i for fields[i] (of the first 32). */
SHMAP__HIDDEN unsigned shmap__meminfo(const char *const *fields, unsigned long long *values,
                                      size_t n);
/*
 * Refuse (-ENOMEM, detail set) to reserve `size` bytes of memory that is not there
 * (available memory and free swap, MemAvailable + SwapFree, or less where the memory cgroup
 * of this process or an ancestor's limit leaves less room), before the kernel's
 * out-of-memory killer would end this process or another for it: for the object `fd` when
 * it lives in memory (tmpfs: POSIX objects, memfds, files under a tmpfs), or for a System V
 * segment (fd -1); `freed` bytes are given back first (a replaced System V segment). Sizes
 * below SHMAP__MEMCHECK_MIN pass unlooked at: the look costs tens of microseconds, and so
 * small a request is not what exhausts memory.
 */
#define SHMAP__MEMCHECK_MIN (UINT64_C(64) << 20)
SHMAP__HIDDEN int shmap__memory_check(int fd, uint64_t size, uint64_t freed, const char *who);
/* linux/sysv_list.c: is System V segment `id` still there and not marked for removal? */
SHMAP__HIDDEN bool shmap__sysv_alive(int id);
/* linux/sysv_list.c: was System V segment `id` made at most `within_s` seconds ago, by a
 * process still running, and is it large enough to hold a header? (Its memory is zero
 * until its creator writes the header; a smaller one is never shmap's.) */
SHMAP__HIDDEN bool shmap__sysv_fresh(int id, int64_t within_s);
/* linux/sysv_list.c: has System V segment `id` gone altogether (no such id any more)? */
SHMAP__HIDDEN bool shmap__sysv_gone(int id);
/* notify.c: tell waiters at once that the segment was deleted (the caller maps it
 * writable). */
SHMAP__HIDDEN void shmap__notify_removed(struct shmap__header *h);

/* lock.c: the attach table and locks. */
struct shmap__map;
/* Record this process in a header being created (slot 0), before anyone can see it; set
 * the mapping's slot when `m` is given. */
SHMAP__HIDDEN void shmap__attach_created(struct shmap__header *h, struct shmap__map *m);
/* Take a slot for this process in a writable mapping unless it has one; 0 or a negative
 * code (a full table: locks will fail, the mapping is still usable). */
SHMAP__HIDDEN int shmap__attach(struct shmap__map *m);
/* Take (true) or let go of (false) the library's mutexes around fork() (process.c), so that
 * a child never starts with one held by a thread it does not have: the registry's, then
 * the attach slots' (segment.c takes them in that order), let go in the other. */
SHMAP__HIDDEN void shmap__registry_hold(bool hold);
SHMAP__HIDDEN void shmap__slots_hold(bool hold);
/* Free this process's slot when its last reference to the mapping goes. */
SHMAP__HIDDEN void shmap__detach(struct shmap__map *m);
/* Release the lock a handle holds, if this process took it (on close). */
SHMAP__HIDDEN void shmap__lock_drop(shmap_seg *seg);
/* Take the exclusive lock as shmap_lock() does, for a holder that writes nothing in the
 * segment (a delete): killed holding it, it leaves no news of a writer's death, and a death
 * it finds is left for the next writer (never SHMAP_EOWNERDEAD). shmap_unlock() releases it. */
SHMAP__HIDDEN int shmap__lock_quiet(shmap_seg *seg, double timeout_s);
/* Liveness answers remembered while many lock areas are read in a row (a listing): one
 * process attached to many segments is looked up in /proc once. Zero it before use. */
struct shmap__alive_cache {
    unsigned n, next;
    struct {
        int32_t pid;
        uint64_t start;
        bool alive;
    } e[32];
};
/* Read a lock area, a mapping or a private copy, without writing it: the lock state into
 * `li` (may be NULL) and the first `cap` processes of the attach table, dead ones too, into
 * `out`. Returns how many entries (slots) the table holds; `live` (may be NULL) gets how
 * many processes are alive among them, each counted once whatever its number of slots.
 * `cache` may be NULL. */
SHMAP__HIDDEN int shmap__lock_read(struct shmap__lockarea *a, shmap_lockinfo *li,
                                   shmap_attacher *out, size_t cap, unsigned *live,
                                   struct shmap__alive_cache *cache);
/* gc.c: an opener that mapped a segment and then read `gc_pid` set in its header: wait,
 * through the mapping `live`, until that gc has decided whether to remove the segment (it
 * clears the mark), has died, or two seconds have passed; a mark nobody heeds any more is
 * cleared when the mapping is `writable`. The caller then checks whether the object still
 * has its name. */
SHMAP__HIDDEN void shmap__gc_wait(struct shmap__header *live, bool writable);
/* An internal code, never returned to callers: a segment an open reached by name was
 * removed by gc while the open mapped it; the open starts again from the name. */
#define SHMAP__EGONE (-30999)
/* gc.c: count live and dead processes' slots in a lock area; with `clear`, reclaim the
 * dead ones' (the area must be a writable mapping). */
SHMAP__HIDDEN void shmap__lock_scan(struct shmap__lockarea *a, bool clear, unsigned *live,
                                    unsigned *stale);
/*
 * linux/maps.c: does any process use the object open read-only on `fd` (its only use in this
 * process), which `st` describes? SHMAP__MAPPED: another open file or mapping of it exists,
 * in this process too. SHMAP__MAYBE_MAPPED: none seen, but some process whose maps this user
 * cannot read could have opened it, or /proc does not show every process; `*why` says which.
 * SHMAP__NOT_MAPPED: nobody uses it. A search that this process could not make (out of
 * descriptors or memory) is SHMAP__MAYBE_MAPPED with why->error set.
 */
enum shmap__mapped { SHMAP__NOT_MAPPED, SHMAP__MAPPED, SHMAP__MAYBE_MAPPED };
struct shmap__unseen {
    pid_t pid;          /* the first such process; 0 when /proc itself keeps us blind */
    uid_t uid;          /* its effective uid, (uid_t)-1 if its credentials are hidden too */
    unsigned others;    /* how many more such processes */
    bool one_uid;       /* all of them have `uid` */
    const char *reason; /* when pid is 0: what hides the processes */
    int error;          /* when /proc could not be searched for want of descriptors or
                           memory (shmap__process_failure()): that code; else 0 */
};
/*
 * linux/maps.c: would shmap__mapped_by_any() see the users of a file behind `fd`? Only on
 * file systems known to show them (tmpfs, ext2-4, xfs, btrfs, hugetlbfs); elsewhere, false
 * with why in `why`. On overlayfs, say, a mapping holds the file below: /proc names another
 * device, and a lease on the file above is granted while it is mapped.
 */
SHMAP__HIDDEN bool shmap__users_visible(int fd, char *why, size_t size);
SHMAP__HIDDEN enum shmap__mapped shmap__mapped_by_any(int fd, const struct stat *st,
                                                      struct shmap__unseen *why);
/*
 * linux/maps.c: the processes other than `self` that map the object `st` describes (with
 * `sysv`, the System V segment whose id is st_ino), as /proc shows them: pid, start time and
 * whether a mapping is shared and writable. A new array in *out (NULL when none); the count,
 * or -errno. *unseen: processes whose maps this user cannot read and that could have opened
 * the object (permissions as in `st`), or -1 when /proc hides other users' processes.
 */
SHMAP__HIDDEN int shmap__mappers_scan(const struct stat *st, bool sysv, pid_t self,
                                      shmap_mapper **out, int *unseen);

/*
 * backend/posix_shm.c: the POSIX store. Creation runs under a hidden name and is then
 * published under the real one (see shmap__posix_publish).
 */
SHMAP__HIDDEN int shmap__posix_publish(const char *tmp, const char *name, bool replace,
                                       const char *who);
SHMAP__HIDDEN const char *shmap__posix_dir(void);
/* The file of a POSIX handle ("/frames" is "/dev/shm/frames"); false if it does not fit. */
SHMAP__HIDDEN bool shmap__posix_path(char *buf, size_t size, const char *handle);
/* Open an existing object; a file descriptor or a negative code with the detail set. */
SHMAP__HIDDEN int shmap__posix_open(const struct shmap__name *n, bool writable);
/* Create a hidden object of `size` bytes, reserved; removes it again on failure. */
SHMAP__HIDDEN int shmap__posix_create_tmp(const char *tmp, unsigned mode, uint64_t size,
                                          const char *who);
SHMAP__HIDDEN int shmap__posix_destroy(const struct shmap__name *n, dev_t dev, ino_t ino);
/*
 * Remove `path` (relative to directory `dfd`) only while it still names the object `dev`,
 * `ino`: 0 when removed, 1 when it names something else or nothing (a delete, a gc or a
 * replace came first), or a negative code with the detail set. A replacement between the
 * check and the unlink can still be lost: POSIX offers no unlink-if-same.
 */
SHMAP__HIDDEN int shmap__posix_remove_same(int dfd, const char *path, dev_t dev, ino_t ino,
                                           const char *who);
/* Is the entry of /dev/shm named `entry` one to list as a segment? Names starting
 * ".shmap-" are segments being created (or their crashed leftovers); other names starting
 * with a dot are names like any other. */
SHMAP__HIDDEN bool shmap__posix_listed(const char *entry);
/* list.c: describe an open object from its header, read with pread. */
SHMAP__HIDDEN int shmap__describe_fd(int fd, const struct stat *st, shmap_info *info,
                                     const char *who);

/* The process's view of one mapped object, shared by every handle that refers to it. */
struct shmap__map {
    struct shmap__map *next;
    struct shmap__name name;
    dev_t dev;
    ino_t ino;
    void *base;             /* start of the mapping: the header */
    size_t length;          /* bytes mapped */
    uint64_t size;          /* size of the object when it was opened */
    unsigned mode;          /* permission bits, uid and gid as last seen: when it was
                               opened, opened again, or changed by this process (written
                               under the registry lock, read without it: atomic) */
    uid_t uid;
    gid_t gid;
    bool writable;
    pid_t created_pid;      /* the process that created the object, or 0: opened (a
                               forked child inherits the mapping, not the creation) */
    bool pending;           /* unmap-pending: no new references */
    unsigned refs;
    pid_t destroy_pid;      /* destroy the name at last close, if we are this process */
    char *hidden;           /* created hidden: the store's hidden name, else NULL */
    bool unfinished;        /* created hidden and not given its name yet
                               (shmap_create_finish()); read atomically */
    pid_t hidden_pid;       /* the process that created it hidden, which removes it if it
                               does not finish it */
    bool hidden_replace;    /* finishing it may replace a segment of its name */
    int lock_slot;          /* our slot in the attach table (lock.c), valid when... */
    pid_t lock_slot_pid;    /* ...this is our pid (0: no slot; a forked child claims its own) */
    bool lock_touched;      /* the lock area was written through this mapping */
    bool write_begun;       /* shmap_write_begin() was called through it (read atomically) */
    int64_t try_checked_ns; /* when a try last checked the lock's holders (lock.c) */
    int64_t named_checked_ns; /* when a wait or a try last checked the name (notify.c) */
    int64_t writer_checked_ns; /* when a reader waiting for a frame being written last
                                  looked at its writer (notify.c) */
    void *lock_base;        /* the header, writable: `base`, or for a read-only mapping a
                               read-write map of the header page made at its first lock */
    size_t lock_len;        /* bytes of that map of the header (a whole huge page on
                               hugetlbfs) */
    const struct shmap__store_ops *ops; /* the backing store (store.h) */
    void *data;             /* start of the array */
    bool priv;              /* a private (copy-on-write) mapping */
    /* The header as the object holds it now, for what other processes change in it (the
     * generation, the write sequence, `removed`, the keyword words, the lock table): `base`,
     * but for a private mapping a shared read-only mapping of the header page (`live_len`
     * bytes), since its own copy of that page stops following the object once written to,
     * and a futex on it would make it that copy (see notify.c). */
    struct shmap__header *live;
    size_t live_len;
    bool kw_own;            /* private: keywords were written through it, so its copy of the
                               keyword area is its own (keyword.c); read atomically */
    uint32_t kw_own_seq;    /* private: odd while the keyword area is being made its own,
                               for the keyword count (shmap__kw_count_of()); atomic */
    bool raw;               /* no header: `desc` describes the array */
    struct shmap__header *desc; /* raw: a private header made from the caller's description */
    char *desc_fields;      /* records: the field list, else NULL */
    /* Described: the header's first bytes as they were checked at open (or written at
     * create), for shmap_info_at_open(). */
    unsigned char head[SHMAP__CHECKED_SIZE] __attribute__((aligned(16)));
    int fd;                 /* memfd and shmap_open_fd(): the descriptor kept, else -1 */
    bool deleted;           /* System V: marked for removal when an open last reached it,
                               for shmap_info_at_open() (shmap_info_get() asks anew) */
    bool deleted_seen;      /* its name no longer leads to it, as last learned (an open or
                               shmap_info_get()): for shmap_mappings(), which asks nothing */
};

/* segment.c: this process's mappings of the object `st` describes (st_dev, st_ino) take
 * its mode and owner from `st` (perm.c, after a change). */
SHMAP__HIDDEN void shmap__registry_perm(const struct stat *st);
/* notify.c: the last reference to the registered mapping `m` goes: a frame this process
 * began through it and neither published nor aborted is aborted (shmap_write_abort()). */
SHMAP__HIDDEN void shmap__write_give_up(struct shmap__map *m);
/* segment.c: does the mapping's name still lead to the object it maps (false: deleted, or
 * the name now holds another object)? */
SHMAP__HIDDEN bool shmap__map_named(const struct shmap__map *m);
/* segment.c: refuse header operations on a raw handle (#SHMAP_ERAW naming `what`). */
SHMAP__HIDDEN int shmap__raw_refuse(const shmap_seg *seg, const char *what);
/* How long an open waits at most for a creator that is still writing the header. */
#define SHMAP__CREATOR_WAIT_NS 2000000000LL
/* segment.c: open a described segment through a new mapping that stays out of the registry
 * (shmap_delete(), whose own reference would be refused by an unmap-pending mapping);
 * `access` is a SHMAP__ACC_* of store.h; a creator still writing the header is waited for
 * up to `wait_ns` (#SHMAP_EINCOMPLETE after). shmap_close() frees its lock slot and unmaps
 * it. */
SHMAP__HIDDEN int shmap__open_unregistered(shmap_seg **out, const struct shmap__name *name,
                                           int access, int64_t wait_ns);
/* segment.c: map the header of a mapping's object read-write (lock.c, for read-only
 * handles), and undo it; through the mapping's store. */
SHMAP__HIDDEN int shmap__header_map_rw(struct shmap__map *m, void **out);
SHMAP__HIDDEN void shmap__header_unmap_rw(struct shmap__map *m);

struct shmap_seg {
    struct shmap__map *map;
    unsigned lock_held;     /* SHMAP_LOCK_SHARED / _EXCLUSIVE held through this handle, or 0;
                               with SHMAP__HELD_DIED when taken with SHMAP_EOWNERDEAD,
                               SHMAP__HELD_QUIET when taken by shmap__lock_quiet() */
    pid_t lock_pid;         /* the process that took it (a forked child does not own it) */
    /* For shmap_info_at_open(), a handle whose open shared a mapping an earlier open made
     * (and its dups): the generation and publish time at that open. The mapping's copy of
     * the header is as the earlier open read it. */
    bool start_own;
    uint64_t start_gen;
    int64_t start_pub_ns;
};
#define SHMAP__HELD_DIED (1u << 8)
#define SHMAP__HELD_QUIET (1u << 9)

static inline struct shmap__header *shmap__hdr(const shmap_seg *seg)
{
    /* A raw mapping has no header: its private description stands in. */
    return seg->map->raw ? seg->map->desc : (struct shmap__header *)seg->map->base;
}

/* The header's fixed part (sizes, offsets, flags, dims, keyword capacity) as it was checked
 * at open, or written at create: a process that may write the object could change it in the
 * mapping since, and nothing read there is trusted. A raw mapping's description stands in. */
static inline const struct shmap__header *shmap__fixed_of(const struct shmap__map *m)
{
    return m->raw ? m->desc : (const struct shmap__header *)(const void *)m->head;
}

static inline const struct shmap__header *shmap__fixed(const shmap_seg *seg)
{
    return shmap__fixed_of(seg->map);
}

/* The header to read what other processes change (see shmap__map.live): the same as
 * shmap__hdr() but for a private mapping, whose own copy may have stopped following them. */
static inline struct shmap__header *shmap__live(const shmap_seg *seg)
{
    return seg->map->live; /* a raw mapping's is its description (shmap_open_raw()) */
}

/* The header whose keyword words (kw_lock, kw_seq) guard the keyword slots as a mapping
 * sees them: the object's, unless a private mapping has made the slots its own. */
static inline struct shmap__header *shmap__kw_words(const struct shmap__map *m)
{
    return m->priv && !__atomic_load_n(&m->kw_own, __ATOMIC_ACQUIRE)
               ? m->live
               : (struct shmap__header *)m->base;
}

#endif
