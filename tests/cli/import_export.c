/*
 * shmap import and shmap export: .npy files both ways for every type (and with numpy itself
 * when /usr/bin/python3 or python3 has it), raw bytes, FITS images when the command is built
 * with CFITSIO (read back here by hand from the FITS standard, and made here by hand for
 * import), and the failures: a missing or unknown file, a truncated one (no segment left),
 * an existing NAME (unchanged) or FILE (untouched), a type FITS cannot hold, bad usage.
 *
 * Files live in this test's directory, which a guard process removes however the test
 * ends; segments carry this test's prefix, which the runner removes if a test fails.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <libgen.h>
#include <limits.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>

#include "../util.h"


static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* What `shmap cat NAME` prints. */
static char *cat_of(const char *name)
{
    char *out = NULL, *err = NULL;
    RUN(0, "cat", name);
    free(err);
    return out;
}

/* The value of `field:` in `shmap info NAME`, such as "f32" for "dtype". */
static void info_field(const char *name, const char *field, char *buf, size_t size)
{
    char *out = NULL, *err = NULL;
    RUN(0, "info", name);
    char pat[64];
    snprintf(pat, sizeof pat, "\n%s:", field);
    const char *p = strstr(out, pat);
    if (!p)
        test_fail(__FILE__, __LINE__, "no %s in info: %s", field, out);
    p += strlen(pat);
    p += strspn(p, " ");
    snprintf(buf, size, "%.*s", (int)strcspn(p, field[0] == 'k' ? "\n" : " \n"), p);
    util_clear(&out, &err);
}

/* `shmap info` lists keyword `key` as "  KEY  = value": the names are padded alike. */
static void check_keyword(const char *info, const char *key, const char *value, int line)
{
    char pat[128];
    snprintf(pat, sizeof pat, "\n  %s ", key);
    const char *p = strstr(info, pat);
    if (p) {
        p += strlen(pat);
        p += strspn(p, " ");
    }
    size_t n = strlen(value);
    if (!p || strncmp(p, "= ", 2) != 0 || strncmp(p + 2, value, n) != 0 || p[2 + n] != '\n')
        test_fail(__FILE__, line, "no keyword %s = %s in:\n%s", key, value, info);
}
#define CHECK_KEYWORD(info, key, value) check_keyword((info), (key), (value), __LINE__)

static void need_fits(void)
{
    if (!util_fits_built())
        TEST_SKIP("shmap is built without CFITSIO (install libcfitsio-dev)");
}

/* A python3 with numpy, or a skip. */
static const char *need_numpy(void)
{
    static const char *const pythons[] = {"/usr/bin/python3", "python3"};
    for (size_t i = 0; i < 2; i++) {
        char *out = NULL, *err = NULL;
        int rc = test_sh(&out, &err, "%s -c 'import numpy' 2>&1", pythons[i]);
        util_clear(&out, &err);
        if (rc == 0)
            return pythons[i];
    }
    TEST_SKIP("no python3 with numpy here (install python3-numpy)");
}

/* Run a Python script (with numpy) in this test's directory; it must exit 0. */
static void run_python(const char *script)
{
    const char *py = need_numpy();
    const char *path = util_test_path("script.py");
    util_write_file(path, script, strlen(script));
    char *out = NULL, *err = NULL;
    int rc = test_sh(&out, &err, "cd '%s' && %s script.py", util_test_dir(), py);
    if (rc != 0)
        test_fail(__FILE__, __LINE__, "python exited %d:\n%s%s", rc, out ? out : "",
                  err ? err : "");
    util_clear(&out, &err);
}

/* ---------------------------------------------------------------------------------------- */
/* .npy */

/* A version 1.0 .npy file of @p header, unpadded, then @p dlen zero bytes of data. */
static void write_npy1(const char *path, const char *header, size_t dlen)
{
    unsigned char file[512];
    size_t hlen = strlen(header);
    CHECK(10 + hlen + dlen <= sizeof file);
    memcpy(file, "\x93NUMPY\x01\x00", 8);
    file[8] = (unsigned char)hlen;
    file[9] = 0;
    memcpy(file + 10, header, hlen);
    memset(file + 10 + hlen, 0, dlen);
    util_write_file(path, file, 10 + hlen + dlen);
}

static const char *const npy_types[] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "u64", "i64", "f16", "f32", "f64",
    "c64", "c128", "bool", "record:x:f4,pos:f8[3],flag:u1",
};

TEST(io__npy_round_trip_keeps_type_shape_and_values_for_every_type)
{
    char *out = NULL, *err = NULL;
    for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++) {
        char a[64], b[64], file[32], ta[128], tb[128];
        snprintf(a, sizeof a, "%s", test_name("a"));
        snprintf(b, sizeof b, "%s", test_name("b"));
        snprintf(file, sizeof file, "t%zu.npy", i);
        const char *path = util_test_path(file);
        RUN(0, "create", a, npy_types[i], "2", "3", "4");
        RUN(0, "fill", a, "ramp");
        RUN(0, "export", a, path);
        CHECK_STR(out, "");
        CHECK_STR(err, "");
        size_t len;
        unsigned char *bytes = util_read_file(path, &len);
        CHECK(memcmp(bytes, "\x93NUMPY\x01\x00", 8) == 0);
        size_t hlen = bytes[8] | (size_t)bytes[9] << 8;
        CHECK_EQ_INT((10 + hlen) % 64, 0);
        CHECK(bytes[10 + hlen - 1] == '\n');
        CHECK_CONTAINS((char *)bytes + 10, "'fortran_order': False, 'shape': (2, 3, 4), }");
        free(bytes);
        RUN(0, "import", path, b);
        info_field(a, "dtype", ta, sizeof ta);
        info_field(b, "dtype", tb, sizeof tb);
        CHECK_STR(tb, ta);
        info_field(b, "shape", tb, sizeof tb);
        CHECK_STR(tb, "2x3x4");
        char *ca = cat_of(a), *cb = cat_of(b);
        CHECK_STR(cb, ca);
        free(ca);
        free(cb);
        CHECK_OK(shmap_unlink(a));
        CHECK_OK(shmap_unlink(b));
    }
    util_clear(&out, &err);
}

TEST(io__numpy_files_import_with_their_values)
{
    run_python("import numpy as np\n"
               "np.save('le.npy', np.arange(6, dtype='<f4').reshape(2, 3) - 2.5)\n"
               "np.save('be.npy', np.arange(6, dtype='>i4').reshape(2, 3) - 3)\n"
               "np.save('bec.npy', np.array([1+2j, -3.5-4j], dtype='>c16'))\n"
               "np.save('beu.npy', np.array([1, 65535, 258], dtype='>u2'))\n"
               "np.save('f.npy', np.asfortranarray(np.arange(24, dtype='>i8').reshape(2, 3, "
               "4)))\n"
               "np.save('h.npy', np.array([0.5, -2, 1024], dtype='<f2'))\n"
               "np.save('b.npy', np.array([[True, False], [False, True]]))\n"
               "np.save('rec.npy', np.array([(1.5, [1, 2, 3], 7), (-2.5, [4, 5, 6], 8)],\n"
               "        dtype=[('x', '>f4'), ('pos', '>f8', (3,)), ('flag', 'u1')]))\n"
               "np.save('s.npy', np.int16(-7))\n"
               "with open('v2.npy', 'wb') as f:\n"
               "    np.lib.format.write_array(f, np.arange(4, dtype='<u8'), version=(2, 0))\n"
               "with open('v3.npy', 'wb') as f:\n"
               "    np.lib.format.write_array(f, np.arange(3, dtype='<i2'), version=(3, 0))\n");
    static const char *const cases[][4] = {
        {"le.npy", "f32", "2x3", "-2.5 -1.5 -0.5\n0.5 1.5 2.5\n"},
        {"be.npy", "i32", "2x3", "-3 -2 -1\n0 1 2\n"},
        {"bec.npy", "c128", "2", "1+2j -3.5-4j\n"},
        {"beu.npy", "u16", "3", "1 65535 258\n"},
        {"f.npy", "i64", "2x3x4", "0 1 2 3\n4 5 6 7\n8 9 10 11\n\n12 13 14 15\n16 17 18 19\n"
                                  "20 21 22 23\n"},
        {"h.npy", "f16", "3", "0.5 -2 1024\n"},
        {"b.npy", "bool", "2x2", "True False\nFalse True\n"},
        {"rec.npy", "record", "2", "(x=1.5, pos=[1, 2, 3], flag=7) (x=-2.5, pos=[4, 5, 6], "
                                   "flag=8)\n"},
        {"s.npy", "i16", "1", "-7\n"},
        {"v2.npy", "u64", "4", "0 1 2 3\n"},
        {"v3.npy", "i16", "3", "0 1 2\n"},
    };
    char *out = NULL, *err = NULL;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *name = test_name("np");
        RUN(0, "import", util_test_path(cases[i][0]), name);
        char buf[128];
        info_field(name, "dtype", buf, sizeof buf);
        CHECK_STR(buf, cases[i][1]);
        info_field(name, "shape", buf, sizeof buf);
        CHECK_STR(buf, cases[i][2]);
        char *c = cat_of(name);
        CHECK_STR(c, cases[i][3]);
        free(c);
        CHECK_OK(shmap_unlink(name));
    }
    util_clear(&out, &err);
}

TEST(io__exported_npy_files_load_in_numpy_with_the_same_values)
{
    need_numpy();
    char *out = NULL, *err = NULL;
    const char *a = test_name("f"), *b = test_name("r"), *c = test_name("c");
    RUN(0, "create", a, "f64", "3", "4");
    RUN(0, "fill", a, "ramp");
    RUN(0, "set", a, "2", "3", "-0.25");
    RUN(0, "export", a, util_test_path("f.npy"));
    RUN(0, "create", b, "record:x:f4,pos:f8[3],flag:u1,ok:bool", "2");
    RUN(0, "set", b, "1", "(x=1.5, pos=[1, 2, 3], flag=9, ok=true)");
    RUN(0, "export", b, util_test_path("r.npy"));
    RUN(0, "create", c, "c64", "2");
    RUN(0, "set", c, "0", "1-2j");
    RUN(0, "export", c, util_test_path("c.npy"));
    run_python("import numpy as np\n"
               "a = np.load('f.npy')\n"
               "assert a.dtype == np.float64 and a.shape == (3, 4), (a.dtype, a.shape)\n"
               "want = np.arange(12.0).reshape(3, 4); want[2, 3] = -0.25\n"
               "assert (a == want).all(), a\n"
               "r = np.load('r.npy')\n"
               "assert r.shape == (2,) and r.dtype.names == ('x', 'pos', 'flag', 'ok'), r.dtype\n"
               "assert r.dtype['pos'].shape == (3,) and r.dtype['ok'] == np.bool_\n"
               "assert r[1]['x'] == 1.5 and list(r[1]['pos']) == [1, 2, 3]\n"
               "assert r[1]['flag'] == 9 and r[1]['ok'] and r[0]['x'] == 0\n"
               "c = np.load('c.npy')\n"
               "assert c.dtype == np.complex64 and list(c) == [1-2j, 0], c\n");
    CHECK_OK(shmap_unlink(a));
    CHECK_OK(shmap_unlink(b));
    CHECK_OK(shmap_unlink(c));
    util_clear(&out, &err);
}

TEST(io__a_header_numpy_would_refuse_or_a_type_shmap_lacks_is_a_clear_failure)
{
    char *out = NULL, *err = NULL;
    static const char *const headers[][2] = {
        {"{'descr': '<U4', 'fortran_order': False, 'shape': (2,), }", "'<U4' (a string"},
        {"{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", "Python objects"},
        {"{'descr': '<f4', 'shape': (2,), }", "must have the keys"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }", "empty"},
        {"{'descr': [('a', [('b', '<f4')])], 'fortran_order': False, 'shape': (1,), }",
         "nested record"},
        {"{'descr': [('a', '<f4'), ('b', '>f4')], 'fortran_order': False, 'shape': (1,), }",
         "both byte orders"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), ", "ends inside"},
        {"__import__('os').system('false')", "not a Python literal"},
    };
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        unsigned char file[256];
        size_t hlen = strlen(headers[i][0]);
        memcpy(file, "\x93NUMPY\x01\x00", 8);
        file[8] = (unsigned char)hlen;
        file[9] = 0;
        memcpy(file + 10, headers[i][0], hlen);
        memset(file + 10 + hlen, 0, 16); /* some data */
        const char *path = util_test_path("bad.npy");
        util_write_file(path, file, 10 + hlen + 16);
        const char *name = test_name("bad");
        RUN(1, "import", path, name);
        CHECK_ERROR_LINE(err, headers[i][1]);
        CHECK_CONTAINS(err, "bad.npy");
        CHECK(!util_shm_exists(name));
    }
    util_clear(&out, &err);
}

/* ---------------------------------------------------------------------------------------- */
/* Raw */

/* A file made by export has the segment's read and write bits less the umask, as cp(1)
 * gives a copy: a 0600 segment is not copied into a file every user may read. */
TEST(io__an_exported_file_has_the_segments_permissions)
{
    char *out = NULL, *err = NULL;
    const char *name = test_name("mode");
    RUN(0, "create", name, "u8", "4", "--mode", "0600");
    const char *fmts[] = {"npy", "raw", "FITS"};
    for (int i = 0; i < 3; i++) {
        if (i == 2 && !util_fits_built())
            break;
        char path[600];
        snprintf(path, sizeof path, "%s", util_test_path(fmts[i]));
        CHECK_EQ_INT(test_sh(&out, &err, "umask 022; '%s' export %s '%s' --format %s",
                             test_shmap_bin(), name, path, fmts[i]), 0);
        struct stat st;
        CHECK(stat(path, &st) == 0);
        CHECK_EQ_INT(st.st_mode & 07777, 0600);
    }
    RUN(0, "chmod", "0664", name);
    char path[600];
    snprintf(path, sizeof path, "%s", util_test_path("wide.npy"));
    CHECK_EQ_INT(test_sh(&out, &err, "umask 022; '%s' export %s '%s'", test_shmap_bin(), name,
                         path), 0);
    struct stat st;
    CHECK(stat(path, &st) == 0);
    CHECK_EQ_INT(st.st_mode & 07777, 0644);
    RUN(0, "rm", name);
    util_clear(&out, &err);
}

TEST(io__raw_export_writes_the_data_bytes_in_c_order)
{
    char *out = NULL, *err = NULL;
    const char *name = test_name("raw");
    RUN(0, "create", name, "u16", "2", "3");
    RUN(0, "fill", name, "ramp");
    RUN(0, "export", name, util_test_path("a.raw"));
    RUN(0, "export", name, util_test_path("b.npy"), "--format", "raw");
    RUN(0, "export", name, util_test_path("noext"));
    const uint16_t want[6] = {0, 1, 2, 3, 4, 5};
    const char *files[] = {"a.raw", "b.npy", "noext"};
    for (int i = 0; i < 3; i++) {
        size_t len;
        unsigned char *bytes = util_read_file(util_test_path(files[i]), &len);
        CHECK_EQ_INT(len, sizeof want);
        CHECK(memcmp(bytes, want, sizeof want) == 0);
        free(bytes);
    }
    /* --format npy on any name; the extension in any case. */
    RUN(0, "export", name, util_test_path("c.dat"), "--format", "npy");
    RUN(0, "export", name, util_test_path("d.NPY"));
    const char *npys[] = {"c.dat", "d.NPY"};
    for (int i = 0; i < 2; i++) {
        size_t len;
        unsigned char *bytes = util_read_file(util_test_path(npys[i]), &len);
        CHECK(len == 128 + sizeof want && memcmp(bytes, "\x93NUMPY", 6) == 0);
        CHECK(memcmp(bytes + 128, want, sizeof want) == 0);
        free(bytes);
    }
    CHECK_OK(shmap_unlink(name));
    util_clear(&out, &err);
}

TEST(io__raw_files_import_and_export_with_dtype_and_shape)
{
    char *out = NULL, *err = NULL;
    /* A 4-byte header, then 2x3 int16. */
    unsigned char file[4 + 12] = "HDR:";
    const int16_t v[6] = {-3, -2, -1, 0, 1, 2};
    memcpy(file + 4, v, sizeof v);
    const char *path = util_test_path("cam.raw");
    util_write_file(path, file, sizeof file);
    const char *name = test_name("cam");
    RUN(0, "import", path, name, "--dtype", "i2", "--shape", "2,3", "--offset", "4");
    char *c = cat_of(name);
    CHECK_STR(c, "-3 -2 -1\n0 1 2\n");
    free(c);
    /* Export reads a plain file as a raw array too, like cat. */
    char farg[300];
    snprintf(farg, sizeof farg, "file:%s", path);
    RUN(0, "export", farg, util_test_path("cam.npy"), "--dtype", "i2", "--shape", "3x2", "--offset",
        "4");
    const char *b = test_name("back");
    RUN(0, "import", util_test_path("cam.npy"), b);
    c = cat_of(b);
    CHECK_STR(c, "-3 -2\n-1 0\n1 2\n");
    free(c);
    /* The file must end where the array does: no segment otherwise. */
    const char *bad = test_name("bad");
    RUN(1, "import", path, bad, "--dtype", "i2", "--shape", "2,2", "--offset", "4");
    CHECK_ERROR_LINE(err, "cam.raw: is 16 bytes");
    RUN(1, "import", path, bad, "--dtype", "i2", "--shape", "2,4", "--offset", "4");
    CHECK_ERROR_LINE(err, "must end where the array does");
    CHECK(!util_shm_exists(bad));
    CHECK_OK(shmap_unlink(name));
    CHECK_OK(shmap_unlink(b));
    util_clear(&out, &err);
}

