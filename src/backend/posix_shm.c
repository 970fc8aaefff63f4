/* The POSIX shared-memory store: shm_open, shm_unlink and the hidden names of segments
 * being created. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store.h"

/* Write v in decimal at p; the end. */
static char *put_decimal(char *p, unsigned long long v)
{
    char digits[24];
    int n = 0;
    do
        digits[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    while (n > 0)
        *p++ = digits[--n];
    return p;
}

/* A number nobody can foresee: getrandom's, or failing that the clock's. */
static unsigned long long unforeseen(void)
{
    unsigned long long v = 0;
    if (getrandom(&v, sizeof v, GRND_NONBLOCK) != (ssize_t)sizeof v)
        v = (unsigned long long)shmap__mono_ns() * 0x9e3779b97f4a7c15ull;
    return v;
}

/*
 * Hidden names carry the creator's pid, so a tool can tell the leftovers of a creator that
 * died (their pid is gone) from creations in progress. Pid and counter make the name unique
 * among live processes; O_EXCL catches a leftover of a dead process with the same pid.
 * /dev/shm is everyone's, and anyone who knows the names a process will try next can put
 * files under them and make its creation fail: the counter starts at a random number, and
 * a name taken (`again`) moves it to a new random one, which no name seen in /dev/shm (a
 * creation in progress shows its number) gives away.
 */
void shmap__tmp_name(char *buf, bool slash, const char *final, bool again)
{
    static atomic_ullong counter;
    static atomic_bool seeded;
    /* Two threads seeding at once each store a number of their own: either will do, as
     * O_EXCL catches the rare name two of them come to. */
    if (again || !atomic_load_explicit(&seeded, memory_order_acquire)) {
        atomic_store(&counter, unforeseen());
        atomic_store_explicit(&seeded, true, memory_order_release);
    }
    /* Written by hand, as shmap__posix_path() writes paths: snprintf costs a microsecond
     * of every create. */
    static const char tag[] = ".shmap-tmp-";
    char *p = buf;
    if (slash)
        *p++ = '/';
    memcpy(p, tag, sizeof tag - 1);
    p = put_decimal(p + sizeof tag - 1, (unsigned long long)shmap__getpid());
    *p++ = '-';
    p = put_decimal(p, atomic_fetch_add(&counter, 1) + 1);
    *p++ = '-';
    size_t len = strnlen(final, SHMAP__TMP_NAME_KEPT);
    memcpy(p, final, len);
    p[len] = '\0';
}

/*
 * Open as shm_open() does (O_NOFOLLOW, close-on-exec, under /dev/shm), with the path built
 * here from the checked name. O_NOATIME spares the header read its atime update (nothing
 * reads a segment's atime); only the owner may ask for it, so after the first refusal
 * (a segment of another user) this process stops asking. The open does not wait
 * (shmap__fd_open_nonblock): anyone may put a FIFO in /dev/shm under a segment's name,
 * and a read-only open of it would wait for a writer for ever; the caller refuses what is
 * not a regular file.
 */
int shmap__posix_open(const struct shmap__name *n, bool writable)
{
    static atomic_bool noatime_refused;
    char path[SHMAP_NAME_MAX + 16];
    if (!shmap__posix_path(path, sizeof path, n->os_handle))
        return shmap__err(SHMAP_EBADNAME, "%s: name too long", n->name);
    int flags = (writable ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_CLOEXEC;
    int fd = -1;
    bool plain = atomic_load_explicit(&noatime_refused, memory_order_relaxed);
    if (!plain) {
        fd = shmap__fd_open_nonblock(AT_FDCWD, path, flags | O_NOATIME);
        if (fd < 0 && errno == EPERM) {
            atomic_store_explicit(&noatime_refused, true, memory_order_relaxed);
            plain = true;
        }
    }
    if (plain)
        fd = shmap__fd_open_nonblock(AT_FDCWD, path, flags);
    if (fd >= 0)
        return fd;
    int e = errno;
    if (e == ENOENT)
        return shmap__err(-ENOENT, "%s: no such segment", n->name);
    if (e == EACCES)
        return shmap__err(-EACCES, "%s: permission denied to open it %s", n->name,
                          writable ? "read-write" : "read-only");
    if (e == EMFILE || e == ENFILE)
        return shmap__err(-e, "%s: too many open files%s", n->name, shmap__fd_hint(e));
    if (e == EISDIR || e == ENXIO || e == ELOOP)
        return shmap__fd_open_error(AT_FDCWD, path, flags, n->name, e);
    return shmap__err(-e, "%s: %s", n->name, strerror(e));
}

int shmap__posix_create_tmp(const char *tmp, unsigned mode, uint64_t size, const char *who)
{
    int fd = shm_open(tmp, O_RDWR | O_CREAT | O_EXCL, (mode_t)mode);
    if (fd < 0) {
        int e = errno;
        return shmap__err(-e, "%s: cannot create shared memory: %s%s", who, strerror(e),
                          shmap__create_hint(e, -1, shmap__posix_dir()));
    }
    int rc = shmap__fd_reserve(fd, size, who, "shared memory", shmap__posix_dir());
    if (rc < 0) {
        close(fd);
        shm_unlink(tmp);
        return rc;
    }
    return fd;
}

int shmap__posix_remove_same(int dfd, const char *path, dev_t dev, ino_t ino, const char *who)
{
    struct stat now;
    if (fstatat(dfd, path, &now, AT_SYMLINK_NOFOLLOW) < 0 || now.st_dev != dev ||
        now.st_ino != ino)
        return 1;
    if (unlinkat(dfd, path, 0) == 0)
        return 0;
    if (errno == ENOENT)
        return 1;
    /* Said as shm_unlink() says it: the sticky bit's EPERM is EACCES there. */
    int e = errno == EPERM ? EACCES : errno;
    return shmap__err(-e, "%s: cannot remove: %s", who, strerror(e));
}

bool shmap__posix_listed(const char *entry)
{
    return strncmp(entry, ".shmap-", 7) != 0 && strcmp(entry, ".") != 0 &&
           strcmp(entry, "..") != 0;
}

/* Remove a name only if it still names the object we mapped: a segment that was replaced
 * meanwhile belongs to someone else. */
int shmap__posix_destroy(const struct shmap__name *n, dev_t dev, ino_t ino)
{
    char path[SHMAP_NAME_MAX + 16];
    if (!shmap__posix_path(path, sizeof path, n->os_handle))
        return shmap__err(SHMAP_EBADNAME, "%s: name too long", n->name);
    int rc = shmap__posix_remove_same(AT_FDCWD, path, dev, ino, n->name);
    /* Said as a forced removal says it (posix_unlink()): /dev/shm is sticky. */
    if (rc == -EACCES)
        return shmap__err(rc, "%s: permission denied to remove it", n->name);
    return rc == 1 ? 0 : rc;
}

/* ---- the store's operations (store.h) ---- */

static int posix_open(struct shmap__name *n, int access, struct shmap__obj *obj)
{
    int fd = shmap__posix_open(n, access == SHMAP__ACC_RDWR);
    if (fd < 0)
        return fd;
    return shmap__fd_adopt(fd, n->name, obj);
}

static int posix_create(struct shmap__name *n, const struct shmap__create_req *req,
                        struct shmap__obj *obj, void **base)
{
    bool hidden = req->flags & SHMAP_CREATE_HIDDEN;
    char path[SHMAP_NAME_MAX + 16];
    struct stat st;
    /* Named later: a name taken already is said now, before the work that would fill it. */
    if (hidden && !(req->flags & SHMAP_CREATE_REPLACE) &&
        shmap__posix_path(path, sizeof path, n->os_handle) && lstat(path, &st) == 0)
        return shmap__err(-EEXIST, "%s: a segment of that name exists", n->name);
    /* A hidden name left by a dead process that had our pid is skipped, not reused. */
    char tmp[SHMAP__TMP_NAME_MAX];
    int fd = -EEXIST;
    for (int attempt = 0; fd == -EEXIST && attempt < 16; attempt++) {
        shmap__tmp_name(tmp, true, n->os_handle + 1, attempt > 0);
        fd = shmap__posix_create_tmp(tmp, req->mode, req->size, n->name);
    }
    if (fd < 0)
        return fd;
    obj->fd = fd;
    *base = NULL;
    int rc = shmap__fd_fill(obj, req, n->name, base);
    if (rc == 0 && hidden)
        snprintf(obj->hidden, sizeof obj->hidden, "%s", tmp);
    else if (rc == 0)
        rc = shmap__posix_publish(tmp, n->os_handle, req->flags & SHMAP_CREATE_REPLACE,
                                  n->name);
    if (rc < 0) {
        if (*base)
            munmap(*base, (size_t)req->size);
        *base = NULL;
        shmap__fd_close(obj);
        shm_unlink(tmp);
    }
    return rc;
}

static int posix_reveal(const struct shmap__name *n, const char *hidden, void *base,
                        bool replace)
{
    (void)base;
    return shmap__posix_publish(hidden, n->os_handle, replace, n->name);
}

static void posix_drop(const struct shmap__name *n, const char *hidden)
{
    (void)n;
    shm_unlink(hidden);
}

static int posix_unlink(const struct shmap__name *n)
{
    if (shm_unlink(n->os_handle) == 0)
        return 0;
    int e = errno;
    if (e == ENOENT)
        return shmap__err(-ENOENT, "%s: no such segment", n->name);
    if (e == EACCES || e == EPERM)
        return shmap__err(-e, "%s: permission denied to remove it", n->name);
    return shmap__err(-e, "%s: cannot remove: %s", n->name, strerror(e));
}

/* The failure of the listing itself (not of one object) while reading /dev/shm. */
static int posix_list_error(int e, const char *dir)
{
    if (shmap__process_failure(-e))
        return shmap__process_error(-e, "cannot list %s", dir);
    return shmap__err(-e, "cannot list %s: %s", dir, strerror(e));
}

/*
 * Each object of /dev/shm is opened and described; one that cannot be (another user's,
 * gone meanwhile, not a regular file) is its entry's affair, listed with SHMAP_LIST_ALL or
 * left out, but a failure of this process (out of descriptors or memory) ends the listing
 * (list.c, "failures of this process").
 */
static int posix_list(struct shmap__list *l, unsigned flags)
{
    const char *dir = shmap__posix_dir();
    DIR *d = opendir(dir);
    if (!d)
        return posix_list_error(errno, dir);
    int rc = 0;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            if (errno)
                rc = posix_list_error(errno, dir);
            break;
        }
        if (!shmap__posix_listed(e->d_name))
            continue;
        if (e->d_type != DT_REG && e->d_type != DT_UNKNOWN)
            continue;
        shmap_entry *ent = shmap__list_add(l);
        if (!ent) {
            rc = shmap__process_error(-ENOMEM, "no room to list %s", e->d_name);
            break;
        }
        snprintf(ent->info.name, sizeof ent->info.name, "%s", e->d_name);
        snprintf(ent->info.os_handle, sizeof ent->info.os_handle, "/%s", e->d_name);
        ent->info.store = SHMAP_STORE_POSIX;
        struct shmap__obj obj = SHMAP__OBJ_INIT;
        obj.fd = shmap__fd_open_nonblock(dirfd(d), e->d_name, O_RDONLY | O_NOFOLLOW |
                                                                O_CLOEXEC);
        int oe = obj.fd < 0 ? errno : 0;
        if (shmap__process_failure(-oe)) {
            rc = shmap__process_error(-oe, "cannot open %s/%s to list it", dir, e->d_name);
            shmap__list_drop(l);
            break;
        }
        /* Gone since the directory was read (a name made again meanwhile is another
         * object, for the next listing): left out, not listed half. */
        if (obj.fd < 0 && oe == ENOENT) {
            shmap__list_drop(l);
            continue;
        }
        if (obj.fd < 0) {
            ent->status = shmap__err(-oe, "%s: %s", e->d_name, strerror(oe));
            if (fstatat(dirfd(d), e->d_name, &obj.st, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISREG(obj.st.st_mode)) {
                ent->info.size = (uint64_t)obj.st.st_size;
                ent->info.mode = obj.st.st_mode & 07777;
                ent->info.uid = obj.st.st_uid;
                ent->info.gid = obj.st.st_gid;
            } else {
                shmap__list_drop(l);
                continue;
            }
        } else {
            int se = fstat(obj.fd, &obj.st) < 0 ? errno : 0;
            if (se || !S_ISREG(obj.st.st_mode)) {
                close(obj.fd);
                shmap__list_drop(l);
                if (shmap__process_failure(-se)) {
                    rc = shmap__process_error(-se, "cannot stat %s/%s to list it", dir,
                                              e->d_name);
                    break;
                }
                continue;
            }
            int status = shmap__describe_entry(&shmap__posix_ops, &obj, l, e->d_name);
            close(obj.fd);
            if (shmap__process_failure(status)) {
                rc = status;
                shmap__list_drop(l);
                break;
            }
            ent = &l->v[l->n - 1]; /* describing may have moved the list */
            ent->status = status;
            /* A segment under a name no open nor delete takes (put there by another
             * tool: a control character in it) cannot be reached: listed as what it is
             * only among all objects, with why. */
            if (status == 0 && shmap_name_check(e->d_name, NULL) < 0) {
                /* The check's reason, without the name it starts with, quoted or not. */
                const char *why = shmap_last_error();
                size_t len = strlen(e->d_name);
                bool quoted = why[0] == '\'';
                if (strncmp(why + quoted, e->d_name, len) == 0 &&
                    strncmp(why + quoted + len, quoted ? "': " : ": ", 3 - !quoted) == 0)
                    why += quoted + len + 3 - !quoted;
                snprintf(ent->error, sizeof ent->error, "a segment, but %s", why);
                ent->status = SHMAP_EBADNAME;
            }
        }
        if (ent->status < 0 && !(flags & SHMAP_LIST_ALL))
            shmap__list_drop(l);
    }
    closedir(d);
    return rc;
}

static int posix_perm(const struct shmap__name *n, const struct shmap__perm_change *ch,
                      struct stat *st)
{
    char path[SHMAP_NAME_MAX + 16];
    if (!shmap__posix_path(path, sizeof path, n->os_handle))
        return shmap__err(SHMAP_EBADNAME, "%s: name too long", n->name);
    return shmap__path_perm(path, n->name, "segment", ch, st);
}

const struct shmap__store_ops shmap__posix_ops = {
    .store = SHMAP_STORE_POSIX,
    .destroys = true,
    .open = posix_open,
    .read = shmap__fd_read,
    .map = shmap__fd_map,
    .unmap = shmap__fd_unmap,
    .close = shmap__fd_close,
    .create = posix_create,
    .destroy = shmap__posix_destroy,
    .unlink = posix_unlink,
    .reveal = posix_reveal,
    .drop = posix_drop,
    .list = posix_list,
    .perm = posix_perm,
};
