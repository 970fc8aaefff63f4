/**
 * @file shmap.h
 * @brief libshmap: named, typed, n-dimensional arrays in shared memory.
 *
 * A *segment* is a named region of shared memory holding one array. A *described*
 * segment starts with a header (see docs/FORMAT.md) recording the element type, the
 * shape, keywords and a generation counter, so another process attaches by name
 * alone. The data starts at a page-aligned offset (4096 on machines with 4 KiB pages).
 *
 * Names pick the backing store: `frames`, `/frames`, `shm://frames` and `shmem://frames`
 * all name the POSIX shared-memory object `/frames`.
 *
 * @section errors Errors
 * Every fallible call returns 0 (or a non-negative count) on success and a negative code
 * on failure: `-errno` for system failures (`-ENOENT`, `-EEXIST`, `-EACCES`, `-ENOSPC`,
 * ...) and codes from #shmap_error for what the library itself detects. shmap_strerror()
 * and shmap_errname() describe a code; shmap_last_error() gives a detailed message for
 * the last failing call in the calling thread, naming the segment, size or field at fault.
 * The library never prints and never aborts.
 *
 * @section threads Threads
 * All functions are thread-safe. The per-process registry of mappings is guarded by a
 * mutex; a single #shmap_seg handle may be used from several threads for reading its data
 * and header, but shmap_close() and shmap_unmap() must not race with other uses of the
 * same handle. The detail message of shmap_last_error() is per thread.
 *
 * @section fork Fork
 * A child created by fork() inherits the parent's mappings and handles. It may use and
 * close them; closing them in the child never destroys a segment the parent created
 * (destruction on close happens only in the process that created the segment). The child
 * does not own its parent's locks (see shmap_lock()).
 */
#ifndef SHMAP_H
#define SHMAP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define SHMAP_EXTERN __attribute__((visibility("default")))
#else
#define SHMAP_EXTERN
#endif

/** @brief Library version, as numbers and as a string. */
#define SHMAP_VERSION_MAJOR 0
#define SHMAP_VERSION_MINOR 1
#define SHMAP_VERSION_PATCH 0
#define SHMAP_VERSION_STRING "0.1.0"

/** @brief The library's version string at run time (may differ from the header's). */
SHMAP_EXTERN const char *shmap_version(void);

/** @brief Most dimensions an array may have (IDL's limit). */
#define SHMAP_MAX_DIMS 8
/**
 * @brief Size of a buffer that holds any segment name or OS handle, with its NUL: a store
 * prefix and a path of up to PATH_MAX bytes.
 */
#define SHMAP_NAME_MAX 4104
/** @brief Longest portable name: macOS refuses longer POSIX names (31 bytes with the '/'). */
#define SHMAP_NAME_PORTABLE_MAX 30
/** @brief Size of a keyword name buffer (at most 23 characters). */
#define SHMAP_KEYWORD_NAME_MAX 24
/** @brief Size of a keyword string value buffer (at most 71 characters, as in FITS). */
#define SHMAP_KEYWORD_STRING_MAX 72
/** @brief Size of a keyword comment buffer (at most 39 characters). */
#define SHMAP_KEYWORD_COMMENT_MAX 40
/** @brief Keyword slots a segment gets when shmap_create_opts::keyword_capacity is 0. */
#define SHMAP_KEYWORD_CAPACITY_DEFAULT 32
/** @brief Most keyword slots a segment may have. */
#define SHMAP_KEYWORD_CAPACITY_MAX 4096
/** @brief Size of a record field-list buffer, with its NUL. */
#define SHMAP_RECORD_FIELDS_MAX 512

/* ------------------------------------------------------------------------------------ */
/** @name Errors
 * @{ */

/**
 * @brief One table of the library's own error codes: name, value, message.
 * Library codes live in their own band, below -30000, so they never collide with -errno.
 */
