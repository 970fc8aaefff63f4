/* Keywords: set, get, delete, list; types, names, limits, read-only handles; publish. */
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "../util.h"
#include "internal.h"

static shmap_seg *make(const char *name, unsigned capacity)
{
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.keyword_capacity = capacity;
    uint64_t dims[1] = {16};
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_F32, 1, dims, &opts));
    return seg;
}

static shmap_keyword kw_int(const char *name, int64_t v)
{
    shmap_keyword kw;
    memset(&kw, 0, sizeof kw);
    snprintf(kw.name, sizeof kw.name, "%s", name);
    kw.type = SHMAP_KW_INT;
    kw.i = v;
    return kw;
}

TEST(keyword__each_type_is_set_and_read_back_with_its_comment)
{
    shmap_seg *seg = make(test_name("kw"), 0);
    shmap_keyword in[4];
    memset(in, 0, sizeof in);
    snprintf(in[0].name, sizeof in[0].name, "NFRAMES");
    in[0].type = SHMAP_KW_INT;
    in[0].i = -9000000000ll;
    snprintf(in[0].comment, sizeof in[0].comment, "frames so far");
    snprintf(in[1].name, sizeof in[1].name, "EXPTIME");
    in[1].type = SHMAP_KW_FLOAT;
    in[1].f = 0.125;
    snprintf(in[1].comment, sizeof in[1].comment, "seconds");
    snprintf(in[2].name, sizeof in[2].name, "OBJECT");
    in[2].type = SHMAP_KW_STRING;
    snprintf(in[2].s, sizeof in[2].s, "M31 field 'north'");
    snprintf(in[3].name, sizeof in[3].name, "SIMPLE");
    in[3].type = SHMAP_KW_BOOL;
    in[3].i = 1;
    for (int i = 0; i < 4; i++)
        CHECK_OK(shmap_keyword_set(seg, &in[i]));
    shmap_keyword out;
    CHECK_OK(shmap_keyword_get(seg, "NFRAMES", &out));
    CHECK_EQ_INT(out.type, SHMAP_KW_INT);
    CHECK_EQ_INT(out.i, -9000000000ll);
    CHECK_STR(out.comment, "frames so far");
    CHECK_OK(shmap_keyword_get(seg, "EXPTIME", &out));
    CHECK_EQ_INT(out.type, SHMAP_KW_FLOAT);
    CHECK(out.f == 0.125);
    CHECK_STR(out.comment, "seconds");
    CHECK_OK(shmap_keyword_get(seg, "OBJECT", &out));
    CHECK_EQ_INT(out.type, SHMAP_KW_STRING);
    CHECK_STR(out.s, "M31 field 'north'");
    CHECK_STR(out.comment, "");
    CHECK_OK(shmap_keyword_get(seg, "SIMPLE", &out));
    CHECK_EQ_INT(out.type, SHMAP_KW_BOOL);
    CHECK_EQ_INT(out.i, 1);
    shmap_info info;
    CHECK_OK(shmap_info_get(seg, &info));
    CHECK_EQ_INT(info.nkeywords, 4);
    CHECK_EQ_INT(info.keyword_capacity, 32);
    CHECK_OK(shmap_close(seg));
}

TEST(keyword__replacing_keeps_one_entry_in_first_set_order)
{
    shmap_seg *seg = make(test_name("kw"), 0);
    shmap_keyword a = kw_int("A", 1), b = kw_int("B", 2), c = kw_int("C", 3);
    CHECK_OK(shmap_keyword_set(seg, &a));
    CHECK_OK(shmap_keyword_set(seg, &b));
    CHECK_OK(shmap_keyword_set(seg, &c));
    /* Replace A with a value of another type. */
    shmap_keyword a2;
    memset(&a2, 0, sizeof a2);
    snprintf(a2.name, sizeof a2.name, "a");
    a2.type = SHMAP_KW_STRING;
    snprintf(a2.s, sizeof a2.s, "now text");
    CHECK_OK(shmap_keyword_set(seg, &a2));
    shmap_keyword list[8];
    CHECK_EQ_INT(shmap_keyword_list(seg, list, 8), 3);
    CHECK_STR(list[0].name, "A");
    CHECK_EQ_INT(list[0].type, SHMAP_KW_STRING);
    CHECK_STR(list[0].s, "now text");
    CHECK_STR(list[1].name, "B");
    CHECK_STR(list[2].name, "C");
    CHECK_EQ_INT(list[2].i, 3);
    /* Deleting B and adding D puts D last even if it reuses B's slot. */
    CHECK_OK(shmap_keyword_delete(seg, "B"));
    shmap_keyword d = kw_int("D", 4);
    CHECK_OK(shmap_keyword_set(seg, &d));
    CHECK_EQ_INT(shmap_keyword_list(seg, list, 8), 3);
    CHECK_STR(list[0].name, "A");
    CHECK_STR(list[1].name, "C");
    CHECK_STR(list[2].name, "D");
    CHECK_OK(shmap_close(seg));
}

/* The order number new keywords get only grows (deleted ones count): near 2^32 the
 * keywords in use are numbered again, so that new ones still list last. They listed first
 * once it wrapped (a writer setting and deleting a keyword per frame gets there). */
TEST(keyword__order_stays_first_set_order_when_its_counter_nears_its_end)
{
    shmap_seg *seg = make(test_name("kwwrap"), 0);
    shmap_keyword first = kw_int("FIRST", 1), gone = kw_int("GONE", 0);
    CHECK_OK(shmap_keyword_set(seg, &first));
    CHECK_OK(shmap_keyword_set(seg, &gone));
    CHECK_OK(shmap_keyword_delete(seg, "GONE"));
    /* As 2^32 - 2 new keywords since would have left it. */
    shmap__hdr(seg)->kw_order = UINT32_MAX - 1;
    shmap_keyword second = kw_int("SECOND", 2), third = kw_int("THIRD", 3);
    CHECK_OK(shmap_keyword_set(seg, &second));
    CHECK_OK(shmap_keyword_set(seg, &third));
    shmap_keyword more[2] = {kw_int("FOURTH", 4), kw_int("FIFTH", 5)};
    CHECK_OK(shmap_keyword_set_many(seg, more, 2, NULL, 0));
    shmap_keyword list[8];
    CHECK_EQ_INT(shmap_keyword_list(seg, list, 8), 5);
    const char *want[5] = {"FIRST", "SECOND", "THIRD", "FOURTH", "FIFTH"};
    for (int i = 0; i < 5; i++)
        CHECK_STR(list[i].name, want[i]);
    CHECK(shmap__hdr(seg)->kw_order <= 5); /* numbered again from 0 */
    CHECK_OK(shmap_close(seg));
}

TEST(keyword__names_are_case_insensitive_and_stored_upper_case)
{
    shmap_seg *seg = make(test_name("kw"), 0);
    shmap_keyword k = kw_int("ExpTime_2-b", 7);
    CHECK_OK(shmap_keyword_set(seg, &k));
    shmap_keyword out;
    CHECK_OK(shmap_keyword_get(seg, "EXPTIME_2-B", &out));
    CHECK_STR(out.name, "EXPTIME_2-B");
    CHECK_OK(shmap_keyword_get(seg, "exptime_2-b", &out));
    CHECK_EQ_INT(out.i, 7);
    shmap_keyword k2 = kw_int("EXPTIME_2-B", 8);
    CHECK_OK(shmap_keyword_set(seg, &k2));
    CHECK_EQ_INT(shmap_keyword_list(seg, NULL, 0), 1);
    CHECK_OK(shmap_keyword_delete(seg, "eXpTiMe_2-b"));
    CHECK_EQ_INT(shmap_keyword_list(seg, NULL, 0), 0);
    CHECK_OK(shmap_close(seg));
}

