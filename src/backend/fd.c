/*
 * Operations shared by the stores built on a file descriptor: POSIX shared memory, files
 * and memfds. Reading is pread, mapping is mmap, and a new object is filled with pwrite
 * before it is mapped (no other process can see it yet, and writing through the mapping
 * would fault the header page in, which costs more than the copy).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "store.h"

ssize_t shmap__fd_read(struct shmap__obj *obj, void *buf, size_t len, uint64_t off)
{
    ssize_t got = pread(obj->fd, buf, len, (off_t)off);
    return got < 0 ? -errno : got;
}

void *shmap__fd_map(struct shmap__obj *obj, size_t len, uint64_t off, int access, bool populate,
                    int *err)
{
    int prot = access == SHMAP__ACC_RDONLY ? PROT_READ : PROT_READ | PROT_WRITE;
    int flags = (access == SHMAP__ACC_PRIVATE ? MAP_PRIVATE : MAP_SHARED) |
                (populate ? MAP_POPULATE : 0);
    void *p = mmap(NULL, len, prot, flags, obj->fd, (off_t)off);
    if (p == MAP_FAILED) {
        *err = -errno;
        return NULL;
    }
    return p;
}

void shmap__fd_unmap(void *base, size_t len)
{
    munmap(base, len);
}

void shmap__fd_close(struct shmap__obj *obj)
{
    if (obj->fd >= 0)
        close(obj->fd);
    obj->fd = -1;
}

/* What a path names when it is not a regular file, for messages. */
static const char *file_kind(mode_t mode)
{
    return S_ISFIFO(mode)   ? "a FIFO"
           : S_ISDIR(mode)  ? "a directory"
           : S_ISCHR(mode)  ? "a character device"
           : S_ISBLK(mode)  ? "a block device"
           : S_ISSOCK(mode) ? "a socket"
           : S_ISLNK(mode)  ? "a symbolic link"
                            : "of an unknown type";
}

/*
 * O_NONBLOCK keeps open() itself from waiting: a FIFO opened read-only waits for a writer,
 * for ever if none comes, before the caller could fstat it and refuse it. On a regular file
 * the flag changes nothing, except that a file under another process's lease fails with
 * EWOULDBLOCK instead of waiting for the lease to be broken: then, and only if the path
 * still names a regular file, open it again and wait as open() always did. (A FIFO opened
 * without O_WRONLY never fails with EWOULDBLOCK.)
 */
int shmap__fd_open_nonblock(int dirfd, const char *path, int flags)
{
    int fd = openat(dirfd, path, flags | O_NONBLOCK);
    if (fd >= 0 || errno != EWOULDBLOCK)
        return fd;
    /* The lease holder may be gc, which removes the name as it gives the lease back: a
     * name gone meanwhile is said as such (ENOENT), not as the EWOULDBLOCK of a moment ago. */
    struct stat st;
    if (fstatat(dirfd, path, &st, (flags & O_NOFOLLOW) ? AT_SYMLINK_NOFOLLOW : 0) < 0)
        return -1;
    if (S_ISREG(st.st_mode))
        return openat(dirfd, path, flags);
    errno = EWOULDBLOCK;
    return -1;
}

int shmap__fd_open_error(int dirfd, const char *path, int flags, const char *who, int e)
{
    /* A directory opened for writing (EISDIR), a socket (ENXIO) or, where links are not
     * followed, a symbolic link (ELOOP) fails in open(): say what it is, as for the FIFOs
     * and devices refused after opening them. */
    struct stat st;
    if ((e == EISDIR || e == ENXIO || (e == ELOOP && (flags & O_NOFOLLOW))) &&
        fstatat(dirfd, path, &st, (flags & O_NOFOLLOW) ? AT_SYMLINK_NOFOLLOW : 0) == 0 &&
        !S_ISREG(st.st_mode))
        return shmap__err(-EINVAL, "%s: not a regular file (it is %s)", who,
                          file_kind(st.st_mode));
    return shmap__err(-e, "%s: cannot open: %s%s", who, strerror(e), shmap__fd_hint(e));
}

int shmap__fd_adopt(int fd, const char *who, struct shmap__obj *obj)
{
    if (fstat(fd, &obj->st) < 0) {
        int e = errno;
        close(fd);
        return shmap__err(-e, "%s: fstat: %s", who, strerror(e));
    }
    if (!S_ISREG(obj->st.st_mode)) {
        close(fd);
        return shmap__err(-EINVAL, "%s: not a regular file (it is %s)", who,
                          file_kind(obj->st.st_mode));
    }
    obj->fd = fd;
    return 0;
}