#define SHMAP_ERRNO_MAP(XX)                                                                   \
    XX(EBADNAME, -30001, "invalid segment name")                                              \
    XX(ESTORE, -30002, "backing store not available")                                         \
    XX(EFORMAT, -30003, "not a shmap segment")                                                \
    XX(EVERSION, -30004, "unsupported segment format version")                                \
    XX(EBYTEORDER, -30005, "segment written with the other byte order")                       \
    XX(ECORRUPT, -30006, "segment header is corrupt")                                         \
    XX(ETRUNCATED, -30007, "segment is smaller than its header says")                         \
    XX(EINCOMPLETE, -30008, "segment was never completely created")                           \
    XX(EDTYPE, -30009, "invalid element type")                                                \
    XX(ESHAPE, -30010, "invalid array shape")                                                 \
    XX(ESIZE, -30011, "array size out of range")                                              \
    XX(EMISMATCH, -30012, "existing segment has another type or shape")                       \
    XX(EPENDING, -30013, "segment is unmap-pending in this process")                          \
    XX(EKEYWORD, -30014, "invalid keyword")                                                   \
    XX(ENOKEY, -30015, "no such keyword")                                                     \
    XX(EKEYFULL, -30016, "keyword area is full")                                              \
    XX(EREADONLY, -30017, "segment is open read-only")                                        \
    XX(EINVAL, -30018, "invalid argument")                                                    \
    XX(EOWNERDEAD, -30019, "previous writer died while holding the lock: data may be "         \
                           "inconsistent")

/** @brief The library's own error codes (system failures are `-errno`). */
typedef enum shmap_error {
#define SHMAP__ERR_ENUM(name, value, msg) SHMAP_##name = (value),
    SHMAP_ERRNO_MAP(SHMAP__ERR_ENUM)
#undef SHMAP__ERR_ENUM
} shmap_error;

/**
 * @brief A short description of an error code.
 * @param[in] err a code returned by a shmap function (negative), or 0.
 * @return a static string; "unknown error" for codes that are neither ours nor errno.
 */
SHMAP_EXTERN const char *shmap_strerror(int err);

/**
 * @brief The symbolic name of an error code ("SHMAP_EFORMAT", "ENOENT", ...).
 * @return a static string; "UNKNOWN" for codes that are neither ours nor errno.
 */
SHMAP_EXTERN const char *shmap_errname(int err);

/**
 * @brief The detailed message of the last failing call made by this thread.
 *
 * It names what was wrong ("segment '/frames': object is 4096 bytes, header needs
 * 266240"). It stays until the next failing call in the same thread; successful calls
 * do not clear it.
 * @return a thread-local string, never NULL (empty when nothing has failed).
 */
SHMAP_EXTERN const char *shmap_last_error(void);

/** @} */

/* ------------------------------------------------------------------------------------ */
/** @name Element types
 * @{ */

/** @brief Element types. Values are stored in segments: never renumber them. */
typedef enum shmap_dtype {
    SHMAP_DTYPE_NONE = 0,
    SHMAP_U8 = 1,
    SHMAP_I8 = 2,
    SHMAP_U16 = 3,
    SHMAP_I16 = 4,
    SHMAP_U32 = 5,
    SHMAP_I32 = 6,
    SHMAP_U64 = 7,
    SHMAP_I64 = 8,
    SHMAP_F16 = 9,
    SHMAP_F32 = 10,
    SHMAP_F64 = 11,
    SHMAP_C64 = 12,  /**< complex: a pair of f32 */
    SHMAP_C128 = 13, /**< complex: a pair of f64 */
    SHMAP_BOOL = 14, /**< one byte, 0 or 1 */
    SHMAP_RECORD = 64 /**< fixed-size record; fields described by a field list */
} shmap_dtype;

/**
 * @brief Parse a type spelling.
 *
 * Accepts shmap's names (`u8 i8 u16 i16 u32 i32 u64 i64 f16 f32 f64 c64 c128 bool`),
 * numpy's (`uint8 int16 float32 complex64 f4 <f8 =i2 |u1 c8 c16 ? b1 e half single
 * double ...`) and IDL's (`byte int uint long ulong long64 ulong64 float double complex
 * dcomplex`). Where numpy and IDL disagree, IDL wins: `int` is i16 and `long` is i32.
 * A spelling for the other byte order (`>f4` here) is refused with #SHMAP_EBYTEORDER.
 * `record` is not accepted here: records are made from a field list.
 * @param[in] spelling the text, case-insensitive.
 * @param[out] out the type.
 * @return 0, or #SHMAP_EDTYPE / #SHMAP_EBYTEORDER.
 */
