/*
 * Backing stores and raw mappings in one process: IDL's SHMMAP examples through the C API,
 * files (shared and private), System V by key and by id, raw offsets and sizes, memfd,
 * huge pages. System V segments are removed on every path by a guard process (sysv_guard).
 */
#include <fcntl.h>
#include <signal.h>
#include <sched.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "../util.h"

/* A path in this test's directory, which its guard removes however the test ends. */
static const char *tmp_path(const char *leaf)
{
    static char buf[4][256];
    static int i;
    char *b = buf[i++ % 4];
    snprintf(b, 256, "%s/%s", util_test_dir(), leaf);
    return b;
}

/* Remove the directory now, at the end of a test that passed (the guard then has none). */
static void tmp_cleanup(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", util_test_dir());
    CHECK(system(cmd) == 0);
}

static char *file_name(const char *path)
{
    static char buf[300];
    snprintf(buf, sizeof buf, "file:%s", path);
    return buf;
}

TEST(stores__idl_example_double_ramp_in_anonymous_posix_memory)
{
    /* SHMMAP, 'MYSEG', /DOUBLE, 1000000 ; z = SHMVAR('MYSEG') ; z[0] = DINDGEN(1000000) */
    uint64_t n = 1000000;
    shmap_seg *seg, *var;
    CHECK_OK(shmap_create(&seg, test_name("myseg"), SHMAP_F64, 1, &n, NULL));
    CHECK_OK(shmap_open(&var, test_name("myseg"), SHMAP_RDWR));
    double *z = shmap_data(var);
    for (uint64_t i = 0; i < n; i++)
        z[i] = (double)i;
    const double *x = shmap_data(seg);
    for (uint64_t i = 0; i < n; i += 997)
        CHECK(x[i] == (double)i);
    CHECK(x[n - 1] == (double)(n - 1));
    CHECK_OK(shmap_close(var));
    CHECK_OK(shmap_close(seg));
    CHECK(!util_shm_exists(test_name("myseg")));
}

TEST(stores__idl_example_double_ramp_in_a_temporary_file)
{
    /* SHMMAP, 'MYSEG', /DOUBLE, 1000000, FILENAME=path ; the file outlives the mapping. */
    uint64_t n = 1000000;
    const char *name = file_name(tmp_path("ramp.dat"));
    shmap_seg *seg;
    CHECK_OK(shmap_create(&seg, name, SHMAP_F64, 1, &n, NULL));
    double *z = shmap_data(seg);
    for (uint64_t i = 0; i < n; i++)
        z[i] = (double)i;
    shmap_info info;
    CHECK_OK(shmap_info_get(seg, &info));
    CHECK_EQ_INT(info.store, SHMAP_STORE_FILE);
    CHECK_STR(info.os_handle, tmp_path("ramp.dat"));
    CHECK_OK(shmap_close(seg));
    struct stat st;
    CHECK(stat(tmp_path("ramp.dat"), &st) == 0); /* never deleted by unmapping */
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDONLY));
    const double *x = shmap_data(seg);
    for (uint64_t i = 0; i < n; i += 1009)
        CHECK(x[i] == (double)i);
    CHECK_OK(shmap_close(seg));
    /* And raw, as a program that knows nothing of shmap: OFFSET=4096. */
    shmap_raw_opts ro = SHMAP_RAW_OPTS_INIT;
    ro.offset = 4096;
    CHECK_OK(shmap_open_raw(&seg, name, SHMAP_F64, 1, &n, &ro));
    x = shmap_data(seg);
    CHECK(x[0] == 0.0 && x[123456] == 123456.0 && x[n - 1] == (double)(n - 1));
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(name));
    CHECK(stat(tmp_path("ramp.dat"), &st) < 0 && errno == ENOENT);
    tmp_cleanup();
}

TEST(stores__file_is_never_removed_by_closing_even_with_set_destroy)
{
    /* As documented at SHMAP_CREATE_KEEP and shmap_set_destroy(): without KEEP, and asked
     * to destroy, a file stays, and does not count as transient for gc. */
    uint64_t n = 8;
    const char *path = tmp_path("kept.dat");
    shmap_seg *seg;
    CHECK_OK(shmap_create(&seg, file_name(path), SHMAP_U8, 1, &n, NULL));
    CHECK_OK(shmap_set_destroy(seg, 1));
    shmap_info info;
    CHECK_OK(shmap_info_get(seg, &info));
    CHECK_EQ_INT(info.transient, 0);
    CHECK_OK(shmap_close(seg));
    struct stat st;
    CHECK(stat(path, &st) == 0);
    tmp_cleanup();
}

