/*
 * The shmap command on every store: raw attach (info, cat, fill, set and watch with
 * --dtype TYPE --shape D,D,... [--offset BYTES] [--private]) on plain files, foreign POSIX
 * objects and System V segments, with the errors of each misuse; create --hugepages and
 * --prefault; the store and OS handle `info` shows.
 *
 * Files live in a directory of this test, which a guard process removes when the test
 * process ends, however it ends; System V segments under a key of this test, which the
 * runner removes if a test leaves one. Huge pages are
 * used only where the system has some reserved (tests skip, saying so, where it has none),
 * and a hugetlbfs mount only in a private mount namespace of a child (root only).
 */
#include <fcntl.h>
#include <sched.h>
#include <sys/ipc.h>
#include <sys/mount.h>
#include <sys/shm.h>
#include <sys/stat.h>

#include "../util.h"

/* A usage error: one line "shmap: ..." naming `needle`, ending with the pointer to the
 * command's help. */
#define CHECK_USAGE(err, needle)                                                              \
    do {                                                                                      \
        CHECK_ERROR_LINE(err, needle);                                                        \
        CHECK_CONTAINS(err, " (see shmap help ");                                             \
    } while (0)

static const char *file_arg(const char *path)
{
    static char buf[4][200];
    static int i;
    char *b = buf[i++ % 4];
    snprintf(b, sizeof buf[0], "file:%s", path);
    return b;
}


/* Read a whole (small) file into buf; returns its length. */
static size_t read_file(const char *path, void *buf, size_t size)
{
    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0);
    ssize_t n = read(fd, buf, size);
    CHECK(n >= 0);
    close(fd);
    return (size_t)n;
}

/* The System V key of this test (the runner removes what a failure leaves), and its name. */
static key_t test_key(void)
{
    static key_t key;
    if (!key)
        key = test_sysv_key();
    return key;
}

static const char *key_name(void)
{
    static char buf[32];
    snprintf(buf, sizeof buf, "sysv://0x%08x", (unsigned)test_key());
    return buf;
}

static int key_exists(void)
{
    return shmget(test_key(), 0, 0) >= 0;
}

/* A System V segment of `size` bytes under the key of this test; returns its id. */
static int make_sysv(size_t size)
{
    int id = shmget(test_key(), size, IPC_CREAT | IPC_EXCL | 0600);
    if (id < 0)
        test_fail(__FILE__, __LINE__, "shmget: %s", strerror(errno));
    return id;
}

/* The text of member `key` in JSON printed one member per line: `"key": value`. */
static const char *member(const char *json, const char *key, char *buf, size_t size)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(json, pat);
    if (!p)
        test_fail(__FILE__, __LINE__, "no member \"%s\" in %s", key, json);
    p += strlen(pat);
    size_t len = strcspn(p, "\n");
    if (len && p[len - 1] == ',')
        len--;
    snprintf(buf, size, "%.*s", (int)len, p);
    return buf;
}

TEST(cli__raw_cat_reads_a_plain_file_at_offsets_that_are_not_page_aligned)
{
    /* Bytes 0..8191: byte i holds i % 251, so every window is recognisable. */
    unsigned char bytes[8192];
    for (size_t i = 0; i < sizeof bytes; i++)
        bytes[i] = (unsigned char)(i % 251);
    const char *path = util_test_path("plain.bin");
    util_write_file(path, bytes, sizeof bytes);
    const char *f = file_arg(path);
    char *out = NULL, *err = NULL, want[256];

    /* u1 at offset 1: any offset suits one-byte elements. */
    RUN(0, "cat", f, "--dtype", "u1", "--shape", "4", "--offset", "1");
    CHECK_STR(out, "1 2 3 4\n");
    /* u2 (little-endian) at offset 6, as 2x3 and as 2,3 alike. */
    uint16_t u[6];
    memcpy(u, bytes + 6, sizeof u);
    snprintf(want, sizeof want, "%u %u %u\n%u %u %u\n", u[0], u[1], u[2], u[3], u[4], u[5]);
    RUN(0, "cat", f, "--dtype", "u2", "--shape", "2,3", "--offset", "6");
    CHECK_STR(out, want);
    RUN(0, "cat", f, "--shape=2x3", "--dtype=uint16", "--offset=6");
    CHECK_STR(out, want);
    /* Past the first page, at an offset that is not a multiple of it (0x1006 = 4102). */
    memcpy(u, bytes + 4102, 2 * sizeof u[0]);
    snprintf(want, sizeof want, "%u %u\n", u[0], u[1]);
    RUN(0, "cat", f, "--dtype", "<u2", "--shape", "2", "--offset", "0x1006");
    CHECK_STR(out, want);
    /* The last bytes exactly: the object holds offset + bytes. */
    snprintf(want, sizeof want, "%u %u\n", bytes[8190], bytes[8191]);
    RUN(0, "cat", f, "--dtype", "u1", "--shape", "2", "--offset", "8190");
    CHECK_STR(out, want);
    /* A record type, which has no header to keep its fields in. */
    RUN(0, "cat", f, "--dtype", "record:a:u1,b:u1", "--shape", "2", "--offset", "10");
    CHECK_STR(out, "(a=10, b=11) (a=12, b=13)\n");
    /* Slices work on raw arrays too. */
    RUN(0, "cat", f, "--dtype", "u1", "--shape", "3,4", "--slice", "1,::2");
    CHECK_STR(out, "4 6\n");
    free(out);
    free(err);
}

