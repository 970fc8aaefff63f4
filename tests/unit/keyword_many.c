/* Several keywords set or deleted at once: all or none, and seen together by readers. */
#include <time.h>

#include "../util.h"

static shmap_seg *make(const char *name, unsigned capacity)
{
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.keyword_capacity = capacity;
    uint64_t dims[1] = {4};
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_U8, 1, dims, &opts));
    return seg;
}

static shmap_keyword kw_int(const char *name, int64_t v, const char *comment)
{
    shmap_keyword kw;
    memset(&kw, 0, sizeof kw);
    snprintf(kw.name, sizeof kw.name, "%s", name);
    kw.type = SHMAP_KW_INT;
    kw.i = v;
    snprintf(kw.comment, sizeof kw.comment, "%s", comment);
    return kw;
}

/* The keywords as "NAME=VALUE/COMMENT;..." in the order they were first set. */
static const char *listing(const shmap_seg *seg)
{
    static char buf[1024];
    shmap_keyword *kw = NULL;
    int n = shmap_keyword_list_alloc(seg, &kw);
    CHECK_OK(n);
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && used < sizeof buf; i++)
        used += (size_t)snprintf(buf + used, sizeof buf - used, "%s=%lld/%s;", kw[i].name,
                                 (long long)kw[i].i, kw[i].comment);
    free(kw);
    return buf;
}

TEST(keyword_set_many__sets_all_in_order_the_last_of_a_name_given_twice_wins)
{
    shmap_seg *seg = make(test_name("kwm"), 4);
    shmap_keyword first = kw_int("OLD", 1, "old comment");
    CHECK_OK(shmap_keyword_set(seg, &first));
    /* With capacity 4 and OLD set, three new names fit only when B counts once. */
    shmap_keyword kw[5] = {kw_int("a", 1, "one"), kw_int("b", 2, "two"),
                           kw_int("old", 10, "not used"), kw_int("B", 3, "three"),
                           kw_int("c", 4, "")};
    unsigned char keep[5] = {0, 0, 1, 0, 1};
    CHECK_OK(shmap_keyword_set_many(seg, kw, 5, keep, 0));
    /* OLD kept its comment; C, new, has the one given (none). */
    CHECK_STR(listing(seg), "OLD=10/old comment;A=1/one;B=3/three;C=4/;");
    /* Without keep_comment the comment given replaces the one there. */
    shmap_keyword again = kw_int("OLD", 11, "");
    CHECK_OK(shmap_keyword_set_many(seg, &again, 1, NULL, 0));
    CHECK_STR(listing(seg), "OLD=11/;A=1/one;B=3/three;C=4/;");
    CHECK_OK(shmap_keyword_set_many(seg, NULL, 0, NULL, 0));
    /* A new name given twice takes its place where it was first given, as create lists
     * them (B, then A); its value is the last. */
    shmap_keyword order[3] = {kw_int("N2", 1, ""), kw_int("N1", 2, ""), kw_int("N2", 3, "")};
    CHECK_OK(shmap_keyword_delete_many(seg, (const char *[]){"A", "B", "C"}, 3, 0));
    CHECK_OK(shmap_keyword_set_many(seg, order, 3, NULL, 0));
    CHECK_STR(listing(seg), "OLD=11/;N2=3/;N1=2/;");
    CHECK_OK(shmap_close(seg));
}

TEST(keyword_set_many__no_room_changes_nothing_and_names_what_does_not_fit)
{
    const char *name = test_name("kwm");
    shmap_seg *seg = make(name, 3);
    shmap_keyword a = kw_int("A", 1, "");
    CHECK_OK(shmap_keyword_set(seg, &a));
    shmap_keyword kw[4] = {kw_int("A", 2, ""), kw_int("NEW1", 1, ""), kw_int("NEW2", 2, ""),
                           kw_int("NEW3", 3, "")};
    CHECK_ERR(shmap_keyword_set_many(seg, kw, 4, NULL, 0), SHMAP_EKEYFULL);
    CHECK_DETAIL_NAMES(name);
    CHECK_CONTAINS(shmap_last_error(), "no room for new keywords NEW1, NEW2, NEW3: 2 of 3");
    CHECK_STR(listing(seg), "A=1/;");
    /* The two that fit do. */
    CHECK_OK(shmap_keyword_set_many(seg, kw, 3, NULL, 0));
    CHECK_STR(listing(seg), "A=2/;NEW1=1/;NEW2=2/;");
    /* Full, a change of keywords there still works. */
    CHECK_OK(shmap_keyword_set_many(seg, kw, 2, NULL, 0));
    CHECK_OK(shmap_close(seg));
}