/* A number's bytes in the other byte order than this machine's. */
static void put_other(unsigned char *dst, const void *native, size_t size)
{
    const unsigned char *n = native;
    for (size_t i = 0; i < size; i++)
        dst[i] = n[size - 1 - i];
}

/* The file's bytes, which must be @p want. */
static void check_bytes(const char *path, const unsigned char *want, size_t n, int line)
{
    size_t len = 0;
    unsigned char *got = util_read_file(path, &len);
    if (!got || len != n || memcmp(got, want, n) != 0)
        test_fail(__FILE__, line, "%s does not hold the bytes expected", path);
    free(got);
}

/*
 * A raw array in the other byte order (numpy's '>f4' on a little-endian machine): cat,
 * info, set, fill, export (.npy says the order, FITS gets the values) and import (the
 * segment holds them in this machine's order) read and write the numbers, not their bytes
 * reversed. Records and created segments stay in this machine's order: refused.
 */
TEST(io__raw_arrays_in_the_other_byte_order)
{
    char *out = NULL, *err = NULL;
    const uint16_t one = 1;
    const char o = *(const unsigned char *)&one ? '>' : '<', self = o == '>' ? '<' : '>';
    char f4[8], u2[8], i4[8], c8[8], mine[8], rec[32], farg[300];
    snprintf(f4, sizeof f4, "%cf4", o);
    snprintf(u2, sizeof u2, "%cu2", o);
    snprintf(i4, sizeof i4, "%ci4", o);
    snprintf(c8, sizeof c8, "%cc8", o);
    snprintf(mine, sizeof mine, "%cf4", self);
    snprintf(rec, sizeof rec, "x:%cf4", o);
    const float v[3] = {1, 2, -3};
    unsigned char file[12];
    for (int i = 0; i < 3; i++)
        put_other(file + 4 * i, &v[i], 4);
    const char *path = util_test_path("be.raw");
    util_write_file(path, file, sizeof file);
    snprintf(farg, sizeof farg, "file:%s", path);

    RUN(0, "cat", farg, "--dtype", f4, "--shape", "3");
    CHECK_STR(out, "1 2 -3\n");
    RUN(0, "cat", farg, "--dtype", f4, "--shape", "1", "--offset", "8");
    CHECK_STR(out, "-3\n");
    RUN(0, "watch", farg, "--dtype", f4, "--shape", "3", "--count", "1", "--interval", "0.01");
    CHECK_CONTAINS(out, "min -3  max 2  mean 0");
    RUN(0, "cat", farg, "--dtype", mine, "--shape", "3"); /* this machine's order, said */
    CHECK(strcmp(out, "1 2 -3\n") != 0);
    RUN(0, "info", farg, "--dtype", f4, "--shape", "3");
    char want[64];
    snprintf(want, sizeof want, "dtype:           f32 (numpy %s)\n", f4);
    CHECK_CONTAINS(out, want);
    RUN(0, "info", farg, "--dtype", f4, "--shape", "3", "--json");
    snprintf(want, sizeof want, "\"numpy\": \"%s\"", f4);
    CHECK_CONTAINS(out, want);
    /* numpy's codes keep their meaning: '>i8' is an i64, not shmap's i8. */
    char i8[8];
    snprintf(i8, sizeof i8, "%ci8", o);
    RUN(0, "info", farg, "--dtype", i8, "--shape", "1");
    snprintf(want, sizeof want, "dtype:           i64 (numpy %s)\n", i8);
    CHECK_CONTAINS(out, want);

    /* Written as numbers: set, fill with a value, fill with a ramp. */
    RUN(0, "set", farg, "1", "-2.5", "--dtype", f4, "--shape", "3");
    const float m25 = -2.5f;
    put_other(file + 4, &m25, 4);
    check_bytes(path, file, sizeof file, __LINE__);
    RUN(0, "fill", farg, "7", "--dtype", i4, "--shape", "3");
    const int32_t seven = 7;
    for (int i = 0; i < 3; i++)
        put_other(file + 4 * i, &seven, 4);
    check_bytes(path, file, sizeof file, __LINE__);
    RUN(0, "fill", farg, "ramp", "--dtype", u2, "--shape", "6");
    for (uint16_t i = 0; i < 6; i++)
        put_other(file + 2 * i, &i, 2);
    check_bytes(path, file, sizeof file, __LINE__);
    RUN(0, "cat", farg, "--dtype", u2, "--shape", "2,3");
    CHECK_STR(out, "0 1 2\n3 4 5\n");
    /* A complex number part by part. */
    RUN(0, "fill", farg, "3-4j", "--dtype", c8, "--shape", "1", "--offset", "4");
    const float re = 3, im = -4;
    put_other(file + 4, &re, 4);
    put_other(file + 8, &im, 4);
    check_bytes(path, file, sizeof file, __LINE__);
    RUN(0, "cat", farg, "--dtype", c8, "--shape", "1", "--offset", "4");
    CHECK_STR(out, "3-4j\n");

    /* Exported as every array is, in this machine's order: .npy (its header says so),
     * raw bytes and FITS. */
    for (int i = 0; i < 3; i++)
        put_other(file + 4 * i, &v[i], 4);
    util_write_file(path, file, sizeof file);
    RUN(0, "cat", farg, "--dtype", f4, "--shape", "3", "--slice", "::-2");
    CHECK_STR(out, "-3 1\n");
    const char *npy = util_test_path("be.npy"), *bin = util_test_path("be.bin");
    RUN(0, "export", farg, npy, "--dtype", f4, "--shape", "3");
    size_t len = 0;
    unsigned char *bytes = util_read_file(npy, &len);
    snprintf(want, sizeof want, "'descr': '%s'", mine);
    CHECK(bytes && len == 128 + sizeof v && memmem(bytes, 128, want, strlen(want)));
    CHECK(memcmp(bytes + 128, v, sizeof v) == 0);
    free(bytes);
    RUN(0, "export", farg, bin, "--format", "raw", "--dtype", f4, "--shape", "3");
    check_bytes(bin, (const unsigned char *)v, sizeof v, __LINE__);
    const char *back = test_name("back");
    RUN(0, "import", npy, back);
    char *c = cat_of(back);
    CHECK_STR(c, "1 2 -3\n");
    free(c);
    CHECK_OK(shmap_unlink(back));
    if (util_fits_built()) {
        const char *fits = util_test_path("be.fits");
        RUN(0, "export", farg, fits, "--dtype", f4, "--shape", "3");
        RUN(0, "import", fits, back);
        c = cat_of(back);
        CHECK_STR(c, "1 2 -3\n");
        free(c);
        CHECK_OK(shmap_unlink(back));
    }

    /* Imported raw: the segment holds the numbers in this machine's order. */
    const char *seg = test_name("imp");
    RUN(0, "import", path, seg, "--dtype", f4, "--shape", "3");
    c = cat_of(seg);
    CHECK_STR(c, "1 2 -3\n");
    free(c);
    RUN(0, "info", seg);
    snprintf(want, sizeof want, "dtype:           f32 (numpy %s)\n", mine);
    CHECK_CONTAINS(out, want);
    /* And into an existing segment of that type. */
    RUN(0, "fill", seg, "0");
    RUN(0, "import", path, seg, "--existing", "--dtype", f4, "--shape", "3");
    c = cat_of(seg);
    CHECK_STR(c, "1 2 -3\n");
    free(c);
    CHECK_OK(shmap_unlink(seg));

    /* Records and segments made here keep this machine's order. */
    RUN(2, "cat", farg, "--dtype", rec, "--shape", "3");
    CHECK_ERROR_LINE(err, "byte order differs");
    RUN(2, "create", test_name("no"), f4, "3");
    CHECK_ERROR_LINE(err, "byte order differs");
    CHECK_ERROR_LINE(err, "only a raw array of numbers");
    /* Any spelling the library reads: upper case, network order, long ones. */
    char upper[8], longer[80];
    snprintf(upper, sizeof upper, "%cF4", o);
    snprintf(longer, sizeof longer, "%cf%s4", o, "000000000000000000000000000000000000000000000000000000000000000000");
    RUN(0, "cat", farg, "--dtype", upper, "--shape", "3");
    CHECK_STR(out, "1 2 -3\n");
    RUN(0, "cat", farg, "--dtype", longer, "--shape", "3");
    CHECK_STR(out, "1 2 -3\n");
    if (o == '>') {
        RUN(0, "cat", farg, "--dtype", "!f4", "--shape", "3");
        CHECK_STR(out, "1 2 -3\n");
    }
    CHECK(!util_shm_exists(test_name("no")));
    util_clear(&out, &err);
}

/* The helper `make check` builds beside the command with CFITSIO, or a skip. */
static const char *cfitsio_helper(void)
{
    need_fits();
    static char path[PATH_MAX];
    char bin[PATH_MAX];
    snprintf(bin, sizeof bin, "%s", getenv("SHMAP_BIN") ? getenv("SHMAP_BIN") : "");
    snprintf(path, sizeof path, "%s/shmap-cfitsio-helper", dirname(bin));
    if (access(path, X_OK) != 0)
        TEST_SKIP("%s is not built (make check builds it with CFITSIO)", path);
    return path;
}

/* CFITSIO's System V keys for this test: its base and the blocks of SHMEM_LIB_MAXSEG 4. */
#define CFITSIO_KEYS 9

static void cfitsio_shmem_case(const char *helper, const char *env, key_t base)
{
    char *out = NULL, *err = NULL;
    CHECK(test_sh(&out, &err, "%s '%s' write shmem://h0", env, helper) == 0);
    /* Its block: the segment of the image, under one of CFITSIO's keys. */
    key_t key = -1;
    int id = -1;
    for (key_t k = base + 1; k < base + CFITSIO_KEYS && key < 0; k++) {
        struct shmid_ds ds;
        int i = shmget(k, 0, 0);
        if (i >= 0 && shmctl(i, IPC_STAT, &ds) == 0 && ds.shm_segsz >= 2 * 2880)
            key = k, id = i;
    }
    CHECK(key >= 0);
    /* Where the FITS file starts in it (after CFITSIO's block header), and its data after
     * the one header block it needs. */
    const char *seg = shmat(id, NULL, SHM_RDONLY);
    CHECK(seg != (void *)-1);
    const char *fits = memmem(seg, 2880, "SIMPLE  =", 9);
    CHECK(fits != NULL);
    size_t at = (size_t)(fits - seg), card = 0;
    while (card < 36 && strncmp(fits + 80 * card, "END     ", 8) != 0)
        card++;
    CHECK(card < 36);
    shmdt(seg);
    char name[64], offset[32];
    snprintf(name, sizeof name, "sysv://0x%08x", (unsigned)key);
    snprintf(offset, sizeof offset, "%zu", at + 2880);
    RUN(0, "cat", name, "--dtype", ">f4", "--shape", "3,4", "--offset", offset);
    CHECK_STR(out, "0 1.5 3 4.5\n6 7.5 9 10.5\n12 13.5 15 16.5\n");
    /* Written here, read there. */
    RUN(0, "set", name, "1", "2", "-1", "--dtype", ">f4", "--shape", "3,4", "--offset", offset);
    util_clear(&out, &err);
    CHECK(test_sh(&out, &err, "%s '%s' read shmem://h0", env, helper) == 0);
    CHECK_STR(out, "0 1.5 3 4.5 6 7.5 -1 10.5 12 13.5 15 16.5\n");
    util_clear(&out, &err);
}

/*
 * CFITSIO's shmem:// driver keeps a FITS file in a System V segment (after a block header
 * of its own), its data big-endian: a raw array of '>f4' at the data's offset reads it and
 * writes it, and CFITSIO reads what was written. Its keys are the test's (SHMEM_LIB_KEYBASE),
 * removed with CFITSIO's semaphores however the case ends.
 */
TEST(io__cfitsio_shmem_images_are_raw_big_endian_arrays)
{
    const uint16_t one = 1;
    if (!*(const unsigned char *)&one)
        TEST_SKIP("written for a little-endian machine, where '>f4' is the other order");
    const char *helper = cfitsio_helper();
    key_t base = test_sysv_key(); /* the first of the test's keys: CFITSIO's are after it */
    char env[128];
    snprintf(env, sizeof env, "SHMEM_LIB_KEYBASE=%d SHMEM_LIB_MAXSEG=4", (int)base);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        cfitsio_shmem_case(helper, env, base);
        _exit(0);
    }
    int status = test_wait(pid);
    char *out = NULL, *err = NULL;
    test_sh(&out, &err, "%s '%s' delete shmem://h0", env, helper);
    util_clear(&out, &err);
    for (key_t k = base; k < base + CFITSIO_KEYS; k++) {
        int sem = semget(k, 0, 0), shm = shmget(k, 0, 0);
        if (sem >= 0)
            semctl(sem, 0, IPC_RMID);
        if (shm >= 0)
            shmctl(shm, IPC_RMID, NULL);
    }
    CHECK_EQ_INT(status, 0);
}

/* ---------------------------------------------------------------------------------------- */
/* Stores, failures, usage */

TEST(io__import_makes_segments_of_every_store)
{
    char *out = NULL, *err = NULL;
    const char *src = test_name("src");
    RUN(0, "create", src, "i32", "5");
    RUN(0, "fill", src, "ramp");
    RUN(0, "export", src, util_test_path("src.npy"));
    char key[32], file[300];
    snprintf(key, sizeof key, "sysv://0x%08x", (unsigned)test_sysv_key());
    snprintf(file, sizeof file, "file:%s", util_test_path("seg.shm"));
    const char *names[] = {key, file};
    for (int i = 0; i < 2; i++) {
        RUN(0, "import", util_test_path("src.npy"), names[i], "--mode", "0640", "--keyword",
            "ORIGIN='src' / where from");
        char *c = cat_of(names[i]);
        CHECK_STR(c, "0 1 2 3 4\n");
        free(c);
        char buf[128];
        info_field(names[i], "mode", buf, sizeof buf);
        CHECK_STR(buf, "0640");
        RUN(0, "info", names[i]);
        CHECK_KEYWORD(out, "ORIGIN", "'src' / where from");
        CHECK_CONTAINS(out, "generation:      1");
        CHECK_CONTAINS(out, "transient:       no");
        RUN(0, "rm", names[i]);
    }
    CHECK_OK(shmap_unlink(src));
    util_clear(&out, &err);
}

TEST(io__a_truncated_or_unknown_file_is_refused_and_leaves_no_segment)
{
    char *out = NULL, *err = NULL;
    const char *src = test_name("src");
    RUN(0, "create", src, "f64", "100");
    RUN(0, "export", src, util_test_path("full.npy"));
    size_t len;
    unsigned char *bytes = util_read_file(util_test_path("full.npy"), &len);
    util_write_file(util_test_path("short.npy"), bytes, len - 8);
    util_write_file(util_test_path("hdr.npy"), bytes, 40); /* cut inside the header */
    free(bytes);
    const char *name = test_name("dst");
    char file[300];
    snprintf(file, sizeof file, "file:%s", util_test_path("dst.shm"));
    RUN(1, "import", util_test_path("short.npy"), name);
    CHECK_ERROR_LINE(err, "short.npy: truncated: the header announces 800 bytes of data, "
                          "the file holds 792");
    RUN(1, "import", util_test_path("short.npy"), file);
    CHECK_ERROR_LINE(err, "truncated");
    RUN(1, "import", util_test_path("hdr.npy"), name);
    CHECK_ERROR_LINE(err, "hdr.npy: truncated .npy header");
    /* One byte announced, none there: in the singular. */
    write_npy1(util_test_path("one.npy"), "{'descr': '|u1', 'fortran_order': False, "
                                          "'shape': (1,), }", 0);
    RUN(1, "import", util_test_path("one.npy"), name);
    CHECK_ERROR_LINE(err, "one.npy: truncated: the header announces 1 byte of data, the file "
                          "holds 0");
    /* Through a pipe the size is not known beforehand: the segment made is taken away. */
    RUN(1, "import", "/dev/stdin", name); /* /dev/null here: a device */
    CHECK_ERROR_LINE(err, "is a device");
    char *o2 = NULL, *e2 = NULL;
    CHECK_EQ_INT(test_sh(&o2, &e2, "cat '%s' | %s import /dev/stdin %s",
                         util_test_path("short.npy"), test_shmap_bin(), name), 1);
    CHECK_ERROR_LINE(e2, "truncated: the header announces 800 bytes of data, the file holds "
                         "792");
    CHECK_EQ_INT(test_sh(&o2, &e2, "cat '%s' | %s import /dev/stdin %s",
                         util_test_path("short.npy"), test_shmap_bin(), file), 1);
    util_clear(&o2, &e2);
    CHECK(!util_shm_exists(name));
    CHECK(!file_exists(util_test_path("dst.shm")));
    CHECK_EQ_INT(util_count_hidden_of(getpid()), 0);

    util_write_file(util_test_path("text.txt"), "hello, world\n", 13);
    RUN(1, "import", util_test_path("text.txt"), name);
    CHECK_ERROR_LINE(err, "text.txt: not a .npy file (no 0x93 NUMPY magic) nor a FITS file");
    CHECK_CONTAINS(err, "--dtype and --shape");
    RUN(1, "import", util_test_path("missing.npy"), name);
    CHECK_ERROR_LINE(err, "missing.npy: No such file or directory");
    RUN(1, "import", util_test_dir(), name);
    CHECK_ERROR_LINE(err, "is a directory");
    CHECK(!util_shm_exists(name));
    CHECK_OK(shmap_unlink(src));
    util_clear(&out, &err);
}

