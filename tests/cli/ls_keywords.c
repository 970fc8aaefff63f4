/*
 * shmap ls --json takes each segment's keywords from the listing, without opening it, and
 * prints them as info --json prints what it reads through a mapping: POSIX and System V
 * segments, none, a full keyword area, slots damaged through /dev/shm.
 */
#include <fcntl.h>

#include "../util.h"

/* The line of `ls --json` output that holds the object of `name`, into buf. */
static const char *ls_line(const char *text, const char *name, char *buf, size_t size)
{
    char key[SHMAP_NAME_MAX + 16];
    snprintf(key, sizeof key, "{\"name\": \"%s\",", name);
    const char *hit = text ? strstr(text, key) : NULL;
    if (!hit)
        test_fail(__FILE__, __LINE__, "no object for %s in:\n%s", name, text ? text : "");
    snprintf(buf, size, "%.*s", (int)strcspn(hit, "\n"), hit);
    return buf;
}

/*
 * The JSON text of the value of the first member `member` in `text`, into buf: an object
 * or array whole (strings, with their escapes, may hold any bracket), or a scalar.
 */
static const char *member_value(const char *text, const char *member, char *buf, size_t size)
{
    char key[64];
    snprintf(key, sizeof key, "\"%s\": ", member);
    const char *p = strstr(text, key);
    if (!p)
        test_fail(__FILE__, __LINE__, "no member %s in:\n%s", member, text);
    p += strlen(key);
    const char *q = p;
    int depth = 0, in_string = 0;
    for (; *q; q++) {
        if (in_string) {
            if (*q == '\\' && q[1])
                q++;
            else if (*q == '"')
                in_string = 0;
        } else if (*q == '"') {
            in_string = 1;
        } else if (*q == '{' || *q == '[') {
            depth++;
        } else if (*q == '}' || *q == ']' || *q == ',' || *q == '\n') {
            if (depth == 0)
                break;
            if ((*q == '}' || *q == ']') && --depth == 0) {
                q++;
                break;
            }
        }
    }
    snprintf(buf, size, "%.*s", (int)(q - p), p);
    return buf;
}

/* The keywords and their comments of `name` in `ls --json` (its output) and in
 * `info NAME --json` are the same text; returns the keywords in `kw`. */
static void check_same_as_info(const char *ls, const char *name, char *kw, size_t size)
{
    char *out = NULL, *err = NULL;
    static char line[1 << 20];
    char a[1 << 14], b[1 << 14];
    ls_line(ls, name, line, sizeof line);
    RUN(0, "info", name, "--json");
    const char *members[2] = {"keywords", "keyword_comments"};
    for (int i = 0; i < 2; i++) {
        member_value(line, members[i], a, sizeof a);
        member_value(out, members[i], b, sizeof b);
        if (strcmp(a, b) != 0)
            test_fail(__FILE__, __LINE__, "%s: %s differ:\nls:   %s\ninfo: %s", name,
                      members[i], a, b);
    }
    member_value(line, "keywords", kw, size);
    util_clear(&out, &err);
}

/* Write one keyword slot of a POSIX segment through its file in /dev/shm. */
static void write_slot(const char *name, unsigned index, const struct shmap__kwslot *slot)
{
    struct shmap__header h;
    util_header_read(name, &h);
    char path[SHMAP_NAME_MAX + 16];
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    CHECK(fd >= 0);
    off_t off = (off_t)(h.kw_offset + (uint64_t)index * sizeof *slot);
    ssize_t w = pwrite(fd, slot, sizeof *slot, off);
    close(fd);
    CHECK(w == (ssize_t)sizeof *slot);
}

TEST(cli__ls_json_keywords_are_those_of_info_json)
{
    char *out = NULL, *err = NULL, kw[1 << 14];
    char a[SHMAP_NAME_MAX], none[SHMAP_NAME_MAX], full[SHMAP_NAME_MAX], dmg[SHMAP_NAME_MAX];
    char sysv[64];
    snprintf(a, sizeof a, "%s", test_name("a"));
    snprintf(none, sizeof none, "%s", test_name("none"));
    snprintf(full, sizeof full, "%s", test_name("full"));
    snprintf(dmg, sizeof dmg, "%s", test_name("dmg"));
    snprintf(sysv, sizeof sysv, "sysv://0x%08x", (unsigned)test_sysv_key());

    RUN(0, "create", a, "f4", "4", "--keyword", "EXPTIME=1.5 / seconds", "--keyword",
        "OBJECT='M 31' / target {name}", "--keyword", "FLAG=F", "--keyword", "N=-7",
        "--keyword", "TEXT='say \"hi\" \\ [x]'");
    RUN(0, "create", none, "u8", "8");
    RUN(0, "create", sysv, "f8", "2", "3", "--keyword", "GAIN=2.25", "--keyword",
        "DET=cam1 / detector");
    /* A full area: three slots, three keywords. */
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_KEEP;
    opts.keyword_capacity = 3;
    const uint64_t d[1] = {8};
    shmap_seg *seg;
    CHECK_OK(shmap_create(&seg, full, SHMAP_U16, 1, d, &opts));
    const char *cards[3] = {"X=1", "Y=2.0 / why", "Z=zed"};
    for (int i = 0; i < 3; i++) {
        shmap_keyword k;
        CHECK_OK(shmap_keyword_parse(cards[i], &k));
        CHECK_OK(shmap_keyword_set(seg, &k));
    }
    CHECK_OK(shmap_close(seg));
    /* Damaged slots among good ones: a name without its NUL, an unknown type. */
    RUN(0, "create", dmg, "u8", "8", "--keyword", "K1=1", "--keyword", "K2=2", "--keyword",
        "K3=3 / three");
    struct shmap__kwslot slot;
    memset(&slot, 'Q', sizeof slot);
    write_slot(dmg, 0, &slot);
    memset(&slot, 0, sizeof slot);
    snprintf(slot.name, sizeof slot.name, "K2");
    slot.type = 9;
    slot.order = 1;
    write_slot(dmg, 1, &slot);

    RUN(0, "ls", "--json");
    char *ls = out;
    out = NULL;
    check_same_as_info(ls, a, kw, sizeof kw);
    CHECK_STR(kw, "{\"EXPTIME\": 1.5, \"OBJECT\": \"M 31\", \"FLAG\": false, \"N\": -7, "
                  "\"TEXT\": \"say \\\"hi\\\" \\\\ [x]\"}");
    check_same_as_info(ls, none, kw, sizeof kw);
    CHECK_STR(kw, "{}");
    check_same_as_info(ls, sysv, kw, sizeof kw);
    CHECK_STR(kw, "{\"GAIN\": 2.25, \"DET\": \"cam1\"}");
    check_same_as_info(ls, full, kw, sizeof kw);
    CHECK_STR(kw, "{\"X\": 1, \"Y\": 2.0, \"Z\": \"zed\"}");
    check_same_as_info(ls, dmg, kw, sizeof kw);
    CHECK_STR(kw, "{\"K3\": 3}");
    char line[1 << 14], comments[256];
    member_value(ls_line(ls, a, line, sizeof line), "keyword_comments", comments,
                 sizeof comments);
    CHECK_STR(comments, "{\"EXPTIME\": \"seconds\", \"OBJECT\": \"target {name}\"}");
    free(ls);
    RUN(0, "rm", a, none, sysv, full, dmg);
    util_clear(&out, &err);
}
