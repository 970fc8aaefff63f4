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
#define SHMAP_VERSION_MINOR 4
#define SHMAP_VERSION_PATCH 14
#define SHMAP_VERSION_STRING "0.4.14"

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
                           "inconsistent")                                                    \
    XX(EREMOVED, -30020, "segment was deleted or replaced")                                   \
    XX(ERAW, -30021, "raw mapping has no header")

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
 * It names what was wrong ("frames: object is 4096 bytes, its header needs 266240"). It
 * stays until the next failing call in the same thread; successful calls do not clear or
 * change it, but for shmap_gc(), which gives its callback the detail of each part that
 * failed. It holds at most 511 bytes: a longer message (naming a path of
 * kilobytes) keeps its start and its end, which says what went wrong, its middle written
 * "...".
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
 * numpy's (`uint8 int16 float32 complex64 f4 <f8 =i2 |u1 c8 c16 b1 half single double
 * ...`), numpy's one-letter codes (`? b B h H i I l L q Q p P e f d F D`, alone or after a
 * byte-order character: `<h`) and IDL's (`byte int uint long ulong long64 ulong64 float
 * double complex dcomplex`). Where numpy and IDL disagree, IDL wins: `int` is i16 and
 * `long` is i32. A spelling for the other byte order (`>f4` here) is refused with
 * #SHMAP_EBYTEORDER. `record` is not accepted here: records are made from a field list.
 *
 * The one-letter codes mean what numpy makes of them on the machine at hand: the integer
 * codes name C types, so `h` is a short (i16), `i` an int (i32), `q` a long long (i64), and
 * `l`/`L` a C long, which is i64/u64 on 64-bit Linux and macOS but i32/u32 on 32-bit
 * systems and Windows; `p`/`P` are pointer-sized. numpy's codes for what shmap cannot hold
 * (`g G` long doubles, `S a c U V O M m` strings, raw bytes, objects and times, as in `U4`
 * or `M8[ns]`) are refused with #SHMAP_EDTYPE and a detail saying what numpy means by them.
 * @param[in] spelling the text, case-insensitive, except numpy's one-letter codes, whose
 *            case is their meaning (`b` is i8 and `B` u8, `f` f32 and `F` c64, `d` f64 and
 *            `D` c128); numpy's `U4` (a string of 4 characters) is refused rather than read
 *            as u4.
 * @param[out] out the type.
 * @return 0, #SHMAP_EDTYPE / #SHMAP_EBYTEORDER, or #SHMAP_EINVAL for a NULL argument.
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
 * @param[in] size size of @p buf; 256 is always enough: a name longer than NAME_MAX (255)
 *            bytes is never made, and a prefix too long for one is #SHMAP_EBADNAME
 *            whatever the size.
 * @param[in] prefix start of the name (NULL for "shmap"); must itself be a valid name of a
 *            POSIX segment (no store prefix).
 * @return 0; #SHMAP_EBADNAME for a bad prefix; -ERANGE if @p buf is too small;
 *         #SHMAP_EINVAL for a NULL @p buf; -EEXIST if no free name was found in many tries;
 *         another -errno if a name could not be checked.
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
    /** Replace an existing segment of the same name, atomically (System V: not atomically,
     *  as a key cannot move: the old segment goes first, and a creator that dies before the
     *  new one is complete leaves neither, only the unfinished one, for `shmap gc`). An
     *  object of that name that is not a shmap segment is refused: #SHMAP_EFORMAT (no shmap
     *  magic; an empty file is replaced) or -EINVAL (not a regular file). */
    SHMAP_CREATE_REPLACE = 1u << 0,
    /**
     * Open an existing segment instead if its type and shape match; else #SHMAP_EMISMATCH.
     * Being a ring is part of the shape: with #SHMAP_CREATE_RING only a ring matches,
     * without it only a plain array. A name that other processes create and remove
     * meanwhile is opened or created, never reported missing: -EAGAIN only after 100 lost
     * races.
     */
    SHMAP_CREATE_OPEN = 1u << 1,
    /**
     * Keep the segment when this process unmaps it (default: destroy what we created). A
     * segment created without it goes with its creator: it counts as transient, so one
     * left by a creator that was killed is removed by `shmap gc` once nobody uses it.
     * A `file:` segment with its name (not a hidden one never finished) is never removed by
     * closing, with this flag or without it, and counts as transient only if created with
     * #SHMAP_CREATE_TRANSIENT.
     */
    SHMAP_CREATE_KEEP = 1u << 2,
    /** Record the segment as transient: `shmap gc` may remove it once its users are gone. */
    SHMAP_CREATE_TRANSIENT = 1u << 3,
    /** Fault every page in at create (MAP_POPULATE). */
    SHMAP_CREATE_PREFAULT = 1u << 4,
    /** A ring of frames: the first dimension is the number of frames (see shmap_read_frame). */
    SHMAP_CREATE_RING = 1u << 5,
    /**
     * Put the segment in huge pages, from the pool reserved with `vm.nr_hugepages`: a memfd
     * with MFD_HUGETLB (name NULL or "memfd:"), a System V segment with SHM_HUGETLB
     * (`sysv://KEY`), or a file on a hugetlbfs mount (`file:PATH`; a file there is in huge
     * pages with or without this flag). The object's size is rounded up to whole huge pages
     * (shmap_info::size reports it). Fails with #SHMAP_ESTORE for a POSIX name (tmpfs has
     * no huge pages to ask for: see docs/OPERATIONS.md for `huge=within_size`), for a file
     * elsewhere than on hugetlbfs, and where the system has none configured
     * (/proc/sys/vm/nr_hugepages is 0: the message says how to reserve some); with -ENOSPC
     * when too few are free; with -EPERM when this user may not use them for System V.
     */
    SHMAP_CREATE_HUGEPAGES = 1u << 6,
    /**
     * Make the segment complete but do not give it its name yet: it gets it at
     * shmap_create_finish(), so the data can be filled first and no process ever opens it
     * half-filled. Until then a POSIX or file segment is under a hidden name (which
     * `shmap gc` removes if this process dies), and a System V one, which has its key from
     * the start, is marked as being created (an open waits up to two seconds for it, then
     * fails with #SHMAP_EINCOMPLETE); a memfd segment has no name to give. The name is
     * checked free at create as at finish (unless #SHMAP_CREATE_REPLACE). If the last
     * reference in this process goes before shmap_create_finish(), the segment is removed,
     * even with #SHMAP_CREATE_KEEP. While hidden, its handles work as any (locks, keywords,
     * info, which says it is not deleted; shmap_os_handle() gives the hidden object's
     * handle). Excludes #SHMAP_CREATE_OPEN, and #SHMAP_CREATE_REPLACE for System V (whose
     * key is taken at creation: the old segment would go at once). Since 0.4.1.
     */
    SHMAP_CREATE_HIDDEN = 1u << 7
};

/**
 * @brief Version of #shmap_create_opts this header knows: 2 since 0.4.1 (`keywords`,
 * `nkeywords`). The library takes version 1 options too, as programs built against 0.4.0
 * pass them.
 */
#define SHMAP_CREATE_OPTS_VERSION 2

/** @brief Options for shmap_create(); start from #SHMAP_CREATE_OPTS_INIT. */
typedef struct shmap_create_opts {
    unsigned int version;          /**< #SHMAP_CREATE_OPTS_VERSION */
    unsigned int flags;            /**< #shmap_create_flags */
    unsigned int mode;             /**< permission bits, 0 to 0777 (set-id and sticky bits
                                        are refused), less the umask on every store (a
                                        System V segment or a memfd too); default 0600 (0
                                        also gives 0600). A memfd's mode bounds who may
                                        reopen it through /proc/PID/fd/N, and how */
    unsigned int keyword_capacity; /**< keyword slots; 0 for the default: 32, or
                                        `nkeywords` when that is more */
    const char *record_fields;     /**< field list when the type is #SHMAP_RECORD */
    /** Keywords the segment has from the start: written before it appears under its name
     * (and before it replaces another), so no reader ever sees it without them. Each is
     * checked as shmap_keyword_set() checks it; a name given twice takes its last value.
     * A segment opened instead (#SHMAP_CREATE_OPEN) is left as it is. Version 2. */
    const struct shmap_keyword *keywords;
    unsigned int nkeywords;        /**< how many `keywords` there are. Version 2. */
} shmap_create_opts;

/** @brief Default options: exclusive create, mode 0600, destroy when unmapped. */
#define SHMAP_CREATE_OPTS_INIT {SHMAP_CREATE_OPTS_VERSION, 0, 0600, 0, NULL, NULL, 0}

