/*
 * What `shmap ls` says of objects that are not ready segments, and how its table lines up:
 * a segment still being created is told from one whose creator died, as info tells them;
 * every object of `ls --all --json` has the members every object must have; names that
 * are not ASCII keep the columns straight, and bytes that are not text print escaped.
 */
#include <locale.h>
#include <signal.h>
#include <wchar.h>

#include "../util.h"

/* The line of `text` holding `needle`, copied into buf; fails the test if there is none. */
static const char *line_with(const char *text, const char *needle, char *buf, size_t size)
{
    const char *hit = strstr(text, needle);
    if (!hit)
        test_fail(__FILE__, __LINE__, "no line with \"%s\" in:\n%s", needle, text);
    const char *start = hit;
    while (start > text && start[-1] != '\n')
        start--;
    snprintf(buf, size, "%.*s", (int)strcspn(start, "\n"), start);
    return buf;
}

/* The start time of process `pid` in clock ticks: field 22 of /proc/PID/stat, counted from
 * after the command name's closing parenthesis as proc(5) says (the name may hold blanks). */
static uint64_t proc_start_time(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    CHECK(p != NULL && p[1] == ' ');
    p += 2; /* field 3 */
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        CHECK(p != NULL);
        p++;
    }
    return strtoull(p, NULL, 10);
}

/*
 * Make `name` a POSIX segment whose header says it is still being created by `creator`:
 * creator pid and start time are that process's, the checksum is recomputed over them
 * (docs/FORMAT.md) and the state word is INIT, as a creation at work leaves a header.
 */
static void make_being_created(const char *name, pid_t creator)
{
    const uint64_t dims[1] = {64};
    struct shmap__header h;
    util_make_kept(name, SHMAP_U8, 1, dims);
    util_header_read(name, &h);
    h.creator_pid = (int32_t)creator;
    h.creator_start = proc_start_time(creator);
    util_fix_checksum(&h);
    h.state = SHMAP__STATE_INIT;
    util_header_write(name, &h);
}

/* A child that sleeps until it is killed: a creator at work, as far as a header can tell. */
static pid_t spawn_sleeper(void)
{
    pid_t pid = util_spawn();
    if (pid == 0)
        for (;;)
            pause();
    return pid;
}

TEST(cli__ls_all_tells_a_segment_being_created_from_one_whose_creator_died)
{
    const char *name = test_name("init");
    char *out = NULL, *err = NULL, line[2048], want[512], obj[8192];
    pid_t creator = spawn_sleeper();
    make_being_created(name, creator);

    /* info waits a moment for the creator, then says it is at work. */
    RUN(1, "info", name);
    snprintf(want, sizeof want, "segment is still being created by pid %d\n", (int)creator);
    CHECK_ERROR_LINE(err, want);

    /* ls leaves it out; ls --all says the same as info, in the table and in JSON. */
    RUN(0, "ls");
    CHECK(!strstr(out, name));
    RUN(0, "ls", "--all");
    line_with(out, name, line, sizeof line);
    snprintf(want, sizeof want, "  segment is still being created by pid %d", (int)creator);
    CHECK_CONTAINS(line, want);
    CHECK(!strstr(line, "never"));
    RUN(0, "ls", "--all", "--json");
    snprintf(want, sizeof want, "{\"name\": \"%s\",", name);
    line_with(out, want, obj, sizeof obj);
    snprintf(want, sizeof want, "\"error\": \"segment is still being created by pid %d\", "
                                "\"error_code\": \"SHMAP_EINCOMPLETE\",", (int)creator);
    CHECK_CONTAINS(obj, want);

    /* The creator dies: now the creation will never end, and all three say so. */
    util_kill9(creator);
    RUN(1, "info", name);
    snprintf(want, sizeof want, "segment was never completed: its creator (pid %d) died "
                                "while creating it", (int)creator);
    CHECK_ERROR_LINE(err, want);
    RUN(0, "ls", "--all");
    line_with(out, name, line, sizeof line);
    CHECK_CONTAINS(line, want);
    RUN(0, "ls", "--all", "--json");
    snprintf(want, sizeof want, "{\"name\": \"%s\",", name);
    line_with(out, want, obj, sizeof obj);
    snprintf(want, sizeof want, "\"error\": \"segment was never completed: its creator (pid %d) "
                                "died while creating it", (int)creator);
    CHECK_CONTAINS(obj, want);
    CHECK_CONTAINS(obj, "\"error_code\": \"SHMAP_EINCOMPLETE\",");

    RUN(0, "rm", "--force", name);
    CHECK(!util_shm_exists(name));
    util_clear(&out, &err);
}

