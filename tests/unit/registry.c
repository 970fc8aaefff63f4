/* The per-process registry: references, unmap-pending, destroy policy, threads. */
#include <pthread.h>

#include "../util.h"

static const uint64_t dims16[1] = {16};

TEST(registry__opening_twice_gives_the_same_mapping_and_counts_refs)
{
    const char *name = test_name("reg");
    shmap_seg *c = NULL, *a = NULL, *b = NULL;
    CHECK_OK(shmap_create(&c, name, SHMAP_F32, 1, dims16, NULL));
    CHECK_EQ_INT(util_mapping_refs(name, NULL), 1);
    CHECK_OK(shmap_open(&a, name, SHMAP_RDWR));
    CHECK_OK(shmap_open(&b, name, SHMAP_RDWR));
    CHECK(a != b);
    CHECK(shmap_data(a) == shmap_data(c));
    CHECK(shmap_data(b) == shmap_data(c));
    CHECK_EQ_INT(util_mapping_refs(name, NULL), 3);
    shmap_mapping *maps = NULL;
    size_t n = 0;
    CHECK_OK(shmap_mappings(&maps, &n));
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(maps[i].info.name, name) != 0)
            continue;
        found++;
        CHECK_EQ_INT(maps[i].refs, 3);
        CHECK_EQ_INT(maps[i].pending, 0);
        CHECK_EQ_INT(maps[i].writable, 1);
        CHECK_EQ_INT(maps[i].destroy, 1);
        CHECK_EQ_INT(maps[i].info.dtype, SHMAP_F32);
        CHECK_EQ_INT(maps[i].info.dims[0], 16);
        CHECK_EQ_INT(maps[i].info.store, SHMAP_STORE_POSIX);
        CHECK_EQ_INT(maps[i].offset, maps[i].info.data_offset);
        CHECK(maps[i].info.os_handle[0] == '/');
    }
    shmap_mappings_free(maps);
    CHECK_EQ_INT(found, 1);
    CHECK_OK(shmap_close(a));
    CHECK_OK(shmap_close(b));
    CHECK_EQ_INT(util_mapping_refs(name, NULL), 1);
    CHECK_OK(shmap_close(c));
    CHECK_EQ_INT(util_mapping_refs(name, NULL), 0);
}

TEST(registry__dup_adds_a_reference_to_the_same_mapping)
{
    const char *name = test_name("dup");
    shmap_seg *c = NULL, *d = NULL;
    CHECK_OK(shmap_create(&c, name, SHMAP_U8, 1, dims16, NULL));
    CHECK_OK(shmap_dup(&d, c));
    CHECK(shmap_data(d) == shmap_data(c));
    CHECK_EQ_INT(util_mapping_refs(name, NULL), 2);
    /* Closing the creating handle first does not destroy: a reference remains. */
    CHECK_OK(shmap_close(c));
    CHECK(util_shm_exists(name));
    ((unsigned char *)shmap_data(d))[0] = 9;
    CHECK_OK(shmap_close(d));
    CHECK(!util_shm_exists(name));
}

TEST(registry__readonly_and_readwrite_opens_are_separate_mappings)
{
    const char *name = test_name("acc");
    shmap_seg *c = NULL, *ro = NULL, *ro2 = NULL;
    CHECK_OK(shmap_create(&c, name, SHMAP_U8, 1, dims16, NULL));
    CHECK_OK(shmap_open(&ro, name, SHMAP_RDONLY));
    CHECK_OK(shmap_open(&ro2, name, SHMAP_RDONLY));
    CHECK(shmap_writable(c));
    CHECK(!shmap_writable(ro));
    CHECK(shmap_data(ro) == shmap_data(ro2));
    /* Both views show the same memory. */
    ((unsigned char *)shmap_data(c))[5] = 42;
    CHECK_EQ_INT(((const unsigned char *)shmap_data(ro))[5], 42);
    CHECK_EQ_INT(util_mapping_refs(name, NULL), 3);
    CHECK_OK(shmap_close(ro));
    CHECK_OK(shmap_close(ro2));
    CHECK_OK(shmap_close(c));
    CHECK(!util_shm_exists(name));
}

