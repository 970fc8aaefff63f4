/*
 * Record field lists and bools as the command reads them back: what create and import
 * accept, cat prints; a .npy bool holding any nonzero byte is imported as 1.
 */
#include "../util.h"

/* A python3 with numpy, or a skip. */
static void need_numpy(void)
{
    char *out = NULL, *err = NULL;
    int rc = test_sh(&out, &err, "/usr/bin/python3 -c 'import numpy' 2>&1");
    util_clear(&out, &err);
    if (rc != 0)
        TEST_SKIP("no python3 with numpy here (install python3-numpy)");
}

static const char name63[] = "n23456789012345678901234567890123456789012345678901234567890123";

TEST(record_limits__what_create_accepts_cat_reads_back)
{
    char *out = NULL, *err = NULL;
    const char *name = test_name("rec");
    char type[256];
    snprintf(type, sizeof type, "%s:=f4,y:|b1,z:i2[03]", name63);
    RUN(0, "create", name, type, "2");
    RUN(0, "set", name, "0", "y=1");
    RUN(0, "cat", name);
    char want[512];
    snprintf(want, sizeof want, "(%s=0, y=True, z=[0, 0, 0]) (%s=0, y=False, z=[0, 0, 0])\n",
             name63, name63);
    CHECK_STR(out, want);
    CHECK_OK(shmap_unlink(name));

    /* What it could not read back is refused when made, naming the field. */
    char bars[64] = "x:";
    memset(bars + 2, '|', 40);
    strcpy(bars + 42, "b");
    RUN(2, "create", name, bars, "2");
    CHECK_CONTAINS(err, "record: field 'x' has an unknown type '||||");
    snprintf(type, sizeof type, "%sx:f4", name63);
    RUN(2, "create", name, type, "2");
    CHECK_CONTAINS(err, "is 64 bytes, at most 63");
    CHECK(!util_shm_exists(name));
    util_clear(&out, &err);
}

TEST(record_limits__npy_field_names_past_63_bytes_are_refused_at_import)
{
    need_numpy();
    char *out = NULL, *err = NULL;
    CHECK_EQ_INT(test_sh(&out, &err, "cd '%s' && /usr/bin/python3 -c \"import numpy as np; "
                                     "np.save('l.npy', np.zeros(2, dtype=[('a'*64, '<f4'), "
                                     "('y', 'u1')]))\"", util_test_dir()), 0);
    const char *name = test_name("long");
    RUN(1, "import", util_test_path("l.npy"), name);
    CHECK_ERROR_LINE(err, "is not a shmap record field name (1 to 63 letters");
    CHECK(!util_shm_exists(name));
    unlink(util_test_path("l.npy"));
    util_clear(&out, &err);
}

TEST(record_limits__npy_bools_holding_any_nonzero_byte_import_as_1)
{
    need_numpy();
    char *out = NULL, *err = NULL;
    /* numpy saves the bytes as they are; a segment's bool is 0 or 1 (FORMAT.md). Big-endian
     * fields beside the bools are swapped still. */
    CHECK_EQ_INT(test_sh(&out, &err, "cd '%s' && /usr/bin/python3 -c \"import numpy as np; "
                                     "np.save('b.npy', np.frombuffer(bytes([0, 1, 7, 255]), "
                                     "'|b1')); r = np.zeros(2, [('x', '>i2'), ('f', '?', (2,))]);"
                                     " r['x'] = [1, 2]; v = r.view('u1'); v[2] = 7; v[7] = 200;"
                                     " np.save('r.npy', r)\"", util_test_dir()), 0);
    const char *name = test_name("bools");
    RUN(0, "import", util_test_path("b.npy"), name);
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDONLY));
    const unsigned char *p = shmap_data(seg);
    CHECK(p[0] == 0 && p[1] == 1 && p[2] == 1 && p[3] == 1);
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(name));

    RUN(0, "import", util_test_path("r.npy"), name);
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDONLY));
    p = shmap_data(seg);
    static const unsigned char want[] = {1, 0, 1, 0, 2, 0, 0, 1};
    CHECK(memcmp(p, want, sizeof want) == 0);
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(name));
    unlink(util_test_path("b.npy"));
    unlink(util_test_path("r.npy"));
    util_clear(&out, &err);
}
