/*
 * shmap import --existing: the array of a file written into a segment that exists, which
 * the processes mapping it see in place. Only a file of the segment's type and shape is
 * taken; the copy is made under the exclusive lock, published once, and all or nothing (a
 * mismatch, a short file, a lock not had in time or a signal leave the segment as it was).
 *
 * Files come from `shmap export` of a segment filled here, so these tests need no numpy;
 * they live in this test's directory, which a guard process removes however the test ends.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>

#include "../util.h"

/* What `shmap cat NAME` prints. */
static char *cat_of(const char *name)
{
    char *out = NULL, *err = NULL;
    RUN(0, "cat", name);
    free(err);
    return out;
}

/* A .npy file of a TYPE array of SHAPE (DIM arguments), filled with the ramp 0, 1, 2... */
static const char *ramp_file(const char *leaf, const char *type, const char *d0,
                             const char *d1)
{
    const char *src = test_name("src"), *path = util_test_path(leaf);
    char *out = NULL, *err = NULL;
    RUN(0, "create", src, type, d0, d1);
    RUN(0, "fill", src, "ramp");
    RUN(0, "export", src, path);
    RUN(0, "rm", src);
    util_clear(&out, &err);
    return path;
}

TEST(io__import_existing_writes_in_place_keeps_keywords_and_publishes_once)
{
    const char *name = test_name("dst");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "f32", "3", "4", "--keyword", "OBJECT='M31'");
    /* A process that maps it already: it sees the new data in its own mapping. */
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDONLY));
    const float *data = shmap_data(seg);
    uint64_t before = shmap_generation(seg);

    const char *npy = ramp_file("ramp.npy", "f32", "3", "4");
    RUN(0, "import", npy, name, "--existing", "--keyword", "EXPTIME=2.5");
    CHECK_STR(err, "");
    for (int i = 0; i < 12; i++)
        CHECK(data[i] == (float)i);
    CHECK_EQ_INT(shmap_generation(seg), before + 1);
    shmap_keyword kw;
    CHECK_OK(shmap_keyword_get(seg, "OBJECT", &kw));
    CHECK_STR(kw.s, "M31");
    CHECK_OK(shmap_keyword_get(seg, "EXPTIME", &kw));
    CHECK(kw.f == 2.5);
    /* Any store's name: a file segment too. */
    const char *f = util_test_path("dst.shm");
    char fname[600];
    snprintf(fname, sizeof fname, "file:%s", f);
    RUN(0, "create", fname, "f32", "3", "4");
    RUN(0, "import", npy, fname, "--existing", "--timeout", "5");
    char *c = cat_of(fname);
    CHECK_STR(c, "0 1 2 3\n4 5 6 7\n8 9 10 11\n");
    free(c);
    RUN(0, "rm", fname);
    /* A FITS image brings its header's keywords (where shmap is built with CFITSIO). */
    const char *src = test_name("fsrc"), *fits = util_test_path("k.fits");
    RUN(0, "create", src, "f32", "3", "4", "--keyword", "TELESCOP='VLT'");
    if (test_cli(&out, &err, NULL, "export", src, fits, NULL) == 0) {
        RUN(0, "import", fits, name, "--existing");
        CHECK_OK(shmap_keyword_get(seg, "TELESCOP", &kw));
        CHECK_STR(kw.s, "VLT");
        CHECK_OK(shmap_keyword_get(seg, "OBJECT", &kw));
        CHECK_EQ_INT(shmap_generation(seg), before + 2);
    } else {
        CHECK_CONTAINS(err, "FITS support not built");
    }
    RUN(0, "rm", src);
    CHECK_OK(shmap_close(seg));
    RUN(0, "rm", name);
    util_clear(&out, &err);
}

/* A --keyword KEY=VALUE without a comment keeps the keyword's comment, as `shmap keyword`
 * does (it was dropped); one that gives a comment, even an empty one, sets it. */
