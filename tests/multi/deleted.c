/*
 * A System V segment deleted while a process still attaches it: the kernel keeps it, marked
 * for removal and without its key, until the last detach. The library lists it (with
 * SHMAP_LIST_ALL only) and describes it as deleted, refuses to open it by its id as a
 * deleted POSIX segment is refused, and gc leaves it to the kernel. The process keeping it
 * is a program that knows nothing of shmap (a bare shmat), so that nothing but the kernel's
 * own count stands between the segment and gc.
 */
#include <sys/ipc.h>
#include <sys/shm.h>

#include "../util.h"

/*
 * A child that attaches segment `id` with shmat alone and says 'A'; then 'W' writes 42 at
 * `offset` and answers 'w', and anything else detaches and exits 0. It dies with the test.
 */
static pid_t spawn_bare_attacher(int id, uint64_t offset, struct util_chan *c)
{
    util_chan_open(c);
    pid_t pid = util_spawn();
    if (pid == 0) {
        volatile unsigned char *p = shmat(id, NULL, 0);
        if (p == (void *)-1) {
            util_child_send(c, 'E');
            _exit(1);
        }
        util_child_send(c, 'A');
        while (util_child_recv(c) == 'W') {
            p[offset] = 42;
            util_child_send(c, 'w');
        }
        shmdt((const void *)p);
        _exit(0);
    }
    CHECK_EQ_INT(util_parent_recv(c), 'A');
    return pid;
}

/* The entry of shmap_list(flags) named `name`, copied into `out`; 0 if there is none. */
static int listed(const char *name, unsigned flags, shmap_entry *out)
{
    shmap_entry *list = NULL;
    size_t n = 0;
    int found = 0;
    CHECK_OK(shmap_list(&list, &n, flags));
    for (size_t i = 0; i < n && !found; i++) {
        if (strcmp(list[i].info.name, name) == 0) {
            *out = list[i];
            out->attachers = NULL;
            out->keywords = NULL;
            found = 1;
        }
    }
    shmap_list_free(list);
    return found;
}

/* Is segment `id` still there, marked for removal? */
static int kept_deleted(int id)
{
    struct shmid_ds ds;
    return shmctl(id, IPC_STAT, &ds) == 0 && (ds.shm_perm.mode & SHM_DEST);
}

