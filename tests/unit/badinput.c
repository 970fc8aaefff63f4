/*
 * Never trust the segment: objects made or damaged by hand must be refused with a precise
 * code and a detail naming the segment, through shmap_open (read-only and read-write) and
 * shmap_stat alike, and never crash.
 */
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "../util.h"

/* Every way of attaching refuses the object with `code` and names it. */
static void check_refused(const char *name, int code)
{
    shmap_seg *seg = (shmap_seg *)1;
    int rc = shmap_open(&seg, name, SHMAP_RDONLY);
    if (rc != code)
        test_fail(__FILE__, __LINE__, "shmap_open(%s, RDONLY) = %s, expected %s (%s)", name,
                  shmap_errname(rc), shmap_errname(code), shmap_last_error());
    CHECK(seg == NULL);
    CHECK_DETAIL_NAMES(name);
    rc = shmap_open(&seg, name, SHMAP_RDWR);
    if (rc != code)
        test_fail(__FILE__, __LINE__, "shmap_open(%s, RDWR) = %s, expected %s (%s)", name,
                  shmap_errname(rc), shmap_errname(code), shmap_last_error());
    CHECK_DETAIL_NAMES(name);
    shmap_info info;
    rc = shmap_stat(name, &info);
    if (rc != code)
        test_fail(__FILE__, __LINE__, "shmap_stat(%s) = %s, expected %s (%s)", name,
                  shmap_errname(rc), shmap_errname(code), shmap_last_error());
    CHECK_DETAIL_NAMES(name);
    /* A refused object is not left mapped, and is not removed or changed. */
    CHECK_EQ_INT(util_mapping_refs(name, NULL), 0);
    CHECK(!util_proc_maps_has(name));
    CHECK(util_shm_exists(name));
}

/* A valid f32 segment of `n` elements, kept; its header is returned in `h`. */
static void make_valid(const char *name, uint64_t n, struct shmap__header *h)
{
    const uint64_t d[1] = {n};
    util_make_kept(name, SHMAP_F32, 1, d);
    util_header_read(name, h);
    CHECK(memcmp(h->magic, SHMAP__MAGIC, SHMAP__MAGIC_LEN) == 0);
    CHECK_EQ_INT(h->checksum, util_header_checksum(h));
}

TEST(checksum__is_the_documented_word_sum_over_the_fixed_part)
{
    /* The documented sum of an all-zero fixed part: 31 steps on zero words. */
    struct shmap__header zero;
    memset(&zero, 0, sizeof zero);
    uint64_t x = 0xcbf29ce484222325ull;
    for (int i = 0; i < 31; i++)
        x *= 0x100000001b3ull;
    CHECK_EQ_INT(util_header_checksum(&zero), (long long)x);
    const char *name = test_name("ck");
    struct shmap__header h;
    make_valid(name, 10, &h);
    CHECK_EQ_INT(h.version, 1);
    CHECK_EQ_INT(h.bom, SHMAP__BOM);
    CHECK_EQ_INT(h.state, SHMAP__STATE_READY);
    CHECK_EQ_INT(h.header_size, 4096);
    CHECK_EQ_INT(h.dtype, SHMAP_F32);
    CHECK_EQ_INT(h.elsize, 4);
    CHECK_EQ_INT(h.ndim, 1);
    CHECK_EQ_INT(h.dims[0], 10);
    CHECK_EQ_INT(h.data_size, 40);
    CHECK(h.total_size <= (uint64_t)util_shm_size(name));
    util_shm_remove(name);
}

TEST(open__random_bytes_are_eformat)
{
    const char *name = test_name("rand");
    static unsigned char junk[3 * 4096];
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < sizeof junk; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        junk[i] = (unsigned char)x;
    }
    util_shm_write(name, junk, sizeof junk);
    check_refused(name, SHMAP_EFORMAT);
    util_shm_remove(name);
}

TEST(open__a_zero_filled_object_is_eformat)
{
    const char *name = test_name("zero");
    static unsigned char zeros[2 * 4096 + 100];
    util_shm_write(name, zeros, sizeof zeros);
    check_refused(name, SHMAP_EFORMAT);
    util_shm_remove(name);
}

TEST(open__an_empty_object_is_eformat)
{
    const char *name = test_name("empty");
    util_shm_write(name, "", 0);
    check_refused(name, SHMAP_EFORMAT);
    util_shm_remove(name);
}