TEST(io__an_existing_name_or_file_is_left_as_it_is)
{
    char *out = NULL, *err = NULL;
    const char *a = test_name("a"), *b = test_name("b");
    RUN(0, "create", a, "u8", "3");
    RUN(0, "fill", a, "7");
    RUN(0, "create", b, "u8", "4");
    RUN(0, "fill", b, "9");
    RUN(0, "export", a, util_test_path("a.npy"));
    RUN(1, "import", util_test_path("a.npy"), b);
    CHECK_ERROR_LINE(err, b);
    CHECK_CONTAINS(err, "exists");
    char *c = cat_of(b);
    CHECK_STR(c, "9 9 9 9\n");
    free(c);

    /* FILE exists: refused, untouched, unless --force; no hidden file stays behind. */
    util_write_file(util_test_path("keep.npy"), "precious", 8);
    RUN(1, "export", b, util_test_path("keep.npy"));
    CHECK_ERROR_LINE(err, "keep.npy: exists: give --force to replace it");
    size_t len;
    unsigned char *bytes = util_read_file(util_test_path("keep.npy"), &len);
    CHECK(len == 8 && memcmp(bytes, "precious", 8) == 0);
    free(bytes);
    RUN(0, "export", b, util_test_path("keep.npy"), "--force");
    const char *back = test_name("back");
    RUN(0, "import", util_test_path("keep.npy"), back);
    c = cat_of(back);
    CHECK_STR(c, "9 9 9 9\n");
    free(c);
    RUN(1, "export", b, util_test_dir(), "--force");
    CHECK_ERROR_LINE(err, "is a directory");
    /* A segment that is not there: nothing is written. */
    RUN(1, "export", test_name("missing"), util_test_path("none.npy"));
    CHECK_ERROR_LINE(err, "missing");
    CHECK(!file_exists(util_test_path("none.npy")));
    /* a.npy, keep.npy: nothing else, no hidden directory. */
    CHECK_EQ_INT(util_dir_entries(util_test_dir()), 2);
    CHECK_OK(shmap_unlink(a));
    CHECK_OK(shmap_unlink(b));
    CHECK_OK(shmap_unlink(back));
    util_clear(&out, &err);
}

TEST(io__bad_usage_exits_2_before_anything_is_done)
{
    char *out = NULL, *err = NULL;
    const char *name = test_name("u");
    RUN(2, "import");
    CHECK_USAGE_ERROR(err, "import", "missing FILE");
    RUN(2, "import", "x.npy");
    CHECK_USAGE_ERROR(err, "import", "missing NAME");
    RUN(2, "import", "x.npy", name, "extra");
    CHECK_USAGE_ERROR(err, "import", "unexpected argument 'extra'");
    RUN(2, "import", "x.npy", "a/b");
    CHECK_USAGE_ERROR(err, "import", "a/b");
    RUN(2, "import", "x.npy", "memfd:x");
    CHECK_USAGE_ERROR(err, "import", "would vanish");
    RUN(2, "import", "x.npy", name, "--mode", "999");
    CHECK_USAGE_ERROR(err, "import", "invalid mode");
    RUN(2, "import", "x.npy", name, "--keyword", "NOVALUE");
    CHECK_USAGE_ERROR(err, "import", "--keyword");
    RUN(2, "import", "x.npy", name, "--dtype", "f4");
    CHECK_USAGE_ERROR(err, "import", "--dtype needs --shape");
    RUN(2, "import", "x.npy", name, "--private");
    CHECK_USAGE_ERROR(err, "import", "unknown option '--private'");
    RUN(2, "export");
    CHECK_USAGE_ERROR(err, "export", "missing NAME");
    RUN(2, "export", name);
    CHECK_USAGE_ERROR(err, "export", "missing FILE");
    RUN(2, "export", name, util_test_path("x.npy"), "--format", "tiff");
    CHECK_USAGE_ERROR(err, "export", "--format 'tiff'");
    RUN(2, "export", name, util_test_path("x.npy"), "--timeout", "soon");
    CHECK_USAGE_ERROR(err, "export", "--timeout");
    RUN(2, "export", "", util_test_path("x.npy"));
    CHECK_USAGE_ERROR(err, "export", "empty segment name");
    RUN(2, "export", name, util_test_path("x.npy"), "--shape", "3");
    CHECK_USAGE_ERROR(err, "export", "--shape needs --dtype");
    CHECK(!file_exists(util_test_path("x.npy")));
    RUN(0, "help", "import");
    CHECK_CONTAINS(out, "fortran_order");
    RUN(0, "help", "export");
    CHECK_CONTAINS(out, "--force");
    util_clear(&out, &err);
}

TEST(io__export_waits_for_the_exclusive_lock_and_gives_up_after_timeout)
{
    char *out = NULL, *err = NULL;
    const char *name = test_name("lk");
    RUN(0, "create", name, "u8", "4");
    pid_t holder = util_spawn_holder(name, SHMAP_LOCK_EXCLUSIVE);
    RUN(1, "export", name, util_test_path("l.npy"), "--timeout", "0.2");
    CHECK_ERROR_LINE(err, "timed out waiting for the lock");
    char pid[32];
    snprintf(pid, sizeof pid, "pid %d", (int)holder);
    CHECK_CONTAINS(err, pid);
    CHECK(!file_exists(util_test_path("l.npy")));
    util_kill9(holder);
    RUN(0, "export", name, util_test_path("l.npy"), "--timeout", "5");
    CHECK(file_exists(util_test_path("l.npy")));
    CHECK_OK(shmap_unlink(name));
    util_clear(&out, &err);
}

/* ---------------------------------------------------------------------------------------- */
/* FITS */

/* One header card's value text ("16", "'west    '") and comment, or NULL: by hand, from
 * the standard, so CFITSIO is not checked against itself. */
static const char *fits_card(const unsigned char *file, size_t len, const char *key,
                             char *comment, size_t csize)
{
    static char value[81];
    char pat[9];
    snprintf(pat, sizeof pat, "%-8s", key);
    for (size_t off = 0; off + 80 <= len; off += 80) {
        const char *card = (const char *)file + off;
        if (memcmp(card, "END     ", 8) == 0)
            return NULL;
        if (memcmp(card, pat, 8) != 0 || memcmp(card + 8, "= ", 2) != 0)
            continue;
        char text[81];
        memcpy(text, card + 10, 70);
        text[70] = '\0';
        /* The value ends at a '/' outside quotes. */
        int q = 0;
        char *p = text;
        for (; *p && (q || *p != '/'); p++)
            q ^= *p == '\'';
        char *cm = *p == '/' ? p + 1 : p + strlen(p);
        *p = '\0';
        char *v = text + strspn(text, " ");
        size_t vl = strlen(v);
        while (vl && v[vl - 1] == ' ')
            v[--vl] = '\0';
        snprintf(value, sizeof value, "%s", v);
        if (comment) {
            cm += strspn(cm, " ");
            size_t cl = strlen(cm);
            while (cl && cm[cl - 1] == ' ')
                cm[--cl] = '\0';
            snprintf(comment, csize, "%s", cm);
        }
        return value;
    }
    return NULL;
}

/* Where the data starts: after the header block holding END. */
static size_t fits_data_start(const unsigned char *file, size_t len)
{
    for (size_t off = 0; off + 80 <= len; off += 80)
        if (memcmp(file + off, "END     ", 8) == 0)
            return (off / 2880 + 1) * 2880;
    test_fail(__FILE__, __LINE__, "no END card");
}

/* Big-endian integer of n bytes at p. */
static uint64_t be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

TEST(io__fits_round_trip_keeps_values_axes_and_keywords_for_every_fits_type)
{
    need_fits();
    static const struct {
        const char *type;
        int bitpix;
        const char *bzero; /* NULL: none */
    } types[] = {
        {"u8", 8, NULL},   {"i8", 8, "-128"},           {"i16", 16, NULL},
        {"u16", 16, "32768"}, {"i32", 32, NULL},         {"u32", 32, "2147483648"},
        {"i64", 64, NULL}, {"u64", 64, "9223372036854775808"}, {"f32", -32, NULL},
        {"f64", -64, NULL},
    };
    char *out = NULL, *err = NULL;
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        char a[64], b[64];
        snprintf(a, sizeof a, "%s", test_name("a"));
        snprintf(b, sizeof b, "%s", test_name("b"));
        const char *path = util_test_path("rt.fits");
        unlink(path);
        /* 2 rows of 3: element [r][c] = 3r + c, so the order of the values tells the axes. */
        RUN(0, "create", a, types[t].type, "2", "3", "--keyword", "EXPTIME=0.5",
            "--keyword", "CAMERA='west' / which camera", "--keyword", "NFRAMES=12 / frames",
            "--keyword", "DARK=T", "--keyword", "TEMPERATURE_CCD=-80.5 / deg C");
        RUN(0, "fill", a, "ramp");
        RUN(0, "export", a, path);
        CHECK_STR(err, "");
        size_t len;
        unsigned char *f = util_read_file(path, &len);
        CHECK_EQ_INT(len % 2880, 0);
        CHECK(memcmp(f, "SIMPLE  =                    T", 30) == 0);
        char bitpix[16], cm[80];
        snprintf(bitpix, sizeof bitpix, "%d", types[t].bitpix);
        CHECK_STR(fits_card(f, len, "BITPIX", NULL, 0), bitpix);
        CHECK_STR(fits_card(f, len, "NAXIS", NULL, 0), "2");
        CHECK_STR(fits_card(f, len, "NAXIS1", NULL, 0), "3");
        CHECK_STR(fits_card(f, len, "NAXIS2", NULL, 0), "2");
        if (types[t].bzero)
            CHECK_STR(fits_card(f, len, "BZERO", NULL, 0), types[t].bzero);
        else
            CHECK(fits_card(f, len, "BZERO", NULL, 0) == NULL);
        CHECK_STR(fits_card(f, len, "CAMERA", cm, sizeof cm), "'west    '");
        CHECK_STR(cm, "which camera");
        CHECK_STR(fits_card(f, len, "NFRAMES", cm, sizeof cm), "12");
        CHECK_STR(cm, "frames");
        CHECK_STR(fits_card(f, len, "DARK", NULL, 0), "T");
        CHECK(strstr((char *)f, "HIERARCH TEMPERATURE_CCD = -80.5 / deg C") != NULL);
        /* The data: big-endian, NAXIS1 fastest, stored value = value - BZERO. */
        size_t data = fits_data_start(f, len);
        int size = types[t].bitpix < 0 ? -types[t].bitpix / 8 : types[t].bitpix / 8;
        CHECK(data + 6 * (size_t)size <= len);
        for (int i = 0; i < 6; i++) {
            uint64_t raw = be(f + data + (size_t)i * (size_t)size, size);
            double v;
            if (types[t].bitpix == -32) {
                uint32_t u = (uint32_t)raw;
                float x;
                memcpy(&x, &u, 4);
                v = x;
            } else if (types[t].bitpix == -64) {
                memcpy(&v, &raw, 8);
            } else {
                /* Two's complement of the width, plus BZERO. */
                int64_t s = size == 8 ? (int64_t)raw
                                      : (int64_t)(raw << (64 - 8 * size)) >> (64 - 8 * size);
                if (types[t].bitpix == 8)
                    s = (int64_t)raw; /* BITPIX 8 is unsigned */
                double zero = types[t].bzero ? strtod(types[t].bzero, NULL) : 0;
                v = (double)s + zero;
                if (types[t].bzero && size == 8) /* BZERO 2^63: the top bit flipped */
                    v = (double)(raw ^ UINT64_C(0x8000000000000000));
            }
            if (v != i)
                test_fail(__FILE__, __LINE__, "%s: FITS pixel %d is %g", types[t].type, i, v);
        }
        free(f);
        RUN(0, "import", path, b);
        CHECK_STR(err, "");
        char ta[64], tb[64];
        info_field(b, "dtype", tb, sizeof tb);
        CHECK_STR(tb, types[t].type);
        info_field(b, "shape", tb, sizeof tb);
        CHECK_STR(tb, "2x3");
        char *ca = cat_of(a), *cb = cat_of(b);
        CHECK_STR(cb, ca);
        free(ca);
        free(cb);
        RUN(0, "info", b);
        CHECK_KEYWORD(out, "EXPTIME", "0.5");
        CHECK_KEYWORD(out, "CAMERA", "'west' / which camera");
        CHECK_KEYWORD(out, "NFRAMES", "12 / frames");
        CHECK_KEYWORD(out, "DARK", "T");
        CHECK_KEYWORD(out, "TEMPERATURE_CCD", "-80.5 / deg C");
        CHECK(strstr(out, "BITPIX") == NULL && strstr(out, "NAXIS") == NULL);
        CHECK(strstr(out, "COMMENT") == NULL && strstr(out, "BZERO") == NULL);
        info_field(a, "keywords", ta, sizeof ta);
        info_field(b, "keywords", tb, sizeof tb);
        CHECK_STR(tb, "5 of 32 slots");
        CHECK_OK(shmap_unlink(a));
        CHECK_OK(shmap_unlink(b));
    }
    util_clear(&out, &err);
}

/* A FITS file by hand: header cards (padded to 2880), then big-endian data (padded). */
static void write_fits(const char *path, const char *const *cards, int ncards,
                       const unsigned char *data, size_t dlen)
{
    size_t hlen = ((size_t)(ncards + 1) * 80 + 2879) / 2880 * 2880;
    size_t total = hlen + (dlen + 2879) / 2880 * 2880;
    unsigned char *f = calloc(1, total);
    CHECK(f != NULL);
    memset(f, ' ', hlen);
    for (int i = 0; i < ncards; i++)
        memcpy(f + 80 * i, cards[i], strlen(cards[i]));
    memcpy(f + 80 * ncards, "END", 3);
    if (dlen)
        memcpy(f + hlen, data, dlen);
    util_write_file(path, f, total);
    free(f);
}

TEST(io__a_fits_file_written_by_hand_imports_as_the_standard_says)
{
    need_fits();
    char *out = NULL, *err = NULL;
    /* uint16 by BZERO, 2 rows (NAXIS2) of 3 (NAXIS1). */
    static const char *const cards[] = {
        "SIMPLE  =                    T / conforms",
        "BITPIX  =                   16",
        "NAXIS   =                    2",
        "NAXIS1  =                    3",
        "NAXIS2  =                    2",
        "BZERO   =                32768",
        "OBJECT  = 'M31     '           / the target",
        "GAIN    =              1.5D+00 / e-/ADU",
        "COMMENT a comment card, not a keyword",
        "HISTORY neither",
    };
    unsigned char data[12];
    const uint16_t v[6] = {0, 1, 2, 65533, 65534, 65535};
    for (int i = 0; i < 6; i++) {
        uint16_t s = (uint16_t)(v[i] - 32768); /* stored: value - BZERO, as int16 */
        data[2 * i] = (unsigned char)(s >> 8);
        data[2 * i + 1] = (unsigned char)s;
    }
    const char *path = util_test_path("hand.img"); /* any name: the content decides */
    write_fits(path, cards, 10, data, sizeof data);
    const char *name = test_name("hand");
    RUN(0, "import", path, name);
    CHECK_STR(err, "");
    char *c = cat_of(name);
    CHECK_STR(c, "0 1 2\n65533 65534 65535\n");
    free(c);
    RUN(0, "info", name);
    CHECK_CONTAINS(out, "dtype:           u16");
    CHECK_CONTAINS(out, "shape:           2x3");
    CHECK_KEYWORD(out, "OBJECT", "'M31' / the target");
    CHECK_KEYWORD(out, "GAIN", "1.5 / e-/ADU");
    CHECK(strstr(out, "COMMENT") == NULL && strstr(out, "HISTORY") == NULL);
    CHECK_OK(shmap_unlink(name));

    /* An empty primary HDU and an image extension; BSCALE makes physical values (f32). */
    static const char *const ext[] = {
        "SIMPLE  =                    T",
        "BITPIX  =                    8",
        "NAXIS   =                    0",
        "EXTEND  =                    T",
    };
    static const char *const img[] = {
        "XTENSION= 'IMAGE   '",
        "BITPIX  =                   16",
        "NAXIS   =                    1",
        "NAXIS1  =                    3",
        "PCOUNT  =                    0",
        "GCOUNT  =                    1",
        "BSCALE  =                  0.5",
        "BZERO   =                   10",
        "EXTNAME = 'SCI     '",
    };
    const unsigned char d16[6] = {0, 1, 0xff, 0xfe, 0, 4}; /* 1, -2, 4 */
    unsigned char both[2 * 2880 + 2880 * 2];
    memset(both, ' ', sizeof both);
    write_fits(util_test_path("p.fits"), ext, 4, NULL, 0);
    write_fits(util_test_path("x.fits"), img, 9, d16, sizeof d16);
    size_t lp, lx;
    unsigned char *p = util_read_file(util_test_path("p.fits"), &lp);
    unsigned char *x = util_read_file(util_test_path("x.fits"), &lx);
    CHECK(lp + lx <= sizeof both);
    memcpy(both, p, lp);
    memcpy(both + lp, x, lx);
    util_write_file(util_test_path("ext.fits"), both, lp + lx);
    free(p);
    free(x);
    RUN(0, "import", util_test_path("ext.fits"), name);
    c = cat_of(name);
    CHECK_STR(c, "10.5 9 12\n");
    free(c);
    RUN(0, "info", name);
    CHECK_CONTAINS(out, "dtype:           f32");
    CHECK_KEYWORD(out, "EXTNAME", "'SCI'");
    CHECK(strstr(out, "BSCALE") == NULL);
    CHECK_OK(shmap_unlink(name));
    util_clear(&out, &err);
}