TEST(keyword__delete_then_get_is_enokey)
{
    const char *name = test_name("kw");
    shmap_seg *seg = make(name, 0);
    shmap_keyword k = kw_int("GAIN", 2);
    CHECK_OK(shmap_keyword_set(seg, &k));
    CHECK_OK(shmap_keyword_delete(seg, "GAIN"));
    shmap_keyword out;
    CHECK_ERR(shmap_keyword_get(seg, "GAIN", &out), SHMAP_ENOKEY);
    CHECK_CONTAINS(shmap_last_error(), "GAIN");
    CHECK_DETAIL_NAMES(name);
    CHECK_ERR(shmap_keyword_delete(seg, "GAIN"), SHMAP_ENOKEY);
    CHECK_ERR(shmap_keyword_get(seg, "NEVER", &out), SHMAP_ENOKEY);
    shmap_info info;
    CHECK_OK(shmap_info_get(seg, &info));
    CHECK_EQ_INT(info.nkeywords, 0);
    CHECK_OK(shmap_close(seg));
}

TEST(keyword__bad_names_and_types_are_ekeyword)
{
    shmap_seg *seg = make(test_name("kw"), 0);
    static const char *const bad[] = {"", "A B", "A=B", "A.B", "A/B", "Ä", "A\tB"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        shmap_keyword k = kw_int(bad[i], 1);
        int rc = shmap_keyword_set(seg, &k);
        if (rc != SHMAP_EKEYWORD)
            test_fail(__FILE__, __LINE__, "keyword name \"%s\": %s, expected SHMAP_EKEYWORD",
                      bad[i], shmap_errname(rc));
    }
    /* 23 characters fit; 24 do not fit the buffer's NUL, so are refused by get. */
    shmap_keyword k23 = kw_int("ABCDEFGHIJKLMNOPQRSTUVW", 23);
    CHECK_OK(shmap_keyword_set(seg, &k23));
    shmap_keyword out;
    CHECK_OK(shmap_keyword_get(seg, "abcdefghijklmnopqrstuvw", &out));
    CHECK_EQ_INT(out.i, 23);
    CHECK_ERR(shmap_keyword_get(seg, "ABCDEFGHIJKLMNOPQRSTUVWX", &out), SHMAP_EKEYWORD);
    shmap_keyword k = kw_int("T", 1);
    k.type = (shmap_kw_type)0;
    CHECK_ERR(shmap_keyword_set(seg, &k), SHMAP_EKEYWORD);
    k.type = (shmap_kw_type)9;
    CHECK_ERR(shmap_keyword_set(seg, &k), SHMAP_EKEYWORD);
    k.type = SHMAP_KW_BOOL;
    k.i = 2;
    CHECK_ERR(shmap_keyword_set(seg, &k), SHMAP_EKEYWORD);
    CHECK_EQ_INT(shmap_keyword_list(seg, NULL, 0), 1);
    CHECK_OK(shmap_close(seg));
}

TEST(keyword__too_long_string_or_comment_is_ekeyword)
{
    shmap_seg *seg = make(test_name("kw"), 0);
    shmap_keyword k;
    memset(&k, 0, sizeof k);
    snprintf(k.name, sizeof k.name, "LONG");
    k.type = SHMAP_KW_STRING;
    memset(k.s, 'x', sizeof k.s); /* 72 characters and no room for the NUL */
    CHECK_ERR(shmap_keyword_set(seg, &k), SHMAP_EKEYWORD);
    CHECK_CONTAINS(shmap_last_error(), "LONG");
    memset(k.s, 'x', sizeof k.s - 1); /* 71 characters: the most a value holds */
    k.s[sizeof k.s - 1] = '\0';
    CHECK_OK(shmap_keyword_set(seg, &k));
    shmap_keyword out;
    CHECK_OK(shmap_keyword_get(seg, "LONG", &out));
    CHECK_EQ_INT(strlen(out.s), 71);
    memset(k.comment, 'c', sizeof k.comment);
    CHECK_ERR(shmap_keyword_set(seg, &k), SHMAP_EKEYWORD);
    /* The refused change left the old value. */
    CHECK_OK(shmap_keyword_get(seg, "LONG", &out));
    CHECK_STR(out.comment, "");
    char text[200];
    snprintf(text, sizeof text, "LONG='%080d'", 0);
    CHECK_ERR(shmap_keyword_parse(text, &out), SHMAP_EKEYWORD);
    CHECK_OK(shmap_close(seg));
}

TEST(keyword__full_area_is_ekeyfull_with_a_small_capacity)
{
    const char *name = test_name("kw");
    shmap_seg *seg = make(name, 2);
    shmap_info info;
    CHECK_OK(shmap_info_get(seg, &info));
    CHECK_EQ_INT(info.keyword_capacity, 2);
    shmap_keyword a = kw_int("A", 1), b = kw_int("B", 2), c = kw_int("C", 3);
    CHECK_OK(shmap_keyword_set(seg, &a));
    CHECK_OK(shmap_keyword_set(seg, &b));
    CHECK_ERR(shmap_keyword_set(seg, &c), SHMAP_EKEYFULL);
    CHECK_DETAIL_NAMES(name);
    /* Replacing an existing keyword still works when full. */
    b.i = 20;
    CHECK_OK(shmap_keyword_set(seg, &b));
    CHECK_OK(shmap_keyword_delete(seg, "A"));
    CHECK_OK(shmap_keyword_set(seg, &c));
    shmap_keyword list[4];
    CHECK_EQ_INT(shmap_keyword_list(seg, list, 4), 2);
    CHECK_STR(list[0].name, "B");
    CHECK_EQ_INT(list[0].i, 20);
    CHECK_STR(list[1].name, "C");
    CHECK_OK(shmap_close(seg));
}

TEST(keyword__capacity_above_the_maximum_is_esize)
{
    const char *name = test_name("kw");
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.keyword_capacity = 1u << 30;
    uint64_t dims[1] = {1};
    shmap_seg *seg = NULL;
    CHECK_ERR(shmap_create(&seg, name, SHMAP_U8, 1, dims, &opts), SHMAP_ESIZE);
    CHECK(!util_shm_exists(name));
}

TEST(keyword__readonly_handle_reads_but_refuses_changes)
{
    const char *name = test_name("kw");
    shmap_seg *rw = make(name, 0);
    shmap_keyword k = kw_int("SEEN", 5);
    CHECK_OK(shmap_keyword_set(rw, &k));
    shmap_seg *ro = NULL;
    CHECK_OK(shmap_open(&ro, name, SHMAP_RDONLY));
    CHECK(!shmap_writable(ro));
    shmap_keyword out;
    CHECK_OK(shmap_keyword_get(ro, "SEEN", &out));
    CHECK_EQ_INT(out.i, 5);
    shmap_keyword k2 = kw_int("NEW", 1);
    CHECK_ERR(shmap_keyword_set(ro, &k2), SHMAP_EREADONLY);
    CHECK_DETAIL_NAMES(name);
    CHECK_ERR(shmap_keyword_delete(ro, "SEEN"), SHMAP_EREADONLY);
    CHECK_EQ_INT(shmap_keyword_list(ro, NULL, 0), 1);
    /* A change through the writable handle is seen through the read-only one. */
    k.i = 6;
    CHECK_OK(shmap_keyword_set(rw, &k));
    CHECK_OK(shmap_keyword_get(ro, "SEEN", &out));
    CHECK_EQ_INT(out.i, 6);
    CHECK_OK(shmap_close(ro));
    CHECK_OK(shmap_close(rw));
}

TEST(keyword_list__returns_the_count_and_writes_at_most_cap)
{
    shmap_seg *seg = make(test_name("kw"), 0);
    for (int i = 0; i < 5; i++) {
        char n[8];
        snprintf(n, sizeof n, "K%d", i);
        shmap_keyword k = kw_int(n, i);
        CHECK_OK(shmap_keyword_set(seg, &k));
    }
    shmap_keyword list[3];
    memset(list, 0x5a, sizeof list);
    CHECK_EQ_INT(shmap_keyword_list(seg, list, 2), 5);
    CHECK_STR(list[0].name, "K0");
    CHECK_STR(list[1].name, "K1");
    CHECK_EQ_INT(((unsigned char *)&list[2])[0], 0x5a); /* untouched */
    CHECK_EQ_INT(shmap_keyword_list(seg, NULL, 0), 5);
    CHECK_OK(shmap_close(seg));
}