/* A complex number is aligned as its component, as C and numpy align it: c64 at a multiple
 * of 4 (numpy.memmap maps complex64 at offset 4), c128 at a multiple of 8. */
TEST(cli__raw_complex_offsets_follow_the_component_alignment)
{
    float pairs[6] = {0, 1.5f, 2.5f, 3.5f, 4.5f, 0};
    const char *path = util_test_path("c.bin");
    util_write_file(path, pairs, sizeof pairs);
    const char *f = file_arg(path);
    char *out = NULL, *err = NULL;
    RUN(0, "cat", f, "--dtype", "c64", "--shape", "2", "--offset", "4");
    CHECK_STR(out, "1.5+2.5j 3.5+4.5j\n");
    RUN(2, "cat", f, "--dtype", "c64", "--shape", "2", "--offset", "2");
    CHECK_USAGE_ERROR(err, "cat", "--offset 2 misaligns c64 elements (give a multiple of 4)");
    RUN(2, "cat", f, "--dtype", "c128", "--shape", "1", "--offset", "4");
    CHECK_USAGE_ERROR(err, "cat", "--offset 4 misaligns c128 elements (give a multiple of 8)");
    RUN(0, "cat", f, "--dtype", "c128", "--shape", "1", "--offset", "8");
    free(out);
    free(err);
}

TEST(cli__raw_fill_and_set_write_the_file_without_publishing)
{
    unsigned char bytes[64], now[64];
    memset(bytes, 0xee, sizeof bytes);
    const char *path = util_test_path("w.bin");
    util_write_file(path, bytes, sizeof bytes);
    const char *f = file_arg(path);
    char *out = NULL, *err = NULL;

    /* i16 ramp at offset 2: bytes 2..9 become 0, 1, 2, 3; the rest is untouched. */
    RUN(0, "fill", f, "ramp", "--dtype", "i2", "--shape", "4", "--offset", "2");
    CHECK_STR(err, "");
    CHECK_EQ_INT(read_file(path, now, sizeof now), 64);
    int16_t v[4];
    memcpy(v, now + 2, sizeof v);
    for (int i = 0; i < 4; i++)
        CHECK_EQ_INT(v[i], i);
    CHECK(now[0] == 0xee && now[1] == 0xee);
    for (int i = 10; i < 64; i++)
        CHECK(now[i] == 0xee);

    /* set, 2-D: element [1][0] of a 2x2 u8 array at offset 20 is byte 22. */
    RUN(0, "set", f, "1", "0", "7", "--dtype", "u1", "--shape", "2,2", "--offset", "20");
    CHECK_STR(err, "");
    read_file(path, now, sizeof now);
    CHECK_EQ_INT(now[22], 7);
    CHECK(now[20] == 0xee && now[21] == 0xee && now[23] == 0xee);
    /* A negative value and a negative index. */
    RUN(0, "set", f, "-1", "-2", "--dtype", "i1", "--shape", "64");
    read_file(path, now, sizeof now);
    CHECK_EQ_INT((signed char)now[63], -2);
    /* And fill with a value, read back through cat. */
    RUN(0, "fill", f, "2.5", "--dtype", "f4", "--shape", "2", "--offset", "32");
    RUN(0, "cat", f, "--dtype", "f4", "--shape", "2", "--offset", "32");
    CHECK_STR(out, "2.5 2.5\n");
    free(out);
    free(err);
}

TEST(cli__private_fill_and_set_leave_the_file_unchanged)
{
    unsigned char bytes[100], now[100];
    for (int i = 0; i < 100; i++)
        bytes[i] = (unsigned char)i;
    const char *path = util_test_path("p.bin");
    util_write_file(path, bytes, sizeof bytes);
    const char *f = file_arg(path);
    char *out = NULL, *err = NULL;

    RUN(0, "fill", f, "0", "--dtype", "u1", "--shape", "100", "--private");
    RUN(0, "set", f, "3", "9", "--dtype", "u1", "--shape", "100", "--private");
    CHECK_EQ_INT(read_file(path, now, sizeof now), 100);
    CHECK(memcmp(now, bytes, sizeof bytes) == 0);
    /* A user who may read the file but not write it: a private mapping opens it read-only.
     * As root, run the command as nobody (root's write access would hide a read-write
     * open); elsewhere the file is made read-only for this user. */
    if (geteuid() == 0) {
        CHECK(chmod(util_test_dir(), 0755) == 0 && chmod(path, 0444) == 0);
        int rc = test_sh(&out, &err, "setpriv --reuid=65534 --regid=65534 --clear-groups "
                                     "'%s' fill '%s' 1 --dtype u1 --shape 10 --private; "
                                     "echo \"rc=$?\"; setpriv --reuid=65534 --regid=65534 "
                                     "--clear-groups '%s' fill '%s' 1 --dtype u1 --shape 10",
                         test_shmap_bin(), f, test_shmap_bin(), f);
        CHECK(chmod(util_test_dir(), 0700) == 0);
        if (rc == 127 || strstr(err, "setpriv:"))
            TEST_SKIP("cannot run a command as nobody here: %s", err);
        CHECK_STR(out, "rc=0\n");
        CHECK_CONTAINS(err, "ermission denied"); /* the same without --private is refused */
        CHECK_EQ_INT(rc, 1);
    } else {
        CHECK(chmod(path, 0400) == 0);
        RUN(0, "fill", f, "1", "--dtype", "u1", "--shape", "10", "--private");
    }
    CHECK(chmod(path, 0600) == 0);
    CHECK_EQ_INT(read_file(path, now, sizeof now), 100);
    CHECK(memcmp(now, bytes, sizeof bytes) == 0);

    /* A described segment in a file: --private alone maps it copy-on-write. */
    const char *seg = file_arg(util_test_path("seg.shm"));
    RUN(0, "create", seg, "i32", "4");
    RUN(0, "fill", seg, "ramp");
    RUN(0, "fill", seg, "9", "--private");
    RUN(0, "set", seg, "0", "9", "--private");
    RUN(0, "cat", seg);
    CHECK_STR(out, "0 1 2 3\n");
    RUN(0, "cat", seg, "--private");
    CHECK_STR(out, "0 1 2 3\n");
    /* Nothing was published through the private copies either. */
    shmap_info info;
    CHECK_OK(shmap_stat(seg, &info));
    CHECK_EQ_INT(info.generation, 1);
    free(out);
    free(err);
}

