/*
 * The file store: `file:PATH` and `file://PATH`, a described array in a regular file.
 *
 * A new file is built under a hidden name in the same directory (".shmap-tmp-PID-N-BASE",
 * with O_CREAT|O_EXCL|O_NOFOLLOW so a planted symlink cannot redirect it) and renamed into
 * place with renameat2(RENAME_NOREPLACE), which neither follows nor replaces what is at the
 * final name: the name appears only on a complete file, as for POSIX segments. Files are
 * never removed by closing (the destroy policy does not apply to them); shmap_unlink()
 * removes one. A private mapping (SHMAP_PRIVATE) opens the file read-only and maps it
 * copy-on-write.
 *
 * A file on a hugetlbfs mount lives in huge pages, asked for (SHMAP_CREATE_HUGEPAGES) or
 * not. hugetlbfs has no write() and takes only sizes in whole huge pages, so a new file is
 * given its rounded size and its pages by fallocate and its header through the mapping, as
 * a huge-page memfd is. Its mappings must start and end on huge page boundaries: the
 * store's granule says so to segment.c, which rounds raw mappings to it (a described
 * file's size is already a whole number of huge pages).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"

int shmap__file_parse(const char *text, const char *path, struct shmap__name *out)
{
    if (!*path)
        return shmap__err(SHMAP_EBADNAME, "'%s': empty file name", text);
    size_t len = strlen(path);
    if (path[len - 1] == '/')
        return shmap__err(SHMAP_EBADNAME, "'%s': names a directory", text);
    char cwd[PATH_MAX];
    const char *dir = "";
    if (path[0] != '/') {
        if (!getcwd(cwd, sizeof cwd))
            return shmap__err(-errno, "'%s': cannot resolve a relative path: %s", text,
                              strerror(errno));
        dir = cwd;
    }
    if (strlen(dir) + 1 + len >= PATH_MAX)
        return shmap__err(SHMAP_EBADNAME, "'%.40s...': path is longer than %d bytes", text,
                          PATH_MAX - 1);
    if (out) {
        out->store = SHMAP_STORE_FILE;
        snprintf(out->os_handle, sizeof out->os_handle, "%s%s%s", dir, *dir ? "/" : "", path);
        snprintf(out->name, sizeof out->name, "file:%.4096s", out->os_handle);
    }
    return 0;
}

static int file_open(struct shmap__name *n, int access, struct shmap__obj *obj)
{
    return shmap__fd_open_path(n->os_handle, n->name, access, obj);
}

/* Split a path into its directory (opened, and its path in `dir`, PATH_MAX bytes) and
 * final component. */
static int open_dir(const char *path, char *dir, const char **base, const char *who)
{
    const char *slash = strrchr(path, '/');
    size_t dlen = slash == path ? 1 : (size_t)(slash - path);
    memcpy(dir, path, dlen);
    dir[dlen] = '\0';
    *base = slash + 1;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        int e = errno;
        return shmap__err(-e, "%s: directory %s: %s%s", who, dir, strerror(e),
                          shmap__fd_hint(e));
    }
    return dfd;
}

static int publish(int dfd, const char *tmp, const char *base, bool replace, const char *who)
{
    int rc = replace ? renameat(dfd, tmp, dfd, base)
                     : renameat2(dfd, tmp, dfd, base, RENAME_NOREPLACE);
    if (rc < 0 && !replace && errno == EINVAL) {
        /* A file system without RENAME_NOREPLACE: a hard link also refuses an existing name. */
        rc = linkat(dfd, tmp, dfd, base, 0);
        if (rc == 0)
            unlinkat(dfd, tmp, 0);
    }
    if (rc == 0)
        return 0;
    int e = errno;
    if (e == EEXIST)
        return shmap__err(-EEXIST, "%s: the file exists", who);
    return shmap__err(-e, "%s: cannot put the new file in place: %s", who, strerror(e));
}

