/*
 * A name the library refuses is named once in the error line, as the user wrote it:
 * "shmap: NAME: message", also when the library's detail quotes it (or a long one cut short).
 * A malformed name is bad usage, so the line ends with the pointer to the command's help.
 */
#include "../util.h"

#define USAGE_INFO " (see shmap help info)\n"

TEST(cli__a_refused_name_is_named_once)
{
    char *out = NULL, *err = NULL;
    RUN(2, "info", "/");
    CHECK_STR(err, "shmap: /: empty segment name" USAGE_INFO);
    RUN(2, "info", "//");
    CHECK_STR(err, "shmap: //: '/' is allowed only at the start of a name" USAGE_INFO);
    char longname[301];
    memset(longname, 'x', 300);
    longname[300] = '\0';
    RUN(2, "info", longname);
    char want[600];
    snprintf(want, sizeof want, "shmap: %s: name is 300 bytes, at most 255" USAGE_INFO,
             longname);
    CHECK_STR(err, want);
    util_clear(&out, &err);
}

TEST(cli__an_error_line_shows_bytes_that_are_not_text_escaped)
{
    /* A control character would split the line; a byte that is not UTF-8 would reach the
     * terminal as it is. Both are written \xNN; the name's UTF-8 stays as it is. */
    char *out = NULL, *err = NULL;
    char name[64];
    snprintf(name, sizeof name, "%s-\xff\xc3\xa9x", test_name("bytes"));
    RUN(1, "info", name);
    CHECK(strncmp(err, "shmap: ", 7) == 0);
    CHECK(strstr(err, "-\\xff\xc3\xa9x: no such segment\n") != NULL);
    RUN(2, "info", "bad\x01name");
    CHECK_STR(err, "shmap: bad\\x01name: control character 0x01 in name" USAGE_INFO);
    util_clear(&out, &err);
}

TEST(cli__a_memfd_label_too_long_is_named_once)
{
    char name[256], line[512];
    snprintf(name, sizeof name, "memfd:%0201d", 7);
    char *out = NULL, *err = NULL;
    RUN(2, "create", name, "f4", "4");
    snprintf(line, sizeof line, "shmap: %s: a memfd label is at most 200 bytes with no '/' "
                                "(see shmap help create)\n", name);
    CHECK_STR(err, line);
    util_clear(&out, &err);
}
