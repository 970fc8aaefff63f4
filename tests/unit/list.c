/* System-wide listing: our segments with their description; foreign objects on request. */
#include <sys/stat.h>

#include "../util.h"

/* Entries whose name starts with this test's prefix, in list order. */
static size_t ours(const shmap_entry *list, size_t n, const shmap_entry **out, size_t cap)
{
    size_t k = 0;
    const char *p = test_prefix();
    for (size_t i = 0; i < n; i++)
        if (strncmp(list[i].info.name, p, strlen(p)) == 0 && k < cap)
            out[k++] = &list[i];
    return k;
}

TEST(list__finds_our_segments_sorted_with_their_description)
{
    umask(022);
    const char *nb = test_name("b"), *na = test_name("a"), *nc = test_name("c");
    char b[SHMAP_NAME_MAX], a[SHMAP_NAME_MAX], c[SHMAP_NAME_MAX];
    snprintf(a, sizeof a, "%s", na);
    snprintf(b, sizeof b, "%s", nb);
    snprintf(c, sizeof c, "%s", nc);
    const uint64_t da[2] = {3, 4}, db[1] = {100}, dc[3] = {2, 2, 2};
    shmap_seg *sa = NULL, *sb = NULL, *sc = NULL;
    CHECK_OK(shmap_create(&sb, b, SHMAP_F64, 1, db, NULL));
    CHECK_OK(shmap_create(&sa, a, SHMAP_U16, 2, da, NULL));
    shmap_create_opts wide = SHMAP_CREATE_OPTS_INIT;
    wide.mode = 0644;
    wide.flags = SHMAP_CREATE_TRANSIENT;
    CHECK_OK(shmap_create(&sc, c, SHMAP_C128, 3, dc, &wide));
    CHECK_OK(shmap_publish(sb));
    shmap_entry *list = NULL;
    size_t n = 0;
    CHECK_OK(shmap_list(&list, &n, 0));
    const shmap_entry *mine[8];
    size_t k = ours(list, n, mine, 8);
    CHECK_EQ_INT(k, 3);
    CHECK_STR(mine[0]->info.name, a);
    CHECK_STR(mine[1]->info.name, b);
    CHECK_STR(mine[2]->info.name, c);
    for (size_t i = 0; i < k; i++) {
        CHECK_EQ_INT(mine[i]->status, 0);
        CHECK_EQ_INT(mine[i]->info.store, SHMAP_STORE_POSIX);
        CHECK_EQ_INT(mine[i]->info.size, util_shm_size(mine[i]->info.name));
        CHECK_EQ_INT(mine[i]->info.uid, geteuid());
        CHECK_EQ_INT(mine[i]->info.creator_pid, getpid());
        CHECK_EQ_INT(mine[i]->info.data_offset, 4096);
        CHECK(mine[i]->info.os_handle[0] == '/');
        CHECK_STR(mine[i]->info.os_handle + 1, mine[i]->info.name);
    }
    CHECK_EQ_INT(mine[0]->info.dtype, SHMAP_U16);
    CHECK_EQ_INT(mine[0]->info.ndim, 2);
    CHECK_EQ_INT(mine[0]->info.dims[0], 3);
    CHECK_EQ_INT(mine[0]->info.dims[1], 4);
    CHECK_EQ_INT(mine[0]->info.data_size, 24);
    CHECK_EQ_INT(mine[0]->info.mode, 0600);
    CHECK_EQ_INT(mine[1]->info.dtype, SHMAP_F64);
    CHECK_EQ_INT(mine[1]->info.generation, 1);
    CHECK_EQ_INT(mine[2]->info.dtype, SHMAP_C128);
    CHECK_EQ_INT(mine[2]->info.nelem, 8);
    CHECK_EQ_INT(mine[2]->info.mode, 0644);
    CHECK_EQ_INT(mine[2]->info.flags, SHMAP_SEG_TRANSIENT);
    /* The whole list is sorted by name. */
    for (size_t i = 1; i < n; i++)
        CHECK(strcmp(list[i - 1].info.name, list[i].info.name) <= 0);
    shmap_list_free(list);
    CHECK_OK(shmap_close(sa));
    CHECK_OK(shmap_close(sb));
    CHECK_OK(shmap_close(sc));
    CHECK_OK(shmap_list(&list, &n, 0));
    CHECK_EQ_INT(ours(list, n, mine, 8), 0);
    shmap_list_free(list);
}

