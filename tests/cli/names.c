/*
 * A name the library refuses is named once in the error line, as the user wrote it:
 * "shmap: NAME: message", also when the library's detail quotes it (or a long one cut short).
 * A malformed name is bad usage, so the command's usage line follows.
 */
#include "../util.h"

#define USAGE_INFO "usage: shmap info NAME [--json] [--dtype TYPE --shape D,D,... " \
                   "[--offset BYTES]] [--private]\n"

TEST(cli__a_refused_name_is_named_once)
{
    char *out = NULL, *err = NULL;
    RUN(2, "info", "/");
    CHECK_STR(err, "shmap: /: empty segment name\n" USAGE_INFO);
    RUN(2, "info", "//");
    CHECK_STR(err, "shmap: //: '/' is allowed only at the start of a name\n" USAGE_INFO);
    char longname[301];
    memset(longname, 'x', 300);
    longname[300] = '\0';
    RUN(2, "info", longname);
    char want[600];
    snprintf(want, sizeof want, "shmap: %s: name is 300 bytes, at most 255\n" USAGE_INFO,
             longname);
    CHECK_STR(err, want);
    util_clear(&out, &err);
}