TEST(cli__raw_reads_and_writes_a_foreign_posix_object)
{
    const char *name = test_name("foreign");
    char handle[SHMAP_NAME_MAX + 2];
    snprintf(handle, sizeof handle, "/%s", name);
    util_shm_write(name, "ABCDEFGH", 8);
    char *out = NULL, *err = NULL, v[256];

    RUN(0, "cat", name, "--dtype", "u1", "--shape", "2,4");
    CHECK_STR(out, "65 66 67 68\n69 70 71 72\n");
    RUN(0, "info", name, "--dtype", "u2", "--shape", "3", "--offset", "2", "--json");
    CHECK_STR(member(out, "shmap", v, sizeof v), "false");
    CHECK_STR(member(out, "raw", v, sizeof v), "true");
    CHECK_STR(member(out, "store", v, sizeof v), "\"posix\"");
    char want[SHMAP_NAME_MAX + 4];
    snprintf(want, sizeof want, "\"%s\"", handle);
    CHECK_STR(member(out, "os_handle", v, sizeof v), want);
    CHECK_STR(member(out, "dtype", v, sizeof v), "\"u16\"");
    CHECK_STR(member(out, "numpy", v, sizeof v), "\"<u2\"");
    CHECK_STR(member(out, "shape", v, sizeof v), "[3]");
    CHECK_STR(member(out, "bytes", v, sizeof v), "6");
    CHECK_STR(member(out, "data_offset", v, sizeof v), "2");
    CHECK_STR(member(out, "private", v, sizeof v), "false");
    CHECK_STR(member(out, "generation", v, sizeof v), "null");
    CHECK_STR(member(out, "mode", v, sizeof v), "\"0600\"");
    /* `/name` and `shm://name` are the same object. */
    char shm[SHMAP_NAME_MAX + 8];
    snprintf(shm, sizeof shm, "shm://%s", name);
    RUN(0, "fill", shm, "0x7a", "--dtype", "u1", "--shape", "3", "--offset", "5");
    RUN(0, "cat", handle, "--dtype", "u1", "--shape", "8");
    CHECK_STR(out, "65 66 67 68 69 122 122 122\n");
    /* Without --dtype it is what it is: not a shmap segment. */
    RUN(1, "cat", name);
    CHECK_ERROR_LINE(err, name);
    util_shm_remove(name);
    free(out);
    free(err);
}

TEST(cli__raw_reads_and_writes_a_system_v_segment_by_id)
{
    int id = make_sysv(4096);
    unsigned char *p = shmat(id, NULL, 0);
    CHECK(p != (void *)-1);
    for (int i = 0; i < 16; i++)
        p[i] = (unsigned char)(10 * i);
    char name[64], *out = NULL, *err = NULL, v[256], num[32];
    snprintf(name, sizeof name, "sysv://id=%d", id);
    snprintf(num, sizeof num, "\"%d\"", id);

    RUN(0, "cat", name, "--dtype", "u1", "--shape", "4", "--offset", "3");
    CHECK_STR(out, "30 40 50 60\n");
    RUN(0, "info", name, "--dtype", "u1", "--shape", "16", "--json");
    CHECK_STR(member(out, "store", v, sizeof v), "\"sysv\"");
    CHECK_STR(member(out, "os_handle", v, sizeof v), num);
    CHECK_STR(member(out, "size", v, sizeof v), "4096");
    RUN(0, "info", name, "--dtype", "u1", "--shape", "16");
    CHECK_CONTAINS(out, "raw:");
    CHECK_CONTAINS(out, "store:           sysv");
    RUN(0, "fill", name, "5", "--dtype", "u1", "--shape", "2", "--offset", "14");
    CHECK(p[13] == 130 && p[14] == 5 && p[15] == 5);
    /* By key as well. */
    RUN(0, "cat", key_name(), "--dtype", "u1", "--shape", "2", "--offset", "14");
    CHECK_STR(out, "5 5\n");
    /* Copy-on-write is for files and POSIX objects: asking it of System V is bad usage. */
    RUN(2, "cat", name, "--dtype", "u1", "--shape", "2", "--private");
    CHECK_USAGE_ERROR(err, "cat", "System V");
    CHECK_USAGE_ERROR(err, "cat", name);
    RUN(2, "fill", name, "1", "--dtype", "u1", "--shape", "2", "--private");
    CHECK_USAGE_ERROR(err, "fill", "System V");
    shmdt(p);
    CHECK(shmctl(id, IPC_RMID, NULL) == 0);
    RUN(1, "cat", name, "--dtype", "u1", "--shape", "1");
    CHECK_ERROR_LINE(err, name);
    free(out);
    free(err);
}

