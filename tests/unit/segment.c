/* Creating, opening and describing segments: types, shapes, sizes, modes, creation options. */
#include <fcntl.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <time.h>

#include "../util.h"

static const shmap_dtype all_types[] = {SHMAP_U8,  SHMAP_I8,  SHMAP_U16,  SHMAP_I16, SHMAP_U32,
                                        SHMAP_I32, SHMAP_U64, SHMAP_I64,  SHMAP_F16, SHMAP_F32,
                                        SHMAP_F64, SHMAP_C64, SHMAP_C128, SHMAP_BOOL};
#define NTYPES (sizeof all_types / sizeof all_types[0])

static void check_shape(const shmap_info *info, shmap_dtype dtype, unsigned ndim,
                        const uint64_t *dims)
{
    uint64_t nelem = 1;
    CHECK_EQ_INT(info->dtype, dtype);
    CHECK_EQ_INT(info->elsize, shmap_dtype_size(dtype));
    CHECK_EQ_INT(info->ndim, ndim);
    for (unsigned i = 0; i < SHMAP_MAX_DIMS; i++) {
        CHECK_EQ_INT(info->dims[i], i < ndim ? dims[i] : 0);
        if (i < ndim)
            nelem *= dims[i];
    }
    CHECK_EQ_INT(info->nelem, nelem);
    CHECK_EQ_INT(info->data_size, nelem * shmap_dtype_size(dtype));
}

TEST(create__every_dtype_round_trips_type_and_shape)
{
    for (size_t t = 0; t < NTYPES; t++) {
        const char *name = test_name("rt");
        unsigned ndim = (unsigned)(t % 4) + 1;
        uint64_t dims[4] = {3, 5, 2, 7};
        shmap_seg *seg = NULL;
        CHECK_OK(shmap_create(&seg, name, all_types[t], ndim, dims, NULL));
        CHECK(shmap_writable(seg));
        shmap_info info;
        CHECK_OK(shmap_info_get(seg, &info));
        check_shape(&info, all_types[t], ndim, dims);
        /* Write a pattern through the mapping; read it back through the name. */
        unsigned char *p = shmap_data(seg);
        CHECK(p != NULL);
        for (uint64_t i = 0; i < info.data_size; i++)
            p[i] = (unsigned char)(i * 7 + t);
        CHECK_OK(shmap_set_destroy(seg, 0));
        CHECK_OK(shmap_close(seg));
        shmap_info st;
        CHECK_OK(shmap_stat(name, &st));
        check_shape(&st, all_types[t], ndim, dims);
        shmap_seg *ro = NULL;
        CHECK_OK(shmap_open(&ro, name, SHMAP_RDONLY));
        CHECK(!shmap_writable(ro));
        const unsigned char *q = shmap_data(ro);
        for (uint64_t i = 0; i < info.data_size; i++)
            CHECK_EQ_INT(q[i], (unsigned char)(i * 7 + t));
        CHECK_OK(shmap_close(ro));
        CHECK(util_shm_exists(name)); /* opened, not created: not destroyed */
        CHECK_OK(shmap_unlink(name));
    }
}

TEST(create__eight_dimensions_are_kept)
{
    const char *name = test_name("8d");
    uint64_t dims[8] = {2, 3, 1, 4, 1, 2, 5, 3};
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_F64, 8, dims, NULL));
    shmap_info info;
    CHECK_OK(shmap_info_get(seg, &info));
    check_shape(&info, SHMAP_F64, 8, dims);
    CHECK_EQ_INT(info.nelem, 720);
    CHECK_OK(shmap_close(seg));
}

