/*
 * shmap keyword: list, read, set and delete a segment's keywords after its creation. What
 * it prints is what `info` prints (a string bare when one keyword is read), its JSON what
 * `info --json` gives; several changes are all or none; a user who may only read the
 * segment reads its keywords and is told why it may not change them; the command takes no
 * lock (it runs under `shmap lock`) and publishes nothing.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include "../util.h"
#include "internal.h"

/* The first line of a usage error names the fault (the usage line may or may not follow). */
#define CHECK_USAGE_FIRST(err, needle)                                                        \
    do {                                                                                      \
        const char *uf_ = (err);                                                              \
        CHECK(uf_ && strncmp(uf_, "shmap: ", 7) == 0);                                        \
        const char *nl_ = strchr(uf_, '\n');                                                  \
        CHECK(nl_ != NULL);                                                                   \
        char first_[1024];                                                                    \
        snprintf(first_, sizeof first_, "%.*s", (int)(nl_ - uf_), uf_);                       \
        CHECK_CONTAINS(first_, needle);                                                       \
    } while (0)

/* The line of `text` that starts with `start`, copied into `buf` without its newline and
 * the comma that ends it when another member follows. */
static const char *line_of(const char *text, const char *start, char *buf, size_t size)
{
    const char *p = strstr(text, start);
    CHECK(p != NULL);
    const char *nl = strchr(p, '\n');
    snprintf(buf, size, "%.*s", nl ? (int)(nl - p) : (int)strlen(p), p);
    size_t len = strlen(buf);
    if (len && buf[len - 1] == ',')
        buf[len - 1] = '\0';
    return buf;
}

TEST(cli__keyword_lists_reads_and_sets_every_type_with_comments)
{
    const char *name = test_name("kwcmd");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "f32", "4", "--keyword", "GAIN=2 / e-/ADU");
    RUN(0, "keyword", name);
    CHECK_STR(out, "GAIN     = 2 / e-/ADU\n");
    CHECK_STR(err, "");
    RUN(0, "keyword", name, "gain");
    CHECK_STR(out, "2\n");

    RUN(0, "keyword", name, "EXPTIME=1.5 / seconds", "object=it's M31", "Q='a / b' / quoted",
        "FLAG=T", "OFF=false / a bool", "H=0x10", "NEG=-7", "WHOLE=2.0", "TINY=1e-5",
        "LONGER_KEYWORD_NAME=x");
    CHECK_STR(out, "");
    CHECK_STR(err, "");
    RUN(0, "keyword", name);
    CHECK_STR(out, "GAIN                = 2 / e-/ADU\n"
                   "EXPTIME             = 1.5 / seconds\n"
                   "OBJECT              = 'it''s M31'\n"
                   "Q                   = 'a / b' / quoted\n"
                   "FLAG                = T\n"
                   "OFF                 = F / a bool\n"
                   "H                   = 16\n"
                   "NEG                 = -7\n"
                   "WHOLE               = 2.0\n"
                   "TINY                = 1e-05\n"
                   "LONGER_KEYWORD_NAME = 'x'\n");
    /* info shows the same lines, indented under its keywords line. */
    RUN(0, "info", name);
    CHECK_CONTAINS(out, "keywords:        11 of 32 slots\n"
                        "  GAIN                = 2 / e-/ADU\n"
                        "  EXPTIME             = 1.5 / seconds\n"
                        "  OBJECT              = 'it''s M31'\n");

    /* One value alone: as info prints it, but a string bare. */
    static const char *const bare[][2] = {
        {"EXPTIME", "1.5\n"}, {"OBJECT", "it's M31\n"}, {"q", "a / b\n"}, {"FLAG", "T\n"},
        {"OFF", "F\n"},       {"H", "16\n"},            {"NEG", "-7\n"},  {"WHOLE", "2.0\n"},
        {"TINY", "1e-05\n"},
    };
    for (size_t i = 0; i < sizeof bare / sizeof bare[0]; i++) {
        RUN(0, "keyword", name, bare[i][0]);
        CHECK_STR(out, bare[i][1]);
    }
    RUN(0, "keyword", name, "EXPTIME", "--json");
    CHECK_STR(out, "{\n  \"keyword\": \"EXPTIME\",\n  \"type\": \"float\",\n  \"value\": 1.5,\n"
                   "  \"comment\": \"seconds\"\n}\n");
    RUN(0, "keyword", name, "WHOLE", "--json");
    CHECK_CONTAINS(out, "\"type\": \"float\",\n  \"value\": 2.0,\n  \"comment\": \"\"\n");
    RUN(0, "keyword", name, "object", "--json");
    CHECK_CONTAINS(out, "\"keyword\": \"OBJECT\",\n  \"type\": \"string\",\n"
                        "  \"value\": \"it's M31\",\n");
    RUN(0, "keyword", name, "FLAG", "--json");
    CHECK_CONTAINS(out, "\"type\": \"bool\",\n  \"value\": true,\n");
    RUN(0, "keyword", name, "H", "--json");
    CHECK_CONTAINS(out, "\"type\": \"int\",\n  \"value\": 16,\n");
    RUN(0, "rm", name);
    util_clear(&out, &err);
}