TEST(list__skips_a_foreign_object_unless_all_then_reports_eformat)
{
    const char *good = test_name("good");
    char goodname[SHMAP_NAME_MAX];
    snprintf(goodname, sizeof goodname, "%s", good);
    const uint64_t d[1] = {10};
    shmap_seg *s = NULL;
    CHECK_OK(shmap_create(&s, goodname, SHMAP_U8, 1, d, NULL));
    const char *foreign = test_name("foreign");
    unsigned char junk[5000];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (unsigned char)(i * 37 + 1);
    util_shm_write(foreign, junk, sizeof junk);
    const char *empty = test_name("empty");
    util_shm_write(empty, "", 0);

    shmap_entry *list = NULL;
    size_t n = 0;
    const shmap_entry *mine[8];
    CHECK_OK(shmap_list(&list, &n, 0));
    CHECK_EQ_INT(ours(list, n, mine, 8), 1);
    CHECK_STR(mine[0]->info.name, goodname);
    shmap_list_free(list);

    CHECK_OK(shmap_list(&list, &n, SHMAP_LIST_ALL));
    size_t k = ours(list, n, mine, 8);
    CHECK_EQ_INT(k, 3);
    int seen_foreign = 0, seen_empty = 0, seen_good = 0;
    for (size_t i = 0; i < k; i++) {
        const shmap_info *in = &mine[i]->info;
        CHECK_EQ_INT(in->store, SHMAP_STORE_POSIX);
        CHECK_EQ_INT(in->uid, geteuid());
        if (strcmp(in->name, foreign) == 0) {
            seen_foreign = 1;
            CHECK_EQ_INT(mine[i]->status, SHMAP_EFORMAT);
            CHECK_EQ_INT(in->size, sizeof junk);
            CHECK_EQ_INT(in->mode, 0600);
        } else if (strcmp(in->name, empty) == 0) {
            seen_empty = 1;
            CHECK_EQ_INT(mine[i]->status, SHMAP_EFORMAT);
            CHECK_EQ_INT(in->size, 0);
        } else if (strcmp(in->name, goodname) == 0) {
            seen_good = 1;
            CHECK_EQ_INT(mine[i]->status, 0);
        }
    }
    CHECK(seen_foreign && seen_empty && seen_good);
    shmap_list_free(list);
    util_shm_remove(foreign);
    util_shm_remove(empty);
    CHECK_OK(shmap_close(s));
}

TEST(list__reports_a_damaged_segment_only_with_all)
{
    const char *name = test_name("dmg");
    const uint64_t d[1] = {10};
    util_make_kept(name, SHMAP_F32, 1, d);
    util_shm_truncate(name, 4096);
    shmap_entry *list = NULL;
    size_t n = 0;
    const shmap_entry *mine[4];
    CHECK_OK(shmap_list(&list, &n, 0));
    CHECK_EQ_INT(ours(list, n, mine, 4), 0);
    shmap_list_free(list);
    CHECK_OK(shmap_list(&list, &n, SHMAP_LIST_ALL));
    CHECK_EQ_INT(ours(list, n, mine, 4), 1);
    CHECK_EQ_INT(mine[0]->status, SHMAP_ETRUNCATED);
    CHECK_EQ_INT(mine[0]->info.size, 4096);
    shmap_list_free(list);
    util_shm_remove(name);
}

TEST(list__never_shows_hidden_objects_of_creations_in_progress)
{
    /* A complete-looking segment under a hidden name, as a creator would leave it just
     * before the rename. The name carries this test's prefix so the runner sweeps it. */
    const char *name = test_name("vis");
    const uint64_t d[1] = {10};
    util_make_kept(name, SHMAP_U8, 1, d);
    char hidden[SHMAP_NAME_MAX];
    snprintf(hidden, sizeof hidden, ".shmap-tmp-%d-0-%s", (int)getpid(), test_prefix());
    char from[SHMAP_NAME_MAX + 16], to[SHMAP_NAME_MAX + 16];
    snprintf(from, sizeof from, "/dev/shm/%s", name);
    snprintf(to, sizeof to, "/dev/shm/%s", hidden);
    CHECK(rename(from, to) == 0);
    shmap_entry *list = NULL;
    size_t n = 0;
    int rc = shmap_list(&list, &n, SHMAP_LIST_ALL);
    int seen = 0;
    if (rc == 0) {
        for (size_t i = 0; i < n; i++)
            if (strstr(list[i].info.name, ".shmap-"))
                seen++;
        shmap_list_free(list);
    }
    unlink(to);
    CHECK_OK(rc);
    CHECK_EQ_INT(seen, 0);
}

TEST(stat__describes_a_segment_without_keeping_it_mapped)
{
    const char *name = test_name("st");
    const uint64_t d[2] = {7, 9};
    util_make_kept(name, SHMAP_I8, 2, d);
    shmap_info info;
    memset(&info, 0xab, sizeof info);
    CHECK_OK(shmap_stat(name, &info));
    CHECK_STR(info.name, name);
    CHECK_EQ_INT(info.dtype, SHMAP_I8);
    CHECK_EQ_INT(info.ndim, 2);
    CHECK_EQ_INT(info.dims[0], 7);
    CHECK_EQ_INT(info.dims[1], 9);
    CHECK_EQ_INT(info.dims[2], 0);
    CHECK_EQ_INT(info.nelem, 63);
    CHECK_EQ_INT(info.size, util_shm_size(name));
    CHECK_STR(info.record_fields, "");
    CHECK(!util_proc_maps_has(name));
    CHECK_EQ_INT(util_mapping_refs(name, NULL), 0);
    CHECK_OK(shmap_unlink(name));
}
