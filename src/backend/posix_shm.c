/* The POSIX shared-memory store: shm_open, shm_unlink and the hidden names of segments
 * being created. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/*
 * Hidden names carry the creator's pid, so a tool can tell the leftovers of a creator that
 * died (their pid is gone) from creations in progress. Pid and counter make the name unique
 * among live processes; O_EXCL catches a leftover of a dead process with the same pid.
 */
int shmap__posix_tmpname(char *buf, size_t size)
{
    static atomic_uint counter;
    snprintf(buf, size, "/.shmap-tmp-%d-%u", (int)shmap__getpid(),
             atomic_fetch_add(&counter, 1) + 1);
    return 0;
}

int shmap__posix_open(const struct shmap__name *n, bool writable)
{
    int fd = shm_open(n->os_handle, writable ? O_RDWR : O_RDONLY, 0);
    if (fd >= 0)
        return fd;
    int e = errno;
    if (e == ENOENT)
        return shmap__err(-ENOENT, "%s: no such segment", n->name);
    if (e == EACCES)
        return shmap__err(-EACCES, "%s: permission denied to open it %s", n->name,
                          writable ? "read-write" : "read-only");
    if (e == EMFILE || e == ENFILE)
        return shmap__err(-e, "%s: too many open files", n->name);
    return shmap__err(-e, "%s: %s", n->name, strerror(e));
}

int shmap__posix_create_tmp(const char *tmp, unsigned mode, uint64_t size, const char *who)
{
    int fd = shm_open(tmp, O_RDWR | O_CREAT | O_EXCL, (mode_t)mode);
    if (fd < 0) {
        int e = errno;
        return shmap__err(-e, "%s: cannot create shared memory: %s", who, strerror(e));
    }
    /*
     * posix_fallocate reserves the pages, so a full /dev/shm is ENOSPC now rather than a
     * SIGBUS at the first write into a sparse object. It also sets the size.
     */
    int e = posix_fallocate(fd, 0, (off_t)size);
    if (e != 0) {
        struct statvfs vfs;
        unsigned long long avail = 0;
        if (fstatvfs(fd, &vfs) == 0)
            avail = (unsigned long long)vfs.f_bavail * vfs.f_frsize;
        close(fd);
        shm_unlink(tmp);
        if (e == ENOSPC)
            return shmap__err(-ENOSPC, "%s: not enough shared memory: %llu bytes needed, %llu "
                                       "available in %s", who, (unsigned long long)size, avail,
                              shmap__posix_dir());
        if (e == EFBIG)
            return shmap__err(-EFBIG, "%s: %llu bytes is larger than the system allows", who,
                              (unsigned long long)size);
        return shmap__err(-e, "%s: cannot reserve %llu bytes: %s", who,
                          (unsigned long long)size, strerror(e));
    }
    return fd;
}

/*
 * Remove a name only if it still names the object we mapped: a segment that was replaced
 * meanwhile belongs to someone else. (A replacement between this check and the unlink can
 * still be lost; POSIX offers no unlink-if-same.)
 */
int shmap__posix_destroy(const struct shmap__name *n, dev_t dev, ino_t ino)
{
    struct stat st;
    char path[SHMAP_NAME_MAX + 16];
    snprintf(path, sizeof path, "%s%s", shmap__posix_dir(), n->os_handle);
    if (lstat(path, &st) == 0 && (st.st_dev != dev || st.st_ino != ino))
        return 0;
    if (shm_unlink(n->os_handle) == 0 || errno == ENOENT)
        return 0;
    int e = errno;
    return shmap__err(-e, "%s: cannot remove: %s", n->name, strerror(e));
}