/* A comment longer than a keyword holds is cut, and said so, as a string value cut is:
 * the one CFITSIO's fits_write_date() writes is 43 characters. */
TEST(io__fits_comments_cut_on_import_are_warned_of)
{
    need_fits();
    char *out = NULL, *err = NULL;
    static const char *const cards[] = {
        "SIMPLE  =                    T",
        "BITPIX  =                    8",
        "NAXIS   =                    1",
        "NAXIS1  =                    2",
        "DATE    = '2026-12-03T18:00:00' / file creation date (YYYY-MM-DDThh:mm:ss UT)",
        "EXPTIME =                  1.5 / exposure time, in seconds, of this frame",
        "FILTER  = 'R       '           / a comment of exactly thirty-nine chars.",
    };
    const unsigned char data[2] = {7, 9};
    const char *path = util_test_path("date.fits");
    write_fits(path, cards, 7, data, sizeof data);
    const char *name = test_name("cut");
    RUN(0, "import", path, name);
    CHECK_CONTAINS(err, "warning: keyword DATE: comment cut to 39 characters\n");
    CHECK_CONTAINS(err, "warning: keyword EXPTIME: comment cut to 39 characters\n");
    CHECK(strstr(err, "FILTER") == NULL);
    RUN(0, "info", name);
    CHECK_KEYWORD(out, "DATE", "'2026-12-03T18:00:00' / file creation date (YYYY-MM-DDThh:mm:ss");
    CHECK_KEYWORD(out, "FILTER", "'R' / a comment of exactly thirty-nine chars.");
    CHECK_OK(shmap_unlink(name));
    util_clear(&out, &err);
}

/* Append file `part` to file `path`. */
static void append_file(const char *path, const char *part)
{
    size_t lp, lx;
    unsigned char *p = util_read_file(path, &lp);
    unsigned char *x = util_read_file(part, &lx);
    unsigned char *both = malloc(lp + lx);
    CHECK(both != NULL);
    memcpy(both, p, lp);
    memcpy(both + lp, x, lx);
    util_write_file(path, both, lp + lx);
    free(both);
    free(p);
    free(x);
}

/* --hdu picks an HDU of a multi-extension file by number (0 the primary) or by EXTNAME,
 * and refuses one that is a table, holds no image or is not there, naming it. */
TEST(io__fits_hdu_picks_an_extension_by_number_or_name)
{
    need_fits();
    char *out = NULL, *err = NULL;
    static const char *const primary[] = {
        "SIMPLE  =                    T", "BITPIX  =                    8",
        "NAXIS   =                    0", "EXTEND  =                    T",
    };
    static const char *const sci[] = {
        "XTENSION= 'IMAGE   '", "BITPIX  =                    8",
        "NAXIS   =                    1", "NAXIS1  =                    2",
        "PCOUNT  =                    0", "GCOUNT  =                    1",
        "EXTNAME = 'SCI     '",
    };
    static const char *const errs[] = {
        "XTENSION= 'IMAGE   '", "BITPIX  =                   16",
        "NAXIS   =                    2", "NAXIS1  =                    2",
        "NAXIS2  =                    1", "PCOUNT  =                    0",
        "GCOUNT  =                    1", "EXTNAME = 'ERR     '",
        "GAIN    =                  2.5",
    };
    static const char *const table[] = {
        "XTENSION= 'BINTABLE'", "BITPIX  =                    8",
        "NAXIS   =                    2", "NAXIS1  =                    4",
        "NAXIS2  =                    1", "PCOUNT  =                    0",
        "GCOUNT  =                    1", "TFIELDS =                    1",
        "TFORM1  = '1J      '", "EXTNAME = 'TAB     '",
    };
    const unsigned char d8[2] = {5, 6}, d16[4] = {0xff, 0xfd, 0, 4}, dtab[4] = {0, 0, 0, 7};
    const char *path = util_test_path("mef.fits"), *part = util_test_path("part.fits");
    write_fits(path, primary, 4, NULL, 0);
    write_fits(part, sci, 7, d8, sizeof d8);
    append_file(path, part);
    write_fits(part, errs, 9, d16, sizeof d16);
    append_file(path, part);
    write_fits(part, table, 10, dtab, sizeof dtab);
    append_file(path, part);
    const char *name = test_name("hdu");
    static const char *const ways[][2] = {{"2", "-3 4\n"}, {"err", "-3 4\n"}, {"ERR", "-3 4\n"},
                                          {"1", "5 6\n"}, {"SCI", "5 6\n"}};
    for (size_t i = 0; i < sizeof ways / sizeof ways[0]; i++) {
        RUN(0, "import", path, name, "--hdu", ways[i][0]);
        CHECK_STR(err, "");
        char *c = cat_of(name);
        CHECK_STR(c, ways[i][1]);
        free(c);
        if (strcmp(ways[i][0], "err") == 0) {
            RUN(0, "info", name);
            CHECK_KEYWORD(out, "GAIN", "2.5");
            CHECK_KEYWORD(out, "EXTNAME", "'ERR'");
        }
        CHECK_OK(shmap_unlink(name));
    }
    /* Without --hdu, the first image extension, as before. */
    RUN(0, "import", path, name);
    char *c = cat_of(name);
    CHECK_STR(c, "5 6\n");
    free(c);
    CHECK_OK(shmap_unlink(name));
    static const char *const refused[][2] = {
        {"0", "--hdu 0: the primary HDU (HDU 1) holds no image (NAXIS = 0)"},
        {"3", "--hdu 3: extension 3 (HDU 4) is a binary table, not an image"},
        {"tab", "--hdu tab: extension 3 (HDU 4) is a binary table, not an image"},
        {"4", "--hdu 4: the file has 4 HDUs (0 to 3)"},
        {"nope", "--hdu nope: no HDU has EXTNAME = 'nope' (4 HDUs read)"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        RUN(1, "import", path, name, "--hdu", refused[i][0]);
        CHECK_ERROR_LINE(err, refused[i][1]);
        CHECK(!util_shm_exists(name));
    }
    /* Bad usage: not a number nor a name, raw bytes, a .npy file. */
    RUN(2, "import", path, name, "--hdu", "-1");
    CHECK_USAGE_ERROR(err, "import", "--hdu '-1'");
    RUN(2, "import", path, name, "--hdu", "");
    CHECK_USAGE_ERROR(err, "import", "--hdu ''");
    RUN(2, "import", path, name, "--hdu", "1", "--dtype", "u1", "--shape", "2880");
    CHECK_USAGE_ERROR(err, "import", "--hdu picks an HDU of a FITS file");
    util_write_file(util_test_path("a.npy"), (const unsigned char *)"\x93NUMPY\x01\x00\x76\x00"
                    "{'descr': '|u1', 'fortran_order': False, 'shape': (1,), }"
                    "                                                                 \n\x07",
                    128 + 1);
    RUN(1, "import", util_test_path("a.npy"), name, "--hdu", "1");
    CHECK_ERROR_LINE(err, "--hdu picks an HDU of a FITS file, and this is a .npy file");
    CHECK(!util_shm_exists(name));
    util_clear(&out, &err);
}

TEST(io__fits_refuses_types_it_cannot_hold_and_truncated_files)
{
    need_fits();
    char *out = NULL, *err = NULL;
    static const char *const no[] = {"c64", "c128", "f16", "bool", "record:x:f4,y:f4"};
    const char *name = test_name("no");
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        RUN(0, "create", name, no[i], "3");
        RUN(1, "export", name, util_test_path("no.fits"));
        CHECK_ERROR_LINE(err, "have no FITS image type");
        CHECK(!file_exists(util_test_path("no.fits")));
        CHECK_EQ_INT(util_dir_entries(util_test_dir()), 0); /* the probe removes its file */
        CHECK_OK(shmap_unlink(name));
    }
    /* --format fits on another name, .FIT and .fts in any case. */
    RUN(0, "create", name, "f32", "100");
    RUN(0, "export", name, util_test_path("a.dat"), "--format", "fits");
    RUN(0, "export", name, util_test_path("b.FIT"));
    RUN(0, "export", name, util_test_path("c.Fts"));
    const char *files[] = {"a.dat", "b.FIT", "c.Fts"};
    for (int i = 0; i < 3; i++) {
        size_t len;
        unsigned char *f = util_read_file(util_test_path(files[i]), &len);
        CHECK(memcmp(f, "SIMPLE  =", 9) == 0);
        if (i == 0) {
            /* Cut short: refused before a segment is made. */
            util_write_file(util_test_path("short.fits"), f, len - 2880);
        }
        free(f);
    }
    const char *dst = test_name("dst");
    RUN(1, "import", util_test_path("short.fits"), dst);
    CHECK_ERROR_LINE(err, "short.fits: truncated");
    CHECK(!util_shm_exists(dst));
    CHECK_OK(shmap_unlink(name));
    util_clear(&out, &err);
}

TEST(io__npy_field_names_a_shmap_record_cannot_take_are_refused_naming_the_field)
{
    char *out = NULL, *err = NULL;
    /* A name holding the field list's own punctuation would make a record of other fields
     * (here x:f64,y:f32, 12 bytes where the file has 4): refused, as are names that are
     * not C identifiers, before any segment is made. */
    static const char *const names[] = {"x:f8,y", "a b", "1st", "", "p[2]", "\xe9t\xe9"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char header[160];
        snprintf(header, sizeof header, "{'descr': [('%s', '<f4')], 'fortran_order': False, "
                                        "'shape': (2,), }", names[i]);
        const char *path = util_test_path("names.npy");
        write_npy1(path, header, 24); /* room for the record the name would make */
        const char *name = test_name("fn");
        RUN(1, "import", path, name);
        CHECK_ERROR_LINE(err, "names.npy: field '");
        CHECK_CONTAINS(err, "not a shmap record field name");
        CHECK(!util_shm_exists(name));
    }
    /* A (title, name) pair and a valid name still make a record. */
    const char *ok = "{'descr': [(('the title', 'x_1'), '<f4'), ('_y', '<u1')], "
                     "'fortran_order': False, 'shape': (1,), }";
    write_npy1(util_test_path("ok.npy"), ok, 5);
    const char *name = test_name("ok");
    RUN(0, "import", util_test_path("ok.npy"), name);
    char fields[64];
    info_field(name, "record_fields", fields, sizeof fields);
    CHECK_STR(fields, "x_1:f32,_y:u8");
    CHECK_OK(shmap_unlink(name));
    util_clear(&out, &err);
}

/*
 * numpy writes the alignment holes of an aligned structured type (align=True, or a C struct)
 * as fields named '' of raw bytes: the message says the record has padding, which shmap's
 * packed records cannot hold, and how to save a packed copy, rather than calling '' a bad
 * field name.
 */
TEST(io__npy_records_with_padding_are_refused_saying_how_to_pack_them)
{
    char *out = NULL, *err = NULL;
    static const char *const descrs[] = {
        "[('a', '|u1'), ('', '|V7'), ('b', '<f8')]", /* a hole inside */
        "[('b', '<f8'), ('a', '|u1'), ('', '|V7')]", /* at the end */
    };
    const char *name = test_name("pad");
    for (size_t i = 0; i < sizeof descrs / sizeof descrs[0]; i++) {
        char header[160];
        snprintf(header, sizeof header, "{'descr': %s, 'fortran_order': False, "
                                        "'shape': (2,), }", descrs[i]);
        const char *path = util_test_path("aligned.npy");
        write_npy1(path, header, 32);
        RUN(1, "import", path, name);
        CHECK_ERROR_LINE(err, "aligned.npy: ");
        CHECK_CONTAINS(err, "padding");
        CHECK_CONTAINS(err, "numpy.lib.recfunctions.repack_fields");
        CHECK(strstr(err, "field name") == NULL);
        CHECK(!util_shm_exists(name));
    }
    util_clear(&out, &err);
}

TEST(io__npy_type_strings_are_read_as_numpy_reads_them)
{
    char *out = NULL, *err = NULL;
    /* Kind letter and size, in either byte order: the types shmap has. */
    static const char *const ok[][2] = {
        {"<f2", "f16"}, {">i2", "i16"}, {"|u1", "u8"}, {"|b1", "bool"}, {"=c16", "c128"},
        {"u8", "u64"},  {">c8", "c64"},
    };
    const char *name = test_name("ts");
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char header[128];
        snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, "
                                        "'shape': (1,), }", ok[i][0]);
        write_npy1(util_test_path("ts.npy"), header, 16);
        RUN(0, "import", util_test_path("ts.npy"), name);
        char dtype[32];
        info_field(name, "dtype", dtype, sizeof dtype);
        CHECK_STR(dtype, ok[i][1]);
        CHECK_OK(shmap_unlink(name));
    }
    /* Only the form numpy writes is read: words, which shmap's type names may read another
     * way ('int' is int64 to numpy, i16 to shmap), a long double ('<f16'; 'f16' is shmap's
     * half float) and codes numpy never writes are refused. */
    static const char *const no[] = {"int", "long", "float32", "<f16", "|f16", "f16", "<F4",
                                     "<i3", "<f+4"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        char header[128];
        snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, "
                                        "'shape': (1,), }", no[i]);
        write_npy1(util_test_path("ts.npy"), header, 16);
        RUN(1, "import", util_test_path("ts.npy"), name);
        CHECK_ERROR_LINE(err, "has no shmap element type");
        CHECK(!util_shm_exists(name));
    }
    util_clear(&out, &err);
}

TEST(io__fits_characters_outside_printable_ascii_are_read_as_question_marks)
{
    need_fits();
    char *out = NULL, *err = NULL;
    /* FITS allows printable ASCII only; a file from anywhere may hold other bytes. The
     * keyword is kept, each such byte read as '?', with one warning line per card. */
    static const char *const cards[] = {
        "SIMPLE  =                    T",
        "BITPIX  =                    8",
        "NAXIS   =                    1",
        "NAXIS1  =                    3",
        "GAIN    =                  1.5 / e-\x7f" "ADU",
        "OBJECT  = 'M3\x01" "1'                / caf\xe9",
        "EXPTIME =                   30 / seconds",
    };
    write_fits(util_test_path("odd.fits"), cards, 7, (const unsigned char *)"abc", 3);
    const char *name = test_name("odd");
    RUN(0, "import", util_test_path("odd.fits"), name);
    /* Two warning lines, naming the file and the keyword. */
    const char *second = strchr(err, '\n');
    CHECK(second && strchr(second + 1, '\n') && !strchr(second + 1, '\n')[1]);
    CHECK_CONTAINS(err, "odd.fits: warning: keyword GAIN:");
    CHECK_CONTAINS(err, "odd.fits: warning: keyword OBJECT:");
    RUN(0, "info", name);
    CHECK_KEYWORD(out, "GAIN", "1.5 / e-?ADU");
    CHECK_KEYWORD(out, "OBJECT", "'M3?1' / caf?");
    CHECK_KEYWORD(out, "EXPTIME", "30 / seconds");
    CHECK_OK(shmap_unlink(name));
    util_clear(&out, &err);
}

