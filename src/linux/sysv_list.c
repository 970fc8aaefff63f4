/*
 * Linux: listing System V segments. shmctl(SHM_INFO) gives the highest index in use and
 * shmctl(index, SHM_STAT_ANY) turns an index into an id with its description, as `ipcs -m`
 * does (SHM_STAT_ANY, Linux 4.17, lists segments we may not read; SHM_STAT is the fallback).
 * shmap_list() and shmap_gc() both walk them with shmap__sysv_each().
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <time.h>

#include "store.h"

#ifndef SHM_STAT_ANY
#define SHM_STAT_ANY 15
#endif

int shmap__sysv_each(shmap__sysv_fn fn, void *ctx)
{
    struct shm_info info;
    int max = shmctl(0, SHM_INFO, (struct shmid_ds *)(void *)&info);
    if (max < 0)
        return 0; /* no System V IPC in this kernel or namespace: nothing to walk */
    for (int i = 0; i <= max; i++) {
        struct shmid_ds ds;
        int id = shmctl(i, SHM_STAT_ANY, &ds);
        if (id < 0 && errno == EINVAL)
            id = shmctl(i, SHM_STAT, &ds);
        if (id < 0)
            continue;
        int rc = fn(id, &ds, ctx);
        if (rc != 0)
            return rc;
    }
    return 0;
}

struct list_walk {
    struct shmap__list *l;
    unsigned flags;
};

static int list_one(int id, const struct shmid_ds *ds, void *ctx)
{
    struct list_walk *w = ctx;
    bool dying = (ds->shm_perm.mode & SHM_DEST) != 0;
    if (dying && !(w->flags & SHMAP_LIST_ALL))
        return 0;
    char name[64];
    shmap__sysv_name(id, ds, name, sizeof name);
    shmap_entry *ent = shmap__list_add(w->l);
    if (!ent)
        return shmap__process_error(-ENOMEM, "no room to list %s", name);
    snprintf(ent->info.name, sizeof ent->info.name, "%s", name);
    snprintf(ent->info.os_handle, sizeof ent->info.os_handle, "%d", id);
    ent->info.store = SHMAP_STORE_SYSV;
    ent->info.size = (uint64_t)ds->shm_segsz;
    ent->info.mode = ds->shm_perm.mode & 0777;
    ent->info.uid = ds->shm_perm.uid;
    ent->info.gid = ds->shm_perm.gid;
    int status = shmap__sysv_describe_id(id, w->l);
    ent = &w->l->v[w->l->n - 1]; /* describing may have moved the list */
    /* Out of memory or address space (a segment is attached whole to be read): a failure
     * of this process, which ends the listing (list.c), not of this segment; unless the
     * segment is larger than the address-space limit itself, which its entry then says. */
    if (shmap__process_failure(status) && !ent->error[0]) {
        shmap__list_drop(w->l);
        return status;
    }
    /* Removed since it was found: left out, not listed half. */
    if (status < 0 && shmap__sysv_gone(id)) {
        shmap__list_drop(w->l);
        return 0;
    }
    ent->status = status;
    ent->info.deleted = dying;
    if (ent->status < 0 && !(w->flags & SHMAP_LIST_ALL))
        shmap__list_drop(w->l);
    return 0;
}

int shmap__sysv_list(struct shmap__list *l, unsigned flags)
{
    struct list_walk w = {l, flags};
    return shmap__sysv_each(list_one, &w);
}

void shmap__sysv_name(int id, const struct shmid_ds *ds, char *buf, size_t size)
{
    key_t key = ds->shm_perm.__key;
    if (key != IPC_PRIVATE)
        snprintf(buf, size, "sysv://0x%08x", (unsigned)key);
    else
        snprintf(buf, size, "sysv://id=%d", id);
}

/* Does the System V segment `id` still exist, not marked for removal (IPC_RMID leaves it
 * in place with SHM_DEST until the last process detaches)? */
bool shmap__sysv_alive(int id)
{
    struct shmid_ds ds;
    if (shmctl(id, IPC_STAT, &ds) < 0)
        return errno != EINVAL && errno != EIDRM;
    return !(ds.shm_perm.mode & SHM_DEST);
}

bool shmap__sysv_gone(int id)
{
    struct shmid_ds ds;
    return shmctl(id, IPC_STAT, &ds) < 0 && (errno == EINVAL || errno == EIDRM);
}

bool shmap__sysv_fresh(int id, int64_t within_s)
{
    struct shmid_ds ds;
    if (shmctl(id, IPC_STAT, &ds) < 0 || (ds.shm_perm.mode & SHM_DEST))
        return false;
    if (ds.shm_segsz < SHMAP__HEADER_SIZE)
        return false;
    time_t now = time(NULL);
    return now - ds.shm_ctime <= within_s && shmap__proc_alive(ds.shm_cpid, 0);
}
