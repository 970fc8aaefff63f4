/*
 * Values as the command prints and reads them: floats in the shortest form that reads back
 * (subnormals too, which carry fewer digits than normal numbers), the statistics of watch
 * when no element is a number, record values written with a bracket left open, and errors
 * that count one item in the singular; cat printing one whole frame while a writer
 * publishes.
 */
#include <string.h>
#include <sys/mman.h>

#include "../util.h"

/* Set each element of a new one-dimensional array of `type` to values[i], then check that
 * cat prints `want` (values[] as they should read, or other texts of the same numbers). */
static void check_cat_of(const char *type, const char *const *values, size_t n,
                         const char *want)
{
    const char *name = test_name("fl");
    char *out = NULL, *err = NULL, count[16], index[16];
    snprintf(count, sizeof count, "%zu", n);
    RUN(0, "create", name, type, count);
    for (size_t i = 0; i < n; i++) {
        snprintf(index, sizeof index, "%zu", i);
        RUN(0, "set", name, index, values[i]);
    }
    RUN(0, "cat", name);
    if (strcmp(out, want) != 0)
        test_fail(__FILE__, __LINE__, "cat of %s prints \"%s\", expected \"%s\"", type, out,
                  want);
    util_clear(&out, &err);
    CHECK_OK(shmap_unlink(name));
}

TEST(values__cat_prints_floats_in_the_shortest_form_that_reads_back)
{
    /* The smallest and largest subnormals, subnormals in between, and normal numbers. */
    static const char *const f32[] = {"1e-45", "1e-40", "1.1754942e-38", "-1e-45",
                                      "1.1754944e-38", "0.3", "1e-07", "3.4028235e+38",
                                      "-0", "inf", "-inf", "nan"};
    check_cat_of("f32", f32, sizeof f32 / sizeof f32[0],
                 "1e-45 1e-40 1.1754942e-38 -1e-45 1.1754944e-38 0.3 1e-07 3.4028235e+38 "
                 "-0 inf -inf nan\n");
    static const char *const f64[] = {"5e-324", "1e-310", "2.225073858507201e-308",
                                      "-5e-324", "2.2250738585072014e-308", "0.1", "0.3",
                                      "1.7976931348623157e+308", "-0", "inf", "nan"};
    check_cat_of("f64", f64, sizeof f64 / sizeof f64[0],
                 "5e-324 1e-310 2.225073858507201e-308 -5e-324 2.2250738585072014e-308 0.1 "
                 "0.3 1.7976931348623157e+308 -0 inf nan\n");
    /* Written another way, the same numbers print the same. */
    static const char *const other[] = {"1.4013e-45", "4.94065645841247e-324"};
    check_cat_of("f32", other, 1, "1e-45\n");
    check_cat_of("f64", other + 1, 1, "5e-324\n");
    /* Complex parts are floats of their own. */
    static const char *const c64[] = {"1e-45+1e-40j", "(0.3, -1e-45)", "1e-07-infj"};
    check_cat_of("c64", c64, 3, "1e-45+1e-40j 0.3-1e-45j 1e-07-infj\n");
    static const char *const c128[] = {"5e-324-1e-310j", "0.1+2.2250738585072014e-308j"};
    check_cat_of("c128", c128, 2, "5e-324-1e-310j 0.1+2.2250738585072014e-308j\n");
    /* Half floats: the smallest and largest subnormals, then normal numbers. */
    static const char *const f16[] = {"6e-08", "6.1e-05", "0.1", "1.5", "-2"};
    check_cat_of("f16", f16, 5, "6e-08 6.1e-05 0.1 1.5 -2\n");
}