TEST(io__a_fits_file_is_opened_once_and_read_through_that_descriptor)
{
    need_fits();
    char *out = NULL, *err = NULL;
    if (test_sh(&out, &err, "strace -f -qq -e trace=none true") != 0)
        TEST_SKIP("no strace that works here");
    const char *src = test_name("src"), *name = test_name("once");
    RUN(0, "create", src, "i16", "2", "3");
    RUN(0, "fill", src, "ramp");
    RUN(0, "export", src, util_test_path("once.fits"));
    /* Opened by name once: the NAXIS guard, CFITSIO and the size check all see the file
     * that was opened, which another cannot replace in between. (LeakSanitizer cannot run
     * under ptrace: it is turned off for this run of a sanitizer build.) */
    const char *log = util_test_path("strace.log");
    CHECK_EQ_INT(test_sh(&out, &err, "ASAN_OPTIONS=\"$ASAN_OPTIONS:detect_leaks=0\" strace -f "
                         "-qq -e trace=open,openat,openat2 -o '%s' '%s' import '%s' %s", log,
                         test_shmap_bin(), util_test_path("once.fits"), name), 0);
    size_t len;
    char *trace = (char *)util_read_file(log, &len);
    int opens = 0;
    for (const char *p = trace; (p = strstr(p, "once.fits")) != NULL; p++)
        opens++;
    if (opens != 1)
        test_fail(__FILE__, __LINE__, "once.fits opened %d times:\n%s", opens, trace);
    free(trace);
    char *c = cat_of(name);
    CHECK_STR(c, "0 1 2\n3 4 5\n");
    free(c);
    CHECK_OK(shmap_unlink(name));
    /* Standard input redirected from the file, even once the file has no name. */
    CHECK_EQ_INT(test_sh(&out, &err, "exec < '%s' && rm '%s' && '%s' import - %s",
                         util_test_path("once.fits"), util_test_path("once.fits"),
                         test_shmap_bin(), name), 0);
    c = cat_of(name);
    CHECK_STR(c, "0 1 2\n3 4 5\n");
    free(c);
    CHECK_OK(shmap_unlink(name));
    CHECK_OK(shmap_unlink(src));
    util_clear(&out, &err);
}

TEST(io__without_cfitsio_fits_is_one_clear_failure)
{
    if (util_fits_built())
        TEST_SKIP("shmap is built with CFITSIO (build with FITS=no to test this)");
    char *out = NULL, *err = NULL;
    const char *name = test_name("nf");
    RUN(0, "create", name, "u8", "3");
    RUN(1, "export", name, util_test_path("x.fits"));
    /* What to install, or (built with FITS=no) that FITS was left out on purpose. */
    CHECK_ERROR_LINE(err, "FITS support not built");
    CHECK(strstr(err, ": install libcfitsio-dev and rebuild\n") ||
          strstr(err, " (shmap was built with FITS="));
    CHECK(!file_exists(util_test_path("x.fits")));
    RUN(0, "export", name, util_test_path("x.npy"));
    CHECK_OK(shmap_unlink(name));
    util_clear(&out, &err);
}

/* ---------------------------------------------------------------------------------------- */
/* Hostile files and odd paths */

/* Run a shell command line (the shmap command as "$SHMAP") with memory for allocations
 * capped near 300 MiB: by RLIMIT_AS, or under AddressSanitizer, which needs terabytes of
 * address space, by its own cap on one allocation (64 MiB) with malloc returning NULL. */
static int sh_capped(char **out, char **err, const char *cmdline)
{
#ifdef UTIL_ASAN
    return test_sh(out, err, "SHMAP='%s' ASAN_OPTIONS=max_allocation_size_mb=64:"
                   "allocator_may_return_null=1 sh -c '%s'", test_shmap_bin(), cmdline);
#else
    return test_sh(out, err, "ulimit -v 320000 && SHMAP='%s' sh -c '%s'", test_shmap_bin(),
                   cmdline);
#endif
}

/* A .npy file of @p header (padded as numpy pads it), version @p major, then @p data. */
static void write_npy(const char *path, const char *header, int major, const void *data,
                      size_t dlen)
{
    size_t pre = major == 1 ? 10 : 12, hlen = strlen(header);
    size_t padded = (pre + hlen + 1 + 63) / 64 * 64 - pre;
    unsigned char *f = malloc(pre + padded + dlen);
    CHECK(f != NULL);
    memcpy(f, "\x93NUMPY", 6);
    f[6] = (unsigned char)major;
    f[7] = 0;
    for (size_t i = 0; i < pre - 8; i++)
        f[8 + i] = (unsigned char)(padded >> (8 * i));
    memset(f + pre, ' ', padded);
    memcpy(f + pre, header, hlen);
    f[pre + padded - 1] = '\n';
    if (dlen)
        memcpy(f + pre + padded, data, dlen);
    util_write_file(path, f, pre + padded + dlen);
    free(f);
}

TEST(io__a_header_announcing_more_than_the_file_holds_allocates_nothing_for_it)
{
    char *out = NULL, *err = NULL;
    const char *name = test_name("big");
    /* Version 2.0 announcing a header of 16 MiB, in a 40-byte file. */
    unsigned char f[40] = "\x93NUMPY\x02\x00\x00\x00\x00\x01{'descr': '<f4', ";
    util_write_file(util_test_path("long.npy"), f, sizeof f);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "\"$SHMAP\" import %s %s", util_test_path("long.npy"), name);
    CHECK_EQ_INT(sh_capped(&out, &err, cmd), 1);
    CHECK_ERROR_LINE(err, "truncated .npy header (16777216 bytes announced)");
    /* Fortran order through a pipe, announcing 200 MB and bringing 16 bytes: the
     * transposition must not be allocated before the data is there. */
    write_npy(util_test_path("lie.npy"), "{'descr': '|u1', 'fortran_order': True, "
                                  "'shape': (100000000, 2), }", 1, "0123456789abcdef", 16);
    snprintf(cmd, sizeof cmd, "cat %s | \"$SHMAP\" import - %s", util_test_path("lie.npy"), name);
    CHECK_EQ_INT(sh_capped(&out, &err, cmd), 1);
    CHECK_ERROR_LINE(err, "truncated: the header announces 200000000 bytes of data, the file "
                          "holds 16");
    CHECK(!util_shm_exists(name));
    util_clear(&out, &err);
}

TEST(io__fifos_devices_and_standard_input_are_read_or_refused_without_waiting)
{
    char *out = NULL, *err = NULL;
    const char *src = test_name("src"), *name = test_name("in");
    RUN(0, "create", src, "i16", "2", "3");
    RUN(0, "fill", src, "ramp");
    RUN(0, "export", src, util_test_path("src.npy"));
    /* A FIFO with no writer: an immediate failure, not a wait for ever. */
    const char *fifo = util_test_path("fifo");
    CHECK(mkfifo(fifo, 0600) == 0);
    double t0 = util_now_s();
    RUN(1, "import", fifo, name);
    CHECK_ERROR_LINE(err, "start the writer first");
    CHECK(util_now_s() - t0 < UTIL_PROMPT_S);
    /* A writer started first is read. The shell holds the FIFO open both ways, so the
     * writer's data waits in it and the import finds a writer, whatever runs first. */
    CHECK_EQ_INT(test_sh(&out, &err, "exec 3<>'%s'; cat '%s' > '%s' || exit 9; '%s' import "
                         "'%s' %s", fifo, util_test_path("src.npy"), fifo, test_shmap_bin(), fifo,
                         name), 0);
    char *c = cat_of(name);
    CHECK_STR(c, "0 1 2\n3 4 5\n");
    free(c);
    CHECK_OK(shmap_unlink(name));
    /* '-' is standard input, a pipe or a file. */
    CHECK_EQ_INT(test_sh(&out, &err, "cat '%s' | '%s' import - %s", util_test_path("src.npy"),
                         test_shmap_bin(), name), 0);
    CHECK_OK(shmap_unlink(name));
    CHECK_EQ_INT(test_sh(&out, &err, "'%s' import - %s < '%s'", test_shmap_bin(), name,
                         util_test_path("src.npy")), 0);
    CHECK_OK(shmap_unlink(name));
    /* Devices are refused: /dev/zero would fill memory for any shape. */
    RUN(1, "import", "/dev/zero", name, "--dtype", "u8", "--shape", "16");
    CHECK_ERROR_LINE(err, "/dev/zero: is a device");
    RUN(1, "import", "-", name); /* standard input is /dev/null here */
    CHECK_ERROR_LINE(err, "-: is a device");
    CHECK(!util_shm_exists(name));
    CHECK_OK(shmap_unlink(src));
    util_clear(&out, &err);
}

TEST(io__export_writes_to_standard_output_and_streams_and_replaces_links)
{
    char *out = NULL, *err = NULL;
    const char *name = test_name("so"), *back = test_name("back");
    RUN(0, "create", name, "u16", "2", "2");
    RUN(0, "fill", name, "ramp");
    CHECK_EQ_INT(test_sh(&out, &err, "'%s' export %s - --format npy > '%s'", test_shmap_bin(),
                         name, util_test_path("out.npy")), 0);
    CHECK_STR(err, "");
    RUN(0, "import", util_test_path("out.npy"), back);
    char *c = cat_of(back);
    CHECK_STR(c, "0 1\n2 3\n");
    free(c);
    CHECK_OK(shmap_unlink(back));
    /* /dev/stdout is written through, not replaced; so is /dev/null. */
    CHECK_EQ_INT(test_sh(&out, &err, "'%s' export %s /dev/stdout | wc -c", test_shmap_bin(),
                         name), 0);
    CHECK_STR(out, "8\n");
    RUN(0, "export", name, "/dev/null");
    /* A FIFO with no reader fails at once. */
    CHECK(mkfifo(util_test_path("fifo"), 0600) == 0);
    RUN(1, "export", name, util_test_path("fifo"));
    CHECK_ERROR_LINE(err, "no process reads this FIFO");
    /* A symbolic link is FILE itself: refused, or replaced with --force (its target is
     * left as it was), dangling or not. */
    util_write_file(util_test_path("target"), "keep", 4);
    CHECK(symlink("target", util_test_path("link.npy")) == 0);
    CHECK(symlink("nowhere/x", util_test_path("dangling.npy")) == 0);
    RUN(1, "export", name, util_test_path("link.npy"));
    CHECK_ERROR_LINE(err, "exists: give --force");
    RUN(1, "export", name, util_test_path("dangling.npy"));
    CHECK_ERROR_LINE(err, "exists: give --force");
    RUN(0, "export", name, util_test_path("link.npy"), "--force");
    RUN(0, "export", name, util_test_path("dangling.npy"), "--force");
    struct stat st;
    CHECK(lstat(util_test_path("link.npy"), &st) == 0 && S_ISREG(st.st_mode));
    CHECK(lstat(util_test_path("dangling.npy"), &st) == 0 && S_ISREG(st.st_mode));
    size_t len;
    unsigned char *t = util_read_file(util_test_path("target"), &len);
    CHECK(len == 4 && memcmp(t, "keep", 4) == 0);
    free(t);
    /* A name near NAME_MAX still gets its hidden name, for --force. */
    char leaf[256];
    memset(leaf, 'n', 251);
    snprintf(leaf + 251, 5, ".npy");
    RUN(0, "export", name, util_test_path(leaf));
    CHECK(file_exists(util_test_path(leaf)));
    RUN(0, "export", name, util_test_path(leaf), "--force");
    /* out.npy fifo target link.npy dangling.npy and the long one: nothing hidden. */
    CHECK_EQ_INT(util_dir_entries(util_test_dir()), 6);
    CHECK_OK(shmap_unlink(name));
    util_clear(&out, &err);
}

TEST(io__export_with_no_timeout_ends_when_a_writer_never_finishes)
{
    char *out = NULL, *err = NULL;
    const char *name = test_name("mid");
    RUN(0, "create", name, "u8", "64");
    const unsigned char v = 7;
    pid_t writer = util_spawn_mid_frame_writer(name, &v, 1, 64);
    double t0 = util_now_s();
    RUN(1, "export", name, util_test_path("mid.npy"));
    double took = util_now_s() - t0;
    CHECK(took >= 9.5 && took < 10 + 2 * UTIL_PROMPT_S);
    char pid[32];
    snprintf(pid, sizeof pid, "pid %d", (int)writer);
    CHECK_ERROR_LINE(err, pid);
    CHECK_CONTAINS(err, "--timeout");
    CHECK(!file_exists(util_test_path("mid.npy")));
    CHECK_EQ_INT(util_dir_entries(util_test_dir()), 0);
    util_kill9(writer);
    CHECK_OK(shmap_unlink(name));
    util_clear(&out, &err);
}

TEST(io__fits_keywords_round_trip_exactly_and_a_repeated_name_keeps_its_last_value)
{
    need_fits();
    char *out = NULL, *err = NULL;
    const char *a = test_name("kw"), *b = test_name("back");
    RUN(0, "create", a, "u8", "2", "--keyword", "GAIN=0.30000000000000004", "--keyword",
        "TENTH=0.1", "--keyword", "MAXI=9223372036854775807", "--keyword",
        "MINI=-9223372036854775808", "--keyword", "TINY=2.5e-300", "--keyword",
        "QUOTE=\"it's / here\" / a 'comment'");
    RUN(0, "export", a, util_test_path("kw.fits"));
    RUN(0, "import", util_test_path("kw.fits"), b);
    RUN(0, "info", b);
    CHECK_KEYWORD(out, "GAIN", "0.30000000000000004");
    CHECK_KEYWORD(out, "TENTH", "0.1");
    CHECK_KEYWORD(out, "MAXI", "9223372036854775807");
    CHECK_KEYWORD(out, "MINI", "-9223372036854775808");
    CHECK_KEYWORD(out, "TINY", "2.5e-300");
    CHECK_KEYWORD(out, "QUOTE", "'it''s / here' / a 'comment'");
    CHECK_OK(shmap_unlink(b));
    CHECK_OK(shmap_unlink(a));
    /* Names over 8 characters are HIERARCH cards: their strings, up to the 71 characters
     * a keyword holds, come back whole, on CONTINUE cards when the card is full, and so
     * do their comments, up to the 39 characters a keyword holds. */
    static const int name_len[] = {9, 16, 23}, value_len[] = {44, 50, 58, 60, 68, 71};
    static const char c39[] = "comment of 39 characters, the most kept";
    enum { NV = sizeof value_len / sizeof value_len[0] };
    for (size_t i = 0; i < sizeof name_len / sizeof name_len[0]; i++) {
        char key[NV][192], names[NV][32], values[NV][80];
        for (size_t x = 0; x < NV; x++) {
            snprintf(names[x], sizeof names[x], "%.*s%c", name_len[i] - 1,
                     "DETECTOR_SERIAL_NUMBERS", (char)('A' + x));
            memset(values[x], 'v', (size_t)value_len[x]);
            values[x][value_len[x]] = '\0';
            snprintf(key[x], sizeof key[x], "%.31s='%.79s' / %s", names[x], values[x], c39);
        }
        RUN(0, "create", a, "u8", "1", "--keyword", key[0], "--keyword", key[1], "--keyword",
            key[2], "--keyword", key[3], "--keyword", key[4], "--keyword", key[5]);
        RUN(0, "export", a, util_test_path("hier.fits"), "--force");
        CHECK_STR(err, "");
        RUN(0, "import", util_test_path("hier.fits"), b);
        CHECK_STR(err, "");
        RUN(0, "info", b);
        for (size_t x = 0; x < NV; x++) {
            char want[160];
            snprintf(want, sizeof want, "'%.79s' / %s", values[x], c39);
            CHECK_KEYWORD(out, names[x], want);
        }
        CHECK_OK(shmap_unlink(b));
        CHECK_OK(shmap_unlink(a));
    }
    /* A long name that starts with HIERARCH itself is no prefix and another name. */
    RUN(0, "create", a, "u8", "1", "--keyword", "HIERARCHA='abc' / c", "--keyword",
        "HIERARCH1X=7");
    RUN(0, "export", a, util_test_path("hh.fits"));
    RUN(0, "import", util_test_path("hh.fits"), b);
    CHECK_STR(err, "");
    RUN(0, "info", b);
    CHECK_KEYWORD(out, "HIERARCHA", "'abc' / c");
    CHECK_KEYWORD(out, "HIERARCH1X", "7");
    CHECK_OK(shmap_unlink(b));
    CHECK_OK(shmap_unlink(a));
    /* A comment that does not fit after its value is not cut: a string continues on a
     * CONTINUE card that carries it; a number cannot, and keeps what fits, with a
     * warning. */
    char s60[128];
    snprintf(s60, sizeof s60, "S60='%060d' / %s", 6, c39);
    RUN(0, "create", a, "u8", "1", "--keyword", s60, "--keyword",
        "NUMBER_WITH_A_LONG_NAME=123456789 / comment of 39 characters, the most kept");
    RUN(0, "export", a, util_test_path("long.fits"));
    CHECK_ERROR_LINE(err, "warning: keyword NUMBER_WITH_A_LONG_NAME: comment cut to 33 "
                          "characters to fit its card");
    RUN(0, "import", util_test_path("long.fits"), b);
    CHECK_STR(err, "");
    RUN(0, "info", b);
    CHECK_KEYWORD(out, "S60", "'000000000000000000000000000000000000000000000000000000000006' "
                              "/ comment of 39 characters, the most kept");
    CHECK_KEYWORD(out, "NUMBER_WITH_A_LONG_NAME", "123456789 / comment of 39 characters, the mos");
    CHECK_OK(shmap_unlink(b));
    CHECK_OK(shmap_unlink(a));
    /* A string on CONTINUE cards has its comment there: it comes back, from a file of
     * shmap's as from one by hand (where each card may have a part, joined). */
    char obj[128];
    snprintf(obj, sizeof obj, "OBJNAME='%070d' / the target", 7);
    RUN(0, "create", a, "u8", "1", "--keyword", obj);
    RUN(0, "export", a, util_test_path("cont.fits"));
    RUN(0, "import", util_test_path("cont.fits"), b);
    RUN(0, "info", b);
    CHECK_KEYWORD(out, "OBJNAME", "'0000000000000000000000000000000000000000000000000000000000000"
                                  "000000007' / the target");
    CHECK_OK(shmap_unlink(b));
    CHECK_OK(shmap_unlink(a));
    static const char *const continued[] = {
        "SIMPLE  =                    T", "BITPIX  =                    8",
        "NAXIS   =                    1", "NAXIS1  =                    1",
        "LS1     = 'abc&' / first",       "CONTINUE  'def' / second",
        "LS2     = 'abc&'",               "CONTINUE  'def&' / middle",
        "CONTINUE  'ghi'",                "SHORT   = 'text' /   spaced",
    };
    write_fits(util_test_path("cont.fits"), continued, 10, (const unsigned char *)"x", 1);
    RUN(0, "import", util_test_path("cont.fits"), b);
    RUN(0, "info", b);
    CHECK_KEYWORD(out, "LS1", "'abcdef' / first second");
    CHECK_KEYWORD(out, "LS2", "'abcdefghi' / middle");
    CHECK_KEYWORD(out, "SHORT", "'text' /   spaced");
    CHECK_OK(shmap_unlink(b));
    /* FITS allows a name twice: the last card wins, strings as numbers. */
    static const char *const cards[] = {
        "SIMPLE  =                    T", "BITPIX  =                    8",
        "NAXIS   =                    1", "NAXIS1  =                    1",
        "DUP     = 'first'",              "NUM     =                    1",
        "DUP     = 'second'",             "NUM     =                    2",
        "DUP     = 'third'",
    };
    write_fits(util_test_path("dup.fits"), cards, 9, (const unsigned char *)"x", 1);
    RUN(0, "import", util_test_path("dup.fits"), b);
    RUN(0, "info", b);
    CHECK_KEYWORD(out, "DUP", "'third'");
    CHECK_KEYWORD(out, "NUM", "2");
    CHECK_OK(shmap_unlink(b));
    util_clear(&out, &err);
    /* Text FITS cannot hold (UTF-8 here) is written as '?', with a warning each, as
     * import reads it: not blanked unsaid. */
    RUN(0, "create", a, "u8", "1", "--keyword", "U=\xc3\xa9t\xc3\xa9", "--keyword",
        "A=1 / \xc3\xa9 comment");
    util_clear(&out, &err);
    RUN(0, "export", a, util_test_path("utf8.fits"));
    CHECK_CONTAINS(err, "warning: keyword U: 4 bytes outside printable ASCII, which FITS does "
                        "not allow, written as '?'\n");
    CHECK_CONTAINS(err, "warning: keyword A: 2 bytes outside printable ASCII");
    util_clear(&out, &err);
    RUN(0, "import", util_test_path("utf8.fits"), b);
    CHECK(!strstr(err, "warning"));
    RUN(0, "info", b);
    CHECK_KEYWORD(out, "U", "'?\?t?\?'");
    CHECK_KEYWORD(out, "A", "1 / ?\? comment");
    CHECK_OK(shmap_unlink(b));
    CHECK_OK(shmap_unlink(a));
    util_clear(&out, &err);
}

