/*
 * shmap_list() tells each segment's attached processes and lock state, read from its copy
 * of the header: shared and exclusive holders in other processes, a writer waiting for
 * readers, a holder killed with SIGKILL (reported dead, its slot left alone: a listing
 * writes nothing), System V segments, and attach tables that stay with their entries
 * through the sort and through the list's growth.
 *
 * Every child is started with PR_SET_PDEATHSIG (util_spawn), so a failing test takes its
 * children with it.
 */
#include <signal.h>
#include <sys/shm.h>
#include <sys/wait.h>

#include "../util.h"

/* The entry of `name` in a listing (which CHECKs it is there and valid). */
static const shmap_entry *entry_of(const shmap_entry *list, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i].info.name, name) == 0) {
            CHECK_EQ_INT(list[i].status, 0);
            return &list[i];
        }
    test_fail(__FILE__, __LINE__, "%s is not in the listing", name);
}

static void make(const char *name)
{
    const uint64_t dims[1] = {16};
    util_make_kept(name, SHMAP_U32, 1, dims);
}

TEST(list__shows_shared_and_exclusive_holders_in_other_processes)
{
    const char *shared = test_name("sh"), *excl = test_name("ex"), *idle = test_name("idle");
    make(shared);
    make(excl);
    make(idle);
    pid_t r1 = util_spawn_holder(shared, SHMAP_LOCK_SHARED);
    pid_t r2 = util_spawn_holder(shared, SHMAP_LOCK_SHARED);
    pid_t w = util_spawn_holder(excl, SHMAP_LOCK_EXCLUSIVE);

    shmap_entry *list = NULL;
    size_t n = 0;
    CHECK_OK(shmap_list(&list, &n, 0));
    const shmap_entry *e = entry_of(list, n, shared);
    CHECK_EQ_INT(e->attached, 2);
    CHECK_EQ_INT(e->nattachers, 2);
    CHECK(e->attachers != NULL);
    for (unsigned i = 0; i < 2; i++) {
        const shmap_attacher *a = &e->attachers[i];
        CHECK(a->pid == r1 || a->pid == r2);
        CHECK(a->alive && a->shared == 1 && !a->writer && a->writable && a->start != 0);
    }
    CHECK(e->attachers[0].pid != e->attachers[1].pid);
    CHECK_EQ_INT(e->lock.shared, 2);
    CHECK_EQ_INT(e->lock.writer, 0);
    CHECK(!e->lock.writer_waiting && !e->lock.owner_died);

    e = entry_of(list, n, excl);
    CHECK_EQ_INT(e->attached, 1);
    CHECK_EQ_INT(e->nattachers, 1);
    CHECK_EQ_INT(e->attachers[0].pid, w);
    CHECK(e->attachers[0].writer && e->attachers[0].alive && e->attachers[0].shared == 0);
    CHECK_EQ_INT(e->lock.writer, w);
    CHECK(e->lock.writer_alive && !e->lock.writer_waiting);
    CHECK_EQ_INT(e->lock.shared, 0);

    e = entry_of(list, n, idle);
    CHECK_EQ_INT(e->attached, 0);
    CHECK_EQ_INT(e->nattachers, 0);
    CHECK(e->attachers == NULL);
    CHECK_EQ_INT(e->lock.writer, 0);
    CHECK_EQ_INT(e->lock.shared, 0);
    shmap_list_free(list);

    /* The listing says what shmap_attached() and shmap_lock_info() say of a mapping. */
    shmap_seg *seg = NULL;
    shmap_attacher att[4];
    shmap_lockinfo li;
    CHECK_OK(shmap_open(&seg, excl, SHMAP_RDONLY));
    CHECK_EQ_INT(shmap_attached(seg, att, 4), 1);
    CHECK_OK(shmap_lock_info(seg, &li));
    CHECK_OK(shmap_list(&list, &n, 0));
    e = entry_of(list, n, excl);
    const shmap_attacher *a = &e->attachers[0];
    CHECK(a->pid == att[0].pid && a->start == att[0].start && a->shared == att[0].shared &&
          a->writer == att[0].writer && a->alive == att[0].alive &&
          a->writable == att[0].writable);
    CHECK(e->lock.writer == li.writer && e->lock.writer_alive == li.writer_alive &&
          e->lock.shared == li.shared && e->lock.waiters == li.waiters &&
          e->lock.owner_died == li.owner_died && e->lock.dead_pid == li.dead_pid &&
          e->lock.writer_waiting == li.writer_waiting);
    shmap_list_free(list);
    CHECK_OK(shmap_close(seg));

    util_kill9(r1);
    util_kill9(r2);
    util_kill9(w);
    CHECK_OK(shmap_unlink(shared));
    CHECK_OK(shmap_unlink(excl));
    CHECK_OK(shmap_unlink(idle));
}