TEST(create__ndim_0_and_9_are_eshape_and_leave_nothing)
{
    const char *name = test_name("nd");
    uint64_t dims[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    shmap_seg *seg = NULL;
    CHECK_ERR(shmap_create(&seg, name, SHMAP_U8, 0, dims, NULL), SHMAP_ESHAPE);
    CHECK_DETAIL_NAMES(name);
    CHECK_ERR(shmap_create(&seg, name, SHMAP_U8, 9, dims, NULL), SHMAP_ESHAPE);
    CHECK_DETAIL_NAMES(name);
    CHECK_ERR(shmap_create(&seg, name, SHMAP_U8, 1, NULL, NULL), SHMAP_ESHAPE);
    CHECK(!util_shm_exists(name));
    CHECK_EQ_INT(util_count_hidden_of(getpid()), 0);
}

TEST(create__a_zero_dimension_is_eshape)
{
    const char *name = test_name("z");
    uint64_t dims[3] = {4, 0, 4};
    shmap_seg *seg = NULL;
    CHECK_ERR(shmap_create(&seg, name, SHMAP_F32, 3, dims, NULL), SHMAP_ESHAPE);
    CHECK_CONTAINS(shmap_last_error(), "zero");
    CHECK(!util_shm_exists(name));
}

TEST(create__dims_whose_product_overflows_are_esize)
{
    const char *name = test_name("ovf");
    shmap_seg *seg = NULL;
    /* The product of the dimensions wraps 64 bits (2^32 * 2^32 = 2^64). */
    uint64_t wrap[2] = {1ull << 32, 1ull << 32};
    CHECK_ERR(shmap_create(&seg, name, SHMAP_U8, 2, wrap, NULL), SHMAP_ESIZE);
    CHECK_DETAIL_NAMES(name);
    /* A product that would wrap to exactly 1 element. */
    uint64_t to_one[2] = {0xFFFFFFFFFFFFFFFFull, 0xFFFFFFFFFFFFFFFFull};
    CHECK_ERR(shmap_create(&seg, name, SHMAP_U8, 2, to_one, NULL), SHMAP_ESIZE);
    /* The element count fits, the byte count does not (2^61 * 8 = 2^64). */
    uint64_t bytes[1] = {1ull << 61};
    CHECK_ERR(shmap_create(&seg, name, SHMAP_F64, 1, bytes, NULL), SHMAP_ESIZE);
    /* Fits 64 bits but not off_t. */
    uint64_t huge[1] = {1ull << 63};
    CHECK_ERR(shmap_create(&seg, name, SHMAP_U8, 1, huge, NULL), SHMAP_ESIZE);
    uint64_t many[8] = {256, 256, 256, 256, 256, 256, 256, 256};
    CHECK_ERR(shmap_create(&seg, name, SHMAP_U8, 8, many, NULL), SHMAP_ESIZE);
    CHECK(!util_shm_exists(name));
    CHECK_EQ_INT(util_count_hidden_of(getpid()), 0);
}

TEST(create__bad_dtype_and_bad_name_are_refused)
{
    const char *name = test_name("bad");
    uint64_t dims[1] = {4};
    shmap_seg *seg = NULL;
    CHECK_ERR(shmap_create(&seg, name, SHMAP_DTYPE_NONE, 1, dims, NULL), SHMAP_EDTYPE);
    CHECK_ERR(shmap_create(&seg, name, (shmap_dtype)15, 1, dims, NULL), SHMAP_EDTYPE);
    CHECK_ERR(shmap_create(&seg, name, (shmap_dtype)-1, 1, dims, NULL), SHMAP_EDTYPE);
    CHECK_ERR(shmap_create(&seg, "a/b", SHMAP_U8, 1, dims, NULL), SHMAP_EBADNAME);
    CHECK_CONTAINS(shmap_last_error(), "a/b");
    CHECK_ERR(shmap_create(&seg, "", SHMAP_U8, 1, dims, NULL), SHMAP_EBADNAME);
    CHECK_ERR(shmap_create(&seg, ".shmap-tmp-x", SHMAP_U8, 1, dims, NULL), SHMAP_EBADNAME);
    CHECK(!util_shm_exists(name));
}

TEST(create__newer_opts_version_is_refused)
{
    const char *name = test_name("v");
    uint64_t dims[1] = {4};
    shmap_seg *seg = NULL;
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.version = SHMAP_CREATE_OPTS_VERSION + 100;
    CHECK_ERR(shmap_create(&seg, name, SHMAP_U8, 1, dims, &opts), SHMAP_EINVAL);
    CHECK(!util_shm_exists(name));
}

TEST(create__data_is_zero_filled)
{
    const char *name = test_name("zero");
    uint64_t dims[2] = {300, 301};
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_F64, 2, dims, NULL));
    const unsigned char *p = shmap_data(seg);
    for (uint64_t i = 0; i < 300ull * 301 * 8; i++)
        if (p[i])
            test_fail(__FILE__, __LINE__, "byte %llu is %d", (unsigned long long)i, p[i]);
    CHECK_OK(shmap_close(seg));
}