TEST(values__powers_of_two_print_as_short_as_values_elsewhere)
{
    /* Below a power of two the values are twice as close as above it, so the decimal
     * nearest at some length can miss while its neighbour a unit higher reads back: 2^-96
     * as f32 is 1.2621775e-29, not 1.26217745e-29 (nine digits, one too many). Each text
     * is what numpy prints, the shortest there is. */
    static const char *const f32[] = {"1.2621775e-29", "1.5474251e+26", "1.2379401e+27",
                                      "2.3509887e-38"};
    check_cat_of("f32", f32, 4, "1.2621775e-29 1.5474251e+26 1.2379401e+27 2.3509887e-38\n");
    static const char *const f64[] = {"7.120236347223045e-307", "7.291122019556398e-304",
                                      "8.209073602596753e-289"};
    check_cat_of("f64", f64, 3,
                 "7.120236347223045e-307 7.291122019556398e-304 8.209073602596753e-289\n");
    /* Half floats: 2^-6 is 0.015625, and 0.01563, a neighbour of the nearest four-digit
     * decimal (0.01562), reads back as it. */
    static const char *const f16[] = {"0.015625", "-0.015625", "65504", "0.00012207"};
    check_cat_of("f16", f16, 4, "0.01563 -0.01563 65500 0.0001221\n");
}

TEST(values__whole_numbers_below_1e16_print_in_full)
{
    /* Fewer digits than a whole number has read back (16777219 as f32 is 16777220, which
     * 1.677722e+07 reads back as); the number is still written out, as numpy prints it, so
     * that a column does not mix the forms. From 1e16 on, and below 1e-4, the exponent
     * form is shorter and is kept. */
    static const char *const f32[] = {"16777218", "16777219", "3e7", "-9.99e15", "1e16",
                                      "1e-5", "123456.7"};
    check_cat_of("f32", f32, 7,
                 "16777218 16777220 30000000 -9990000000000000 1e+16 1e-05 123456.7\n");
    static const char *const f64[] = {"9007199254740993", "1e15", "1.5e16", "2e-4"};
    check_cat_of("f64", f64, 4, "9007199254740992 1000000000000000 1.5e+16 0.0002\n");
    static const char *const c64[] = {"3e7-16777219j"};
    check_cat_of("c64", c64, 1, "30000000-16777220j\n");
    static const char *const f16[] = {"2049", "60000"};
    check_cat_of("f16", f16, 2, "2048 60000\n");
}

/* The statistics part of one `shmap watch NAME --count 1` line ("min ..." to its end). */
static char *watch_stats(const char *name)
{
    char *out = NULL, *err = NULL;
    RUN(0, "watch", name, "--count", "1");
    free(err);
    char *p = strstr(out, "  min ");
    if (!p)
        test_fail(__FILE__, __LINE__, "no statistics in \"%s\"", out);
    memmove(out, p + 2, strlen(p + 2) + 1);
    return out;
}

/* Fill a new f32 array of `n` elements with `values` in turn and check watch's statistics. */
static void check_watch_of(const char *const *values, size_t n, const char *want)
{
    const char *name = test_name("ws");
    char *out = NULL, *err = NULL, count[16], index[16];
    snprintf(count, sizeof count, "%zu", n);
    RUN(0, "create", name, "f32", count);
    for (size_t i = 0; i < n; i++) {
        snprintf(index, sizeof index, "%zu", i);
        RUN(0, "set", name, index, values[i]);
    }
    util_clear(&out, &err);
    char *stats = watch_stats(name);
    if (strcmp(stats, want) != 0)
        test_fail(__FILE__, __LINE__, "watch shows \"%s\", expected \"%s\"", stats, want);
    free(stats);
    CHECK_OK(shmap_unlink(name));
}

TEST(values__watch_without_a_number_but_nan_shows_nan_for_min_and_max)
{
    static const char *const nans[] = {"nan", "nan", "nan"};
    check_watch_of(nans, 3, "min nan  max nan  mean nan  nan 3\n");
    static const char *const infs[] = {"inf", "inf"};
    check_watch_of(infs, 2, "min inf  max inf  mean inf\n");
    static const char *const mix[] = {"nan", "inf", "nan"};
    check_watch_of(mix, 3, "min inf  max inf  mean inf  nan 2\n");
    static const char *const both[] = {"-inf", "nan", "inf"};
    check_watch_of(both, 3, "min -inf  max inf  mean nan  nan 1\n");
}

