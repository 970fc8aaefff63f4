/*
 * Describing segments without mapping them: shmap_stat() and the system-wide listing.
 *
 * A header is read with pread into a local copy and checked there, so a segment that
 * changes or shrinks while we look cannot hurt us, and listing thousands of segments costs
 * an open, an fstat and two or three preads each, with no mmap.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

static void stat_fields(shmap_info *info, const struct stat *st)
{
    info->size = (uint64_t)st->st_size;
    info->mode = st->st_mode & 07777;
    info->uid = st->st_uid;
    info->gid = st->st_gid;
}

int shmap__describe_fd(int fd, const struct stat *st, shmap_info *info, const char *who)
{
    struct shmap__header h;
    stat_fields(info, st);
    ssize_t got = pread(fd, &h, sizeof h, 0);
    if (got < 0)
        return shmap__err(-errno, "%s: read: %s", who, strerror(errno));
    int rc = shmap__header_check(&h, (size_t)got, (uint64_t)st->st_size, who);
    if (rc < 0)
        return rc;
    size_t kwbytes = (size_t)h.kw_capacity * sizeof(struct shmap__kwslot);
    struct shmap__kwslot *slots = malloc(kwbytes + 1);
    char rec[SHMAP_RECORD_FIELDS_MAX] = "";
    if (!slots)
        return shmap__err(-ENOMEM, "%s: out of memory", who);
    if (pread(fd, slots, kwbytes, (off_t)h.kw_offset) != (ssize_t)kwbytes ||
        (h.rec_len && pread(fd, rec, h.rec_len, (off_t)h.rec_offset) != (ssize_t)h.rec_len)) {
        free(slots);
        return shmap__err(SHMAP_ETRUNCATED, "%s: keyword area cannot be read", who);
    }
    if (h.rec_len && (rc = shmap__record_check(rec, h.rec_len, h.elsize, who)) < 0) {
        free(slots);
        return rc;
    }
    shmap__info_fill(info, &h, slots, h.rec_len ? rec : NULL);
    free(slots);
    return 0;
}

int shmap_stat(const char *name, shmap_info *out)
{
    if (!out)
        return shmap__err(SHMAP_EINVAL, "shmap_stat: NULL output");
    struct shmap__name n;
    int rc = shmap__name_parse(name, &n);
    if (rc < 0)
        return rc;
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", n.name);
    snprintf(out->os_handle, sizeof out->os_handle, "%s", n.os_handle);
    out->store = n.store;
    int fd = shmap__posix_open(&n, false);
    if (fd < 0)
        return fd;
    struct stat st;
    if (fstat(fd, &st) < 0)
        rc = shmap__err(-errno, "%s: fstat: %s", n.name, strerror(errno));
    else
        rc = shmap__describe_fd(fd, &st, out, n.name);
    close(fd);
    return rc;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const shmap_entry *)a)->info.name, ((const shmap_entry *)b)->info.name);
}

int shmap_list(shmap_entry **out, size_t *count, unsigned int flags)
{
    if (!out || !count)
        return shmap__err(SHMAP_EINVAL, "shmap_list: NULL argument");
    *out = NULL;
    *count = 0;
    const char *dir = shmap__posix_dir();
    DIR *d = opendir(dir);
    if (!d)
        return shmap__err(-errno, "cannot list %s: %s", dir, strerror(errno));
    size_t n = 0, cap = 64;
    shmap_entry *list = malloc(cap * sizeof *list);
    if (!list) {
        closedir(d);
        return shmap__err(-ENOMEM, "shmap_list: out of memory");
    }
    for (struct dirent *e; (e = readdir(d));) {
        /* Hidden names are segments being created (or their crashed leftovers). */
        if (e->d_name[0] == '.')
            continue;
        if (e->d_type != DT_REG && e->d_type != DT_UNKNOWN)
            continue;
        if (n == cap) {
            shmap_entry *bigger = realloc(list, 2 * cap * sizeof *list);
            if (!bigger) {
                free(list);
                closedir(d);
                return shmap__err(-ENOMEM, "shmap_list: out of memory");
            }
            list = bigger;
            cap *= 2;
        }
        shmap_entry *ent = &list[n];
        memset(ent, 0, sizeof *ent);
        snprintf(ent->info.name, sizeof ent->info.name, "%s", e->d_name);
        snprintf(ent->info.os_handle, sizeof ent->info.os_handle, "/%s", e->d_name);
        ent->info.store = SHMAP_STORE_POSIX;
        struct stat st;
        int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) {
            ent->status = shmap__err(-errno, "%s: %s", e->d_name, strerror(errno));
            if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISREG(st.st_mode))
                stat_fields(&ent->info, &st);
            else
                continue;
        } else {
            if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                close(fd);
                continue;
            }
            ent->status = shmap__describe_fd(fd, &st, &ent->info, e->d_name);
            close(fd);
        }
        if (ent->status == 0 || (flags & SHMAP_LIST_ALL))
            n++;
    }
    closedir(d);
    qsort(list, n, sizeof *list, by_name);
    *out = list;
    *count = n;
    return 0;
}

void shmap_list_free(shmap_entry *list)
{
    free(list);
}