TEST(info__data_offset_is_4096_and_sizes_add_up)
{
    if (sysconf(_SC_PAGESIZE) != 4096)
        TEST_SKIP("page size is %ld, not 4096", sysconf(_SC_PAGESIZE));
    const char *name = test_name("off");
    uint64_t dims[2] = {512, 512};
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_F32, 2, dims, NULL));
    shmap_info info;
    CHECK_OK(shmap_info_get(seg, &info));
    CHECK_EQ_INT(info.data_offset, 4096);
    CHECK_EQ_INT(info.data_size, 512 * 512 * 4);
    CHECK_EQ_INT(info.version, 1);
    CHECK_EQ_INT(info.store, SHMAP_STORE_POSIX);
    CHECK_STR(info.name, name);
    CHECK(info.os_handle[0] == '/');
    CHECK_STR(info.os_handle + 1, name);
    CHECK_EQ_INT(info.size, util_shm_size(name));
    CHECK(info.size >= info.data_offset + info.data_size);
    CHECK_EQ_INT(info.generation, 0);
    CHECK_EQ_INT(info.nkeywords, 0);
    CHECK_EQ_INT(info.keyword_capacity, 32);
    CHECK_EQ_INT(info.flags, 0);
    CHECK(info.transient); /* its creator destroys it at close */
    CHECK_STR(info.record_fields, "");
    /* The data pointer is the mapping's page 1: data_offset past the header. */
    CHECK(((uintptr_t)shmap_data(seg) & 4095) == 0);
    /* The bytes at data_offset in the object are the data. */
    float *f = shmap_data(seg);
    f[0] = 1.5f;
    f[512 * 512 - 1] = -2.0f;
    char path[SHMAP_NAME_MAX + 16];
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    FILE *fp = fopen(path, "rb");
    CHECK(fp != NULL);
    float first = 0, last = 0;
    CHECK(fseek(fp, 4096, SEEK_SET) == 0);
    CHECK(fread(&first, sizeof first, 1, fp) == 1);
    CHECK(fseek(fp, 4096 + (512 * 512 - 1) * 4, SEEK_SET) == 0);
    CHECK(fread(&last, sizeof last, 1, fp) == 1);
    fclose(fp);
    CHECK(first == 1.5f);
    CHECK(last == -2.0f);
    CHECK_OK(shmap_close(seg));
}

TEST(info__mode_is_0600_by_default_with_umask_022)
{
    umask(022);
    const char *name = test_name("mode");
    uint64_t dims[1] = {10};
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_U8, 1, dims, NULL));
    shmap_info info;
    CHECK_OK(shmap_info_get(seg, &info));
    CHECK_EQ_INT(info.mode, 0600);
    CHECK_EQ_INT(util_shm_mode(name), 0600);
    CHECK_OK(shmap_close(seg));
    /* Even with no umask at all, the default is not wider. */
    umask(0);
    CHECK_OK(shmap_create(&seg, name, SHMAP_U8, 1, dims, NULL));
    CHECK_EQ_INT(util_shm_mode(name), 0600);
    CHECK_OK(shmap_close(seg));
}

TEST(info__wider_mode_on_request_less_the_umask)
{
    const char *name = test_name("wide");
    uint64_t dims[1] = {10};
    shmap_seg *seg = NULL;
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    umask(022);
    opts.mode = 0666;
    CHECK_OK(shmap_create(&seg, name, SHMAP_U8, 1, dims, &opts));
    shmap_info info;
    CHECK_OK(shmap_info_get(seg, &info));
    CHECK_EQ_INT(info.mode, 0644);
    CHECK_EQ_INT(util_shm_mode(name), 0644);
    CHECK_OK(shmap_close(seg));
    umask(0);
    opts.mode = 0660;
    CHECK_OK(shmap_create(&seg, name, SHMAP_U8, 1, dims, &opts));
    CHECK_EQ_INT(util_shm_mode(name), 0660);
    shmap_info st;
    CHECK_OK(shmap_stat(name, &st));
    CHECK_EQ_INT(st.mode, 0660);
    CHECK_OK(shmap_close(seg));
}

TEST(info__creator_pid_uid_and_creation_time)
{
    const char *name = test_name("who");
    uint64_t dims[1] = {10};
    struct timespec t0, t1;
    clock_gettime(CLOCK_REALTIME, &t0);
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_U8, 1, dims, NULL));
    clock_gettime(CLOCK_REALTIME, &t1);
    shmap_info info;
    CHECK_OK(shmap_info_get(seg, &info));
    CHECK_EQ_INT(info.creator_pid, getpid());
    CHECK_EQ_INT(info.creator_uid, geteuid());
    CHECK_EQ_INT(info.uid, geteuid());
    CHECK_EQ_INT(info.gid, getegid());
    int64_t ns0 = (int64_t)t0.tv_sec * 1000000000 + t0.tv_nsec;
    int64_t ns1 = (int64_t)t1.tv_sec * 1000000000 + t1.tv_nsec;
    CHECK(info.created_ns >= ns0);
    CHECK(info.created_ns <= ns1);
    CHECK_OK(shmap_close(seg));
}