TEST(open__an_object_too_small_for_the_magic_is_eformat)
{
    const char *name = test_name("tiny");
    util_shm_write(name, SHMAP__MAGIC, 5); /* the start of the magic, no more */
    check_refused(name, SHMAP_EFORMAT);
    util_shm_remove(name);
}

TEST(open__a_foreign_text_object_smaller_than_a_header_is_eformat)
{
    const char *name = test_name("text");
    const char text[] = "this is somebody else's shared memory, not a shmap segment\n";
    util_shm_write(name, text, sizeof text - 1);
    check_refused(name, SHMAP_EFORMAT);
    util_shm_remove(name);
}

TEST(open__a_header_cut_short_is_etruncated)
{
    const char *name = test_name("cut");
    struct shmap__header h;
    make_valid(name, 10, &h);
    util_shm_truncate(name, 100); /* the magic is there, the rest of the header is not */
    check_refused(name, SHMAP_ETRUNCATED);
    util_shm_remove(name);
}

TEST(open__an_object_truncated_after_creation_is_etruncated)
{
    const char *name = test_name("trunc");
    struct shmap__header h;
    make_valid(name, 4096, &h);    /* 16 KiB of data */
    util_shm_truncate(name, 4096); /* header only */
    check_refused(name, SHMAP_ETRUNCATED);
    CHECK_CONTAINS(shmap_last_error(), "4096");
    util_shm_remove(name);
    make_valid(name, 4096, &h);
    util_shm_truncate(name, (long long)h.total_size - 1); /* one byte short */
    check_refused(name, SHMAP_ETRUNCATED);
    util_shm_remove(name);
}

TEST(open__a_longer_object_than_recorded_is_accepted)
{
    const char *name = test_name("long");
    struct shmap__header h;
    make_valid(name, 10, &h);
    util_shm_truncate(name, (long long)h.total_size + 3 * 4096);
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDONLY));
    shmap_info info;
    CHECK_OK(shmap_info_get(seg, &info));
    CHECK_EQ_INT(info.dims[0], 10);
    CHECK_OK(shmap_close(seg));
    util_shm_remove(name);
}

TEST(open__a_wrong_magic_is_eformat)
{
    const char *name = test_name("magic");
    struct shmap__header h;
    make_valid(name, 10, &h);
    h.magic[1] = 'X';
    util_fix_checksum(&h);
    util_header_write(name, &h);
    check_refused(name, SHMAP_EFORMAT);
    util_shm_remove(name);
}

TEST(open__a_wrong_version_is_eversion)
{
    const char *name = test_name("ver");
    struct shmap__header h;
    make_valid(name, 10, &h);
    h.version = 2;
    util_fix_checksum(&h);
    util_header_write(name, &h);
    check_refused(name, SHMAP_EVERSION);
    /* A future version may change the checksum too: the version is judged first. */
    h.checksum ^= 1;
    util_header_write(name, &h);
    check_refused(name, SHMAP_EVERSION);
    h.version = 0;
    util_fix_checksum(&h);
    util_header_write(name, &h);
    check_refused(name, SHMAP_EVERSION);
    util_shm_remove(name);
}

TEST(open__a_byte_swapped_bom_is_ebyteorder)
{
    const char *name = test_name("bom");
    struct shmap__header h;
    make_valid(name, 10, &h);
    h.bom = SHMAP__BOM_SWAPPED;
    util_fix_checksum(&h);
    util_header_write(name, &h);
    check_refused(name, SHMAP_EBYTEORDER);
    util_shm_remove(name);
}

static uint32_t bswap32(uint32_t v)
{
    return __builtin_bswap32(v);
}

/* A header as a machine of the other byte order writes it: every field swapped. */
TEST(open__a_segment_from_an_other_endian_machine_is_ebyteorder)
{
    const char *name = test_name("bige");
    struct shmap__header h;
    make_valid(name, 10, &h);
    h.bom = bswap32(h.bom);
    h.version = bswap32(h.version);
    h.header_size = bswap32(h.header_size);
    h.data_offset = __builtin_bswap64(h.data_offset);
    h.data_size = __builtin_bswap64(h.data_size);
    h.total_size = __builtin_bswap64(h.total_size);
    h.dtype = bswap32(h.dtype);
    h.elsize = bswap32(h.elsize);
    h.ndim = bswap32(h.ndim);
    h.dims[0] = __builtin_bswap64(h.dims[0]);
    h.checksum = __builtin_bswap64(util_header_checksum(&h));
    h.state = bswap32(h.state);
    util_header_write(name, &h);
    check_refused(name, SHMAP_EBYTEORDER);
    util_shm_remove(name);
}