/*
 * A System V segment smaller than a header, fresh from a live process (another program's,
 * as CFITSIO's are), can never be a shmap segment being created: it is called foreign at
 * once, not "being created" for two seconds.
 */
TEST(cli__a_small_foreign_system_v_segment_is_never_taken_for_one_being_created)
{
    int id = make_sysv(448);
    char *p = shmat(id, NULL, 0);
    CHECK(p != (void *)-1);
    memcpy(p, "SIMPLE  =                    T", 30);
    char *out = NULL, *err = NULL;
    double t0 = util_now_s();
    RUN(1, "info", key_name());
    CHECK(util_now_s() - t0 < 1.5);
    CHECK_CONTAINS(err, "not a shmap segment");
    util_clear(&out, &err);
    RUN(0, "ls", "--all");
    const char *line = strstr(out, key_name());
    CHECK(line != NULL);
    const char *end = line ? strchr(line, '\n') : NULL;
    CHECK(end != NULL);
    CHECK(!memmem(line, (size_t)(end - line), "being created", 13));
    util_clear(&out, &err);
    shmdt(p);
    CHECK(shmctl(id, IPC_RMID, NULL) == 0);
}

TEST(cli__raw_info_says_it_is_raw_and_shows_the_object)
{
    unsigned char bytes[40] = {0};
    const char *path = util_test_path("i.bin");
    util_write_file(path, bytes, sizeof bytes);
    const char *f = file_arg(path);
    char *out = NULL, *err = NULL, v[512], want[256];

    RUN(0, "info", f, "--dtype", "c64", "--shape", "2,2", "--offset", "8");
    CHECK_CONTAINS(out, "raw:             yes");
    snprintf(want, sizeof want, "os_handle:       %s\n", path);
    CHECK_CONTAINS(out, want);
    CHECK_CONTAINS(out, "store:           file\n");
    CHECK_CONTAINS(out, "dtype:           c64 (numpy <c8)\n");
    CHECK_CONTAINS(out, "shape:           2x2\n");
    CHECK_CONTAINS(out, "bytes:           32\n");
    CHECK_CONTAINS(out, "data_offset:     8\n");
    CHECK_CONTAINS(out, "private:         no\n");
    RUN(0, "info", f, "--dtype", "record:x:f4,n:u1", "--shape", "3", "--private", "--json");
    CHECK_STR(member(out, "name", v, sizeof v), (snprintf(want, sizeof want, "\"%s\"", f), want));
    CHECK_STR(member(out, "dtype", v, sizeof v), "\"record\"");
    CHECK_STR(member(out, "record_fields", v, sizeof v), "\"x:f4,n:u1\"");
    CHECK_STR(member(out, "elsize", v, sizeof v), "5");
    CHECK_STR(member(out, "nelem", v, sizeof v), "3");
    CHECK_STR(member(out, "data_offset", v, sizeof v), "0");
    CHECK_STR(member(out, "private", v, sizeof v), "true");
    CHECK_STR(member(out, "creator_pid", v, sizeof v), "null");
    CHECK_STR(member(out, "attached", v, sizeof v), "null");
    CHECK_STR(member(out, "created", v, sizeof v), "null");
    CHECK(out[0] == '{' && strcmp(out + strlen(out) - 2, "}\n") == 0);
    free(out);
    free(err);
}

TEST(cli__raw_watch_polls_and_shows_the_statistics)
{
    float vals[4] = {1.5f, -2.0f, 4.0f, 0.5f};
    const char *path = util_test_path("watch.bin");
    util_write_file(path, vals, sizeof vals);
    const char *f = file_arg(path);
    char *out = NULL, *err = NULL;

    RUN(0, "watch", f, "--dtype", "f4", "--shape", "4", "--count", "2", "--interval", "0.05");
    CHECK_STR(out, "raw  min -2  max 4  mean 1\nraw  min -2  max 4  mean 1\n");
    CHECK_STR(err, "");
    /* The next line shows what was written in between. */
    RUN(0, "watch", f, "--dtype", "f4", "--shape", "2", "--offset", "8", "--count", "1");
    CHECK_STR(out, "raw  min 0.5  max 4  mean 2.25\n");
    free(out);
    free(err);
}