TEST(stores__file_shared_mapping_writes_through)
{
    uint64_t n = 100;
    const char *path = tmp_path("shared.dat");
    shmap_seg *seg;
    CHECK_OK(shmap_create(&seg, file_name(path), SHMAP_I32, 1, &n, NULL));
    int32_t *d = shmap_data(seg);
    d[7] = 4242;
    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0);
    int32_t v = 0;
    CHECK(pread(fd, &v, 4, 4096 + 7 * 4) == 4);
    CHECK_EQ_INT(v, 4242);
    close(fd);
    CHECK_OK(shmap_close(seg));
    /* Creating it again fails: files are exclusive creates, like segments. */
    CHECK_ERR(shmap_create(&seg, file_name(path), SHMAP_I32, 1, &n, NULL), -EEXIST);
    tmp_cleanup();
}

TEST(stores__private_mapping_writes_stay_in_the_process)
{
    uint64_t n = 64;
    const char *path = tmp_path("private.dat");
    const char *name = file_name(path);
    shmap_seg *seg, *priv, *ro;
    CHECK_OK(shmap_create(&seg, name, SHMAP_U8, 1, &n, NULL));
    memset(shmap_data(seg), 1, n);
    CHECK_OK(shmap_close(seg));
    CHECK(chmod(path, 0400) == 0); /* read access is enough */
    CHECK_OK(shmap_open(&priv, name, SHMAP_PRIVATE));
    CHECK(shmap_writable(priv));
    memset(shmap_data(priv), 2, n);
    shmap_keyword kw;
    CHECK_OK(shmap_keyword_parse("ONLYME=1", &kw));
    CHECK_OK(shmap_keyword_set(priv, &kw));
    CHECK_OK(shmap_open(&ro, name, SHMAP_RDONLY));
    CHECK_EQ_INT(((unsigned char *)shmap_data(ro))[10], 1);
    CHECK_ERR(shmap_keyword_get(ro, "ONLYME", &kw), SHMAP_ENOKEY);
    CHECK_EQ_INT(((unsigned char *)shmap_data(priv))[10], 2);
    CHECK_OK(shmap_close(priv));
    CHECK_OK(shmap_close(ro));
    int fd = open(path, O_RDONLY);
    unsigned char b = 0;
    CHECK(pread(fd, &b, 1, 4096 + 10) == 1);
    CHECK_EQ_INT(b, 1);
    close(fd);
    tmp_cleanup();
}

TEST(stores__file_create_does_not_follow_a_symlink)
{
    uint64_t n = 8;
    const char *target = tmp_path("target");
    const char *link = tmp_path("link");
    int fd = open(target, O_CREAT | O_WRONLY, 0600);
    CHECK(fd >= 0 && write(fd, "keep", 4) == 4);
    close(fd);
    CHECK(symlink(target, link) == 0);
    shmap_seg *seg;
    CHECK_ERR(shmap_create(&seg, file_name(link), SHMAP_U8, 1, &n, NULL), -EEXIST);
    struct stat st;
    CHECK(stat(target, &st) == 0 && st.st_size == 4);
    CHECK(lstat(link, &st) == 0 && S_ISLNK(st.st_mode));
    tmp_cleanup();
}

