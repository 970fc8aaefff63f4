/* System-wide listing: our segments with their description and keywords; foreign objects on
 * request. */
#include <fcntl.h>
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
            /* Why, as opening it would say, without its name in front. */
            CHECK_STR(mine[i]->error, "not a shmap segment (no shmap magic in its 5000 bytes)");
            CHECK_EQ_INT(in->size, sizeof junk);
            CHECK_EQ_INT(in->mode, 0600);
        } else if (strcmp(in->name, empty) == 0) {
            seen_empty = 1;
            CHECK_EQ_INT(mine[i]->status, SHMAP_EFORMAT);
            CHECK_EQ_INT(in->size, 0);
        } else if (strcmp(in->name, goodname) == 0) {
            seen_good = 1;
            CHECK_EQ_INT(mine[i]->status, 0);
            CHECK_STR(mine[i]->error, "");
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
    CHECK(strncmp(mine[0]->error, "object is 4096 bytes, its header needs ", 39) == 0);
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

/* ---------------------------------------------------------------------------------------- */
/* Keywords in the listing (SHMAP_LIST_KEYWORDS). */

/* The entry of `name` in a list; fails the test if it is not there once. */
static const shmap_entry *entry_of(const shmap_entry *list, size_t n, const char *name)
{
    const shmap_entry *found = NULL;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(list[i].info.name, name) == 0) {
            CHECK(found == NULL);
            found = &list[i];
        }
    }
    if (!found)
        test_fail(__FILE__, __LINE__, "%s is not in the listing", name);
    return found;
}

/* The entry's keywords are what shmap_keyword_list() reads through a mapping, to the byte. */
static void check_as_keyword_list(const shmap_entry *e)
{
    shmap_seg *seg;
    shmap_keyword *kw = NULL;
    CHECK_OK(shmap_open(&seg, e->info.name, SHMAP_RDONLY));
    int n = shmap_keyword_list_alloc(seg, &kw);
    CHECK_OK(shmap_close(seg));
    CHECK_OK(n);
    CHECK_EQ_INT(e->status, 0);
    CHECK_EQ_INT(e->keywords_status, 0);
    CHECK_EQ_INT(e->nkeywords, n);
    CHECK_EQ_INT(e->info.nkeywords, n);
    CHECK((e->keywords == NULL) == (n == 0));
    for (int i = 0; i < n; i++)
        if (memcmp(&e->keywords[i], &kw[i], sizeof kw[i]) != 0)
            test_fail(__FILE__, __LINE__, "%s: keyword %d: listed %s, read %s", e->info.name, i,
                      e->keywords[i].name, kw[i].name);
    free(kw);
}

static void set_kw(shmap_seg *seg, const char *text)
{
    shmap_keyword kw;
    CHECK_OK(shmap_keyword_parse(text, &kw));
    CHECK_OK(shmap_keyword_set(seg, &kw));
}