TEST(cli__raw_options_misused_are_usage_errors_naming_the_fault)
{
    const char *f = file_arg(util_test_path("u.bin"));
    util_write_file(util_test_path("u.bin"), "0123456789abcdef", 16);
    char *out = NULL, *err = NULL;

    /* --dtype and --shape go together; --offset needs them. */
    static const char *const cmds[] = {"info", "cat", "watch"};
    for (size_t i = 0; i < 3; i++) {
        RUN(2, cmds[i], f, "--dtype", "u1");
        CHECK_USAGE(err, "--dtype needs --shape");
        RUN(2, cmds[i], f, "--shape", "4");
        CHECK_USAGE(err, "--shape needs --dtype");
        RUN(2, cmds[i], f, "--offset", "4");
        CHECK_USAGE(err, "--offset needs --dtype and --shape");
    }
    RUN(2, "fill", f, "1", "--shape", "4");
    CHECK_USAGE(err, "--shape needs --dtype");
    RUN(2, "set", f, "0", "1", "--dtype", "u1");
    CHECK_USAGE(err, "--dtype needs --shape");

    RUN(2, "cat", f, "--dtype", "u9", "--shape", "4");
    CHECK_USAGE(err, "--dtype: unknown type 'u9'");
    RUN(2, "cat", f, "--dtype", "record:x:q4", "--shape", "4");
    CHECK_USAGE(err, "--dtype");
    static const char *const shapes[] = {"0", "4,,2", "4,", "a", "-4", "0x10", "4 4",
                                         "1,1,1,1,1,1,1,1,1", "99999999999999999999"};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        RUN(2, "cat", f, "--dtype", "u1", "--shape", shapes[i]);
        CHECK_USAGE(err, "--shape");
    }
    static const char *const offsets[] = {"-1", "abc", "1.5", "0x", "", "+4", "4 4", "4k",
                                          "99999999999999999999"};
    for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
        RUN(2, "fill", f, "1", "--dtype", "u1", "--shape", "4", "--offset", offsets[i]);
        CHECK_USAGE(err, "--offset");
    }
    /* An offset that misaligns the type, and an array whose bytes overflow, whatever the
     * object: the arguments contradict each other. */
    RUN(2, "cat", f, "--dtype", "u2", "--shape", "2", "--offset", "1");
    CHECK_USAGE(err, "--offset 1 misaligns u2 elements (give a multiple of 2)");
    RUN(2, "fill", f, "1", "--dtype", "f8", "--shape", "1", "--offset", "4");
    CHECK_USAGE(err, "multiple of 8");
    RUN(2, "info", f, "--dtype", "c128", "--shape", "2", "--offset", "12");
    CHECK_USAGE(err, "multiple of 8");
    RUN(0, "cat", f, "--dtype", "record:a:u1,b:u2", "--shape", "2", "--offset", "1");
    RUN(2, "watch", f, "--dtype", "u4", "--shape", "4294967296,4294967296");
    CHECK_USAGE(err, "64 bits");
    RUN(2, "set", f, "0", "1", "--dtype", "u1", "--shape", "16", "--offset",
        "0xffffffffffffffff");
    CHECK_USAGE(err, "64 bits");
    /* Nothing was written by any of them. */
    char now[17] = {0};
    read_file(util_test_path("u.bin"), now, 16);
    CHECK_STR(now, "0123456789abcdef");
    free(out);
    free(err);
}

TEST(cli__raw_failures_are_one_line_naming_the_object_and_the_fault)
{
    const char *path = util_test_path("e.bin");
    util_write_file(path, "0123456789", 10);
    const char *f = file_arg(path);
    char *out = NULL, *err = NULL;

    /* An object too small: both sizes named. */
    RUN(1, "cat", f, "--dtype", "u4", "--shape", "3");
    CHECK_ERROR_LINE(err, "10 bytes");
    CHECK_ERROR_LINE(err, "need 12");
    RUN(1, "info", f, "--dtype", "u1", "--shape", "5", "--offset", "6");
    CHECK_ERROR_LINE(err, "need 11");
    RUN(1, "watch", f, "--dtype", "u1", "--shape", "11", "--count", "1");
    CHECK_ERROR_LINE(err, "need 11");
    /* One byte, one element: counted in the singular. */
    RUN(1, "cat", f, "--dtype", "u1", "--shape", "29");
    CHECK_ERROR_LINE(err, "object is 10 bytes; 29 elements of 1 byte at offset 0 need 29");
    RUN(1, "cat", f, "--dtype", "f64", "--shape", "1", "--offset", "8");
    CHECK_ERROR_LINE(err, "object is 10 bytes; 1 element of 8 bytes at offset 8 needs 16");
    const char *one = util_test_path("one.bin");
    util_write_file(one, "x", 1);
    RUN(1, "cat", file_arg(one), "--dtype", "u1", "--shape", "2");
    CHECK_ERROR_LINE(err, "object is 1 byte; 2 elements of 1 byte at offset 0 need 2");
    /* A missing file and a missing POSIX object. */
    const char *gone = file_arg(util_test_path("missing.bin"));
    RUN(1, "cat", gone, "--dtype", "u1", "--shape", "1");
    CHECK_ERROR_LINE(err, gone);
    CHECK_ERROR_LINE(err, "no such file");
    const char *name = test_name("missing");
    RUN(1, "set", name, "0", "1", "--dtype", "u1", "--shape", "1");
    CHECK_ERROR_LINE(err, name);
    CHECK(!util_shm_exists(name));
    free(out);
    free(err);
}

