/*
 * shmap info when the keywords cannot be read: a keyword writer stopped in the middle of a
 * change (a debugger, SIGSTOP) leaves them unread after a second, not the rest of the
 * segment: the text says why, the JSON gives keywords and keyword_comments as null, as
 * `ls --json` does.
 */
#include <signal.h>
#include <unistd.h>

#include "../util.h"
#include "internal.h"

TEST(cli__info_of_a_segment_whose_keyword_writer_is_stuck_says_so_and_goes_on)
{
    const char *name = test_name("kwstuck");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "f32", "4", "--keyword", "GAIN=2");
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

    RUN(0, "info", name);
    char want[160];
    snprintf(want, sizeof want, "keywords:        not read: keywords are being changed by pid %d,"
             " which has not finished in 1000 ms\n", (int)sleeper);
    CHECK_CONTAINS(out, want);
    CHECK_CONTAINS(out, "dtype:           f32 (numpy <f4)\n");
    RUN(0, "info", name, "--json");
    CHECK_CONTAINS(out, "\"keywords\": null,\n");
    CHECK_CONTAINS(out, "\"keyword_comments\": null,\n");
    CHECK_CONTAINS(out, "\"dtype\": \"f32\",\n");

    util_kill9(sleeper);
    RUN(0, "rm", "--force", name);
    util_clear(&out, &err);
}