TEST(list__shows_a_writer_waiting_for_readers)
{
    const char *name = test_name("wait");
    make(name);
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDWR));
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_SHARED, 0));
    pid_t w = util_spawn();
    if (w == 0) {
        shmap_seg *s = NULL;
        if (shmap_open(&s, name, SHMAP_RDWR) < 0 || shmap_lock(s, SHMAP_LOCK_EXCLUSIVE, 30))
            _exit(1);
        _exit(shmap_unlock(s) == 0 && shmap_close(s) == 0 ? 0 : 2);
    }
    shmap_lockinfo li = {0};
    double deadline = util_now_s() + 10;
    while (shmap_lock_info(seg, &li) == 0 && li.writer != w && util_now_s() < deadline)
        util_sleep_ms(5);
    CHECK_EQ_INT(li.writer, w);
    CHECK(util_wait_asleep(w));

    shmap_entry *list = NULL;
    size_t n = 0;
    CHECK_OK(shmap_list(&list, &n, 0));
    const shmap_entry *e = entry_of(list, n, name);
    CHECK_EQ_INT(e->attached, 2);
    CHECK_EQ_INT(e->lock.writer, w);
    CHECK(e->lock.writer_alive && e->lock.writer_waiting && e->lock.waiters);
    CHECK_EQ_INT(e->lock.shared, 1);
    int writers = 0, readers = 0;
    for (unsigned i = 0; i < e->nattachers; i++) {
        const shmap_attacher *a = &e->attachers[i];
        writers += a->writer && a->pid == w && a->shared == 0;
        readers += !a->writer && a->pid == getpid() && a->shared == 1;
    }
    CHECK_EQ_INT(writers, 1);
    CHECK_EQ_INT(readers, 1);
    shmap_list_free(list);

    /* Our hold ends: the writer gets the lock and exits, and the listing shows it gone. */
    CHECK_OK(shmap_unlock(seg));
    CHECK_EQ_INT(test_wait(w), 0);
    CHECK_OK(shmap_list(&list, &n, 0));
    e = entry_of(list, n, name);
    CHECK_EQ_INT(e->attached, 1);
    CHECK_EQ_INT(e->lock.writer, 0);
    CHECK(!e->lock.writer_waiting);
    shmap_list_free(list);
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(name));
}