SHMAP_EXTERN int shmap_dtype_parse(const char *spelling, shmap_dtype *out);

/** @brief shmap's canonical name of a type ("f32", "record"); "?" for an unknown value. */
SHMAP_EXTERN const char *shmap_dtype_name(shmap_dtype dtype);

/** @brief numpy's name of a type ("<f4"); NULL for records and unknown values. */
SHMAP_EXTERN const char *shmap_dtype_numpy(shmap_dtype dtype);

/** @brief Size in bytes of one element of a fixed type; 0 for records and unknown values. */
SHMAP_EXTERN size_t shmap_dtype_size(shmap_dtype dtype);

/**
 * @brief Check a record field list and compute its element size.
 *
 * A field list is `name:type[,name:type...]` with types as shmap_dtype_parse() accepts,
 * optionally followed by a count in brackets (`pos:f4[3]`), packed with no padding, for
 * example `x:f4,y:f4,flag:u1` (9 bytes). Names are C identifiers and must be distinct.
 * @param[in] fields the field list.
 * @param[out] elsize the record size in bytes (may be NULL).
 * @return 0, or #SHMAP_EDTYPE with a detail naming the bad field.
 */
SHMAP_EXTERN int shmap_record_parse(const char *fields, size_t *elsize);

/** @} */

/* ------------------------------------------------------------------------------------ */
/** @name Names
 * @{ */

/** @brief Backing stores. */
typedef enum shmap_store {
    SHMAP_STORE_POSIX = 1, /**< POSIX shared memory: `shm_open` */
    SHMAP_STORE_SYSV = 2,  /**< System V shared memory: `shmget` */
    SHMAP_STORE_FILE = 3,  /**< a regular file */
    SHMAP_STORE_MEMFD = 4  /**< anonymous memory with no name */
} shmap_store;

/** @brief The name of a store ("posix", "sysv", "file", "memfd"). */
SHMAP_EXTERN const char *shmap_store_name(shmap_store store);

/**
 * @brief Check a segment name and tell which store it names.
 *
 * POSIX names are non-empty, have no '/' after the optional leading one, are not "."
 * or "..", do not start with ".shmap-" (reserved for segments being created) and fit
 * in NAME_MAX (255) bytes. Names longer than #SHMAP_NAME_PORTABLE_MAX work on Linux but
 * not on macOS.
 * @param[in] name the name as a user gives it.
 * @param[out] store the store it names (may be NULL).
 * @return 0, #SHMAP_EBADNAME, or #SHMAP_ESTORE for a store this build cannot use.
 */
SHMAP_EXTERN int shmap_name_check(const char *name, shmap_store *store);

/**
 * @brief Make a fresh name that no segment has now (IDL's GET_NAME).
 * @param[out] buf receives the name, such as "shmap-4f2a9c1e-1".
 * @param[in] size size of @p buf; #SHMAP_NAME_MAX is always enough, 256 is for any
 *            prefix of up to 230 bytes.
 * @param[in] prefix start of the name (NULL for "shmap"); must itself be a valid name.
 * @return 0, #SHMAP_EBADNAME for a bad prefix, or -ERANGE if @p buf is too small.
 */
SHMAP_EXTERN int shmap_name_unique(char *buf, size_t size, const char *prefix);

/** @} */

/* ------------------------------------------------------------------------------------ */
/** @name Creating, opening and closing
 * @{ */

/** @brief An open segment: one reference to a mapping shared within the process. */
typedef struct shmap_seg shmap_seg;

