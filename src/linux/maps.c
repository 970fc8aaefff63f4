/*
 * Linux: does any process use an object? Used by shmap_gc() before it removes a transient
 * segment, to see read-only attachers, which stay out of the attach table.
 *
 * Design note. The kernel knows: it refuses a write lease (F_SETLEASE) on a file that any
 * other open file description refers to, and a mapping keeps its file open after the
 * descriptor is closed. So a lease that is granted proves nobody uses the object, in any
 * pid namespace, and one refused with EAGAIN that somebody does. Only the owner (or a
 * process with CAP_LEASE) may take one; the lease is given back at once. An opener that
 * comes in between waits those few microseconds and makes the kernel signal the holder:
 * F_SETSIG picks SIGURG, ignored unless handled, not SIGIO, which would kill the process.
 *
 * Without a lease, /proc is read. Each /proc/PID/maps line names the device
 * ("major:minor", hex) and inode of a mapped file. The kernel lets a process read another's
 * maps only when it could ptrace it: its own user's dumpable processes, or any process with
 * CAP_SYS_PTRACE and, for a process with more capabilities, all of them.
 *
 * A process whose maps cannot be read is not taken as mapping nothing: that
 * let a gc run by one user remove a segment another user's reader was using. It may map
 * the object if it could have opened it, and its credentials tell that: /proc/PID/status
 * is readable by all. Each of its user and group ids counts (real, effective, saved and
 * filesystem: permission checks use the filesystem ones, and a process may switch to any
 * of the others), as do its supplementary groups and the capabilities that get past file
 * permissions. The object's owner counts whatever the mode says, since it may chmod it.
 * This is conservative on purpose: root's processes can open anything, so for a user who
 * neither owns the object nor is root, a transient segment that nobody visibly maps is kept
 * whenever a root process runs, which is nearly always.
 *
 * /proc may also hide other users' processes altogether (mounted with hidepid=2): then the
 * pid 1 that every pid namespace has is missing from it, and nothing can be ruled out.
 *
 * A /proc file that this process cannot open for want of descriptors or memory says
 * nothing of the process it describes (FAILED): the search stops there and says why, where
 * taking it for a hidden process would keep the segment with a wrong reason ("this user
 * cannot read its mappings") and name a process that has nothing to do with it.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "internal.h"

/* What /proc says of one process; FAILED: nothing, for want of descriptors or memory. */
enum verdict { GONE, NO, YES, UNREADABLE, FAILED };

/* Capabilities that get past file permissions or change them: CAP_CHOWN, CAP_DAC_OVERRIDE,
 * CAP_DAC_READ_SEARCH and CAP_FOWNER, bits 0 to 3 (linux/capability.h). */
#define FILE_CAPS 0xfull

/* A failed open or read of a /proc file: the process has exited, or it is hidden from us,
 * or this process is out of descriptors or memory (FAILED, with the code in *err). */
static enum verdict failed(int e, int *err)
{
    if (shmap__process_failure(-e)) {
        *err = -e;
        return FAILED;
    }
    return e == ENOENT || e == ESRCH ? GONE : UNREADABLE;
}

/* Open /proc/PID/<what> for reading, relative to the /proc directory `proc`. */
static FILE *proc_open(int proc, const char *pid, const char *what, enum verdict *v, int *err)
{
    char path[64];
    snprintf(path, sizeof path, "%s/%s", pid, what);
    int fd = openat(proc, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *v = failed(errno, err);
        return NULL;
    }
    FILE *f = fdopen(fd, "r");
    if (!f) {
        int e = errno;
        close(fd);
        *v = failed(e, err) == FAILED ? FAILED : UNREADABLE;
    }
    return f;
}

/* What a maps line must name: a file's device and inode, or a System V segment's id. */
struct target {
    dev_t dev;
    ino_t ino;
    bool sysv; /* match "/SYSV<key>" mappings whose inode is the id `ino` */
};

static bool line_names(const char *line, const struct target *t, bool *shared_rw)
{
    char perms[8];
    unsigned maj, min;
    unsigned long long inode;
    int path = 0;
    if (sscanf(line, "%*s %7s %*s %x:%x %llu %n", perms, &maj, &min, &inode, &path) < 4 ||
        inode != (unsigned long long)t->ino)
        return false;
    if (t->sysv ? strncmp(line + path, "/SYSV", 5) != 0
                : maj != major(t->dev) || min != minor(t->dev))
        return false;
    *shared_rw = perms[1] == 'w' && perms[3] == 's';
    return true;
}