TEST(open__a_flipped_byte_in_the_fixed_part_is_ecorrupt)
{
    const char *name = test_name("flip");
    struct shmap__header h, orig;
    make_valid(name, 10, &orig);
    /* Offsets past magic, bom and version, in fields a reader would otherwise trust. */
    static const size_t offsets[] = {20,  24,  33,  40,  48,  64,  71,  128,
                                     136, 140, 152, 160, 200, 247, 248, 255};
    for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
        h = orig;
        ((unsigned char *)&h)[offsets[i]] ^= 0x10;
        util_header_write(name, &h);
        shmap_seg *seg = NULL;
        int rc = shmap_open(&seg, name, SHMAP_RDONLY);
        if (rc != SHMAP_ECORRUPT)
            test_fail(__FILE__, __LINE__, "byte %zu flipped: %s, expected SHMAP_ECORRUPT (%s)",
                      offsets[i], shmap_errname(rc), shmap_last_error());
        CHECK_DETAIL_NAMES(name);
    }
    /* The mutable part is not covered: a changed generation is fine. */
    h = orig;
    h.generation = 12345;
    util_header_write(name, &h);
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDONLY));
    CHECK_EQ_INT(shmap_generation(seg), 12345);
    CHECK_OK(shmap_close(seg));
    util_shm_remove(name);
}