/* Statistics print as cat prints the elements: a float array's extremes are floats. */
TEST(values__watch_shows_min_and_max_as_cat_prints_them)
{
    const char *name = test_name("wf");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "f32", "2");
    RUN(0, "set", name, "0", "0.3");
    RUN(0, "set", name, "1", "1e-45");
    util_clear(&out, &err);
    char *stats = watch_stats(name);
    CHECK_CONTAINS(stats, "min 1e-45  max 0.3  mean ");
    free(stats);
    CHECK_OK(shmap_unlink(name));
    RUN(0, "create", name, "f64", "2");
    RUN(0, "set", name, "0", "5e-324");
    RUN(0, "set", name, "1", "1e-310");
    util_clear(&out, &err);
    stats = watch_stats(name);
    CHECK_CONTAINS(stats, "min 5e-324  max 1e-310  mean ");
    free(stats);
    CHECK_OK(shmap_unlink(name));
    /* Complex: magnitudes, at the precision of the parts (a c64's as an f32). */
    RUN(0, "create", name, "c64", "2");
    RUN(0, "set", name, "0", "0.1+0.2j");
    RUN(0, "set", name, "1", "-1e-45j");
    util_clear(&out, &err);
    stats = watch_stats(name);
    CHECK_CONTAINS(stats, "min 1e-45  max 0.2236068  mean ");
    free(stats);
    CHECK_OK(shmap_unlink(name));
    RUN(0, "create", name, "c128", "1");
    RUN(0, "set", name, "0", "3+4j");
    util_clear(&out, &err);
    stats = watch_stats(name);
    CHECK_CONTAINS(stats, "min 5  max 5  mean 5");
    free(stats);
    CHECK_OK(shmap_unlink(name));
}

/* A record value with its '(' left open, or a field's '[', or a complex value's '(': the
 * message says which bracket is missing, rather than reading the text as the first field's
 * value. Bad usage: status 2, and nothing is written. */
TEST(values__a_value_missing_its_closing_bracket_says_so)
{
    const char *name = test_name("br");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "record:x:f4,y:f4,flag:u1,v:i2[2]", "3");
    static const char *const open_paren[] = {"(flag=1", "(1, 2", "( x=1, v=[1, 2]"};
    for (size_t i = 0; i < sizeof open_paren / sizeof open_paren[0]; i++) {
        char want[96];
        snprintf(want, sizeof want, "'%s' is missing its closing ')'", open_paren[i]);
        RUN(2, "set", name, "2", open_paren[i]);
        CHECK_USAGE_ERROR(err, "set", want);
        RUN(2, "fill", name, open_paren[i]);
        CHECK_USAGE_ERROR(err, "fill", want);
    }
    RUN(2, "set", name, "2", "(v=[1, 2)");
    CHECK_USAGE_ERROR(err, "set", "'[1, 2)' is missing its closing ']'");
    RUN(2, "set", name, "2", "v=[1");
    CHECK_USAGE_ERROR(err, "set", "'[1' is missing its closing ']'");
    RUN(2, "set", name, "2", "(flag=1))");
    CHECK_USAGE_ERROR(err, "set", "'(flag=1))' has a ')' that closes no bracket");
    /* An index that is no number names the segment, as one out of range does. */
    char bad[SHMAP_NAME_MAX + 32];
    snprintf(bad, sizeof bad, "%s: invalid index 'abc'", name);
    RUN(2, "set", name, "abc", "1");
    CHECK_USAGE_ERROR(err, "set", bad);
    /* A complex value too. */
    const char *cname = test_name("bc");
    RUN(0, "create", cname, "c64", "2");
    RUN(2, "set", cname, "0", "(1, 2");
    CHECK_USAGE_ERROR(err, "set", "'(1, 2' is missing its closing ')'");
    RUN(0, "set", cname, "0", "(1, 2)");
    /* Nothing was written; whole values still are. */
    RUN(0, "set", name, "2", "(flag=1)");
    RUN(0, "cat", name);
    CHECK_STR(out, "(x=0, y=0, flag=0, v=[0, 0]) (x=0, y=0, flag=0, v=[0, 0]) "
                   "(x=0, y=0, flag=1, v=[0, 0])\n");
    RUN(0, "cat", cname);
    CHECK_STR(out, "1+2j 0+0j\n");
    util_clear(&out, &err);
    CHECK_OK(shmap_unlink(name));
    CHECK_OK(shmap_unlink(cname));
}