TEST(create__is_exclusive_by_default)
{
    const char *name = test_name("excl");
    uint64_t dims[1] = {8};
    shmap_seg *seg = NULL, *again = (shmap_seg *)1;
    CHECK_OK(shmap_create(&seg, name, SHMAP_I32, 1, dims, NULL));
    ((int32_t *)shmap_data(seg))[3] = 77;
    CHECK_ERR(shmap_create(&again, name, SHMAP_I32, 1, dims, NULL), -EEXIST);
    CHECK_DETAIL_NAMES(name);
    /* The same holds for a foreign object under the name. */
    const char *other = test_name("foreign");
    util_shm_write(other, "hello", 5);
    CHECK_ERR(shmap_create(&again, other, SHMAP_I32, 1, dims, NULL), -EEXIST);
    CHECK_EQ_INT(util_shm_size(other), 5);
    util_shm_remove(other);
    CHECK_EQ_INT(((int32_t *)shmap_data(seg))[3], 77);
    CHECK_EQ_INT(util_mapping_refs(name, NULL), 1);
    CHECK_OK(shmap_close(seg));
    CHECK_EQ_INT(util_count_hidden_of(getpid()), 0);
}

TEST(create__replace_swaps_in_a_new_segment_atomically)
{
    const char *name = test_name("repl");
    uint64_t dims[1] = {8}, dims2[2] = {3, 3};
    shmap_seg *old = NULL, *neu = NULL;
    /* The old one is destroy-on-close (the default): it must not take the new name along. */
    CHECK_OK(shmap_create(&old, name, SHMAP_I32, 1, dims, NULL));
    ((int32_t *)shmap_data(old))[0] = 1234;
    shmap_create_opts repl = SHMAP_CREATE_OPTS_INIT;
    repl.flags = SHMAP_CREATE_REPLACE;
    CHECK_OK(shmap_create(&neu, name, SHMAP_F64, 2, dims2, &repl));
    CHECK(shmap_data(neu) != shmap_data(old));
    /* The old mapping keeps its memory; the name now gives the new segment. */
    CHECK_EQ_INT(((int32_t *)shmap_data(old))[0], 1234);
    shmap_info st;
    CHECK_OK(shmap_stat(name, &st));
    CHECK_EQ_INT(st.dtype, SHMAP_F64);
    CHECK_EQ_INT(st.ndim, 2);
    CHECK_EQ_INT(((double *)shmap_data(neu))[0], 0);
    /* Closing the replaced one must not remove the new one's name. */
    CHECK_OK(shmap_close(old));
    CHECK(util_shm_exists(name));
    CHECK_OK(shmap_stat(name, &st));
    CHECK_EQ_INT(st.dtype, SHMAP_F64);
    CHECK_OK(shmap_close(neu));
    CHECK(!util_shm_exists(name));
    /* Replace when nothing exists simply creates. */
    CHECK_OK(shmap_create(&neu, name, SHMAP_U8, 1, dims, &repl));
    CHECK_OK(shmap_close(neu));
    CHECK(!util_shm_exists(name));
}

/* The bytes of file `path` (at most size - 1, NUL-terminated). */
static const char *file_text(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    util_read_to_end(fd, buf, size);
    return buf;
}

/*
 * Replace replaces segments, not whatever has the name: a user's file under a mistyped
 * file: name, another program's POSIX object or System V segment is refused with
 * EFORMAT, as a delete refuses it, and stays as it was.
 */