TEST(open__dims_whose_product_overflows_are_ecorrupt_even_with_a_valid_checksum)
{
    const char *name = test_name("ovf");
    struct shmap__header h, orig;
    make_valid(name, 10, &orig);
    /* 2^32 * 2^32 wraps to 0; 2^62 * 2 * 4 bytes wraps; both checksummed correctly. */
    const uint64_t cases[][2] = {{1ull << 32, 1ull << 32},
                                 {1ull << 62, 2},
                                 {0xFFFFFFFFFFFFFFFFull, 0xFFFFFFFFFFFFFFFFull},
                                 {1ull << 61, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        h = orig;
        h.ndim = 2;
        h.dims[0] = cases[i][0];
        h.dims[1] = cases[i][1];
        util_fix_checksum(&h);
        util_header_write(name, &h);
        check_refused(name, SHMAP_ECORRUPT);
    }
    util_shm_remove(name);
}

/* The detail starts with the segment's name, as every other refusal's does, and says what
 * in the header is wrong, when a checksummed header records a layout no creator could
 * have made. */
TEST(open__an_impossible_recorded_layout_is_named_first_and_said)
{
    const char *name = test_name("lay");
    struct shmap__header h, orig;
    make_valid(name, 10, &orig);
    char want[SHMAP_NAME_MAX + 64];
    snprintf(want, sizeof want, "%s: recorded layout is invalid: ", name);
    h = orig;
    h.ndim = 2;
    h.dims[0] = h.dims[1] = 1ull << 32;
    util_fix_checksum(&h);
    util_header_write(name, &h);
    check_refused(name, SHMAP_ECORRUPT);
    CHECK(strncmp(shmap_last_error(), want, strlen(want)) == 0);
    CHECK_CONTAINS(shmap_last_error(), "overflows");
    h = orig;
    h.kw_capacity = SHMAP_KEYWORD_CAPACITY_MAX + 1;
    util_fix_checksum(&h);
    util_header_write(name, &h);
    check_refused(name, SHMAP_ECORRUPT);
    CHECK(strncmp(shmap_last_error(), want, strlen(want)) == 0);
    CHECK_CONTAINS(shmap_last_error(), "4097 keyword slots");
    /* A field list recorded for a type that is not a record: said as such, not as a wrong
     * element size (the size is right). */
    h = orig;
    h.rec_len = 10;
    util_fix_checksum(&h);
    util_header_write(name, &h);
    check_refused(name, SHMAP_ECORRUPT);
    snprintf(want, sizeof want, "%s: a record field list (10 bytes) is recorded for type f32, "
                                "which is not a record", name);
    CHECK_STR(shmap_last_error(), want);
    util_shm_remove(name);
}

TEST(open__dims_not_matching_the_data_size_are_ecorrupt)
{
    const char *name = test_name("dims");
    struct shmap__header h, orig;
    make_valid(name, 1024, &orig);
    /* Claims more elements than the data holds. */
    h = orig;
    h.dims[0] = 2048;
    util_fix_checksum(&h);
    util_header_write(name, &h);
    check_refused(name, SHMAP_ECORRUPT);
    /* Claims fewer. */
    h = orig;
    h.dims[0] = 512;
    util_fix_checksum(&h);
    util_header_write(name, &h);
    check_refused(name, SHMAP_ECORRUPT);
    /* Consistent dims and data size, but more than the object holds. */
    h = orig;
    h.dims[0] = 1u << 20;
    h.data_size = 4ull << 20;
    h.kw_offset = h.data_offset + h.data_size;
    h.rec_offset = h.kw_offset + (uint64_t)h.kw_capacity * SHMAP__KW_SLOT_SIZE;
    h.total_size = h.rec_offset;
    util_fix_checksum(&h);
    util_header_write(name, &h);
    check_refused(name, SHMAP_ETRUNCATED);
    /* A zero dimension. */
    h = orig;
    h.dims[0] = 0;
    h.data_size = 0;
    util_fix_checksum(&h);
    util_header_write(name, &h);
    check_refused(name, SHMAP_ECORRUPT);
    /* A dimension set past ndim. */
    h = orig;
    h.dims[3] = 1;
    util_fix_checksum(&h);
    util_header_write(name, &h);
    check_refused(name, SHMAP_ECORRUPT);
    util_shm_remove(name);
}

TEST(open__ndim_0_or_9_recorded_is_ecorrupt)
{
    const char *name = test_name("nd");
    struct shmap__header h, orig;
    make_valid(name, 10, &orig);
    const uint32_t nd[] = {0, 9, 0xFFFFFFFFu};
    for (size_t i = 0; i < sizeof nd / sizeof nd[0]; i++) {
        h = orig;
        h.ndim = nd[i];
        util_fix_checksum(&h);
        util_header_write(name, &h);
        check_refused(name, SHMAP_ECORRUPT);
    }
    util_shm_remove(name);
}

TEST(open__an_unknown_type_or_wrong_element_size_is_ecorrupt)
{
    const char *name = test_name("dt");
    struct shmap__header h, orig;
    make_valid(name, 10, &orig);
    h = orig;
    h.dtype = 99;
    util_fix_checksum(&h);
    util_header_write(name, &h);
    check_refused(name, SHMAP_ECORRUPT);
    h = orig;
    h.dtype = SHMAP_F64; /* 10 f64 would need 80 bytes, and elsize says 4 */
    util_fix_checksum(&h);
    util_header_write(name, &h);
    check_refused(name, SHMAP_ECORRUPT);
    h = orig;
    h.dtype = SHMAP_RECORD; /* a record with no field list */
    util_fix_checksum(&h);
    util_header_write(name, &h);
    check_refused(name, SHMAP_ECORRUPT);
    util_shm_remove(name);
}

TEST(open__data_offset_misaligned_or_past_the_end_is_refused)
{
    if (sysconf(_SC_PAGESIZE) != 4096)
        TEST_SKIP("page size is not 4096");
    const char *name = test_name("doff");
    struct shmap__header h, orig;
    make_valid(name, 10, &orig);
    const uint64_t bad[] = {4000, 4100, 0, 100, 6144};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        h = orig;
        h.data_offset = bad[i];
        util_fix_checksum(&h);
        util_header_write(name, &h);
        check_refused(name, SHMAP_ECORRUPT);
    }
    /* Page-aligned and consistent with the other offsets, but past the end of the object. */
    const uint64_t far[] = {1ull << 40, 0xFFFFFFFFFFFFF000ull};
    for (size_t i = 0; i < sizeof far / sizeof far[0]; i++) {
        h = orig;
        h.data_offset = far[i];
        h.kw_offset = (far[i] + h.data_size + 7) & ~7ull;
        h.rec_offset = h.kw_offset + (uint64_t)h.kw_capacity * SHMAP__KW_SLOT_SIZE;
        h.total_size = h.rec_offset;
        util_fix_checksum(&h);
        util_header_write(name, &h);
        shmap_seg *seg = NULL;
        int rc = shmap_open(&seg, name, SHMAP_RDONLY);
        if (rc != SHMAP_ETRUNCATED && rc != SHMAP_ECORRUPT)
            test_fail(__FILE__, __LINE__, "data_offset %#llx: %s (%s)", (unsigned long long)far[i],
                      shmap_errname(rc), shmap_last_error());
        CHECK_DETAIL_NAMES(name);
    }
    util_shm_remove(name);
}