TEST(list__shows_killed_holders_as_dead_and_leaves_their_slots)
{
    const char *rname = test_name("dr"), *wname = test_name("dw");
    make(rname);
    make(wname);
    pid_t r = util_spawn_holder(rname, SHMAP_LOCK_SHARED);
    pid_t w = util_spawn_holder(wname, SHMAP_LOCK_EXCLUSIVE);
    util_kill9(r);
    util_kill9(w);

    for (int pass = 0; pass < 2; pass++) {
        shmap_entry *list = NULL;
        size_t n = 0;
        CHECK_OK(shmap_list(&list, &n, 0));
        const shmap_entry *e = entry_of(list, n, rname);
        CHECK_EQ_INT(e->attached, 0);
        CHECK_EQ_INT(e->nattachers, 1);
        CHECK_EQ_INT(e->attachers[0].pid, r);
        CHECK(!e->attachers[0].alive && e->attachers[0].shared == 1);
        CHECK_EQ_INT(e->lock.shared, 1);

        e = entry_of(list, n, wname);
        CHECK_EQ_INT(e->attached, 0);
        CHECK_EQ_INT(e->nattachers, 1);
        CHECK(e->attachers[0].pid == w && !e->attachers[0].alive && e->attachers[0].writer);
        CHECK_EQ_INT(e->lock.writer, w);
        CHECK(!e->lock.writer_alive);
        shmap_list_free(list);
    }
    /* Listing wrote nothing: the dead processes' slots are still in the segments. */
    struct shmap__header h;
    util_header_read(rname, &h);
    const struct shmap__lockarea *a = (const void *)((char *)&h + SHMAP__LOCK_OFFSET);
    CHECK_EQ_INT(a->slots[0].pid, r);
    util_header_read(wname, &h);
    CHECK(a->word & SHMAP__LW_WRITER);

    /* A waiter then recovers the lock, and the listing follows. */
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_open(&seg, wname, SHMAP_RDWR));
    CHECK_ERR(shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 10), SHMAP_EOWNERDEAD);
    CHECK_OK(shmap_unlock(seg));
    shmap_entry *list = NULL;
    size_t n = 0;
    CHECK_OK(shmap_list(&list, &n, 0));
    const shmap_entry *e = entry_of(list, n, wname);
    CHECK_EQ_INT(e->lock.writer, 0);
    CHECK_EQ_INT(e->attached, 1);
    CHECK_EQ_INT(e->nattachers, 1);
    CHECK_EQ_INT(e->attachers[0].pid, getpid());
    shmap_list_free(list);
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(rname));
    CHECK_OK(shmap_unlink(wname));
}

TEST(list__shows_the_holders_of_a_system_v_segment)
{
    char name[64];
    snprintf(name, sizeof name, "sysv://0x%08x", (unsigned)test_sysv_key());
    const uint64_t dims[1] = {16};
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags |= SHMAP_CREATE_KEEP;
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_U32, 1, dims, &opts));
    CHECK_OK(shmap_close(seg));
    pid_t w = util_spawn_holder(name, SHMAP_LOCK_EXCLUSIVE), idle = util_spawn_holder(name, 0);

    shmap_entry *list = NULL;
    size_t n = 0;
    CHECK_OK(shmap_list(&list, &n, 0));
    const shmap_entry *e = entry_of(list, n, name);
    CHECK_EQ_INT(e->info.store, SHMAP_STORE_SYSV);
    CHECK_EQ_INT(e->attached, 2);
    CHECK_EQ_INT(e->nattachers, 2);
    CHECK_EQ_INT(e->lock.writer, w);
    CHECK(e->lock.writer_alive);
    for (unsigned i = 0; i < 2; i++)
        CHECK(e->attachers[i].writer == (e->attachers[i].pid == w));
    shmap_list_free(list);

    util_kill9(idle);
    CHECK_OK(shmap_list(&list, &n, 0));
    e = entry_of(list, n, name);
    CHECK_EQ_INT(e->attached, 1);
    CHECK_EQ_INT(e->nattachers, 2);
    shmap_list_free(list);
    util_kill9(w);
    CHECK_OK(shmap_unlink(name));
}

/* Entries move when the list is sorted; each must keep its own attachers. Names are made
 * in an order that is sorted neither forwards nor backwards (directories list in creation
 * order or its reverse), and each segment has its own number of attachers, one process
 * attached to several of them. */
