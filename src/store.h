/*
 * The backing stores behind segments: one table of operations per store, one file per store
 * in src/backend/, OS-specific pieces in src/linux/.
 *
 * Design note. segment.c and list.c know nothing of shm_open, shmget or paths: they open an
 * object (`struct shmap__obj`: a descriptor or a System V id, and what the kernel says of
 * it), read its header into a private copy, check it, and map it, all through the store's
 * operations. The stores built on a file descriptor (POSIX, file, memfd) share the
 * descriptor operations of backend/fd.c, so the POSIX attach is still shm_open, fstat,
 * pread, mmap and close, with only indirect calls added.
 */
#ifndef SHMAP_STORE_H
#define SHMAP_STORE_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "internal.h"

/* How an object is mapped. */
enum shmap__access {
    SHMAP__ACC_RDONLY = 0,  /* PROT_READ, shared */
    SHMAP__ACC_RDWR = 1,    /* PROT_READ|PROT_WRITE, shared */
    SHMAP__ACC_PRIVATE = 2  /* PROT_READ|PROT_WRITE, copy-on-write; opened read-only */
};

/*
 * The hidden name a creation runs under: ".shmap-tmp-PID-N-NAME" (with a '/' before it for
 * POSIX), NAME being at most SHMAP__TMP_NAME_KEPT bytes of the final name (the base name of
 * a file), so that `shmap gc --prefix` finds the leftovers of the names it is asked about.
 */
#define SHMAP__TMP_NAME_KEPT 200
#define SHMAP__TMP_NAME_MAX (SHMAP__TMP_NAME_KEPT + 48)
/* Write it into `buf` (SHMAP__TMP_NAME_MAX bytes): `slash` puts a '/' first (a POSIX
 * handle); `final` is the name without one; `again` after a name was found taken, which
 * moves N somewhere nobody can foresee. */
SHMAP__HIDDEN void shmap__tmp_name(char *buf, bool slash, const char *final, bool again);

/* An object open for the length of one call. */
struct shmap__obj {
    int fd;          /* descriptor stores; -1 otherwise */
    int id;          /* System V id; -1 otherwise */
    void *peek;      /* System V: a read-only attach through which the header is read */
    struct stat st;  /* st_size, st_dev/st_ino (identity), st_mode, st_uid, st_gid */
    bool deleted;    /* System V: marked for removal, kept only until its last detach */
    char hidden[SHMAP__TMP_NAME_MAX]; /* create() with SHMAP_CREATE_HIDDEN: the hidden name
                                         it left the object under (POSIX and files), for
                                         reveal() and drop() */
};

#define SHMAP__OBJ_INIT {-1, -1, NULL, {0}, false, {0}}

/* What shmap_create() asks of a store: a complete object, mapped read-write. */
struct shmap__create_req {
    const struct shmap__header *h; /* complete header (state READY) */
    const char *rec;               /* record field list, or NULL */
    size_t rec_len;
    const void *kw;                /* keyword slots to write at h->kw_offset, or NULL */
    size_t kw_len;
    uint64_t size;                 /* bytes of the object: h->total_size */
    unsigned mode;                 /* permission bits */
    unsigned flags;                /* SHMAP_CREATE_* */
};

/* A list being built by shmap_list() (list.c): one block holding room for `cap` entries,
 * `n` of them used, then room for `attcap` attachers, `natt` used, then for `kwcap`
 * keywords, `nkw` used, both in the entries' order; shmap__list_add() and
 * shmap__describe_entry() may move it. `flags` are shmap_list()'s. */
struct shmap__list {
    shmap_entry *v;
    size_t n, cap;
    size_t natt, attcap;
    size_t nkw, kwcap;
    unsigned flags;
    struct shmap__alive_cache alive;
};

/* A change of permission bits (when set_mode) and owner (shmap_chmod, shmap_chown);
 * (uid_t)-1 and (gid_t)-1 keep what the object has. */
struct shmap__perm_change {
    bool set_mode;
    unsigned mode;
    uid_t uid;
    gid_t gid;
};