/**
 * @brief Create a described segment and map it read-write.
 *
 * The segment appears under its name only when complete: its memory is reserved
 * (posix_fallocate) and its header written under a hidden temporary name, which is then
 * renamed into place. A full /dev/shm is therefore -ENOSPC here, not SIGBUS later, and a
 * failure leaves nothing behind. A size beyond the free space of /dev/shm or of a file's
 * file system is refused before any of it is taken, so that its other users never find it
 * full meanwhile; the detail gives the bytes needed and available and the mount point.
 * The data is zero-filled.
 *
 * By default creation fails with -EEXIST if the name exists; see #shmap_create_flags.
 * Unless #SHMAP_CREATE_KEEP is given, the segment is destroyed when the last reference in
 * this process is closed (IDL's default); shmap_set_destroy() changes that later. A `file:`
 * segment is the exception: closing never removes a file that has its name, so it is kept
 * as if #SHMAP_CREATE_KEEP were given.
 *
 * @param[out] out the new handle.
 * @param[in] name the segment name.
 * @param[in] dtype element type; #SHMAP_RECORD needs opts->record_fields.
 * @param[in] ndim number of dimensions, 1 to #SHMAP_MAX_DIMS.
 * @param[in] dims the dimensions, C order (last index fastest), each at least 1.
 * @param[in] opts options, or NULL for the defaults.
 * @return 0; -EEXIST; -ENOSPC; -ENOMEM; -EACCES; -EPERM (with #SHMAP_CREATE_REPLACE,
 *         another user's segment or file in a sticky directory such as /dev/shm; huge
 *         pages this user may not use for System V); -EINVAL (the name holds something
 *         that is not a regular file; a System V size beyond kernel.shmmax);
 *         #SHMAP_EBADNAME; #SHMAP_EDTYPE; #SHMAP_ESHAPE; #SHMAP_ESIZE; #SHMAP_ESTORE (huge
 *         pages where the store or system has none: see #SHMAP_CREATE_HUGEPAGES);
 *         #SHMAP_EINVAL (bad options, among them a mode beyond 0777);
 *         #SHMAP_EMISMATCH (with #SHMAP_CREATE_OPEN); or a code from shmap_open() when an
 *         existing segment is opened.
 */
SHMAP_EXTERN int shmap_create(shmap_seg **out, const char *name, shmap_dtype dtype,
                              unsigned int ndim, const uint64_t *dims,
                              const shmap_create_opts *opts);

/**
 * @brief Give a segment created with #SHMAP_CREATE_HIDDEN its name.
 *
 * A POSIX or file segment is renamed into place atomically, never over an existing one
 * unless it was created with #SHMAP_CREATE_REPLACE; a System V segment is marked complete;
 * a memfd segment has nothing to do. From then on it is as if shmap_create() had made it
 * so: #SHMAP_CREATE_KEEP and shmap_set_destroy() decide what its last close does (a
 * `file:` segment is never removed by closing).
 *
 * @param[in] seg a handle of the segment, in the process that created it.
 * @return 0; -EEXIST (the name was taken meanwhile: the segment stays hidden, and goes at
 *         its last close); #SHMAP_EINVAL (not a hidden creation of this process, or one
 *         finished already); another -errno of the rename.
 */
SHMAP_EXTERN int shmap_create_finish(shmap_seg *seg);

/** @brief Flags of shmap_open(). */
enum shmap_open_flags {
    SHMAP_RDONLY = 0,     /**< map PROT_READ: writes fault */
    SHMAP_RDWR = 1u << 0, /**< map PROT_READ|PROT_WRITE */
    /**
     * Hold-while-open (CFITSIO's shmem:// semantics): the new handle takes the shared lock
     * (with #SHMAP_RDONLY) or the exclusive one (with #SHMAP_RDWR), waiting as long as it
     * takes, and holds it until shmap_close(); see shmap_lock().
     */
    SHMAP_HOLD = 1u << 1,
    /**
     * A private, copy-on-write mapping of a file (`file:PATH`) or a POSIX segment: the object
     * is opened read-only, so read access is enough, and writes through the mapping (data
     * and keywords) stay in this process. It still follows the object's writers: its
     * generation, waits, frame reads and write state are the object's (read through a
     * shared read-only mapping of the header page, which this flag adds), and so are its
     * keywords until it changes one, after which its keyword area is its own copy. What it
     * publishes tells nobody, itself included. Locks taken through it are the segment's
     * own, shared with every process, when the user may write the object. Not for System V
     * segments.
     */
    SHMAP_PRIVATE = 1u << 2,
    /**
     * Also open a System V segment that was deleted while processes still attach it (it is
     * reached by its id, `sysv://id=N`, its key being gone), to look at it as `shmap info`
     * does: shmap_info_get() then reports it deleted. Read-only opens only (with
     * #SHMAP_RDWR or #SHMAP_HOLD: #SHMAP_EINVAL); no effect on other segments. The mapping
     * keeps the segment's memory until it is closed, as any attach does.
     */
    SHMAP_DELETED = 1u << 3
};

/**
 * @brief Attach an existing described segment by name.
 *
 * Nothing in the segment is trusted: the magic, version, byte order, checksum, type,
 * dimensions and offsets are checked, with overflow checks, against the object's size
 * as the kernel reports it. If this process already maps the same object with the same
 * access, the handle is another reference to that mapping.
 *
 * A read-write open records this process in the segment's attach table (see
 * shmap_attached()); a read-only one does not, until it takes a lock. When the table is
 * full the open still succeeds, unrecorded, and the handle's locks fail with -EUSERS until
 * a slot frees.
 *
 * A System V segment deleted while processes still attach it is no longer found: the
 * open fails with -ENOENT, as it would once a POSIX segment is deleted, with a detail
 * saying it was deleted (unless #SHMAP_DELETED asks for it).
 *
 * @param[out] out the handle.
 * @param[in] name the segment name.
 * @param[in] flags #SHMAP_RDONLY or #SHMAP_RDWR, optionally with #SHMAP_HOLD; or
 *            #SHMAP_RDONLY with #SHMAP_DELETED.
 * @return 0; -ENOENT; -EACCES; -EINVAL (the name holds something that is not a regular
 *         file); -ENOMEM; #SHMAP_EBADNAME; #SHMAP_EFORMAT (not a shmap segment);
 *         #SHMAP_EVERSION; #SHMAP_EBYTEORDER; #SHMAP_ECORRUPT; #SHMAP_ETRUNCATED;
 *         #SHMAP_EINCOMPLETE; #SHMAP_EPENDING; #SHMAP_EINVAL (a NULL @p out, unknown
 *         flags, #SHMAP_DELETED with #SHMAP_RDWR or #SHMAP_HOLD, #SHMAP_PRIVATE with
 *         #SHMAP_HOLD or for System V); #SHMAP_ESTORE (a memfd name, which cannot be
 *         opened: see shmap_open_fd()). With #SHMAP_HOLD also the codes of
 *         shmap_lock(): #SHMAP_EOWNERDEAD leaves the handle open with the lock held
 *         (`*out` is set); any other failure closes it.
 */
SHMAP_EXTERN int shmap_open(shmap_seg **out, const char *name, unsigned int flags);

/**
 * @brief Another reference to the mapping behind @p seg (IDL's SHMVAR, from a handle).
 *
 * Works while the mapping is unmap-pending: pending refuses new references by name
 * (shmap_open() gives #SHMAP_EPENDING), not copies of a reference the caller holds, which
 * keep the memory mapped until they are closed, as @p seg does.
 * @return 0, #SHMAP_EINVAL, or -ENOMEM.
 */
SHMAP_EXTERN int shmap_dup(shmap_seg **out, shmap_seg *seg);

/**
 * @brief Drop a reference; @p seg is freed.
 *
 * When the last reference to a mapping goes, the memory is unmapped and, if the destroy
 * policy says so (this process created the segment and did not ask to keep it), the
 * name is removed. A frame this process began through the mapping (shmap_write_begin())
 * and did not publish is given up with its last reference, as by shmap_write_abort():
 * readers wait for it as for an aborted frame, and a new handle may begin it again. A
 * NULL @p seg is a no-op.
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
 * it calls this itself. The creator's choice is recorded in the segment for `shmap gc`: a
 * segment its creator destroys counts as transient (removed once the creator is dead and
 * nobody uses it), one it keeps as persistent unless it was created transient.
 * A `file:` segment is never removed by closing: for one, this changes nothing and
 * returns 0.
 * @param[in] destroy non-zero to destroy, zero to keep.
 * @return 0, or #SHMAP_EINVAL for a NULL @p seg.
 */
SHMAP_EXTERN int shmap_set_destroy(shmap_seg *seg, int destroy);

/**
 * @brief Remove a segment's name. Processes that map it keep their memory until they unmap.
 * @return 0; -ENOENT (also for a System V segment already deleted, which has no name left
 *         to remove); -EACCES / -EPERM; #SHMAP_EBADNAME; #SHMAP_ESTORE (a memfd name: a
 *         memfd has no name to remove).
 */
SHMAP_EXTERN int shmap_unlink(const char *name);

/** @brief Version of #shmap_raw_opts this header knows. */
#define SHMAP_RAW_OPTS_VERSION 1

/** @brief Options for shmap_open_raw(); start from #SHMAP_RAW_OPTS_INIT. */
typedef struct shmap_raw_opts {
    unsigned int version;        /**< #SHMAP_RAW_OPTS_VERSION */
    unsigned int flags;          /**< #SHMAP_RDONLY, #SHMAP_RDWR, or #SHMAP_PRIVATE; a
                                      read-only one may add #SHMAP_DELETED */
    uint64_t offset;             /**< byte offset of the array in the object (IDL's OFFSET):
                                      any multiple of the element's alignment */
    const char *record_fields;   /**< field list when the type is #SHMAP_RECORD */
    const shmap_seg *template_seg; /**< take type and dims from this handle (IDL's TEMPLATE) */
    const char *template_name;   /**< ...or from the described segment of this name */
} shmap_raw_opts;