TEST(registry__unmap_with_refs_left_is_pending_and_refuses_new_refs)
{
    const char *name = test_name("pend");
    shmap_seg *c = NULL, *a = NULL, *x = (shmap_seg *)1;
    CHECK_OK(shmap_create(&c, name, SHMAP_F64, 1, dims16, NULL));
    CHECK_OK(shmap_open(&a, name, SHMAP_RDWR));
    CHECK_OK(shmap_unmap(c));
    int pending = 0;
    CHECK_EQ_INT(util_mapping_refs(name, &pending), 1);
    CHECK_EQ_INT(pending, 1);
    CHECK_ERR(shmap_open(&x, name, SHMAP_RDWR), SHMAP_EPENDING);
    CHECK_DETAIL_NAMES(name);
    CHECK(x == NULL);
    /* A reference in hand may be copied: the copy keeps the memory as the original does. */
    CHECK_OK(shmap_dup(&x, a));
    CHECK(shmap_data(x) == shmap_data(a));
    CHECK_EQ_INT(util_mapping_refs(name, &pending), 2);
    CHECK_EQ_INT(pending, 1);
    /* The remaining references still work, and the name is still there. */
    ((double *)shmap_data(a))[15] = 2.5;
    CHECK(util_shm_exists(name));
    CHECK(util_proc_maps_has(name));
    CHECK_OK(shmap_close(a));
    CHECK_EQ_INT(((double *)shmap_data(x))[15], 2.5);
    CHECK(util_proc_maps_has(name));
    CHECK_ERR(shmap_open(&a, name, SHMAP_RDWR), SHMAP_EPENDING);
    CHECK_OK(shmap_close(x));
    CHECK_EQ_INT(util_mapping_refs(name, NULL), 0);
    CHECK(!util_proc_maps_has(name));
    CHECK(!util_shm_exists(name)); /* created here, so destroyed with the last reference */
}

TEST(registry__after_pending_mapping_goes_the_name_opens_again)
{
    const char *name = test_name("pend2");
    const uint64_t d[1] = {4};
    util_make_kept(name, SHMAP_I32, 1, d);
    shmap_seg *a = NULL, *b = NULL;
    CHECK_OK(shmap_open(&a, name, SHMAP_RDWR));
    CHECK_OK(shmap_open(&b, name, SHMAP_RDWR));
    CHECK_OK(shmap_unmap(a));
    CHECK_ERR(shmap_open(&a, name, SHMAP_RDWR), SHMAP_EPENDING);
    CHECK_OK(shmap_close(b));
    CHECK_OK(shmap_open(&a, name, SHMAP_RDWR));
    int pending = 1;
    CHECK_EQ_INT(util_mapping_refs(name, &pending), 1);
    CHECK_EQ_INT(pending, 0);
    CHECK_OK(shmap_close(a));
    CHECK(util_shm_exists(name));
    CHECK_OK(shmap_unlink(name));
}

TEST(registry__last_close_unmaps_the_memory)
{
    const char *name = test_name("unmap");
    const uint64_t d[1] = {1 << 16};
    shmap_seg *c = NULL, *a = NULL;
    shmap_create_opts keep = SHMAP_CREATE_OPTS_INIT;
    keep.flags = SHMAP_CREATE_KEEP;
    CHECK_OK(shmap_create(&c, name, SHMAP_U8, 1, d, &keep));
    CHECK_OK(shmap_open(&a, name, SHMAP_RDWR));
    CHECK(util_proc_maps_has(name));
    CHECK_OK(shmap_close(c));
    CHECK(util_proc_maps_has(name));
    CHECK_OK(shmap_close(a));
    CHECK(!util_proc_maps_has(name));
    CHECK_EQ_INT(util_mapping_refs(name, NULL), 0);
    CHECK(util_shm_exists(name));
    CHECK_OK(shmap_unlink(name));
}

TEST(destroy__created_segment_disappears_after_its_last_close)
{
    const char *name = test_name("d");
    shmap_seg *c = NULL, *a = NULL;
    CHECK_OK(shmap_create(&c, name, SHMAP_U16, 1, dims16, NULL));
    CHECK(util_shm_exists(name));
    CHECK_OK(shmap_open(&a, name, SHMAP_RDWR));
    CHECK_OK(shmap_close(c));
    /* Another reference to the mapping remains: not yet. */
    CHECK(util_shm_exists(name));
    CHECK_OK(shmap_close(a));
    CHECK(!util_shm_exists(name));
}