TEST(list__keywords_of_posix_and_system_v_segments_in_the_order_set)
{
    char sysv[64];
    snprintf(sysv, sizeof sysv, "sysv://0x%08x", (unsigned)test_sysv_key());
    const char *posix = test_name("kw"), *bare = test_name("bare");
    const uint64_t d[1] = {16};
    shmap_seg *p = NULL, *b = NULL, *s = NULL;
    CHECK_OK(shmap_create(&p, posix, SHMAP_F32, 1, d, NULL));
    CHECK_OK(shmap_create(&b, bare, SHMAP_U8, 1, d, NULL));
    CHECK_OK(shmap_create(&s, sysv, SHMAP_F64, 1, d, NULL));
    set_kw(p, "EXPTIME=1.5 / seconds");
    set_kw(p, "OBJECT='M31' / target");
    set_kw(p, "FLAG=T");
    set_kw(p, "N=41");
    /* A keyword set again keeps its place; one deleted and set again goes last. */
    set_kw(p, "N=42");
    CHECK_OK(shmap_keyword_delete(p, "OBJECT"));
    set_kw(p, "OBJECT='M33' / target");
    set_kw(s, "GAIN=2.25");
    set_kw(s, "DET=cam1 / detector");

    shmap_entry *list = NULL;
    size_t n = 0;
    CHECK_OK(shmap_list(&list, &n, SHMAP_LIST_KEYWORDS));
    const shmap_entry *e = entry_of(list, n, posix);
    CHECK_EQ_INT(e->nkeywords, 4);
    CHECK_STR(e->keywords[0].name, "EXPTIME");
    CHECK_EQ_INT(e->keywords[0].type, SHMAP_KW_FLOAT);
    CHECK(e->keywords[0].f == 1.5);
    CHECK_STR(e->keywords[0].comment, "seconds");
    CHECK_STR(e->keywords[1].name, "FLAG");
    CHECK_EQ_INT(e->keywords[1].type, SHMAP_KW_BOOL);
    CHECK_EQ_INT(e->keywords[1].i, 1);
    CHECK_STR(e->keywords[2].name, "N");
    CHECK_EQ_INT(e->keywords[2].i, 42);
    CHECK_STR(e->keywords[3].name, "OBJECT");
    CHECK_STR(e->keywords[3].s, "M33");
    CHECK_STR(e->keywords[3].comment, "target");
    check_as_keyword_list(e);
    e = entry_of(list, n, sysv);
    CHECK_EQ_INT(e->info.store, SHMAP_STORE_SYSV);
    CHECK_EQ_INT(e->nkeywords, 2);
    CHECK_STR(e->keywords[0].name, "GAIN");
    CHECK_STR(e->keywords[1].name, "DET");
    CHECK_STR(e->keywords[1].s, "cam1");
    CHECK_STR(e->keywords[1].comment, "detector");
    check_as_keyword_list(e);
    e = entry_of(list, n, bare);
    CHECK_EQ_INT(e->nkeywords, 0);
    CHECK(e->keywords == NULL);
    check_as_keyword_list(e);
    /* Every segment's keywords lie in the list's own block, one after the other. */
    for (size_t i = 0; i < n; i++)
        if (list[i].keywords)
            CHECK((char *)list[i].keywords >= (char *)(list + n));
    shmap_list_free(list);

    /* Without the flag the entries have none, but still count them. */
    CHECK_OK(shmap_list(&list, &n, 0));
    for (size_t i = 0; i < n; i++) {
        CHECK(list[i].keywords == NULL);
        CHECK_EQ_INT(list[i].nkeywords, 0);
        CHECK_EQ_INT(list[i].keywords_status, 0);
    }
    CHECK_EQ_INT(entry_of(list, n, posix)->info.nkeywords, 4);
    CHECK_EQ_INT(entry_of(list, n, sysv)->info.nkeywords, 2);
    shmap_list_free(list);
    CHECK_OK(shmap_close(p));
    CHECK_OK(shmap_close(b));
    CHECK_OK(shmap_close(s));
}

TEST(list__keywords_of_objects_that_are_not_segments_are_none)
{
    const char *foreign = test_name("foreign"), *good = test_name("good");
    unsigned char junk[8192];
    memset(junk, 'K', sizeof junk);
    util_shm_write(foreign, junk, sizeof junk);
    const uint64_t d[1] = {4};
    shmap_seg *s = NULL;
    CHECK_OK(shmap_create(&s, good, SHMAP_U8, 1, d, NULL));
    set_kw(s, "A=1");
    shmap_entry *list = NULL;
    size_t n = 0;
    CHECK_OK(shmap_list(&list, &n, SHMAP_LIST_ALL | SHMAP_LIST_KEYWORDS));
    const shmap_entry *e = entry_of(list, n, foreign);
    CHECK_EQ_INT(e->status, SHMAP_EFORMAT);
    CHECK(e->keywords == NULL);
    CHECK_EQ_INT(e->nkeywords, 0);
    check_as_keyword_list(entry_of(list, n, good));
    shmap_list_free(list);
    util_shm_remove(foreign);
    CHECK_OK(shmap_close(s));
}

/*
 * A full keyword area of the largest size, more keywords than the room each new entry is
 * given, among more segments than the list's first block holds: the keywords outgrow their
 * pool while a segment is described and the entries outgrow theirs, and every entry keeps
 * its own keywords.
 */
