/*
 * Linux: publishing a POSIX segment under its name once it is complete.
 *
 * glibc keeps POSIX shared-memory objects as files in /dev/shm, so a segment built under a
 * hidden name can be renamed into place. renameat2(RENAME_NOREPLACE) does it atomically and
 * fails if the name exists, which gives exclusive creation; a plain rename() replaces an
 * existing segment atomically. Either way no process ever sees the name on a partial object.
 * (FreeBSD would use shm_rename(2) with SHM_RENAME_NOREPLACE here.)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static const char posix_dir[] = "/dev/shm";

const char *shmap__posix_dir(void)
{
    return posix_dir;
}

/* Without printf: every create and attach builds paths, and snprintf costs a microsecond. */
bool shmap__posix_path(char *buf, size_t size, const char *handle)
{
    size_t hlen = strlen(handle);
    if (sizeof posix_dir + hlen > size)
        return false;
    memcpy(buf, posix_dir, sizeof posix_dir - 1);
    memcpy(buf + sizeof posix_dir - 1, handle, hlen + 1);
    return true;
}

int shmap__posix_publish(const char *tmp, const char *name, bool replace, const char *who)
{
    char from[SHMAP_NAME_MAX + 16], to[SHMAP_NAME_MAX + 16];
    if (!shmap__posix_path(from, sizeof from, tmp) || !shmap__posix_path(to, sizeof to, name))
        return shmap__err(SHMAP_EBADNAME, "%s: name too long", who);
    int rc = replace ? rename(from, to)
                     : renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE);
    if (rc == 0)
        return 0;
    int e = errno;
    if (e == EEXIST)
        return shmap__err(-EEXIST, "%s: a segment of that name exists", who);
    if (e == EISDIR || e == ENOTDIR)
        return shmap__err(-e, "%s: the name is taken by a directory in %s", who,
                          shmap__posix_dir());
    return shmap__err(-e, "%s: cannot put the new segment in place: %s", who, strerror(e));
}