/** @brief Default raw options: read-only, offset 0, no template. */
#define SHMAP_RAW_OPTS_INIT {SHMAP_RAW_OPTS_VERSION, 0, 0, NULL, NULL, NULL}

/**
 * @brief Map an object that has no shmap header (a foreign segment or a file) as an array.
 *
 * The caller gives the type, the dimensions and a byte offset. The offset need not be a
 * multiple of the page size: the mapping starts at the page boundary below it and the
 * data pointer adds the remainder. It must be a multiple of the element's alignment, as
 * C's _Alignof and numpy give it (its size up to 8, a complex number its component's: 4
 * for f32 and c64, 8 for f64 and c128, 1 for u8 and records), else
 * #SHMAP_EINVAL. The object must hold offset + nelem * elsize bytes, else
 * #SHMAP_ETRUNCATED naming both sizes. Any store works: a POSIX name, `sysv://KEY`,
 * `sysv://id=N` (a deleted one as shmap_open() takes it), `file:PATH`. With a template
 * (opts->template_seg or ->template_name) the type and dims come from it: pass
 * #SHMAP_DTYPE_NONE, 0 and NULL.
 *
 * A raw handle has no header: shmap_data(), shmap_info_get() (version 0, data_offset = the
 * offset), shmap_close() and shmap_dup() work; keywords, locks, publishing and waiting give
 * #SHMAP_ERAW. Raw mappings are never shared with other handles of the process and never
 * destroy anything.
 * @return 0; -ENOENT; -EACCES; -EINVAL (not a regular file); -ENOMEM; #SHMAP_EBADNAME;
 *         #SHMAP_EDTYPE; #SHMAP_ESHAPE; #SHMAP_ESIZE; #SHMAP_EINVAL (a misaligned offset,
 *         bad flags or options, a template with a type); #SHMAP_ETRUNCATED; #SHMAP_ESTORE
 *         (a memfd name); with opts->template_name, the codes of shmap_stat().
 */
SHMAP_EXTERN int shmap_open_raw(shmap_seg **out, const char *name, shmap_dtype dtype,
                                unsigned int ndim, const uint64_t *dims,
                                const shmap_raw_opts *opts);

/**
 * @brief The file descriptor behind a memfd segment (or one opened with shmap_open_fd()),
 * to pass to another process over a Unix socket (SCM_RIGHTS).
 *
 * The descriptor belongs to the mapping: do not close it; dup() it to keep it longer. It
 * is close-on-exec. Other stores keep no descriptor open.
 * @return the descriptor (>= 0), #SHMAP_ESTORE for a segment that keeps none, or
 *         #SHMAP_EINVAL.
 */
SHMAP_EXTERN int shmap_fd(const shmap_seg *seg);

/**
 * @brief Attach the described segment behind a file descriptor: a memfd received over a
 * Unix socket, or any open shmap file.
 *
 * The descriptor is duplicated (the caller keeps and closes its own). Checked like
 * shmap_open(); flags as for shmap_open() (#SHMAP_RDWR needs a descriptor opened
 * read-write; #SHMAP_PRIVATE maps copy-on-write). The descriptor's access mode is checked
 * first, so the answer is the same whether or not this process already maps the object.
 * @return as shmap_open(); -EBADF for a bad descriptor, or an O_PATH one (which cannot
 *         be read or mapped); -EINVAL for one that is not a regular file or memfd; -EACCES
 *         for #SHMAP_RDWR with a descriptor opened read-only (or for any open of a
 *         write-only one): the detail says which.
 */
SHMAP_EXTERN int shmap_open_fd(shmap_seg **out, int fd, unsigned int flags);

/** @brief Flags of shmap_delete(). */
enum shmap_delete_flags {
    /**
     * Remove the name at once, without taking the lock or waiting for users; also removes
     * an object that is not a shmap segment (a plain shm_unlink).
     */
    SHMAP_DELETE_FORCE = 1u << 0,
    /**
     * No other thread of this process will let go of a lock it holds on the segment: fail
     * with -EDEADLK at once rather than wait for this process's own hold. Without it, that
     * is assumed only of a process that has one thread (an interpreter, whose threads
     * are not the library's to count, passes it when it has one thread of its own).
     */
    SHMAP_DELETE_NOT_MINE = 1u << 1,
    /**
     * The exclusive lock is held already, for the caller: by this process (through any
     * handle), or by one of its ancestors (its parent, its parent's parent...), as `shmap
     * lock --write -- COMMAND` holds it for COMMAND; the library takes any such holder as
     * acting for the caller. The name is removed under that hold, with every check
     * of a delete but without taking the lock or waiting; the holder releases the lock as
     * usual, and goes on with its mapping meanwhile. Fails with -ENOLCK when no such
     * holder has the exclusive lock (nobody holds it, a writer still waits for readers,
     * or another process holds it). Since 0.4.13.
     */
    SHMAP_DELETE_LOCKED = 1u << 2
};

/**
 * @brief Delete a segment once nobody uses it (CFITSIO's deletion): take the exclusive lock,
 * remove the name, release the lock.
 *
 * Users are the holders of locks, which includes hold-while-open handles (#SHMAP_HOLD):
 * the call waits until they let go, as an exclusive shmap_lock() does (writers are
 * preferred, so new readers wait behind it). Processes that map the segment without
 * holding a lock are not waited for. With #SHMAP_DELETE_FORCE the name is removed at once.
 *
 * Either way, processes that still map the segment keep their memory, readable and
 * writable as before, until they unmap it; the memory is freed after the last one. New
 * opens of the name fail with -ENOENT (or open a new segment created under it since).
 *
 * A name holding an object that is not a shmap segment is refused with #SHMAP_EFORMAT
 * (shmap does not know how others lock it) unless #SHMAP_DELETE_FORCE is given, which
 * removes it like shmap_unlink(). A damaged segment is refused with the code shmap_open()
 * gives, and likewise removed by #SHMAP_DELETE_FORCE.
 *
 * A `file:` name that is a symbolic link is refused (-EINVAL): removing it would leave the
 * segment in place; remove the link with unlink(2), or delete the segment by its own name.
 * (#SHMAP_DELETE_FORCE unlinks whatever the name is, a link included.) A name that is one
 * of several hard links of the object is removed like any name, and the segment lives on
 * under the others: only the removal of its last name tells all its waiters
 * (#SHMAP_EREMOVED) at once; one that reached it by the name removed learns within a wait
 * slice (50 ms) that its name is gone.
 *
 * If the name is replaced by another segment while the call waits, it starts again with
 * the new one; a lock owner found dead (#SHMAP_EOWNERDEAD) does not stop the deletion.
 * A lock this process holds through a handle of its own must be released first. Another of
 * its threads may do that while the call waits; when none can (the process has one
 * thread, or the caller says so with #SHMAP_DELETE_NOT_MINE), the call returns -EDEADLK
 * at once rather than wait for itself. To delete while holding the exclusive lock (no
 * other process gets in between the last write and the removal), pass
 * #SHMAP_DELETE_LOCKED instead.
 *
 * @param[in] name the segment name.
 * @param[in] timeout_s how long to wait for users: < 0 for ever, 0 only tries. A creator
 *            still writing the header is waited for within it too: up to two seconds, as an
 *            open waits, but no longer than the timeout, and not at all with 0
 *            (#SHMAP_EINCOMPLETE, "segment is still being created by pid N").
 * @param[in] flags 0, #SHMAP_DELETE_FORCE, #SHMAP_DELETE_NOT_MINE, #SHMAP_DELETE_LOCKED
 *            (#SHMAP_DELETE_FORCE overrides the others).
 * @return 0; -ENOENT; -EBUSY (timeout 0 and in use); -ETIMEDOUT; in both cases the detail
 *         names the pids holding the lock; -EDEADLK (this process holds the lock, and no other
 *         thread of it will let go); -ENOLCK (#SHMAP_DELETE_LOCKED, and neither this process
 *         nor an ancestor holds the exclusive lock: the detail says who does); -EACCES
 *         (this user may not open it read-write to take the lock, or may not remove it);
 *         -EPERM (may not remove it: a file in a sticky directory, or a System V segment,
 *         that is another user's). A user who may not remove the name is told at once,
 *         before any wait, with a detail saying who may;
 *         #SHMAP_EFORMAT; #SHMAP_EBADNAME; -EINVAL (a `file:` name that is a symbolic
 *         link); #SHMAP_EINVAL; or the codes of shmap_open().
 */
SHMAP_EXTERN int shmap_delete(const char *name, double timeout_s, unsigned int flags);

/** @} */

/* ------------------------------------------------------------------------------------ */
/** @name Mode and owner
 * Who may open a segment, changed after it was made, as chmod(2) and chown(2) change a
 * file's. These act on the object a name picks, whatever it holds: a segment, a foreign
 * POSIX object, a plain file, a damaged segment. They read nothing of it and need no read
 * access to it. A POSIX object or a file is reached through a descriptor opened without
 * following a symbolic link at the name and without opening the object for reading or
 * writing, and must be a regular file: a symbolic link, a FIFO or a directory under the name
 * is refused with -EINVAL ("not a regular file"), never followed or opened. A System V
 * segment is changed with shmctl(IPC_SET); one deleted while still attached has no name
 * any more and is not found (-ENOENT). A memfd segment has no name: use fchmod(2) and
 * fchown(2) on shmap_fd().
 *
 * Processes that map the segment keep their mappings: the mode decides who may open it
 * from now on. The handles of this process report the new mode and owner in
 * shmap_info_get() at once; another process's handles report them once that process opens
 * the segment again.
 * @{ */