TEST(stores__sysv_create_by_key_attach_by_key_and_id_then_removed)
{
    key_t key = test_sysv_key();
    char name[64], byid[64];
    snprintf(name, sizeof name, "sysv://0x%x", (unsigned)key);
    uint64_t dims[2] = {32, 16};
    shmap_seg *seg, *a, *b;
    CHECK_OK(shmap_create(&seg, name, SHMAP_F32, 2, dims, NULL));
    shmap_info info;
    CHECK_OK(shmap_info_get(seg, &info));
    CHECK_EQ_INT(info.store, SHMAP_STORE_SYSV);
    CHECK_EQ_INT(info.mode, 0600);
    int id = shmget(key, 0, 0);
    CHECK(id >= 0);
    CHECK_EQ_INT(atoi(info.os_handle), id);
    ((float *)shmap_data(seg))[5] = 2.5f;
    CHECK_OK(shmap_open(&a, name, SHMAP_RDONLY));
    snprintf(byid, sizeof byid, "sysv://id=%d", id);
    CHECK_OK(shmap_open(&b, byid, SHMAP_RDWR));
    CHECK(((float *)shmap_data(a))[5] == 2.5f);
    CHECK(((float *)shmap_data(b))[5] == 2.5f);
    /* Keywords and locks work as on POSIX. */
    shmap_keyword kw;
    CHECK_OK(shmap_keyword_parse("EXPTIME=1.5", &kw));
    CHECK_OK(shmap_keyword_set(b, &kw));
    CHECK_OK(shmap_keyword_get(a, "EXPTIME", &kw));
    CHECK_OK(shmap_lock(b, SHMAP_LOCK_EXCLUSIVE, 0));
    CHECK_ERR(shmap_lock(a, SHMAP_LOCK_SHARED, 0), -EBUSY);
    CHECK_OK(shmap_unlock(b));
    CHECK_OK(shmap_lock(a, SHMAP_LOCK_SHARED, 0));
    CHECK_OK(shmap_unlock(a));
    /* Listed next to POSIX segments. */
    shmap_entry *list;
    size_t count;
    CHECK_OK(shmap_list(&list, &count, 0));
    int found = 0;
    char canon[64];
    snprintf(canon, sizeof canon, "sysv://0x%08x", (unsigned)key);
    for (size_t i = 0; i < count; i++)
        if (strcmp(list[i].info.name, canon) == 0 && list[i].status == 0 &&
            list[i].info.dims[1] == 16)
            found = 1;
    shmap_list_free(list);
    CHECK(found);
    CHECK_OK(shmap_close(a));
    CHECK_OK(shmap_close(b));
    CHECK_OK(shmap_close(seg)); /* we created it: IPC_RMID */
    CHECK(shmget(key, 0, 0) < 0 && errno == ENOENT);
    CHECK_ERR(shmap_open(&a, name, SHMAP_RDONLY), -ENOENT);
}

TEST(stores__sysv_opened_by_id_is_named_by_its_key_as_listed)
{
    key_t key = test_sysv_key();
    char name[64], byid[64];
    snprintf(name, sizeof name, "sysv://%u", (unsigned)key); /* decimal, as a user may */
    uint64_t dims[1] = {8};
    shmap_create_opts o = SHMAP_CREATE_OPTS_INIT;
    o.flags = SHMAP_CREATE_KEEP;
    shmap_seg *seg;
    CHECK_OK(shmap_create(&seg, name, SHMAP_U8, 1, dims, &o));
    CHECK_OK(shmap_close(seg));
    int id = shmget(key, 0, 0);
    CHECK(id >= 0);
    snprintf(byid, sizeof byid, "sysv://id=%d", id);
    char canon[64];
    snprintf(canon, sizeof canon, "sysv://0x%08x", (unsigned)key);
    shmap_info info;
    CHECK_OK(shmap_stat(byid, &info));
    CHECK_STR(info.name, canon);
    CHECK_OK(shmap_open(&seg, byid, SHMAP_RDONLY));
    CHECK_OK(shmap_info_get(seg, &info));
    CHECK_STR(info.name, canon);
    CHECK_EQ_INT(atoi(info.os_handle), id);
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(byid));
    CHECK_ERR(shmap_stat(byid, &info), -ENOENT);
    CHECK_CONTAINS(shmap_last_error(), byid); /* a missing id is named as it was asked */
}

