/*
 * Linux: the mode and owner of a regular file, read and changed by name without following a
 * symbolic link there and without opening the file for reading or writing.
 *
 * Design note. open(O_PATH | O_NOFOLLOW) gives a descriptor for whatever is at the name: a
 * symbolic link itself rather than its target, a FIFO without waiting for a writer (nothing
 * is opened for I/O), a file this user may not read (its owner may still give a mode 0000
 * object a mode back, as chmod(2) allows). fstat says what it is, and anything but a
 * regular file is refused. The change then goes through that same descriptor, so it reaches
 * the object that was checked even if the name is replaced meanwhile: fchownat() takes the
 * descriptor with AT_EMPTY_PATH; fchmod() refuses O_PATH descriptors, so the mode goes
 * through /proc/self/fd/N, which names the open file itself and not a path to look up again.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "store.h"

static int open_error(int e, const char *who, const char *what)
{
    if (e == ENOENT)
        return shmap__err(-ENOENT, "%s: no such %s", who, what);
    if (e == EACCES)
        return shmap__err(-EACCES, "%s: permission denied to reach it (a directory on its "
                                   "path cannot be searched)", who);
    if (e == EMFILE || e == ENFILE)
        return shmap__err(-e, "%s: too many open files%s", who, shmap__fd_hint(e));
    return shmap__err(-e, "%s: %s", who, strerror(e));
}

static int change_error(int e, const char *who, const struct shmap__perm_change *ch,
                        const struct stat *st)
{
    if (e == EPERM)
        return shmap__perm_denied(who, ch, st->st_uid, false, 0);
    if (e == EROFS)
        return shmap__err(-EROFS, "%s: it is on a read-only file system", who);
    if (e == ENOENT) /* /proc/self/fd/N: the descriptor is open, so /proc is missing */
        return shmap__err(SHMAP_ESTORE, "%s: cannot change its mode without /proc (mount it)",
                          who);
    return shmap__err(-e, "%s: cannot change its %s: %s", who, ch->set_mode ? "mode" : "owner",
                      strerror(e));
}

int shmap__path_perm(const char *path, const char *who, const char *what,
                     const struct shmap__perm_change *ch, struct stat *st)
{
    int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return open_error(errno, who, what);
    struct shmap__obj obj = SHMAP__OBJ_INIT;
    int rc = shmap__fd_adopt(fd, who, &obj); /* closes fd when it is not a regular file */
    if (rc < 0)
        return rc;
    *st = obj.st;
    if (ch && ch->set_mode) {
        char self[64];
        snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
        if (chmod(self, (mode_t)ch->mode) < 0)
            rc = change_error(errno, who, ch, st);
    }
    if (rc == 0 && ch && (ch->uid != (uid_t)-1 || ch->gid != (gid_t)-1) &&
        fchownat(fd, "", ch->uid, ch->gid, AT_EMPTY_PATH) < 0)
        rc = change_error(errno, who, ch, st);
    if (rc == 0 && ch && fstat(fd, st) < 0)
        rc = shmap__err(-errno, "%s: fstat: %s", who, strerror(errno));
    close(fd);
    return rc;
}

/* The initial user namespace's inode (PROC_USER_INIT_INO in the kernel). */
#define INIT_USER_NS "user:[4026531837]"

/*
 * Does this process have capability `cap` (linux/capability.h) in its effective set, as the
 * kernel counts it for objects of the host: 1, 0, or -1 when that cannot be told. Outside
 * the initial user namespace a capability counts only for objects whose owners the
 * namespace maps (for IPC, only in the namespace that owns it), which is not looked into
 * here: -1. When the kernel will not say, only root is taken to have it.
 */
static int capable(int cap)
{
    char ns[64];
    ssize_t len = readlink("/proc/self/ns/user", ns, sizeof ns - 1);
    if (len > 0 && ((size_t)len != sizeof INIT_USER_NS - 1 ||
                    memcmp(ns, INIT_USER_NS, (size_t)len) != 0))
        return -1;
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
    if (syscall(SYS_capget, &h, d) != 0)
        return geteuid() == 0;
    return (d[cap / 32].effective >> (cap % 32)) & 1u;
}

int shmap__may_unlink(const struct stat *dir, bool dir_writable, const struct stat *obj)
{
    if (!dir_writable)
        return -EACCES;
    /* Names are judged by the file-system uid, which setfsuid() may have set apart from the
     * effective one (setfsuid(-1) changes nothing and says what it is). */
    uid_t me = (uid_t)setfsuid((uid_t)-1);
    if (!(dir->st_mode & S_ISVTX) || obj->st_uid == me || dir->st_uid == me ||
        capable(CAP_FOWNER) != 0)
        return 0;
    return -EPERM;
}

int shmap__may_rmid(uid_t uid, uid_t cuid)
{
    uid_t me = geteuid();
    return uid == me || cuid == me || capable(CAP_SYS_ADMIN) != 0 ? 0 : -EPERM;
}