/* A FIFO opened read-only waits for a writer for ever: every command refuses it at once. */
TEST(cli__a_fifo_is_refused_at_once_by_every_command_that_opens_a_name)
{
    const char *path = util_test_path("fifo");
    CHECK(mkfifo(path, 0600) == 0);
    char shm[256];
    const char *name = test_name("fifo");
    snprintf(shm, sizeof shm, "/dev/shm/%s", name);
    CHECK(mkfifo(shm, 0600) == 0); /* the runner removes it if the test fails */
    const char *names[2] = {file_arg(path), name};
    char *out = NULL, *err = NULL;
    /* A command that hangs is caught by the runner's timeout; the library's calls are timed
     * one by one in tests/unit/notregular.c. */
    for (int i = 0; i < 2; i++) {
        const char *f = names[i];
        RUN(1, "info", f);
        CHECK_ERROR_LINE(err, "not a regular file (it is a FIFO)");
        CHECK_ERROR_LINE(err, f);
        RUN(1, "info", f, "--json");
        CHECK_ERROR_LINE(err, "not a regular file");
        RUN(1, "cat", f);
        CHECK_ERROR_LINE(err, "not a regular file");
        RUN(1, "watch", f, "--count", "1");
        CHECK_ERROR_LINE(err, "not a regular file");
        RUN(1, "fill", f, "1");
        CHECK_ERROR_LINE(err, "not a regular file");
        RUN(1, "set", f, "0", "1");
        CHECK_ERROR_LINE(err, "not a regular file");
        RUN(1, "info", f, "--dtype", "u1", "--shape", "4");
        CHECK_ERROR_LINE(err, "not a regular file");
        RUN(1, "cat", f, "--dtype", "u1", "--shape", "4", "--private");
        CHECK_ERROR_LINE(err, "not a regular file");
        RUN(1, "fill", f, "1", "--dtype", "u1", "--shape", "4");
        CHECK_ERROR_LINE(err, "not a regular file");
        RUN(1, "rm", f);
        CHECK_ERROR_LINE(err, "not a regular file");
        RUN(1, "create", f, "u1", "4", "--exist-ok");
        CHECK_ERROR_LINE(err, "not a regular file");
    }
    struct stat st;
    CHECK(lstat(path, &st) == 0 && S_ISFIFO(st.st_mode));
    CHECK(lstat(shm, &st) == 0 && S_ISFIFO(st.st_mode));
    CHECK(unlink(path) == 0 && unlink(shm) == 0);
    free(out);
    free(err);
}

TEST(cli__help_lists_every_name_form_and_the_raw_options)
{
    char *out = NULL, *err = NULL;
    RUN(0, "--help");
    static const char *const forms[] = {"frames", "/frames", "shm://frames", "sysv://0x5eed",
                                        "sysv://id=N", "file:/path"};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++)
        CHECK_CONTAINS(out, forms[i]);
    static const char *const cmds[] = {"info", "cat", "fill", "set", "watch"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        RUN(0, "help", cmds[i]);
        CHECK_CONTAINS(out, "--dtype TYPE --shape D,D,...");
        CHECK_CONTAINS(out, "--offset BYTES");
        CHECK_CONTAINS(out, "--private");
        RUN(0, cmds[i], "--help");
        CHECK_CONTAINS(out, "--dtype");
    }
    RUN(0, "help", "create");
    CHECK_CONTAINS(out, "--hugepages");
    free(out);
    free(err);
}

/* ---------------------------------------------------------------------------------------- */
/* create --hugepages, --prefault; info on every store */

TEST(cli__create_hugepages_on_a_posix_name_is_bad_usage_naming_the_stores_that_have_them)
{
    /* Refused by the name's form and the option alone, whatever the system: exit 2. */
    const char *name = test_name("huge");
    char *out = NULL, *err = NULL;
    RUN(2, "create", name, "f32", "1000", "--hugepages");
    CHECK_USAGE_ERROR(err, "create", name);
    CHECK_USAGE_ERROR(err, "create", "sysv://");
    CHECK_USAGE_ERROR(err, "create", "hugetlbfs");
    CHECK(!util_shm_exists(name));
    const char *npy = util_test_path("huge.npy");
    util_write_file(npy, "\x93NUMPY\x01\x00\x76\x00{'descr': '|u1', 'fortran_order': False, "
                         "'shape': (2,), }                                                  "
                         "                         \n\x01\x02", 130);
    RUN(2, "import", npy, name, "--hugepages");
    CHECK_USAGE_ERROR(err, "import", "hugetlbfs");
    CHECK(!util_shm_exists(name));
    free(out);
    free(err);
}