TEST(io__import_existing_keyword_without_a_comment_keeps_the_comment)
{
    const char *name = test_name("kwc");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "u8", "2", "--keyword", "GAIN=2 / e-/ADU", "--keyword",
        "BIAS=1 / counts", "--keyword", "ZERO=0 / level");
    const char *npy = ramp_file("kwc.npy", "u8", "2", NULL);
    RUN(0, "import", npy, name, "--existing", "--keyword", "GAIN=4", "--keyword",
        "BIAS=5 / adu", "--keyword", "ZERO=7 /", "--keyword", "NEW=1");
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDONLY));
    static const struct {
        const char *key;
        long long value;
        const char *comment;
    } want[] = {{"GAIN", 4, "e-/ADU"}, {"BIAS", 5, "adu"}, {"ZERO", 7, ""}, {"NEW", 1, ""}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        shmap_keyword kw;
        CHECK_OK(shmap_keyword_get(seg, want[i].key, &kw));
        CHECK_EQ_INT(kw.i, want[i].value);
        CHECK_STR(kw.comment, want[i].comment);
    }
    CHECK_OK(shmap_close(seg));
    RUN(0, "rm", name);
    util_clear(&out, &err);
}

TEST(io__import_existing_takes_only_the_segments_type_and_shape)
{
    const char *name = test_name("dst");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "f32", "3", "4");
    RUN(0, "fill", name, "7");
    const char *f64 = ramp_file("f64.npy", "f64", "3", "4");
    RUN(1, "import", f64, name, "--existing");
    CHECK_ERROR_LINE(err, "holds f32 3x4, and ");
    CHECK_ERROR_LINE(err, " holds f64 3x4: --existing needs the same type and shape");
    const char *t = ramp_file("t.npy", "f32", "4", "3");
    RUN(1, "import", t, name, "--existing");
    CHECK_ERROR_LINE(err, "holds f32 4x3");
    char *c = cat_of(name);
    CHECK_STR(c, "7 7 7 7\n7 7 7 7\n7 7 7 7\n");
    free(c);
    shmap_info st;
    CHECK_OK(shmap_stat(name, &st));
    CHECK_EQ_INT(st.generation, 1); /* the fill's publish, and nothing since */

    /* Records match field by field, however their types are spelled. */
    const char *rec = test_name("rec"), *src = test_name("rsrc");
    const char *npy = util_test_path("rec.npy");
    RUN(0, "create", rec, "record:x:f4,flag:u1", "2");
    RUN(0, "create", src, "record:x:float32,flag:uint8", "2");
    RUN(0, "set", src, "1", "(x=1.5,flag=3)");
    RUN(0, "export", src, npy);
    RUN(0, "import", npy, rec, "--existing");
    c = cat_of(rec);
    CHECK_STR(c, "(x=0, flag=0) (x=1.5, flag=3)\n");
    free(c);
    RUN(0, "rm", src);
    RUN(0, "create", src, "record:y:f4,flag:u1", "2");
    RUN(0, "export", src, util_test_path("other.npy"));
    RUN(1, "import", util_test_path("other.npy"), rec, "--existing");
    CHECK_ERROR_LINE(err, "--existing needs the same type and shape");
    RUN(0, "rm", src, rec, name);
    util_clear(&out, &err);
}