/**
 * @brief Set the permission bits of the object a name picks, as chmod(2) does.
 *
 * The umask does not apply. The mode replaces the object's mode bits: a file's
 * set-user-id, set-group-id and sticky bits are cleared.
 * @param[in] name the segment name.
 * @param[in] mode permission bits, 0 to 0777.
 * @return 0; -ENOENT; -EPERM (this user is neither the owner nor root, nor for System V the
 *         creator: the detail says who may); -EACCES (a directory on a file's path cannot
 *         be searched); -EINVAL (not a regular file); -EROFS; #SHMAP_EINVAL (bits beyond
 *         0777: set-id and sticky bits cannot be set); #SHMAP_EBADNAME; #SHMAP_ESTORE (a
 *         memfd name).
 */
SHMAP_EXTERN int shmap_chmod(const char *name, unsigned int mode);

/**
 * @brief Change the owner and group of the object a name picks, as chown(2) does.
 *
 * For a POSIX object or a file, only root may give it to another user, and its owner may
 * change its group to one of the owner's groups. A System V segment's owner or creator may
 * give it to any user and group (the kernel's rule for IPC_SET). With both ids -1 nothing
 * changes: the call only says whether the object is there.
 * @param[in] name the segment name.
 * @param[in] uid the new owner, or (uid_t)-1 to keep it.
 * @param[in] gid the new group, or (gid_t)-1 to keep it.
 * @return as shmap_chmod(), without #SHMAP_EINVAL; -EINVAL also for an id the system
 *         cannot use (not mapped in this user namespace).
 */
SHMAP_EXTERN int shmap_chown(const char *name, uid_t uid, gid_t gid);

/**
 * @brief Read the permission bits and owner of the object a name picks, as the kernel
 * reports them, whatever the object holds and without read access to it: where a relative
 * change (`shmap chmod g+w`) starts from.
 * @param[out] mode the mode bits (07777 of them); may be NULL.
 * @param[out] uid the owner; may be NULL.
 * @param[out] gid the group; may be NULL.
 * @return 0; -ENOENT; -EACCES; -EINVAL (not a regular file); #SHMAP_EBADNAME;
 *         #SHMAP_ESTORE (a memfd name).
 */
SHMAP_EXTERN int shmap_perm_get(const char *name, unsigned int *mode, uid_t *uid, gid_t *gid);

/** @} */

/* ------------------------------------------------------------------------------------ */
/** @name Data and description
 * @{ */

/** @brief Flags recorded in a segment (shmap_info::flags). */
enum shmap_seg_flags {
    SHMAP_SEG_TRANSIENT = 1u << 0, /**< created transient (#SHMAP_CREATE_TRANSIENT); see
                                        also shmap_info::transient */
    SHMAP_SEG_RING = 1u << 1       /**< a ring of frames: the first dimension is its length */
};

/**
 * @brief What a segment is: its header, checked, plus what the kernel says of the object.
 *
 * @p deleted is non-zero for a segment that was deleted while processes still map it: the
 * system keeps its memory until the last of them unmaps, but no open reaches it any more.
 * A POSIX object or a file is then gone from its directory, so only a handle can tell:
 * shmap_info_get() checks, at each call, that the name still leads to the object the
 * handle maps (one stat(2), or shmctl(IPC_STAT)), and reports a name removed or now
 * holding another object as deleted; shmap_mappings() asks nothing and gives the last
 * answer each mapping learned. A System V segment deleted while attached (by
 * shmap_delete(), `ipcrm`, a replace) stays visible under its id, `sysv://id=N`, without
 * its key: shmap_list() with #SHMAP_LIST_ALL and shmap_stat() describe it with @p deleted
 * set, while shmap_open() refuses it as not found unless asked with #SHMAP_DELETED.
 * shmap_info_at_open() gives it as it was when an open last reached the mapping (set only
 * by an open with #SHMAP_DELETED). Appended in 0.3.
 */
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
    unsigned int mode;              /**< permission bits (mode, uid and gid: as this process
                                         last opened the object or changed them) */
    uid_t uid;                      /**< owner */
    gid_t gid;
    pid_t creator_pid;
    uid_t creator_uid;
    int64_t created_ns;             /**< creation time, ns since the Epoch */
    uint64_t generation;            /**< bumped by shmap_publish() */
    unsigned int flags;             /**< #shmap_seg_flags, as the header records them */
    unsigned int nkeywords;         /**< keywords set: from shmap_info_get() and
                                         shmap_mappings(), a count the segment held, unless a
                                         keyword change stays unfinished (its writer died, or
                                         stopped for 100 ms): then it may be off by one;
                                         from shmap_list(), as the slots read (a snapshot
                                         with #SHMAP_LIST_KEYWORDS) */
    unsigned int keyword_capacity;  /**< keyword slots */
    char record_fields[SHMAP_RECORD_FIELDS_MAX]; /**< field list of a record type, else "" */
    int64_t published_ns;           /**< time of the last publish, ns since the Epoch; 0 if
                                         never */
    int transient;                  /**< `shmap gc` removes it once its creator is dead and
                                         nobody uses it: created transient
                                         (#SHMAP_SEG_TRANSIENT), or its creator destroys it
                                         when it unmaps it */
    int deleted;                    /**< the segment has lost its name (see below) */
} shmap_info;

/** @brief Start of the data: an array in C order. */
SHMAP_EXTERN void *shmap_data(const shmap_seg *seg);

/**
 * @brief Whether this process created the segment behind @p seg (rather than opened it):
 * tells the two outcomes of #SHMAP_CREATE_OPEN apart.
 *
 * Only the creating process: in a forked child it is 0, for the handles it inherited and
 * for those it opens itself, which share the creator's mapping (as the destroy policy, a
 * child created nothing). It belongs to the mapping: a #SHMAP_CREATE_OPEN that opens a
 * segment this process created and still maps read-write shares that mapping, and says 1.
 * @return 1 or 0 (0 also for NULL).
 */
SHMAP_EXTERN int shmap_created(const shmap_seg *seg);

/** @brief Whether @p seg was opened read-write. */
SHMAP_EXTERN int shmap_writable(const shmap_seg *seg);

/**
 * @brief Describe an open segment: its header as it reads now, and whether its name still
 * leads to it (shmap_info::deleted, one system call).
 * @return 0, or #SHMAP_EINVAL for a NULL argument.
 */
SHMAP_EXTERN int shmap_info_get(const shmap_seg *seg, shmap_info *out);

/**
 * @brief Describe an open segment as it was when this handle was opened or created,
 * without reading the segment.
 *
 * The fields that never change are those of shmap_info_get(); generation and published_ns
 * are those of the open or create that made @p seg (for a handle from shmap_dup(), of the
 * one it copies), and nkeywords is not counted (0). An open that maps the segment keeps
 * the header it checked; one that shares a mapping this process had already (an open
 * with the same access) reads the two then. Nothing of the segment is touched here, so
 * no page of it is faulted in: for bindings that describe every handle they wrap, and for
 * a reader that takes "the generation when I attached" as its start.
 * @return 0, or #SHMAP_EINVAL for a NULL argument.
 */
SHMAP_EXTERN int shmap_info_at_open(const shmap_seg *seg, shmap_info *out);

/**
 * @brief Describe a segment by name without keeping it mapped.
 *
 * A System V segment deleted while processes still attach it is described, with
 * shmap_info::deleted set, as shmap_list() describes it; shmap_open() refuses it.
 * @return as shmap_open() with #SHMAP_RDONLY and #SHMAP_DELETED.
 */
SHMAP_EXTERN int shmap_stat(const char *name, shmap_info *out);

/**
 * @brief The OS handle behind a segment (IDL's GET_OS_HANDLE): the POSIX name
 * ("/frames"), the System V id, or the file's path.
 * @return 0, -ERANGE if @p buf is too small (#SHMAP_NAME_MAX is enough for POSIX), or
 *         #SHMAP_EINVAL for a NULL argument.
 */
SHMAP_EXTERN int shmap_os_handle(const shmap_seg *seg, char *buf, size_t size);

/** @} */

/* ------------------------------------------------------------------------------------ */
/** @name Change notification and streams of frames
 *
 * A writer marks each new version of the data with shmap_publish(), which bumps the
 * segment's generation counter and wakes every waiting process at once (a futex on Linux).
 * Readers keep the generation they last saw and wait for a newer one with shmap_wait():
 * any number of readers, nothing to register, and read-only mappings can wait too.
 *
 * **Consistent reads.** A writer that brackets its writes with shmap_write_begin() and
 * shmap_publish() lets readers copy a frame that is never torn: shmap_read_frame() copies,
 * then checks the write sequence (a seqlock) and copies again if a write touched the frame
 * meanwhile. Readers never write to the segment and never block the writer; the cost is a
 * copy of the frame. A writer that does not call shmap_write_begin() still notifies, but
 * readers cannot then tell a torn frame.
 *
 * **Rings.** A segment created with #SHMAP_CREATE_RING is a ring of frames: its first
 * dimension is the number of frames N, and frame number g (counting from 0) lives at index
 * g % N. The writer of frame g (the current generation) gets its address from
 * shmap_write_begin(); a reader that falls behind by more than N - 1 frames is told how
 * many it missed. A plain segment is a ring of one frame: the whole array.
 * @{ */

