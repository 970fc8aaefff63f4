/*
 * shmap_delete(): CFITSIO's deletion, which waits for the segment's users.
 *
 * Design note. Deleting takes the exclusive lock through a read-write handle, so it waits
 * exactly as a writer would: for the holder of the exclusive lock and for every shared
 * hold (hold-while-open readers included), and new readers queue behind it. Once it holds
 * the lock the name is removed, if it still names the object we locked: a segment put
 * under the name meanwhile is someone else's, so we start again with it. Releasing the
 * lock then lets waiting processes go on with their mappings of the now nameless object,
 * which the kernel frees when the last of them unmaps it.
 *
 * The handle is a read-write mapping of the header page alone, made for the call outside
 * the registry (shmap__open_unregistered()) and unmapped before we return: the lock, the
 * attach table and the word waiters sleep on are all in that page. So a segment larger
 * than this process's address space limit (ulimit -v) is deleted as any other, and this
 * process's own mappings of it are left exactly as they were: an unmap-pending one (an
 * array still views a segment it closed), which refuses new references, included. Attach
 * slots are per mapping (lock.c), so it takes a slot of its own at the lock and frees it
 * at close, and it waits as any writer does: for every holder, in other processes or in
 * this one (a lock held through another handle must be released first, as always).
 *
 * Foreign objects are refused: we cannot know how their owners lock them. FORCE is the old
 * immediate unlink, for them and for segments whose users cannot be waited for.
 *
 * LOCKED deletes under a hold the caller already has: the same checks and the same
 * removal, without taking the lock. The hold must be this process's, or an ancestor's
 * (`shmap lock --write` running its command): under a stranger's exclusive lock, or none,
 * the call fails with -ENOLCK and deletes nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "store.h"

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/*
 * Did the name `name` stop naming the object behind `seg`: -ENOENT removed, 1 replaced, 0
 * not. When it did not, `obj` keeps the object open (the caller closes it): after the
 * removal, its link count tells whether that was the object's last name. The name is the
 * one the caller gave, not the mapping's: this process may map the object already, under
 * another of its names (a hard link), and the handle then shares that mapping.
 */
static int name_moved(const shmap_seg *seg, const struct shmap__name *name,
                      struct shmap__obj *obj)
{
    const struct shmap__map *m = seg->map;
    struct shmap__name n = *name;
    int rc = m->ops->open(&n, SHMAP__ACC_RDONLY, obj);
    if (rc < 0)
        return rc == -ENOENT ? -ENOENT : 0; /* cannot tell: the destroy below checks again */
    /* A System V segment named by its id keeps it when it is removed: marked, not gone. */
    int moved = obj->deleted ? -ENOENT : obj->st.st_dev != m->dev || obj->st.st_ino != m->ino;
    if (moved)
        m->ops->close(obj);
    return moved;
}

/*
 * Has the object, its name just removed, no name left? A file or POSIX object may have
 * other hard links, through which it lives on: its waiters must not be told it was deleted.
 * A System V segment has one key. When it cannot be told (the object could not be opened),
 * yes, as before links were looked at.
 */
static bool nameless(const struct shmap__obj *obj)
{
    struct stat st;
    if (obj->fd < 0 || fstat(obj->fd, &st) < 0)
        return true;
    return st.st_nlink == 0;
}

/* Remove the name `n` of the object we hold locked (see name_moved()). */
static int remove_name(const shmap_seg *seg, const struct shmap__name *n)
{
    const struct shmap__map *m = seg->map;
    if (m->ops->destroy)
        return m->ops->destroy(n, m->dev, m->ino);
    if (m->ops->unlink)
        return m->ops->unlink(n);
    return shmap__err(SHMAP_EINVAL, "%s: a %s segment has no name to delete", n->name,
                      shmap_store_name(n->store));
}


int shmap__may_remove(const struct shmap__name *n, const char *doing)
{
    if (n->store == SHMAP_STORE_MEMFD)
        return 0;
    if (n->store == SHMAP_STORE_SYSV)
        return shmap__sysv_removal_denied(n);
    char path[SHMAP_NAME_MAX + 16], dir[sizeof path];
    snprintf(path, sizeof path, "%s%s", n->store == SHMAP_STORE_POSIX ? "/dev/shm" : "",
             n->os_handle);
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        return 0;
    slash[slash == dir] = '\0'; /* "/x" has the directory "/" */
    struct stat obj, d;
    if (lstat(path, &obj) < 0 || stat(dir, &d) < 0)
        return 0;
    /* A read-only file system is nobody's to write, whoever they are: the removal says so
     * (EROFS, which the kernel gives before it looks at the sticky bit). */
    bool writable = faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) == 0;
    if (!writable && errno == EROFS)
        return 0;
    int rc = shmap__may_unlink(&d, writable, &obj);
    if (rc == -EACCES)
        return shmap__err(rc, "%s: permission denied to %s: this user may not write its "
                              "directory, %s", n->name, doing, dir);
    if (rc < 0)
        return shmap__err(rc, "%s: permission denied to %s: only its owner (uid %u) or root "
                              "may, %s being a sticky directory", n->name, doing,
                          (unsigned)obj.st_uid, dir);
    return 0;
}