/*
 * Does process `pid` map the target? YES, NO, GONE, UNREADABLE (EACCES/EPERM: not ours), or
 * FAILED (*err). With `writable`, read on after a match for a shared writable mapping of
 * it, and say whether there is one.
 */
static enum verdict maps_has(int proc, const char *pid, const struct target *t, bool *writable,
                             int *err)
{
    char line[512];
    enum verdict v = NO;
    bool rw = false;
    FILE *f = proc_open(proc, pid, "maps", &v, err);
    if (!f)
        return v;
    errno = 0;
    while (!rw && (v == NO || writable) && fgets(line, sizeof line, f)) {
        bool line_rw;
        if (line_names(line, t, &line_rw)) {
            v = YES;
            rw = line_rw;
        }
        /* A line longer than the buffer: skip the rest of it. */
        while (!strchr(line, '\n') && fgets(line, sizeof line, f))
            ;
    }
    /* Older kernels refuse at the first read rather than at open. */
    if (v == NO && ferror(f))
        v = failed(errno, err);
    fclose(f);
    if (writable)
        *writable = rw;
    return v;
}

/* Is `id` one of the object's owner (`owner` true) or, when the group may read, its group? */
static bool id_opens(unsigned long id, const struct stat *st, bool owner)
{
    if (owner)
        return id == 0 || id == (unsigned long)st->st_uid;
    return (st->st_mode & S_IRGRP) && id == (unsigned long)st->st_gid;
}

/*
 * Could process `pid` have opened the object, as its /proc/PID/status says? YES, NO or
 * GONE; its effective uid in *euid, (uid_t)-1 when the status does not say. A status that
 * cannot be read or understood counts as YES; one this process cannot open for want of
 * descriptors or memory is FAILED (*err).
 */
static enum verdict could_open(int proc, const char *pid, const struct stat *st, uid_t *euid,
                               int *err)
{
    *euid = (uid_t)-1;
    enum verdict v = NO;
    FILE *f = proc_open(proc, pid, "status", &v, err);
    if (!f)
        return v == GONE || v == FAILED ? v : YES;
    char *line = NULL;
    size_t cap = 0;
    bool could = (st->st_mode & S_IROTH) != 0, uids = false, gids = false;
    errno = 0;
    /* Read on for the uid, which the caller reports, even once the answer is known. */
    while (!(could && uids) && getline(&line, &cap, f) > 0) {
        unsigned long id[4];
        unsigned long long caps;
        if (sscanf(line, "Uid: %lu %lu %lu %lu", &id[0], &id[1], &id[2], &id[3]) == 4) {
            uids = true;
            *euid = (uid_t)id[1];
            for (int i = 0; i < 4; i++)
                could |= id_opens(id[i], st, true);
        } else if (sscanf(line, "Gid: %lu %lu %lu %lu", &id[0], &id[1], &id[2], &id[3]) == 4) {
            gids = true;
            for (int i = 0; i < 4; i++)
                could |= id_opens(id[i], st, false);
        } else if (strncmp(line, "Groups:", 7) == 0) {
            for (char *p = line + 7, *end;; p = end) {
                unsigned long g = strtoul(p, &end, 10);
                if (end == p)
                    break;
                could |= id_opens(g, st, false);
            }
        } else if (sscanf(line, "CapPrm: %llx", &caps) == 1 ||
                   sscanf(line, "CapEff: %llx", &caps) == 1) {
            could |= (caps & FILE_CAPS) != 0;
        }
    }
    enum verdict end = ferror(f) ? failed(errno, err) : NO;
    if (end == GONE || end == FAILED)
        v = end;
    else
        v = could || !uids || !gids ? YES : NO;
    free(line);
    fclose(f);
    return v;
}

/* Is the object open anywhere else? MAPPED, NOT_MAPPED, or MAYBE_MAPPED when no lease. */
static enum shmap__mapped lease_probe(int fd)
{
    if (fd < 0 || fcntl(fd, F_SETSIG, SIGURG) < 0)
        return SHMAP__MAYBE_MAPPED;
    if (fcntl(fd, F_SETLEASE, F_WRLCK) == 0) {
        fcntl(fd, F_SETLEASE, F_UNLCK);
        return SHMAP__NOT_MAPPED;
    }
    /* EACCES: not ours; EINVAL: leases disabled (fs.leases-enable) or unsupported. */
    return errno == EAGAIN ? SHMAP__MAPPED : SHMAP__MAYBE_MAPPED;
}

