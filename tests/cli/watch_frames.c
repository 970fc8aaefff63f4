/*
 * shmap watch, fill and set with streams of frames: what a ring refuses, how watch stops,
 * what its lines claim, when it notices a deleted object, and how often a writer wakes it.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>

#include "../util.h"

TEST(cli__fill_and_set_refuse_a_ring_and_write_nothing)
{
    const char *name = test_name("ringfill");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "f32", "4", "3", "--ring");
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDWR));
    float *frame;
    for (int k = 1; k <= 5; k++) { /* frames 0..4, each all k: frame 4 in slot 0 */
        CHECK_OK(shmap_write_begin(seg, (void **)&frame));
        for (int i = 0; i < 3; i++)
            frame[i] = (float)k;
        CHECK_OK(shmap_publish(seg));
    }
    float before[12];
    memcpy(before, shmap_data(seg), sizeof before);

    /* A fill would rewrite frames readers copy whole; a set would change frame 4, which
     * readers have had, and publish frame 5, whose slot still holds frame 1. */
    RUN(1, "fill", name, "9");
    CHECK_ERROR_LINE(err, "is a ring of frames: fill writes every frame at once");
    CHECK_CONTAINS(err, name);
    RUN(1, "fill", name, "ramp");
    CHECK_ERROR_LINE(err, "shmap_write_begin() and shmap_publish()");
    RUN(1, "set", name, "0", "1", "99");
    CHECK_ERROR_LINE(err, "is a ring of frames: set would change a frame");
    /* A dry run answers as the real command does. */
    RUN(1, "fill", name, "9", "--private");
    CHECK_ERROR_LINE(err, "is a ring of frames");
    RUN(1, "set", name, "0", "1", "99", "--private");
    CHECK_ERROR_LINE(err, "is a ring of frames");
    CHECK_EQ_INT(shmap_generation(seg), 5);
    CHECK(memcmp(before, shmap_data(seg), sizeof before) == 0);

    /* The object written as a raw array is the user's own business: written, not told. */
    RUN(0, "set", name, "11", "7", "--dtype", "f4", "--shape", "12", "--offset", "4096");
    CHECK_EQ_INT(((float *)shmap_data(seg))[11], 7);
    CHECK_EQ_INT(shmap_generation(seg), 5);

    /* A plain segment is filled and set as before. */
    const char *plain = test_name("plainfill");
    RUN(0, "create", plain, "f32", "4", "3");
    RUN(0, "fill", plain, "2");
    RUN(0, "set", plain, "0", "1", "3");
    RUN(0, "info", plain);
    CHECK_CONTAINS(out, "\ngeneration:      2\n");

    CHECK_OK(shmap_close(seg));
    RUN(0, "rm", name, plain);
    util_clear(&out, &err);
}