TEST(cli__store_misuse_is_bad_usage_in_every_command)
{
    char *out = NULL, *err = NULL, byid[64];
    /* Creating by id: an id is what the system gives a segment it made. */
    int id = make_sysv(4096);
    snprintf(byid, sizeof byid, "sysv://id=%d", id);
    RUN(2, "create", byid, "f32", "4");
    CHECK_USAGE_ERROR(err, "create", "not by id");
    /* A private (copy-on-write) mapping of System V, by key or by id, in each command. */
    const char *cmds[][2] = {{"cat", NULL}, {"info", NULL}, {"export", "-"}, {"watch", NULL},
                             {"fill", "1"}};
    const char *names[2] = {key_name(), byid};
    for (int n = 0; n < 2; n++)
        for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
            if (cmds[i][1])
                RUN(2, cmds[i][0], names[n], cmds[i][1], "--dtype", "u1", "--shape", "4",
                    "--private");
            else
                RUN(2, cmds[i][0], names[n], "--dtype", "u1", "--shape", "4", "--private");
            CHECK_USAGE(err, "cannot be mapped privately");
        }
    RUN(2, "set", key_name(), "0", "1", "--dtype", "u1", "--shape", "4", "--private");
    CHECK_CONTAINS(err, "cannot be mapped privately");
    /* A described open too, without --dtype. */
    for (int n = 0; n < 2; n++) {
        RUN(2, "info", names[n], "--private");
        CHECK_USAGE_ERROR(err, "info", "cannot be mapped privately");
    }
    CHECK(shmctl(id, IPC_RMID, NULL) == 0);
    free(out);
    free(err);
}

TEST(cli__create_hugepages_on_a_file_off_hugetlbfs_fails_and_leaves_nothing)
{
    const char *f = file_arg(util_test_path("huge.shm"));
    char *out = NULL, *err = NULL;
    RUN(1, "create", f, "f32", "1000", "--hugepages");
    CHECK_ERROR_LINE(err, f);
    CHECK_ERROR_LINE(err, "hugetlbfs");
    char cmd[160];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s')\"", util_test_dir());
    CHECK_EQ_INT(test_sh(NULL, NULL, "%s", cmd), 0);
    free(out);
    free(err);
}

TEST(cli__create_hugepages_without_configured_pages_says_how)
{
    if (util_meminfo("HugePages_Total") != 0)
        TEST_SKIP("huge pages are configured here (vm.nr_hugepages is %llu)",
                  util_meminfo("HugePages_Total"));
    char *out = NULL, *err = NULL;
    RUN(1, "create", key_name(), "u8", "100", "--hugepages");
    CHECK_ERROR_LINE(err, key_name());
    CHECK_ERROR_LINE(err, "sysctl vm.nr_hugepages=N");
    CHECK(!key_exists());
    free(out);
    free(err);
}

TEST(cli__create_hugepages_system_v_then_info_ls_fill_cat_and_rm)
{
    util_need_free_hugepages(1);
    const char *name = key_name();
    char *out = NULL, *err = NULL, v[256], want[64];
    RUN(0, "create", name, "i32", "3", "5", "--hugepages");
    CHECK(key_exists());
    RUN(0, "info", name, "--json");
    snprintf(want, sizeof want, "%zu", util_hugepage_size());
    CHECK_STR(member(out, "size", v, sizeof v), want);
    CHECK_STR(member(out, "store", v, sizeof v), "\"sysv\"");
    CHECK_STR(member(out, "bytes", v, sizeof v), "60");
    RUN(0, "ls");
    CHECK_CONTAINS(out, name);
    RUN(0, "fill", name, "ramp");
    RUN(0, "cat", name, "--slice", "2");
    CHECK_STR(out, "10 11 12 13 14\n");
    RUN(0, "rm", name);
    CHECK(!key_exists());
    free(out);
    free(err);
}

static void cli_huge_file(const char *mnt)
{
    char path[200], f[220], *out = NULL, *err = NULL, v[256], want[64];
    snprintf(path, sizeof path, "%s/frames", mnt);
    snprintf(f, sizeof f, "file:%s", path);
    RUN(0, "create", f, "f64", "4", "4", "--hugepages", "--prefault");
    RUN(0, "info", f, "--json");
    snprintf(want, sizeof want, "%zu", util_hugepage_size());
    CHECK_STR(member(out, "size", v, sizeof v), want);
    RUN(0, "fill", f, "ramp");
    RUN(0, "cat", f, "--slice", "3");
    CHECK_STR(out, "12 13 14 15\n");
    /* Raw, past the header page, at an offset inside the huge page. */
    RUN(0, "cat", f, "--dtype", "f8", "--shape", "2", "--offset", "4112");
    CHECK_STR(out, "2 3\n");
    RUN(0, "rm", f);
    CHECK(access(path, F_OK) != 0);
    /* Without --hugepages, on hugetlbfs: in huge pages all the same. */
    RUN(0, "create", f, "u8", "10");
    RUN(0, "info", f, "--json");
    CHECK_STR(member(out, "size", v, sizeof v), want);
    RUN(0, "rm", f);
    free(out);
    free(err);
}

TEST(cli__create_hugepages_file_on_a_private_hugetlbfs_mount)
{
    util_with_hugetlbfs(cli_huge_file, 2);
}