TEST(keyword_set_many__a_bad_keyword_changes_nothing_and_is_named)
{
    const char *name = test_name("kwm");
    shmap_seg *seg = make(name, 8);
    shmap_keyword kw[3] = {kw_int("A", 1, ""), kw_int("B", 2, ""), kw_int("BAD NAME", 3, "")};
    CHECK_ERR(shmap_keyword_set_many(seg, kw, 3, NULL, 0), SHMAP_EKEYWORD);
    CHECK_CONTAINS(shmap_last_error(), "BAD NAME");
    kw[2] = kw_int("C", 3, "");
    kw[2].type = SHMAP_KW_BOOL; /* a bool of 3 */
    CHECK_ERR(shmap_keyword_set_many(seg, kw, 3, NULL, 0), SHMAP_EKEYWORD);
    CHECK_CONTAINS(shmap_last_error(), "keyword C: bool value");
    CHECK_STR(listing(seg), "");
    CHECK_OK(shmap_close(seg));
}

TEST(keyword_set_many__check_only_changes_nothing_and_says_what_a_change_would)
{
    shmap_seg *seg = make(test_name("kwm"), 2);
    shmap_keyword kw[3] = {kw_int("A", 1, ""), kw_int("B", 2, ""), kw_int("C", 3, "")};
    CHECK_OK(shmap_keyword_set_many(seg, kw, 2, NULL, SHMAP_KEYWORD_CHECK_ONLY));
    CHECK_ERR(shmap_keyword_set_many(seg, kw, 3, NULL, SHMAP_KEYWORD_CHECK_ONLY),
              SHMAP_EKEYFULL);
    CHECK_STR(listing(seg), "");
    CHECK_OK(shmap_close(seg));
}

TEST(keyword_set_many__refuses_read_only_handles_null_arguments_and_unknown_flags)
{
    const char *name = test_name("kwm");
    shmap_seg *rw = make(name, 0), *ro = NULL;
    CHECK_OK(shmap_open(&ro, name, SHMAP_RDONLY));
    shmap_keyword a = kw_int("A", 1, "");
    const char *names[1] = {"A"};
    CHECK_ERR(shmap_keyword_set_many(ro, &a, 1, NULL, 0), SHMAP_EREADONLY);
    CHECK_ERR(shmap_keyword_delete_many(ro, names, 1, 0), SHMAP_EREADONLY);
    CHECK_ERR(shmap_keyword_set_many(NULL, &a, 1, NULL, 0), SHMAP_EINVAL);
    CHECK_ERR(shmap_keyword_set_many(rw, NULL, 1, NULL, 0), SHMAP_EINVAL);
    CHECK_ERR(shmap_keyword_delete_many(rw, NULL, 1, 0), SHMAP_EINVAL);
    CHECK_ERR(shmap_keyword_set_many(rw, &a, 1, NULL, 1u << 9), SHMAP_EINVAL);
    CHECK_ERR(shmap_keyword_delete_many(rw, names, 1, 1u << 9), SHMAP_EINVAL);
    const char *null_name[1] = {NULL};
    CHECK_ERR(shmap_keyword_delete_many(rw, null_name, 1, 0), SHMAP_EINVAL);
    CHECK_STR(listing(rw), "");
    CHECK_OK(shmap_close(ro));
    CHECK_OK(shmap_close(rw));
}

TEST(keyword_delete_many__deletes_all_or_none_and_names_the_absent)
{
    const char *name = test_name("kwm");
    shmap_seg *seg = make(name, 8);
    shmap_keyword kw[3] = {kw_int("A", 1, ""), kw_int("B", 2, ""), kw_int("C", 3, "")};
    CHECK_OK(shmap_keyword_set_many(seg, kw, 3, NULL, 0));
    const char *names[4] = {"a", "X", "b", "Y"};
    CHECK_ERR(shmap_keyword_delete_many(seg, names, 4, 0), SHMAP_ENOKEY);
    CHECK_DETAIL_NAMES(name);
    CHECK_CONTAINS(shmap_last_error(), "no keywords X, Y (none of the keywords given deleted)");
    CHECK_STR(listing(seg), "A=1/;B=2/;C=3/;");
    CHECK_EQ_INT(shmap_keyword_delete_many(seg, names, 4, SHMAP_KEYWORD_CHECK_ONLY |
                                                            SHMAP_KEYWORD_MISSING_OK), 2);
    CHECK_STR(listing(seg), "A=1/;B=2/;C=3/;");
    CHECK_EQ_INT(shmap_keyword_delete_many(seg, names, 4, SHMAP_KEYWORD_MISSING_OK), 2);
    CHECK_STR(listing(seg), "C=3/;");
    const char *twice[2] = {"C", "c"};
    CHECK_EQ_INT(shmap_keyword_delete_many(seg, twice, 2, 0), 1);
    CHECK_STR(listing(seg), "");
    CHECK_OK(shmap_close(seg));
}

/*
 * Another process keeps setting A and B to the same new value, then deleting both, with
 * one call each. A reader must never see them differ, nor one without the other: the
 * change is one, not a set followed by a set.
 */