TEST(destroy__create_keep_survives_the_last_close)
{
    const char *name = test_name("k");
    shmap_create_opts keep = SHMAP_CREATE_OPTS_INIT;
    keep.flags = SHMAP_CREATE_KEEP;
    shmap_seg *c = NULL;
    CHECK_OK(shmap_create(&c, name, SHMAP_U16, 1, dims16, &keep));
    ((uint16_t *)shmap_data(c))[3] = 333;
    shmap_mapping *maps = NULL;
    size_t n = 0;
    CHECK_OK(shmap_mappings(&maps, &n));
    for (size_t i = 0; i < n; i++)
        if (strcmp(maps[i].info.name, name) == 0)
            CHECK_EQ_INT(maps[i].destroy, 0);
    shmap_mappings_free(maps);
    CHECK_OK(shmap_close(c));
    CHECK(util_shm_exists(name));
    shmap_seg *o = NULL;
    CHECK_OK(shmap_open(&o, name, SHMAP_RDONLY));
    CHECK_EQ_INT(((const uint16_t *)shmap_data(o))[3], 333);
    CHECK_OK(shmap_close(o));
    CHECK_OK(shmap_unlink(name));
}

TEST(destroy__set_destroy_0_keeps_a_created_segment)
{
    const char *name = test_name("k0");
    shmap_seg *c = NULL;
    CHECK_OK(shmap_create(&c, name, SHMAP_U16, 1, dims16, NULL));
    CHECK_OK(shmap_set_destroy(c, 0));
    CHECK_OK(shmap_close(c));
    CHECK(util_shm_exists(name));
    CHECK_OK(shmap_unlink(name));
}

TEST(destroy__an_opened_segment_is_never_destroyed_on_close)
{
    const char *name = test_name("op");
    util_make_kept(name, SHMAP_I64, 1, dims16);
    shmap_seg *rw = NULL, *ro = NULL;
    CHECK_OK(shmap_open(&rw, name, SHMAP_RDWR));
    CHECK_OK(shmap_open(&ro, name, SHMAP_RDONLY));
    shmap_mapping *maps = NULL;
    size_t n = 0;
    CHECK_OK(shmap_mappings(&maps, &n));
    for (size_t i = 0; i < n; i++)
        if (strcmp(maps[i].info.name, name) == 0)
            CHECK_EQ_INT(maps[i].destroy, 0);
    shmap_mappings_free(maps);
    CHECK_OK(shmap_close(rw));
    CHECK_OK(shmap_unmap(ro));
    CHECK(util_shm_exists(name));
    CHECK_OK(shmap_unlink(name));
}

TEST(destroy__set_destroy_1_on_an_opened_segment_destroys_it)
{
    const char *name = test_name("op1");
    util_make_kept(name, SHMAP_I64, 1, dims16);
    shmap_seg *o = NULL;
    CHECK_OK(shmap_open(&o, name, SHMAP_RDONLY));
    CHECK_OK(shmap_set_destroy(o, 1));
    CHECK(util_shm_exists(name));
    CHECK_OK(shmap_close(o));
    CHECK(!util_shm_exists(name));
}

TEST(destroy__a_destroy_on_close_segment_already_unlinked_closes_cleanly)
{
    const char *name = test_name("gone");
    shmap_seg *c = NULL;
    CHECK_OK(shmap_create(&c, name, SHMAP_U8, 1, dims16, NULL));
    CHECK_OK(shmap_unlink(name));
    CHECK_OK(shmap_close(c));
    CHECK(!util_shm_exists(name));
}

/* Several threads open, read and close the same name at once. */
struct thr {
    const char *name;
    const void *data; /* the main thread's mapping, which every open must share */
    int errors;
    char why[256];
};

static void *opener(void *arg)
{
    struct thr *t = arg;
    for (int i = 0; i < 300; i++) {
        shmap_seg *s = NULL;
        int rc = shmap_open(&s, t->name, SHMAP_RDWR);
        if (rc < 0) {
            t->errors++;
            snprintf(t->why, sizeof t->why, "open: %s: %s", shmap_errname(rc), shmap_last_error());
            continue;
        }
        if (shmap_data(s) != t->data) {
            t->errors++;
            snprintf(t->why, sizeof t->why, "another mapping");
        }
        if (((const int32_t *)shmap_data(s))[7] != 7007) {
            t->errors++;
            snprintf(t->why, sizeof t->why, "wrong data");
        }
        shmap_seg *d = NULL;
        if (shmap_dup(&d, s) == 0)
            shmap_close(d);
        shmap_close(s);
    }
    return NULL;
}