TEST(keyword_get__a_null_name_is_an_invalid_argument)
{
    shmap_seg *seg = make(test_name("kwnull"), 0);
    shmap_keyword kw;
    CHECK_ERR(shmap_keyword_get(seg, NULL, &kw), SHMAP_EINVAL);
    CHECK_CONTAINS(shmap_last_error(), "NULL keyword name");
    CHECK_ERR(shmap_keyword_delete(seg, NULL), SHMAP_EINVAL);
    CHECK_OK(shmap_close(seg));
}

/* A string refused says whether its length or one of its characters is at fault. */
TEST(keyword_set__a_refused_string_says_why)
{
    shmap_seg *seg = make(test_name("kwwhy"), 0);
    shmap_keyword kw;
    memset(&kw, 0, sizeof kw);
    snprintf(kw.name, sizeof kw.name, "S");
    kw.type = SHMAP_KW_STRING;
    snprintf(kw.s, sizeof kw.s, "a\tb");
    CHECK_ERR(shmap_keyword_set(seg, &kw), SHMAP_EKEYWORD);
    CHECK_CONTAINS(shmap_last_error(), "(control character 0x09 at byte 1)");
    memset(kw.s, 'x', sizeof kw.s); /* no NUL within its size */
    CHECK_ERR(shmap_keyword_set(seg, &kw), SHMAP_EKEYWORD);
    CHECK_CONTAINS(shmap_last_error(), "(longer than 71 bytes)");
    snprintf(kw.s, sizeof kw.s, "ok");
    snprintf(kw.comment, sizeof kw.comment, "new\nline");
    CHECK_ERR(shmap_keyword_set(seg, &kw), SHMAP_EKEYWORD);
    CHECK_CONTAINS(shmap_last_error(), "comment must be at most 39 printable characters "
                                       "(control character 0x0a at byte 3)");
    /* A C1 control (NEL, U+0085, UTF-8 C2 85) too, which terminals may obey; a character
     * whose UTF-8 has a byte in 80..9F after another lead (U+0100, C4 80) is none. */
    snprintf(kw.comment, sizeof kw.comment, "ok");
    snprintf(kw.s, sizeof kw.s, "a\xc2\x85");
    CHECK_ERR(shmap_keyword_set(seg, &kw), SHMAP_EKEYWORD);
    CHECK_CONTAINS(shmap_last_error(), "(control character U+0085 at byte 1)");
    CHECK_ERR(shmap_keyword_parse("S='a\xc2\x9f'", &kw), SHMAP_EKEYWORD);
    snprintf(kw.s, sizeof kw.s, "a\xc4\x80\xc3\xa9");
    CHECK_OK(shmap_keyword_set(seg, &kw));
    /* The same C1 control as one byte (CSI, 9B), in no UTF-8 sequence; a Latin-1 letter
     * (E9), in none either, is kept as it is. */
    snprintf(kw.s, sizeof kw.s, "a\x9b" "31m");
    CHECK_ERR(shmap_keyword_set(seg, &kw), SHMAP_EKEYWORD);
    CHECK_CONTAINS(shmap_last_error(), "(byte 0x9b at byte 1, in no UTF-8 character: a C1 "
                                       "control)");
    snprintf(kw.s, sizeof kw.s, "caf\xe9");
    CHECK_OK(shmap_keyword_set(seg, &kw));
    CHECK_OK(shmap_close(seg));
}

TEST(keyword_list_alloc__none_is_zero_and_null)
{
    shmap_seg *seg = make(test_name("kw"), 0);
    shmap_keyword *list = (shmap_keyword *)&list; /* must be overwritten */
    CHECK_EQ_INT(shmap_keyword_list_alloc(seg, &list), 0);
    CHECK(list == NULL);
    CHECK_ERR(shmap_keyword_list_alloc(seg, NULL), SHMAP_EINVAL);
    CHECK_ERR(shmap_keyword_list_alloc(NULL, &list), SHMAP_EINVAL);
    CHECK_OK(shmap_close(seg));
}

TEST(keyword_list_alloc__matches_keyword_list)
{
    shmap_seg *seg = make(test_name("kw"), 0);
    for (int i = 0; i < 5; i++) {
        char n[8];
        snprintf(n, sizeof n, "K%d", i);
        shmap_keyword k = kw_int(n, i * 10);
        CHECK_OK(shmap_keyword_set(seg, &k));
    }
    CHECK_OK(shmap_keyword_delete(seg, "K2"));
    shmap_keyword want[8], *got = NULL;
    CHECK_EQ_INT(shmap_keyword_list(seg, want, 8), 4);
    CHECK_EQ_INT(shmap_keyword_list_alloc(seg, &got), 4);
    CHECK(got != NULL);
    for (int i = 0; i < 4; i++) {
        CHECK_STR(got[i].name, want[i].name);
        CHECK_EQ_INT(got[i].type, want[i].type);
        CHECK_EQ_INT(got[i].i, want[i].i);
    }
    CHECK_STR(got[3].name, "K4");
    free(got);
    CHECK_OK(shmap_close(seg));
}

TEST(keyword_parse__null_arguments_are_einval)
{
    shmap_keyword kw;
    CHECK_ERR(shmap_keyword_parse(NULL, &kw), SHMAP_EINVAL);
    CHECK_ERR(shmap_keyword_parse("A=1", NULL), SHMAP_EINVAL);
    CHECK_CONTAINS(shmap_last_error(), "NULL argument");
}