TEST(create__replace_refuses_an_object_that_is_not_a_segment)
{
    uint64_t dims[1] = {4};
    shmap_seg *seg = NULL;
    shmap_create_opts repl = SHMAP_CREATE_OPTS_INIT;
    repl.flags = SHMAP_CREATE_REPLACE;
    char buf[64], want[SHMAP_NAME_MAX + 64];

    const char *path = util_test_path("precious.txt");
    util_write_file(path, "precious\n", 9);
    char fname[SHMAP_NAME_MAX];
    snprintf(fname, sizeof fname, "file:%s", path);
    CHECK_ERR(shmap_create(&seg, fname, SHMAP_U8, 1, dims, &repl), SHMAP_EFORMAT);
    snprintf(want, sizeof want, "%s: not a shmap segment: refusing to replace it", fname);
    CHECK_CONTAINS(shmap_last_error(), want);
    CHECK_STR(file_text(path, buf, sizeof buf), "precious\n");
    CHECK(unlink(path) == 0);
    /* Nor a FIFO (or a socket, a device): no regular file at all. */
    CHECK(mkfifo(path, 0600) == 0);
    CHECK_ERR(shmap_create(&seg, fname, SHMAP_U8, 1, dims, &repl), -EINVAL);
    CHECK_CONTAINS(shmap_last_error(), "not a regular file (it is a FIFO): refusing to replace it");
    struct stat st;
    CHECK(lstat(path, &st) == 0 && S_ISFIFO(st.st_mode));
    CHECK(unlink(path) == 0);
    /* An empty file holds nothing to lose (mktemp makes one to reserve a path): replaced. */
    util_write_file(path, "", 0);
    CHECK_OK(shmap_create(&seg, fname, SHMAP_U8, 1, dims, &repl));
    CHECK_OK(shmap_close(seg));
    shmap_info got;
    CHECK_OK(shmap_stat(fname, &got));
    CHECK_EQ_INT(got.dims[0], 4);
    CHECK(unlink(path) == 0);

    const char *name = test_name("foreign");
    util_shm_write(name, "other program", 13);
    CHECK_ERR(shmap_create(&seg, name, SHMAP_U8, 1, dims, &repl), SHMAP_EFORMAT);
    CHECK_EQ_INT(util_shm_size(name), 13);
    /* Hidden (an import's way) is refused the same. */
    repl.flags = SHMAP_CREATE_REPLACE | SHMAP_CREATE_HIDDEN;
    CHECK_ERR(shmap_create(&seg, name, SHMAP_U8, 1, dims, &repl), SHMAP_EFORMAT);
    CHECK_EQ_INT(util_shm_size(name), 13);
    CHECK_EQ_INT(util_count_hidden_of(getpid()), 0);
    util_shm_remove(name);

    /* Made by another program, which has gone (a segment a live process made a moment ago
     * may be a shmap segment still being written: that one is waited for). */
    key_t key = test_sysv_key();
    pid_t maker = util_spawn();
    if (maker == 0) {
        int made = shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0600);
        char *q = made >= 0 ? shmat(made, NULL, 0) : (void *)-1;
        if (q == (void *)-1)
            _exit(1);
        memcpy(q, "another program's data", 22);
        _exit(0);
    }
    CHECK_EQ_INT(test_wait(maker), 0);
    int id = shmget(key, 0, 0);
    CHECK(id >= 0);
    char *p = shmat(id, NULL, 0);
    CHECK(p != (void *)-1);
    char sname[64];
    snprintf(sname, sizeof sname, "sysv://0x%08x", (unsigned)key);
    repl.flags = SHMAP_CREATE_REPLACE;
    CHECK_ERR(shmap_create(&seg, sname, SHMAP_U8, 1, dims, &repl), SHMAP_EFORMAT);
    CHECK_EQ_INT(shmget(key, 0, 0), id);
    CHECK(memcmp(p, "another program's data", 22) == 0);
    shmdt(p);
    CHECK(shmctl(id, IPC_RMID, NULL) == 0);
}

TEST(create__open_or_create_creates_when_missing_and_opens_a_match)
{
    const char *name = test_name("ooc");
    uint64_t dims[2] = {4, 5};
    shmap_create_opts ooc = SHMAP_CREATE_OPTS_INIT;
    ooc.flags = SHMAP_CREATE_OPEN;
    shmap_seg *a = NULL, *b = NULL;
    CHECK_OK(shmap_create(&a, name, SHMAP_I16, 2, dims, &ooc));
    ((int16_t *)shmap_data(a))[19] = -5;
    CHECK_OK(shmap_create(&b, name, SHMAP_I16, 2, dims, &ooc));
    CHECK(shmap_data(b) == shmap_data(a));
    CHECK_EQ_INT(((int16_t *)shmap_data(b))[19], -5);
    CHECK_EQ_INT(util_mapping_refs(name, NULL), 2);
    CHECK_OK(shmap_close(b));
    CHECK(util_shm_exists(name));
    CHECK_OK(shmap_close(a));
    CHECK(!util_shm_exists(name));
}

