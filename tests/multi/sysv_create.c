/*
 * A System V segment has its key from shmget on, with its memory zero until its creator
 * writes the header: an open that comes in between waits for the header, as it waits for a
 * header marked INIT, rather than calling the segment foreign. A zero segment whose
 * creator is gone is foreign at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

#include "../util.h"

/* The bytes of a complete shmap segment of 8 u32s under System V key `key`. */
static void *complete_image(key_t key, size_t *size)
{
    char name[64];
    snprintf(name, sizeof name, "sysv://0x%08x", (unsigned)key);
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_KEEP;
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_U32, 1, (const uint64_t[]){8}, &opts));
    CHECK_OK(shmap_close(seg));
    int id = shmget(key, 0, 0);
    CHECK(id >= 0);
    struct shmid_ds ds;
    CHECK(shmctl(id, IPC_STAT, &ds) == 0);
    void *p = shmat(id, NULL, SHM_RDONLY);
    CHECK(p != (void *)-1);
    void *copy = malloc(ds.shm_segsz);
    CHECK(copy);
    memcpy(copy, p, ds.shm_segsz);
    shmdt(p);
    CHECK_OK(shmap_delete(name, 0, 0));
    *size = ds.shm_segsz;
    return copy;
}

TEST(sysv_create__an_open_waits_for_the_header_of_a_segment_being_created)
{
    size_t size;
    void *image = complete_image(test_sysv_key(), &size);
    key_t key = test_sysv_key();
    char name[64];
    snprintf(name, sizeof name, "sysv://0x%08x", (unsigned)key);
    struct util_chan c;
    util_chan_open(&c);
    pid_t pid = util_spawn();
    if (pid == 0) {
        /* A creator: the key now, the header 300 ms later. */
        int id = shmget(key, size, IPC_CREAT | IPC_EXCL | 0600);
        void *p = id < 0 ? (void *)-1 : shmat(id, NULL, 0);
        util_child_send(&c, p == (void *)-1 ? 'E' : 'K');
        util_sleep_ms(300);
        memcpy(p, image, size);
        util_child_recv(&c);
        _exit(0);
    }
    CHECK_EQ_INT(util_parent_recv(&c), 'K');
    double t0 = util_now_s();
    shmap_seg *seg = NULL;
    int rc = shmap_open(&seg, name, SHMAP_RDONLY);
    double took = util_now_s() - t0;
    util_parent_send(&c, 'D');
    CHECK_EQ_INT(test_wait(pid), 0);
    util_chan_close(&c);
    free(image);
    CHECK_OK(rc);
    CHECK(took >= 0.2 && took < 1.9);
    shmap_info info;
    CHECK_OK(shmap_info_get(seg, &info));
    CHECK_EQ_INT(info.dims[0], 8);
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_delete(name, 0, 0));
}

TEST(sysv_create__a_zero_segment_whose_creator_is_gone_is_foreign_at_once)
{
    key_t key = test_sysv_key();
    char name[64];
    snprintf(name, sizeof name, "sysv://0x%08x", (unsigned)key);
    pid_t pid = util_spawn();
    if (pid == 0)
        _exit(shmget(key, 8192, IPC_CREAT | IPC_EXCL | 0600) < 0);
    CHECK_EQ_INT(test_wait(pid), 0);
    int id = shmget(key, 0, 0);
    CHECK(id >= 0);
    double t0 = util_now_s();
    shmap_seg *seg = NULL;
    int rc = shmap_open(&seg, name, SHMAP_RDONLY);
    double took = util_now_s() - t0;
    shmctl(id, IPC_RMID, NULL);
    CHECK_ERR(rc, SHMAP_EFORMAT);
    CHECK(took < 0.5);
}

/*
 * Opens racing creations of one key, made and destroyed in a loop: an open finds no
 * segment, waits for one being created, or gets it whole; never a half-copied header
 * taken for a foreign or corrupt segment.
 */
TEST(sysv_create__opens_racing_creations_never_see_a_half_written_header)
{
    key_t key = test_sysv_key();
    char name[64];
    snprintf(name, sizeof name, "sysv://0x%08x", (unsigned)key);
    int stop[2];
    CHECK(pipe(stop) == 0);
    pid_t maker = util_spawn();
    if (maker == 0) {
        close(stop[1]);
        fcntl(stop[0], F_SETFL, O_NONBLOCK);
        char c;
        while (read(stop[0], &c, 1) < 0) {
            shmap_seg *seg = NULL;
            if (shmap_create(&seg, name, SHMAP_U8, 1, (const uint64_t[]){64}, NULL) == 0)
                shmap_close(seg); /* destroyed: created without KEEP */
        }
        _exit(0);
    }
    close(stop[0]);
    double until = util_now_s() + 1.0;
    long opens = 0, got = 0;
    while (util_now_s() < until) {
        shmap_seg *seg = NULL;
        int rc = shmap_open(&seg, name, SHMAP_RDONLY);
        opens++;
        if (rc == 0) {
            got++;
            shmap_close(seg);
        } else if (rc != -ENOENT && rc != SHMAP_EINCOMPLETE) {
            close(stop[1]);
            test_wait(maker);
            test_fail(__FILE__, __LINE__, "open %ld: %s (%s)", opens, shmap_errname(rc),
                      shmap_last_error());
        }
    }
    close(stop[1]);
    CHECK_EQ_INT(test_wait(maker), 0);
    CHECK(opens > 0);
    CHECK(!util_sysv_exists(key));
}

/*
 * A key made and removed again and again by another process: a look at it (an open that
 * takes deleted segments too, as `shmap info` opens), a forced delete and a create find a
 * segment, find none ("no such segment"), or are told it went while they worked; never
 * the system's EINVAL of an id that went between two calls ("read: Invalid argument",
 * "cannot remove: Invalid argument"), nor "no System V segment with id N" for a name given
 * by key.
 */
TEST(sysv_create__a_key_removed_while_it_is_used_is_no_such_segment)
{
    key_t key = test_sysv_key();
    char name[64];
    snprintf(name, sizeof name, "sysv://0x%08x", (unsigned)key);
    const uint64_t dims[1] = {16};
    pid_t churn = util_spawn_churn(name, NULL, 1.5);
    int bad = 0;
    char first[600] = "";
    double t0 = util_now_s();
    for (int i = 0; util_now_s() - t0 < 1.4; i++) {
        int rc;
        if (i % 3 == 0) {
            shmap_seg *seg = NULL;
            if ((rc = shmap_open(&seg, name, SHMAP_RDONLY | SHMAP_DELETED)) == 0)
                shmap_close(seg);
        } else if (i % 3 == 1) {
            rc = shmap_delete(name, 0, SHMAP_DELETE_FORCE);
        } else {
            shmap_create_opts o = SHMAP_CREATE_OPTS_INIT;
            o.flags |= SHMAP_CREATE_KEEP;
            shmap_seg *seg = NULL;
            if ((rc = shmap_create(&seg, name, SHMAP_U8, 1, dims, &o)) == 0)
                shmap_close(seg);
        }
        const char *msg = rc < 0 ? shmap_last_error() : "";
        if ((rc == -EINVAL || rc == -EIDRM || strstr(msg, "Invalid argument") ||
             strstr(msg, "with id")) && bad++ == 0)
            snprintf(first, sizeof first, "%d: %.500s", rc, msg);
    }
    CHECK_EQ_INT(test_wait(churn), 0);
    shmap_delete(name, 0, SHMAP_DELETE_FORCE);
    if (bad)
        test_fail(__FILE__, __LINE__, "%d calls said the id went, first %s", bad, first);
}