/** @brief Flags of #shmap_create_opts. */
enum shmap_create_flags {
    /** Replace an existing segment of the same name, atomically. */
    SHMAP_CREATE_REPLACE = 1u << 0,
    /** Open an existing segment instead if its type and shape match; else #SHMAP_EMISMATCH. */
    SHMAP_CREATE_OPEN = 1u << 1,
    /** Keep the segment when this process unmaps it (default: destroy what we created). */
    SHMAP_CREATE_KEEP = 1u << 2,
    /** Record the segment as transient: `shmap gc` may remove it once its users are gone. */
    SHMAP_CREATE_TRANSIENT = 1u << 3,
    /** Fault every page in at create (MAP_POPULATE). */
    SHMAP_CREATE_PREFAULT = 1u << 4
};

/** @brief Version of #shmap_create_opts this header knows. */
#define SHMAP_CREATE_OPTS_VERSION 1

/** @brief Options for shmap_create(); start from #SHMAP_CREATE_OPTS_INIT. */
typedef struct shmap_create_opts {
    unsigned int version;          /**< #SHMAP_CREATE_OPTS_VERSION */
    unsigned int flags;            /**< #shmap_create_flags */
    unsigned int mode;             /**< permission bits, less the umask; default 0600 */
    unsigned int keyword_capacity; /**< keyword slots; 0 for the default (32) */
    const char *record_fields;     /**< field list when the type is #SHMAP_RECORD */
} shmap_create_opts;

/** @brief Default options: exclusive create, mode 0600, destroy when unmapped. */
#define SHMAP_CREATE_OPTS_INIT {SHMAP_CREATE_OPTS_VERSION, 0, 0600, 0, NULL}

/**
 * @brief Create a described segment and map it read-write.
 *
 * The segment appears under its name only when complete: its memory is reserved
 * (posix_fallocate) and its header written under a hidden temporary name, which is then
 * renamed into place. A full /dev/shm is therefore -ENOSPC here, not SIGBUS later, and a
 * failure leaves nothing behind. The data is zero-filled.
 *
 * By default creation fails with -EEXIST if the name exists; see #shmap_create_flags.
 * Unless #SHMAP_CREATE_KEEP is given, the segment is destroyed when the last reference in
 * this process is closed (IDL's default); shmap_set_destroy() changes that later.
 *
 * @param[out] out the new handle.
 * @param[in] name the segment name.
 * @param[in] dtype element type; #SHMAP_RECORD needs opts->record_fields.
 * @param[in] ndim number of dimensions, 1 to #SHMAP_MAX_DIMS.
 * @param[in] dims the dimensions, C order (last index fastest), each at least 1.
 * @param[in] opts options, or NULL for the defaults.
 * @return 0; -EEXIST; -ENOSPC; -EACCES; #SHMAP_EBADNAME; #SHMAP_EDTYPE; #SHMAP_ESHAPE;
 *         #SHMAP_ESIZE; #SHMAP_EMISMATCH (with #SHMAP_CREATE_OPEN); or a code from
 *         shmap_open() when an existing segment is opened.
 */
SHMAP_EXTERN int shmap_create(shmap_seg **out, const char *name, shmap_dtype dtype,
                              unsigned int ndim, const uint64_t *dims,
                              const shmap_create_opts *opts);

/** @brief Flags of shmap_open(). */
enum shmap_open_flags {
    SHMAP_RDONLY = 0,     /**< map PROT_READ: writes fault */
    SHMAP_RDWR = 1u << 0, /**< map PROT_READ|PROT_WRITE */
    /**
     * Hold-while-open (CFITSIO's shmem:// semantics): the new handle takes the shared lock
     * (with #SHMAP_RDONLY) or the exclusive one (with #SHMAP_RDWR), waiting as long as it
     * takes, and holds it until shmap_close(); see shmap_lock().
     */
    SHMAP_HOLD = 1u << 1
};