int shmap__fd_open_path(const char *path, const char *who, int access, struct shmap__obj *obj)
{
    int oflags = (access == SHMAP__ACC_RDWR ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOCTTY;
    int fd = shmap__fd_open_nonblock(AT_FDCWD, path, oflags);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT)
            return shmap__err(-ENOENT, "%s: no such file", who);
        if (e == EACCES || e == EPERM)
            return shmap__err(-e, "%s: permission denied to open it %s", who,
                              access == SHMAP__ACC_RDWR ? "read-write" : "read-only");
        return shmap__fd_open_error(AT_FDCWD, path, oflags, who, e);
    }
    return shmap__fd_adopt(fd, who, obj);
}

/*
 * Design note. posix_fallocate reserves the blocks, so a full file system or /dev/shm is
 * ENOSPC now rather than a SIGBUS at the first write into a sparse object; it also sets the
 * size. But it takes blocks one by one until the file system is full and only then fails:
 * a size that cannot fit would first take all that is free (every other writer there,
 * another process's segment in /dev/shm included, then finds it full and may die of
 * SIGBUS), and the free space measured after it failed can be 0 on a file system that keeps
 * what was taken. So the free space is read first (f_bavail, or for root, who may use the
 * blocks kept back for it, f_bfree), and a size beyond it is refused before any block is
 * taken. A file system that states no size (f_blocks 0: the kernel's internal tmpfs behind
 * memfds, hugetlbfs without size=) is left to fallocate, and so is a size below
 * PRECHECK_MIN: what it could take before failing is too little to hurt anyone, and the
 * check would add a system call to every small create. So is a size that fits now but is
 * beaten to the space by another writer: then what fallocate took is given back (the
 * object is new and ours) before the free space is measured for the message.
 */
#define PRECHECK_MIN (1u << 20)

/* Bytes this process may still allocate on the file system `vfs` describes. */
static unsigned long long free_bytes(const struct statvfs *vfs)
{
    fsblkcnt_t blocks = geteuid() == 0 ? vfs->f_bfree : vfs->f_bavail;
    return (unsigned long long)blocks * vfs->f_frsize;
}

static int no_space(int fd, uint64_t size, unsigned long long avail, const char *who,
                    const char *lacking, const char *where)
{
    /* Name the file system by its mount point where a path was given (a file's directory
     * may be anywhere below it); else as the caller says ("/dev/shm", "memory"). */
    char mnt[SHMAP_NAME_MAX];
    if (where[0] == '/' && shmap__fd_mount_point(fd, mnt, sizeof mnt) == 0)
        where = mnt;
    return shmap__err(-ENOSPC, "%s: not enough %s: %llu bytes needed, %llu available in %s%s",
                      who, lacking, (unsigned long long)size, avail, where,
                      avail >= size ? " (it filled up while the space was being reserved)" : "");
}

/* Bytes of holes (no memory behind them) in [off, off + len) of a tmpfs object. The
 * descriptor's offset, which a caller of shmap_open_fd() shares, is put back. */
static uint64_t hole_bytes(int fd, uint64_t off, uint64_t len)
{
    off_t was = lseek(fd, 0, SEEK_CUR);
    uint64_t holes = 0, end = off + len, at = off;
    while (at < end) {
        off_t data = lseek(fd, (off_t)at, SEEK_DATA);
        if (data < 0 || (uint64_t)data >= end) {
            holes += end - at; /* ENXIO: nothing but a hole to the end */
            break;
        }
        holes += (uint64_t)data - at;
        off_t hole = lseek(fd, data, SEEK_HOLE);
        if (hole <= data)
            break;
        at = (uint64_t)hole;
    }
    if (was >= 0)
        lseek(fd, was, SEEK_SET);
    return holes;
}

int shmap__fd_holes_check(const struct shmap__obj *obj, uint64_t off, uint64_t len,
                          const char *who)
{
    /* shmap reserves what it makes: only an object made by another program (ftruncate
     * alone, a sparse copy) has fewer blocks than bytes. */
    if (obj->fd < 0 || !S_ISREG(obj->st.st_mode) ||
        (uint64_t)obj->st.st_blocks * 512 >= (uint64_t)obj->st.st_size)
        return 0;
    /* On tmpfs, reading a hole through a shared mapping takes a page as writing does, and
     * a file system with no page left answers with SIGBUS. One with no size limit (a
     * memfd's) is limited by memory alone, as everything else is. */
    struct statfs fs;
    struct statvfs vfs;
    if (fstatfs(obj->fd, &fs) < 0 || fs.f_type != TMPFS_MAGIC ||
        fstatvfs(obj->fd, &vfs) < 0 || vfs.f_blocks == 0)
        return 0;
    unsigned long long avail = free_bytes(&vfs);
    uint64_t missing = (uint64_t)obj->st.st_size - (uint64_t)obj->st.st_blocks * 512;
    if (missing <= avail || (missing = hole_bytes(obj->fd, off, len)) <= avail)
        return 0;
    char mnt[SHMAP_NAME_MAX];
    if (shmap__fd_mount_point(obj->fd, mnt, sizeof mnt) < 0)
        snprintf(mnt, sizeof mnt, "its file system");
    return shmap__err(-ENOSPC, "%s: %llu bytes of it have no memory behind them (the program "
                               "that made it did not reserve it) and %s has %llu bytes free: "
                               "reading or writing them would crash this process (SIGBUS)",
                      who, (unsigned long long)missing, mnt, avail);
}

