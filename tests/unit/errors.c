/* Error codes: the one table, errno codes, the per-thread detail message. */
#include <pthread.h>

#include "../util.h"

TEST(strerror__every_library_code_has_its_message_and_name)
{
    static const struct {
        int code;
        const char *name, *msg;
    } table[] = {
#define ROW(name, value, msg) {value, "SHMAP_" #name, msg},
        SHMAP_ERRNO_MAP(ROW)
#undef ROW
    };
    CHECK(sizeof table / sizeof table[0] >= 18);
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        CHECK(table[i].code <= -30000);
        CHECK_STR(shmap_errname(table[i].code), table[i].name);
        CHECK_STR(shmap_strerror(table[i].code), table[i].msg);
        for (size_t j = 0; j < i; j++)
            CHECK(table[j].code != table[i].code);
    }
    CHECK_EQ_INT(SHMAP_EFORMAT, -30003);
    CHECK_STR(shmap_errname(SHMAP_EPENDING), "SHMAP_EPENDING");
}

TEST(strerror__errno_codes_are_described_like_the_system)
{
    static const int codes[] = {ENOENT, EEXIST, ENOSPC, EACCES, EPERM, ENOMEM, ERANGE, EINVAL};
    static const char *const names[] = {"ENOENT", "EEXIST", "ENOSPC", "EACCES",
                                        "EPERM",  "ENOMEM", "ERANGE", "EINVAL"};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        CHECK_STR(shmap_errname(-codes[i]), names[i]);
        CHECK_STR(shmap_strerror(-codes[i]), strerror(codes[i]));
    }
}

TEST(strerror__unknown_codes_are_unknown_not_null)
{
    static const int codes[] = {-29999, -30000, -30999, -40000, -99999, 12345, -5000};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        CHECK_STR(shmap_errname(codes[i]), "UNKNOWN");
        CHECK_STR(shmap_strerror(codes[i]), "unknown error");
    }
    CHECK(shmap_strerror(0) != NULL);
    CHECK(shmap_errname(0) != NULL);
}

TEST(last_error__names_the_missing_segment)
{
    const char *name = test_name("missing");
    shmap_seg *seg = (shmap_seg *)1;
    CHECK_ERR(shmap_open(&seg, name, SHMAP_RDONLY), -ENOENT);
    CHECK_DETAIL_NAMES(name);
    shmap_info info;
    CHECK_ERR(shmap_stat(name, &info), -ENOENT);
    CHECK_DETAIL_NAMES(name);
    CHECK_ERR(shmap_unlink(name), -ENOENT);
    CHECK_DETAIL_NAMES(name);
}

TEST(last_error__is_kept_across_successful_calls)
{
    const char *name = test_name("gone");
    shmap_seg *seg = NULL;
    CHECK_ERR(shmap_open(&seg, name, SHMAP_RDONLY), -ENOENT);
    char before[1024];
    snprintf(before, sizeof before, "%s", shmap_last_error());
    CHECK(before[0] != '\0');
    shmap_dtype dt;
    CHECK_OK(shmap_dtype_parse("f4", &dt));
    CHECK_OK(shmap_name_check("fine", NULL));
    CHECK_STR(shmap_last_error(), before);
}

static void *other_thread(void *arg)
{
    char *seen = arg;
    /* Nothing failed in this thread yet. */
    snprintf(seen, 1024, "%s", shmap_last_error());
    shmap_dtype dt;
    if (shmap_dtype_parse("not-a-type", &dt) != SHMAP_EDTYPE)
        snprintf(seen, 1024, "parse did not fail");
    return NULL;
}

TEST(last_error__is_per_thread)
{
    const char *name = test_name("thr");
    shmap_seg *seg = NULL;
    CHECK_ERR(shmap_open(&seg, name, SHMAP_RDONLY), -ENOENT);
    char mine[1024];
    snprintf(mine, sizeof mine, "%s", shmap_last_error());
    char seen[1024] = "unset";
    pthread_t t;
    CHECK(pthread_create(&t, NULL, other_thread, seen) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK_STR(seen, "");
    /* The other thread's failure did not overwrite this thread's detail. */
    CHECK_STR(shmap_last_error(), mine);
    CHECK_CONTAINS(mine, name);
}