/**
 * @brief Attach an existing described segment by name.
 *
 * Nothing in the segment is trusted: the magic, version, byte order, checksum, type,
 * dimensions and offsets are checked, with overflow checks, against the object's size
 * as the kernel reports it. If this process already maps the same object with the same
 * access, the handle is another reference to that mapping.
 *
 * @param[out] out the handle.
 * @param[in] name the segment name.
 * A read-write open records this process in the segment's attach table (see
 * shmap_attached()); a read-only one does not, until it takes a lock.
 *
 * @param[out] out the handle.
 * @param[in] name the segment name.
 * @param[in] flags #SHMAP_RDONLY or #SHMAP_RDWR, optionally with #SHMAP_HOLD.
 * @return 0; -ENOENT; -EACCES; #SHMAP_EBADNAME; #SHMAP_EFORMAT (not a shmap segment);
 *         #SHMAP_EVERSION; #SHMAP_EBYTEORDER; #SHMAP_ECORRUPT; #SHMAP_ETRUNCATED;
 *         #SHMAP_EINCOMPLETE; #SHMAP_EPENDING. With #SHMAP_HOLD also the codes of
 *         shmap_lock(): #SHMAP_EOWNERDEAD leaves the handle open with the lock held
 *         (`*out` is set); any other failure closes it.
 */
SHMAP_EXTERN int shmap_open(shmap_seg **out, const char *name, unsigned int flags);

/**
 * @brief Another reference to the mapping behind @p seg (IDL's SHMVAR).
 * @return 0, or #SHMAP_EPENDING if the mapping is unmap-pending.
 */
SHMAP_EXTERN int shmap_dup(shmap_seg **out, shmap_seg *seg);

/**
 * @brief Drop a reference; @p seg is freed.
 *
 * When the last reference to a mapping goes, the memory is unmapped and, if the destroy
 * policy says so (this process created the segment and did not ask to keep it), the
 * name is removed. A NULL @p seg is a no-op.
 * @return 0, or the error from removing the name (the handle is freed all the same).
 */
SHMAP_EXTERN int shmap_close(shmap_seg *seg);

/**
 * @brief Unmap explicitly (IDL's SHMUNMAP): drop this reference and, if others remain,
 * mark the mapping unmap-pending so no new reference is given until the last goes.
 * @return as shmap_close().
 */
SHMAP_EXTERN int shmap_unmap(shmap_seg *seg);

/**
 * @brief Set whether the segment is destroyed when this process's last reference goes.
 *
 * Only the process that sets it destroys: a forked child never destroys on close unless
 * it calls this itself.
 * @param[in] destroy non-zero to destroy, zero to keep.
 * @return 0.
 */
SHMAP_EXTERN int shmap_set_destroy(shmap_seg *seg, int destroy);

/**
 * @brief Remove a segment's name. Processes that map it keep their memory until they unmap.
 * @return 0; -ENOENT; -EACCES / -EPERM; #SHMAP_EBADNAME.
 */
SHMAP_EXTERN int shmap_unlink(const char *name);

/** @} */

/* ------------------------------------------------------------------------------------ */
/** @name Data and description
 * @{ */

/** @brief Flags recorded in a segment (shmap_info::flags). */
enum shmap_seg_flags {
    SHMAP_SEG_TRANSIENT = 1u << 0 /**< created transient */
};

/** @brief What a segment is: its header, checked, plus what the kernel says of the object. */
typedef struct shmap_info {
    char name[SHMAP_NAME_MAX];      /**< canonical name ("frames") */
    char os_handle[SHMAP_NAME_MAX]; /**< POSIX name ("/frames"), SysV id, or path */
    shmap_store store;
    unsigned int version;           /**< format version */
    shmap_dtype dtype;
    size_t elsize;                  /**< bytes per element */
    unsigned int ndim;
    uint64_t dims[SHMAP_MAX_DIMS];  /**< unused entries are 0 */
    uint64_t nelem;                 /**< product of the dimensions */
    uint64_t data_offset;           /**< where the data starts, page-aligned */
    uint64_t data_size;             /**< bytes of data: nelem * elsize */
    uint64_t size;                  /**< size of the object as the kernel reports it */
    unsigned int mode;              /**< permission bits */
    uid_t uid;                      /**< owner */
    gid_t gid;
    pid_t creator_pid;
    uid_t creator_uid;
    int64_t created_ns;             /**< creation time, ns since the Epoch */
    uint64_t generation;            /**< bumped by shmap_publish() */
    unsigned int flags;             /**< #shmap_seg_flags */
    unsigned int nkeywords;         /**< keywords set */
    unsigned int keyword_capacity;  /**< keyword slots */
    char record_fields[SHMAP_RECORD_FIELDS_MAX]; /**< field list of a record type, else "" */
} shmap_info;