static void cli_huge_file_too_big(const char *mnt)
{
    char f[220], size[32], *out = NULL, *err = NULL;
    snprintf(f, sizeof f, "file:%s/big", mnt);
    snprintf(size, sizeof size, "%llu", (util_free_hugepages() + 1) * util_hugepage_size());
    RUN(1, "create", f, "u8", size, "--hugepages");
    CHECK_ERROR_LINE(err, f);
    CHECK_ERROR_LINE(err, "not enough free huge pages");
    char cmd[160];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s')\"", mnt);
    CHECK_EQ_INT(test_sh(NULL, NULL, "%s", cmd), 0);
    free(out);
    free(err);
}

TEST(cli__create_hugepages_file_beyond_the_free_pool_fails_and_leaves_nothing)
{
    util_with_hugetlbfs(cli_huge_file_too_big, 0);
}

TEST(cli__create_prefault_works_with_every_store)
{
    const char *posix = test_name("pf");
    const char *f = file_arg(util_test_path("pf.shm"));
    const char *names[] = {posix, key_name(), f};
    char *out = NULL, *err = NULL;
    for (size_t i = 0; i < 3; i++) {
        RUN(0, "create", names[i], "u16", "3", "--prefault");
        RUN(0, "cat", names[i]);
        CHECK_STR(out, "0 0 0\n");
        RUN(0, "rm", names[i]);
    }
    CHECK(!util_shm_exists(posix));
    CHECK(!key_exists());
    free(out);
    free(err);
}

TEST(cli__create_refuses_a_memfd_name_that_would_vanish)
{
    char *out = NULL, *err = NULL;
    RUN(2, "create", "memfd:frames", "u8", "10");
    CHECK_USAGE(err, "vanish");
    free(out);
    free(err);
}

TEST(cli__errors_about_a_segment_named_by_id_name_it_once)
{
    /* Not a shmap segment: the library names it by its key, the user gave its id. */
    int id = make_sysv(4096);
    char name[64], want[160];
    snprintf(name, sizeof name, "sysv://id=%d", id);
    char *out = NULL, *err = NULL;
    RUN(1, "info", name);
    snprintf(want, sizeof want, "shmap: %s: not a shmap segment (", name);
    CHECK(strncmp(err, want, strlen(want)) == 0);
    CHECK(!strstr(err, "sysv://0x"));
    RUN(1, "cat", name, "--dtype", "f4", "--shape", "1025");
    snprintf(want, sizeof want, "shmap: %s: object is 4096 bytes", name);
    CHECK(strncmp(err, want, strlen(want)) == 0);
    CHECK(!strstr(err, "sysv://0x"));
    CHECK(shmctl(id, IPC_RMID, NULL) == 0);
    free(out);
    free(err);
}

TEST(cli__info_shows_the_store_and_os_handle_of_every_store)
{
    const char *posix = test_name("os");
    const char *path = util_test_path("os.shm");
    const char *f = file_arg(path);
    char *out = NULL, *err = NULL, v[256], want[256];
    RUN(0, "create", posix, "u8", "4");
    RUN(0, "create", key_name(), "u8", "4");
    RUN(0, "create", f, "u8", "4");
    int id = shmget(test_key(), 0, 0);
    CHECK(id >= 0);

    RUN(0, "info", posix, "--json");
    CHECK_STR(member(out, "store", v, sizeof v), "\"posix\"");
    snprintf(want, sizeof want, "\"/%s\"", posix);
    CHECK_STR(member(out, "os_handle", v, sizeof v), want);
    RUN(0, "info", key_name(), "--json");
    CHECK_STR(member(out, "store", v, sizeof v), "\"sysv\"");
    snprintf(want, sizeof want, "\"%d\"", id);
    CHECK_STR(member(out, "os_handle", v, sizeof v), want);
    RUN(0, "info", f, "--json");
    CHECK_STR(member(out, "store", v, sizeof v), "\"file\"");
    snprintf(want, sizeof want, "\"%s\"", path);
    CHECK_STR(member(out, "os_handle", v, sizeof v), want);
    /* The text form too. */
    RUN(0, "info", key_name());
    snprintf(want, sizeof want, "os_handle:       %d\n", id);
    CHECK_CONTAINS(out, want);
    CHECK_CONTAINS(out, "store:           sysv\n");

    RUN(0, "rm", posix, key_name(), f);
    CHECK(!key_exists());
    free(out);
    free(err);
}

TEST(cli__a_system_v_failure_names_the_segment_once_however_its_key_is_spelled)
{
    char *out = NULL, *err = NULL, shortx[32], dec[32];
    snprintf(shortx, sizeof shortx, "sysv://0x%x", (unsigned)test_key());
    snprintf(dec, sizeof dec, "sysv://%u", (unsigned)test_key());
    RUN(0, "create", shortx, "u1", "4");
    const char *const spellings[] = {shortx, dec, key_name()};
    for (int i = 0; i < 3; i++) {
        RUN(1, "create", spellings[i], "u1", "4");
        CHECK_ERROR_LINE(err, "a segment with that key exists");
        /* Once: the library's own spelling (0x%08x) is the same segment. */
        const char *first = strstr(err, "sysv://");
        CHECK(first && !strstr(first + 1, "sysv://"));
    }
    RUN(0, "rm", dec);
    CHECK(!key_exists());
    free(out);
    free(err);
}