TEST(create__open_or_create_of_a_kept_segment_from_elsewhere_matches)
{
    const char *name = test_name("ooc2");
    uint64_t dims[3] = {2, 3, 4};
    util_make_kept(name, SHMAP_C64, 3, dims);
    shmap_create_opts ooc = SHMAP_CREATE_OPTS_INIT;
    ooc.flags = SHMAP_CREATE_OPEN;
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_C64, 3, dims, &ooc));
    shmap_info info;
    CHECK_OK(shmap_info_get(seg, &info));
    check_shape(&info, SHMAP_C64, 3, dims);
    CHECK_OK(shmap_close(seg));
    /* We did not create it, so closing did not destroy it. */
    CHECK(util_shm_exists(name));
    CHECK_OK(shmap_unlink(name));
}

TEST(create__open_or_create_mismatch_is_emismatch)
{
    const char *name = test_name("mm");
    uint64_t dims[2] = {4, 5};
    util_make_kept(name, SHMAP_F32, 2, dims);
    shmap_create_opts ooc = SHMAP_CREATE_OPTS_INIT;
    ooc.flags = SHMAP_CREATE_OPEN;
    shmap_seg *seg = NULL;
    CHECK_ERR(shmap_create(&seg, name, SHMAP_F64, 2, dims, &ooc), SHMAP_EMISMATCH);
    CHECK_DETAIL_NAMES(name);
    uint64_t other[2] = {5, 4};
    CHECK_ERR(shmap_create(&seg, name, SHMAP_F32, 2, other, &ooc), SHMAP_EMISMATCH);
    uint64_t flat[1] = {20};
    CHECK_ERR(shmap_create(&seg, name, SHMAP_F32, 1, flat, &ooc), SHMAP_EMISMATCH);
    uint64_t more[3] = {4, 5, 1};
    CHECK_ERR(shmap_create(&seg, name, SHMAP_F32, 3, more, &ooc), SHMAP_EMISMATCH);
    /* Nothing was changed or mapped by the failures. */
    CHECK_EQ_INT(util_mapping_refs(name, NULL), 0);
    shmap_info st;
    CHECK_OK(shmap_stat(name, &st));
    CHECK_EQ_INT(st.dtype, SHMAP_F32);
    CHECK_EQ_INT(st.dims[0], 4);
    CHECK_OK(shmap_unlink(name));
}

TEST(create__open_or_create_takes_ring_or_not_as_part_of_the_shape)
{
    const char *plain = test_name("plain"), *ring = test_name("ring");
    uint64_t dims[2] = {8, 1024};
    util_make_kept(plain, SHMAP_F32, 2, dims);
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_RING | SHMAP_CREATE_KEEP;
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, ring, SHMAP_F32, 2, dims, &opts));
    CHECK_OK(shmap_close(seg));

    /* A ring of 8 frames asked for, a plain array of that shape there: 8 times the frame. */
    shmap_create_opts ooc = SHMAP_CREATE_OPTS_INIT;
    ooc.flags = SHMAP_CREATE_OPEN | SHMAP_CREATE_RING;
    CHECK_ERR(shmap_create(&seg, plain, SHMAP_F32, 2, dims, &ooc), SHMAP_EMISMATCH);
    CHECK(seg == NULL);
    CHECK_DETAIL_NAMES(plain);
    CHECK_CONTAINS(shmap_last_error(), "exists as f32[8,1024] (not a ring), asked for "
                                       "f32[8,1024] (a ring of 8 frames)");
    /* And a plain array asked for where a ring is. */
    ooc.flags = SHMAP_CREATE_OPEN;
    CHECK_ERR(shmap_create(&seg, ring, SHMAP_F32, 2, dims, &ooc), SHMAP_EMISMATCH);
    CHECK_CONTAINS(shmap_last_error(), "exists as f32[8,1024] (a ring of 8 frames), asked "
                                       "for f32[8,1024] (not a ring)");
    CHECK_EQ_INT(util_mapping_refs(plain, NULL) + util_mapping_refs(ring, NULL), 0);

    /* Each opens what it is. */
    CHECK_OK(shmap_create(&seg, plain, SHMAP_F32, 2, dims, &ooc));
    CHECK_EQ_INT(shmap_created(seg), 0);
    CHECK_EQ_INT(shmap_ring_length(seg), 1);
    CHECK_OK(shmap_close(seg));
    ooc.flags = SHMAP_CREATE_OPEN | SHMAP_CREATE_RING;
    CHECK_OK(shmap_create(&seg, ring, SHMAP_F32, 2, dims, &ooc));
    CHECK_EQ_INT(shmap_created(seg), 0);
    CHECK_EQ_INT(shmap_ring_length(seg), 8);
    CHECK_EQ_INT(shmap_frame_size(seg), 4096);
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(plain));
    CHECK_OK(shmap_unlink(ring));
}