TEST(stores__sysv_foreign_segment_listed_with_all_and_refused_by_open)
{
    key_t key = test_sysv_key();
    int id = shmget(key, 8192, IPC_CREAT | IPC_EXCL | 0600);
    CHECK(id >= 0);
    char name[64];
    snprintf(name, sizeof name, "sysv://%u", (unsigned)key);
    shmap_seg *seg;
    CHECK_ERR(shmap_open(&seg, name, SHMAP_RDONLY), SHMAP_EFORMAT);
    shmap_entry *list;
    size_t count;
    int all = 0, plain = 0;
    char canon[64];
    snprintf(canon, sizeof canon, "sysv://0x%08x", (unsigned)key);
    CHECK_OK(shmap_list(&list, &count, SHMAP_LIST_ALL));
    for (size_t i = 0; i < count; i++)
        if (strcmp(list[i].info.name, canon) == 0 && list[i].info.size == 8192)
            all = 1;
    shmap_list_free(list);
    CHECK_OK(shmap_list(&list, &count, 0));
    for (size_t i = 0; i < count; i++)
        if (strcmp(list[i].info.name, canon) == 0)
            plain = 1;
    shmap_list_free(list);
    CHECK(all && !plain);
    /* Raw works on it, and shmap_unlink removes it. */
    uint64_t n = 1024;
    CHECK_OK(shmap_open_raw(&seg, name, SHMAP_F64, 1, &n, NULL));
    CHECK_OK(shmap_close(seg));
    n = 1025;
    CHECK_ERR(shmap_open_raw(&seg, name, SHMAP_F64, 1, &n, NULL), SHMAP_ETRUNCATED);
    CHECK_OK(shmap_unlink(name));
    CHECK(shmget(key, 0, 0) < 0);
}

/*
 * System V limits are per IPC namespace: as root, this test process moves into a new one
 * (it ends with the test, and every segment made in it goes with it) and lowers them there.
 * Elsewhere the test needs limits already low enough to reach.
 */
static unsigned long long read_limit(const char *what)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/sys/kernel/%s", what);
    FILE *f = fopen(path, "r");
    unsigned long long v = 0;
    CHECK(f && fscanf(f, "%llu", &v) == 1);
    fclose(f);
    return v;
}

static void private_ipc_namespace(void)
{
    if (unshare(CLONE_NEWIPC) < 0)
        TEST_SKIP("cannot lower System V limits here: unshare(CLONE_NEWIPC): %s (needs root)",
                  strerror(errno));
}

TEST(stores__sysv_size_above_shmmax_is_a_clear_error)
{
    private_ipc_namespace();
    util_write_kernel_limit("shmmax", 1 << 20);
    CHECK_EQ_INT(read_limit("shmmax"), 1 << 20);
    char name[64];
    snprintf(name, sizeof name, "sysv://0x%x", (unsigned)test_sysv_key());
    uint64_t n = 1 << 20; /* with the header, past the limit */
    shmap_seg *seg;
    CHECK_ERR(shmap_create(&seg, name, SHMAP_U8, 1, &n, NULL), -EINVAL);
    CHECK_CONTAINS(shmap_last_error(), name);
    CHECK_CONTAINS(shmap_last_error(), "kernel.shmmax is 1048576");
    /* Nothing was made; a size within the limit works. */
    CHECK_ERR(shmap_open(&seg, name, SHMAP_RDONLY), -ENOENT);
    n = 1 << 19;
    CHECK_OK(shmap_create(&seg, name, SHMAP_U8, 1, &n, NULL));
    CHECK_OK(shmap_close(seg));
}

TEST(stores__sysv_out_of_segments_is_a_clear_error)
{
    private_ipc_namespace();
    util_write_kernel_limit("shmmni", 2);
    char a[64], b[64], c[64];
    snprintf(a, sizeof a, "sysv://0x%x", (unsigned)test_sysv_key());
    snprintf(b, sizeof b, "sysv://0x%x", (unsigned)test_sysv_key());
    snprintf(c, sizeof c, "sysv://0x%x", (unsigned)test_sysv_key());
    uint64_t n = 16;
    shmap_seg *sa, *sb, *sc;
    CHECK_OK(shmap_create(&sa, a, SHMAP_U8, 1, &n, NULL));
    CHECK_OK(shmap_create(&sb, b, SHMAP_U8, 1, &n, NULL));
    CHECK_ERR(shmap_create(&sc, c, SHMAP_U8, 1, &n, NULL), -ENOSPC);
    CHECK_CONTAINS(shmap_last_error(), c);
    CHECK_CONTAINS(shmap_last_error(), ": no System V segment id left for the new segment "
                                       "(kernel.shmmni is 2, all in use); raise it with "
                                       "sysctl kernel.shmmni");
    CHECK_OK(shmap_close(sb));
    /* A freed slot is usable again. */
    CHECK_OK(shmap_create(&sc, c, SHMAP_U8, 1, &n, NULL));
    CHECK_OK(shmap_close(sc));
    CHECK_OK(shmap_close(sa));
}