TEST(io__import_existing_is_all_or_nothing)
{
    char *out = NULL, *err = NULL;
    const char *npy = ramp_file("big.npy", "u8", "16", "256");
    const char *sh = test_name("sh"), *none = test_name("none");
    RUN(0, "create", sh, "u8", "16", "256");
    /* Short, through a pipe: found only once the data is read, before the segment is
     * touched. */
    int rc = test_sh(&out, &err, "head -c 3000 '%s' | '%s' import - %s --existing", npy,
                     test_shmap_bin(), sh);
    CHECK_EQ_INT(rc, 1);
    CHECK_ERROR_LINE(err, "truncated");
    char *c = cat_of(sh);
    CHECK(strspn(c, "0 \n") == strlen(c)); /* still all zero */
    free(c);
    /* Missing, a ring, no room for its keywords: refused, nothing written. */
    RUN(1, "import", npy, none, "--existing");
    CHECK_ERROR_LINE(err, "no such segment");
    char kws[40][16];
    const char *argv_kw[2 * 40];
    for (int i = 0; i < 33; i++) {
        snprintf(kws[i], sizeof kws[i], "K%d=%d", i, i);
        argv_kw[2 * i] = "--keyword";
        argv_kw[2 * i + 1] = kws[i];
    }
    /* 33 new keywords for 32 slots (the default): built as a command line by hand. */
    char cmd[4096];
    size_t len = (size_t)snprintf(cmd, sizeof cmd, "'%s' import '%s' %s --existing",
                                  test_shmap_bin(), npy, sh);
    for (int i = 0; i < 66; i++)
        len += (size_t)snprintf(cmd + len, sizeof cmd - len, " '%s'", argv_kw[i]);
    CHECK_EQ_INT(test_sh(&out, &err, "%s", cmd), 1);
    CHECK_ERROR_LINE(err, "no room for new keywords K0, K1, K2, K3, K4, K5, K6, K7, K8, K9, "
                          "K10, K11, K12, K13, K14, K15, K16, K17, K18, K19, K20, K21, K22, "
                          "K23, K24, K25, K26, K27, K28, K29, K30, K31, K32: 32 of 32 keyword "
                          "slots free");
    shmap_info st;
    CHECK_OK(shmap_stat(sh, &st));
    CHECK_EQ_INT(st.nkeywords, 0);
    CHECK_EQ_INT(st.generation, 0);
    RUN(0, "rm", sh);
    util_clear(&out, &err);
}

TEST(io__import_existing_waits_for_the_lock_and_a_signal_ends_the_wait)
{
    const char *name = test_name("dst");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "f32", "3", "4");
    const char *npy = ramp_file("r.npy", "f32", "3", "4");
    pid_t holder = util_spawn_holder(name, SHMAP_LOCK_EXCLUSIVE);
    RUN(1, "import", npy, name, "--existing", "--timeout", "0.2");
    CHECK_ERROR_LINE(err, "timed out");
    char pid[32];
    snprintf(pid, sizeof pid, "pid %d", (int)holder);
    CHECK_CONTAINS(err, pid);

    /* Asleep on the lock, a SIGTERM ends it as that signal, the segment untouched. */
    pid_t imp = util_spawn();
    if (imp == 0) {
        execl(test_shmap_bin(), "shmap", "import", npy, name, "--existing", (char *)NULL);
        _exit(127);
    }
    CHECK(util_wait_asleep(imp));
    kill(imp, SIGTERM);
    CHECK_EQ_INT(test_wait(imp), 128 + SIGTERM);
    /* Looked at directly: cat would wait for the holder's lock, as a consistent read does. */
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDONLY));
    static const float zeros[12];
    CHECK(memcmp(shmap_data(seg), zeros, sizeof zeros) == 0);
    CHECK_EQ_INT(shmap_generation(seg), 0);
    CHECK_OK(shmap_close(seg));

    /* A holder killed holding it: the import goes on, and says so, since what it replaces
     * may have been half written. */
    util_kill9(holder);
    RUN(0, "import", npy, name, "--existing", "--timeout", "5");
    snprintf(pid, sizeof pid, "previous writer (pid %d) died", (int)holder);
    CHECK_ERROR_LINE(err, pid);
    char *c = cat_of(name);
    CHECK_STR(c, "0 1 2 3\n4 5 6 7\n8 9 10 11\n");
    free(c);
    RUN(0, "rm", name);
    util_clear(&out, &err);
}