/* Size, reserve, map and fill a new file on hugetlbfs, whose pages are @p hp bytes. */
static int fill_huge(struct shmap__obj *obj, const struct shmap__create_req *req, size_t hp,
                     const struct shmap__name *n, void **base)
{
    uint64_t size = (req->size + hp - 1) / hp * hp;
    int rc = shmap__fd_reserve(obj->fd, size, n->name, "space", n->os_handle);
    if (rc == -ENOSPC)
        rc = shmap__err(-ENOSPC, "%s: not enough free huge pages: %llu bytes need %llu x %zu "
                                 "kB (see free_hugepages in /sys/kernel/mm/hugepages/"
                                 "hugepages-%zukB; raise vm.nr_hugepages, or the mount's "
                                 "size= limit)", n->name, (unsigned long long)size,
                        (unsigned long long)(size / hp), hp / 1024, hp / 1024);
    if (rc < 0)
        return rc;
    if (fstat(obj->fd, &obj->st) < 0)
        return shmap__err(-errno, "%s: fstat: %s", n->name, strerror(errno));
    int err = 0;
    *base = shmap__fd_map(obj, (size_t)size, 0, SHMAP__ACC_RDWR,
                          req->flags & SHMAP_CREATE_PREFAULT, &err);
    if (!*base)
        return shmap__err(err, "%s: cannot map %llu bytes of huge pages: %s", n->name,
                          (unsigned long long)size, strerror(-err));
    memcpy(*base, req->h, sizeof *req->h);
    if (req->rec)
        memcpy((char *)*base + req->h->rec_offset, req->rec, req->rec_len);
    if (req->kw)
        memcpy((char *)*base + req->h->kw_offset, req->kw, req->kw_len);
    return 0;
}