struct shmap__store_ops {
    shmap_store store;
    /* The destroy policy applies (files and memfds are never removed by a close). */
    bool destroys;
    /* Open an existing object by name and say what the kernel knows of it; may complete
     * n->os_handle (a System V id). A System V segment already deleted is opened too, with
     * obj->deleted set: callers that open by name for a user refuse it (segment.c), those
     * that reach an object they already map do not. 0 or a negative code with the detail
     * set. */
    int (*open)(struct shmap__name *n, int access, struct shmap__obj *obj);
    /* Read from the object at `off`; bytes read or a negative code (no detail). */
    ssize_t (*read)(struct shmap__obj *obj, void *buf, size_t len, uint64_t off);
    /* Map `len` bytes from the page-aligned `off`; NULL with *err = -errno on failure.
     * System V maps the whole object whatever `off` and `len` are (callers use offset 0). */
    void *(*map)(struct shmap__obj *obj, size_t len, uint64_t off, int access, bool populate,
                 int *err);
    void (*unmap)(void *base, size_t len);
    /* Mappings of this object must start and end on multiples of this (a file on
     * hugetlbfs: its huge page size); 0, or NULL, for the page size. */
    size_t (*granule)(struct shmap__obj *obj);
    void (*close)(struct shmap__obj *obj);
    /* Create a complete object under its name (or none for memfd) and map it read-write:
     * *base, obj->st filled; on failure nothing is left behind. -EEXIST when the name is
     * taken and REPLACE was not asked. */
    int (*create)(struct shmap__name *n, const struct shmap__create_req *req,
                  struct shmap__obj *obj, void **base);
    /* Remove the name if it still names the object (dev, ino); 0 if it no longer does. */
    int (*destroy)(const struct shmap__name *n, dev_t dev, ino_t ino);
    /* Remove a name (shmap_unlink). */
    int (*unlink)(const struct shmap__name *n);
    /* SHMAP_CREATE_HIDDEN: give the object create() left hidden (`hidden`, mapped at `base`)
     * its name, never replacing a segment unless `replace`; NULL where there is no name
     * (memfd). drop() removes it instead, its creation given up. */
    int (*reveal)(const struct shmap__name *n, const char *hidden, void *base, bool replace);
    void (*drop)(const struct shmap__name *n, const char *hidden);
    /* Append the store's objects to a list (NULL: the store has no listing). */
    int (*list)(struct shmap__list *l, unsigned flags);
    /* Read the mode and owner of the object under a name, whatever it holds, and with `ch`
     * change them first, without following a symbolic link at the name or needing read
     * access (perm.c). `st` gets what the kernel says after: st_mode, st_uid, st_gid and
     * the identity (st_dev, st_ino) mappings are registered under. NULL: no name to use. */
    int (*perm)(const struct shmap__name *n, const struct shmap__perm_change *ch,
                struct stat *st);
};

SHMAP__HIDDEN const struct shmap__store_ops *shmap__store_ops(shmap_store store);
extern SHMAP__HIDDEN const struct shmap__store_ops shmap__posix_ops;
extern SHMAP__HIDDEN const struct shmap__store_ops shmap__sysv_ops;
extern SHMAP__HIDDEN const struct shmap__store_ops shmap__file_ops;
extern SHMAP__HIDDEN const struct shmap__store_ops shmap__memfd_ops;

/* backend/fd.c: the operations of stores built on a descriptor. */
SHMAP__HIDDEN ssize_t shmap__fd_read(struct shmap__obj *obj, void *buf, size_t len,
                                     uint64_t off);
SHMAP__HIDDEN void *shmap__fd_map(struct shmap__obj *obj, size_t len, uint64_t off, int access,
                                  bool populate, int *err);
SHMAP__HIDDEN void shmap__fd_unmap(void *base, size_t len);
/* The granule of an object behind a descriptor: its huge page size on hugetlbfs (a file
 * there, or a memfd made with MFD_HUGETLB), else 0. */
SHMAP__HIDDEN size_t shmap__fd_granule(struct shmap__obj *obj);
SHMAP__HIDDEN void shmap__fd_close(struct shmap__obj *obj);
/* Open an existing object without waiting in open() (a FIFO would wait for a writer):
 * openat with O_NONBLOCK added, -1 with errno set on failure. Callers must then refuse
 * anything but a regular file (shmap__fd_adopt). */
SHMAP__HIDDEN int shmap__fd_open_nonblock(int dirfd, const char *path, int flags);
/* fstat a descriptor just opened and keep it in obj->fd if it is a regular file; else
 * close it and fail with -EINVAL, "not a regular file" (a FIFO, a device, a directory). */
SHMAP__HIDDEN int shmap__fd_adopt(int fd, const char *who, struct shmap__obj *obj);
/* The error for open(path, flags) failing with errno `e`: "not a regular file" for a
 * directory or a socket, as shmap__fd_adopt says of what opens; else the errno's. */
SHMAP__HIDDEN int shmap__fd_open_error(int dirfd, const char *path, int flags, const char *who,
                                       int e);
/* Open a path (following symlinks: the user named it) and fstat it; a regular file only. */
SHMAP__HIDDEN int shmap__fd_open_path(const char *path, const char *who, int access,
                                      struct shmap__obj *obj);
/* -ENOSPC, saying why, when [off, off + len) of an object on tmpfs has holes (another
 * program made it without reserving its memory) that its file system has no room left to
 * fill: the first access to one would crash the process with SIGBUS. 0 otherwise, and for
 * every object that is not on a tmpfs with a size limit. */