TEST(list__keywords_of_a_full_area_and_of_many_segments)
{
    enum { MANY = 80 };
    char full[SHMAP_NAME_MAX]; /* test_name() reuses its buffers */
    snprintf(full, sizeof full, "%s", test_name("full"));
    const uint64_t d[1] = {1};
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.keyword_capacity = SHMAP_KEYWORD_CAPACITY_MAX;
    opts.flags |= SHMAP_CREATE_KEEP;
    shmap_seg *s = NULL;
    CHECK_OK(shmap_create(&s, full, SHMAP_U8, 1, d, &opts));
    char text[64];
    for (int i = 0; i < SHMAP_KEYWORD_CAPACITY_MAX; i++) {
        snprintf(text, sizeof text, "K%d=%d / number %d", i, i, i);
        set_kw(s, text);
    }
    shmap_keyword extra;
    CHECK_OK(shmap_keyword_parse("ONEMORE=1", &extra));
    CHECK_ERR(shmap_keyword_set(s, &extra), SHMAP_EKEYFULL);
    CHECK_OK(shmap_close(s));
    opts.keyword_capacity = 0;
    for (int i = 0; i < MANY; i++) {
        snprintf(text, sizeof text, "m%03d", i);
        CHECK_OK(shmap_create(&s, test_name(text), SHMAP_U8, 1, d, &opts));
        for (int k = 0; k < i % 4; k++) {
            snprintf(text, sizeof text, "IDX%d=%d", k, i);
            set_kw(s, text);
        }
        CHECK_OK(shmap_close(s));
    }
    shmap_entry *list = NULL;
    size_t n = 0;
    CHECK_OK(shmap_list(&list, &n, SHMAP_LIST_KEYWORDS));
    const shmap_entry *e = entry_of(list, n, full);
    CHECK_EQ_INT(e->nkeywords, SHMAP_KEYWORD_CAPACITY_MAX);
    CHECK_EQ_INT(e->info.keyword_capacity, SHMAP_KEYWORD_CAPACITY_MAX);
    for (int i = 0; i < SHMAP_KEYWORD_CAPACITY_MAX; i++) {
        snprintf(text, sizeof text, "K%d", i);
        CHECK_STR(e->keywords[i].name, text);
        CHECK_EQ_INT(e->keywords[i].i, i);
    }
    check_as_keyword_list(e);
    for (int i = 0; i < MANY; i++) {
        snprintf(text, sizeof text, "m%03d", i);
        e = entry_of(list, n, test_name(text));
        CHECK_EQ_INT(e->nkeywords, i % 4);
        for (int k = 0; k < i % 4; k++)
            CHECK_EQ_INT(e->keywords[k].i, i);
    }
    shmap_list_free(list);
    CHECK_OK(shmap_unlink(full));
    for (int i = 0; i < MANY; i++) {
        snprintf(text, sizeof text, "m%03d", i);
        CHECK_OK(shmap_unlink(test_name(text)));
    }
}

/* Write one keyword slot of a POSIX segment through its file in /dev/shm. */
static void write_slot(const char *name, unsigned index, const void *slot)
{
    struct shmap__header h;
    util_header_read(name, &h);
    CHECK(index < h.kw_capacity);
    char path[SHMAP_NAME_MAX + 16];
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    CHECK(fd >= 0);
    off_t off = (off_t)(h.kw_offset + (uint64_t)index * sizeof(struct shmap__kwslot));
    ssize_t w = pwrite(fd, slot, sizeof(struct shmap__kwslot), off);
    close(fd);
    CHECK(w == (ssize_t)sizeof(struct shmap__kwslot));
}

/* A well-formed slot, to be damaged. */
static struct shmap__kwslot good_slot(const char *name, int64_t value, uint32_t order)
{
    struct shmap__kwslot slot;
    memset(&slot, 0, sizeof slot);
    snprintf(slot.name, sizeof slot.name, "%s", name);
    slot.type = SHMAP_KW_INT;
    slot.order = order;
    slot.i = value;
    return slot;
}

