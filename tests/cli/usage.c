/*
 * Bad usage exits 2, with the error line and the command's usage line, for every command
 * alike: a malformed argument, and an argument that cannot fit the segment it is for (the
 * wrong number of indices or slice items, an index outside the shape). It is found before
 * anything is changed, so a command given several names acts on none when one is malformed.
 */
#include <sys/stat.h>

#include "../util.h"

/* Run the command; it must exit 2 with a usage error of `cmd` whose line has `needle`. */
#define RUN_USAGE(cmd, needle, ...)                                                           \
    do {                                                                                      \
        RUN(2, cmd, __VA_ARGS__);                                                             \
        CHECK_USAGE_ERROR(err, cmd, needle);                                                  \
    } while (0)

TEST(cli__a_malformed_name_is_bad_usage_in_every_command)
{
    char *out = NULL, *err = NULL;
    char uid[16];
    snprintf(uid, sizeof uid, "%u", (unsigned)geteuid());
    /* As the error line names each: an empty name is quoted. */
    static const char *const bad[][2] = {{"a/b", "a/b: '/' is allowed only at the start"},
                                         {"", "'': empty segment name"},
                                         {"sysv://zz", "sysv://zz: give sysv://KEY"},
                                         {"nosuch://x", "unknown store"},
                                         {".shmap-tmp-1-1", "reserved"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *n = bad[i][0], *why = bad[i][1];
        RUN_USAGE("create", why, n, "f32", "3");
        RUN_USAGE("rm", why, n);
        RUN_USAGE("rm", why, n, "--force");
        RUN_USAGE("info", why, n);
        RUN_USAGE("info", why, n, "--json");
        RUN_USAGE("cat", why, n);
        RUN_USAGE("cat", why, n, "--dtype", "u1", "--shape", "1");
        RUN_USAGE("fill", why, n, "1");
        RUN_USAGE("set", why, n, "0", "1");
        RUN_USAGE("wait", why, n, "--timeout", "0");
        RUN_USAGE("watch", why, n, "--count", "1");
        RUN_USAGE("lock", why, n, "--", "true");
        RUN_USAGE("chmod", why, "600", n);
        RUN_USAGE("chown", why, uid, n);
    }
    /* A memfd name is well formed, but no command can reach a memfd segment by it. */
    RUN_USAGE("info", "memfd:x: a memfd segment has no name", "memfd:x");
    RUN_USAGE("rm", "memfd:: a memfd segment has no name", "memfd:");
    RUN_USAGE("chmod", "memfd:x: a memfd segment has no name", "600", "memfd:x");
    RUN_USAGE("create", "would vanish", "memfd:x", "u8", "3");
    util_clear(&out, &err);
}

TEST(cli__a_malformed_name_among_good_ones_stops_the_command_before_it_acts)
{
    char *out = NULL, *err = NULL;
    char a[SHMAP_NAME_MAX], b[SHMAP_NAME_MAX];
    snprintf(a, sizeof a, "%s", test_name("a"));
    snprintf(b, sizeof b, "%s", test_name("b"));
    RUN(0, "create", a, "u8", "4");
    RUN(0, "create", b, "u8", "4");
    RUN_USAGE("rm", "x/y", a, "x/y", b);
    CHECK(util_shm_exists(a) && util_shm_exists(b));
    RUN_USAGE("chmod", "x/y", "640", a, "x/y", b);
    CHECK_EQ_INT(util_shm_mode(a), 0600);
    CHECK_EQ_INT(util_shm_mode(b), 0600);
    /* Every malformed name is reported, one line each, naming it. */
    RUN(2, "rm", "x/y", a, "");
    CHECK_STR(err, "shmap: x/y: '/' is allowed only at the start of a name (see shmap help rm)\n"
                   "shmap: '': empty segment name (see shmap help rm)\n");
    CHECK(util_shm_exists(a));
    /* A missing name is not malformed: the others are removed, the status is 1. */
    RUN(1, "rm", a, test_name("missing"), b);
    CHECK_ERROR_LINE(err, "missing");
    CHECK(!util_shm_exists(a) && !util_shm_exists(b));
    util_clear(&out, &err);
}

TEST(cli__indices_and_slices_that_do_not_fit_the_shape_are_bad_usage)
{
    const char *name = test_name("fit");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "i32", "2", "3");
    RUN_USAGE("set", "1 index given for 2 dimensions", name, "0", "7");
    CHECK_CONTAINS(err, name);
    RUN_USAGE("set", "3 indices given for 2 dimensions", name, "0", "0", "0", "7");
    RUN_USAGE("set", "index 2 out of range for dimension 0", name, "2", "0", "7");
    RUN_USAGE("set", "index -4 out of range for dimension 1", name, "0", "-4", "7");
    RUN_USAGE("cat", "--slice has 3 items for 2 dimensions", name, "--slice", "1,2,3");
    CHECK_CONTAINS(err, name);
    RUN_USAGE("cat", "--slice: index 5 out of range", name, "--slice", "5");
    RUN_USAGE("cat", "--slice 'a'", name, "--slice", "a");
    RUN(0, "cat", name, "--slice", "1,-1");
    CHECK_STR(out, "0\n");
    util_clear(&out, &err);
    CHECK_OK(shmap_unlink(name));
}

TEST(cli__a_shape_no_object_can_hold_is_bad_usage_and_makes_nothing)
{
    const char *name = test_name("huge");
    char *out = NULL, *err = NULL;
    RUN_USAGE("create", "overflow", name, "f32", "4294967296", "4294967296");
    CHECK_CONTAINS(err, name);
    RUN_USAGE("create", "1152921504606846976 elements of 16 bytes overflow 64 bits", name,
              "c128", "1152921504606846976");
    /* The data fits 64 bits; with the header and keyword area added it does not. */
    RUN_USAGE("create", "18446744073709551615 bytes of data overflow 64 bits once the header "
              "and keyword area are added", name, "u8", "18446744073709551615");
    CHECK(!util_shm_exists(name));
    util_clear(&out, &err);
}