/* Counts in record value errors agree with their number: "1 field", "1 item", "1 value". */
TEST(values__record_value_counts_of_one_are_in_the_singular)
{
    const char *name = test_name("one");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "record:x:f4", "2");
    RUN(2, "set", name, "0", "1, 2");
    CHECK_USAGE_ERROR(err, "set", "too many values: the record has 1 field");
    CHECK(strstr(err, "1 fields") == NULL);
    CHECK_OK(shmap_unlink(name));
    RUN(0, "create", name, "record:x:f4,v:i2[2]", "2");
    RUN(2, "set", name, "0", "(x=[1, 2])");
    CHECK_USAGE_ERROR(err, "set", "field 'x' has 1 item, more values given");
    RUN(2, "set", name, "0", "(v=[1])");
    CHECK_USAGE_ERROR(err, "set", "field 'v' has 2 items, 1 value given");
    RUN(2, "set", name, "0", "(v=[1, 2, 3])");
    CHECK_USAGE_ERROR(err, "set", "field 'v' has 2 items, more values given");
    util_clear(&out, &err);
    CHECK_OK(shmap_unlink(name));
}

/*
 * cat against a writer that publishes whole frames without the lock (as fill does): every
 * cat prints one frame, never a mix of two. It printed from the live mapping, so a cat of
 * 256 Ki values spanning a few publishes mixed them. And a slice is one frame too.
 */
TEST(values__cat_prints_one_whole_frame_while_a_writer_publishes)
{
    const char *name = test_name("torn");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "u8", "256", "1024");
    int *stop = mmap(NULL, sizeof *stop, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                     -1, 0);
    CHECK(stop != MAP_FAILED);
    *stop = 0;
    pid_t writer = util_spawn();
    if (writer == 0) {
        shmap_seg *seg = NULL;
        if (shmap_open(&seg, name, SHMAP_RDWR) < 0)
            _exit(1);
        for (unsigned k = 0; !__atomic_load_n(stop, __ATOMIC_ACQUIRE); k++) {
            void *data;
            if (shmap_write_begin(seg, &data) < 0)
                _exit(2);
            memset(data, 1 + (int)(k % 2), 256 * 1024);
            if (shmap_publish(seg) < 0)
                _exit(3);
            util_sleep_ms(1);
        }
        shmap_close(seg);
        _exit(0);
    }
    static const char *const slices[] = {NULL, "::-1,::3", "100:200"};
    for (int round = 0; round < 9; round++) {
        const char *slice = slices[round % 3];
        if (slice)
            RUN(0, "cat", name, "--slice", slice);
        else
            RUN(0, "cat", name);
        /* One value, whichever frame it was: all 1s or all 2s (0s before the first). */
        int seen[3] = {0};
        for (const char *p = out; *p; p++)
            if (*p >= '0' && *p <= '2')
                seen[*p - '0'] = 1;
        if (seen[0] + seen[1] + seen[2] != 1)
            test_fail(__FILE__, __LINE__, "round %d: cat%s%s printed a mix of frames "
                      "(0s %d, 1s %d, 2s %d)", round, slice ? " --slice " : "",
                      slice ? slice : "", seen[0], seen[1], seen[2]);
    }
    __atomic_store_n(stop, 1, __ATOMIC_RELEASE);
    CHECK_EQ_INT(test_wait(writer), 0);
    munmap(stop, sizeof *stop);
    RUN(0, "rm", name);
    util_clear(&out, &err);
}

/* cat waits for a writer's exclusive lock, --timeout seconds at most; a raw object has no
 * lock to wait for, and --timeout with one is bad usage. */