TEST(deleted__a_system_v_segment_deleted_while_attached_is_described_not_opened)
{
    char name[64], byid[64];
    /* From test_sysv_key(): the runner removes it should a CHECK fail before the delete;
     * after it, the attacher and this process take it with them when they end. */
    snprintf(name, sizeof name, "sysv://0x%08x", (unsigned)test_sysv_key());
    util_make_by_dead_creator(name, 0);
    shmap_info info;
    CHECK_OK(shmap_stat(name, &info));
    CHECK_EQ_INT(info.deleted, 0);
    int id = atoi(info.os_handle);
    snprintf(byid, sizeof byid, "sysv://id=%d", id);
    struct util_chan c;
    pid_t kid = spawn_bare_attacher(id, info.data_offset, &c);
    shmap_seg *before = NULL;
    CHECK_OK(shmap_open(&before, name, SHMAP_RDONLY));
    shmap_entry ent;
    CHECK(listed(name, 0, &ent) && ent.info.deleted == 0);

    CHECK_OK(shmap_delete(name, 10, 0));

    /* The key is gone; the id still describes it, as deleted. */
    CHECK_ERR(shmap_stat(name, &info), -ENOENT);
    CHECK_OK(shmap_stat(byid, &info));
    CHECK_STR(info.name, byid);
    CHECK_EQ_INT(info.deleted, 1);
    CHECK(info.dtype == SHMAP_U64 && info.ndim == 1 && info.dims[0] == 16);

    /* Listed with SHMAP_LIST_ALL only, a valid segment marked deleted. */
    CHECK(!listed(byid, 0, &ent));
    CHECK(!listed(name, SHMAP_LIST_ALL, &ent));
    CHECK(listed(byid, SHMAP_LIST_ALL, &ent));
    CHECK_EQ_INT(ent.status, 0);
    CHECK_EQ_INT(ent.info.deleted, 1);
    CHECK(ent.info.dtype == SHMAP_U64);

    /* Not opened, as a deleted POSIX segment is not: by no open, nor removed again. */
    static const unsigned opens[] = {SHMAP_RDONLY, SHMAP_RDWR, SHMAP_RDWR | SHMAP_HOLD};
    shmap_seg *seg = NULL;
    for (size_t i = 0; i < sizeof opens / sizeof opens[0]; i++) {
        CHECK_ERR(shmap_open(&seg, byid, opens[i]), -ENOENT);
        CHECK_CONTAINS(shmap_last_error(), "deleted");
        CHECK_DETAIL_NAMES(byid);
    }
    const uint64_t dims[1] = {8};
    shmap_raw_opts ro = SHMAP_RAW_OPTS_INIT;
    CHECK_ERR(shmap_open_raw(&seg, byid, SHMAP_U8, 1, dims, &ro), -ENOENT);
    CHECK_ERR(shmap_unlink(byid), -ENOENT);
    CHECK_CONTAINS(shmap_last_error(), "deleted");
    CHECK_ERR(shmap_delete(byid, 0, 0), -ENOENT);
    CHECK_ERR(shmap_delete(byid, 0, SHMAP_DELETE_FORCE), -ENOENT);
    CHECK_ERR(shmap_chmod(byid, 0644), -ENOENT);
    CHECK_ERR(shmap_chown(byid, (uid_t)-1, (gid_t)-1), -ENOENT);
    CHECK(kept_deleted(id));

    /* The handle opened before: its description now says deleted; at open it was not. */
    CHECK_OK(shmap_info_get(before, &info));
    CHECK_EQ_INT(info.deleted, 1);
    CHECK_OK(shmap_info_at_open(before, &info));
    CHECK_EQ_INT(info.deleted, 0);

    /* Looked at on request, read-only only, as the attacher left it (through the mapping
     * this process has already: an open that reaches it deleted marks it so). */
    CHECK_ERR(shmap_open(&seg, byid, SHMAP_RDWR | SHMAP_DELETED), SHMAP_EINVAL);
    CHECK_ERR(shmap_open(&seg, byid, SHMAP_HOLD | SHMAP_DELETED), SHMAP_EINVAL);
    util_parent_send(&c, 'W');
    CHECK_EQ_INT(util_parent_recv(&c), 'w');
    CHECK_OK(shmap_open(&seg, byid, SHMAP_RDONLY | SHMAP_DELETED));
    CHECK_EQ_INT(((const uint64_t *)shmap_data(seg))[0], 42);
    CHECK_OK(shmap_info_get(seg, &info));
    CHECK_EQ_INT(info.deleted, 1);
    CHECK_OK(shmap_info_at_open(seg, &info));
    CHECK_EQ_INT(info.deleted, 1);
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_info_at_open(before, &info));
    CHECK_EQ_INT(info.deleted, 1);
    CHECK_OK(shmap_close(before));
    ro.flags = SHMAP_RDONLY | SHMAP_DELETED;
    CHECK_OK(shmap_open_raw(&seg, byid, SHMAP_U8, 1, dims, &ro));
    CHECK_OK(shmap_info_get(seg, &info));
    CHECK_EQ_INT(info.deleted, 1);
    CHECK_OK(shmap_close(seg));

    /* The attacher leaves: the kernel frees it, and nothing describes it any more. */
    util_parent_send(&c, 'D');
    CHECK_EQ_INT(test_wait(kid), 0);
    util_chan_close(&c);
    CHECK(!kept_deleted(id));
    CHECK_ERR(shmap_stat(byid, &info), -ENOENT);
    CHECK(!listed(byid, SHMAP_LIST_ALL, &ent));
}

/*
 * A transient segment whose creator is dead and that no shmap process uses is what gc
 * removes once nothing attaches it, and a killed process's slot is what it clears. Deleted
 * while a bare attacher keeps it, the segment is left to the kernel, which frees it at the
 * last detach: gc neither removes nor touches it.
 */
TEST(deleted__gc_leaves_a_deleted_system_v_segment_to_its_last_detach)
{
    char name[64], byid[64];
    snprintf(name, sizeof name, "sysv://0x%08x", (unsigned)test_sysv_key());
    util_make_by_dead_creator(name, SHMAP_CREATE_TRANSIENT);
    shmap_info info;
    CHECK_OK(shmap_stat(name, &info));
    int id = atoi(info.os_handle);
    snprintf(byid, sizeof byid, "sysv://id=%d", id);
    struct util_chan c;
    pid_t kid = spawn_bare_attacher(id, info.data_offset, &c);
    util_kill9(util_spawn_holder(name, 0)); /* leaves its slot in the attach table */
    CHECK_OK(shmap_delete(name, 10, 0));
    CHECK(kept_deleted(id));

    for (int dry = 1; dry >= 0; dry--) {
        struct util_gc_events e;
        memset(&e, 0, sizeof e);
        CHECK_OK(shmap_gc(byid, dry ? SHMAP_GC_DRY_RUN : 0, util_gc_collect, &e));
        for (int i = 0; i < e.n; i++)
            CHECK(strcmp(e.ev[i].name, byid) != 0);
        CHECK(kept_deleted(id));
    }
    /* The attacher still has its memory, and writes it. */
    util_parent_send(&c, 'W');
    CHECK_EQ_INT(util_parent_recv(&c), 'w');

    util_parent_send(&c, 'D');
    CHECK_EQ_INT(test_wait(kid), 0);
    util_chan_close(&c);
    CHECK(!kept_deleted(id));
    CHECK(!util_sysv_exists((key_t)strtoul(name + 7, NULL, 16)));
}