TEST(create__open_or_create_of_a_foreign_object_is_eformat)
{
    const char *name = test_name("oocf");
    unsigned char junk[8192];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (unsigned char)(i * 131 + 17);
    util_shm_write(name, junk, sizeof junk);
    shmap_create_opts ooc = SHMAP_CREATE_OPTS_INIT;
    ooc.flags = SHMAP_CREATE_OPEN;
    uint64_t dims[1] = {4};
    shmap_seg *seg = NULL;
    CHECK_ERR(shmap_create(&seg, name, SHMAP_U8, 1, dims, &ooc), SHMAP_EFORMAT);
    CHECK_DETAIL_NAMES(name);
    CHECK_EQ_INT(util_shm_size(name), sizeof junk);
    util_shm_remove(name);
}

TEST(open__missing_name_is_enoent)
{
    const char *name = test_name("none");
    shmap_seg *seg = NULL;
    CHECK_ERR(shmap_open(&seg, name, SHMAP_RDWR), -ENOENT);
    CHECK_DETAIL_NAMES(name);
    CHECK_ERR(shmap_open(&seg, "a/b", SHMAP_RDWR), SHMAP_EBADNAME);
    CHECK(!util_shm_exists(name));
}

TEST(open__readonly_handle_is_not_writable_and_refuses_writes)
{
    const char *name = test_name("ro");
    uint64_t dims[1] = {4};
    util_make_kept(name, SHMAP_U32, 1, dims);
    shmap_seg *ro = NULL;
    CHECK_OK(shmap_open(&ro, name, SHMAP_RDONLY));
    CHECK(!shmap_writable(ro));
    CHECK_ERR(shmap_publish(ro), SHMAP_EREADONLY);
    CHECK_EQ_INT(shmap_generation(ro), 0);
    shmap_keyword kw = {0};
    snprintf(kw.name, sizeof kw.name, "K");
    kw.type = SHMAP_KW_INT;
    kw.i = 1;
    CHECK_ERR(shmap_keyword_set(ro, &kw), SHMAP_EREADONLY);
    shmap_mapping *maps = NULL;
    size_t n = 0;
    CHECK_OK(shmap_mappings(&maps, &n));
    int found = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(maps[i].info.name, name) == 0) {
            found++;
            CHECK_EQ_INT(maps[i].writable, 0);
            CHECK_EQ_INT(maps[i].destroy, 0);
        }
    shmap_mappings_free(maps);
    CHECK_EQ_INT(found, 1);
    CHECK_OK(shmap_close(ro));
    CHECK_OK(shmap_unlink(name));
}

TEST(unlink__removes_the_name_but_mappings_keep_their_memory)
{
    const char *name = test_name("unl");
    uint64_t dims[1] = {1024};
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_U64, 1, dims, NULL));
    uint64_t *p = shmap_data(seg);
    p[1023] = 0xfeedull;
    CHECK_OK(shmap_unlink(name));
    CHECK(!util_shm_exists(name));
    shmap_info st;
    CHECK_ERR(shmap_stat(name, &st), -ENOENT);
    p[1022] = 1;
    CHECK_EQ_INT(p[1023], 0xfeed);
    /* A new segment may now take the name while the old one is still mapped. */
    shmap_seg *other = NULL;
    CHECK_OK(shmap_create(&other, name, SHMAP_U8, 1, dims, NULL));
    CHECK(shmap_data(other) != shmap_data(seg));
    /* Closing the old (created, destroy-on-close) one must not remove the new one. */
    CHECK_OK(shmap_close(seg));
    CHECK(util_shm_exists(name));
    CHECK_OK(shmap_close(other));
    CHECK(!util_shm_exists(name));
    CHECK_ERR(shmap_unlink(name), -ENOENT);
    CHECK_ERR(shmap_unlink("a/b"), SHMAP_EBADNAME);
}

TEST(info_get__null_arguments_are_einval)
{
    shmap_info info;
    CHECK_ERR(shmap_info_get(NULL, &info), SHMAP_EINVAL);
    CHECK_OK(shmap_close(NULL));
}