TEST(keyword_parse__value_type_follows_its_form)
{
    shmap_keyword k;
    CHECK_OK(shmap_keyword_parse("exptime=1.5", &k));
    CHECK_STR(k.name, "EXPTIME");
    CHECK_EQ_INT(k.type, SHMAP_KW_FLOAT);
    CHECK(k.f == 1.5);
    CHECK_OK(shmap_keyword_parse("NAXIS=3", &k));
    CHECK_EQ_INT(k.type, SHMAP_KW_INT);
    CHECK_EQ_INT(k.i, 3);
    CHECK_OK(shmap_keyword_parse("N=-42 / a count", &k));
    CHECK_EQ_INT(k.type, SHMAP_KW_INT);
    CHECK_EQ_INT(k.i, -42);
    CHECK_STR(k.comment, "a count");
    CHECK_OK(shmap_keyword_parse("FLAG=T", &k));
    CHECK_EQ_INT(k.type, SHMAP_KW_BOOL);
    CHECK_EQ_INT(k.i, 1);
    CHECK_OK(shmap_keyword_parse("FLAG=false", &k));
    CHECK_EQ_INT(k.type, SHMAP_KW_BOOL);
    CHECK_EQ_INT(k.i, 0);
    CHECK_OK(shmap_keyword_parse("OBJECT='M31' / the galaxy", &k));
    CHECK_EQ_INT(k.type, SHMAP_KW_STRING);
    CHECK_STR(k.s, "M31");
    CHECK_STR(k.comment, "the galaxy");
    /* A quote doubled inside quotes stands for itself, as in FITS. */
    CHECK_OK(shmap_keyword_parse("OBJECT='it''s' / a ' quote", &k));
    CHECK_STR(k.s, "it's");
    CHECK_STR(k.comment, "a ' quote");
    CHECK_OK(shmap_keyword_parse("OBJECT=\"a \"\"b\"\"\"", &k));
    CHECK_STR(k.s, "a \"b\"");
    CHECK_OK(shmap_keyword_parse("OBJECT=''", &k));
    CHECK_EQ_INT(k.type, SHMAP_KW_STRING);
    CHECK_STR(k.s, "");
    CHECK_OK(shmap_keyword_parse("OBJECT=''''", &k));
    CHECK_STR(k.s, "'");
    CHECK_ERR(shmap_keyword_parse("OBJECT='it''", &k), SHMAP_EKEYWORD);
    CHECK_CONTAINS(shmap_last_error(), "unterminated quoted value");
    CHECK_ERR(shmap_keyword_parse("OBJECT='a' b", &k), SHMAP_EKEYWORD);
    CHECK_CONTAINS(shmap_last_error(), "text after the quoted value");
    CHECK_OK(shmap_keyword_parse("OBJECT='12'", &k));
    CHECK_EQ_INT(k.type, SHMAP_KW_STRING);
    CHECK_STR(k.s, "12");
    CHECK_OK(shmap_keyword_parse("INSTR=camera two", &k));
    CHECK_EQ_INT(k.type, SHMAP_KW_STRING);
    CHECK_STR(k.s, "camera two");
    CHECK_OK(shmap_keyword_parse("E=1e-3", &k));
    CHECK_EQ_INT(k.type, SHMAP_KW_FLOAT);
    CHECK(k.f == (double)1e-3); /* the cast: x87 would compare the literal's long double */
    CHECK_OK(shmap_keyword_parse("MASK=0x10", &k)); /* strtod would make it 16.0 */
    CHECK_EQ_INT(k.type, SHMAP_KW_INT);
    CHECK_EQ_INT(k.i, 16);
    CHECK_OK(shmap_keyword_parse("MASK=-0XfF", &k));
    CHECK_EQ_INT(k.type, SHMAP_KW_INT);
    CHECK_EQ_INT(k.i, -255);
    CHECK_OK(shmap_keyword_parse("MASK=0x", &k));
    CHECK_EQ_INT(k.type, SHMAP_KW_STRING);
    /* An integer past i64 is refused, not rounded to a float; as a float it is one. */
    CHECK_ERR(shmap_keyword_parse("BIG=0x1ffffffffffffffff", &k), SHMAP_EKEYWORD);
    CHECK_CONTAINS(shmap_last_error(), "keyword BIG: integer 0x1ffffffffffffffff out of range");
    CHECK_ERR(shmap_keyword_parse("BIG=-9223372036854775809 / one below", &k), SHMAP_EKEYWORD);
    CHECK_ERR(shmap_keyword_parse("BIG=18446744073709551615", &k), SHMAP_EKEYWORD);
    CHECK_CONTAINS(shmap_last_error(), "quote it as a string");
    CHECK_OK(shmap_keyword_parse("BIG=-9223372036854775808", &k));
    CHECK(k.type == SHMAP_KW_INT && k.i == INT64_MIN);
    CHECK_OK(shmap_keyword_parse("BIG=1.8446744073709552e19", &k));
    CHECK_EQ_INT(k.type, SHMAP_KW_FLOAT);
    CHECK_OK(shmap_keyword_parse("BIG='18446744073709551615'", &k));
    CHECK_STR(k.s, "18446744073709551615");
    /* A number beyond a double is refused; an infinity spelled out, or an underflow to
     * zero, is what was written. */
    CHECK_ERR(shmap_keyword_parse("E=1e400", &k), SHMAP_EKEYWORD);
    CHECK_CONTAINS(shmap_last_error(), "keyword E: value 1e400 out of range for a double");
    CHECK_ERR(shmap_keyword_parse("E=-1e400 / too far", &k), SHMAP_EKEYWORD);
    CHECK_OK(shmap_keyword_parse("E=-inf", &k));
    CHECK(k.type == SHMAP_KW_FLOAT && isinf(k.f) && k.f < 0);
    CHECK_OK(shmap_keyword_parse("E=1e-400", &k));
    CHECK(k.type == SHMAP_KW_FLOAT && k.f == 0);
    CHECK_ERR(shmap_keyword_parse("NOEQUALS", &k), SHMAP_EKEYWORD);
    CHECK_ERR(shmap_keyword_parse("=1", &k), SHMAP_EKEYWORD);
    CHECK_ERR(shmap_keyword_parse("BAD KEY=1", &k), SHMAP_EKEYWORD);
    CHECK_ERR(shmap_keyword_parse("S='unterminated", &k), SHMAP_EKEYWORD);
}

TEST(publish__bumps_the_generation_seen_by_every_handle)
{
    const char *name = test_name("gen");
    shmap_seg *rw = make(name, 0);
    shmap_seg *ro = NULL;
    CHECK_OK(shmap_open(&ro, name, SHMAP_RDONLY));
    CHECK_EQ_INT(shmap_generation(rw), 0);
    CHECK_OK(shmap_publish(rw));
    CHECK_OK(shmap_publish(rw));
    CHECK_OK(shmap_publish(rw));
    CHECK_EQ_INT(shmap_generation(rw), 3);
    CHECK_EQ_INT(shmap_generation(ro), 3);
    shmap_info info;
    CHECK_OK(shmap_info_get(ro, &info));
    CHECK_EQ_INT(info.generation, 3);
    CHECK_OK(shmap_stat(name, &info));
    CHECK_EQ_INT(info.generation, 3);
    CHECK_ERR(shmap_publish(ro), SHMAP_EREADONLY);
    CHECK_EQ_INT(shmap_generation(ro), 3);
    /* The generation is mutable state: publishing does not break the header checksum. */
    CHECK_OK(shmap_close(ro));
    CHECK_OK(shmap_open(&ro, name, SHMAP_RDONLY));
    CHECK_OK(shmap_close(ro));
    CHECK_OK(shmap_close(rw));
}

/*
 * Run `fn(name)` in a child and give it `seconds` to finish: a call that never returns is
 * reported as a hang instead of stalling the test until the runner's timeout.
 */
static int run_bounded(int (*fn)(const char *), const char *name, int seconds)
{
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        _exit(fn(name));
    for (int i = 0; i < seconds * 100; i++) {
        int status;
        pid_t done = waitpid(pid, &status, WNOHANG);
        if (done == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    test_wait(pid);
    return -1;
}

static int read_keyword(const char *name)
{
    shmap_seg *seg = NULL;
    if (shmap_open(&seg, name, SHMAP_RDONLY) != 0)
        return 10;
    shmap_keyword kw;
    int rc = shmap_keyword_get(seg, "GAIN", &kw);
    if (rc != 0 || kw.i != 2)
        return 11;
    int n = shmap_keyword_list(seg, &kw, 1);
    if (n < 1)
        return 12;
    shmap_info info;
    if (shmap_info_get(seg, &info) != 0 || info.nkeywords != (unsigned)n)
        return 13;
    shmap_close(seg);
    return 0;
}

static int write_keyword(const char *name)
{
    shmap_seg *seg = NULL;
    if (shmap_open(&seg, name, SHMAP_RDWR) != 0)
        return 10;
    shmap_keyword kw = kw_int("OFFSET", 3);
    if (shmap_keyword_set(seg, &kw) != 0)
        return 11;
    if (shmap_keyword_get(seg, "OFFSET", &kw) != 0 || kw.i != 3)
        return 12;
    shmap_close(seg);
    return 0;
}

/*
 * A kept segment holding GAIN = 2 as a writer killed in the middle of a keyword change
 * leaves it: the keyword lock held by a dead pid, the sequence odd.
 */
static void make_left_by_dead_writer(const char *name)
{
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_KEEP;
    const uint64_t dims[1] = {4};
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_U8, 1, dims, &opts));
    shmap_keyword kw = kw_int("GAIN", 2);
    CHECK_OK(shmap_keyword_set(seg, &kw));
    CHECK_OK(shmap_close(seg));
    struct shmap__header h;
    util_header_read(name, &h);
    h.kw_lock = (uint32_t)util_dead_pid();
    h.kw_seq |= 1;
    util_header_write(name, &h);
}