const char *shmap__create_hint(int e, int dirfd, const char *path)
{
    static _Thread_local char hint[128];
    hint[0] = '\0';
    struct statvfs vfs;
    if (e == EMFILE || e == ENFILE)
        return shmap__fd_hint(e);
    if (e == ENOSPC && (dirfd >= 0 ? fstatvfs(dirfd, &vfs) : statvfs(path, &vfs)) == 0 &&
        vfs.f_files > 0 && vfs.f_ffree == 0)
        snprintf(hint, sizeof hint, " (no inode left: its file system holds as many files "
                 "as it may, %llu, whatever space it has)", (unsigned long long)vfs.f_files);
    return hint;
}

int shmap__fsize_check(uint64_t size, const char *who)
{
    /* Past this process's file size limit the kernel sends SIGXFSZ, which kills a process
     * that does not ignore it, leaving the half-made object behind: say so first. */
    struct rlimit fsz;
    if (getrlimit(RLIMIT_FSIZE, &fsz) == 0 && fsz.rlim_cur != RLIM_INFINITY &&
        size > (uint64_t)fsz.rlim_cur)
        return shmap__err(-EFBIG, "%s: %llu bytes is more than this process's file size "
                                  "limit allows (ulimit -f: %llu bytes)",
                          who, (unsigned long long)size, (unsigned long long)fsz.rlim_cur);
    return 0;
}

int shmap__fd_reserve(int fd, uint64_t size, const char *who, const char *lacking,
                      const char *where)
{
    struct statvfs vfs;
    if (size >= PRECHECK_MIN && fstatvfs(fd, &vfs) == 0 && vfs.f_blocks > 0 &&
        vfs.f_frsize > 0) {
        uint64_t blocks = size / vfs.f_frsize + (size % vfs.f_frsize != 0);
        if (blocks > (geteuid() == 0 ? vfs.f_bfree : vfs.f_bavail))
            return no_space(fd, size, free_bytes(&vfs), who, lacking, where);
    }
    int rc = shmap__memory_check(fd, size, 0, who);
    if (rc < 0)
        return rc;
    if ((rc = shmap__fsize_check(size, who)) < 0)
        return rc;
    int e = posix_fallocate(fd, 0, (off_t)size);
    if (e == 0)
        return 0;
    if (e == ENOSPC) {
        int ignored = ftruncate(fd, 0);
        (void)ignored;
        unsigned long long avail = fstatvfs(fd, &vfs) == 0 ? free_bytes(&vfs) : 0;
        return no_space(fd, size, avail, who, lacking, where);
    }
    if (e == EFBIG)
        return shmap__err(-EFBIG, "%s: %llu bytes is larger than the system allows", who,
                          (unsigned long long)size);
    return shmap__err(-e, "%s: cannot reserve %llu bytes: %s", who, (unsigned long long)size,
                      strerror(e));
}

int shmap__fd_fill(struct shmap__obj *obj, const struct shmap__create_req *req, const char *who,
                   void **base)
{
    if (fstat(obj->fd, &obj->st) < 0)
        return shmap__err(-errno, "%s: fstat: %s", who, strerror(errno));
    if (pwrite(obj->fd, req->h, sizeof *req->h, 0) != (ssize_t)sizeof *req->h ||
        (req->rec && pwrite(obj->fd, req->rec, req->rec_len, (off_t)req->h->rec_offset) !=
                         (ssize_t)req->rec_len) ||
        (req->kw && pwrite(obj->fd, req->kw, req->kw_len, (off_t)req->h->kw_offset) !=
                        (ssize_t)req->kw_len))
        return shmap__err(errno ? -errno : -EIO, "%s: cannot write the header: %s", who,
                          strerror(errno));
    int err = 0;
    *base = shmap__fd_map(obj, (size_t)req->size, 0, SHMAP__ACC_RDWR,
                          req->flags & SHMAP_CREATE_PREFAULT, &err);
    if (!*base)
        return shmap__err(err, "%s: cannot map %llu bytes: %s%s", who,
                          (unsigned long long)req->size, strerror(-err),
                          shmap__map_hint(err, req->size));
    return 0;
}

size_t shmap__fd_granule(struct shmap__obj *obj)
{
    return shmap__hugetlbfs_page_size(obj->fd);
}