TEST(keyword_set_many__readers_see_the_keywords_change_together)
{
    const char *name = test_name("kwm");
    shmap_seg *seg = make(name, 8);
    struct util_chan c;
    util_chan_open(&c);
    pid_t writer = util_spawn();
    if (writer == 0) {
        shmap_seg *w = NULL;
        if (shmap_open(&w, name, SHMAP_RDWR) < 0)
            _exit(20);
        util_child_send(&c, 'w');
        const char *names[2] = {"A", "B"};
        for (int64_t v = 0;; v++) {
            shmap_keyword kw[2] = {kw_int("A", v, ""), kw_int("B", v, "")};
            if (shmap_keyword_set_many(w, kw, 2, NULL, 0) < 0 ||
                (v % 3 == 2 && shmap_keyword_delete_many(w, names, 2, 0) != 2))
                _exit(21);
        }
    }
    CHECK_EQ_INT(util_parent_recv(&c), 'w');
    util_chan_close(&c);
    unsigned both = 0, none = 0;
    double t0 = util_now_s();
    for (int i = 0; i < 5000000 && util_now_s() - t0 < 0.5; i++) {
        shmap_keyword *kw = NULL;
        int n = shmap_keyword_list_alloc(seg, &kw);
        CHECK_OK(n);
        if (n == 2 && kw[0].i == kw[1].i)
            both++;
        else if (n == 0)
            none++;
        else
            test_fail(__FILE__, __LINE__, "%d keywords seen, %s=%lld: A and B change together",
                      n, n > 0 ? kw[0].name : "-", n > 0 ? (long long)kw[0].i : 0LL);
        free(kw);
    }
    util_kill9(writer);
    CHECK(both > 0);
    CHECK_OK(shmap_close(seg));
}

/* A check alone changes nothing: not even a private mapping's keywords, which its first
 * change makes its own, so that it stops seeing other processes' changes. */
TEST(keyword_set_many__check_only_leaves_a_private_mapping_following_the_segment)
{
    const char *name = test_name("kwm");
    shmap_seg *w = make(name, 8), *p = NULL;
    CHECK_OK(shmap_open(&p, name, SHMAP_PRIVATE));
    shmap_keyword a = kw_int("A", 1, ""), b = kw_int("B", 2, "");
    CHECK_OK(shmap_keyword_set(w, &a));
    CHECK_OK(shmap_keyword_set_many(p, &b, 1, NULL, SHMAP_KEYWORD_CHECK_ONLY));
    const char *names[1] = {"A"};
    CHECK_EQ_INT(shmap_keyword_delete_many(p, names, 1, SHMAP_KEYWORD_CHECK_ONLY), 1);
    a.i = 99;
    CHECK_OK(shmap_keyword_set(w, &a));
    CHECK_STR(listing(p), "A=99/;");
    CHECK_OK(shmap_close(p));
    CHECK_OK(shmap_close(w));
}

/*
 * Many names at once, most of them given twice or absent: the names are sorted before the
 * keyword lock is taken, so a long list holds no other writer up (one that waits a second
 * for the lock fails with -EBUSY).
 */
TEST(keyword_delete_many__a_long_list_holds_no_other_writer_up)
{
    enum { N = 60000 };
    const char *name = test_name("kwm");
    shmap_seg *seg = make(name, 64);
    char(*text)[16] = malloc(N * sizeof *text);
    const char **names = malloc(N * sizeof *names);
    shmap_keyword *kw = malloc(N * sizeof *kw);
    CHECK(text && names && kw);
    for (int i = 0; i < N; i++) {
        snprintf(text[i], sizeof text[i], "K%d", i % 30000);
        names[i] = text[i];
        kw[i] = kw_int(text[i], i, "");
    }
    struct util_chan c;
    util_chan_open(&c);
    pid_t other = util_spawn();
    if (other == 0) {
        shmap_seg *o = NULL;
        if (shmap_open(&o, name, SHMAP_RDWR) < 0)
            _exit(20);
        util_child_send(&c, 'o');
        shmap_keyword x = kw_int("OTHER", 0, "");
        for (double t0 = util_now_s(); util_now_s() - t0 < 1.5;)
            if (shmap_keyword_set(o, &x) < 0)
                _exit(21);
        _exit(0);
    }
    CHECK_EQ_INT(util_parent_recv(&c), 'o');
    util_chan_close(&c);
    for (int round = 0; round < 3; round++)
        CHECK_EQ_INT(shmap_keyword_delete_many(seg, names, N, SHMAP_KEYWORD_MISSING_OK), 0);
    CHECK_ERR(shmap_keyword_set_many(seg, kw, N, NULL, 0), SHMAP_EKEYFULL);
    CHECK_OK(shmap_keyword_set_many(seg, kw + 100, 60, NULL, 0)); /* K100..K159 */
    CHECK_EQ_INT(shmap_keyword_delete_many(seg, names, N, SHMAP_KEYWORD_MISSING_OK), 60);
    CHECK_EQ_INT(test_wait(other), 0);
    free(text);
    free(names);
    free(kw);
    CHECK_OK(shmap_close(seg));
}