TEST(keyword__a_writer_that_died_holding_the_keyword_lock_blocks_no_one)
{
    const char *name = test_name("kwdead");
    make_left_by_dead_writer(name);
    int rc = run_bounded(write_keyword, name, 3);
    if (rc < 0)
        test_fail(__FILE__, __LINE__, "shmap_keyword_set hangs on a lock held by a dead pid");
    CHECK_EQ_INT(rc, 0);
    rc = run_bounded(read_keyword, name, 3);
    CHECK_EQ_INT(rc, 0);
    util_shm_remove(name);
}

TEST(keyword__readers_are_not_hung_by_a_change_a_dead_writer_left_open)
{
    const char *name = test_name("kwodd");
    make_left_by_dead_writer(name);
    /* A reader (which may have no write permission, so cannot repair anything) must still
     * get an answer: the keywords, or an error, but not an endless wait. */
    int rc = run_bounded(read_keyword, name, 3);
    if (rc < 0)
        test_fail(__FILE__, __LINE__,
                  "shmap_keyword_get never returns once a writer died "
                  "mid-change (kw_seq left odd)");
    CHECK_EQ_INT(rc, 0);
    util_shm_remove(name);
}

/* A child that sleeps until it is killed: a live process that is not changing keywords. */
static pid_t spawn_sleeper(void)
{
    pid_t pid = util_spawn();
    if (pid == 0) {
        for (;;)
            pause();
    }
    return pid;
}

/* Name `pid`, said to have started at `start`, as the keyword writer of `name`, mid-change. */
static void hold_keywords_as(const char *name, pid_t pid, uint64_t start)
{
    struct shmap__header h;
    util_header_read(name, &h);
    h.kw_lock = (uint32_t)pid;
    h.kw_lock_start = start;
    h.kw_seq |= 1;
    util_header_write(name, &h);
}

/* Set OFFSET = 3 in a handle of its own: @p if_set when it was set, 1 for -EBUSY whose
 * detail holds @p busy_words, 20 or 21 for another failure. */
static int set_offset_for(const char *name, const char *busy_words, int if_set)
{
    shmap_seg *seg = NULL;
    if (shmap_open(&seg, name, SHMAP_RDWR) != 0)
        return 20;
    shmap_keyword kw = kw_int("OFFSET", 3);
    int rc = shmap_keyword_set(seg, &kw);
    shmap_close(seg);
    if (rc == 0)
        return if_set;
    return rc == -EBUSY && strstr(shmap_last_error(), busy_words) ? 1 : 21;
}

/* Set OFFSET: 0, or 1 for -EBUSY naming a holder that has not finished. */
static int write_keyword_busy(const char *name)
{
    return set_offset_for(name, "keywords are being changed by pid", 0);
}

TEST(keyword__a_live_writer_that_never_finishes_makes_others_fail_not_spin_for_ever)
{
    /* Stopped in a debugger, or by SIGSTOP, half-way through a change: its hold is not
     * broken (it may go on), but another writer gives up after a second with -EBUSY. */
    const char *name = test_name("kwstuck");
    make_left_by_dead_writer(name);
    pid_t sleeper = spawn_sleeper();
    hold_keywords_as(name, sleeper, shmap__proc_start(sleeper));
    double t0 = util_now_s();
    int rc = run_bounded(write_keyword_busy, name, 10);
    if (rc < 0)
        test_fail(__FILE__, __LINE__, "shmap_keyword_set waits for ever on a live holder");
    CHECK_EQ_INT(rc, 1);
    CHECK(util_now_s() - t0 >= 0.9);
    /* Readers give up alike, and nothing was changed. */
    struct shmap__header h;
    util_header_read(name, &h);
    CHECK_EQ_INT(h.kw_lock, sleeper);
    CHECK_EQ_INT(h.kw_seq & 1, 1);
    util_kill9(sleeper);
    util_shm_remove(name);
}

/*
 * Deleting a keyword that is not there changes nothing, and takes no lock: it took the
 * keyword lock and let it go unchanged, so a loop of such deletes kept writers waiting for
 * nothing, and one waiting judged that holder stuck after a second. Here a live holder
 * keeps the lock (between changes, the sequence even): deletes of absent keywords answer at
 * once; a delete of one that is there still waits for the lock, and gives up on it.
 */
TEST(keyword__deleting_what_is_not_there_takes_no_lock)
{
    const char *name = test_name("kwabsent");
    make_left_by_dead_writer(name);
    pid_t sleeper = spawn_sleeper();
    hold_keywords_as(name, sleeper, shmap__proc_start(sleeper));
    struct shmap__header h;
    util_header_read(name, &h);
    h.kw_seq++; /* even: the holder is between changes */
    util_header_write(name, &h);
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDWR));
    double t0 = util_now_s();
    CHECK_ERR(shmap_keyword_delete(seg, "ABSENT"), SHMAP_ENOKEY);
    CHECK_CONTAINS(shmap_last_error(), "no keyword ABSENT");
    const char *absent[2] = {"ABSENT", "other"};
    CHECK_EQ_INT(shmap_keyword_delete_many(seg, absent, 2, SHMAP_KEYWORD_MISSING_OK), 0);
    CHECK(util_now_s() - t0 < 0.5); /* not the second a live holder is given */
    CHECK_ERR(shmap_keyword_delete(seg, "GAIN"), -EBUSY);
    CHECK_CONTAINS(shmap_last_error(), "has not finished");
    CHECK(util_now_s() - t0 >= 0.9);
    CHECK_OK(shmap_close(seg));
    util_header_read(name, &h);
    CHECK_EQ_INT(h.kw_lock, sleeper); /* nothing was taken over */
    util_kill9(sleeper);
    util_shm_remove(name);
}

/* Set OFFSET: 0, or 1 for -EBUSY naming a holder in another pid namespace. */
static int write_keyword_elsewhere(const char *name)
{
    return set_offset_for(name, "in another pid namespace (only its processes can tell "
                                "whether it is gone, and take over its change if so)", 0);
}

/* The writer holding `name`'s keyword lock counts as alive elsewhere: a change gives up
 * after a second (-EBUSY, saying where the writer is) and takes nothing over. */
static void check_left_alone(const char *name)
{
    double t0 = util_now_s();
    CHECK_EQ_INT(run_bounded(write_keyword_elsewhere, name, 10), 1);
    CHECK(util_now_s() - t0 >= 0.9);
    struct shmap__header h;
    util_header_read(name, &h);
    CHECK_EQ_INT(h.kw_seq & 1, 1); /* nothing taken over */
}

/* The writer holding `name`'s keyword lock is judged dead here: a change takes it over at
 * once, and lets go with the sequence even. */
static void check_taken_over(const char *name)
{
    double t0 = util_now_s();
    CHECK_EQ_INT(run_bounded(write_keyword_busy, name, 10), 0);
    CHECK(util_now_s() - t0 < 0.9);
    struct shmap__header h;
    util_header_read(name, &h);
    CHECK_EQ_INT(h.kw_lock, 0);
    CHECK_EQ_INT(h.kw_seq & 1, 0);
}

/* An attach slot in `h` (read whole) for the keyword writer, started at `start`, as its open
 * in another pid namespace would make it: the slot. */
static struct shmap__lockslot *slot_elsewhere(struct shmap__header *h, uint64_t start)
{
    struct shmap__lockarea *a = (struct shmap__lockarea *)((char *)h + SHMAP__LOCK_OFFSET);
    struct shmap__lockslot *slot = &a->slots[a->nslots++];
    slot->pid = (int32_t)h->kw_lock;
    slot->start = start;
    slot->pidns = shmap__self_pidns() + 1;
    slot->flags = SHMAP__SLOT_RDWR;
    return slot;
}

