/*
 * Who may use a segment: shmap_chmod(), shmap_chown() and shmap_perm_get().
 *
 * Design note. These act on the object a name picks, whatever it holds: a described
 * segment, a foreign object, a plain file, a damaged segment. Nothing is read from the
 * object, so nothing in it needs to be trusted, and no read access is needed: the owner of
 * a mode 0000 segment can give it a mode back. Each store makes the change (store.h,
 * `perm`): POSIX objects and files through a descriptor that neither follows a symbolic
 * link at the name nor opens the object for I/O (linux/perm.c), so a FIFO or a link put
 * under the name is refused, never opened or followed; System V segments through
 * shmctl(IPC_SET). The kernel decides who may: the owner or root (for System V, the
 * creator too), and a refusal says so.
 *
 * Mappings are not touched: the mode decides who may open the object from now on. This
 * process's mappings of the object take the new mode and owner (segment.c), so
 * shmap_info_get() on its handles shows the change at once; other processes see it when
 * they next open the object, by name or through a handle of theirs.
 */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "store.h"

const char *shmap__who_may(char *buf, size_t size, uid_t owner, bool sysv, uid_t cuid)
{
    if (sysv && cuid != owner)
        snprintf(buf, size, "its owner (uid %u), its creator (uid %u) or root",
                 (unsigned)owner, (unsigned)cuid);
    else
        snprintf(buf, size, "its owner (uid %u) or root", (unsigned)owner);
    return buf;
}

int shmap__perm_denied(const char *who, const struct shmap__perm_change *ch, uid_t owner,
                       bool sysv, uid_t cuid)
{
    char may[SHMAP__WHO_MAY_MAX];
    shmap__who_may(may, sizeof may, owner, sysv, cuid);
    if (ch->set_mode)
        return shmap__err(-EPERM, "%s: permission denied: only %s may change its mode", who,
                          may);
    /* A System V segment's owner may give it to anyone; a file's needs root for that. */
    if (sysv)
        return shmap__err(-EPERM, "%s: permission denied: only %s may change its owner", who,
                          may);
    if (ch->uid != (uid_t)-1 && ch->uid != owner)
        return shmap__err(-EPERM, "%s: permission denied: only root may give it to another "
                                  "user (it belongs to uid %u)", who, (unsigned)owner);
    if (geteuid() == owner)
        return shmap__err(-EPERM, "%s: permission denied: its owner may give it only to a "
                                  "group the owner is in, and gid %u is not one (root may "
                                  "give it to any group)", who, (unsigned)ch->gid);
    return shmap__err(-EPERM, "%s: permission denied: only %s may change its group", who, may);
}

/*
 * Only permission bits are taken, by chmod and create alike: a set-user-id, set-group-id or
 * sticky bit on shared memory or a data file means nothing useful, and a caller asking for
 * one (04777 for 0777) is told rather than given a mode it did not mean.
 */
int shmap__mode_check(const char *who, unsigned mode)
{
    if (mode <= 0777)
        return 0;
    if (mode & ~07777u)
        return shmap__err(SHMAP_EINVAL, "%s: 0%o is not a mode: give permission bits, 0 to 0777",
                          who, mode);
    return shmap__err(SHMAP_EINVAL, "%s: mode 0%o: the set-user-id, set-group-id and sticky "
                                    "bits cannot be set; give permission bits, 0 to 0777", who,
                      mode);
}

/* Read, and with `ch` change, the mode and owner of the object under `name`. */
static int perm_apply(const char *name, const struct shmap__perm_change *ch, struct stat *st)
{
    struct shmap__name n;
    int rc = shmap__name_parse(name, &n);
    if (rc < 0)
        return rc;
    if (ch && ch->set_mode && (rc = shmap__mode_check(n.name, ch->mode)) < 0)
        return rc;
    const struct shmap__store_ops *ops = shmap__store_ops(n.store);
    if (!ops->perm)
        return shmap__err(SHMAP_ESTORE, "%s: a memfd segment has no name to reach it by: use "
                                        "fchmod(2) or fchown(2) on its descriptor (shmap_fd())",
                          n.name);
    rc = ops->perm(&n, ch, st);
    if (rc == 0 && ch)
        shmap__registry_perm(st);
    return rc;
}

int shmap_chmod(const char *name, unsigned int mode)
{
    struct shmap__perm_change ch = {true, mode, (uid_t)-1, (gid_t)-1};
    struct stat st;
    return perm_apply(name, &ch, &st);
}

int shmap_chown(const char *name, uid_t uid, gid_t gid)
{
    struct shmap__perm_change ch = {false, 0, uid, gid};
    struct stat st;
    /* Nothing to change: as chown(2), only say whether the object is there. */
    return perm_apply(name, uid == (uid_t)-1 && gid == (gid_t)-1 ? NULL : &ch, &st);
}

int shmap_perm_get(const char *name, unsigned int *mode, uid_t *uid, gid_t *gid)
{
    struct stat st;
    int rc = perm_apply(name, NULL, &st);
    if (rc < 0)
        return rc;
    if (mode)
        *mode = (unsigned)st.st_mode & 07777u;
    if (uid)
        *uid = st.st_uid;
    if (gid)
        *gid = st.st_gid;
    return 0;
}