/** @brief The generation counter: how many frames were published (one a publish; a frame
 *  whose writer died in the middle of it counts too, as lost, when the next write ends). */
SHMAP_EXTERN uint64_t shmap_generation(const shmap_seg *seg);

/**
 * @brief Begin writing the next frame: mark a write in progress (readers of the frame it
 * overwrites will retry) and tell where the frame goes.
 *
 * A write left in progress by a process that died is taken over. In a plain segment readers
 * may have been given that frame torn, so the write takes the next frame number: the
 * abandoned frame counts as published and lost, and the publish moves the generation two on
 * (more when several writers died in turn: shmap_read_frame()). A dead writer in another
 * pid namespace cannot be told from a live one: it counts as dead here. A frame given up
 * (shmap_write_abort()) and written again keeps the number its write took.
 * @param[out] frame where the frame goes: the data for a plain segment, index generation % N
 *             of the first dimension for a ring (may be NULL).
 * @return 0, #SHMAP_EREADONLY, or -EALREADY if a write is already in progress by this
 *         process (one writer at a time: take the exclusive lock if several may write);
 *         #SHMAP_EINVAL for a NULL @p seg; #SHMAP_ERAW.
 */
SHMAP_EXTERN int shmap_write_begin(shmap_seg *seg, void **frame);

/**
 * @brief Give up the frame this process began with shmap_write_begin(), without publishing
 * it: for a writer that fails in the middle of a frame (a camera error, an exception) and
 * would otherwise have to publish a half-written frame.
 *
 * Nothing is undone and the generation does not change: the frame stays half-written, and
 * readers wait for it as for a frame being written (shmap_write_state() says
 * #SHMAP_WRITE_ABORTED), until the next shmap_write_begin(), by this process or another,
 * takes the write over and publishes the frame, which readers then get whole. Should this
 * process die first, readers are told as of any writer that died in the middle of a frame.
 * @return 0; #SHMAP_EINVAL when this process has no write in progress (none begun, or it
 *         was published or aborted already) or for a NULL @p seg; #SHMAP_EREADONLY;
 *         #SHMAP_ERAW.
 */
SHMAP_EXTERN int shmap_write_abort(shmap_seg *seg);

/**
 * @brief Mark a new version of the data: end the write in progress if any, bump the
 * generation and wake every waiter.
 *
 * The generation moves one on, or two (or more) for a write that took over the frame of a
 * plain segment whose writer died in the middle of it (shmap_write_begin()); so does a
 * publish without shmap_write_begin() that ends such a frame.
 * @return 0, #SHMAP_EREADONLY, #SHMAP_EINVAL for a NULL @p seg, or #SHMAP_ERAW.
 */
SHMAP_EXTERN int shmap_publish(shmap_seg *seg);

/**
 * @brief Wait until the generation passes @p *seen.
 *
 * @param[in,out] seen the generation the caller last saw; set to the current one on
 *                success (so `new - old` frames were published meanwhile, frames lost to a
 *                writer that died in them included).
 * @param[in] timeout_s seconds to wait at most; 0 only checks; a negative value waits
 *                without end.
 * @return 0; -EAGAIN (timeout 0 and nothing new); -ETIMEDOUT; -EINTR (a signal arrived:
 *         call again to go on waiting); #SHMAP_EREMOVED (the segment was deleted, or its
 *         name now holds another object: nobody will publish here again); #SHMAP_EINVAL (a
 *         NULL argument, a timeout that is not a number); #SHMAP_ERAW; or the code a wait
 *         check ended the wait with (shmap_set_wait_check()).
 */
SHMAP_EXTERN int shmap_wait(shmap_seg *seg, uint64_t *seen, double timeout_s);

/** @brief Bytes in one frame: the data size, divided by the ring length for a ring. */
SHMAP_EXTERN size_t shmap_frame_size(const shmap_seg *seg);

/** @brief Frames in the ring: the first dimension for a ring, 1 for a plain segment. */
SHMAP_EXTERN uint64_t shmap_ring_length(const shmap_seg *seg);

/**
 * @brief Wait for a frame newer than @p *seen and copy it, never torn.
 *
 * Copies the oldest frame after @p *seen that the ring still holds (for a plain segment,
 * the latest), waiting as shmap_wait() does if there is none yet. If a write touches the
 * frame while it is copied, the copy is retried with the newest whole frame (the oldest is
 * the next one the writer overwrites), within the timeout: against a writer that overwrites
 * every copy, a timed call ends with -ETIMEDOUT at its timeout and a try with -EAGAIN after
 * four copies, and the wait check (shmap_set_wait_check()) is asked between copies. A try
 * on a segment whose name is gone returns #SHMAP_EREMOVED, as a wait does.
 *
 * A writer found in the middle of the only frame there is (a plain segment) is waited for
 * until it publishes (one that aborted the frame, until it writes it again and publishes).
 * If it has died, the call returns the copy it made with
 * #SHMAP_EOWNERDEAD: after a moment (10 ms) of waiting, or at once when the call is about
 * to give up (a try with @p timeout_s 0, or the end of the timeout), so a try and a wait
 * give the same answer about a dead writer. Checking the writer reads /proc. Before the
 * first publish, frame 0 is that frame for a reader that has had none (@p *seen 0). The next
 * writer, which takes the frame over (shmap_write_begin()), publishes it as a new frame, the
 * one left torn counting as lost (the generation moves two on, or more when that writer dies
 * too, and so on), so a reader given the torn
 * copy gets it whole and is not left on the torn one. A ring's reader never copies a frame
 * being written: it waits for it, whatever became of its writer. A writer in another pid
 * namespace cannot be judged: it counts as alive.
 * @param[in,out] seen frames the caller has had; on success, the number of the copied
 *                frame plus one.
 * @param[out] dst shmap_frame_size() bytes.
 * @param[in] timeout_s as for shmap_wait().
 * @param[out] missed frames skipped, because the ring no longer held them, a copy tore and
 *             the newest frame was taken instead, or they were lost (a plain segment's frame
 *             whose writer died in it, written again as the next) (may be NULL).
 * @return as shmap_wait(), or #SHMAP_EOWNERDEAD when the writer died in the middle of the
 *         only frame there is (the copy in @p dst may then be torn; @p *seen counts it had).
 *         -EAGAIN and -ETIMEDOUT also come when a live writer is in the middle of the only
 *         frame; shmap_write_state() says who.
 */
SHMAP_EXTERN int shmap_read_frame(shmap_seg *seg, uint64_t *seen, void *dst, double timeout_s,
                                  uint64_t *missed);

/** @brief What shmap_write_state() finds. */
typedef enum shmap_write_state_kind {
    SHMAP_WRITE_NONE = 0,        /**< no frame is being written */
    SHMAP_WRITE_IN_PROGRESS = 1, /**< a running process is writing a frame */
    SHMAP_WRITE_ABANDONED = 2,   /**< the process writing a frame died in the middle of it:
                                      the frame stays half-written until a writer takes over */
    SHMAP_WRITE_ABORTED = 3      /**< the process writing a frame, alive, gave it up
                                      (shmap_write_abort()): half-written until it, or another
                                      writer, writes it again */
} shmap_write_state_kind;

/**
 * @brief Say whether a frame is being written (shmap_write_begin() without its publish yet),
 * and by whom: for a reader that got no whole frame, or a torn one, to tell its user why.
 *
 * Works through a read-only handle and writes nothing. The writer is judged alive or dead
 * as shmap_read_frame() judges it (pid and start time, read from /proc). A snapshot: the
 * write may end, or another begin, as soon as the call returns.
 * @param[out] writer the process that began the write in progress, or 0 when there is none
 *             (may be NULL).
 * @return a #shmap_write_state_kind (>= 0); #SHMAP_EINVAL; #SHMAP_ERAW.
 */