/*
 * A keyword writer in another pid namespace cannot be judged from here, where its pid names
 * another process or none: it counts as alive, as lock holders there do. It was judged by
 * its pid here, found dead, and its change taken over half-way (readers took torn keywords,
 * two writers wrote at once). Its namespace is the one its open recorded in the attach
 * table (here written by hand: a slot with its pid and start time, in another namespace). A
 * slot of that pid with another start time is another process's: the holder, dead, is then
 * taken over at once, as before.
 */
TEST(keyword__a_writer_in_another_pid_namespace_is_not_taken_for_dead)
{
    const char *name = test_name("kwns");
    make_left_by_dead_writer(name);
    struct shmap__header h;
    util_header_read(name, &h);
    h.kw_lock_start = 12345;
    struct shmap__lockslot *slot = slot_elsewhere(&h, h.kw_lock_start);
    util_header_write(name, &h);
    check_left_alone(name);
    /* Another start time: another process with that pid number, not the writer. */
    util_header_read(name, &h);
    slot->start = h.kw_lock_start + 1;
    util_header_write(name, &h);
    check_taken_over(name);
    util_shm_remove(name);
}

/*
 * A writer in another pid namespace that took the lock and was stopped (SIGSTOP, a frozen
 * container, a debugger) before it recorded its start time: its open's attach slot says
 * where it is, and it counts as alive, as it would once recorded. It was judged by its pid
 * here after 100 ms, and taken over.
 */
TEST(keyword__a_writer_elsewhere_stopped_before_it_recorded_itself_is_not_taken_over)
{
    const char *name = test_name("kwns0");
    make_left_by_dead_writer(name); /* kw_lock_start 0 */
    struct shmap__header h;
    util_header_read(name, &h);
    slot_elsewhere(&h, 777);
    util_header_write(name, &h);
    check_left_alone(name);
    util_shm_remove(name);
}

/* The listing's keywords of `name`: its keywords_status (1 when not listed). */
static int listed_keywords_status(const char *name)
{
    shmap_entry *list = NULL;
    size_t n = 0;
    int status = 1;
    CHECK_OK(shmap_list(&list, &n, SHMAP_LIST_KEYWORDS));
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i].info.name, name) == 0)
            status = list[i].keywords_status;
    shmap_list_free(list);
    return status;
}

/*
 * The same writer as this version records it when it takes the lock: its namespace in the
 * header, tagged with its pid, before its start time (a child that writes through a handle
 * it inherited has no slot of its own in the attach table, but records this all the same).
 * Writers and listings alike count it as alive: the listing's keywords are not read rather
 * than read torn. A tag of another pid is another holder's: the holder is judged here.
 */
TEST(keyword__a_writer_that_recorded_another_pid_namespace_is_not_taken_for_dead)
{
    const char *name = test_name("kwnstag");
    make_left_by_dead_writer(name);
    struct shmap__header h;
    util_header_read(name, &h);
    h.kw_lock_start = 12345;
    h.kw_lock_pidns = shmap__self_pidns() + 1;
    h.kw_lock_pidns_pid = h.kw_lock;
    util_header_write(name, &h);
    check_left_alone(name);
    CHECK_EQ_INT(listed_keywords_status(name), -EBUSY);
    util_header_read(name, &h);
    h.kw_lock_pidns_pid = h.kw_lock + 1;
    util_header_write(name, &h);
    CHECK_EQ_INT(listed_keywords_status(name), 0);
    check_taken_over(name);
    util_header_read(name, &h);
    CHECK_EQ_INT(h.kw_lock_pidns_pid, 0); /* let go: the tag with it */
    util_shm_remove(name);
}

/* Set PA and PB to one value as one change, and read them back as one snapshot, again and
 * again for @p seconds, with values of @p parity: how many snapshots had them differ (or -1
 * when a call failed). */
static long pairs_torn(shmap_seg *seg, int parity, double seconds)
{
    long torn = 0;
    double end = util_now_s() + seconds;
    for (int64_t v = parity; util_now_s() < end; v += 2) {
        shmap_keyword kw[2] = {kw_int("PA", v), kw_int("PB", v)};
        shmap_keyword *list = NULL;
        if (shmap_keyword_set_many(seg, kw, 2, NULL, 0) < 0)
            return -1;
        int n = shmap_keyword_list_alloc(seg, &list);
        if (n < 0)
            return -1;
        int64_t a = -1, b = -2;
        for (int i = 0; i < n; i++) {
            if (strcmp(list[i].name, "PA") == 0)
                a = list[i].i;
            if (strcmp(list[i].name, "PB") == 0)
                b = list[i].i;
        }
        free(list);
        torn += a != b;
    }
    return torn;
}

static shmap_seg *ns_inherited; /* a handle the namespace's writer uses, else it opens one */

/* In a pid namespace of its own: pairs_torn() for 2 s, once told to go; exit 0 when none
 * was torn. */
static void pairs_in_namespace(const char *name)
{
    shmap_seg *seg = ns_inherited;
    if ((!seg && shmap_open(&seg, name, SHMAP_RDWR) < 0) || util_ns_ready() < 0)
        _exit(40);
    long torn = pairs_torn(seg, 1, 2);
    _exit(torn == 0 ? 0 : torn < 0 ? 41 : 42);
}

/*
 * The same with real processes: a keyword writer in a pid namespace of its own and one here
 * change two keywords together, again and again, and each reads them back. Judged dead from
 * here by its pid, the writer there had its changes taken over half-way (pairs torn by the
 * hundred in a few seconds); judged alive, the two wait for each other and nothing tears.
 */
static void writers_in_two_namespaces(const char *name, bool inherit)
{
    util_need_root();
    const uint64_t dims[1] = {4};
    util_make_kept(name, SHMAP_U8, 1, dims);
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDWR));
    ns_inherited = inherit ? seg : NULL;
    pid_t outer = util_spawn_ready_in_new_pid_namespace(pairs_in_namespace, name);
    long torn = pairs_torn(seg, 0, 2);
    util_pid_namespace_done(outer); /* fails unless it saw nothing torn */
    CHECK_EQ_INT(torn, 0);
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(name));
}

TEST(keyword__writers_in_two_pid_namespaces_never_write_at_once)
{
    writers_in_two_namespaces(test_name("kwns2"), false);
}

/* The writer there writes through the handle it inherited (fork), which has no attach slot of
 * its own: it was judged by its pid from here, and its changes taken over half-way. */
TEST(keyword__a_writer_with_an_inherited_handle_in_another_pid_namespace_is_not_taken_over)
{
    writers_in_two_namespaces(test_name("kwns3"), true);
}

TEST(keyword__a_dead_writer_whose_pid_was_reused_is_known_by_its_start_time)
{
    /* The holder died mid-change and its pid now names another, live, process: its start
     * time tells them apart, so its hold is taken over at once, by writers and readers. */
    const char *name = test_name("kwreuse");
    make_left_by_dead_writer(name);
    pid_t other = spawn_sleeper();
    hold_keywords_as(name, other, shmap__proc_start(other) + 12345);
    int rc = run_bounded(read_keyword, name, 3);
    CHECK_EQ_INT(rc, 0);
    double t0 = util_now_s();
    rc = run_bounded(write_keyword_busy, name, 10);
    CHECK_EQ_INT(rc, 0);
    CHECK(util_now_s() - t0 < 0.9); /* not the second a live holder is given */
    struct shmap__header h;
    util_header_read(name, &h);
    CHECK_EQ_INT(h.kw_lock, 0);
    CHECK_EQ_INT(h.kw_lock_start, 0);
    CHECK_EQ_INT(h.kw_seq & 1, 0);
    rc = run_bounded(read_keyword, name, 3);
    CHECK_EQ_INT(rc, 0);
    util_kill9(other);
    util_shm_remove(name);
}

