/*
 * The memfd store: a described segment with no name, in anonymous memory
 * (memfd_create). It is shared with children after fork (they inherit the mapping) and with
 * unrelated processes by passing its descriptor over a Unix socket (SCM_RIGHTS): see
 * shmap_fd() and shmap_open_fd(). Its OS handle is /proc/PID/fd/N, which a process allowed
 * to look into ours can also open. With SHMAP_CREATE_HUGEPAGES it lives in huge pages
 * (MFD_HUGETLB); hugetlbfs has no write(), so the header is written through the mapping.
 * Its mode is the one asked less the umask, as for the other stores, and less the execute
 * bits; it bounds who may open the descriptor again through /proc, and with what access.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"

static int memfd_open(struct shmap__name *n, int access, struct shmap__obj *obj)
{
    (void)access;
    (void)obj;
    return shmap__err(SHMAP_ESTORE, "%s: memfd segments have no name to open: pass the "
                                    "descriptor (shmap_fd, shmap_open_fd) or open "
                                    "file:/proc/PID/fd/N", n->name);
}

static int memfd_create_seg(struct shmap__name *n, const struct shmap__create_req *req,
                            struct shmap__obj *obj, void **base)
{
    bool huge = req->flags & SHMAP_CREATE_HUGEPAGES;
    uint64_t size = req->size;
    size_t hp = 0;
    if (huge) {
        hp = shmap__hugepage_size(n->name);
        if (hp == 0)
            return SHMAP_ESTORE;
        size = (size + hp - 1) / hp * hp;
    }
    int fd = shmap__memfd_new(n->name + 6, huge, n->name);
    if (fd < 0)
        return fd;
    obj->fd = fd;
    *base = NULL;
    int rc = 0;
    /* memfd_create makes the inode 0777, whatever was asked. The mode matters: a process
     * given a read-only descriptor can open /proc/self/fd/N again, read-write if the mode
     * lets it (and lock through it: segment.c), so it gets the mode asked less the umask,
     * as a POSIX segment or a file does. Without execute bits: a memfd holds data, and
     * where vm.memfd_noexec is set the kernel seals them off, refusing a mode that has
     * them. */
    if (fchmod(fd, (mode_t)(req->mode & ~(unsigned)shmap__umask() & 0666u)) < 0)
        rc = shmap__err(-errno, "%s: fchmod: %s", n->name, strerror(errno));
    if (rc == 0 && huge && (rc = shmap__fsize_check(size, n->name)) == 0 &&
        ftruncate(fd, (off_t)size) < 0)
        rc = shmap__err(-errno, "%s: ftruncate: %s", n->name, strerror(errno));
    if (rc == 0) {
        rc = shmap__fd_reserve(fd, size, n->name, "space", huge ? "huge pages" : "memory");
        if (rc == -ENOSPC && huge)
            rc = shmap__err(-ENOSPC, "%s: not enough free huge pages: %llu bytes need %llu x "
                                     "%zu kB (see HugePages_Free in /proc/meminfo; raise "
                                     "vm.nr_hugepages)", n->name, (unsigned long long)size,
                            (unsigned long long)(size / hp), hp / 1024);
    }
    if (rc == 0 && !huge) {
        rc = shmap__fd_fill(obj, req, n->name, base);
    } else if (rc == 0) {
        int err = 0;
        if (fstat(fd, &obj->st) < 0)
            rc = shmap__err(-errno, "%s: fstat: %s", n->name, strerror(errno));
        else if (!(*base = shmap__fd_map(obj, (size_t)size, 0, SHMAP__ACC_RDWR,
                                         req->flags & SHMAP_CREATE_PREFAULT, &err)))
            rc = shmap__err(err, "%s: cannot map %llu bytes of huge pages: %s", n->name,
                            (unsigned long long)size, strerror(-err));
        if (rc == 0) {
            memcpy(*base, req->h, sizeof *req->h);
            if (req->rec)
                memcpy((char *)*base + req->h->rec_offset, req->rec, req->rec_len);
            if (req->kw)
                memcpy((char *)*base + req->h->kw_offset, req->kw, req->kw_len);
        }
    }
    if (rc < 0) {
        if (*base)
            munmap(*base, (size_t)size);
        *base = NULL;
        shmap__fd_close(obj);
        return rc;
    }
    snprintf(n->os_handle, sizeof n->os_handle, "/proc/%d/fd/%d", (int)getpid(), fd);
    return 0;
}

const struct shmap__store_ops shmap__memfd_ops = {
    .store = SHMAP_STORE_MEMFD,
    .destroys = false,
    .open = memfd_open,
    .read = shmap__fd_read,
    .map = shmap__fd_map,
    .unmap = shmap__fd_unmap,
    .granule = shmap__fd_granule,
    .close = shmap__fd_close,
    .create = memfd_create_seg,
    .destroy = NULL,
    .unlink = NULL,
    .list = NULL,
    .perm = NULL,
};