static int file_create(struct shmap__name *n, const struct shmap__create_req *req,
                       struct shmap__obj *obj, void **base)
{
    const char *final;
    char dir[PATH_MAX];
    int dfd = open_dir(n->os_handle, dir, &final, n->name);
    if (dfd < 0)
        return dfd;
    bool hidden = req->flags & SHMAP_CREATE_HIDDEN;
    struct stat st;
    /* Named later: a name taken already is said now, before the work that would fill it. */
    if (hidden && !(req->flags & SHMAP_CREATE_REPLACE) &&
        fstatat(dfd, final, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        close(dfd);
        return shmap__err(-EEXIST, "%s: the file exists", n->name);
    }
    size_t hp = shmap__hugetlbfs_page_size(dfd);
    if ((req->flags & SHMAP_CREATE_HUGEPAGES) && hp == 0) {
        close(dfd);
        return shmap__err(SHMAP_ESTORE, "%s: huge pages for a file need a hugetlbfs mount, "
                                        "and its directory is on another file system (mount "
                                        "one with `mount -t hugetlbfs none DIR`)", n->name);
    }
    char tmp[SHMAP__TMP_NAME_MAX];
    int fd = -1;
    for (int attempt = 0; fd < 0 && attempt < 16; attempt++) {
        shmap__tmp_name(tmp, false, final, attempt > 0);
        fd = openat(dfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                    (mode_t)req->mode);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        int e = errno;
        const char *hint = shmap__create_hint(e, dfd, NULL);
        close(dfd);
        return shmap__err(-e, "%s: cannot create a file in its directory: %s%s", n->name,
                          strerror(e), hint);
    }
    obj->fd = fd;
    *base = NULL;
    int rc;
    if (hp) {
        rc = fill_huge(obj, req, hp, n, base);
    } else {
        rc = shmap__fd_reserve(fd, req->size, n->name, "space", dir);
        if (rc == 0)
            rc = shmap__fd_fill(obj, req, n->name, base);
    }
    if (rc == 0 && hidden)
        snprintf(obj->hidden, sizeof obj->hidden, "%s", tmp);
    else if (rc == 0)
        rc = publish(dfd, tmp, final, req->flags & SHMAP_CREATE_REPLACE, n->name);
    if (rc < 0) {
        if (*base)
            shmap__fd_unmap(*base, (size_t)obj->st.st_size);
        *base = NULL;
        shmap__fd_close(obj);
        unlinkat(dfd, tmp, 0);
    }
    close(dfd);
    return rc;
}

static int file_reveal(const struct shmap__name *n, const char *hidden, void *base,
                       bool replace)
{
    (void)base;
    const char *final;
    char dir[PATH_MAX];
    int dfd = open_dir(n->os_handle, dir, &final, n->name);
    if (dfd < 0)
        return dfd;
    int rc = publish(dfd, hidden, final, replace, n->name);
    close(dfd);
    return rc;
}

static void file_drop(const struct shmap__name *n, const char *hidden)
{
    const char *final;
    char dir[PATH_MAX];
    int dfd = open_dir(n->os_handle, dir, &final, n->name);
    if (dfd >= 0) {
        unlinkat(dfd, hidden, 0);
        close(dfd);
    }
}

/* The refusal of a delete by a name that is a symbolic link. */
static int symlink_refused(const struct shmap__name *n)
{
    return shmap__err(-EINVAL, "%s: is a symbolic link: remove the link with rm(1), or delete "
                               "the segment by its own name", n->name);
}

int shmap__file_symlink(const struct shmap__name *n)
{
    struct stat st;
    if (lstat(n->os_handle, &st) == 0 && S_ISLNK(st.st_mode))
        return symlink_refused(n);
    return 0;
}

/*
 * Remove the name if it still names the object (dev, ino), as POSIX segments are removed
 * (shmap__posix_remove_same): looked at without following a symbolic link, so that a link
 * is never taken for what it points to, nor removed in its stead. A link is refused.
 */
static int file_destroy(const struct shmap__name *n, dev_t dev, ino_t ino)
{
    const char *final;
    char dir[PATH_MAX];
    int dfd = open_dir(n->os_handle, dir, &final, n->name);
    if (dfd < 0)
        return dfd;
    struct stat st;
    int rc = fstatat(dfd, final, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)
                 ? symlink_refused(n)
                 : shmap__posix_remove_same(dfd, final, dev, ino, n->name);
    close(dfd);
    /* Said as a forced removal says it (file_unlink()): a sticky or unwritable directory. */
    if (rc == -EACCES)
        return shmap__err(rc, "%s: permission denied to remove it", n->name);
    return rc == 1 ? 0 : rc;
}

static int file_unlink(const struct shmap__name *n)
{
    if (unlink(n->os_handle) == 0)
        return 0;
    int e = errno;
    if (e == ENOENT)
        return shmap__err(-ENOENT, "%s: no such file", n->name);
    if (e == EACCES || e == EPERM)
        return shmap__err(-e, "%s: permission denied to remove it", n->name);
    return shmap__err(-e, "%s: cannot remove: %s", n->name, strerror(e));
}

/* A symbolic link at the name is refused here, though opens follow it: a change of mode or
 * owner, often made as root, must not land on whatever a link planted there points to. */
static int file_perm(const struct shmap__name *n, const struct shmap__perm_change *ch,
                     struct stat *st)
{
    return shmap__path_perm(n->os_handle, n->name, "file", ch, st);
}

const struct shmap__store_ops shmap__file_ops = {
    .store = SHMAP_STORE_FILE,
    .destroys = false,
    .open = file_open,
    .read = shmap__fd_read,
    .map = shmap__fd_map,
    .unmap = shmap__fd_unmap,
    .granule = shmap__fd_granule,
    .close = shmap__fd_close,
    .create = file_create,
    .destroy = file_destroy,
    .unlink = file_unlink,
    .reveal = file_reveal,
    .drop = file_drop,
    .list = NULL,
    .perm = file_perm,
};