TEST(list__attach_tables_stay_with_their_entries)
{
    enum { NSEG = 6 };
    char names[NSEG][SHMAP_NAME_MAX];
    shmap_seg *mine[NSEG];
    pid_t kids[2 * NSEG];
    int nkids = 0;
    for (int i = 0; i < NSEG; i++) {
        char suffix[16];
        snprintf(suffix, sizeof suffix, "s%c", "caebfd"[i]);
        snprintf(names[i], sizeof names[i], "%s", test_name(suffix));
        make(names[i]);
        /* Segment i: this process (every other one) and i children... */
        mine[i] = NULL;
        if (i % 2)
            CHECK_OK(shmap_open(&mine[i], names[i], SHMAP_RDWR));
    }
    for (int i = 1; i < NSEG; i++)
        for (int k = 0; k < i && k < 2; k++)
            kids[nkids++] = util_spawn_holder(names[i], 0);

    shmap_entry *list = NULL;
    size_t n = 0;
    CHECK_OK(shmap_list(&list, &n, 0));
    int k = 0;
    for (int i = 0; i < NSEG; i++) {
        const shmap_entry *e = entry_of(list, n, names[i]);
        unsigned want = (unsigned)(i % 2) + (unsigned)(i < 2 ? i : 2);
        CHECK_EQ_INT(e->nattachers, want);
        CHECK_EQ_INT(e->attached, want);
        CHECK((e->attachers == NULL) == (want == 0));
        for (unsigned j = 0; j < e->nattachers; j++) {
            pid_t pid = e->attachers[j].pid;
            int ok = pid == getpid() && i % 2;
            for (int q = k; q < k + (i < 2 ? i : 2); q++)
                ok |= pid == kids[q];
            CHECK(ok && e->attachers[j].alive);
        }
        k += i < 2 ? i : 2;
    }
    shmap_list_free(list);
    for (int i = 0; i < nkids; i++)
        util_kill9(kids[i]);
    for (int i = 0; i < NSEG; i++) {
        if (mine[i])
            CHECK_OK(shmap_close(mine[i]));
        CHECK_OK(shmap_unlink(names[i]));
    }
}

/* A listing grows its block as it goes, moving the attachers gathered so far: with more
 * segments than its first room (64 entries), some attached and some not, every entry
 * still has exactly its own attachers. */
TEST(list__attach_tables_survive_the_list_growing)
{
    enum { NSEG = 150 };
    static char names[NSEG][SHMAP_NAME_MAX];
    static shmap_seg *mine[NSEG];
    for (int i = 0; i < NSEG; i++) {
        char suffix[16];
        snprintf(suffix, sizeof suffix, "g%03d", (i * 67) % NSEG);
        snprintf(names[i], sizeof names[i], "%s", test_name(suffix));
        make(names[i]);
        mine[i] = NULL;
        if (i % 3 == 0)
            CHECK_OK(shmap_open(&mine[i], names[i], SHMAP_RDWR));
    }
    /* One child attached to every fifth segment. */
    struct util_chan c;
    util_chan_open(&c);
    pid_t kid = util_spawn();
    if (kid == 0) {
        for (int i = 0; i < NSEG; i += 5) {
            shmap_seg *s = NULL;
            if (shmap_open(&s, names[i], SHMAP_RDWR) < 0) {
                util_child_send(&c, 'E');
                _exit(1);
            }
        }
        util_child_send(&c, 'L');
        for (;;)
            pause();
    }
    CHECK_EQ_INT(util_parent_recv(&c), 'L');
    util_chan_close(&c);

    shmap_entry *list = NULL;
    size_t n = 0;
    CHECK_OK(shmap_list(&list, &n, 0));
    for (int i = 0; i < NSEG; i++) {
        const shmap_entry *e = entry_of(list, n, names[i]);
        unsigned want = (i % 3 == 0) + (i % 5 == 0), me = 0, child = 0;
        CHECK_EQ_INT(e->nattachers, want);
        CHECK_EQ_INT(e->attached, want);
        for (unsigned j = 0; j < e->nattachers; j++) {
            me += e->attachers[j].pid == getpid();
            child += e->attachers[j].pid == kid;
        }
        CHECK_EQ_INT(me, i % 3 == 0);
        CHECK_EQ_INT(child, i % 5 == 0);
    }
    shmap_list_free(list);
    util_kill9(kid);
    for (int i = 0; i < NSEG; i++) {
        if (mine[i])
            CHECK_OK(shmap_close(mine[i]));
        CHECK_OK(shmap_unlink(names[i]));
    }
}