/* The members SPEC.md requires of every object that `--json` prints. */
static const char *const required[] = {"name", "store", "dtype", "shape", "bytes", "mode",
                                       "uid", "gid", "creator_pid", "attached", "generation",
                                       "created"};
#define NREQUIRED (sizeof required / sizeof required[0])

/* Whether a one-line JSON object has member `key` at its top level (depth 1). */
static int has_member(const char *obj, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    size_t len = strlen(pat);
    int depth = 0, in_str = 0;
    for (const char *p = obj; *p; p++) {
        if (in_str) {
            if (*p == '\\' && p[1])
                p++;
            else if (*p == '"')
                in_str = 0;
            continue;
        }
        if (*p == '{' || *p == '[')
            depth++;
        else if (*p == '}' || *p == ']')
            depth--;
        else if (*p == '"') {
            if (depth == 1 && strncmp(p, pat, len) == 0 && (p[-1] == '{' || p[-2] == ','))
                return 1;
            in_str = 1;
        }
    }
    return 0;
}

TEST(cli__ls_all_json_gives_every_object_the_members_every_object_has)
{
    const char *seg = test_name("seg"), *zeros = test_name("zeros"), *init = test_name("init");
    const uint64_t dims[2] = {4, 3};
    char zero[100] = {0};
    char *out = NULL, *err = NULL, obj[8192], want[SHMAP_NAME_MAX + 16];
    util_make_kept(seg, SHMAP_F32, 2, dims);
    util_shm_write(zeros, zero, sizeof zero); /* head -c 100 /dev/zero > /dev/shm/NAME */
    make_being_created(init, getpid());

    RUN(0, "ls", "--all", "--json");
    /* Every object, ours and whatever else this machine holds. */
    int objects = 0;
    for (const char *p = out; (p = strstr(p, "{\"name\": ")); p++) {
        snprintf(obj, sizeof obj, "%.*s", (int)strcspn(p, "\n"), p);
        for (size_t k = 0; k < NREQUIRED; k++)
            if (!has_member(obj, required[k]))
                test_fail(__FILE__, __LINE__, "no member \"%s\" in %s", required[k], obj);
        objects++;
    }
    CHECK(objects >= 3);

    /* What is unknown of an object that is no segment is null, as for a raw one. */
    const char *others[] = {zeros, init};
    for (int i = 0; i < 2; i++) {
        snprintf(want, sizeof want, "{\"name\": \"%s\",", others[i]);
        line_with(out, want, obj, sizeof obj);
        CHECK_CONTAINS(obj, "\"shmap\": false,");
        CHECK_CONTAINS(obj, "\"dtype\": null,");
        CHECK_CONTAINS(obj, "\"shape\": null,");
        CHECK_CONTAINS(obj, "\"bytes\": null,");
        CHECK_CONTAINS(obj, "\"creator_pid\": null, \"attached\": null, \"generation\": null, "
                            "\"created\": null, \"error\": ");
    }
    snprintf(want, sizeof want, "{\"name\": \"%s\",", zeros);
    line_with(out, want, obj, sizeof obj);
    CHECK_CONTAINS(obj, "\"size\": 100,");
    CHECK_CONTAINS(obj, ", \"error_code\": \"SHMAP_EFORMAT\", \"deleted\": false}");
    snprintf(want, sizeof want, "{\"name\": \"%s\",", seg);
    line_with(out, want, obj, sizeof obj);
    CHECK_CONTAINS(obj, "\"dtype\": \"f32\",");
    CHECK_CONTAINS(obj, "\"shape\": [4, 3],");

    util_shm_remove(zeros);
    util_shm_remove(init);
    CHECK_OK(shmap_unlink(seg));
    util_clear(&out, &err);
}