TEST(values__cat_waits_for_the_writers_lock_up_to_its_timeout)
{
    const char *name = test_name("catlock");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "u8", "4");
    pid_t holder = util_spawn_holder(name, SHMAP_LOCK_EXCLUSIVE);
    double t0 = util_now_s();
    RUN(1, "cat", name, "--timeout", "0.3");
    CHECK(util_now_s() - t0 >= 0.25);
    CHECK_ERROR_LINE(err, "timed out waiting for the lock");
    CHECK_STR(out, "");
    util_kill9(holder);
    /* The dead writer's hold is recovered, and cat says the data may be half-written. */
    RUN(0, "cat", name, "--timeout", "5");
    CHECK_STR(out, "0 0 0 0\n");
    CHECK_ERROR_LINE(err, "died while holding the lock: data may be inconsistent");
    RUN(2, "cat", name, "--dtype", "u1", "--shape", "4", "--timeout", "1");
    CHECK_CONTAINS(err, "a raw object has none");
    RUN(0, "rm", name);
    util_clear(&out, &err);
}

/*
 * Numbers in arguments (dimensions, indices, counts, offsets, seconds) may have blanks
 * before and after them, as values may: a script's "$(wc -l < f)" holds some where wc pads.
 * A blank inside a number is still no number.
 */
TEST(cli__numbers_in_arguments_may_have_blanks_around_them)
{
    char *out = NULL, *err = NULL;
    const char *name = test_name("blanks");
    RUN(0, "create", name, "i32", " 2\t", "2 ");
    RUN(0, "set", name, " 0 ", "\t-1", "5");
    RUN(0, "set", name, "+1 ", " 0x0", " 6 ");
    RUN(0, "cat", name);
    CHECK_STR(out, "0 5\n6 0\n");
    RUN(0, "cat", name, "--dtype", "i32", "--shape", " 2 , 2 ", "--offset", " 4096 ");
    CHECK_STR(out, "0 5\n6 0\n");
    RUN(0, "lock", name, "--timeout", " 1 ", "--", "true");
    RUN(1, "wait", name, "--timeout", " 0.01 ");
    RUN(0, "watch", name, "--count", " 1 ", "--interval", " 0.01\t");
    CHECK_CONTAINS(out, "gen 2");
    RUN(2, "set", name, "1 0", "0", "7");
    CHECK_USAGE_ERROR(err, "set", "invalid index '1 0'");
    RUN(2, "set", name, "0", "+ 1", "7");
    CHECK_USAGE_ERROR(err, "set", "invalid index '+ 1'");
    RUN(2, "set", name, "0", " ", "7");
    CHECK_USAGE_ERROR(err, "set", "invalid index ' '");
    RUN(2, "cat", name, "--dtype", "i32", "--shape", "2 2");
    CHECK_USAGE_ERROR(err, "cat", "invalid dimension '2 2'");
    RUN(2, "lock", name, "--timeout", "1 2", "--", "true");
    CHECK_USAGE_ERROR(err, "lock", "--timeout wants seconds >= 0, not '1 2'");
    RUN(2, "wait", name, "--timeout", " inf x");
    CHECK_USAGE_ERROR(err, "wait", "--timeout wants seconds, not ' inf x'");
    RUN(0, "cat", name);
    CHECK_STR(out, "0 5\n6 0\n");
    /* Said without its blanks where it is out of range. */
    RUN(2, "set", name, " 9 ", "0", "7");
    CHECK_USAGE_ERROR(err, "set", "index 9 out of range for dimension 0");
    RUN(2, "cat", name, "--slice", " 5 ");
    CHECK_USAGE_ERROR(err, "cat", "--slice: index 5 out of range for dimension 0");
    /* An HDU's number too, with CFITSIO. */
    if (util_fits_built()) {
        const char *fits = util_test_path("blanks.fits");
        RUN(0, "export", name, fits);
        const char *copy = test_name("blanks3");
        RUN(0, "import", fits, copy, "--hdu", " 0 ");
        RUN(0, "cat", copy);
        CHECK_STR(out, "0 5\n6 0\n");
        RUN(0, "rm", copy);
    }
    const char *other = test_name("blanks2");
    RUN(2, "create", other, "i32", "4 3");
    CHECK_USAGE_ERROR(err, "create", "invalid dimension '4 3'");
    CHECK(!util_shm_exists(other));
    util_clear(&out, &err);
    CHECK_OK(shmap_unlink(name));
}