/* Each line the listing prints, given back as it is, sets the same keyword: quotes inside
 * a string are doubled there, as FITS writes them, and read back so (they were refused as
 * text after the quoted value). */
TEST(cli__keyword_lines_listed_read_back_as_they_are)
{
    const char *from = test_name("kwfrom"), *to = test_name("kwto");
    char *out = NULL, *err = NULL;
    RUN(0, "create", from, "u8", "1");
    RUN(0, "create", to, "u8", "1");
    RUN(0, "keyword", from, "A=it's", "B=''''", "C='say \"hi\"' / q", "D=x'' / y'' / z",
        "E=' lead' / c", "F=1.5 / s", "G=T", "H=''", "I='a '' / b'");
    RUN(0, "keyword", from);
    char *listed = out;
    out = NULL;
    CHECK_CONTAINS(listed, "A        = 'it''s'\nB        = ''''\n");
    int lines = 0;
    for (char *line = strtok(listed, "\n"); line; line = strtok(NULL, "\n"), lines++)
        RUN(0, "keyword", to, line);
    CHECK_EQ_INT(lines, 9);
    RUN(0, "keyword", from, "--json");
    char *want = out;
    out = NULL;
    RUN(0, "keyword", to, "--json");
    CHECK(strstr(want, "\"keywords\": {\"A\": \"it's\", \"B\": \"'\""));
    CHECK_STR(strstr(out, "\"keywords\""), strstr(want, "\"keywords\""));
    free(listed);
    free(want);
    RUN(0, "rm", from, to);
    util_clear(&out, &err);
}

TEST(cli__keyword_overwrites_keeping_the_comment_unless_one_is_given)
{
    const char *name = test_name("kwover");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "u8", "1", "--keyword", "GAIN=2 / e-/ADU", "--keyword", "B=1",
        "--keyword", "C=x / kept");
    /* A new value keeps the comment, a new type too; the keyword keeps its place. */
    RUN(0, "keyword", name, "GAIN=2.5");
    RUN(0, "keyword", name, "c='quoted / not a comment'");
    RUN(0, "keyword", name);
    CHECK_STR(out, "GAIN     = 2.5 / e-/ADU\n"
                   "B        = 1\n"
                   "C        = 'quoted / not a comment' / kept\n");
    /* A comment given replaces it; " /" with nothing after clears it. */
    RUN(0, "keyword", name, "GAIN=3 / new", "C=y /");
    RUN(0, "keyword", name);
    CHECK_STR(out, "GAIN     = 3 / new\n"
                   "B        = 1\n"
                   "C        = 'y'\n");
    /* The same keyword twice in one call: the last wins, and takes one slot. */
    RUN(0, "keyword", name, "D=1", "d=2 / second");
    RUN(0, "keyword", name, "D");
    CHECK_STR(out, "2\n");
    RUN(0, "info", name, "--json");
    CHECK_CONTAINS(out, "\"keywords\": {\"GAIN\": 3, \"B\": 1, \"C\": \"y\", \"D\": 2},\n");
    RUN(0, "rm", name);
    util_clear(&out, &err);
}