/* Columns a UTF-8 terminal gives the first `len` bytes of `s`. */
static int display_width(const char *s, size_t len)
{
    wchar_t wc[512];
    char part[2048];
    snprintf(part, sizeof part, "%.*s", (int)len, s);
    size_t n = mbstowcs(wc, part, sizeof wc / sizeof wc[0]);
    CHECK(n != (size_t)-1);
    int w = wcswidth(wc, n);
    CHECK(w >= 0);
    return w;
}

/* The columns (in terminal cells) where the cell `col` of a table line starts and ends. */
static void cell_span(const char *line, int col, int *start, int *end)
{
    const char *p = line;
    for (int c = 0;; c++) {
        while (*p == ' ')
            p++;
        size_t len = strcspn(p, " ");
        if (c == col) {
            *start = display_width(line, (size_t)(p - line));
            *end = display_width(line, (size_t)(p + len - line));
            return;
        }
        CHECK(*p);
        p += len;
    }
}

/* Check that cell `col` of lines `a` and `b` line up: left-aligned cells start in the same
 * terminal column, right-aligned ones end in the same. */
static void check_aligned(const char *a, const char *b, int col, int right)
{
    int sa, ea, sb, eb;
    cell_span(a, col, &sa, &ea);
    cell_span(b, col, &sb, &eb);
    if (right ? ea != eb : sa != sb)
        test_fail(__FILE__, __LINE__, "column %d not aligned:\n%s\n%s", col, a, b);
}

TEST(cli__ls_lines_up_names_by_their_width_on_the_terminal)
{
    /* A 2-byte character of one column, and two 3-byte characters of two columns each. */
    const char *wide = test_name("x-\xc3\xa9\xe6\x97\xa5\xe6\x9c\xac"), *plain = test_name("x");
    /* NAME DTYPE SHAPE BYTES MODE OWNER CREATOR USERS LOCK GEN AGE: numbers align right. */
    static const int right[] = {0, 0, 0, 1, 0, 0, 1, 1, 0, 1, 1};
    char *out = NULL, *err = NULL, head[1024], a[1024], b[1024], key[SHMAP_NAME_MAX + 4];
    if (!setlocale(LC_ALL, "C.UTF-8"))
        TEST_SKIP("no C.UTF-8 locale here");
    RUN(0, "create", wide, "u8", "4");
    RUN(0, "create", plain, "u8", "4");
    /* The output is UTF-8 whatever the locale, and so are the widths it is padded to. */
    static const char *const locales[] = {"C.UTF-8", "C"};
    for (int l = 0; l < 2; l++) {
        CHECK(setenv("LC_ALL", locales[l], 1) == 0);
        RUN(0, "ls");
        line_with(out, "NAME ", head, sizeof head);
        snprintf(key, sizeof key, "%s ", wide);
        line_with(out, key, a, sizeof a);
        snprintf(key, sizeof key, "%s ", plain);
        line_with(out, key, b, sizeof b);
        for (int col = 1; col < 11; col++) {
            check_aligned(a, b, col, right[col]);
            check_aligned(head, a, col, right[col]);
        }
    }
    RUN(0, "rm", wide, plain);
    util_clear(&out, &err);
}