SHMAP_EXTERN int shmap_write_state(const shmap_seg *seg, pid_t *writer);

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
 * handle must not be locked or unlocked from two threads at once (both locks may succeed,
 * and a shared hold then stays behind until the mapping's last reference goes). Two handles
 * of one process exclude each other like two processes do, so taking the exclusive lock
 * while another handle of the same process holds a shared one waits for it (until the
 * timeout: there is no upgrade).
 *
 * **Fork.** A child does not own its parent's locks: for it an inherited handle holds
 * nothing (shmap_unlock() gives #SHMAP_EINVAL) and may be locked afresh; the parent's holds
 * stay the parent's. The child gets its own attach slot when it first opens read-write or
 * locks. A lock held (or a frame begun) across execve() stays held until the process
 * ends: the pid and start time live on, and the new program cannot release it.
 *
 * **Fairness.** Writers are preferred: a writer waiting for the lock blocks new readers
 * while the readers inside drain, so a stream of readers cannot starve it. Among waiters
 * there is no queue: whoever runs first after a release wins.
 *
 * **Crash robustness.** A waiter that has waited 10 ms checks that the holders it waits
 * for are alive (pid, start time, and not a zombie); a try (timeout 0) that finds the lock
 * busy checks them before it says so, at most once per 10 ms per handle's mapping (the
 * check reads /proc for each holder). A dead reader's holds are dropped and
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
 * @param[in] timeout_s seconds to wait: negative waits for ever, 0 only tries (a busy try
 *            first checks that the holders are alive: see Crash robustness above).
 * @return 0 with the lock held; #SHMAP_EOWNERDEAD with the exclusive lock held, when the
 *         previous writer died holding it (the detail names its pid; the data may be
 *         half-written); -EBUSY (a try that would wait); -ETIMEDOUT; #SHMAP_EREADONLY
 *         (a read-only handle whose user may not write the segment); #SHMAP_EREMOVED (a
 *         read-only handle whose segment was deleted or replaced since: it takes the lock
 *         through the name);
 *         -EDEADLK (the handle already holds a lock); -EUSERS (the attach table is full);
 *         #SHMAP_EINVAL; #SHMAP_ERAW; or the code a wait check ended the wait with
 *         (shmap_set_wait_check()).
 */
SHMAP_EXTERN int shmap_lock(shmap_seg *seg, unsigned int flags, double timeout_s);

/**
 * @brief Release the lock held through a handle.
 * @return 0; #SHMAP_EINVAL if this handle holds no lock in this process; #SHMAP_ERAW.
 */
SHMAP_EXTERN int shmap_unlock(shmap_seg *seg);

/**
 * @brief Release an exclusive lock taken with #SHMAP_EOWNERDEAD without vouching for the
 *        data: the next process to take the exclusive lock gets #SHMAP_EOWNERDEAD too,
 *        naming the same dead writer.
 *
 * For a holder that cannot repair what the dead writer left, or a caller that refuses the
 * lock on hearing of it (Python, when its warning is made an error): shmap_unlock() and
 * shmap_close() say that the data is whole again.
 * @return 0; #SHMAP_EINVAL if this handle holds no lock in this process, or did not take
 *         it with #SHMAP_EOWNERDEAD; #SHMAP_ERAW.
 */
SHMAP_EXTERN int shmap_unlock_inconsistent(shmap_seg *seg);

/**
 * @brief Release an exclusive lock as if process @p pid had died holding it: the next
 *        process to take the exclusive lock gets #SHMAP_EOWNERDEAD naming @p pid.
 *
 * For a holder that lets another process write under its lock and sees that process die
 * before it finished (killed by a signal): `shmap lock --write -- COMMAND` does this when
 * COMMAND is killed. shmap_lock_info() reports @p pid as @c dead_pid.
 * @return 0; #SHMAP_EINVAL if this handle holds no exclusive lock in this process, or
 *         @p pid is not positive; #SHMAP_ERAW.
 */
SHMAP_EXTERN int shmap_unlock_died(shmap_seg *seg, pid_t pid);

/** @brief One process in a segment's attach table, as shmap_attached() reports it. */
typedef struct shmap_attacher {
    pid_t pid;
    uint64_t start;     /**< process start time, clock ticks since boot (0 if unknown) */
    unsigned int shared;/**< shared holds it has */
    int writer;         /**< it holds (or is taking) the exclusive lock */
    int alive;          /**< it is still running (same pid and start time) */
    int writable;       /**< it opened read-write (0: a read-only handle that locks) */
    int other_pidns;    /**< it runs in another pid namespace (a container sharing the
                             segment): its pid means nothing here, so it cannot be checked
                             and counts as alive (@p alive is 1) */
} shmap_attacher;

/**
 * @brief List the processes attached to a segment: read-write openers and lockers.
 *
 * Dead processes are listed (alive = 0) until a waiter or a new attacher clears them.
 * Works through a read-only handle.
 * @param[out] out array of @p cap entries (may be NULL when @p cap is 0).
 * @return the number of entries (slots: a process has one for each way it maps the
 *         segment) in the table (may exceed @p cap), #SHMAP_EINVAL, or
 *         #SHMAP_ERAW.
 */
SHMAP_EXTERN int shmap_attached(const shmap_seg *seg, shmap_attacher *out, size_t cap);

/**
 * @brief List the attached processes into a new array, in one read of the table.
 * @param[out] out the array, to release with free(); NULL when none are attached.
 * @return the number of entries in @p *out; #SHMAP_EINVAL, #SHMAP_ERAW, or -ENOMEM.
 */
SHMAP_EXTERN int shmap_attached_alloc(const shmap_seg *seg, shmap_attacher **out);

/** @brief A process that maps a segment without being in its attach table, as
 * shmap_mapped_by() finds it. */
typedef struct shmap_mapper {
    pid_t pid;
    uint64_t start;     /**< process start time, clock ticks since boot */
    int writable;       /**< one of its mappings is shared and writable */
} shmap_mapper;

/**
 * @brief Find the other processes that map a segment and are not in its attach table.
 *
 * The attach table lists read-write openers and the read-only handles that took a lock; a
 * read-only open that never locks writes nothing (so a plain attach stays as cheap as the
 * bare system calls) and is found here instead, by reading /proc/PID/maps of every process:
 * a system call or more per process, so milliseconds on a busy host; `shmap info` calls it,
 * `shmap ls` does not. This user can read the maps of its own processes (root: of all), so
 * other users' processes are not seen: @p unseen counts those that could have opened the
 * object. The calling process is never listed; processes in the table (same pid and start
 * time) are not either. For a raw handle (no table), every other process that maps the
 * object. Copy-on-write (private) mappings count, as read-only ones.
 * @param[out] out a new array, to release with free(); NULL when the count is 0.
 * @param[out] unseen (may be NULL) processes whose maps this user cannot read and that
 *             could have opened the object, by their credentials; -1 when /proc hides other
 *             users' processes altogether (mounted with hidepid).
 * @return the number of entries in @p *out; #SHMAP_EINVAL, -ENOMEM, or another negative
 *         errno when /proc cannot be read.
 */
SHMAP_EXTERN int shmap_mapped_by(const shmap_seg *seg, shmap_mapper **out, int *unseen);

/** @brief The lock state of a segment, as shmap_lock_info() reports it. */
typedef struct shmap_lockinfo {
    pid_t writer;        /**< process holding (or taking) the exclusive lock, or 0 */
    int writer_alive;    /**< whether that process is running */
    unsigned int shared; /**< shared holds, over all processes */
    int waiters;         /**< someone waited for the lock since its last release, or a
                              writer waits for the shared holds to end */
    int owner_died;      /**< a writer died holding it and no exclusive locker has been told
                              yet: the next one is (#SHMAP_EOWNERDEAD), which clears this */
    pid_t dead_pid;      /**< the last writer found dead holding the lock, or 0 if none ever
                              was; kept after the next exclusive locker is told (owner_died
                              is then 0), until another writer dies holding it */
    int writer_waiting;  /**< @p writer has claimed the lock but still waits for the shared
                              holds to end: it holds nothing yet, and new readers queue */
    int writer_other_pidns; /**< @p writer runs in another pid namespace: it cannot be
                                 checked, and counts as alive (see shmap_attacher) */
} shmap_lockinfo;

/** @brief Read a segment's lock state (a snapshot). Works through a read-only handle.
 *  @return 0, #SHMAP_EINVAL or #SHMAP_ERAW. */
SHMAP_EXTERN int shmap_lock_info(const shmap_seg *seg, shmap_lockinfo *out);

/**
 * @brief Say who holds a segment's lock, for a message after a lock or delete timed out:
 * "the exclusive lock is held by pid 12" (or "is being taken (waiting for readers) by pid
 * 12"), "shared holds by pids 13, 14 (this process)" ("shared hold by pid 13" for one),
 * both joined by "; ", or "a lock holder that has just let go" when nobody does now. A
 * dead writer is marked "(dead)"; dead readers are left out. Each process is named once,
 * however many of its handles hold the lock.
 * @param[out] buf the text, always NUL-terminated (cut to @p size).
 * @return 0; #SHMAP_EINVAL; #SHMAP_ERAW.
 */
SHMAP_EXTERN int shmap_lock_holders(const shmap_seg *seg, char *buf, size_t size);

/** @brief A wait check: 0 to go on waiting, or the negative code the wait should return. */
typedef int (*shmap_wait_check_fn)(void *arg);

/**
 * @brief Have the calling thread's long waits ask @p check whether to go on.
 *
 * While this thread sleeps in shmap_lock(), shmap_delete(), shmap_wait(),
 * shmap_read_frame() or an open with #SHMAP_HOLD, the library calls `check(arg)` each time
 * the sleep ends: on a wake, on a signal, and at least every 10 ms in a lock wait (50 ms in
 * a wait for a publish). 0 goes on waiting, keeping the wait's place: a writer waiting for
 * readers to drain keeps new readers out, so splitting a wait into short calls is not
 * needed and would lose that. A negative errno code, such as -EINTR or -ECANCELED, ends the
 * wait: the call undoes what it began (a writer's claim on the lock) and returns that code;
 * any other non-zero value is returned as -ECANCELED. With a check set, a signal during
 * shmap_wait() or shmap_read_frame() calls the check instead of returning -EINTR.
 *
 * This is how a program that handles signals outside the handler (an interpreter that runs
 * them between statements, an event loop) keeps a blocking call interruptible, and how a
 * call is abandoned when another thread closes what it waits on. The check runs on the
 * waiting thread while the wait keeps its place: it may call the library, but not use the
 * handle being waited on, and a lock it takes on the same segment (through any handle)
 * waits for a wait that cannot go on until the check returns.
 * @param[in] check NULL removes the check.
 * @param[in] arg passed to @p check.
 */