/*
 * shmap_info_get() counts keywords as a consistent snapshot would, while another process
 * changes them. The slots are laid out so that counting them as they read gives a number
 * the segment never held: FILL keywords in slots 1 .. CAP - 2, and a writer that keeps
 * moving between {A} and {A, B}, with A in the last slot and B in the first (set takes the
 * first free slot): a walk that reads slot 0 empty, and then the last slot empty after the
 * writer set B and deleted A, would count FILL.
 */
TEST(keyword__info_counts_keywords_consistently_while_another_process_changes_them)
{
    enum { CAP = 512, FILL = CAP - 2 };
    const char *name = test_name("kwcount");
    shmap_seg *seg = make(name, CAP);
    shmap_keyword kw = kw_int("B", 1);
    CHECK_OK(shmap_keyword_set(seg, &kw)); /* slot 0 for now */
    for (int i = 0; i < FILL; i++) {
        char key[16];
        snprintf(key, sizeof key, "K%d", i);
        kw = kw_int(key, i);
        CHECK_OK(shmap_keyword_set(seg, &kw));
    }
    kw = kw_int("A", 1);
    CHECK_OK(shmap_keyword_set(seg, &kw)); /* the last slot */
    CHECK_OK(shmap_keyword_delete(seg, "B"));
    shmap_info info;
    CHECK_OK(shmap_info_get(seg, &info));
    CHECK_EQ_INT(info.nkeywords, FILL + 1);

    struct util_chan c;
    util_chan_open(&c);
    pid_t writer = util_spawn();
    if (writer == 0) {
        shmap_seg *w = NULL;
        if (shmap_open(&w, name, SHMAP_RDWR) < 0)
            _exit(20);
        shmap_keyword a = kw_int("A", 1), b = kw_int("B", 1);
        util_child_send(&c, 'w');
        /* Paced a little, as real writers are: a count never waits for the next change. */
        for (;;) {
            if (shmap_keyword_set(w, &b) < 0 || shmap_keyword_delete(w, "A") < 0 ||
                shmap_keyword_set(w, &a) < 0 || shmap_keyword_delete(w, "B") < 0)
                _exit(21);
            struct timespec ts = {0, 20000};
            nanosleep(&ts, NULL);
        }
    }
    CHECK_EQ_INT(util_parent_recv(&c), 'w');
    util_chan_close(&c);
    unsigned seen[3] = {0, 0, 0};
    double t0 = util_now_s();
    for (int i = 0; i < 200000 && util_now_s() - t0 < 1.0; i++) {
        CHECK_OK(shmap_info_get(seg, &info));
        if (info.nkeywords < FILL + 1 || info.nkeywords > FILL + 2)
            test_fail(__FILE__, __LINE__, "%u keywords counted: the segment held %d or %d",
                      info.nkeywords, FILL + 1, FILL + 2);
        seen[info.nkeywords - FILL]++;
    }
    util_kill9(writer);
    CHECK(seen[1] > 0);
    CHECK_OK(shmap_close(seg));
}

TEST(keyword__a_damaged_keyword_area_never_crashes_and_yields_only_valid_keywords)
{
    const char *name = test_name("kwjunk");
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_KEEP;
    opts.keyword_capacity = 8;
    const uint64_t dims[1] = {4};
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_U8, 1, dims, &opts));
    CHECK_OK(shmap_close(seg));
    struct shmap__header h;
    util_header_read(name, &h);
    unsigned char junk[8 * SHMAP__KW_SLOT_SIZE];
    uint64_t x = 0x1234567887654321ull;
    for (size_t i = 0; i < sizeof junk; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        junk[i] = (unsigned char)x;
    }
    char path[SHMAP_NAME_MAX + 16];
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL);
    CHECK(fseek(f, (long)h.kw_offset, SEEK_SET) == 0);
    CHECK(fwrite(junk, 1, sizeof junk, f) == sizeof junk);
    fclose(f);
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDONLY));
    shmap_keyword list[8];
    int n = shmap_keyword_list(seg, list, 8);
    CHECK(n >= 0 && n <= 8);
    for (int i = 0; i < n; i++) {
        CHECK(strlen(list[i].name) < SHMAP_KEYWORD_NAME_MAX);
        CHECK(strlen(list[i].s) < SHMAP_KEYWORD_STRING_MAX);
        CHECK(strlen(list[i].comment) < SHMAP_KEYWORD_COMMENT_MAX);
        if (list[i].type < SHMAP_KW_INT || list[i].type > SHMAP_KW_BOOL)
            test_fail(__FILE__, __LINE__, "keyword %d of a damaged area has type %d", i,
                      (int)list[i].type);
    }
    CHECK_OK(shmap_close(seg));
    util_shm_remove(name);
}

/* shmap_create() with `keywords`: the keywords read back in order, and the segment's
 * keyword state as set one by one would leave it. */
static void create_with(const char *name, const shmap_keyword *kws, unsigned n, unsigned cap)
{
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.keywords = kws;
    opts.nkeywords = n;
    opts.keyword_capacity = cap;
    const uint64_t dims[1] = {4};
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_U8, 1, dims, &opts));
    shmap_keyword got[3];
    CHECK_EQ_INT(shmap_keyword_list(seg, got, 3), 2);
    CHECK_STR(got[0].name, "FIRST");
    CHECK(got[0].type == SHMAP_KW_INT && got[0].i == 3); /* given twice: the last value */
    CHECK_STR(got[0].comment, "again");
    CHECK_STR(got[1].name, "OBJECT");
    CHECK_STR(got[1].s, "M31");
    /* A keyword set now comes after them. */
    shmap_keyword more = kw_int("LATER", 1);
    CHECK_OK(shmap_keyword_set(seg, &more));
    CHECK_EQ_INT(shmap_keyword_list(seg, got, 3), 3);
    CHECK_STR(got[2].name, "LATER");
    CHECK_OK(shmap_close(seg));
}

TEST(keyword__create_writes_keywords_into_the_segment_before_it_has_its_name)
{
    shmap_keyword kws[3];
    kws[0] = kw_int("first", 1);
    memset(&kws[1], 0, sizeof kws[1]);
    snprintf(kws[1].name, sizeof kws[1].name, "OBJECT");
    kws[1].type = SHMAP_KW_STRING;
    snprintf(kws[1].s, sizeof kws[1].s, "M31");
    kws[2] = kw_int("FIRST", 3);
    snprintf(kws[2].comment, sizeof kws[2].comment, "again");
    create_with(test_name("pos"), kws, 3, 0);
    char name[64];
    snprintf(name, sizeof name, "sysv://0x%08x", (unsigned)test_sysv_key());
    create_with(name, kws, 3, 0);
    char file[600];
    snprintf(file, sizeof file, "file:%s", util_test_path("kw.shm"));
    create_with(file, kws, 3, 3); /* room for the two and the one set later */
    create_with("memfd:kw", kws, 3, 0);
}

TEST(keyword__create_sizes_the_default_keyword_area_to_the_keywords_given)
{
    shmap_keyword kws[40];
    for (int i = 0; i < 40; i++) {
        char n[16];
        snprintf(n, sizeof n, "K%d", i);
        kws[i] = kw_int(n, i);
    }
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.keywords = kws;
    opts.nkeywords = 40;
    const uint64_t dims[1] = {4};
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, test_name("many"), SHMAP_U8, 1, dims, &opts));
    shmap_info info;
    CHECK_OK(shmap_info_get(seg, &info));
    CHECK_EQ_INT(info.keyword_capacity, 40);
    CHECK_EQ_INT(info.nkeywords, 40);
    CHECK_OK(shmap_close(seg));
}

