/*
 * Damaged, incomplete and foreign objects as the shmap command reports them: one line that
 * starts with the name, says what is wrong, and, from `rm`, says that --force removes what
 * rm itself will not. The headers are damaged by hand (docs/FORMAT.md), with the checksum
 * made right again where the test is about what lies beyond it.
 */
#include "../util.h"

/* A kept f32 segment of 3 elements; its header in `h`. */
static void make_f32(const char *name, struct shmap__header *h)
{
    const uint64_t d[1] = {3};
    util_make_kept(name, SHMAP_F32, 1, d);
    util_header_read(name, h);
}

/* stderr is "shmap: NAME: " then text starting with `start`, on one line. */
static void check_named_first(const char *err, const char *name, const char *start)
{
    char want[SHMAP_NAME_MAX + 256];
    snprintf(want, sizeof want, "shmap: %s: %s", name, start);
    CHECK_ERROR_LINE(err, name);
    if (strncmp(err, want, strlen(want)) != 0)
        test_fail(__FILE__, __LINE__, "\"%s\" does not start with \"%s\"", err, want);
}

/* How many times `needle` occurs in `hay`. */
static int count_of(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

TEST(cli__a_damaged_header_is_reported_name_first_and_rm_points_to_force)
{
    const char *name = test_name("dmg");
    char *out = NULL, *err = NULL;
    struct shmap__header h, orig;
    for (int k = 0; k < 3; k++) {
        make_f32(name, &orig);
        h = orig;
        const char *start;
        if (k == 0) { /* dims whose product overflows, checksummed */
            h.ndim = 2;
            h.dims[0] = h.dims[1] = 1ull << 32;
            start = "recorded layout is invalid: the product of the dimensions overflows";
        } else if (k == 1) { /* more keyword slots than any segment may have */
            h.kw_capacity = 5000;
            start = "recorded layout is invalid: 5000 keyword slots, at most 4096";
        } else { /* a record field list on an f32 segment */
            h.rec_len = 10;
            start = "a record field list (10 bytes) is recorded for type f32, which is not a "
                    "record";
        }
        util_fix_checksum(&h);
        util_header_write(name, &h);
        RUN(1, "info", name);
        check_named_first(err, name, start);
        RUN(1, "cat", name);
        check_named_first(err, name, start);
        /* rm cannot lock what it cannot open: it says what can remove it, and leaves it. */
        RUN(1, "rm", name);
        check_named_first(err, name, start);
        CHECK_CONTAINS(err, "(use --force to remove it)\n");
        CHECK(util_shm_exists(name));
        RUN(0, "rm", "--force", name);
        CHECK_STR(err, "");
        CHECK(!util_shm_exists(name));
    }
    /* Truncated after creation: the same hint. */
    const uint64_t d[1] = {1000};
    util_make_kept(name, SHMAP_F64, 1, d);
    util_shm_truncate(name, 4096);
    RUN(1, "rm", name);
    check_named_first(err, name, "object is 4096 bytes");
    CHECK_CONTAINS(err, "(use --force to remove it)\n");
    RUN(0, "rm", "--force", name);
    CHECK(!util_shm_exists(name));
    util_clear(&out, &err);
}

/*
 * A POSIX segment only gets its name once complete, so one found in the INIT state under
 * its name was damaged or written by something else: gc leaves it (it removes only what it
 * can prove a dead creation left), and the message must not promise otherwise.
 */
TEST(cli__a_posix_segment_left_incomplete_says_how_to_remove_it_and_that_works)
{
    const char *name = test_name("init");
    char *out = NULL, *err = NULL;
    struct shmap__header h;
    make_f32(name, &h);
    h.creator_pid = util_dead_pid();
    h.creator_start = 0;
    util_fix_checksum(&h);
    h.state = SHMAP__STATE_INIT;
    util_header_write(name, &h);
    RUN(1, "info", name);
    check_named_first(err, name, "segment was never completed");
    CHECK_CONTAINS(err, "shmap rm --force");
    CHECK(!strstr(err, "gc"));
    RUN(0, "gc", "--prefix", test_prefix());
    CHECK(util_shm_exists(name));
    /* rm adds no hint of its own to the library's. */
    RUN(1, "rm", name);
    check_named_first(err, name, "segment was never completed");
    CHECK_EQ_INT(count_of(err, "--force"), 1);
    CHECK(util_shm_exists(name));
    RUN(0, "rm", "--force", name);
    CHECK(!util_shm_exists(name));
    util_clear(&out, &err);
}

TEST(cli__rm_of_a_foreign_object_names_the_option_that_removes_it)
{
    const char *name = test_name("foreign");
    char *out = NULL, *err = NULL;
    util_shm_write(name, "not a segment", 13);
    RUN(1, "rm", name);
    check_named_first(err, name, "not a shmap segment");
    CHECK_CONTAINS(err, "use --force to remove it anyway");
    CHECK(!strstr(err, "with force"));
    CHECK(util_shm_exists(name));
    RUN(0, "rm", name, "--force");
    CHECK(!util_shm_exists(name));
    /* A name holding the library's words is said as it is; the words after it are the
     * hint. */
    const char *odd = test_name("delete with force");
    util_shm_write(odd, "not a segment", 13);
    RUN(1, "rm", odd);
    check_named_first(err, odd, "not a shmap segment");
    CHECK_CONTAINS(err, "use --force to remove it anyway");
    CHECK_EQ_INT(count_of(err, "delete with force"), 1);
    RUN(0, "rm", odd, "--force");
    CHECK(!util_shm_exists(odd));
    util_clear(&out, &err);
}