TEST(open__keyword_or_record_offsets_out_of_place_are_ecorrupt)
{
    const char *name = test_name("kwoff");
    struct shmap__header h, orig;
    make_valid(name, 10, &orig);
    h = orig;
    h.kw_offset = 1ull << 50;
    util_fix_checksum(&h);
    util_header_write(name, &h);
    check_refused(name, SHMAP_ECORRUPT);
    h = orig;
    h.kw_capacity = 0xFFFFFFFFu;
    util_fix_checksum(&h);
    util_header_write(name, &h);
    check_refused(name, SHMAP_ECORRUPT);
    h = orig;
    h.total_size = 16;
    util_fix_checksum(&h);
    util_header_write(name, &h);
    check_refused(name, SHMAP_ECORRUPT);
    util_shm_remove(name);
}

TEST(open__a_record_segment_with_a_damaged_field_list_is_ecorrupt)
{
    const char *name = test_name("recd");
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_KEEP;
    opts.record_fields = "x:f4,y:f4";
    const uint64_t d[1] = {4};
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_RECORD, 1, d, &opts));
    CHECK_OK(shmap_close(seg));
    struct shmap__header h;
    util_header_read(name, &h);
    CHECK_EQ_INT(h.rec_len, 10);
    /* Change the field list (outside the checksum) so it no longer gives 8-byte records. */
    FILE *f;
    char path[SHMAP_NAME_MAX + 16];
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    CHECK((f = fopen(path, "r+b")) != NULL);
    CHECK(fseek(f, (long)h.rec_offset, SEEK_SET) == 0);
    CHECK(fwrite("x:f8,y:f4", 1, 9, f) == 9);
    fclose(f);
    check_refused(name, SHMAP_ECORRUPT);
    /* Not NUL-terminated. */
    CHECK((f = fopen(path, "r+b")) != NULL);
    CHECK(fseek(f, (long)h.rec_offset, SEEK_SET) == 0);
    CHECK(fwrite("x:f4,y:f4Z", 1, 10, f) == 10);
    fclose(f);
    shmap_seg *s2 = NULL;
    CHECK_ERR(shmap_open(&s2, name, SHMAP_RDONLY), SHMAP_ECORRUPT);
    util_shm_remove(name);
}

TEST(open__state_init_from_a_dead_creator_is_eincomplete)
{
    const char *name = test_name("init");
    struct shmap__header h;
    make_valid(name, 10, &h);
    pid_t pid = util_dead_pid();
    h.creator_pid = pid;
    h.creator_start = 0;
    util_fix_checksum(&h);
    h.state = SHMAP__STATE_INIT;
    util_header_write(name, &h);
    check_refused(name, SHMAP_EINCOMPLETE);
    /* An unknown state word is corrupt, not incomplete. */
    h.state = 77;
    util_header_write(name, &h);
    check_refused(name, SHMAP_ECORRUPT);
    util_shm_remove(name);
}

TEST(open__waits_for_a_live_creator_still_initialising)
{
    const char *name = test_name("wait");
    struct shmap__header h;
    make_valid(name, 10, &h);
    int go;
    pid_t pid = util_spawn_waiting(&go);
    if (pid == 0) {
        /* The "creator": finish the header a little after the parent starts to open. */
        struct timespec ms = {0, 100 * 1000000};
        nanosleep(&ms, NULL);
        struct shmap__header hh;
        util_header_read(name, &hh);
        hh.state = SHMAP__STATE_READY;
        util_header_write(name, &hh);
        _exit(0);
    }
    h.creator_pid = pid;
    h.creator_start = 0;
    util_fix_checksum(&h);
    h.state = SHMAP__STATE_INIT;
    util_header_write(name, &h);
    util_go(go);
    shmap_seg *seg = NULL;
    int rc = shmap_open(&seg, name, SHMAP_RDONLY);
    CHECK_EQ_INT(test_wait(pid), 0);
    CHECK_OK(rc);
    shmap_info info;
    CHECK_OK(shmap_info_get(seg, &info));
    CHECK_EQ_INT(info.creator_pid, pid);
    CHECK_OK(shmap_close(seg));
    util_shm_remove(name);
}