TEST(list__damaged_keyword_slots_skipped_as_keyword_list_skips_them)
{
    const char *name = test_name("dmgkw");
    shmap_seg *s = util_kept_rdwr(name, 8);
    for (int i = 1; i <= 6; i++) {
        char text[32];
        snprintf(text, sizeof text, "K%d=%d", i, i);
        set_kw(s, text); /* K1..K6 in slots 0..5 */
    }
    CHECK_OK(shmap_close(s));

    struct shmap__kwslot slot = good_slot("K2", 2, 1);
    memset(slot.name, 'A', sizeof slot.name); /* a name without its NUL */
    write_slot(name, 1, &slot);
    slot = good_slot("k3", 3, 2); /* lower case */
    write_slot(name, 2, &slot);
    slot = good_slot("K4", 4, 3);
    slot.type = 77;
    write_slot(name, 3, &slot);
    slot = good_slot("K5", 5, 4);
    slot.type = SHMAP_KW_STRING;
    memset(slot.s, 'x', sizeof slot.s); /* a string without its NUL */
    write_slot(name, 4, &slot);
    /* A well-formed slot that no writer made, in an empty slot: a keyword like any. */
    slot = good_slot("BYHAND", 7, 1000);
    write_slot(name, 6, &slot);
    unsigned char junk[sizeof slot];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (unsigned char)(0xde + i * 13);
    write_slot(name, 8, junk);

    shmap_entry *list = NULL;
    size_t n = 0;
    CHECK_OK(shmap_list(&list, &n, SHMAP_LIST_KEYWORDS));
    const shmap_entry *e = entry_of(list, n, name);
    CHECK_EQ_INT(e->nkeywords, 3);
    CHECK_STR(e->keywords[0].name, "K1");
    CHECK_STR(e->keywords[1].name, "K6");
    CHECK_STR(e->keywords[2].name, "BYHAND");
    CHECK_EQ_INT(e->keywords[2].i, 7);
    check_as_keyword_list(e);
    shmap_list_free(list);
    CHECK_OK(shmap_unlink(name));
}

/* Mark a keyword change in progress in a POSIX segment's header, by writer `pid` (0: none). */
static void change_in_progress(const char *name, pid_t pid)
{
    struct shmap__header h;
    util_header_read(name, &h);
    h.kw_seq |= 1;
    h.kw_lock = (uint32_t)pid;
    util_header_write(name, &h);
}

TEST(list__keyword_change_left_unfinished_read_as_keyword_list_reads_it)
{
    const char *name = test_name("unfin");
    const uint64_t d[1] = {8};
    util_make_kept(name, SHMAP_U8, 1, d);
    shmap_seg *s;
    CHECK_OK(shmap_open(&s, name, SHMAP_RDWR));
    set_kw(s, "A=1");
    set_kw(s, "B=2");
    CHECK_OK(shmap_close(s));

    /* Abandoned (nobody holds the writer lock) or by a dead writer: the slots as they are. */
    pid_t dead = util_dead_pid();
    pid_t writers[2] = {0, dead};
    for (int i = 0; i < 2; i++) {
        change_in_progress(name, writers[i]);
        shmap_entry *list = NULL;
        size_t n = 0;
        CHECK_OK(shmap_list(&list, &n, SHMAP_LIST_KEYWORDS));
        const shmap_entry *e = entry_of(list, n, name);
        CHECK_EQ_INT(e->nkeywords, 2);
        check_as_keyword_list(e);
        shmap_list_free(list);
    }

    /* A live writer that does not finish: keywords_status says so, the entry stays. */
    pid_t live = util_spawn();
    if (live == 0) {
        pause();
        _exit(0);
    }
    change_in_progress(name, live);
    shmap_entry *list = NULL;
    size_t n = 0;
    CHECK_OK(shmap_list(&list, &n, SHMAP_LIST_KEYWORDS));
    const shmap_entry *e = entry_of(list, n, name);
    CHECK_EQ_INT(e->status, 0);
    CHECK_EQ_INT(e->keywords_status, -EBUSY);
    CHECK(e->keywords == NULL);
    CHECK_EQ_INT(e->nkeywords, 0);
    CHECK_EQ_INT(e->info.nkeywords, 2);
    shmap_list_free(list);
    shmap_keyword kw[4];
    CHECK_OK(shmap_open(&s, name, SHMAP_RDONLY));
    CHECK_ERR(shmap_keyword_list(s, kw, 4), -EBUSY);
    CHECK_OK(shmap_close(s));
    util_kill9(live);
    CHECK_OK(shmap_unlink(name));
}

TEST(list__unknown_flags_are_einval_as_for_every_call_with_flags)
{
    shmap_entry sentinel;
    shmap_entry *list = &sentinel; /* set to NULL even on this failure */
    size_t n = 7;
    CHECK_ERR(shmap_list(&list, &n, 1u << 7), SHMAP_EINVAL);
    CHECK_CONTAINS(shmap_last_error(), "unknown flags 0x80");
    CHECK(list == NULL && n == 0);
    CHECK_ERR(shmap_list(&list, &n, SHMAP_LIST_ALL | (1u << 2)), SHMAP_EINVAL);
    CHECK_OK(shmap_list(&list, &n, SHMAP_LIST_ALL | SHMAP_LIST_KEYWORDS));
    shmap_list_free(list);
}
