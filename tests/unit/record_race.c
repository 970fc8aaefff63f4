/*
 * A record segment's field list is checked on a copy, and the copy is what the handle
 * keeps: a process that writes the list while another opens it (here a thread writing
 * through a mapping of its own) gets the open refused, never a list read past its end
 * (which the sanitizer build reports) nor one other than the list that was checked.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>

#include "../util.h"
#include "internal.h"

struct flipper {
    volatile char *last; /* the list's NUL, in a mapping of the test's own */
    int stop; /* atomic */
};

static void *flip(void *arg)
{
    struct flipper *f = arg;
    while (!__atomic_load_n(&f->stop, __ATOMIC_RELAXED)) {
        *f->last = 'z';
        for (volatile int i = 0; i < 20; i++)
            ;
        *f->last = '\0';
        for (volatile int i = 0; i < 200; i++)
            ;
    }
    return NULL;
}

TEST(open__a_record_list_changed_while_it_is_checked_is_never_read_past_its_end)
{
    /* A list of exactly SHMAP_RECORD_FIELDS_MAX - 1 bytes, so that its copy has no room
     * for another NUL: fields "fNNN:u1," and a last name that pads it out. */
    char list[SHMAP_RECORD_FIELDS_MAX];
    size_t len = 0;
    int nfields = 0;
    while (len + 9 + 40 < sizeof list - 1)
        len += (size_t)snprintf(list + len, sizeof list - len, "f%03d:u1,", nfields++);
    size_t pad = sizeof list - 1 - len - 3; /* the last name, before ":u1" */
    memset(list + len, 'p', pad);
    memcpy(list + len + pad, ":u1", 4);
    CHECK_EQ_INT(strlen(list), SHMAP_RECORD_FIELDS_MAX - 1);

    char name[600];
    const char *path = util_test_path("race.seg");
    snprintf(name, sizeof name, "file:%s", path);
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_KEEP;
    opts.record_fields = list;
    uint64_t dims[1] = {4};
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_RECORD, 1, dims, &opts));
    CHECK_OK(shmap_close(seg));

    int fd = open(path, O_RDWR);
    CHECK(fd >= 0);
    struct shmap__header h;
    CHECK(pread(fd, &h, sizeof h, 0) == (ssize_t)sizeof h);
    CHECK_EQ_INT(h.rec_len, SHMAP_RECORD_FIELDS_MAX);
    char *map = mmap(NULL, (size_t)h.total_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(map != MAP_FAILED);
    struct flipper f = {map + h.rec_offset + h.rec_len - 1, 0};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, flip, &f) == 0);
    int opened = 0, refused = 0, other = 0;
    char seen[SHMAP_RECORD_FIELDS_MAX + 64] = "";
    double t0 = util_now_s();
    while (util_now_s() - t0 < 1.0) {
        int rc = shmap_open(&seg, name, SHMAP_RDONLY);
        if (rc == SHMAP_ECORRUPT) {
            refused++;
            continue;
        }
        if (rc < 0) {
            other = rc;
            break;
        }
        shmap_info info;
        if (shmap_info_get(seg, &info) == 0 && strcmp(info.record_fields, list) != 0)
            snprintf(seen, sizeof seen, "%s", info.record_fields);
        shmap_close(seg);
        opened++;
        if (seen[0])
            break;
    }
    __atomic_store_n(&f.stop, 1, __ATOMIC_RELAXED);
    pthread_join(t, NULL);
    map[h.rec_offset + h.rec_len - 1] = '\0';
    munmap(map, (size_t)h.total_size);
    close(fd);
    CHECK_EQ_INT(other, 0);
    if (seen[0])
        test_fail(__FILE__, __LINE__, "a handle kept a list other than the one checked: "
                                      "...%s", seen + strlen(seen) - 12);
    CHECK(opened > 0);
    CHECK_OK(shmap_unlink(name));
}