SHMAP_EXTERN void shmap_set_wait_check(shmap_wait_check_fn check, void *arg);

/** @} */

/* ------------------------------------------------------------------------------------ */
/** @name Crash leftovers
 * shmap_gc() cleans what dead processes left behind. It never removes a persistent
 * segment, nor a transient one that any live process is known to use.
 * @{ */

/** @brief Flags of shmap_gc(). */
enum shmap_gc_flags {
    SHMAP_GC_DRY_RUN = 1u << 0 /**< report what would be done, change nothing */
};

/** @brief What shmap_gc() did (or, in a dry run, would do). */
typedef enum shmap_gc_action {
    /** Removed a transient segment whose creator is dead and that no live process uses. */
    SHMAP_GC_REMOVED_TRANSIENT = 1,
    /** Cleared the attach-table slots of dead processes in a segment (and their holds). */
    SHMAP_GC_CLEARED_SLOTS = 2,
    /** Removed what a creation whose process died left: a hidden `.shmap-tmp-PID-N-NAME`
     *  object, or a System V segment whose header still says it is being created. */
    SHMAP_GC_REMOVED_TMP = 3
} shmap_gc_action;

/** @brief One action of shmap_gc(), as its callback sees it. */
typedef struct shmap_gc_event {
    shmap_gc_action action;
    char name[SHMAP_NAME_MAX]; /**< the segment, or the hidden object (".shmap-tmp-PID-N-NAME") */
    pid_t pid;                 /**< the dead creator (REMOVED_TRANSIENT, REMOVED_TMP) */
    unsigned int slots;        /**< slots cleared (CLEARED_SLOTS) */
    uint64_t size;             /**< size of the object in bytes */
    int dry_run;               /**< nothing was changed: this is what would be done */
    int status;                /**< 0 done; else why it was not done. A kept object, which
                                    is no failure, has the detail "NAME: kept: ..." in
                                    shmap_last_error() during the call, saying why: -EBUSY
                                    for a transient segment that processes whose mappings
                                    cannot be read may map (naming one); -EPERM or -EACCES
                                    for what this user may not remove (another user's, in a
                                    sticky directory such as /dev/shm; a System V segment
                                    it neither owns nor created), saying who may; -ENOMEM
                                    (CLEARED_SLOTS) for a System V segment larger than this
                                    process's address-space limit, which it cannot attach
                                    to look at. Any other
                                    event with a negative status is a removal that failed
                                    (the same codes can be a failure's). */
} shmap_gc_event;

/**
 * @brief Called by shmap_gc() once per action. @return 0 to go on; anything else stops the
 * walk, and shmap_gc() returns that value.
 */
typedef int (*shmap_gc_cb)(const shmap_gc_event *ev, void *ctx);

/**
 * @brief Clean up after dead processes (`shmap gc`).
 *
 * Looks at every object of the POSIX store (/dev/shm) and every System V segment whose
 * name starts with @p prefix:
 *
 * - A **transient** segment (#SHMAP_CREATE_TRANSIENT, or one its creator destroys when it
 *   unmaps it: created without #SHMAP_CREATE_KEEP) is removed when its creator is dead
 *   (pid and start time: a reused pid is not taken for the creator), no live process has
 *   a slot in its attach table, and no process maps it: for a POSIX object, the kernel
 *   grants its owner (or root) a write lease, which it refuses while any other process
 *   has the object open or mapped; where it cannot be asked, no process maps it as /proc
 *   shows, and one whose mappings this user cannot read but that could open the object
 *   keeps it (reported with status -EBUSY). For a System V segment, the kernel's attach
 *   count is 0 (then IPC_RMID). A persistent segment is never removed. The lease is held
 *   for a moment only; its break signal is SIGURG, which is ignored unless the caller
 *   handles it.
 * - Any other described segment this user may write gets the attach slots of dead
 *   processes cleared, their locks released as a lock waiter would.
 * - A hidden object `.shmap-tmp-PID-N-NAME` is a creation that never completed; it is removed
 *   when process PID is dead (checked against the start time in its header when the
 *   header was written). Such objects never appear under a segment name nor in
 *   shmap_list().
 * - What this user may not remove (another user's, in a sticky directory such as
 *   /dev/shm; anything in a directory it may not write; a System V segment it neither
 *   owns nor created) is kept, dry run or not, and reported with the refusal a removal
 *   would meet (-EPERM, -EACCES) and a detail saying who may remove it; one in use (a
 *   process is seen to map it) is not reported, as no segment in use is.
 *
 * Files are looked at only when @p prefix names them, `file:PATH` (or `file://PATH`): then
 * only the directory of PATH is, for the files whose names start with what follows the
 * last '/' of PATH (`file:/data/` takes all of /data), and their hidden leftovers there
 * (a creation or import into a file killed half-way leaves `.shmap-tmp-PID-N-NAME` beside
 * the file's name); the POSIX and System V stores are not. Events name them
 * `file:/DIR/NAME`.
 *
 * Objects that are not shmap segments are never touched. Limits: a process in another
 * pid namespace (another container sharing /dev/shm) that created a transient segment and
 * no longer maps it cannot be told from a dead one; a process that attaches between the
 * check and the removal keeps its mapping, as after shmap_delete() with
 * #SHMAP_DELETE_FORCE.
 *
 * @param[in] prefix consider only objects whose name starts with this (hidden leftovers
 *            are named ".shmap-tmp-..."; System V segments are matched by their canonical
 *            name, "sysv://0x0000abcd" or "sysv://id=N"; "file:PATH" for files, as
 *            above), or NULL for all but files.
 * @param[in] flags 0 or #SHMAP_GC_DRY_RUN.
 * @param[in] cb called for each action done, failed, or (dry run) found; may be NULL.
 * @param[in] ctx passed to @p cb.
 * @return 0; the callback's non-zero value if it stopped the walk; #SHMAP_EINVAL; or a
 *         negative code if the store cannot be listed. Failures on single objects are
 *         reported through the callback (shmap_gc_event::status), or pass them by (one
 *         this user may not open), not here. Running out of descriptors or memory is no
 *         failure of an object, and every object after it would fail alike: the gc stops
 *         there and returns -EMFILE, -ENFILE or -ENOMEM, with a detail that names the
 *         cause, the object and the limit ("too many open files: cannot open
 *         /dev/shm/NAME (this process's limit, ulimit -n, is 1024)"; a System V segment
 *         is attached whole, so one that does not fit in the address space left fails it
 *         with -ENOMEM; one larger than the limit, ulimit -v, itself is kept, with an
 *         event). What was done before stays done.
 */
SHMAP_EXTERN int shmap_gc(const char *prefix, unsigned int flags, shmap_gc_cb cb, void *ctx);

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
 *
 * Writers of keywords take turns. One that died in the middle of a change is found (by pid
 * and start time) and taken over; one alive that has not finished within a second (stopped
 * by a debugger or SIGSTOP) makes this call fail with -EBUSY rather than wait without end.
 * Readers of keywords wait for no one longer than that either.
 * @return 0; #SHMAP_EKEYWORD (bad name, type or too long a string); #SHMAP_EKEYFULL;
 *         #SHMAP_EREADONLY; #SHMAP_EINVAL (a NULL argument); #SHMAP_ERAW; -EBUSY (another
 *         process's change did not end within a second).
 */
SHMAP_EXTERN int shmap_keyword_set(shmap_seg *seg, const shmap_keyword *kw);

/**
 * @brief Read a keyword by name.
 * @return 0; #SHMAP_ENOKEY; #SHMAP_EKEYWORD (a bad name); #SHMAP_EINVAL (a NULL argument);
 *         #SHMAP_ERAW; -EBUSY (a keyword change by another process has not finished
 *         within a second); -ENOMEM.
 */
SHMAP_EXTERN int shmap_keyword_get(const shmap_seg *seg, const char *name, shmap_keyword *out);

/**
 * @brief Delete a keyword.
 * @return 0; #SHMAP_ENOKEY; #SHMAP_EREADONLY; #SHMAP_EKEYWORD (a bad name); #SHMAP_EINVAL
 *         (a NULL @p seg); #SHMAP_ERAW; -EBUSY (as for shmap_keyword_set()).
 */
SHMAP_EXTERN int shmap_keyword_delete(shmap_seg *seg, const char *name);

/** @brief Flags of shmap_keyword_set_many() and shmap_keyword_delete_many(). */
enum shmap_keyword_flags {
    SHMAP_KEYWORD_CHECK_ONLY = 1u << 0, /**< check everything, change nothing */
    SHMAP_KEYWORD_MISSING_OK = 1u << 1  /**< delete_many(): a name that is absent is no error */
};