SHMAP__HIDDEN int shmap__fd_holes_check(const struct shmap__obj *obj, uint64_t off,
                                        uint64_t len, const char *who);
/* For the message of a create that failed with errno `e` in the directory `dirfd` (or
 * `path` when dirfd is -1): " (no inode left: ...)" when ENOSPC came of the inodes, not of the
 * space; the descriptor limit reached for EMFILE and ENFILE (shmap__fd_hint()); else ""
 * (thread-local). */
SHMAP__HIDDEN const char *shmap__create_hint(int e, int dirfd, const char *path);
/* -EFBIG, said as this process's file size limit (RLIMIT_FSIZE), when `size` is past it:
 * growing a file there sends SIGXFSZ, which kills a process that does not ignore it. */
SHMAP__HIDDEN int shmap__fsize_check(uint64_t size, const char *who);
/* Reserve `size` bytes of a new descriptor (posix_fallocate), with clear errors: "not enough
 * `lacking`: N bytes needed, M available in `where`" when it does not fit, found before any
 * block is taken. A `where` that is a path is replaced by the mount point of the file
 * system the descriptor is on, when it can be found. */
SHMAP__HIDDEN int shmap__fd_reserve(int fd, uint64_t size, const char *who, const char *lacking,
                                    const char *where);
/* Fill a new, reserved descriptor: header and field list, fstat, map read-write. */
SHMAP__HIDDEN int shmap__fd_fill(struct shmap__obj *obj, const struct shmap__create_req *req,
                                 const char *who, void **base);

/* linux/perm.c: the `perm` operation for the regular file at `path` (a POSIX object's file
 * in /dev/shm, or a file): an O_PATH descriptor opened without following a symbolic link,
 * checked to be a regular file, then changed through. `what` is "segment" or "file", for
 * "no such ...". */
SHMAP__HIDDEN int shmap__path_perm(const char *path, const char *who, const char *what,
                                   const struct shmap__perm_change *ch, struct stat *st);
/*
 * linux/perm.c: may this process remove a name, as unlink(2) and shmctl(IPC_RMID) judge it?
 * 0 when it may, or when that cannot be told (a capability in a user namespace of its own),
 * else the code the kernel would give. A name is removed from a directory (`dir`) it may
 * write and search (`dir_writable`: faccessat(W_OK | X_OK, AT_EACCESS)), or -EACCES; from a
 * sticky one (/dev/shm, /tmp) only if the object (`obj`) or the directory is its file-system
 * user's, or with CAP_FOWNER, or -EPERM. A System V segment by its owner `uid`, its creator
 * `cuid`, or with CAP_SYS_ADMIN, or -EPERM. Removals refused this way are told before
 * anything waits for them (shmap_delete()) and kept, and said to be, by shmap_gc().
 */
SHMAP__HIDDEN int shmap__may_unlink(const struct stat *dir, bool dir_writable,
                                    const struct stat *obj);
SHMAP__HIDDEN int shmap__may_rmid(uid_t uid, uid_t cuid);
/* delete.c: the same for the name `n` picks, its object looked at without following a
 * symbolic link: 0, or the refusal with a detail "NAME: permission denied to DOING: ..."
 * saying who may (`doing`: "remove it", "replace it"). 0 too when it cannot be told (the
 * name or its directory cannot be looked at): the removal then says what is wrong. */
SHMAP__HIDDEN int shmap__may_remove(const struct shmap__name *n, const char *doing);
/* perm.c: who may change or remove an object, for a refusal's detail: "its owner (uid U)
 * or root", or for a System V segment whose creator `cuid` is another user "its owner (uid
 * U), its creator (uid C) or root". Into `buf` (SHMAP__WHO_MAY_MAX bytes do); returns it. */
#define SHMAP__WHO_MAY_MAX 96
SHMAP__HIDDEN const char *shmap__who_may(char *buf, size_t size, uid_t owner, bool sysv,
                                         uid_t cuid);
/* perm.c: the error for a change the kernel refused with EPERM, saying who may make it:
 * the owner or root, and for System V segments (`sysv`) their creator `cuid` too. */
SHMAP__HIDDEN int shmap__perm_denied(const char *who, const struct shmap__perm_change *ch,
                                     uid_t owner, bool sysv, uid_t cuid);

/* perm.c: refuse a mode beyond the permission bits (0 to 0777) with #SHMAP_EINVAL and a
 * detail naming `who` and the bits at fault (shmap_chmod(), shmap_create()). */
SHMAP__HIDDEN int shmap__mode_check(const char *who, unsigned mode);