/*
 * Does this process hold the segment's lock, through any handle? Then waiting is waiting
 * for itself: another thread may let go, but when none will (see shmap_delete()) the call
 * would hang until its timeout, for ever by default, so the caller is told at once.
 */
static bool held_here(const shmap_seg *seg, char *how, size_t size)
{
    shmap_attacher att[128];
    int n = shmap_attached(seg, att, sizeof att / sizeof att[0]);
    for (int i = 0; i < n && i < (int)(sizeof att / sizeof att[0]); i++) {
        if (!shmap__attacher_is_me(&att[i]) || (!att[i].writer && !att[i].shared))
            continue;
        if (att[i].writer)
            snprintf(how, size, "the exclusive lock");
        else
            snprintf(how, size, "%u shared %s", att[i].shared,
                     att[i].shared == 1 ? "hold" : "holds");
        return true;
    }
    return false;
}

/* Is the exclusive lock held (not merely claimed) by a live ancestor of this process, in our
 * pid namespace? Such a holder runs us under its hold, and will not let go for us. */
static bool ancestor_holds(const shmap_lockinfo *li)
{
    return li->writer > 0 && li->writer_alive && !li->writer_waiting &&
           !li->writer_other_pidns && shmap__is_ancestor(li->writer);
}

/*
 * #SHMAP_DELETE_LOCKED: does this process, or one of its ancestors, hold the exclusive lock?
 * 0 if so, else -ENOLCK saying who holds what. Any ancestor counts as acting for us (`shmap
 * lock --write -- COMMAND` is the usual one); any other holder is not ours to remove the
 * name under.
 */
static int held_for_us(const shmap_seg *seg, const char *name)
{
    shmap_lockinfo li;
    int rc = shmap_lock_info(seg, &li);
    if (rc < 0)
        return rc;
    if (li.writer <= 0)
        return shmap__err(-ENOLCK, "%s: nobody holds its exclusive lock, which a delete under "
                                   "the lock needs: take it first", name);
    if (li.writer_waiting)
        return shmap__err(-ENOLCK, "%s: pid %d still waits for its exclusive lock (readers "
                                   "hold it): a delete under the lock needs it held", name,
                          (int)li.writer);
    if (!li.writer_alive)
        return shmap__err(-ENOLCK, "%s: the holder of its exclusive lock, pid %d, has died: "
                                   "a delete under the lock needs a live holder", name,
                          (int)li.writer);
    if (li.writer_other_pidns || (li.writer != shmap__getpid() &&
                                  !shmap__is_ancestor(li.writer)))
        return shmap__err(-ENOLCK, "%s: its exclusive lock is held by pid %d%s, neither this "
                                   "process nor one of its ancestors: a delete under the lock "
                                   "needs it held by one of them (a plain delete waits for "
                                   "that holder)", name,
                          (int)li.writer, li.writer_other_pidns ? " (another pid namespace)" : "");
    return 0;
}

/* The hint for a user who may not take the lock: what force would do for them. */
static const char force_way[] = "delete with force to remove it without the lock";

static const char *force_hint(const struct shmap__name *n)
{
    return shmap__may_remove(n, "remove it") == 0
               ? force_way
               : "nor may it remove it without the lock: this user may not remove the name";
}

/* How long the open waits for a creator still writing the header: within the timeout
 * (not at all with 0), as long as any open waits without one. */
static int64_t creator_wait_ns(double timeout_s, double deadline)
{
    double left = timeout_s > 0 ? deadline - mono_s() : timeout_s;
    if (timeout_s < 0 || left * 1e9 >= (double)SHMAP__CREATOR_WAIT_NS)
        return SHMAP__CREATOR_WAIT_NS;
    return left > 0 ? (int64_t)(left * 1e9) : 0;
}

/*
 * Under the exclusive lock (ours, or held for us): remove the name if it still names the
 * object `seg` maps, then close `seg` (releasing the lock first if we took it). 0 when
 * removed, the error, or 1 when the name now holds another object.
 */
static int remove_if_same(shmap_seg *seg, const struct shmap__name *n, bool unlock)
{
    struct shmap__obj obj = SHMAP__OBJ_INIT;
    int rc = 0, moved = name_moved(seg, n, &obj);
    /* Waiters learn of the removal now, on any store, once the object has no name left:
     * removing one of its hard links leaves it reachable, and in use. */
    if (moved == 0 && (rc = remove_name(seg, n)) == 0 && nameless(&obj))
        shmap__notify_removed((struct shmap__header *)seg->map->lock_base);
    if (moved == 0)
        seg->map->ops->close(&obj);
    if (unlock)
        shmap_unlock(seg);
    shmap_close(seg);
    if (moved < 0)
        return shmap__err(-ENOENT, "%s: removed by another process meanwhile", n->name);
    return moved == 0 ? rc : 1;
}