TEST(io__import_existing_bad_usage_exits_2_before_anything_is_done)
{
    const char *name = test_name("dst");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "f32", "3", "4");
    const char *npy = ramp_file("r.npy", "f32", "3", "4");
    const char *made[][2] = {{"--mode", "0644"}, {"--transient", NULL}, {"--prefault", NULL},
                             {"--hugepages", NULL}};
    for (size_t i = 0; i < sizeof made / sizeof made[0]; i++) {
        if (made[i][1])
            RUN(2, "import", npy, name, "--existing", made[i][0], made[i][1]);
        else
            RUN(2, "import", npy, name, "--existing", made[i][0]);
        CHECK_CONTAINS(err, "is for a new segment, and --existing writes into one that exists");
    }
    const char *fresh = test_name("new");
    RUN(2, "import", npy, fresh, "--timeout", "1");
    CHECK_CONTAINS(err, "--timeout is for --existing");
    CHECK(!util_shm_exists(fresh));
    RUN(2, "import", npy, name, "--existing", "--timeout", "soon");
    shmap_info st;
    CHECK_OK(shmap_stat(name, &st));
    CHECK_EQ_INT(st.generation, 0);
    /* A ring of frames is written frame by frame, not as one array. */
    const char *ring = test_name("ring");
    shmap_create_opts o = SHMAP_CREATE_OPTS_INIT;
    o.flags = SHMAP_CREATE_RING | SHMAP_CREATE_KEEP;
    const uint64_t dims[2] = {3, 4};
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, ring, SHMAP_F32, 2, dims, &o));
    CHECK_OK(shmap_close(seg));
    RUN(1, "import", npy, ring, "--existing");
    CHECK_ERROR_LINE(err, "is a ring of frames");
    RUN(0, "rm", ring, name);
    util_clear(&out, &err);
}

/*
 * Keyword writers take no lock: the slots an import counted free may be taken while it
 * waits for the lock. It then sets none of its keywords and writes no data, where it set
 * those that still fitted and failed on the rest.
 */
TEST(io__import_existing_sets_no_keyword_when_the_slots_fill_while_it_waits)
{
    const char *name = test_name("dst");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "f32", "3", "4");
    const char *npy = ramp_file("r.npy", "f32", "3", "4");
    pid_t holder = util_spawn_holder(name, SHMAP_LOCK_EXCLUSIVE);
    const char *errfile = util_test_path("err");
    pid_t imp = util_spawn();
    if (imp == 0) {
        int fd = open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || dup2(fd, 2) < 0)
            _exit(126);
        execl(test_shmap_bin(), "shmap", "import", npy, name, "--existing", "--keyword",
              "NEWA=1", "--keyword", "NEWB=2", (char *)NULL);
        _exit(127);
    }
    /* The slots fill only once the import waits for the lock, so past its first count of
     * the room: any sleep before that (state S) would let the first count alone refuse
     * it, and the test pass without the count made again under the lock. */
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDWR));
    shmap_lockinfo li = {0};
    for (int i = 0; i < 1000 && !li.waiters; i++) {
        CHECK_OK(shmap_lock_info(seg, &li));
        if (!li.waiters)
            util_sleep_ms(10);
    }
    CHECK(li.waiters);
    CHECK(util_wait_asleep(imp));
    /* Every slot but one taken meanwhile. */
    int filled = 0;
    for (;; filled++) {
        shmap_keyword kw = {.type = SHMAP_KW_INT, .i = filled};
        snprintf(kw.name, sizeof kw.name, "FILL%d", filled);
        if (shmap_keyword_set(seg, &kw) < 0)
            break;
    }
    CHECK(filled > 2);
    CHECK_OK(shmap_keyword_delete(seg, "FILL0"));
    util_kill9(holder);
    CHECK_EQ_INT(test_wait(imp), 1);
    shmap_keyword kw;
    CHECK_ERR(shmap_keyword_get(seg, "NEWA", &kw), SHMAP_ENOKEY);
    CHECK_ERR(shmap_keyword_get(seg, "NEWB", &kw), SHMAP_ENOKEY);
    CHECK_EQ_INT(shmap_generation(seg), 0);
    char msg[1024];
    int fd = open(errfile, O_RDONLY);
    CHECK(fd >= 0);
    util_read_to_end(fd, msg, sizeof msg);
    CHECK_CONTAINS(msg, "no room for new keywords NEWA, NEWB: 1 of ");
    CHECK_OK(shmap_close(seg));
    RUN(0, "rm", name);
    util_clear(&out, &err);
}