TEST(io__a_fits_header_with_hundreds_of_axes_is_refused_before_cfitsio_reads_it)
{
    need_fits();
    char *out = NULL, *err = NULL;
    /* CFITSIO 4.2 crashes on such a header; the standard allows NAXIS up to 999. */
    static char cards[204][81];
    const char *list[204];
    snprintf(cards[0], 81, "SIMPLE  =                    T");
    snprintf(cards[1], 81, "BITPIX  =                    8");
    snprintf(cards[2], 81, "NAXIS   =                  200");
    for (int i = 1; i <= 200; i++)
        snprintf(cards[2 + i], 81, "NAXIS%-3d=                    1", i);
    for (int i = 0; i < 203; i++)
        list[i] = cards[i];
    write_fits(util_test_path("axes.fits"), list, 203, (const unsigned char *)"x", 1);
    const char *name = test_name("axes");
    RUN(1, "import", util_test_path("axes.fits"), name);
    CHECK_ERROR_LINE(err, "HDU 1 has NAXIS = 200");
    CHECK(!util_shm_exists(name));
    util_clear(&out, &err);
}

/* One HDU by hand (header cards padded to 2880, then its data padded) into @p f. */
static void put_hdu(FILE *f, const char *const *cards, int ncards, const char *data,
                    size_t dlen)
{
    char block[2880];
    memset(block, ' ', sizeof block);
    CHECK(ncards < 36);
    for (int i = 0; i < ncards; i++)
        memcpy(block + 80 * i, cards[i], strlen(cards[i]));
    memcpy(block + 80 * ncards, "END", 3);
    CHECK(fwrite(block, 1, sizeof block, f) == sizeof block);
    if (dlen) {
        memset(block, 0, sizeof block);
        memcpy(block, data, dlen);
        CHECK(fwrite(block, 1, sizeof block, f) == sizeof block);
    }
}

static const char *const empty_primary[] = {
    "SIMPLE  =                    T", "BITPIX  =                    8",
    "NAXIS   =                    0", "EXTEND  =                    T",
};

TEST(io__a_fits_file_is_read_by_cfitsio_only_as_far_as_its_headers_were_checked)
{
    need_fits();
    char *out = NULL, *err = NULL;
    /* 10000 empty extensions, then one with NAXIS = 120: CFITSIO crashed on it, since the
     * check of the axes stopped at 10000 HDUs and let CFITSIO count them all. */
    static const char *const empty_ext[] = {
        "XTENSION= 'IMAGE   '", "BITPIX  =                    8",
        "NAXIS   =                    0", "PCOUNT  =                    0",
        "GCOUNT  =                    1",
    };
    static char axes[124][81];
    const char *big[124];
    snprintf(axes[0], 81, "XTENSION= 'IMAGE   '");
    snprintf(axes[1], 81, "BITPIX  =                    8");
    snprintf(axes[2], 81, "NAXIS   =                  120");
    for (int i = 1; i <= 120; i++)
        snprintf(axes[2 + i], 81, "NAXIS%-3d=                    1", i);
    for (int i = 0; i < 123; i++)
        big[i] = axes[i];
    const char *path = util_test_path("many.fits");
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    put_hdu(f, empty_primary, 4, NULL, 0);
    for (int i = 0; i < 10000; i++)
        put_hdu(f, empty_ext, 5, NULL, 0);
    /* 123 cards take 4 blocks: written here, not by put_hdu(). */
    char block[4 * 2880];
    memset(block, ' ', sizeof block);
    for (int i = 0; i < 123; i++)
        memcpy(block + 80 * i, big[i], strlen(big[i]));
    memcpy(block + 80 * 123, "END", 3);
    CHECK(fwrite(block, 1, sizeof block, f) == sizeof block);
    memset(block, 0, 2880);
    CHECK(fwrite(block, 1, 2880, f) == 2880);
    CHECK(fclose(f) == 0);
    const char *name = test_name("many");
    RUN(1, "import", path, name);
    CHECK_ERROR_LINE(err, "HDU 10002 has NAXIS = 120");
    CHECK(!util_shm_exists(name));
    unlink(path);

    /* A header CFITSIO cannot read (NAXIS1 = 2.E0) before the image: said so, where the
     * command said "no image". */
    static const char *const bad[] = {
        "XTENSION= 'IMAGE   '", "BITPIX  =                    8",
        "NAXIS   =                    1", "NAXIS1  =                 2.E0",
        "PCOUNT  =                    0", "GCOUNT  =                    1",
    };
    static const char *const img[] = {
        "XTENSION= 'IMAGE   '", "BITPIX  =                    8",
        "NAXIS   =                    1", "NAXIS1  =                    3",
        "PCOUNT  =                    0", "GCOUNT  =                    1",
    };
    f = fopen(path, "w");
    CHECK(f != NULL);
    put_hdu(f, empty_primary, 4, NULL, 0);
    put_hdu(f, bad, 6, "ab", 2);
    put_hdu(f, img, 6, "abc", 3);
    CHECK(fclose(f) == 0);
    RUN(1, "import", path, name);
    CHECK_ERROR_LINE(err, "many.fits: HDU 2 could not be read: ");
    CHECK(!util_shm_exists(name));
    util_clear(&out, &err);
}

TEST(io__a_fits_primary_hdu_with_an_empty_axis_has_no_image_and_the_extension_is_read)
{
    need_fits();
    char *out = NULL, *err = NULL;
    static const char *const zero_axis[] = {
        "SIMPLE  =                    T", "BITPIX  =                    8",
        "NAXIS   =                    2", "NAXIS1  =                    0",
        "NAXIS2  =                    5", "EXTEND  =                    T",
    };
    static const char *const img[] = {
        "XTENSION= 'IMAGE   '", "BITPIX  =                    8",
        "NAXIS   =                    1", "NAXIS1  =                    3",
        "PCOUNT  =                    0", "GCOUNT  =                    1",
    };
    const char *path = util_test_path("zero.fits");
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    put_hdu(f, zero_axis, 6, NULL, 0);
    put_hdu(f, img, 6, "abc", 3);
    CHECK(fclose(f) == 0);
    const char *name = test_name("zero");
    RUN(0, "import", path, name);
    RUN(0, "cat", name);
    CHECK_STR(out, "97 98 99\n");
    CHECK_OK(shmap_unlink(name));
    /* With no extension, that empty image is what there is: refused, saying why. */
    f = fopen(path, "w");
    CHECK(f != NULL);
    put_hdu(f, zero_axis, 6, NULL, 0);
    CHECK(fclose(f) == 0);
    RUN(1, "import", path, name);
    CHECK_ERROR_LINE(err, "image is empty (NAXIS1 = 0)");
    CHECK(!util_shm_exists(name));
    util_clear(&out, &err);
}

TEST(io__a_fits_file_through_a_pipe_is_refused_with_the_reason)
{
    need_fits();
    char *out = NULL, *err = NULL;
    const char *a = test_name("p"), *b = test_name("b");
    RUN(0, "create", a, "i16", "3");
    RUN(0, "export", a, util_test_path("p.fits"));
    CHECK_EQ_INT(test_sh(&out, &err, "cat '%s' | '%s' import - %s", util_test_path("p.fits"),
                         test_shmap_bin(), b), 1);
    CHECK_ERROR_LINE(err, "save it to a file first");
    CHECK(!util_shm_exists(b));
    /* A file on standard input is read by its name there. */
    CHECK_EQ_INT(test_sh(&out, &err, "'%s' import - %s < '%s'", test_shmap_bin(), b,
                         util_test_path("p.fits")), 0);
    CHECK_OK(shmap_unlink(b));
    /* And FITS goes to standard output. */
    CHECK_EQ_INT(test_sh(&out, &err, "'%s' export %s - --format fits > '%s'",
                         test_shmap_bin(), a, util_test_path("o.fits")), 0);
    size_t len;
    unsigned char *f = util_read_file(util_test_path("o.fits"), &len);
    CHECK(len == 2 * 2880 && memcmp(f, "SIMPLE  =", 9) == 0);
    free(f);
    RUN(0, "import", util_test_path("o.fits"), b);
    CHECK_OK(shmap_unlink(b));
    CHECK_OK(shmap_unlink(a));
    util_clear(&out, &err);
}

/*
 * A full file system, here a 1 MiB tmpfs: an export of 2 MiB, to .npy or FITS, fails in
 * one line that says so and leaves nothing, neither FILE nor a hidden file; an import into
 * a file segment there, from a pipe whose header announces 2 MiB, is refused before any
 * space is taken, and leaves nothing.
 */
static void export_import_on_a_full_file_system(const char *mnt)
{
    char *out = NULL, *err = NULL, file[600], dst[600];
    const char *src = test_name("big");
    RUN(0, "create", src, "f32", "524288");
    snprintf(file, sizeof file, "%s/big.npy", mnt);
    RUN(1, "export", src, file);
    CHECK_ERROR_LINE(err, "No space left on device");
    CHECK_EQ_INT(util_dir_entries(mnt), 0);
    int fits = util_fits_built();
    if (fits) {
        snprintf(dst, sizeof dst, "%s/big.fits", mnt);
        RUN(1, "export", src, dst);
        CHECK_ERROR_LINE(err, "big.fits: No space left on device");
        CHECK_EQ_INT(util_dir_entries(mnt), 0);
    }

    snprintf(dst, sizeof dst, "file:%s/big.shm", mnt);
    CHECK_EQ_INT(test_sh(&out, &err, "%s export %s - --format npy 2>/dev/null | %s import - %s",
                         test_shmap_bin(), src, test_shmap_bin(), dst), 1);
    CHECK_ERROR_LINE(err, "not enough space");
    CHECK_EQ_INT(util_dir_entries(mnt), 0);

    /* What fits goes in and comes out whole. */
    const char *small = test_name("small");
    RUN(0, "create", small, "u8", "1000");
    RUN(0, "fill", small, "ramp");
    RUN(0, "export", small, file);
    snprintf(dst, sizeof dst, "file:%s/small.shm", mnt);
    RUN(0, "import", file, dst);
    RUN(0, "cat", dst, "--slice", "997:1000");
    CHECK_STR(out, "229 230 231\n");
    RUN(0, "rm", dst, src, small);
    CHECK_OK(unlink(file));
    util_clear(&out, &err);
}

TEST(io__a_full_file_system_fails_export_and_import_in_one_line_and_leaves_nothing)
{
    util_with_tmpfs(export_import_on_a_full_file_system, "1m");
}

/* Blocks in use on the file system at @p path. */
static unsigned long long used_blocks(const char *path)
{
    struct statvfs sv;
    CHECK(statvfs(path, &sv) == 0);
    return (unsigned long long)(sv.f_blocks - sv.f_bfree);
}

/*
 * SIGTERM or SIGINT while a large export writes its file (or names it): FILE is either
 * whole or absent, and nothing else stays. Each signal is sent once the file system holds
 * part of the file, whatever its name (an unnamed file has none), after a delay that
 * varies from none to more than the write; a last export, not signalled, must give the
 * whole file.
 */
static void export_interrupted(const char *mnt)
{
    char *out = NULL, *err = NULL, file[600];
    const char *src = test_name("sig");
    RUN(0, "create", src, "f64", "16777216"); /* 128 MiB */
    snprintf(file, sizeof file, "%s/sig.npy", mnt);
    static const int delays_ms[] = {0, 2, 5, 10, 20, 40, 80, 500};
    int whole = 0, none = 0;
    for (int i = 0; i < 17; i++) {
        pid_t pid = util_spawn();
        if (pid == 0) {
            execl(test_shmap_bin(), "shmap", "export", src, file, (char *)NULL);
            _exit(127);
        }
        double give_up = util_now_s() + 30;
        while (used_blocks(mnt) == 0 && util_now_s() < give_up)
            util_sleep_ms(1);
        CHECK(used_blocks(mnt) > 0);
        util_sleep_ms(delays_ms[i % 8]);
        if (i < 16) /* the last one is left to finish */
            kill(pid, i % 2 ? SIGINT : SIGTERM);
        int status = test_wait(pid);
        struct stat st;
        if (stat(file, &st) == 0) {
            /* It had put FILE in place: it may have exited, or died of the signal since. */
            CHECK(status == 0 || (i < 16 && status == 128 + (i % 2 ? SIGINT : SIGTERM)));
            CHECK_EQ_INT(st.st_size, 128 + 16777216 * 8);
            CHECK_EQ_INT(util_dir_entries(mnt), 1);
            CHECK_OK(unlink(file));
            whole++;
        } else {
            CHECK(status != 0);
            CHECK_EQ_INT(util_dir_entries(mnt), 0);
            none++;
        }
    }
    CHECK(none > 0 && whole > 0);
    RUN(0, "rm", src);
    util_clear(&out, &err);
}

TEST(io__an_export_stopped_by_a_signal_leaves_no_file_or_a_whole_one)
{
    util_with_tmpfs(export_interrupted, "512m");
}

/* How many hidden objects of creations by `pid` are in /dev/shm, or beside `file` when it
 * is not NULL (".shmap-tmp-PID-N"); with `remove`, they are removed. */
static int hidden_in(pid_t pid, const char *file, int remove)
{
    char dir[600], prefix[64];
    if (!file)
        return remove ? util_remove_hidden_of(pid) : util_count_hidden_of(pid);
    snprintf(dir, sizeof dir, "%.*s", (int)(strrchr(file, '/') - file), file);
    snprintf(prefix, sizeof prefix, ".shmap-tmp-%d-", (int)pid);
    DIR *d = opendir(dir);
    CHECK(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
            continue;
        n++;
        if (remove)
            CHECK(unlinkat(dirfd(d), e->d_name, 0) == 0);
    }
    closedir(d);
    return n;
}

