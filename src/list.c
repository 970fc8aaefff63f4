/*
 * Describing segments without mapping them: shmap_stat() and the system-wide listing.
 *
 * A header is read into a local copy through the store (pread for descriptors) and checked
 * there, so a segment that changes or shrinks while we look cannot hurt us, and listing
 * thousands of POSIX segments costs an open, an fstat and two or three preads each, with no
 * mmap. Each store lists its own objects (store.h); the results are merged and sorted.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"

static void stat_fields(shmap_info *info, const struct stat *st)
{
    info->size = (uint64_t)st->st_size;
    info->mode = st->st_mode & 07777;
    info->uid = st->st_uid;
    info->gid = st->st_gid;
}

int shmap__describe(const struct shmap__store_ops *ops, struct shmap__obj *obj,
                    shmap_info *info, const char *who)
{
    struct shmap__header h;
    stat_fields(info, &obj->st);
    ssize_t got = ops->read(obj, &h, sizeof h, 0);
    if (got < 0)
        return shmap__err((int)got, "%s: read: %s", who, strerror((int)-got));
    int rc = shmap__header_check(&h, (size_t)got, (uint64_t)obj->st.st_size, who);
    if (rc < 0)
        return rc;
    size_t kwbytes = (size_t)h.kw_capacity * sizeof(struct shmap__kwslot);
    struct shmap__kwslot *slots = malloc(kwbytes + 1);
    char rec[SHMAP_RECORD_FIELDS_MAX] = "";
    if (!slots)
        return shmap__err(-ENOMEM, "%s: out of memory", who);
    if (ops->read(obj, slots, kwbytes, h.kw_offset) != (ssize_t)kwbytes ||
        (h.rec_len && ops->read(obj, rec, h.rec_len, h.rec_offset) != (ssize_t)h.rec_len)) {
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

int shmap__describe_fd(int fd, const struct stat *st, shmap_info *info, const char *who)
{
    struct shmap__obj obj = SHMAP__OBJ_INIT;
    obj.fd = fd;
    obj.st = *st;
    return shmap__describe(&shmap__posix_ops, &obj, info, who);
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
    const struct shmap__store_ops *ops = shmap__store_ops(n.store);
    struct shmap__obj obj = SHMAP__OBJ_INIT;
    rc = ops->open(&n, SHMAP__ACC_RDONLY, &obj);
    snprintf(out->name, sizeof out->name, "%s", n.name);
    snprintf(out->os_handle, sizeof out->os_handle, "%s", n.os_handle);
    out->store = n.store;
    if (rc < 0)
        return rc;
    rc = shmap__describe(ops, &obj, out, n.name);
    ops->close(&obj);
    return rc;
}

shmap_entry *shmap__list_add(struct shmap__list *l)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        shmap_entry *bigger = realloc(l->v, cap * sizeof *bigger);
        if (!bigger)
            return NULL;
        l->v = bigger;
        l->cap = cap;
    }
    shmap_entry *ent = &l->v[l->n++];
    memset(ent, 0, sizeof *ent);
    return ent;
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
    struct shmap__list l = {NULL, 0, 0};
    static const shmap_store stores[] = {SHMAP_STORE_POSIX, SHMAP_STORE_SYSV};
    for (size_t i = 0; i < sizeof stores / sizeof stores[0]; i++) {
        const struct shmap__store_ops *ops = shmap__store_ops(stores[i]);
        int rc = ops->list ? ops->list(&l, flags) : 0;
        if (rc < 0) {
            free(l.v);
            return rc;
        }
    }
    if (!l.v && !(l.v = malloc(sizeof *l.v)))
        return shmap__err(-ENOMEM, "shmap_list: out of memory");
    qsort(l.v, l.n, sizeof *l.v, by_name);
    *out = l.v;
    *count = l.n;
    return 0;
}

void shmap_list_free(shmap_entry *list)
{
    free(list);
}