/*
 * A System V segment whose header its creator, alive and a moment ago, has not written
 * yet is listed (with SHMAP_LIST_ALL) as being created, as an open waits for it: it was
 * called a foreign object with no shmap magic. Once its creator is gone it is foreign.
 */
TEST(list__a_system_v_header_not_written_yet_is_being_created)
{
    key_t key = test_sysv_key();
    char name[64];
    snprintf(name, sizeof name, "sysv://0x%08x", (unsigned)key);
    int p[2];
    CHECK(pipe(p) == 0);
    pid_t maker = util_spawn();
    if (maker == 0) {
        close(p[0]);
        int ok = shmget(key, 8192, IPC_CREAT | IPC_EXCL | 0600) >= 0;
        if (write(p[1], ok ? "y" : "n", 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    close(p[1]);
    char c = 0;
    CHECK(read(p[0], &c, 1) == 1 && c == 'y');
    close(p[0]);
    int id = shmget(key, 0, 0);
    CHECK(id >= 0);
    shmap_entry *list;
    size_t n;
    CHECK_OK(shmap_list(&list, &n, SHMAP_LIST_ALL));
    int seen = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i].info.name, name) == 0) {
            seen++;
            CHECK_EQ_INT(list[i].status, SHMAP_EINCOMPLETE);
            char want[64];
            snprintf(want, sizeof want, "segment is still being created by pid %d", (int)maker);
            CHECK_STR(list[i].error, want);
        }
    shmap_list_free(list);
    CHECK_EQ_INT(seen, 1);
    util_kill9(maker);
    CHECK_OK(shmap_list(&list, &n, SHMAP_LIST_ALL));
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i].info.name, name) == 0)
            CHECK_EQ_INT(list[i].status, SHMAP_EFORMAT);
    shmap_list_free(list);
    shmctl(id, IPC_RMID, NULL);
}

/*
 * Objects removed while a listing runs are left out of it, or listed whole: never an entry
 * that failed because its object was gone (a POSIX name made again in between was listed
 * with "No such file or directory", a System V id with "Invalid argument").
 */
TEST(list__objects_removed_while_listing_are_left_out)
{
    const char *posix = test_name("churn");
    char sysv[64];
    snprintf(sysv, sizeof sysv, "sysv://0x%08x", (unsigned)test_sysv_key());
    pid_t churn = util_spawn_churn(sysv, posix, 1.5);
    int bad = 0;
    char first[512] = "";
    double t0 = util_now_s();
    while (util_now_s() - t0 < 1.5) {
        shmap_entry *list;
        size_t n;
        CHECK_OK(shmap_list(&list, &n, SHMAP_LIST_ALL));
        for (size_t i = 0; i < n; i++) {
            const shmap_entry *e = &list[i];
            int ours = strcmp(e->info.name, posix) == 0 || strcmp(e->info.name, sysv) == 0;
            if (ours && (e->status == -ENOENT || e->status == -EINVAL ||
                         e->status == -EIDRM) && bad++ == 0)
                snprintf(first, sizeof first, "%.200s: %.200s", e->info.name, e->error);
        }
        shmap_list_free(list);
    }
    CHECK_EQ_INT(test_wait(churn), 0);
    shmap_delete(posix, 0, SHMAP_DELETE_FORCE);
    shmap_delete(sysv, 0, SHMAP_DELETE_FORCE);
    if (bad)
        test_fail(__FILE__, __LINE__, "%d entries of removed objects, first %s", bad, first);
}