TEST(create__misuse_of_options_is_einval)
{
    const char *name = test_name("inv");
    const uint64_t dims[1] = {4};
    shmap_seg *seg = NULL;
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_REPLACE | SHMAP_CREATE_OPEN;
    CHECK_ERR(shmap_create(&seg, name, SHMAP_U8, 1, dims, &opts), SHMAP_EINVAL);
    opts = (shmap_create_opts)SHMAP_CREATE_OPTS_INIT;
    opts.flags = 1u << 30;
    CHECK_ERR(shmap_create(&seg, name, SHMAP_U8, 1, dims, &opts), SHMAP_EINVAL);
    opts = (shmap_create_opts)SHMAP_CREATE_OPTS_INIT;
    opts.mode = 010000;
    CHECK_ERR(shmap_create(&seg, name, SHMAP_U8, 1, dims, &opts), SHMAP_EINVAL);
    opts = (shmap_create_opts)SHMAP_CREATE_OPTS_INIT;
    opts.record_fields = "x:f4";
    CHECK_ERR(shmap_create(&seg, name, SHMAP_U8, 1, dims, &opts), SHMAP_EINVAL);
    opts = (shmap_create_opts)SHMAP_CREATE_OPTS_INIT;
    opts.version = 0;
    CHECK_ERR(shmap_create(&seg, name, SHMAP_U8, 1, dims, &opts), SHMAP_EINVAL);
    CHECK_ERR(shmap_create(NULL, name, SHMAP_U8, 1, dims, NULL), SHMAP_EINVAL);
    CHECK_ERR(shmap_open(NULL, name, SHMAP_RDONLY), SHMAP_EINVAL);
    CHECK_ERR(shmap_open(&seg, name, 0x80), SHMAP_EINVAL);
    CHECK(!util_shm_exists(name));
}

TEST(create__prefault_and_transient_segments_work_and_are_flagged)
{
    const char *name = test_name("pf");
    const uint64_t dims[2] = {256, 256};
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_PREFAULT | SHMAP_CREATE_TRANSIENT;
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_C128, 2, dims, &opts));
    shmap_info info;
    CHECK_OK(shmap_info_get(seg, &info));
    CHECK_EQ_INT(info.flags, SHMAP_SEG_TRANSIENT);
    CHECK_EQ_INT(info.data_size, 256 * 256 * 16);
    double *v = shmap_data(seg);
    v[2 * 256 * 256 - 1] = 3.0;
    CHECK_OK(shmap_close(seg));
    CHECK(!util_shm_exists(name));
}

TEST(create__open_or_create_of_a_record_checks_the_field_list)
{
    const char *name = test_name("ooc-rec");
    const uint64_t dims[1] = {5};
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_KEEP;
    opts.record_fields = "a:f4,b:f4";
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_RECORD, 1, dims, &opts));
    CHECK_OK(shmap_close(seg));
    opts.flags = SHMAP_CREATE_OPEN;
    CHECK_OK(shmap_create(&seg, name, SHMAP_RECORD, 1, dims, &opts));
    CHECK_OK(shmap_close(seg));
    /* The same fields spelled otherwise (numpy, words, byte order, a count of 1). */
    opts.record_fields = "a:float32,b:<f4[1]";
    CHECK_OK(shmap_create(&seg, name, SHMAP_RECORD, 1, dims, &opts));
    CHECK_OK(shmap_close(seg));
    opts.record_fields = "a:f32,b:float";
    CHECK_OK(shmap_create(&seg, name, SHMAP_RECORD, 1, dims, &opts));
    CHECK_OK(shmap_close(seg));
    /* Same size (8 bytes), other fields; the message shows both lists. */
    opts.record_fields = "a:f8";
    CHECK_ERR(shmap_create(&seg, name, SHMAP_RECORD, 1, dims, &opts), SHMAP_EMISMATCH);
    CHECK_CONTAINS(shmap_last_error(), "exists as record[5] {a:f4,b:f4}, asked for record[5] "
                                       "{a:f8}");
    opts.record_fields = "a:f4,c:f4";
    CHECK_ERR(shmap_create(&seg, name, SHMAP_RECORD, 1, dims, &opts), SHMAP_EMISMATCH);
    opts.record_fields = "a:f4,b:i4";
    CHECK_ERR(shmap_create(&seg, name, SHMAP_RECORD, 1, dims, &opts), SHMAP_EMISMATCH);
    opts.record_fields = "a:f4[2]";
    CHECK_ERR(shmap_create(&seg, name, SHMAP_RECORD, 1, dims, &opts), SHMAP_EMISMATCH);
    opts.record_fields = "b:f4,a:f4";
    CHECK_ERR(shmap_create(&seg, name, SHMAP_RECORD, 1, dims, &opts), SHMAP_EMISMATCH);
    CHECK_OK(shmap_unlink(name));
}