/** @brief Start of the data: an array in C order. */
SHMAP_EXTERN void *shmap_data(const shmap_seg *seg);

/**
 * @brief Whether this process created the segment behind @p seg (rather than opened it):
 * tells the two outcomes of #SHMAP_CREATE_OPEN apart.
 */
SHMAP_EXTERN int shmap_created(const shmap_seg *seg);

/** @brief Whether @p seg was opened read-write. */
SHMAP_EXTERN int shmap_writable(const shmap_seg *seg);

/** @brief Describe an open segment. @return 0, or #SHMAP_EINVAL for a NULL argument. */
SHMAP_EXTERN int shmap_info_get(const shmap_seg *seg, shmap_info *out);

/**
 * @brief Describe a segment by name without keeping it mapped.
 * @return as shmap_open() with #SHMAP_RDONLY.
 */
SHMAP_EXTERN int shmap_stat(const char *name, shmap_info *out);

/**
 * @brief The OS handle behind a segment (IDL's GET_OS_HANDLE): the POSIX name
 * ("/frames"), the System V id, or the file's path.
 * @return 0, or -ERANGE if @p buf is too small (#SHMAP_NAME_MAX is enough for POSIX).
 */
SHMAP_EXTERN int shmap_os_handle(const shmap_seg *seg, char *buf, size_t size);

/** @brief The generation counter: how many times the data was published. */
SHMAP_EXTERN uint64_t shmap_generation(const shmap_seg *seg);

/**
 * @brief Mark a new version of the data: bump the generation and wake its waiters.
 * @return 0, or #SHMAP_EREADONLY.
 */
SHMAP_EXTERN int shmap_publish(shmap_seg *seg);

/** @} */

/* ------------------------------------------------------------------------------------ */
/** @name Locks and attached processes
 *
 * Shared (many readers) and exclusive (one writer) locks kept in the segment's header, so
 * they work for every store and need no file descriptor. Every process that maps a segment
 * read-write is recorded in the header's attach table (pid and process start time) and
 * counts its shared holds there; the exclusive lock is one word naming the writer's slot.
 *
 * **Ownership.** A lock is held through a handle: shmap_unlock() and shmap_close() on that
 * handle release it. A handle holds at most one lock at a time. Shared holds are counted
 * per process, so threads may share a segment through separate handles (shmap_dup()); one
 * handle must not be locked from two threads at once. Two handles of one process exclude
 * each other like two processes do, so taking the exclusive lock while another handle of
 * the same process holds a shared one waits for it (until the timeout: there is no upgrade).
 *
 * **Fork.** A child does not own its parent's locks: for it an inherited handle holds
 * nothing (shmap_unlock() gives #SHMAP_EINVAL) and may be locked afresh; the parent's holds
 * stay the parent's. The child gets its own attach slot when it first locks.
 *
 * **Fairness.** Writers are preferred: a writer waiting for the lock blocks new readers
 * while the readers inside drain, so a stream of readers cannot starve it. Among waiters
 * there is no queue: whoever runs first after a release wins.
 *
 * **Crash robustness.** A waiter that has waited 10 ms checks that the holders it waits
 * for are alive (pid, start time, and not a zombie). A dead reader's holds are dropped and
 * its slot freed; a dead writer's lock is released and the next process to take the
 * exclusive lock gets #SHMAP_EOWNERDEAD, with the lock held, so it can repair the data.
 *
 * **Read-only handles.** Taking a lock writes the attach table. A read-only handle whose
 * user may write the segment maps the header page read-write at its first lock (the data
 * stays read-only) and is then listed as attached. A user without write permission cannot
 * take locks (#SHMAP_EREADONLY); it can still read the lock state and the attach table, and
 * read data consistently with shmap_generation() and its own checks.
 * @{ */