TEST(cli__keyword_deletes_all_or_none_and_an_absent_key_fails_unless_missing_ok)
{
    const char *name = test_name("kwdel");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "u8", "1", "--keyword", "A=1", "--keyword", "B=2", "--keyword",
        "C=3", "--keyword", "D=4");
    RUN(0, "keyword", name, "--delete", "a");
    CHECK_STR(out, "");
    CHECK_STR(err, "");
    /* An absent key among several: exit 1, naming it, and none deleted. */
    RUN(1, "keyword", name, "--delete", "B", "NOPE", "C");
    CHECK_ERROR_LINE(err, "shmap: ");
    CHECK_CONTAINS(err, name);
    CHECK_CONTAINS(err, ": no keyword NOPE (none of the keywords given deleted)\n");
    RUN(1, "keyword", name, "--delete", "X", "B", "Y");
    CHECK_CONTAINS(err, ": no keywords X, Y (");
    RUN(0, "keyword", name);
    CHECK_STR(out, "B        = 2\nC        = 3\nD        = 4\n");
    RUN(1, "keyword", name, "--delete", "A");
    CHECK_ERROR_LINE(err, ": no keyword A\n");
    /* --missing-ok: what is absent is deleted already. */
    RUN(0, "keyword", name, "--delete", "A", "B", "b", "--missing-ok");
    CHECK_STR(err, "");
    RUN(0, "keyword", name);
    CHECK_STR(out, "C        = 3\nD        = 4\n");
    RUN(0, "keyword", name, "--delete", "C", "D");
    RUN(0, "keyword", name);
    CHECK_STR(out, "");
    RUN(1, "keyword", name, "C");
    CHECK_ERROR_LINE(err, ": no keyword C\n");
    CHECK_STR(out, "");
    RUN(0, "rm", name);
    util_clear(&out, &err);
}

TEST(cli__keyword_in_a_full_area_names_what_does_not_fit_and_sets_none)
{
    const char *name = test_name("kwfull");
    char *out = NULL, *err = NULL;
    shmap_create_opts o = SHMAP_CREATE_OPTS_INIT;
    o.flags |= SHMAP_CREATE_KEEP;
    o.keyword_capacity = 3;
    uint64_t one = 1;
    shmap_seg *seg;
    CHECK_OK(shmap_create(&seg, name, SHMAP_U8, 1, &one, &o));
    shmap_keyword kw = {.name = "A", .type = SHMAP_KW_INT, .i = 1};
    CHECK_OK(shmap_keyword_set(seg, &kw));
    CHECK_OK(shmap_close(seg));

    /* Two fit, four do not: nothing is set, and the error names the new ones. */
    RUN(1, "keyword", name, "B=2", "A=5", "C=3", "D=4", "E=5");
    CHECK_ERROR_LINE(err, ": no room for new keywords B, C, D, E: 2 of 3 keyword slots free");
    RUN(0, "keyword", name);
    CHECK_STR(out, "A        = 1\n");
    RUN(0, "keyword", name, "B=2", "C=3", "A=5");
    RUN(1, "keyword", name, "D=4");
    CHECK_ERROR_LINE(err, ": no room for new keyword D: 0 of 3 keyword slots free");
    /* A full area still takes new values of the keywords it has. */
    RUN(0, "keyword", name, "a=6", "C=x / c");
    RUN(0, "keyword", name);
    CHECK_STR(out, "A        = 6\nB        = 2\nC        = 'x' / c\n");
    RUN(0, "keyword", name, "--json");
    CHECK_CONTAINS(out, "\"keyword_capacity\": 3,\n");
    RUN(0, "rm", name);
    util_clear(&out, &err);
}

TEST(cli__keyword_a_bad_one_among_several_is_bad_usage_and_sets_none)
{
    const char *name = test_name("kwbad");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "u8", "1", "--keyword", "A=1");
    static const char *const bad[][2] = {
        {"B B=1", "keyword name 'B B' may hold only letters, digits"},
        {"LONGER_THAN_TWENTY_THREE=1", "must be 1 to 23 characters"},
        {"B='unterminated", "keyword B: unterminated quoted value"},
        {"B=99999999999999999999", "keyword B: integer 99999999999999999999 out of range"},
        {"B=1 / a comment much longer than thirty-nine characters", "keyword B: comment"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        RUN(2, "keyword", name, "A=2", "C=3", bad[i][0], "D=4");
        CHECK_USAGE_FIRST(err, bad[i][1]);
        CHECK_CONTAINS(err, name);
    }
    RUN(0, "keyword", name);
    CHECK_STR(out, "A        = 1\n");
    RUN(0, "rm", name);
    util_clear(&out, &err);
}