TEST(stores__sysv_names_are_checked)
{
    shmap_store store;
    CHECK_OK(shmap_name_check("sysv://0x5eed", &store));
    CHECK_EQ_INT(store, SHMAP_STORE_SYSV);
    CHECK_OK(shmap_name_check("sysv://1234", &store));
    CHECK_OK(shmap_name_check("sysv://id=7", &store));
    CHECK_ERR(shmap_name_check("sysv://", NULL), SHMAP_EBADNAME);
    CHECK_ERR(shmap_name_check("sysv://0", NULL), SHMAP_EBADNAME);
    CHECK_ERR(shmap_name_check("sysv://0x1g", NULL), SHMAP_EBADNAME);
    CHECK_ERR(shmap_name_check("sysv://-1", NULL), SHMAP_EBADNAME);
    CHECK_ERR(shmap_name_check("sysv://0x100000000", NULL), SHMAP_EBADNAME);
    /* Digits only: no blank nor sign before them, none after. */
    const char *strays[] = {"sysv:// 5", "sysv://\t5", "sysv://+5", "sysv://5 ", "sysv://0x 5",
                            "sysv://0x+5", "sysv://id= 5", "sysv://id=+5", "sysv://id=-5"};
    for (size_t i = 0; i < sizeof strays / sizeof strays[0]; i++)
        CHECK_ERR(shmap_name_check(strays[i], NULL), SHMAP_EBADNAME);
    CHECK_OK(shmap_name_check("file:/tmp/x", &store));
    CHECK_EQ_INT(store, SHMAP_STORE_FILE);
    CHECK_OK(shmap_name_check("file:///tmp/x", &store));
    CHECK_ERR(shmap_name_check("file:", NULL), SHMAP_EBADNAME);
    CHECK_ERR(shmap_name_check("file:/tmp/", NULL), SHMAP_EBADNAME);
    CHECK_OK(shmap_name_check("memfd:", &store));
    CHECK_EQ_INT(store, SHMAP_STORE_MEMFD);
}

/* Bytes 0..size-1 of a file with a pattern no two neighbours share. */
static void write_pattern(const char *path, size_t size)
{
    unsigned char *buf = malloc(size);
    for (size_t i = 0; i < size; i++)
        buf[i] = (unsigned char)(i * 7 + (i >> 8));
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);
    CHECK(fd >= 0 && write(fd, buf, size) == (ssize_t)size);
    close(fd);
    free(buf);
}

TEST(stores__raw_offsets_with_every_element_size)
{
    const char *path = tmp_path("raw.bin");
    size_t size = 3 * 4096;
    write_pattern(path, size);
    const shmap_dtype types[] = {SHMAP_U8, SHMAP_I16, SHMAP_F32, SHMAP_F64, SHMAP_C64,
                                 SHMAP_C128};
    const uint64_t offsets[] = {0, 1, 4095, 4096, 4097, 4100, 4104};
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        /* As C's _Alignof and numpy: the size up to 8, a complex number its component's
         * (c64 at 4100 maps, as numpy.memmap maps complex64 at offset 4). */
        size_t el = shmap_dtype_size(types[t]);
        size_t comp = types[t] == SHMAP_C64 || types[t] == SHMAP_C128 ? el / 2 : el;
        size_t align = comp < 8 ? comp : 8;
        for (size_t o = 0; o < sizeof offsets / sizeof offsets[0]; o++) {
            shmap_raw_opts ro = SHMAP_RAW_OPTS_INIT;
            ro.offset = offsets[o];
            uint64_t n = 100;
            shmap_seg *seg;
            int rc = shmap_open_raw(&seg, file_name(path), types[t], 1, &n, &ro);
            if (offsets[o] % align != 0) {
                if (rc != SHMAP_EINVAL)
                    test_fail(__FILE__, __LINE__, "%s at %llu: rc %d, expected EINVAL",
                              shmap_dtype_name(types[t]), (unsigned long long)offsets[o], rc);
                CHECK_CONTAINS(shmap_last_error(), "misaligns");
                continue;
            }
            CHECK_OK(rc);
            const unsigned char *d = shmap_data(seg);
            for (size_t i = 0; i < n * el; i++) {
                size_t at = offsets[o] + i;
                if (d[i] != (unsigned char)(at * 7 + (at >> 8)))
                    test_fail(__FILE__, __LINE__, "%s at %llu: byte %zu differs",
                              shmap_dtype_name(types[t]), (unsigned long long)offsets[o], i);
            }
            shmap_info info;
            CHECK_OK(shmap_info_get(seg, &info));
            CHECK(info.dtype == types[t] && info.dims[0] == 100 &&
                  info.data_offset == offsets[o]);
            CHECK_OK(shmap_close(seg));
        }
    }
    tmp_cleanup();
}