TEST(cli__ls_all_escapes_bytes_that_are_not_text)
{
    /* An invalid UTF-8 byte and a control character, in objects no shmap made. */
    char bad[SHMAP_NAME_MAX], ctl[SHMAP_NAME_MAX];
    snprintf(bad, sizeof bad, "%s", test_name("bad\xff" "x"));
    snprintf(ctl, sizeof ctl, "%s", test_name("ctl\x01" "x"));
    char *out = NULL, *err = NULL, want[SHMAP_NAME_MAX + 16], line[2048];
    util_shm_write(bad, "junk", 4);
    util_shm_write(ctl, "junk", 4);
    RUN(0, "ls", "--all");
    snprintf(want, sizeof want, "%sbad\\xffx  ", test_prefix());
    line_with(out, want, line, sizeof line);
    CHECK(!strchr(line, '\xff'));
    snprintf(want, sizeof want, "%sctl\\x01x  ", test_prefix());
    line_with(out, want, line, sizeof line);
    CHECK(!strchr(line, '\x01'));
    /* No command takes that name (rm --force refuses it): the line says how to remove it;
     * a name that is only not UTF-8 is one shmap takes, and gets no such words. */
    CHECK_CONTAINS(line, "; its name is not one shmap takes: remove it with rm(1) in /dev/shm");
    CHECK(!strstr(out, bad) && !strstr(out, ctl));
    snprintf(want, sizeof want, "%sbad\\xffx  ", test_prefix());
    line_with(out, want, line, sizeof line);
    CHECK(!strstr(line, "not one shmap takes"));
    RUN(2, "rm", "--force", ctl);
    /* info names them alike. */
    RUN(0, "info", bad, "--dtype", "u8", "--shape", "4");
    snprintf(want, sizeof want, "name:            %sbad\\xffx\n", test_prefix());
    CHECK_CONTAINS(out, want);
    snprintf(want, sizeof want, "\nos_handle:       /%sbad\\xffx\n", test_prefix());
    CHECK_CONTAINS(out, want);
    util_shm_remove(bad);
    util_shm_remove(ctl);
    util_clear(&out, &err);
}

/* A name holding the text "\x01" is told from one holding the byte 0x01: its backslash is
 * doubled, in ls, info and error lines alike (it printed as the byte's escape). */
TEST(cli__a_backslash_in_a_name_is_doubled_so_escapes_stay_unambiguous)
{
    const char *name = test_name("bs\\x01");
    char *out = NULL, *err = NULL, want[SHMAP_NAME_MAX + 16], line[2048];
    RUN(0, "create", name, "u8", "4");
    RUN(0, "ls");
    snprintf(want, sizeof want, "%sbs\\\\x01  ", test_prefix());
    line_with(out, want, line, sizeof line);
    RUN(0, "info", name);
    snprintf(want, sizeof want, "name:            %sbs\\\\x01\n", test_prefix());
    CHECK_CONTAINS(out, want);
    RUN(1, "create", name, "u8", "4");
    snprintf(want, sizeof want, "shmap: %sbs\\\\x01: ", test_prefix());
    CHECK_CONTAINS(err, want);
    /* A keyword's text keeps its backslashes single: the value prints as it is, and a
     * listed line reads back as it is. */
    RUN(0, "keyword", name, "Q=a\\b / com\\ment");
    RUN(0, "keyword", name, "Q");
    CHECK_STR(out, "a\\b\n");
    RUN(0, "keyword", name);
    CHECK_CONTAINS(out, "'a\\b' / com\\ment\n");
    RUN(0, "keyword", name, "Q='a\\b' / com\\ment");
    RUN(0, "keyword", name, "Q");
    CHECK_STR(out, "a\\b\n");
    RUN(0, "rm", name);
    util_clear(&out, &err);
}

TEST(cli__a_segment_renamed_to_a_name_shmap_does_not_take_is_listed_only_with_all)
{
    /* Another tool renamed a segment to a name with a control character: no command can
     * open or remove it by that name, so ls does not list it as a segment it could reach;
     * --all shows it, says why, and says how to remove it. */
    const char *made = test_name("torename");
    char ctl[SHMAP_NAME_MAX], from[SHMAP_NAME_MAX + 16], to[SHMAP_NAME_MAX + 16];
    snprintf(ctl, sizeof ctl, "%s", test_name("seg\x01" "x"));
    const uint64_t dims[1] = {4};
    util_make_kept(made, SHMAP_F32, 1, dims);
    snprintf(from, sizeof from, "/dev/shm/%s", made);
    snprintf(to, sizeof to, "/dev/shm/%s", ctl);
    CHECK(rename(from, to) == 0);
    char *out = NULL, *err = NULL, want[SHMAP_NAME_MAX + 16], line[2048];
    RUN(0, "ls");
    snprintf(want, sizeof want, "%sseg\\x01x", test_prefix());
    CHECK(!strstr(out, want));
    RUN(0, "ls", "--all");
    line_with(out, want, line, sizeof line);
    CHECK_CONTAINS(line, "a segment, but control character 0x01 in name; its name is not one "
                         "shmap takes: remove it with rm(1) in /dev/shm");
    util_shm_remove(ctl);
    util_clear(&out, &err);
}
