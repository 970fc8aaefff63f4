/*
 * A name the library refuses is named once in the error line, as the user wrote it:
 * "shmap: NAME: message", also when the library's detail quotes it (or a long one cut short).
 */
#include "../util.h"

TEST(cli__a_refused_name_is_named_once)
{
    char *out = NULL, *err = NULL;
    RUN(1, "info", "/");
    CHECK_STR(err, "shmap: /: empty segment name\n");
    RUN(1, "info", "//");
    CHECK_STR(err, "shmap: //: '/' is allowed only at the start of a name\n");
    char longname[301];
    memset(longname, 'x', 300);
    longname[300] = '\0';
    RUN(1, "info", longname);
    char want[400];
    snprintf(want, sizeof want, "shmap: %s: name is 300 bytes, at most 255\n", longname);
    CHECK_STR(err, want);
    util_clear(&out, &err);
}