TEST(stores__raw_too_small_object_names_both_sizes)
{
    const char *path = tmp_path("small.bin");
    write_pattern(path, 1000);
    shmap_raw_opts ro = SHMAP_RAW_OPTS_INIT;
    ro.offset = 8;
    uint64_t n = 125;
    shmap_seg *seg;
    CHECK_ERR(shmap_open_raw(&seg, file_name(path), SHMAP_F64, 1, &n, &ro), SHMAP_ETRUNCATED);
    CHECK_CONTAINS(shmap_last_error(), "1000 bytes");
    CHECK_CONTAINS(shmap_last_error(), "1008");
    n = 124;
    CHECK_OK(shmap_open_raw(&seg, file_name(path), SHMAP_F64, 1, &n, &ro));
    CHECK_OK(shmap_close(seg));
    tmp_cleanup();
}

TEST(stores__raw_without_dims_says_none_were_given)
{
    /* As shmap_create() says it: the count of dimensions is not what is wrong. */
    const char *path = tmp_path("nodims.bin");
    write_pattern(path, 1000);
    shmap_seg *seg;
    for (unsigned ndim = 1; ndim <= 2; ndim++) {
        CHECK_ERR(shmap_open_raw(&seg, file_name(path), SHMAP_U8, ndim, NULL, NULL),
                  SHMAP_ESHAPE);
        CHECK_CONTAINS(shmap_last_error(), "no dimensions given");
    }
    CHECK_ERR(shmap_open_raw(&seg, file_name(path), SHMAP_U8, 0, NULL, NULL), SHMAP_ESHAPE);
    CHECK_CONTAINS(shmap_last_error(), "0 dimensions; give 1 to 8");
    CHECK_ERR(shmap_create(&seg, test_name("nodims"), SHMAP_U8, 1, NULL, NULL), SHMAP_ESHAPE);
    CHECK_CONTAINS(shmap_last_error(), "no dimensions given");
    tmp_cleanup();
}

TEST(stores__raw_handle_refuses_header_calls_and_takes_templates)
{
    uint64_t dims[2] = {4, 8};
    shmap_seg *seg, *raw, *raw2;
    CHECK_OK(shmap_create(&seg, test_name("tmpl"), SHMAP_I16, 2, dims, NULL));
    ((int16_t *)shmap_data(seg))[3] = -7;
    shmap_raw_opts ro = SHMAP_RAW_OPTS_INIT;
    ro.template_seg = seg;
    ro.offset = 4096;
    ro.flags = SHMAP_RDWR;
    CHECK_OK(shmap_open_raw(&raw, test_name("tmpl"), SHMAP_DTYPE_NONE, 0, NULL, &ro));
    CHECK_EQ_INT(((int16_t *)shmap_data(raw))[3], -7);
    ((int16_t *)shmap_data(raw))[4] = 9;
    CHECK_EQ_INT(((int16_t *)shmap_data(seg))[4], 9);
    shmap_info info;
    CHECK_OK(shmap_info_get(raw, &info));
    CHECK(info.dtype == SHMAP_I16 && info.ndim == 2 && info.dims[1] == 8);
    ro.template_seg = NULL;
    ro.template_name = test_name("tmpl");
    CHECK_OK(shmap_open_raw(&raw2, test_name("tmpl"), SHMAP_DTYPE_NONE, 0, NULL, &ro));
    CHECK(raw2 != raw && shmap_data(raw2) != shmap_data(raw));
    shmap_keyword kw;
    CHECK_OK(shmap_keyword_parse("A=1", &kw));
    CHECK_ERR(shmap_keyword_set(raw, &kw), SHMAP_ERAW);
    CHECK_ERR(shmap_keyword_get(raw, "A", &kw), SHMAP_ERAW);
    CHECK_ERR(shmap_keyword_list(raw, NULL, 0), SHMAP_ERAW);
    CHECK_ERR(shmap_lock(raw, SHMAP_LOCK_SHARED, 0), SHMAP_ERAW);
    CHECK_ERR(shmap_lock_info(raw, &(shmap_lockinfo){0}), SHMAP_ERAW);
    CHECK_ERR(shmap_attached(raw, NULL, 0), SHMAP_ERAW);
    CHECK_CONTAINS(shmap_last_error(), "raw mapping has no header");
    CHECK_ERR(shmap_open_raw(&raw2, test_name("tmpl"), SHMAP_F32, 1, dims, &ro), SHMAP_EINVAL);
    CHECK_OK(shmap_close(raw));
    CHECK_OK(shmap_close(raw2));
    CHECK_OK(shmap_close(seg));
    CHECK(!util_shm_exists(test_name("tmpl")));
}

