/*
 * Record field lists the library accepts are ones every reader takes back: names of at most
 * 63 bytes, one byte-order character before a type, and counts stored in plain digits.
 */
#include <fcntl.h>

#include "../util.h"

TEST(record_limits__names_of_63_bytes_are_taken_and_of_64_refused_naming_the_field)
{
    char fields[256];
    memset(fields, 'a', 63);
    strcpy(fields + 63, ":f4,y:u1");
    size_t elsize = 0;
    CHECK_OK(shmap_record_parse(fields, &elsize));
    CHECK_EQ_INT(elsize, 5);
    strcpy(fields, "y:u1,");
    memset(fields + 5, 'b', 64);
    strcpy(fields + 69, ":f4");
    CHECK_ERR(shmap_record_parse(fields, NULL), SHMAP_EDTYPE);
    CHECK_CONTAINS(shmap_last_error(), "field 2's name 'bbbb");
    CHECK_CONTAINS(shmap_last_error(), "is 64 bytes, at most 63");
}

TEST(record_limits__one_byte_order_character_at_most)
{
    static const char *const bad[] = {"|<f4", "=<f4", "|||b", "==f4", "|=bool", "<<f4"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        shmap_dtype dt;
        char fields[64];
        if (shmap_dtype_parse(bad[i], &dt) != SHMAP_EDTYPE)
            test_fail(__FILE__, __LINE__, "shmap_dtype_parse(\"%s\") took it", bad[i]);
        snprintf(fields, sizeof fields, "x:%s", bad[i]);
        CHECK_ERR(shmap_record_parse(fields, NULL), SHMAP_EDTYPE);
        CHECK_CONTAINS(shmap_last_error(), "field 'x' has an unknown type");
    }
    /* One is fine, words after '=' and '|' too. */
    size_t elsize = 0;
    CHECK_OK(shmap_record_parse("a:=f4,b:|b1,c:=float32,d:|u1,e:<f8", &elsize));
    CHECK_EQ_INT(elsize, 4 + 1 + 4 + 1 + 8);
}

TEST(record_limits__a_long_spelling_once_taken_cannot_make_a_segment)
{
    /* '|' forty times then b was stored as written: 'shmap cat' then could not read it. */
    char fields[64] = "x:";
    memset(fields + 2, '|', 40);
    strcpy(fields + 42, "b");
    const char *name = test_name("bars");
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.record_fields = fields;
    uint64_t dims[] = {2};
    shmap_seg *seg = NULL;
    CHECK_ERR(shmap_create(&seg, name, SHMAP_RECORD, 1, dims, &opts), SHMAP_EDTYPE);
    CHECK(!util_shm_exists(name));
}

TEST(record_limits__counts_are_stored_in_plain_digits)
{
    const char *name = test_name("counts");
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.record_fields = "a:f4[ 3],b:u1[+2],c:i2[03],d:u1[1]";
    uint64_t dims[] = {2};
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_RECORD, 1, dims, &opts));
    shmap_info info;
    CHECK_OK(shmap_info_get(seg, &info));
    CHECK_STR(info.record_fields, "a:f4[3],b:u1[2],c:i2[3],d:u1[1]");
    CHECK_EQ_INT(info.elsize, 12 + 2 + 6 + 1);
    /* Open-or-create with the first spelling finds it the same record. */
    opts.flags = SHMAP_CREATE_OPEN;
    shmap_seg *again = NULL;
    CHECK_OK(shmap_create(&again, name, SHMAP_RECORD, 1, dims, &opts));
    CHECK_OK(shmap_close(again));
    CHECK_OK(shmap_close(seg)); /* its creator's close removes it */
    CHECK(!util_shm_exists(name));
}

/* A segment a version before 0.4.3 made with a field name longer than new ones may have
 * still opens, and its field list reads back as stored: its data stays reachable. */
TEST(record_limits__a_stored_field_name_longer_than_new_ones_still_opens)
{
    const char *path = util_test_path("oldnames.seg");
    char name[600];
    snprintf(name, sizeof name, "file:%s", path);
    char made[80], old[80];
    memset(made, 'A', 60);
    strcpy(made + 60, ":f4,bbbbb:f4"); /* 72 bytes, 8-byte elements */
    memset(old, 'A', 69);
    strcpy(old + 69, ":f8"); /* as long, as wide: a 69-byte name */
    CHECK_EQ_INT(strlen(made), strlen(old));
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.record_fields = made;
    const uint64_t dims[1] = {4};
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_RECORD, 1, dims, &opts));
    CHECK_OK(shmap_close(seg));
    /* Written in place as the older version wrote it. */
    struct shmap__header h;
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0);
    CHECK(pread(fd, &h, sizeof h, 0) == (ssize_t)sizeof h);
    CHECK(pwrite(fd, old, strlen(old), (off_t)h.rec_offset) == (ssize_t)strlen(old));
    close(fd);
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDONLY));
    shmap_info info;
    CHECK_OK(shmap_info_get(seg, &info));
    CHECK(strcmp(info.record_fields, old) == 0);
    CHECK_OK(shmap_close(seg));
    /* New ones are still refused. */
    CHECK_ERR(shmap_record_parse(old, NULL), SHMAP_EDTYPE);
    CHECK_OK(shmap_unlink(name));
}