/* list.c: a zeroed new entry at the end of a list, or NULL (out of memory). */
SHMAP__HIDDEN shmap_entry *shmap__list_add(struct shmap__list *l);
/* list.c: drop the last entry (an object not to be listed after all), attachers and all. */
SHMAP__HIDDEN void shmap__list_drop(struct shmap__list *l);
/* list.c: describe an open object from its header, read through the store. */
SHMAP__HIDDEN int shmap__describe(const struct shmap__store_ops *ops, struct shmap__obj *obj,
                                  shmap_info *info, const char *who);
/* list.c: the same for the last entry of a list, with its attach table and lock state, and
 * its keywords when the list's flags ask for them. The keywords may move the list: callers
 * find their entry again (l->v[l->n - 1]) after the call. Returns 0, the entry's status, or
 * a failure of this process (shmap__process_failure(), its detail said), which ends the
 * listing. */
SHMAP__HIDDEN int shmap__describe_entry(const struct shmap__store_ops *ops,
                                        struct shmap__obj *obj, struct shmap__list *l,
                                        const char *who);

/* backend/sysv_shm.c: parse what follows "sysv://" in `text`. */
SHMAP__HIDDEN int shmap__sysv_parse(const char *text, const char *rest, struct shmap__name *out);
/* backend/file.c: parse the path of "file:PATH" / "file://PATH". */
SHMAP__HIDDEN int shmap__file_parse(const char *text, const char *path, struct shmap__name *out);
/* backend/file.c: -EINVAL (detail set) when the file name is a symbolic link, which a
 * delete refuses: it would remove the link and leave the segment; else 0. */
SHMAP__HIDDEN int shmap__file_symlink(const struct shmap__name *n);

/* linux/sysv_list.c: every System V segment, as `ipcs -m` sees them. */
SHMAP__HIDDEN int shmap__sysv_list(struct shmap__list *l, unsigned flags);
/* Call fn for every System V segment this process can see; a non-zero return stops the walk
 * and is returned. */
struct shmid_ds;
typedef int (*shmap__sysv_fn)(int id, const struct shmid_ds *ds, void *ctx);
SHMAP__HIDDEN int shmap__sysv_each(shmap__sysv_fn fn, void *ctx);
/* The canonical name of segment `id`: "sysv://0xKEY", or "sysv://id=N" without a key. */
SHMAP__HIDDEN void shmap__sysv_name(int id, const struct shmid_ds *ds, char *buf, size_t size);
/* backend/sysv_shm.c: -ENOENT for a System V segment `who` that was deleted while still
 * attached, with a detail saying so and then `what` follows from it. */
SHMAP__HIDDEN int shmap__sysv_deleted(const char *who, const char *what);
/* backend/sysv_shm.c: -EPERM, with a detail saying who may, when this process may not
 * remove the System V segment `n` names (shmap__may_rmid(), its owners read without read
 * permission); 0 when it may, or when that cannot be told. */
SHMAP__HIDDEN int shmap__sysv_removal_denied(const struct shmap__name *n);
/* backend/sysv_shm.c: describe one System V segment by id into the last entry of a list. */
SHMAP__HIDDEN int shmap__sysv_describe_id(int id, struct shmap__list *l);

/* format.c: what can be said of the creator recorded in a checked header copy of `avail`
 * bytes: alive, dead (pid and start time; a zombie is dead), or unknown (slot 0 of the
 * attach table, when the copy holds it, says it is of another pid namespace, where its pid
 * means nothing). gc, attaches waiting for a creation and the EINCOMPLETE message judge
 * creations alike with it. */
enum shmap__creator {
    SHMAP__CREATOR_ALIVE,
    SHMAP__CREATOR_DEAD,
    SHMAP__CREATOR_UNKNOWN
};
struct shmap__header;
SHMAP__HIDDEN enum shmap__creator shmap__creator_state(const struct shmap__header *h,
                                                      size_t avail);

/* linux/memfd.c: an anonymous descriptor (memfd_create); huge pages when asked. */
SHMAP__HIDDEN int shmap__memfd_new(const char *label, bool hugepages, const char *who);
/* linux/memfd.c: the huge page size, or 0 with the detail saying why none can be used. */
SHMAP__HIDDEN size_t shmap__hugepage_size(const char *who);
/* linux/mountinfo.c: the mount point of the file system behind `fd`, as this process sees
 * it; 0, or -1 when it cannot be told (no /proc, or longer than `size`). */
SHMAP__HIDDEN int shmap__fd_mount_point(int fd, char *buf, size_t size);
/* linux/hugetlbfs.c: the page size of the hugetlbfs mount behind `fd`, or 0 if it is on
 * another file system. */
SHMAP__HIDDEN size_t shmap__hugetlbfs_page_size(int fd);

#endif
