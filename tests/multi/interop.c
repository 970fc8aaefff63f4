/*
 * Programs that know nothing of shmap map our data at OFFSET=4096: GDL's SHMMAP (the
 * open-source IDL) and a plain mmap from Python. They must read and write the data, and
 * the segment must come out of it intact (GDL unlinks objects it finds too short).
 */
#include <sys/stat.h>

#include "../util.h"

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    CHECK(fputs(text, f) >= 0);
    CHECK(fclose(f) == 0);
}

static int on_path(const char *prog)
{
    return test_sh(NULL, NULL, "command -v %s >/dev/null 2>&1", prog) == 0;
}

/* A segment kept when closed (test_fail does not return). */
static shmap_seg *create_kept(const char *name, shmap_dtype dtype, unsigned ndim,
                              const uint64_t *dims)
{
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_KEEP;
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, dtype, ndim, dims, &opts));
    return seg;
}

/* A kept f64 segment of 1000 elements holding 0, 1, ... 999. */
static void make_ramp(const char *name)
{
    const uint64_t dims[1] = {1000};
    shmap_seg *seg = create_kept(name, SHMAP_F64, 1, dims);
    double *v = shmap_data(seg);
    for (int i = 0; i < 1000; i++)
        v[i] = i;
    CHECK_OK(shmap_close(seg));
}

/* The segment is still there, whole, valid, with v[5] == 42 and the rest of the ramp. */
static void check_intact_with_42(const char *name, long long size_before)
{
    CHECK(util_shm_exists(name));
    CHECK_EQ_INT(util_shm_size(name), size_before);
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDONLY));
    shmap_info info;
    CHECK_OK(shmap_info_get(seg, &info));
    CHECK_EQ_INT(info.dtype, SHMAP_F64);
    CHECK_EQ_INT(info.dims[0], 1000);
    const double *v = shmap_data(seg);
    for (int i = 0; i < 1000; i++)
        CHECK(v[i] == (i == 5 ? 42.0 : (double)i));
    CHECK_OK(shmap_close(seg));
}

/*
 * GDL: the command in SHMAP_GDL (.ci/run sets "tests/gdl-in-root DIR", a GDL with SHMMAP
 * from Debian 13, made by .ci/gdl-root), else gdl on the path.
 */
TEST(interop__gdl_shmmap_at_offset_4096_reads_and_writes_our_data)
{
    const char *gdl = getenv("SHMAP_GDL");
    if (!gdl || !*gdl) {
        if (!on_path("gdl"))
            TEST_SKIP("gdl is not installed (install gnudatalanguage, or set SHMAP_GDL)");
        gdl = "gdl";
    }
    const char *name = test_name("gdl");
    char seg_name[SHMAP_NAME_MAX];
    snprintf(seg_name, sizeof seg_name, "%s", name);
    make_ramp(seg_name);
    long long size = util_shm_size(seg_name);
    /* A 3x4 image holding 10 * row + column: IDL indexes it [column, row], dims 4, 3. */
    char img_name[SHMAP_NAME_MAX];
    snprintf(img_name, sizeof img_name, "%s", test_name("gdlimg"));
    const uint64_t img_dims[2] = {3, 4};
    shmap_seg *img = create_kept(img_name, SHMAP_F32, 2, img_dims);
    float *px = shmap_data(img);
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++)
            px[r * 4 + c] = (float)(10 * r + c);
    /* The script's directory: its guard removes it however the test ends. */
    const char *dir = util_test_dir();
    char path[320], script[2 * SHMAP_NAME_MAX + 1024];
    snprintf(path, sizeof path, "%s/interop.pro", dir);
    snprintf(script, sizeof script,
             "SHMMAP, 'X', /DOUBLE, 1000, OS_HANDLE='/%s', OFFSET=4096\n"
             "v = SHMVAR('X')\n"
             "print, 'TOTAL', total(v), format='(A, F12.1)'\n"
             "v[5] = 42\n"
             "v = 0\n"
             "SHMUNMAP, 'X'\n"
             "SHMMAP, 'Y', /FLOAT, 4, 3, OS_HANDLE='/%s', OFFSET=4096\n"
             "y = SHMVAR('Y')\n"
             "print, 'Y12', y[1, 2], format='(A, F6.1)'\n"
             "y[3, 0] = -1\n"
             "y = 0\n"
             "SHMUNMAP, 'Y'\n"
             "exit\n",
             seg_name, img_name);
    write_file(path, script);
    char *out = NULL, *err = NULL;
    int rc = test_sh(&out, &err, "cd '%s' && env -u DISPLAY %s -quiet interop.pro", dir, gdl);
    if ((out && strstr(out, "Procedure not found: SHMMAP")) ||
        (err && strstr(err, "Procedure not found: SHMMAP"))) {
        char *ver = NULL;
        test_sh(&ver, NULL, "%s --version 2>&1 | tail -1", gdl);
        util_shm_remove(seg_name);
        shmap_close(img);
        util_shm_remove(img_name);
        TEST_SKIP("this gdl has no SHMMAP (%s); SHMMAP came in GDL 1.0.5: set SHMAP_GDL "
                  "to one (.ci/gdl-root makes one from Debian 13)",
                  ver ? strtok(ver, "\n") : "?");
    }
    if (rc != 0 || !out || !strstr(out, "TOTAL    499500.0") || !strstr(out, "Y12  21.0"))
        test_fail(__FILE__, __LINE__, "gdl exited %d\nstdout: %s\nstderr: %s", rc, out ? out : "",
                  err ? err : "");
    free(out);
    free(err);
    check_intact_with_42(seg_name, size);
    CHECK_OK(shmap_unlink(seg_name));
    /* GDL's write landed on row 0, column 3, and nothing else moved. */
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++)
            CHECK(px[r * 4 + c] == (r == 0 && c == 3 ? -1.0f : (float)(10 * r + c)));
    CHECK_OK(shmap_close(img));
    CHECK_OK(shmap_unlink(img_name));
}

TEST(interop__a_plain_mmap_at_offset_4096_from_python_reads_and_writes_our_data)
{
    if (!on_path("python3"))
        TEST_SKIP("python3 is not installed");
    const char *name = test_name("py");
    char seg_name[SHMAP_NAME_MAX];
    snprintf(seg_name, sizeof seg_name, "%s", name);
    make_ramp(seg_name);
    long long size = util_shm_size(seg_name);
    char *out = NULL, *err = NULL;
    int rc = test_sh(&out, &err,
                     "python3 -c '\n"
                     "import mmap, os, struct\n"
                     "fd = os.open(\"/dev/shm/%s\", os.O_RDWR)\n"
                     "m = mmap.mmap(fd, 8000, mmap.MAP_SHARED, offset=4096)\n"
                     "v = struct.unpack(\"<1000d\", m[:8000])\n"
                     "print(\"TOTAL\", sum(v))\n"
                     "m[40:48] = struct.pack(\"<d\", 42.0)\n"
                     "m.close(); os.close(fd)\n"
                     "'",
                     seg_name);
    if (rc != 0 || !out || !strstr(out, "TOTAL 499500.0"))
        test_fail(__FILE__, __LINE__, "python3 exited %d\nstdout: %s\nstderr: %s", rc,
                  out ? out : "", err ? err : "");
    free(out);
    free(err);
    check_intact_with_42(seg_name, size);
    CHECK_OK(shmap_unlink(seg_name));
}