TEST(stores__raw_info_reports_the_object_and_the_record_fields)
{
    const char *name = test_name("rawinfo");
    char junk[10240];
    memset(junk, 0, sizeof junk);
    util_shm_write(name, junk, sizeof junk);
    shmap_raw_opts ro = SHMAP_RAW_OPTS_INIT;
    ro.offset = 2;
    uint64_t dims[2] = {4, 2};
    shmap_seg *raw;
    CHECK_OK(shmap_open_raw(&raw, name, SHMAP_U16, 2, dims, &ro));
    shmap_info info;
    CHECK_OK(shmap_info_get(raw, &info));
    CHECK_EQ_INT(info.size, 10240); /* the object's size, not the bytes mapped */
    CHECK_EQ_INT(info.data_offset, 2);
    CHECK_EQ_INT(info.data_size, 16);
    CHECK_STR(info.record_fields, "");
    CHECK_OK(shmap_close(raw));
    /* Records keep their field list, from the caller or from a template. */
    ro.offset = 4096;
    ro.record_fields = "x:f4,y:f4[3]";
    uint64_t n = 10;
    CHECK_OK(shmap_open_raw(&raw, name, SHMAP_RECORD, 1, &n, &ro));
    CHECK_OK(shmap_info_get(raw, &info));
    CHECK_EQ_INT(info.dtype, SHMAP_RECORD);
    CHECK_EQ_INT(info.elsize, 16);
    CHECK_STR(info.record_fields, "x:f4,y:f4[3]");
    shmap_raw_opts to = SHMAP_RAW_OPTS_INIT;
    to.template_seg = raw;
    shmap_seg *again;
    CHECK_OK(shmap_open_raw(&again, name, SHMAP_DTYPE_NONE, 0, NULL, &to));
    CHECK_OK(shmap_info_get(again, &info));
    CHECK_STR(info.record_fields, "x:f4,y:f4[3]");
    CHECK_EQ_INT(info.dims[0], 10);
    CHECK_OK(shmap_close(again));
    CHECK_OK(shmap_close(raw));
    util_shm_remove(name);
}

TEST(stores__memfd_has_no_name_and_keeps_its_fd)
{
    uint64_t n = 16;
    shmap_seg *seg, *again;
    CHECK_OK(shmap_create(&seg, NULL, SHMAP_U32, 1, &n, NULL));
    shmap_info info;
    CHECK_OK(shmap_info_get(seg, &info));
    CHECK_EQ_INT(info.store, SHMAP_STORE_MEMFD);
    CHECK_STR(info.name, "memfd:shmap");
    int fd = shmap_fd(seg);
    CHECK(fd >= 0);
    ((uint32_t *)shmap_data(seg))[3] = 77;
    CHECK_OK(shmap_open_fd(&again, fd, SHMAP_RDONLY));
    CHECK_EQ_INT(((uint32_t *)shmap_data(again))[3], 77);
    CHECK_OK(shmap_close(again));
    /* As shmap_open(): a private open holds no lock (it does not ask for write access). */
    CHECK_ERR(shmap_open_fd(&again, fd, SHMAP_PRIVATE | SHMAP_HOLD), SHMAP_EINVAL);
    CHECK_CONTAINS(shmap_last_error(), "SHMAP_HOLD is refused with SHMAP_PRIVATE: holding the "
                                       "segment's lock while open needs write access");
    CHECK_ERR(shmap_open(&again, "memfd:shmap", SHMAP_RDONLY), SHMAP_ESTORE);
    shmap_seg *posix;
    CHECK_OK(shmap_create(&posix, test_name("nofd"), SHMAP_U8, 1, &n, NULL));
    CHECK_ERR(shmap_fd(posix), SHMAP_ESTORE);
    CHECK_OK(shmap_close(posix));
    CHECK_OK(shmap_close(seg));
}