/** @brief Flags of shmap_lock(). */
enum shmap_lock_flags {
    SHMAP_LOCK_SHARED = 1u << 0,   /**< many holders at once */
    SHMAP_LOCK_EXCLUSIVE = 1u << 1 /**< one holder, no shared holders */
};

/**
 * @brief Take the shared or the exclusive lock of a segment through a handle.
 *
 * The uncontended cost is a few atomic operations on the header (no system call); a
 * waiter sleeps on a futex and is woken by the release.
 * @param[in] seg a handle that holds no lock (read-only handles: see above).
 * @param[in] flags #SHMAP_LOCK_SHARED or #SHMAP_LOCK_EXCLUSIVE.
 * @param[in] timeout_s seconds to wait: negative waits for ever, 0 only tries.
 * @return 0 with the lock held; #SHMAP_EOWNERDEAD with the exclusive lock held, when the
 *         previous writer died holding it (the detail names its pid; the data may be
 *         half-written); -EBUSY (a try that would wait); -ETIMEDOUT; #SHMAP_EREADONLY
 *         (a read-only handle whose user may not write the segment);
 *         -EDEADLK (the handle already holds a lock); -EUSERS (the attach table is full);
 *         #SHMAP_EINVAL.
 */
SHMAP_EXTERN int shmap_lock(shmap_seg *seg, unsigned int flags, double timeout_s);

/**
 * @brief Release the lock held through a handle.
 * @return 0; #SHMAP_EINVAL if this handle holds no lock in this process.
 */
SHMAP_EXTERN int shmap_unlock(shmap_seg *seg);

/** @brief One process in a segment's attach table, as shmap_attached() reports it. */
typedef struct shmap_attacher {
    pid_t pid;
    uint64_t start;     /**< process start time, clock ticks since boot (0 if unknown) */
    unsigned int shared;/**< shared holds it has */
    int writer;         /**< it holds (or is taking) the exclusive lock */
    int alive;          /**< it is still running (same pid and start time) */
    int writable;       /**< it opened read-write (0: a read-only handle that locks) */
} shmap_attacher;

/**
 * @brief List the processes attached to a segment: read-write openers and lockers.
 *
 * Dead processes are listed (alive = 0) until a waiter or a new attacher clears them.
 * Works through a read-only handle.
 * @param[out] out array of @p cap entries (may be NULL when @p cap is 0).
 * @return the number of attached processes (may exceed @p cap), or #SHMAP_EINVAL.
 */
SHMAP_EXTERN int shmap_attached(const shmap_seg *seg, shmap_attacher *out, size_t cap);

/** @brief The lock state of a segment, as shmap_lock_info() reports it. */
typedef struct shmap_lockinfo {
    pid_t writer;        /**< process holding (or taking) the exclusive lock, or 0 */
    int writer_alive;    /**< whether that process is running */
    unsigned int shared; /**< shared holds, over all processes */
    int waiters;         /**< someone waited for the lock since its last release */
    int owner_died;      /**< a writer died holding it; the next exclusive locker is told */
    pid_t dead_pid;      /**< the last writer found dead holding the lock, or 0 */
} shmap_lockinfo;

/** @brief Read a segment's lock state (a snapshot). Works through a read-only handle.
 *  @return 0 or #SHMAP_EINVAL. */
SHMAP_EXTERN int shmap_lock_info(const shmap_seg *seg, shmap_lockinfo *out);

/** @} */

/* ------------------------------------------------------------------------------------ */
/** @name Keywords
 * FITS-like keywords stored in the segment. Names are 1 to 23 characters of letters,
 * digits, '_' and '-', compared case-insensitively and stored upper-case, as FITS does.
 * @{ */

/** @brief Keyword value types. */
typedef enum shmap_kw_type {
    SHMAP_KW_INT = 1,
    SHMAP_KW_FLOAT = 2,
    SHMAP_KW_STRING = 3,
    SHMAP_KW_BOOL = 4
} shmap_kw_type;