static int hidden_of(pid_t pid, const char *file)
{
    return hidden_in(pid, file, 0);
}

/*
 * An import blocked reading a FIFO: the FIFO is held open both ways here, so the import
 * finds a writer, and only the .npy header and part of the data are written into it.
 * Returns the import's pid; *fd is the FIFO, for the rest of the data. `file`: the path
 * of a file segment, NULL for a POSIX one.
 */
static pid_t spawn_blocked_import(const char *fifo, const char *name, const char *file,
                                  int ignore_hup, int *fd)
{
    unlink(fifo);
    CHECK(mkfifo(fifo, 0600) == 0);
    *fd = open(fifo, O_RDWR | O_CLOEXEC);
    CHECK(*fd >= 0);
    const char hdr[] = "{'descr': '<u4', 'fortran_order': False, 'shape': (256,), }";
    write_npy(util_test_path("blocked.npy"), hdr, 1, NULL, 0);
    size_t len;
    unsigned char *h = util_read_file(util_test_path("blocked.npy"), &len);
    CHECK(write(*fd, h, len) == (ssize_t)len);
    free(h);
    uint32_t first[100] = {0};
    CHECK(write(*fd, first, sizeof first) == (ssize_t)sizeof first);
    pid_t pid = util_spawn();
    if (pid == 0) {
        if (ignore_hup)
            signal(SIGHUP, SIG_IGN);
        signal(SIGPIPE, SIG_DFL); /* as in a terminal: the runner ignores it */
        execl(test_shmap_bin(), "shmap", "import", fifo, name, (char *)NULL);
        _exit(127);
    }
    /* Asleep in its read once the segment exists (it is made before the data is read),
     * under its hidden name until it is complete: in /dev/shm, or beside a file segment. */
    double give_up = util_now_s() + 30;
    while (hidden_of(pid, file) == 0 && util_now_s() < give_up)
        util_sleep_ms(1);
    CHECK_EQ_INT(hidden_of(pid, file), 1);
    CHECK(file ? !file_exists(file) : !util_shm_exists(name));
    CHECK(util_wait_asleep(pid));
    return pid;
}

/*
 * A signal ends an import waiting for its data and takes the half-made segment away, a
 * file segment's file too; a signal the user set to be ignored (HUP under nohup) stays
 * ignored, and the import completes.
 */
TEST(io__a_signal_stops_an_import_and_takes_its_segment_away_unless_ignored)
{
    char fifo[600], file[620], file_path[600];
    snprintf(fifo, sizeof fifo, "%s", util_test_path("slow")); /* its buffers are reused */
    snprintf(file_path, sizeof file_path, "%s", util_test_path("slow.shm"));
    snprintf(file, sizeof file, "file:%s", file_path);
    const char *name = test_name("slow");
    int fd;
    pid_t pid = spawn_blocked_import(fifo, name, NULL, 0, &fd);
    kill(pid, SIGTERM);
    CHECK_EQ_INT(test_wait(pid), 128 + SIGTERM);
    CHECK(!util_shm_exists(name));
    close(fd);

    pid = spawn_blocked_import(fifo, file, file_path, 0, &fd);
    kill(pid, SIGINT);
    CHECK_EQ_INT(test_wait(pid), 128 + SIGINT);
    CHECK(!file_exists(file_path));
    close(fd);

    /* SIGPIPE as well (stderr a pipe whose reader went, when a warning is written), as
     * export takes it. */
    pid = spawn_blocked_import(fifo, name, NULL, 0, &fd);
    kill(pid, SIGPIPE);
    CHECK_EQ_INT(test_wait(pid), 128 + SIGPIPE);
    CHECK(!util_shm_exists(name));
    CHECK_EQ_INT(util_count_hidden_of(pid), 0);
    close(fd);

    /* A kill -9, which no clean-up can follow: nothing half imported under the name, only
     * the hidden object, which gc removes from /dev/shm. */
    pid = spawn_blocked_import(fifo, file, file_path, 0, &fd);
    util_kill9(pid);
    CHECK(!file_exists(file_path));
    CHECK_EQ_INT(hidden_in(pid, file_path, 1), 1);
    close(fd);
    pid = spawn_blocked_import(fifo, name, NULL, 0, &fd);
    util_kill9(pid);
    CHECK(!util_shm_exists(name));
    char hidden[64];
    snprintf(hidden, sizeof hidden, ".shmap-tmp-%d-", (int)pid);
    CHECK_OK(shmap_gc(hidden, 0, NULL, NULL));
    CHECK_EQ_INT(util_count_hidden_of(pid), 0);
    close(fd);

    pid = spawn_blocked_import(fifo, name, NULL, 1, &fd);
    kill(pid, SIGHUP);
    uint32_t rest[156] = {0};
    rest[155] = 7;
    CHECK(write(fd, rest, sizeof rest) == (ssize_t)sizeof rest);
    CHECK_EQ_INT(test_wait(pid), 0);
    close(fd);
    char *c = cat_of(name);
    CHECK(strlen(c) > 2 && strcmp(c + strlen(c) - 3, " 7\n") == 0);
    free(c);
    CHECK_OK(shmap_unlink(name));
}

/* A child that writes frames into `name` for ever, each one all k for frame k, without
 * taking the lock, 0.2 ms apart (a camera at 5 kHz). */
static pid_t spawn_hammering_writer(const char *name)
{
    pid_t pid = util_spawn();
    if (pid == 0) {
        shmap_seg *w = NULL;
        if (shmap_open(&w, name, SHMAP_RDWR) < 0)
            _exit(20);
        size_t n = shmap_frame_size(w) / sizeof(uint32_t);
        for (uint32_t k = 1;; k++) {
            uint32_t *v;
            if (shmap_write_begin(w, (void **)&v) < 0)
                _exit(21);
            for (size_t i = 0; i < n; i++)
                v[i] = k;
            shmap_publish(w);
            nanosleep(&(struct timespec){0, 200000}, NULL);
        }
    }
    return pid;
}

/*
 * Writers that never lock: an export against one publishing all the time still gives one
 * whole frame; one killed in the middle of a frame gets a warning naming it.
 */
TEST(io__export_copies_a_whole_frame_from_writers_that_do_not_lock)
{
    char *out = NULL, *err = NULL;
    const char *name = test_name("hammer");
    RUN(0, "create", name, "u32", "4096");
    pid_t w = spawn_hammering_writer(name);
    RUN(0, "export", name, util_test_path("hammer.raw"));
    util_kill9(w);
    size_t len;
    uint32_t *v = (uint32_t *)util_read_file(util_test_path("hammer.raw"), &len);
    CHECK_EQ_INT(len, 4096 * 4);
    for (size_t i = 1; i < 4096; i++)
        if (v[i] != v[0])
            test_fail(__FILE__, __LINE__, "torn copy: element %zu is %u, element 0 %u", i,
                      v[i], v[0]);
    free(v);

    uint32_t seven = 7;
    w = util_spawn_mid_frame_writer(name, &seven, sizeof seven, 4096);
    util_kill9(w);
    char want[128];
    snprintf(want, sizeof want, "warning: the writer (pid %d) died while writing", (int)w);
    RUN(0, "export", name, util_test_path("dead.raw"));
    CHECK_ERROR_LINE(err, want);
    RUN(0, "rm", name);
    util_clear(&out, &err);
}

/* As nobody, who may read the segment but not write it, so cannot lock it. */
static void export_as_reader(const char *name)
{
    char *out = NULL, *err = NULL;
    RUN(0, "export", name, "-", "--format", "raw");
    CHECK_EQ_INT(strlen(out), 3);
    CHECK_STR(out, "abc");
    util_clear(&out, &err);
}

TEST(io__a_user_who_may_only_read_exports_a_checked_copy)
{
    util_need_root();
    char *out = NULL, *err = NULL;
    const char *name = test_name("ronly");
    RUN(0, "create", name, "u8", "3", "--mode", "0644");
    RUN(0, "set", name, "0", "97");
    RUN(0, "set", name, "1", "98");
    RUN(0, "set", name, "2", "99");
    util_as_nobody(export_as_reader, name);
    RUN(0, "rm", name);
    util_clear(&out, &err);
}

/* Import reads the file rather than mapping it: any --offset will do. */
TEST(io__raw_import_takes_an_offset_that_misaligns_the_type)
{
    char *out = NULL, *err = NULL;
    const unsigned char bytes[7] = {0xee, 0xee, 0xee, 1, 0, 2, 0};
    util_write_file(util_test_path("odd.raw"), bytes, sizeof bytes);
    const char *name = test_name("odd");
    RUN(0, "import", util_test_path("odd.raw"), name, "--dtype", "u2", "--shape", "2", "--offset",
        "3");
    RUN(0, "cat", name);
    CHECK_STR(out, "1 2\n");
    RUN(0, "rm", name);
    util_clear(&out, &err);
}

/* Big-endian 64-bit integers, as a FITS data unit holds them. */
static void put_be64(unsigned char *p, int64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)((uint64_t)v >> (56 - 8 * i));
}

TEST(io__fits_64_bit_integers_with_scaling_import_as_physical_f64_values)
{
    need_fits();
    char *out = NULL, *err = NULL;
    /* CFITSIO calls every BITPIX 64 image int64, whatever its scaling: read so, 0.5 * i
     * lost its fractions and BZERO 1 turned 2^63 - 1 into INT64_MIN. */
    static const struct {
        const char *scaling[2];
        int64_t stored[4];
        const char *dtype, *values;
    } cases[] = {
        {{"BSCALE  =                  0.5", NULL}, {0, 1, 2, 3}, "f64", "0 0.5 1 1.5\n"},
        {{"BZERO   =                    1", NULL},
         {-3, 4, INT64_MAX - 1, 5},
         "f64",
         "-2 5 9.223372036854776e+18 6\n"},
        {{"BZERO   =  9223372036854775808.0", "BSCALE  =                    2"},
         {INT64_MIN, -1, 0, 1},
         "f64",
         "-9.223372036854776e+18 9.223372036854776e+18 9.223372036854776e+18 "
         "9.223372036854776e+18\n"},
        {{"BZERO   =                 -2.5", "BLANK   =                   -7"},
         {0, -7, 10, 7},
         "f64",
         "-2.5 nan 7.5 4.5\n"},
        /* The two without scaling: signed, and unsigned by BZERO 2^63. */
        {{"BZERO   =                    0", "BSCALE  =                    1"},
         {INT64_MIN, -1, 0, INT64_MAX},
         "i64",
         "-9223372036854775808 -1 0 9223372036854775807\n"},
        {{"BZERO   =  9223372036854775808", NULL},
         {INT64_MIN, -1, 0, INT64_MAX},
         "u64",
         "0 9223372036854775807 9223372036854775808 18446744073709551615\n"},
    };
    const char *name = test_name("b64");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *cards[6] = {"SIMPLE  =                    T", "BITPIX  =                   64",
                                "NAXIS   =                    1", "NAXIS1  =                    4"};
        int n = 4;
        for (int k = 0; k < 2 && cases[i].scaling[k]; k++)
            cards[n++] = cases[i].scaling[k];
        unsigned char data[32];
        for (int k = 0; k < 4; k++)
            put_be64(data + 8 * k, cases[i].stored[k]);
        write_fits(util_test_path("b64.fits"), cards, n, data, sizeof data);
        RUN(0, "import", util_test_path("b64.fits"), name);
        CHECK_STR(err, "");
        char dtype[32];
        info_field(name, "dtype", dtype, sizeof dtype);
        CHECK_STR(dtype, cases[i].dtype);
        char *c = cat_of(name);
        if (strcmp(c, cases[i].values) != 0)
            test_fail(__FILE__, __LINE__, "case %zu: cat gives %s, not %s", i, c,
                      cases[i].values);
        free(c);
        RUN(0, "info", name);
        CHECK(strstr(out, "BLANK") == NULL && strstr(out, "BZERO") == NULL);
        CHECK_OK(shmap_unlink(name));
    }
    util_clear(&out, &err);
}

TEST(io__a_tile_compressed_fits_image_keeps_user_keywords_named_like_its_structure)
{
    need_fits();
    /* A GZIP_1 tile-compressed image (a binary table of gzip streams, a row per tile),
     * made by hand: Python's gzip writes the streams. */
    run_python("import gzip, numpy as np\n"
               "def card(s): return s.ljust(80).encode()\n"
               "def hdu(cards, data=b''):\n"
               "    h = b''.join(card(c) for c in cards + ['END']); h += b' ' * (-len(h) % 2880)\n"
               "    return h + data + b'\\0' * (-len(data) % 2880)\n"
               "def kv(k, v): return f'{k:<8}= {v:>20}'\n"
               "img = (np.arange(12).reshape(3, 4) * 100 - 300).astype('>i2')\n"
               "tiles = [gzip.compress(row.tobytes()) for row in img]\n"
               "rows, off = b'', 0\n"
               "for t in tiles:\n"
               "    rows += np.array([len(t), off], dtype='>i4').tobytes(); off += len(t)\n"
               "heap = b''.join(tiles)\n"
               "cards = [kv('XTENSION', \"'BINTABLE'\"), kv('BITPIX', 8), kv('NAXIS', 2),\n"
               "         kv('NAXIS1', 8), kv('NAXIS2', 3), kv('PCOUNT', len(heap)),\n"
               "         kv('GCOUNT', 1), kv('TFIELDS', 1), kv('TTYPE1', \"'COMPRESSED_DATA'\"),\n"
               "         kv('TFORM1', \"'1PB(%d)'\" % max(map(len, tiles))), kv('ZIMAGE', 'T'),\n"
               "         kv('ZSIMPLE', 'T'), kv('ZBITPIX', 16), kv('ZNAXIS', 2),\n"
               "         kv('ZNAXIS1', 4), kv('ZNAXIS2', 3), kv('ZTILE1', 4), kv('ZTILE2', 1),\n"
               "         kv('ZCMPTYPE', \"'GZIP_1  '\"),\n"
               "         kv('ZENITH', 30.5) + ' / zenith distance, deg',\n"
               "         kv('ZD', 12) + ' / zenith distance', kv('ZTILE', 1),\n"
               "         kv('TTYPEX', \"'x'\"), kv('TFORMAT', 'T'), kv('TUNIT1A', 2),\n"
               "         kv('EXPTIME', 2.5)]\n"
               "prim = hdu([kv('SIMPLE', 'T'), kv('BITPIX', 8), kv('NAXIS', 0),\n"
               "            kv('EXTEND', 'T')])\n"
               "open('tiled.fits', 'wb').write(prim + hdu(cards, rows + heap))\n");
    char *out = NULL, *err = NULL;
    const char *name = test_name("tiled");
    RUN(0, "import", util_test_path("tiled.fits"), name);
    CHECK_STR(err, "");
    RUN(0, "cat", name);
    CHECK_STR(out, "-300 -200 -100 0\n100 200 300 400\n500 600 700 800\n");
    RUN(0, "info", name);
    CHECK_CONTAINS(out, "keywords:        7 of 32 slots");
    CHECK_KEYWORD(out, "ZENITH", "30.5 / zenith distance, deg");
    CHECK_KEYWORD(out, "ZD", "12 / zenith distance");
    CHECK_KEYWORD(out, "ZTILE", "1");
    CHECK_KEYWORD(out, "TTYPEX", "'x'");
    CHECK_KEYWORD(out, "TFORMAT", "T");
    CHECK_KEYWORD(out, "TUNIT1A", "2");
    CHECK_KEYWORD(out, "EXPTIME", "2.5");
    CHECK_OK(shmap_unlink(name));
    util_clear(&out, &err);
}

TEST(io__fits_cards_whose_value_is_no_number_are_left_out_with_a_warning)
{
    need_fits();
    char *out = NULL, *err = NULL;
    /* CFITSIO calls these numbers; they came in as 0, 0 and inf (which export then could
     * not write). */
    static const char *const cards[] = {
        "SIMPLE  =                    T", "BITPIX  =                    8",
        "NAXIS   =                    1", "NAXIS1  =                    1",
        "STRNOQ  = abc / unquoted",        "HEXV    = 0x10",
        "BIGEXP  = 1E400",                 "NANV    = nan",
        "HALF    = 1E",                    "GOOD    = 1.5D+03 / D exponent",
        "PLUS    = +5",                    "BIGINT  = 123456789012345678901234",
    };
    write_fits(util_test_path("bad.fits"), cards, 12, (const unsigned char *)"x", 1);
    const char *name = test_name("bad");
    RUN(0, "import", util_test_path("bad.fits"), name);
    static const char *const left_out[][2] = {
        {"STRNOQ", "abc"}, {"HEXV", "0x10"}, {"BIGEXP", "1E400"}, {"NANV", "nan"},
        {"HALF", "1E"},
    };
    for (size_t i = 0; i < sizeof left_out / sizeof left_out[0]; i++) {
        char want[160];
        snprintf(want, sizeof want, "bad.fits: warning: card '%s' left out: its value %s is "
                                    "no number a keyword holds\n", left_out[i][0],
                 left_out[i][1]);
        CHECK_CONTAINS(err, want);
    }
    RUN(0, "info", name);
    CHECK_CONTAINS(out, "keywords:        3 of 32 slots");
    CHECK_KEYWORD(out, "GOOD", "1500.0 / D exponent");
    CHECK_KEYWORD(out, "PLUS", "5");
    CHECK_KEYWORD(out, "BIGINT", "1.2345678901234569e+23");
    CHECK_OK(shmap_unlink(name));
    util_clear(&out, &err);
}