bool shmap__users_visible(int fd, char *why, size_t size)
{
    struct statfs fs;
    if (fstatfs(fd, &fs) < 0) {
        snprintf(why, size, "its file system cannot be asked what it is (%s)", strerror(errno));
        return false;
    }
    switch ((unsigned long)fs.f_type) {
    case TMPFS_MAGIC:
    case EXT4_SUPER_MAGIC: /* ext2, ext3 and ext4 alike */
    case XFS_SUPER_MAGIC:
    case BTRFS_SUPER_MAGIC:
    case HUGETLBFS_MAGIC:
        return true;
    case OVERLAYFS_SUPER_MAGIC:
        snprintf(why, size, "it is on overlayfs, where a mapping holds the file below: "
                            "neither a lease nor /proc shows who maps it");
        return false;
    default:
        snprintf(why, size, "it is on a file system (type 0x%lx) where who maps a file is "
                            "not known to show", (unsigned long)fs.f_type);
        return false;
    }
}

enum shmap__mapped shmap__mapped_by_any(int fd, const struct stat *st,
                                        struct shmap__unseen *why)
{
    memset(why, 0, sizeof *why);
    why->uid = (uid_t)-1;
    enum shmap__mapped known = lease_probe(fd);
    if (known != SHMAP__MAYBE_MAPPED)
        return known;
    DIR *d = opendir("/proc");
    if (!d) {
        failed(errno, &why->error);
        why->reason = "/proc cannot be read";
        return SHMAP__MAYBE_MAPPED;
    }
    const struct target t = {st->st_dev, st->st_ino, false};
    bool mapped = false, unseen = false, init = false;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            if (errno) {
                failed(errno, &why->error);
                why->reason = "/proc cannot be read";
            }
            break;
        }
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        init |= strcmp(e->d_name, "1") == 0;
        enum verdict v = maps_has(dirfd(d), e->d_name, &t, NULL, &why->error);
        if (v == YES) {
            mapped = true;
            break;
        }
        uid_t uid;
        if (v == UNREADABLE)
            v = could_open(dirfd(d), e->d_name, st, &uid, &why->error);
        if (v == FAILED) {
            why->reason = "/proc cannot be read";
            break;
        }
        if (v != YES)
            continue;
        if (!unseen) {
            why->pid = (pid_t)atoi(e->d_name);
            why->uid = uid;
            why->one_uid = true;
            unseen = true;
        } else {
            why->others++;
            why->one_uid &= uid == why->uid;
        }
    }
    closedir(d);
    if (mapped)
        return SHMAP__MAPPED;
    if (unseen || why->reason)
        return SHMAP__MAYBE_MAPPED;
    if (!init) {
        why->reason = "/proc hides other users' processes (mounted with hidepid)";
        return SHMAP__MAYBE_MAPPED;
    }
    return SHMAP__NOT_MAPPED;
}

int shmap__mappers_scan(const struct stat *st, bool sysv, pid_t self, shmap_mapper **out,
                        int *unseen)
{
    *out = NULL;
    *unseen = 0;
    DIR *d = opendir("/proc");
    if (!d)
        return -errno;
    const struct target t = {st->st_dev, st->st_ino, sysv};
    shmap_mapper *list = NULL;
    int n = 0, cap = 0, rc = 0;
    bool init = false;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            rc = -errno;
            break;
        }
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        init |= strcmp(e->d_name, "1") == 0;
        pid_t pid = (pid_t)atoi(e->d_name);
        bool writable;
        uid_t uid;
        int err = 0;
        enum verdict v = pid == self ? NO : maps_has(dirfd(d), e->d_name, &t, &writable, &err);
        if (v == UNREADABLE) {
            v = could_open(dirfd(d), e->d_name, st, &uid, &err);
            *unseen += v == YES;
            if (v != FAILED)
                continue;
        }
        /* Out of descriptors or memory: the count would be wrong, and nothing says so. */
        if (v == FAILED) {
            rc = err;
            break;
        }
        uint64_t start;
        if (v != YES || (start = shmap__proc_start(pid)) == 0) /* 0: it has just exited */
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            shmap_mapper *grown = realloc(list, (size_t)cap * sizeof *list);
            if (!grown) {
                rc = -ENOMEM;
                break;
            }
            list = grown;
        }
        list[n++] = (shmap_mapper){.pid = pid, .start = start, .writable = writable};
    }
    closedir(d);
    if (rc < 0) {
        free(list);
        return rc;
    }
    if (!init)
        *unseen = -1;
    *out = list;
    return n;
}