TEST(open__a_directory_or_unopenable_name_is_a_clean_error)
{
    const char *name = test_name("dir");
    char path[SHMAP_NAME_MAX + 16];
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    CHECK(mkdir(path, 0700) == 0);
    shmap_seg *seg = NULL;
    int rc = shmap_open(&seg, name, SHMAP_RDONLY);
    rmdir(path);
    CHECK(rc < 0);
    CHECK(seg == NULL);
}

/*
 * Random damage to a valid header, with the checksum recomputed so the checks past it are
 * exercised: every open either fails cleanly or gives a description that fits the object.
 */
TEST(open__randomly_damaged_headers_never_crash_or_overrun)
{
    const char *name = test_name("fuzz");
    struct shmap__header orig, h;
    make_valid(name, 1000, &orig);
    long long size = util_shm_size(name);
    uint64_t x = 0x2545F4914F6CDD1Dull;
    int accepted = 0;
    for (int iter = 0; iter < 400; iter++) {
        h = orig;
        int nchanges = 1 + iter % 4;
        for (int c = 0; c < nchanges; c++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            size_t off = 16 + (size_t)(x % (SHMAP__FIXED_SIZE - 16));
            unsigned char *p = (unsigned char *)&h;
            switch ((x >> 32) % 4) {
            case 0:
                p[off] ^= (unsigned char)(1u << ((x >> 40) % 8));
                break;
            case 1:
                p[off] = 0xff;
                break;
            case 2:
                p[off] = 0;
                break;
            default:
                p[off] = (unsigned char)(x >> 48);
                break;
            }
        }
        util_fix_checksum(&h);
        util_header_write(name, &h);
        shmap_seg *seg = NULL;
        int rc = shmap_open(&seg, name, SHMAP_RDONLY);
        if (rc == 0) {
            accepted++;
            shmap_info info;
            CHECK_OK(shmap_info_get(seg, &info));
            CHECK(info.data_offset + info.data_size <= (uint64_t)size);
            CHECK(info.ndim >= 1 && info.ndim <= 8);
            /* Touch the first and last byte of the data: must not fault. */
            const volatile unsigned char *d = shmap_data(seg);
            if (info.data_size) {
                (void)d[0];
                (void)d[info.data_size - 1];
            }
            CHECK_OK(shmap_close(seg));
        } else {
            CHECK(rc <= -30000 || rc == -EINVAL);
            CHECK_DETAIL_NAMES(name);
        }
        shmap_info st;
        rc = shmap_stat(name, &st);
        CHECK(rc == 0 || rc <= -30000);
    }
    (void)accepted;
    util_shm_remove(name);
}

TEST(open__a_live_creator_that_never_finishes_is_eincomplete_after_a_bounded_wait)
{
    const char *name = test_name("stuck");
    struct shmap__header h;
    make_valid(name, 10, &h);
    int hold[2];
    CHECK(pipe(hold) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        /* A creator that stays alive and never marks the segment ready. */
        char c;
        close(hold[1]);
        ssize_t n = read(hold[0], &c, 1);
        _exit(n < 0 ? 1 : 0);
    }
    close(hold[0]);
    h.creator_pid = pid;
    h.creator_start = 0;
    util_fix_checksum(&h);
    h.state = SHMAP__STATE_INIT;
    util_header_write(name, &h);
    shmap_seg *seg = NULL;
    int rc = shmap_open(&seg, name, SHMAP_RDONLY);
    close(hold[1]);
    CHECK_EQ_INT(test_wait(pid), 0);
    CHECK_ERR(rc, SHMAP_EINCOMPLETE);
    CHECK_DETAIL_NAMES(name);
    CHECK(seg == NULL);
    util_shm_remove(name);
}