TEST(cli__keyword_usage_errors_exit_2)
{
    const char *name = test_name("kwuse");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "u8", "1", "--keyword", "A=1");
    RUN(2, "keyword");
    CHECK_USAGE_FIRST(err, "missing NAME");
    RUN(2, "keyword", name, "A", "B");
    CHECK_USAGE_FIRST(err, "give one KEY to read");
    RUN(2, "keyword", name, "A", "B=1");
    CHECK_USAGE_FIRST(err, "'A' reads a keyword and 'B=1' sets one");
    RUN(2, "keyword", name, "B=1", "--json");
    CHECK_USAGE_FIRST(err, "--json is for reading");
    RUN(2, "keyword", name, "--delete");
    CHECK_USAGE_FIRST(err, "--delete needs a KEY");
    RUN(2, "keyword", name, "--delete", "A", "--json");
    CHECK_USAGE_FIRST(err, "--json is for reading");
    RUN(2, "keyword", name, "--delete", "A=1");
    CHECK_USAGE_FIRST(err, "--delete takes KEY, not KEY=VALUE");
    RUN(2, "keyword", name, "--delete", "A B");
    CHECK_USAGE_FIRST(err, "keyword name 'A B' may hold only");
    RUN(2, "keyword", name, "A", "--missing-ok");
    CHECK_USAGE_FIRST(err, "--missing-ok goes with --delete");
    RUN(2, "keyword", name, "BAD.KEY");
    CHECK_USAGE_FIRST(err, "keyword name 'BAD.KEY'");
    RUN(2, "keyword", name, "");
    CHECK_USAGE_FIRST(err, "must be 1 to 23 characters");
    RUN(2, "keyword", name, "--dtype", "u8", "--shape", "1");
    CHECK_USAGE_FIRST(err, "--dtype: a raw array has no header, and no keywords");
    RUN(2, "keyword", name, "--private");
    CHECK_USAGE_FIRST(err, "--private: a raw array has no header");
    RUN(2, "keyword", "a/b", "A");
    CHECK_USAGE_FIRST(err, "a/b");
    RUN(2, "keyword", name, "--bogus");
    CHECK_USAGE_FIRST(err, "unknown option '--bogus'");
    RUN(0, "keyword", name, "--help");
    CHECK_CONTAINS(out, "usage: shmap keyword NAME ");
    CHECK_CONTAINS(out, "takes no lock");
    RUN(0, "help", "keyword");
    CHECK_CONTAINS(out, "--missing-ok");
    RUN(0, "--help");
    CHECK_CONTAINS(out, "\n  keyword list, read, set or delete a segment's keywords\n");
    /* Nothing was changed by any of them. */
    RUN(0, "keyword", name);
    CHECK_STR(out, "A        = 1\n");
    RUN(0, "rm", name);
    util_clear(&out, &err);
}

TEST(cli__keyword_of_a_missing_segment_fails)
{
    const char *name = test_name("kwnone");
    char *out = NULL, *err = NULL;
    RUN(1, "keyword", name);
    CHECK_ERROR_LINE(err, ": no such segment\n");
    CHECK_CONTAINS(err, name);
    RUN(1, "keyword", name, "A");
    CHECK_ERROR_LINE(err, ": no such segment\n");
    RUN(1, "keyword", name, "A=1");
    CHECK_ERROR_LINE(err, ": no such segment\n");
    RUN(1, "keyword", name, "--delete", "A", "--missing-ok");
    CHECK_ERROR_LINE(err, ": no such segment\n");
    CHECK(!util_shm_exists(name));
    util_clear(&out, &err);
}

/* As nobody: the segment is 0644, so readable and not writable. */
static void keywords_as_reader(const char *name)
{
    char *out = NULL, *err = NULL;
    RUN(0, "keyword", name);
    CHECK_STR(out, "GAIN     = 2 / e-/ADU\nOBJECT   = 'M31'\n");
    RUN(0, "keyword", name, "OBJECT");
    CHECK_STR(out, "M31\n");
    RUN(0, "keyword", name, "--json");
    CHECK_CONTAINS(out, "\"keywords\": {\"GAIN\": 2, \"OBJECT\": \"M31\"},\n");
    RUN(1, "keyword", name, "GAIN=3");
    CHECK_ERROR_LINE(err, "permission denied");
    CHECK_CONTAINS(err, "changing keywords needs write permission");
    RUN(1, "keyword", name, "--delete", "GAIN");
    CHECK_ERROR_LINE(err, "permission denied");
    util_clear(&out, &err);
}

