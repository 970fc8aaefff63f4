/* Segment names: the accepted forms, validation, unique names, OS handles. */
#include <limits.h>
#include <sys/mman.h>

#include "../util.h"

TEST(name_check__posix_forms_are_accepted)
{
    static const char *const ok[] = {"frames",        "/frames", "shm://frames", "shmem://frames",
                                     "shm:///frames", "a",       "frames.v2",    "x-y_z",
                                     "..a",           "a.."};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        shmap_store store = 0;
        int rc = shmap_name_check(ok[i], &store);
        if (rc != 0)
            test_fail(__FILE__, __LINE__, "shmap_name_check(\"%s\") = %s: %s", ok[i],
                      shmap_errname(rc), shmap_last_error());
        CHECK_EQ_INT(store, SHMAP_STORE_POSIX);
    }
    CHECK_OK(shmap_name_check("frames", NULL));
}

TEST(name_check__invalid_names_are_ebadname)
{
    static const char *const bad[] = {
        "",       "/",        "a/b",       "/a/b",     ".",         "..",
        "/.",     "/..",      "//a",       "a/",       ".shmap-x",  "/.shmap-tmp-1",
        "shm://", "shmem://", "shm://a/b", "shm://..", "bogus://x", "a\nb"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = shmap_name_check(bad[i], NULL);
        if (rc != SHMAP_EBADNAME)
            test_fail(__FILE__, __LINE__,
                      "shmap_name_check(\"%s\") = %s, expected "
                      "SHMAP_EBADNAME",
                      bad[i], shmap_errname(rc));
    }
    CHECK_ERR(shmap_name_check(NULL, NULL), SHMAP_EBADNAME);
}

TEST(name_check__name_max_255_is_accepted_and_256_refused)
{
    char name[300];
    memset(name, 'n', 255);
    name[255] = '\0';
    CHECK_OK(shmap_name_check(name, NULL));
    /* A leading '/' is not part of the 255. */
    char slashed[320];
    snprintf(slashed, sizeof slashed, "/%s", name);
    CHECK_OK(shmap_name_check(slashed, NULL));
    memset(name, 'n', 256);
    name[256] = '\0';
    CHECK_ERR(shmap_name_check(name, NULL), SHMAP_EBADNAME);
    CHECK_CONTAINS(shmap_last_error(), "256");
}

TEST(name_check__other_stores_are_estore_in_this_build)
{
    shmap_store store = 0;
    int rc = shmap_name_check("sysv://0x5eed", &store);
    CHECK(rc == 0 || rc == SHMAP_ESTORE);
    if (rc == 0)
        CHECK_EQ_INT(store, SHMAP_STORE_SYSV);
    rc = shmap_name_check("file:/tmp/x.shm", &store);
    CHECK(rc == 0 || rc == SHMAP_ESTORE);
    if (rc == 0)
        CHECK_EQ_INT(store, SHMAP_STORE_FILE);
}

TEST(name__a_255_byte_name_creates_a_real_segment)
{
    char name[300];
    const char *prefix = test_prefix();
    size_t plen = strlen(prefix);
    memcpy(name, prefix, plen);
    memset(name + plen, 'L', 255 - plen);
    name[255] = '\0';
    uint64_t dims[] = {3};
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_U8, 1, dims, NULL));
    CHECK(util_shm_exists(name));
    shmap_info info;
    CHECK_OK(shmap_info_get(seg, &info));
    CHECK_STR(info.name, name);
    CHECK_OK(shmap_close(seg));
    CHECK(!util_shm_exists(name));
}

TEST(name_forms__every_form_names_the_same_segment)
{
    const char *name = test_name("forms");
    char slash[SHMAP_NAME_MAX + 8], shm[SHMAP_NAME_MAX + 8], shmem[SHMAP_NAME_MAX + 16];
    snprintf(slash, sizeof slash, "/%s", name);
    snprintf(shm, sizeof shm, "shm://%s", name);
    snprintf(shmem, sizeof shmem, "shmem://%s", name);
    uint64_t dims[] = {16};
    shmap_seg *seg = NULL, *a = NULL, *b = NULL, *c = NULL;
    CHECK_OK(shmap_create(&seg, shm, SHMAP_I32, 1, dims, NULL));
    CHECK(util_shm_exists(name));
    CHECK_OK(shmap_open(&a, name, SHMAP_RDWR));
    CHECK_OK(shmap_open(&b, slash, SHMAP_RDWR));
    CHECK_OK(shmap_open(&c, shmem, SHMAP_RDWR));
    CHECK(shmap_data(a) == shmap_data(seg));
    CHECK(shmap_data(b) == shmap_data(seg));
    CHECK(shmap_data(c) == shmap_data(seg));
    shmap_info info;
    CHECK_OK(shmap_info_get(c, &info));
    CHECK_STR(info.name, name);
    CHECK_STR(info.os_handle, slash);
    CHECK_EQ_INT(info.store, SHMAP_STORE_POSIX);
    CHECK_OK(shmap_close(a));
    CHECK_OK(shmap_close(b));
    CHECK_OK(shmap_close(c));
    CHECK_OK(shmap_close(seg));
    CHECK(!util_shm_exists(name));
}

