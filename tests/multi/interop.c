/*
 * Programs that know nothing of shmap map our data at OFFSET=4096: GDL's SHMMAP (the
 * open-source IDL) and a plain mmap from Python. They must read and write the data, and
 * the segment must come out of it intact (GDL unlinks objects it finds too short).
 */
#include <sys/stat.h>

#include "../util.h"

/* A temporary directory for scripts, removed by rm_tmpdir. */
static void make_tmpdir(char *dir, size_t size)
{
    snprintf(dir, size, "/tmp/%sXXXXXX", test_prefix());
    CHECK(mkdtemp(dir) != NULL);
}

static void rm_tmpdir(const char *dir)
{
    char *out = NULL;
    test_sh(&out, NULL, "rm -rf '%s'", dir);
    free(out);
}

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

/* A kept f64 segment of 1000 elements holding 0, 1, ... 999. */
static void make_ramp(const char *name)
{
    const uint64_t dims[1] = {1000};
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_KEEP;
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_F64, 1, dims, &opts));
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

TEST(interop__gdl_shmmap_at_offset_4096_reads_and_writes_our_data)
{
    if (!on_path("gdl"))
        TEST_SKIP("gdl is not installed (install gnudatalanguage)");
    const char *name = test_name("gdl");
    char seg_name[SHMAP_NAME_MAX];
    snprintf(seg_name, sizeof seg_name, "%s", name);
    make_ramp(seg_name);
    long long size = util_shm_size(seg_name);
    char dir[256], path[320], script[8192];
    make_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/interop.pro", dir);
    snprintf(script, sizeof script,
             "SHMMAP, 'X', /DOUBLE, 1000, OS_HANDLE='/%s', OFFSET=4096\n"
             "v = SHMVAR('X')\n"
             "print, 'TOTAL', total(v), format='(A, F12.1)'\n"
             "v[5] = 42\n"
             "v = 0\n"
             "SHMUNMAP, 'X'\n"
             "exit\n",
             seg_name);
    write_file(path, script);
    char *out = NULL, *err = NULL;
    int rc = test_sh(&out, &err, "cd '%s' && env -u DISPLAY gdl -quiet interop.pro", dir);
    rm_tmpdir(dir);
    if ((out && strstr(out, "Procedure not found: SHMMAP")) ||
        (err && strstr(err, "Procedure not found: SHMMAP"))) {
        char *ver = NULL;
        test_sh(&ver, NULL, "gdl --version 2>&1 | tail -1");
        util_shm_remove(seg_name);
        TEST_SKIP("this gdl has no SHMMAP (%s); needs a GDL that has SHMMAP, such as 1.0.5",
                  ver ? strtok(ver, "\n") : "?");
    }
    if (rc != 0 || !out || !strstr(out, "TOTAL    499500.0"))
        test_fail(__FILE__, __LINE__, "gdl exited %d\nstdout: %s\nstderr: %s", rc, out ? out : "",
                  err ? err : "");
    free(out);
    free(err);
    check_intact_with_42(seg_name, size);
    CHECK_OK(shmap_unlink(seg_name));
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