/** @brief A keyword: a name, a typed value and a comment. */
typedef struct shmap_keyword {
    char name[SHMAP_KEYWORD_NAME_MAX];
    shmap_kw_type type;
    int64_t i;                           /**< value when type is INT or BOOL (0/1) */
    double f;                            /**< value when type is FLOAT */
    char s[SHMAP_KEYWORD_STRING_MAX];    /**< value when type is STRING */
    char comment[SHMAP_KEYWORD_COMMENT_MAX];
} shmap_keyword;

/**
 * @brief Set a keyword, replacing one of the same name.
 * @return 0; #SHMAP_EKEYWORD (bad name, type or too long a string); #SHMAP_EKEYFULL;
 *         #SHMAP_EREADONLY.
 */
SHMAP_EXTERN int shmap_keyword_set(shmap_seg *seg, const shmap_keyword *kw);

/** @brief Read a keyword by name. @return 0, #SHMAP_ENOKEY or #SHMAP_EKEYWORD. */
SHMAP_EXTERN int shmap_keyword_get(const shmap_seg *seg, const char *name, shmap_keyword *out);

/** @brief Delete a keyword. @return 0, #SHMAP_ENOKEY or #SHMAP_EREADONLY. */
SHMAP_EXTERN int shmap_keyword_delete(shmap_seg *seg, const char *name);

/**
 * @brief Read all keywords, in the order they were first set.
 * @param[out] out array of @p cap entries (may be NULL when @p cap is 0).
 * @return the number of keywords (which may exceed @p cap: only @p cap are written),
 *         or a negative code.
 */
SHMAP_EXTERN int shmap_keyword_list(const shmap_seg *seg, shmap_keyword *out, size_t cap);

/**
 * @brief Parse `KEY=VALUE[/COMMENT]` as the command line gives it.
 *
 * The value's type follows its form: `T`/`F`/`true`/`false` are bool, an integer is INT,
 * a number is FLOAT, a quoted or any other text is STRING. A comment follows " / ".
 * @return 0 or #SHMAP_EKEYWORD.
 */
SHMAP_EXTERN int shmap_keyword_parse(const char *text, shmap_keyword *out);

/** @} */

/* ------------------------------------------------------------------------------------ */
/** @name Listing
 * @{ */

/** @brief Flags of shmap_list(). */
enum shmap_list_flags {
    SHMAP_LIST_ALL = 1u << 0 /**< also list objects that are not shmap segments */
};

/** @brief One object found by shmap_list(). */
typedef struct shmap_entry {
    int status;       /**< 0 for a valid described segment, else why not (a negative code) */
    shmap_info info;  /**< name, os_handle, store, size, mode, uid, gid always; the rest
                           only when status is 0 */
} shmap_entry;

/**
 * @brief List the segments on the system, sorted by name.
 *
 * Headers are read with one pread each, without mapping. Objects that are not valid
 * segments (foreign objects, damaged headers, unreadable ones) are left out unless
 * #SHMAP_LIST_ALL is given; segments being created are never listed.
 * @param[out] out a new array, to be freed with shmap_list_free().
 * @param[out] count its length.
 * @return 0, or a negative code if the store cannot be listed at all.
 */
SHMAP_EXTERN int shmap_list(shmap_entry **out, size_t *count, unsigned int flags);

/** @brief Free what shmap_list() returned. */
SHMAP_EXTERN void shmap_list_free(shmap_entry *list);

/** @brief One mapping of this process, as shmap_mappings() reports it. */
typedef struct shmap_mapping {
    shmap_info info;
    uint64_t offset;        /**< offset of the data in the mapping */
    unsigned int refs;      /**< references (handles) open */
    int pending;            /**< unmap-pending */
    int writable;           /**< mapped read-write */
    int destroy;            /**< will be destroyed when the last reference goes */
} shmap_mapping;

/**
 * @brief List this process's mappings (IDL's HELP, /SHARED_MEMORY).
 * @param[out] out a new array, to be freed with shmap_mappings_free().
 * @param[out] count its length.
 * @return 0 or -ENOMEM.
 */
SHMAP_EXTERN int shmap_mappings(shmap_mapping **out, size_t *count);

/** @brief Free what shmap_mappings() returned. */
SHMAP_EXTERN void shmap_mappings_free(shmap_mapping *list);

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* SHMAP_H */