TEST(keyword__create_with_bad_keywords_fails_and_leaves_nothing)
{
    const char *name = test_name("bad");
    shmap_keyword kws[3] = {kw_int("A", 1), kw_int("B", 2), kw_int("C", 3)};
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.keywords = kws;
    opts.nkeywords = 3;
    opts.keyword_capacity = 2;
    const uint64_t dims[1] = {4};
    shmap_seg *seg = NULL;
    CHECK_ERR(shmap_create(&seg, name, SHMAP_U8, 1, dims, &opts), SHMAP_EKEYFULL);
    CHECK_CONTAINS(shmap_last_error(), ": 2 keyword slots cannot hold the keywords given (C is "
                                       "one too many)");
    opts.keyword_capacity = 0;
    kws[1].type = SHMAP_KW_BOOL;
    kws[1].i = 2;
    CHECK_ERR(shmap_create(&seg, name, SHMAP_U8, 1, dims, &opts), SHMAP_EKEYWORD);
    kws[1] = kw_int("not a name", 1);
    CHECK_ERR(shmap_create(&seg, name, SHMAP_U8, 1, dims, &opts), SHMAP_EKEYWORD);
    opts.keywords = NULL;
    CHECK_ERR(shmap_create(&seg, name, SHMAP_U8, 1, dims, &opts), SHMAP_EINVAL);
    CHECK(!util_shm_exists(name));
    CHECK_EQ_INT(util_count_hidden_of(getpid()), 0);
    /* Options of version 1 have no keywords: whatever follows them is not read. */
    opts.version = 1;
    CHECK_OK(shmap_create(&seg, name, SHMAP_U8, 1, dims, &opts));
    shmap_info info;
    CHECK_OK(shmap_info_get(seg, &info));
    CHECK_EQ_INT(info.nkeywords, 0);
    CHECK_OK(shmap_close(seg));
}

/*
 * A live keyword writer that changes them without a pause, here bumping the sequence as
 * fast as it can while holding the writer lock (a buggy or hostile process may: it may
 * write the header). Every copy a reader takes sees a change. Readers spun on for ever (they
 * did), and a writer waiting for its turn was told after a second that the holder "has not
 * finished", as if it were stuck. A reader now gives up after a second and a writer after
 * five, with -EBUSY saying what happened.
 */
static pid_t spawn_bumper(const char *name)
{
    pid_t pid = util_spawn();
    if (pid != 0)
        return pid;
    char path[SHMAP_NAME_MAX + 16];
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    int fd = open(path, O_RDWR);
    void *p = fd < 0 ? MAP_FAILED : mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        _exit(1);
    struct shmap__header *h = p;
    __atomic_store_n(&h->kw_lock_start, shmap__self_start(), __ATOMIC_RELEASE);
    __atomic_store_n(&h->kw_lock, (uint32_t)getpid(), __ATOMIC_RELEASE);
    double end = util_now_s() + 30; /* killed long before */
    while (util_now_s() < end)
        for (int i = 0; i < 1000; i++)
            __atomic_add_fetch(&h->kw_seq, 2, __ATOMIC_RELEASE);
    _exit(0);
}

/* Read GAIN: 0, 1 for -EBUSY saying the keywords change too fast, 2 for another -EBUSY. */
static int read_keyword_busy(const char *name)
{
    shmap_seg *seg = NULL;
    if (shmap_open(&seg, name, SHMAP_RDONLY) != 0)
        return 20;
    shmap_keyword kw;
    int rc = shmap_keyword_get(seg, "GAIN", &kw);
    shmap_close(seg);
    if (rc == 0)
        return kw.i == 2 ? 0 : 21;
    if (rc != -EBUSY)
        return 22;
    return strstr(shmap_last_error(), "keywords change faster than they can be read") ? 1 : 2;
}

/* Set OFFSET: 1 for -EBUSY saying others left no turn (the bumper holds the lock
 * throughout, so setting it is a failure too). */
static int write_keyword_no_turn(const char *name)
{
    return set_offset_for(name, "no turn to change them", 23);
}

TEST(keyword__a_writer_that_never_pauses_makes_others_fail_in_time_saying_so)
{
    const char *name = test_name("kwbusy");
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_KEEP;
    opts.keyword_capacity = 4096; /* a long copy */
    const uint64_t dims[1] = {4};
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_U8, 1, dims, &opts));
    shmap_keyword kw = kw_int("GAIN", 2);
    CHECK_OK(shmap_keyword_set(seg, &kw));
    CHECK_OK(shmap_close(seg));
    pid_t bumper = spawn_bumper(name);
    util_sleep_ms(50);
    double t0 = util_now_s();
    int rc = run_bounded(read_keyword_busy, name, 10);
    if (rc < 0)
        test_fail(__FILE__, __LINE__, "shmap_keyword_get spins for ever on a busy writer");
    CHECK(rc == 0 || rc == 1); /* a copy slips in while the bumper is off its CPU */
    CHECK(util_now_s() - t0 < 5);
    t0 = util_now_s();
    rc = run_bounded(write_keyword_no_turn, name, 15);
    CHECK_EQ_INT(rc, 1);
    CHECK(util_now_s() - t0 >= 4.5);
    util_kill9(bumper);
    util_shm_remove(name);
}

/*
 * The same, played exactly: a source whose sequence moves at every look, as a writer on
 * another CPU that never pauses makes it, so no copy is ever whole. Even, a reader spun for
 * ever; odd (a change in progress at every look, each a new one), it was told after a second
 * that the writer "has not finished". Both are now -EBUSY after a second, saying the
 * keywords change too fast to be read.
 */
static uint32_t scripted_seq, scripted_moves;

static int scripted_words(void *ctx, uint32_t *lock, uint32_t *seq)
{
    (void)ctx;
    *lock = (uint32_t)getpid(); /* alive: shmap__self_start() below */
    *seq = scripted_seq;
    if (scripted_moves) {
        scripted_seq += 2;
        scripted_moves--;
    }
    return 0;
}

static void scripted_holder(void *ctx, uint32_t pid, struct shmap__kwholder *out)
{
    (void)ctx;
    (void)pid;
    out->start = shmap__self_start();
    out->pidns = 0;
}

static int scripted_slots(void *ctx, struct shmap__kwslot *copy, unsigned cap)
{
    (void)ctx;
    memset(copy, 0, (size_t)cap * sizeof *copy);
    return 0;
}

/* A snapshot of the scripted source from `first` on ("SEQ" or "SEQ/MOVES": it stands still
 * after MOVES looks): 1 for -EBUSY saying the keywords change too fast, 3 for -EBUSY saying
 * the writer has not finished, 2 for another failure, 0 for a copy. */
static int scripted_snapshot(const char *first)
{
    scripted_seq = (uint32_t)atoi(first);
    scripted_moves = strchr(first, '/') ? (uint32_t)atoi(strchr(first, '/') + 1) : UINT32_MAX;
    const struct shmap__kwsource src = {scripted_words, scripted_holder, scripted_slots, NULL};
    struct shmap__kwslot copy[4];
    int rc = shmap__keyword_snapshot(&src, 4, copy, "scripted");
    if (rc == 0)
        return 0;
    if (rc == -EBUSY && strstr(shmap_last_error(), "which has not finished in 1000 ms"))
        return 3;
    return rc == -EBUSY && strstr(shmap_last_error(), "keywords change faster than they can "
                                                      "be read") ? 1 : 2;
}

TEST(keyword__a_snapshot_of_keywords_that_change_at_every_look_fails_in_a_second)
{
    static const char *const first[] = {"100", "101"}; /* even, odd */
    for (size_t i = 0; i < 2; i++) {
        double t0 = util_now_s();
        int rc = run_bounded(scripted_snapshot, first[i], 10);
        if (rc < 0)
            test_fail(__FILE__, __LINE__, "the snapshot spins for ever (sequence from %s)",
                      first[i]);
        CHECK_EQ_INT(rc, 1);
        double took = util_now_s() - t0;
        CHECK(took >= 0.9 && took < 5);
    }
    /* A writer that changed them busily and then stopped in the middle of a change is
     * named as stuck, not as too fast. */
    double t0 = util_now_s();
    CHECK_EQ_INT(run_bounded(scripted_snapshot, "101/300", 10), 3);
    CHECK(util_now_s() - t0 < 5);
}
