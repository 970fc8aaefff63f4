/*
 * The header's fixed part is checked at open, in a private copy: a process that may write
 * the object and changes it afterwards (damage, or malice) must not make the handles that
 * have it open read beyond their mapping, divide by zero, or copy more than the frame size
 * they were told. Sizes, offsets, capacity, flags and dims are taken from the copy.
 */
#include <fcntl.h>
#include <stddef.h>

#include "../util.h"
#include "../../src/format.h"

static void poke(const char *path, size_t off, const void *v, size_t len)
{
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0);
    CHECK(pwrite(fd, v, len, (off_t)off) == (ssize_t)len);
    close(fd);
}

TEST(header__fixed_fields_changed_after_open_are_not_trusted)
{
    const char *path = util_test_path("changed.seg");
    char name[600];
    snprintf(name, sizeof name, "file:%s", path);
    const uint64_t dims[2] = {4, 4};
    shmap_seg *w = NULL;
    CHECK_OK(shmap_create(&w, name, SHMAP_F32, 2, dims, NULL));
    shmap_keyword kw = {.name = "EXPTIME", .type = SHMAP_KW_FLOAT, .f = 1.5};
    CHECK_OK(shmap_keyword_set(w, &kw));
    CHECK_OK(shmap_publish(w));
    shmap_seg *r = NULL;
    CHECK_OK(shmap_open(&r, name, SHMAP_RDONLY));
    size_t fsize = shmap_frame_size(r);
    CHECK_EQ_INT(fsize, 64);
    float *frame = malloc(fsize);
    CHECK(frame != NULL);

    uint32_t cap = 4096, flags = SHMAP_SEG_RING;
    uint64_t zero = 0, far = 1ull << 40, big = 1u << 20;
    poke(path, offsetof(struct shmap__header, kw_capacity), &cap, sizeof cap);
    poke(path, offsetof(struct shmap__header, flags), &flags, sizeof flags);
    poke(path, offsetof(struct shmap__header, dims), &zero, sizeof zero);
    poke(path, offsetof(struct shmap__header, kw_offset), &far, sizeof far);
    poke(path, offsetof(struct shmap__header, data_size), &big, sizeof big);

    for (int i = 0; i < 2; i++) {
        shmap_seg *s = i ? w : r;
        CHECK_EQ_INT(shmap_frame_size(s), 64);
        CHECK_EQ_INT(shmap_ring_length(s), 1);
        shmap_info info;
        CHECK_OK(shmap_info_get(s, &info));
        CHECK_EQ_INT(info.data_size, 64);
        CHECK_EQ_INT(info.dims[0], 4);
        CHECK_EQ_INT(info.keyword_capacity, SHMAP_KEYWORD_CAPACITY_DEFAULT);
        CHECK_EQ_INT(info.nkeywords, 1);
        CHECK_EQ_INT(info.flags & SHMAP_SEG_RING, 0);
        shmap_keyword *list = NULL;
        CHECK_EQ_INT(shmap_keyword_list_alloc(s, &list), 1);
        CHECK(strcmp(list[0].name, "EXPTIME") == 0);
        free(list);
        shmap_keyword got;
        CHECK_OK(shmap_keyword_get(s, "EXPTIME", &got));
    }
    CHECK_OK(shmap_keyword_set(w, &kw));
    void *fp;
    CHECK_OK(shmap_write_begin(w, &fp));
    CHECK(fp == shmap_data(w));
    CHECK_OK(shmap_publish(w));
    uint64_t seen = 0;
    CHECK_OK(shmap_read_frame(r, &seen, frame, 0, NULL));
    CHECK_EQ_INT(seen, 2);
    free(frame);
    CHECK_OK(shmap_close(r));
    CHECK_OK(shmap_close(w));
    CHECK_OK(shmap_unlink(name));
}