TEST(io__fits_integer_scaling_gives_an_integer_type_whose_blank_marks_the_same_pixels)
{
    need_fits();
    char *out = NULL, *err = NULL;
    /* Integral scaling of 8- and 16-bit data gives the smallest integer type that holds
     * the values (CFITSIO's equivalent type), and BLANK the value its pixels have there,
     * so that the export, unscaled in that type, still marks them. The unsigned offsets
     * export writes back alike keep BLANK as it is. */
    static const struct {
        const char *bitpix, *scaling[2], *file_blank;
        unsigned char data[8];
        size_t dlen;
        const char *dtype, *values, *blank;
    } cases[] = {
        {"BITPIX  =                    8",
         {"BZERO   =                    5", NULL},
         "3",
         {0, 1, 2, 3},
         4,
         "i16",
         "5 6 7 8\n",
         "8"},
        {"BITPIX  =                   16",
         {"BZERO   =                32768", "BSCALE  =                    2"},
         "1",
         {0, 0, 0, 1, 0, 2, 0, 3},
         8,
         "i32",
         "32768 32770 32772 32774\n",
         "32770"},
        {"BITPIX  =                   16",
         {"BZERO   =                32768", NULL},
         "-32768",
         {0x80, 0, 0x80, 1, 0x80, 2, 0x80, 3},
         8,
         "u16",
         "0 1 2 3\n",
         "-32768"},
    };
    const char *name = test_name("sc"), *back = test_name("back");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *cards[7] = {"SIMPLE  =                    T", cases[i].bitpix,
                                "NAXIS   =                    1",
                                "NAXIS1  =                    4"};
        int n = 4;
        for (int k = 0; k < 2 && cases[i].scaling[k]; k++)
            cards[n++] = cases[i].scaling[k];
        char blank[81];
        snprintf(blank, sizeof blank, "BLANK   = %20s", cases[i].file_blank);
        cards[n++] = blank;
        write_fits(util_test_path("sc.fits"), cards, n, cases[i].data, cases[i].dlen);
        RUN(0, "import", util_test_path("sc.fits"), name);
        CHECK_STR(err, "");
        char dtype[32];
        info_field(name, "dtype", dtype, sizeof dtype);
        CHECK_STR(dtype, cases[i].dtype);
        char *c = cat_of(name);
        CHECK_STR(c, cases[i].values);
        free(c);
        RUN(0, "info", name);
        CHECK_KEYWORD(out, "BLANK", cases[i].blank);
        /* Exported and imported again: the same type, values and BLANK. */
        RUN(0, "export", name, util_test_path("back.fits"), "--force");
        RUN(0, "import", util_test_path("back.fits"), back);
        info_field(back, "dtype", dtype, sizeof dtype);
        CHECK_STR(dtype, cases[i].dtype);
        c = cat_of(back);
        CHECK_STR(c, cases[i].values);
        free(c);
        RUN(0, "info", back);
        CHECK_KEYWORD(out, "BLANK", cases[i].blank);
        CHECK_OK(shmap_unlink(back));
        CHECK_OK(shmap_unlink(name));
    }
    util_clear(&out, &err);
}

TEST(io__export_says_when_the_previous_writer_died_holding_the_lock)
{
    char *out = NULL, *err = NULL;
    const char *name = test_name("died");
    RUN(0, "create", name, "u8", "4");
    pid_t holder = util_spawn_holder(name, SHMAP_LOCK_EXCLUSIVE);
    util_kill9(holder);
    RUN(0, "export", name, util_test_path("d.npy"));
    char want[128];
    snprintf(want, sizeof want, "warning: previous writer (pid %d) died while holding the "
                                "lock: data may be inconsistent", (int)holder);
    CHECK_ERROR_LINE(err, want);
    CHECK(file_exists(util_test_path("d.npy")));
    CHECK_OK(shmap_unlink(name));
    util_clear(&out, &err);
}

TEST(io__compressed_files_are_named_as_such)
{
    char *out = NULL, *err = NULL;
    const char *name = test_name("gz");
    RUN(0, "create", name, "u8", "3");
    /* Export compresses nothing: a name that says it does gets raw bytes, and a warning. */
    RUN(0, "export", name, util_test_path("a.fits.gz"));
    CHECK_ERROR_LINE(err, "a.fits.gz: warning: written as raw bytes, uncompressed");
    size_t len;
    unsigned char *b = util_read_file(util_test_path("a.fits.gz"), &len);
    CHECK_EQ_INT(len, 3);
    free(b);
    RUN(0, "export", name, util_test_path("b.gz"), "--format", "raw");
    CHECK_STR(err, "");
    /* Import reads no compressed file, and says what it is. */
    static const unsigned char gz[] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 3, 0, 0, 0, 0, 0,
                                       0, 0, 0, 0};
    util_write_file(util_test_path("c.npy.gz"), gz, sizeof gz);
    const char *back = test_name("back");
    RUN(1, "import", util_test_path("c.npy.gz"), back);
    CHECK_ERROR_LINE(err, "c.npy.gz: is gzip-compressed: decompress it first");
    CHECK(!util_shm_exists(back));
    CHECK_OK(shmap_unlink(name));
    util_clear(&out, &err);
}

/*
 * Export NAME to PATH (FITS, by its name) with the file size capped at 4 MB and the time
 * at 60 s: a writer that never stops is killed (SIGXFSZ or SIGKILL, exit over 128) before
 * it fills the disk. Memory is capped too, for a FITS built in memory. The exit status.
 */
/* The address-space cap is left out under AddressSanitizer, which reserves terabytes for its
 * shadow memory at start: the file-size cap and the time limit still bound the run. */
#ifdef UTIL_ASAN
#define MEMORY_CAP ""
#else
#define MEMORY_CAP "ulimit -v 1000000 && "
#endif

static int capped_export(char **out, char **err, const char *name, const char *path)
{
    return test_sh(out, err, "ulimit -f 8000 && " MEMORY_CAP "exec timeout -s KILL 60 "
                             "'%s' export '%s' '%s' --force",
                   test_shmap_bin(), name, path);
}

/* A segment of u8[1] named @p name with these keywords, made through the library. */
static void create_with_keywords(const char *name, const shmap_keyword *kw, unsigned int n)
{
    shmap_create_opts o = SHMAP_CREATE_OPTS_INIT;
    o.flags = SHMAP_CREATE_KEEP;
    o.keywords = kw;
    o.nkeywords = n;
    shmap_seg *seg;
    uint64_t one = 1;
    CHECK_OK(shmap_create(&seg, name, SHMAP_U8, 1, &one, &o));
    CHECK_OK(shmap_close(seg));
}

static void string_keyword(shmap_keyword *k, const char *name, const char *value,
                           const char *comment)
{
    memset(k, 0, sizeof *k);
    snprintf(k->name, sizeof k->name, "%s", name);
    k->type = SHMAP_KW_STRING;
    snprintf(k->s, sizeof k->s, "%s", value);
    snprintf(k->comment, sizeof k->comment, "%s", comment);
}

/* Segment @p name has string keyword @p want, its value as FITS keeps it: with no
 * trailing spaces (a value of spaces only is empty, as CFITSIO reads it). */
static void check_string_keyword(const char *name, const shmap_keyword *want, int line)
{
    shmap_seg *seg;
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDONLY));
    shmap_keyword got;
    int rc = shmap_keyword_get(seg, want->name, &got);
    CHECK_OK(shmap_close(seg));
    char value[sizeof want->s];
    snprintf(value, sizeof value, "%s", want->s);
    size_t n = strlen(value);
    while (n && value[n - 1] == ' ')
        value[--n] = '\0';
    if (rc < 0 || got.type != SHMAP_KW_STRING || strcmp(got.s, value) != 0 ||
        strcmp(got.comment, want->comment) != 0)
        test_fail(__FILE__, line, "keyword %s came back as '%s' / '%s' (rc %d), not '%s' / '%s'",
                  want->name, rc < 0 ? "" : got.s, rc < 0 ? "" : got.comment, rc, value,
                  want->comment);
}

TEST(io__fits_export_of_a_string_with_many_quotes_and_a_long_comment_ends)
{
    need_fits();
    char *out = NULL, *err = NULL;
    /* CFITSIO 4.2's fits_write_key_longstr() never returned for these (name length,
     * quotes, comment length), writing CONTINUE cards until the disk was full. */
    static const int cases[][3] = {{4, 45, 35}, {8, 50, 39}, {9, 35, 39}, {23, 30, 35},
                                   {23, 70, 39}, {9, 50, 39}, {23, 30, 39}, {16, 60, 39}};
    enum { N = sizeof cases / sizeof cases[0] };
    shmap_keyword kw[N];
    for (int i = 0; i < N; i++) {
        char name[32], value[80], comment[48];
        snprintf(name, sizeof name, "%c%.*s", 'A' + i, cases[i][0] - 1,
                 "BCDEFGHIJKLMNOPQRSTUVWXYZ");
        value[0] = 'x';
        memset(value + 1, '\'', (size_t)cases[i][1]);
        value[1 + cases[i][1]] = '\0';
        memset(comment, 'c', (size_t)cases[i][2]);
        comment[cases[i][2]] = '\0';
        string_keyword(&kw[i], name, value, comment);
    }
    const char *a = test_name("q"), *b = test_name("qb");
    create_with_keywords(a, kw, N);
    const char *path = util_test_path("q.fits");
    int rc = capped_export(&out, &err, a, path);
    if (rc != 0)
        test_fail(__FILE__, __LINE__, "capped export exited %d: %s", rc, err);
    struct stat st;
    CHECK(stat(path, &st) == 0 && st.st_size <= 4 * 2880);
    util_clear(&out, &err);
    /* Written to standard output, the file is built in memory: it ends too. */
    rc = test_sh(&out, &err, "ulimit -f 8000 && " MEMORY_CAP "timeout -s KILL 60 "
                             "'%s' export '%s' - --format fits | wc -c",
                 test_shmap_bin(), a);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(atol(out), st.st_size);
    util_clear(&out, &err);
    RUN(0, "import", path, b);
    CHECK_STR(err, "");
    for (int i = 0; i < N; i++)
        check_string_keyword(b, &kw[i], __LINE__);
    CHECK_OK(shmap_unlink(b));
    CHECK_OK(shmap_unlink(a));
    util_clear(&out, &err);
}

TEST(io__fits_a_long_string_that_ends_in_a_space_keeps_its_comment)
{
    need_fits();
    char *out = NULL, *err = NULL;
    /* Its last part was ' ', which readers take for the end of the string: the value
     * came back ending in '&', and the comment was lost. */
    char value[80];
    memset(value, 'a', 60);
    snprintf(value + 60, sizeof value - 60, " ");
    shmap_keyword kw[4];
    string_keyword(&kw[0], "OBJECT", value, "the target of this exposure");
    memset(value, 'b', 66);
    snprintf(value + 66, sizeof value - 66, "     ");
    string_keyword(&kw[1], "SPACES", value, "five of them");
    string_keyword(&kw[2], "BLANKS", "       ", "spaces only, and a comment");
    string_keyword(&kw[3], "HIERARCH_NAME_OF_23_CHR", "   ",
                   "comment of 39 characters, the most kept");
    const char *a = test_name("sp"), *b = test_name("spb");
    create_with_keywords(a, kw, 4);
    const char *path = util_test_path("sp.fits");
    CHECK_EQ_INT(capped_export(&out, &err, a, path), 0);
    CHECK_STR(err, "");
    RUN(0, "import", path, b);
    CHECK_STR(err, "");
    for (int i = 0; i < 4; i++)
        check_string_keyword(b, &kw[i], __LINE__);
    CHECK_OK(shmap_unlink(b));
    CHECK_OK(shmap_unlink(a));
    util_clear(&out, &err);
}

TEST(io__fits_strings_round_trip_through_cfitsio_for_names_quotes_and_comments_of_each_length)
{
    need_fits();
    char *out = NULL, *err = NULL;
    /* Names of 1 to 23 characters (HIERARCH past 8), values up to the 71 characters a
     * keyword holds, of characters that matter to a card (quotes, '&', '/', '=', spaces,
     * trailing ones too), comments up to 39 characters, some starting with a quote: each
     * comes back, through CFITSIO's reader, as it went, but for trailing spaces. */
    static const char alphabet[] = "abcXYZ '&/ =-''";
    static const int name_len[] = {1, 4, 8, 9, 16, 17, 23};
    enum { NN = sizeof name_len / sizeof name_len[0], PER = 120, N = NN * PER };
    static shmap_keyword kw[N];
    unsigned long long seed = 12345;
    for (int i = 0; i < N; i++) {
        int len = name_len[i / PER], j = i % PER;
        char name[32], value[80], comment[48];
        /* 1 character: 36 names; shorter names take the sweep's first values only. */
        snprintf(name, sizeof name, "K%0*d", len > 1 && len < 24 ? len - 1 : 1, j % 1000);
        if (len == 1) {
            if (j >= 26)
                continue;
            snprintf(name, sizeof name, "%c", 'A' + j);
        } else if (len <= 3 && j >= 100) {
            continue;
        }
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        int vlen = (int)((seed >> 33) % 72), clen = (int)((seed >> 20) % 40);
        int quotes = (int)((seed >> 12) % 4);
        for (int c = 0; c < vlen; c++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            /* Every few keywords, a value of quotes only past its first character. */
            value[c] = quotes == 0 && c ? '\'' : alphabet[(seed >> 33) % (sizeof alphabet - 1)];
        }
        value[vlen] = '\0';
        for (int c = 0; c < clen; c++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            comment[c] = alphabet[(seed >> 33) % (sizeof alphabet - 1)];
        }
        /* Leading spaces of a continued string's comment are not kept (the space after
         * its '/' cannot be told from them): none here. */
        if (clen && comment[0] == ' ')
            comment[0] = '-';
        if (clen && quotes == 1)
            comment[0] = '\'';
        /* A comment's trailing spaces are not kept by FITS: none here. */
        while (clen && comment[clen - 1] == ' ')
            clen--;
        comment[clen] = '\0';
        string_keyword(&kw[i], name, value, comment);
    }
    int n = 0;
    for (int i = 0; i < N; i++)
        if (kw[i].name[0])
            kw[n++] = kw[i];
    const char *a = test_name("sw"), *b = test_name("swb");
    create_with_keywords(a, kw, (unsigned int)n);
    const char *path = util_test_path("sweep.fits");
    int rc = capped_export(&out, &err, a, path);
    if (rc != 0)
        test_fail(__FILE__, __LINE__, "capped export exited %d: %s", rc, err);
    CHECK_STR(err, "");
    RUN(0, "import", path, b);
    CHECK_STR(err, "");
    for (int i = 0; i < n; i++)
        check_string_keyword(b, &kw[i], __LINE__);
    CHECK_OK(shmap_unlink(b));
    CHECK_OK(shmap_unlink(a));
    util_clear(&out, &err);
}

TEST(io__a_fits_primary_with_naxis1_0_and_no_groups_has_no_data_as_cfitsio_reads_it)
{
    need_fits();
    char *out = NULL, *err = NULL;
    /* NAXIS1 = 0 with no GROUPS = T is no random-groups array: 0 bytes of data, as
     * CFITSIO counts them, so the header walk checks the extension CFITSIO reads next
     * (with NAXIS = 120, which crashed CFITSIO when the walk looked elsewhere). */
    static const char *const primary[] = {
        "SIMPLE  =                    T", "BITPIX  =                    8",
        "NAXIS   =                    2", "NAXIS1  =                    0",
        "NAXIS2  =                 2880", "EXTEND  =                    T",
    };
    const char *path = util_test_path("groups.fits");
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    put_hdu(f, primary, 6, NULL, 0);
    char block[4 * 2880];
    memset(block, ' ', sizeof block);
    snprintf(block, 81, "XTENSION= 'IMAGE   '");
    snprintf(block + 80, 81, "BITPIX  =                    8");
    snprintf(block + 160, 81, "NAXIS   =                  120");
    for (int i = 1; i <= 120; i++)
        snprintf(block + 80 * (2 + i), 81, "NAXIS%-3d=                    1", i);
    memcpy(block + 80 * 123, "END", 3);
    for (size_t i = 0; i < sizeof block; i++)
        if (block[i] == '\0')
            block[i] = ' ';
    CHECK(fwrite(block, 1, sizeof block, f) == sizeof block);
    memset(block, 0, 2880);
    CHECK(fwrite(block, 1, 2880, f) == 2880);
    CHECK(fclose(f) == 0);
    const char *name = test_name("groups");
    RUN(1, "import", path, name);
    CHECK_ERROR_LINE(err, "HDU 2 has NAXIS = 120");
    CHECK(!util_shm_exists(name));
    util_clear(&out, &err);
}