TEST(cli__keyword_a_user_who_may_only_read_lists_and_reads_and_is_told_why_not_more)
{
    util_need_root();
    const char *name = test_name("kwro");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "u8", "1", "--mode", "0644", "--keyword", "GAIN=2 / e-/ADU",
        "--keyword", "OBJECT=M31");
    util_as_nobody(keywords_as_reader, name);
    RUN(0, "keyword", name);
    CHECK_STR(out, "GAIN     = 2 / e-/ADU\nOBJECT   = 'M31'\n");
    RUN(0, "rm", name);
    util_clear(&out, &err);
}

static void set_read_delete(const char *name)
{
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "i16", "2", "3");
    RUN(0, "keyword", name, "RUN=7 / run number", "TARGET=Vega");
    RUN(0, "keyword", name);
    CHECK_STR(out, "RUN      = 7 / run number\nTARGET   = 'Vega'\n");
    RUN(0, "keyword", name, "TARGET");
    CHECK_STR(out, "Vega\n");
    RUN(0, "keyword", name, "--delete", "RUN");
    RUN(0, "keyword", name, "--json");
    CHECK_CONTAINS(out, "\"keywords\": {\"TARGET\": \"Vega\"},\n");
    RUN(0, "rm", name);
    util_clear(&out, &err);
}

TEST(cli__keyword_on_a_system_v_segment)
{
    char name[64];
    snprintf(name, sizeof name, "sysv://0x%08x", (unsigned)test_sysv_key());
    set_read_delete(name);
}

TEST(cli__keyword_on_a_file_segment)
{
    char name[512];
    snprintf(name, sizeof name, "file:%s", util_test_path("kw.shm"));
    set_read_delete(name);
}

/* The listing's JSON is info's: the same members, written the same way. */
TEST(cli__keyword_json_is_what_info_json_gives)
{
    const char *name = test_name("kwjson");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "u8", "1", "--keyword", "I=-3 / an int", "--keyword", "F=0.1",
        "--keyword", "S=say \"hi\"", "--keyword", "B=F / no");
    RUN(0, "keyword", name, "--json");
    char *mine = out;
    out = NULL;
    RUN(0, "info", name, "--json");
    char a[512], b[512];
    CHECK_STR(line_of(mine, "  \"keywords\": ", a, sizeof a),
              line_of(out, "  \"keywords\": ", b, sizeof b));
    CHECK_STR(a, "  \"keywords\": {\"I\": -3, \"F\": 0.1, \"S\": \"say \\\"hi\\\"\", "
                 "\"B\": false}");
    CHECK_STR(line_of(mine, "  \"keyword_comments\": ", a, sizeof a),
              line_of(out, "  \"keyword_comments\": ", b, sizeof b));
    CHECK_STR(line_of(mine, "  \"keyword_capacity\": ", a, sizeof a),
              line_of(out, "  \"keyword_capacity\": ", b, sizeof b));
    CHECK_STR(line_of(mine, "  \"name\": ", a, sizeof a),
              line_of(out, "  \"name\": ", b, sizeof b));
    CHECK(mine[0] == '{' && strcmp(mine + strlen(mine) - 3, "\n}\n") == 0);
    free(mine);
    RUN(0, "rm", name);
    util_clear(&out, &err);
}

/* Keyword changes publish nothing: the generation stays, and a waiter is not woken. */
TEST(cli__keyword_change_publishes_nothing)
{
    const char *name = test_name("kwgen");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "u8", "1");
    RUN(0, "fill", name, "1");
    pid_t waiter = util_spawn();
    if (waiter == 0) {
        int rc = test_cli(NULL, NULL, NULL, "wait", name, "--timeout", "1", NULL);
        _exit(rc);
    }
    CHECK(util_wait_asleep(waiter));
    RUN(0, "keyword", name, "A=1");
    RUN(0, "keyword", name, "--delete", "A");
    CHECK_EQ_INT(test_wait(waiter), 1); /* timed out: nothing woke it */
    RUN(0, "info", name, "--json");
    CHECK_CONTAINS(out, "\"generation\": 1,\n");
    RUN(0, "rm", name);
    util_clear(&out, &err);
}