TEST(registry__threads_open_and_close_the_same_name_concurrently)
{
    const char *name = test_name("thr");
    shmap_seg *c = NULL;
    CHECK_OK(shmap_create(&c, name, SHMAP_I32, 1, dims16, NULL));
    ((int32_t *)shmap_data(c))[7] = 7007;
    enum { N = 6 };
    pthread_t th[N];
    struct thr t[N];
    for (int i = 0; i < N; i++) {
        t[i] = (struct thr){.name = name, .data = shmap_data(c)};
        CHECK(pthread_create(&th[i], NULL, opener, &t[i]) == 0);
    }
    for (int i = 0; i < N; i++) {
        CHECK(pthread_join(th[i], NULL) == 0);
        if (t[i].errors)
            test_fail(__FILE__, __LINE__, "thread %d: %d errors, last: %s", i, t[i].errors,
                      t[i].why);
    }
    CHECK_EQ_INT(util_mapping_refs(name, NULL), 1);
    CHECK_OK(shmap_close(c));
    CHECK_EQ_INT(util_mapping_refs(name, NULL), 0);
    CHECK(!util_shm_exists(name));
}

static void *first_opener(void *arg)
{
    struct thr *t = arg;
    for (int i = 0; i < 200; i++) {
        shmap_seg *s = NULL;
        int rc = shmap_open(&s, t->name, i % 3 ? SHMAP_RDWR : SHMAP_RDONLY);
        if (rc < 0) {
            t->errors++;
            snprintf(t->why, sizeof t->why, "open: %s: %s", shmap_errname(rc), shmap_last_error());
            continue;
        }
        if (((const int32_t *)shmap_data(s))[7] != 7007) {
            t->errors++;
            snprintf(t->why, sizeof t->why, "wrong data");
        }
        shmap_close(s);
    }
    return NULL;
}

/* With no reference held by the main thread, mappings come and go under the threads. */
TEST(registry__threads_racing_first_open_and_last_close_stay_consistent)
{
    const char *name = test_name("thr2");
    shmap_create_opts keep = SHMAP_CREATE_OPTS_INIT;
    keep.flags = SHMAP_CREATE_KEEP;
    shmap_seg *c = NULL;
    CHECK_OK(shmap_create(&c, name, SHMAP_I32, 1, dims16, &keep));
    ((int32_t *)shmap_data(c))[7] = 7007;
    CHECK_OK(shmap_close(c));
    enum { N = 6 };
    pthread_t th[N];
    struct thr t[N];
    for (int i = 0; i < N; i++) {
        t[i] = (struct thr){.name = name};
        CHECK(pthread_create(&th[i], NULL, first_opener, &t[i]) == 0);
    }
    for (int i = 0; i < N; i++) {
        CHECK(pthread_join(th[i], NULL) == 0);
        if (t[i].errors)
            test_fail(__FILE__, __LINE__, "thread %d: %d errors, last: %s", i, t[i].errors,
                      t[i].why);
    }
    CHECK_EQ_INT(util_mapping_refs(name, NULL), 0);
    CHECK(!util_proc_maps_has(name));
    CHECK(util_shm_exists(name)); /* opened, never created by these handles */
    CHECK_OK(shmap_unlink(name));
}

static void *creator(void *arg)
{
    struct thr *t = arg;
    for (int i = 0; i < 100; i++) {
        shmap_seg *s = NULL;
        int rc = shmap_create(&s, t->name, SHMAP_U8, 1, dims16, NULL);
        if (rc == 0) {
            ((unsigned char *)shmap_data(s))[0] = 1;
            shmap_close(s);
        } else if (rc != -EEXIST) {
            t->errors++;
            snprintf(t->why, sizeof t->why, "create: %s: %s", shmap_errname(rc),
                     shmap_last_error());
        }
    }
    return NULL;
}

/* Exclusive creation from several threads: each create either wins or sees -EEXIST. */
TEST(registry__threads_creating_one_name_get_created_or_eexist)
{
    const char *name = test_name("cr");
    enum { N = 4 };
    pthread_t th[N];
    struct thr t[N];
    for (int i = 0; i < N; i++) {
        t[i] = (struct thr){.name = name};
        CHECK(pthread_create(&th[i], NULL, creator, &t[i]) == 0);
    }
    for (int i = 0; i < N; i++) {
        CHECK(pthread_join(th[i], NULL) == 0);
        if (t[i].errors)
            test_fail(__FILE__, __LINE__, "thread %d: %d errors, last: %s", i, t[i].errors,
                      t[i].why);
    }
    CHECK_EQ_INT(util_mapping_refs(name, NULL), 0);
    CHECK_EQ_INT(util_count_hidden_of(getpid()), 0);
}