/**
 * @brief Set @p n keywords at once: all of them or none.
 *
 * Every keyword is checked, and the free slots counted against the new names, before the
 * first change; readers then see the keywords change together, never some of them (a
 * process killed in the middle of the change, as by SIGKILL, may leave part of it made,
 * as a kill in the middle of a data write does). Of a name given twice, the last (value
 * and keep_comment) counts, listed where the first was given. Where @p keep_comment
 * (NULL, or @p n flags) is nonzero for a keyword that exists, it keeps the comment it has
 * and the one given is not used. With #SHMAP_KEYWORD_CHECK_ONLY nothing is changed (a
 * private mapping's keywords are not made its own either): the return says whether it
 * would be.
 * @return 0 (also for @p n 0); #SHMAP_EKEYWORD (the first bad keyword, named);
 *         #SHMAP_EKEYFULL (naming the new keywords, when they do not all fit);
 *         #SHMAP_EREADONLY; #SHMAP_EINVAL (a NULL @p seg, a NULL @p kw with @p n > 0, or
 *         an unknown flag); #SHMAP_ERAW; -EBUSY (as for shmap_keyword_set()); -ENOMEM.
 */
SHMAP_EXTERN int shmap_keyword_set_many(shmap_seg *seg, const shmap_keyword *kw, size_t n,
                                        const unsigned char *keep_comment, unsigned int flags);

/**
 * @brief Delete @p n keywords at once: all of them or none.
 *
 * Readers see them go together (but for a kill in the middle, as for
 * shmap_keyword_set_many()). Without #SHMAP_KEYWORD_MISSING_OK, one that is absent fails
 * the call and deletes nothing; with it, the ones there are deleted. A name given twice
 * counts once. #SHMAP_KEYWORD_CHECK_ONLY changes nothing.
 * @return the number deleted (or that would be), or #SHMAP_ENOKEY (naming the absent
 *         keywords); #SHMAP_EKEYWORD (a bad name); #SHMAP_EREADONLY; #SHMAP_EINVAL;
 *         #SHMAP_ERAW; -EBUSY; -ENOMEM.
 */
SHMAP_EXTERN int shmap_keyword_delete_many(shmap_seg *seg, const char *const *names, size_t n,
                                           unsigned int flags);

/**
 * @brief Read all keywords, in the order they were first set.
 * @param[out] out array of @p cap entries (may be NULL when @p cap is 0).
 * @return the number of keywords (which may exceed @p cap: only @p cap are written),
 *         or a negative code.
 */
SHMAP_EXTERN int shmap_keyword_list(const shmap_seg *seg, shmap_keyword *out, size_t cap);

/**
 * @brief Read all keywords into a new array, in the order they were first set.
 *
 * One snapshot: no keyword set meanwhile is counted but not copied, so there is no need to
 * count, allocate and retry around shmap_keyword_list().
 * @param[out] out the array, to release with free(); NULL when there are no keywords.
 * @return the number of keywords in @p *out, or a negative code (-ENOMEM among them).
 */
SHMAP_EXTERN int shmap_keyword_list_alloc(const shmap_seg *seg, shmap_keyword **out);

/**
 * @brief Parse `KEY=VALUE[/COMMENT]` as the command line gives it.
 *
 * The value's type follows its form: `T`/`F`/`true`/`false` are bool, an integer (decimal,
 * or hexadecimal after `0x`) is INT, another number is FLOAT, a quoted or any other text is
 * STRING; inside quotes, the quote doubled stands for itself (`'it''s'`, as FITS writes it
 * and `shmap keyword` prints it). A comment follows " / ". An integer beyond 64 bits is
 * refused, not rounded.
 * @return 0, #SHMAP_EKEYWORD, or #SHMAP_EINVAL for a NULL argument.
 */
SHMAP_EXTERN int shmap_keyword_parse(const char *text, shmap_keyword *out);

/** @} */

/* ------------------------------------------------------------------------------------ */
/** @name Listing
 * @{ */

/** @brief Flags of shmap_list(). */
enum shmap_list_flags {
    SHMAP_LIST_ALL = 1u << 0,     /**< also list objects that are not shmap segments, and
                                       System V segments deleted while still attached */
    SHMAP_LIST_KEYWORDS = 1u << 1 /**< also give each segment's keywords (shmap_entry) */
};

/**
 * @brief One object found by shmap_list().
 *
 * The members after @p info were appended in 0.x, the keywords in 0.3, @p error in 0.4 (the
 * library is not at 1.0 yet: programs built against an older, shorter entry must be
 * rebuilt; the soname, libshmap.so.0.4, keeps them from loading this one). They are read
 * with the same reads as @p info, and are zero unless @p status is 0, but for @p error,
 * which is set only when it is not.
 */
typedef struct shmap_entry {
    int status;       /**< 0 for a valid described segment, else why not (a negative code) */
    shmap_info info;  /**< name, os_handle, store, size, mode, uid, gid and deleted
                           always; the rest only when status is 0 */
    unsigned int attached;      /**< processes in the attach table that are alive, each
                                     counted once (one process has an entry for each way it
                                     maps the segment: read-write, read-only and locking,
                                     private) */
    unsigned int nattachers;    /**< entries in @p attachers, dead processes included */
    shmap_attacher *attachers;  /**< the attach table as shmap_attached() reports it, or NULL
                                     when it is empty; it lives in the list's memory, valid
                                     until shmap_list_free() */
    shmap_lockinfo lock;        /**< the lock state as shmap_lock_info() reports it */
    unsigned int nkeywords;     /**< entries in @p keywords: info.nkeywords when they were
                                     read, else 0 */
    int keywords_status;        /**< with #SHMAP_LIST_KEYWORDS: 0 when @p keywords were read,
                                     else why not (-EBUSY: a writer did not finish a change
                                     within a second); 0 without the flag */
    shmap_keyword *keywords;    /**< with #SHMAP_LIST_KEYWORDS, the keywords as
                                     shmap_keyword_list() reports them (in the order they
                                     were first set), or NULL when there are none; it lives
                                     in the list's memory, valid until shmap_list_free() */
    char error[512];            /**< when @p status is not 0, why, in the words of the detail
                                     message that opening the object would leave (see
                                     shmap_last_error()) without its name in front: "segment
                                     is still being created by pid 4120" and "segment was
                                     never completed: its creator (pid 4120) died while
                                     creating it..." where shmap_strerror() of their one code
                                     says neither; at least shmap_strerror(status); "" when
                                     @p status is 0 */
} shmap_entry;

/**
 * @brief List the segments on the system, sorted by name.
 *
 * Headers are read with one pread each, without mapping, lock and attach area included:
 * each entry tells the processes attached and the lock state as shmap_attached() and
 * shmap_lock_info() would, judged from a copy (a snapshot: the listing never writes a
 * segment, so dead processes' slots are reported, not cleared). With #SHMAP_LIST_KEYWORDS
 * the keyword area, which the listing reads anyway to count keywords, is read as a
 * consistent snapshot and decoded as shmap_keyword_list() does (slots that are not
 * well-formed keywords are skipped alike), so no segment has to be opened for them.
 * Objects that are not valid segments (foreign objects, damaged headers, unreadable ones)
 * are left out unless #SHMAP_LIST_ALL is given; segments being created are never listed.
 * A System V segment deleted while processes still attach it, which the system keeps until
 * the last detaches, is listed only with #SHMAP_LIST_ALL, under `sysv://id=N` and with
 * shmap_info::deleted set (a deleted POSIX object is gone from /dev/shm: no listing sees
 * it).
 * An object this user may not open, or that went away meanwhile, is that object's affair
 * (an entry with its @p status, or left out); running out of descriptors or memory is this
 * process's, and every object after it would fail alike, so the listing fails whole, with
 * no partial list (see @return). A System V segment is attached whole to be read: one
 * larger than this process's address-space limit (ulimit -v) itself is its own affair, an
 * entry with -ENOMEM, "cannot attach its N bytes to read it (past this process's address
 * space limit, ulimit -v: ...)".
 * @param[out] out a new array, to be freed with shmap_list_free().
 * @param[out] count its length.
 * @return 0; a negative code if the store cannot be listed at all; -EMFILE, -ENFILE or
 *         -ENOMEM when this process runs out of descriptors or memory while listing, with
 *         a detail that names the cause, the object and the limit ("too many open files:
 *         cannot open /dev/shm/NAME to list it (this process's limit, ulimit -n, is
 *         1024)"; memory that runs out attaching a System V segment, which is attached
 *         whole to be read, gives -ENOMEM); or #SHMAP_EINVAL for a
 *         NULL argument or unknown flags. *out is NULL and *count 0 on failure.
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
 * @brief List this process's mappings (IDL's HELP, /SHARED_MEMORY). Without a system call:
 * each entry's shmap_info::deleted is what its mapping last learned (at its open, or at the
 * last shmap_info_get() of one of its handles).
 * @param[out] out a new array, to be freed with shmap_mappings_free().
 * @param[out] count its length.
 * @return 0, -ENOMEM, or #SHMAP_EINVAL for a NULL argument.
 */
SHMAP_EXTERN int shmap_mappings(shmap_mapping **out, size_t *count);

/** @brief Free what shmap_mappings() returned. */
SHMAP_EXTERN void shmap_mappings_free(shmap_mapping *list);

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* SHMAP_H */