/* No lock is taken: under `shmap lock` (exclusive or shared) the command does not wait for
 * its own parent. */
TEST(cli__keyword_runs_under_shmap_lock)
{
    const char *name = test_name("kwlock");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "u8", "1");
    RUN(0, "lock", name, "--timeout", "5", "--", test_shmap_bin(), "keyword", name, "A=1", "B=2");
    RUN(0, "lock", name, "--read", "--timeout", "5", "--", test_shmap_bin(), "keyword", name,
        "--delete", "A");
    RUN(0, "keyword", name);
    CHECK_STR(out, "B        = 2\n");
    RUN(0, "rm", name);
    util_clear(&out, &err);
}

/* A keyword writer stopped in the middle of a change: the command says who, within about
 * the library's second, rather than hang. */
TEST(cli__keyword_with_a_stuck_keyword_writer_fails_naming_it)
{
    const char *name = test_name("kwstuck");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "u8", "1", "--keyword", "A=1");
    pid_t sleeper = util_spawn();
    if (sleeper == 0) {
        for (;;)
            pause();
    }
    struct shmap__header h;
    util_header_read(name, &h);
    h.kw_lock = (uint32_t)sleeper;
    h.kw_lock_start = shmap__proc_start(sleeper);
    h.kw_seq |= 1;
    util_header_write(name, &h);

    char want[128];
    snprintf(want, sizeof want, "keywords are being changed by pid %d", (int)sleeper);
    RUN(1, "keyword", name);
    CHECK_ERROR_LINE(err, want);
    RUN(1, "keyword", name, "A");
    CHECK_ERROR_LINE(err, want);
    RUN(1, "keyword", name, "B=2");
    CHECK_ERROR_LINE(err, want);

    util_kill9(sleeper);
    /* Its holder dead, the next writer takes the change over. */
    RUN(0, "keyword", name, "B=2");
    RUN(0, "keyword", name);
    CHECK_STR(out, "A        = 1\nB        = 2\n");
    RUN(0, "rm", "--force", name);
    util_clear(&out, &err);
}

/*
 * A keyword another program wrote with control characters in it (the library writes none)
 * is printed escaped, by keyword and info alike: it forges no line of the listing and
 * sends no escape sequence to the terminal.
 */
TEST(cli__keyword_control_characters_a_foreign_writer_left_are_printed_escaped)
{
    char *out = NULL, *err = NULL;
    char name[600];
    const char *path = util_test_path("ctl.seg");
    snprintf(name, sizeof name, "file:%s", path);
    RUN(0, "create", name, "f32", "4", "--keyword", "OBJECT=m31 / target");
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0);
    struct shmap__header h;
    CHECK(pread(fd, &h, sizeof h, 0) == (ssize_t)sizeof h);
    struct shmap__kwslot slot;
    CHECK(pread(fd, &slot, sizeof slot, (off_t)h.kw_offset) == (ssize_t)sizeof slot);
    CHECK_STR(slot.name, "OBJECT");
    memset(slot.s, 0, sizeof slot.s);
    snprintf(slot.s, sizeof slot.s, "m31\nFAKE     = 'x'\033[31m");
    memset(slot.comment, 0, sizeof slot.comment);
    snprintf(slot.comment, sizeof slot.comment, "c\a\xc2\x85");
    CHECK(pwrite(fd, &slot, sizeof slot, (off_t)h.kw_offset) == (ssize_t)sizeof slot);
    close(fd);
    const char *want = "OBJECT   = 'm31\\x0aFAKE     = ''x''\\x1b[31m' / c\\x07\\xc2\\x85\n";
    RUN(0, "keyword", name);
    CHECK_STR(out, want);
    RUN(0, "info", name);
    CHECK_CONTAINS(out, want);
    CHECK(!strchr(out, '\033') && !strstr(out, "\nFAKE"));
    RUN(0, "keyword", name, "OBJECT");
    CHECK_STR(out, "m31\\x0aFAKE     = 'x'\\x1b[31m\n");
    RUN(0, "rm", name);
    util_clear(&out, &err);
}