/* The answer must not depend on what else the process maps: a read-write mapping of the
 * object already there is no licence to write through a read-only descriptor. */
static void check_rdwr_refused(int fd)
{
    shmap_seg *seg = NULL;
    CHECK_ERR(shmap_open_fd(&seg, fd, SHMAP_RDWR), -EACCES);
    CHECK(seg == NULL);
    CHECK_CONTAINS(shmap_last_error(), "is open read-only");
    CHECK_ERR(shmap_open_fd(&seg, fd, SHMAP_RDWR | SHMAP_HOLD), -EACCES);
    /* Read-only and private (copy-on-write) opens need only read access. */
    CHECK_OK(shmap_open_fd(&seg, fd, SHMAP_RDONLY));
    CHECK(!shmap_writable(seg));
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_open_fd(&seg, fd, SHMAP_PRIVATE));
    CHECK_OK(shmap_close(seg));
}

TEST(stores__open_fd_read_write_refuses_a_read_only_descriptor_always)
{
    uint64_t n = 64;
    const char *path = tmp_path("rofd.dat");
    const char *name = file_name(path);
    shmap_create_opts keep = SHMAP_CREATE_OPTS_INIT;
    keep.flags = SHMAP_CREATE_KEEP;
    shmap_seg *seg, *rw;
    CHECK_OK(shmap_create(&seg, name, SHMAP_I64, 1, &n, &keep));
    CHECK_OK(shmap_close(seg));
    int ro = open(path, O_RDONLY);
    CHECK(ro >= 0);
    check_rdwr_refused(ro);
    /* The same with a read-write mapping of the file in the process. */
    CHECK_OK(shmap_open(&rw, name, SHMAP_RDWR));
    check_rdwr_refused(ro);
    CHECK_EQ_INT(util_mapping_refs(name, NULL), 1);
    CHECK_OK(shmap_close(rw));
    close(ro);

    /* A memfd reopened read-only through /proc, while its read-write mapping is there. */
    CHECK_OK(shmap_create(&seg, NULL, SHMAP_I64, 1, &n, NULL));
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", shmap_fd(seg));
    ro = open(proc, O_RDONLY | O_CLOEXEC);
    CHECK(ro >= 0);
    check_rdwr_refused(ro);
    CHECK_OK(shmap_close(seg));
    check_rdwr_refused(ro);
    close(ro);
    tmp_cleanup();
}

TEST(stores__hugepages_without_configured_pages_say_how)
{
    FILE *f = fopen("/proc/sys/vm/nr_hugepages", "r");
    unsigned long long nr = 1;
    if (f) {
        if (fscanf(f, "%llu", &nr) != 1)
            nr = 1;
        fclose(f);
    }
    shmap_create_opts o = SHMAP_CREATE_OPTS_INIT;
    o.flags = SHMAP_CREATE_HUGEPAGES;
    uint64_t n = 1 << 20;
    shmap_seg *seg;
    CHECK_ERR(shmap_create(&seg, test_name("huge"), SHMAP_U8, 1, &n, &o), SHMAP_ESTORE);
    if (nr != 0) {
        int rc = shmap_create(&seg, NULL, SHMAP_U8, 1, &n, &o);
        if (rc == 0)
            CHECK_OK(shmap_close(seg));
        TEST_SKIP("huge pages are configured here (vm.nr_hugepages is %llu)", nr);
    }
    CHECK_ERR(shmap_create(&seg, NULL, SHMAP_U8, 1, &n, &o), SHMAP_ESTORE);
    CHECK_CONTAINS(shmap_last_error(), "nr_hugepages");
}