int shmap_delete(const char *name, double timeout_s, unsigned int flags)
{
    if (flags & ~(unsigned)(SHMAP_DELETE_FORCE | SHMAP_DELETE_NOT_MINE | SHMAP_DELETE_LOCKED))
        return shmap__err(SHMAP_EINVAL, "shmap_delete: unknown flags 0x%x", flags);
    if (isnan(timeout_s))
        return shmap__err(SHMAP_EINVAL, "shmap_delete: timeout is not a number");
    struct shmap__name n;
    int rc = shmap__name_parse(name, &n);
    if (rc < 0)
        return rc;
    if (flags & SHMAP_DELETE_FORCE)
        return shmap_unlink(name);
    bool locked = flags & SHMAP_DELETE_LOCKED;
    /* A link would be removed in the segment's stead (the store refuses it again once the
     * lock is held, should a link be put there meanwhile). */
    if (n.store == SHMAP_STORE_FILE && (rc = shmap__file_symlink(&n)) < 0)
        return rc;

    double deadline = timeout_s > 0 ? mono_s() + timeout_s : 0;
    for (;;) {
        shmap_seg *seg = NULL;
        rc = shmap__open_unregistered(&seg, &n, SHMAP__ACC_RDWR,
                                      creator_wait_ns(timeout_s, deadline));
        if (rc == SHMAP_EFORMAT)
            return shmap__err(rc, "%s: not a shmap segment: refusing to delete it (delete "
                                  "with force to remove it anyway)", n.name);
        if (rc == -EACCES || rc == -EPERM)
            return shmap__err(rc, "%s: this user may not open it read-write to take its "
                                  "lock (%s)", n.name, force_hint(&n));
        /* Only its header page is mapped to take the lock, but a System V segment is
         * attached whole: one too large for this process's address space needs force. */
        if (rc == -ENOMEM && n.store == SHMAP_STORE_SYSV) {
            char was[SHMAP__ERR_SIZE];
            shmap__err_keep(was);
            int denied = shmap__may_remove(&n, "remove it");
            if (denied < 0)
                return denied; /* who may, as below */
            return shmap__err(rc, "%s; a System V segment is attached whole to take its "
                                  "lock (%s)", was, force_way);
        }
        if (rc < 0)
            return rc;
        /* One who may write the segment but not remove its name would wait for its users,
         * keeping new readers out meanwhile, only to fail: told at once. */
        if ((rc = shmap__may_remove(&n, "remove it")) < 0) {
            shmap_close(seg);
            /* As force says it: glibc's shm_unlink() gives EACCES for the kernel's EPERM. */
            return n.store == SHMAP_STORE_POSIX && rc == -EPERM ? -EACCES : rc;
        }
        if (locked) {
            if ((rc = held_for_us(seg, n.name)) < 0) {
                shmap_close(seg);
                return rc;
            }
            if ((rc = remove_if_same(seg, &n, false)) <= 0)
                return rc;
            continue; /* replaced since we opened it: check the new one's lock */
        }
        char how[64];
        bool alone = (flags & SHMAP_DELETE_NOT_MINE) || shmap__self_threads() == 1;
        if (alone && held_here(seg, how, sizeof how)) {
            shmap_close(seg);
            return shmap__err(-EDEADLK, "%s: this process holds %s on it (a handle's lock, or "
                                        "a handle opened to hold it), and no other thread will "
                                        "let go: release or close that first, or delete with "
                                        "force", n.name, how);
        }
        double left = timeout_s;
        if (timeout_s > 0 && (left = deadline - mono_s()) <= 0)
            left = 1e-9; /* spent: one more try, which times out */
        /* Quiet: a delete writes nothing, so one killed holding the lock leaves no news of
         * a writer's death, and a death it finds stays the next writer's to hear of. */
        rc = shmap__lock_quiet(seg, left);
        if (rc == -EBUSY || rc == -ETIMEDOUT) {
            char who[512];
            shmap_lock_holders(seg, who, sizeof who);
            shmap_lockinfo li;
            const char *hint = shmap_lock_info(seg, &li) == 0 && ancestor_holds(&li)
                                   ? " (an ancestor of this process: to delete under its "
                                     "hold, pass SHMAP_DELETE_LOCKED)"
                                   : "";
            shmap_close(seg);
            if (rc == -EBUSY)
                return shmap__err(rc, "%s: in use: %s%s", n.name, who, hint);
            return shmap__err(rc, "%s: timed out after %g s waiting for exclusive access: %s%s",
                              n.name, timeout_s, who, hint);
        }
        if (rc < 0) {
            shmap_close(seg);
            return rc;
        }
        rc = remove_if_same(seg, &n, true);
        if (rc <= 0)
            return rc;
        /* Replaced while we waited: the new segment is the one to delete now. */
    }
}