TEST(name_unique__fresh_names_are_valid_distinct_and_unused)
{
    char a[SHMAP_NAME_MAX], b[SHMAP_NAME_MAX];
    CHECK_OK(shmap_name_unique(a, sizeof a, test_prefix()));
    CHECK_OK(shmap_name_unique(b, sizeof b, test_prefix()));
    CHECK(strcmp(a, b) != 0);
    CHECK(strncmp(a, test_prefix(), strlen(test_prefix())) == 0);
    CHECK_OK(shmap_name_check(a, NULL));
    CHECK_OK(shmap_name_check(b, NULL));
    CHECK(!util_shm_exists(a));
    /* A unique name can be created exclusively. */
    uint64_t dims[] = {1};
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, a, SHMAP_U8, 1, dims, NULL));
    CHECK_OK(shmap_close(seg));
    /* Without a prefix the name starts with "shmap". */
    char c[SHMAP_NAME_MAX];
    CHECK_OK(shmap_name_unique(c, sizeof c, NULL));
    CHECK(strncmp(c, "shmap", 5) == 0);
    CHECK_OK(shmap_name_check(c, NULL));
}

TEST(name_unique__bad_prefix_is_ebadname_and_small_buffer_erange)
{
    char buf[SHMAP_NAME_MAX];
    CHECK_ERR(shmap_name_unique(buf, sizeof buf, "a/b"), SHMAP_EBADNAME);
    CHECK_ERR(shmap_name_unique(buf, sizeof buf, ".shmap-x"), SHMAP_EBADNAME);
    CHECK_ERR(shmap_name_unique(buf, sizeof buf, "file:/tmp/x"), SHMAP_EBADNAME);
    CHECK_CONTAINS(shmap_last_error(), "names a file object");
    CHECK_ERR(shmap_name_unique(buf, sizeof buf, "sysv://0x1234"), SHMAP_EBADNAME);
    CHECK_ERR(shmap_name_unique(buf, 4, "prefix"), -ERANGE);
    char longp[260];
    memset(longp, 'p', 250);
    longp[250] = '\0';
    CHECK_ERR(shmap_name_unique(buf, sizeof buf, longp), SHMAP_EBADNAME);
}

TEST(name_unique__too_long_prefix_is_ebadname_whatever_the_buffer)
{
    /* 248 bytes and "-XXXXXXXX-N" make more than 255: no buffer helps, so the caller must
     * not be told to grow a small one (-ERANGE) and then be refused for the prefix. */
    char small[256], big[SHMAP_NAME_MAX], tiny[8];
    char p[249];
    memset(p, 'p', 248);
    p[248] = '\0';
    CHECK_ERR(shmap_name_unique(small, sizeof small, p), SHMAP_EBADNAME);
    CHECK_CONTAINS(shmap_last_error(), "too long for a unique name");
    CHECK_ERR(shmap_name_unique(tiny, sizeof tiny, p), SHMAP_EBADNAME);
    CHECK_ERR(shmap_name_unique(big, sizeof big, p), SHMAP_EBADNAME);
    /* A prefix that fits: 256 bytes are enough, a buffer one byte short is -ERANGE. */
    p[230] = '\0';
    CHECK_OK(shmap_name_unique(small, sizeof small, p));
    size_t len = strlen(small);
    CHECK(len <= NAME_MAX && strncmp(small, p, 230) == 0);
    CHECK_ERR(shmap_name_unique(big, len, p), -ERANGE);
    CHECK_CONTAINS(shmap_last_error(), "needs");
}

TEST(store_name__names_every_store)
{
    CHECK_STR(shmap_store_name(SHMAP_STORE_POSIX), "posix");
    CHECK_STR(shmap_store_name(SHMAP_STORE_SYSV), "sysv");
    CHECK_STR(shmap_store_name(SHMAP_STORE_FILE), "file");
    CHECK_STR(shmap_store_name(SHMAP_STORE_MEMFD), "memfd");
}

TEST(os_handle__is_the_posix_name_and_erange_when_short)
{
    const char *name = test_name("h");
    uint64_t dims[] = {2};
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_U8, 1, dims, NULL));
    char buf[SHMAP_NAME_MAX], want[SHMAP_NAME_MAX + 2];
    snprintf(want, sizeof want, "/%s", name);
    CHECK_OK(shmap_os_handle(seg, buf, sizeof buf));
    CHECK_STR(buf, want);
    CHECK_ERR(shmap_os_handle(seg, buf, 3), -ERANGE);
    CHECK_ERR(shmap_os_handle(seg, buf, strlen(want)), -ERANGE);
    CHECK_OK(shmap_os_handle(seg, buf, strlen(want) + 1));
    CHECK_STR(buf, want);
    CHECK_OK(shmap_close(seg));
}
