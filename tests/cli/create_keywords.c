/*
 * `shmap create --keyword` and `import`: the keywords are in the segment before it appears
 * under its name, also when it replaces another, so a reader that opens it never finds it
 * without them. A reader child opens the name over and over while the segment is replaced
 * again and again.
 */
#include <errno.h>
#include <stdbool.h>
#include <sys/mman.h>

#include "../util.h"

#define REPLACEMENTS 60

/* A child that opens `name` until `*stop`, and exits 1 if it ever opened it and found no
 * keyword RUN, 2 if an open failed otherwise than finding no segment. */
static pid_t spawn_reader(const char *name, int *stop)
{
    pid_t pid = util_spawn();
    if (pid != 0)
        return pid;
    while (!__atomic_load_n(stop, __ATOMIC_SEQ_CST)) {
        shmap_seg *seg = NULL;
        int rc = shmap_open(&seg, name, SHMAP_RDONLY);
        if (rc == -ENOENT)
            continue;
        if (rc < 0)
            _exit(2);
        shmap_keyword kw;
        rc = shmap_keyword_get(seg, "RUN", &kw);
        shmap_close(seg);
        if (rc < 0)
            _exit(1);
    }
    _exit(0);
}

static void replaced_under_a_reader(const char *name, const char *type)
{
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, type, "4", "--keyword", "RUN=0");
    int *stop = mmap(NULL, sizeof *stop, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                     -1, 0);
    CHECK(stop != MAP_FAILED);
    *stop = 0;
    pid_t reader = spawn_reader(name, stop);
    for (int i = 1; i <= REPLACEMENTS; i++) {
        char kw[32];
        snprintf(kw, sizeof kw, "RUN=%d", i);
        RUN(0, "create", name, type, "4", "--replace", "--keyword", kw, "--keyword", "B=1");
    }
    __atomic_store_n(stop, 1, __ATOMIC_SEQ_CST);
    int status = test_wait(reader);
    munmap(stop, sizeof *stop);
    RUN(0, "info", name, "--json");
    CHECK_CONTAINS(out, "\"RUN\": 60");
    RUN(0, "rm", name);
    util_clear(&out, &err);
    if (status == 1)
        test_fail(__FILE__, __LINE__, "a reader found %s without its keywords", name);
    CHECK_EQ_INT(status, 0);
}

TEST(cli__create_replace_never_shows_a_segment_without_its_keywords)
{
    replaced_under_a_reader(test_name("kwrepl"), "u8");
}

TEST(cli__create_replace_of_a_system_v_segment_never_shows_it_without_its_keywords)
{
    char name[64];
    snprintf(name, sizeof name, "sysv://0x%08x", (unsigned)test_sysv_key());
    replaced_under_a_reader(name, "f64");
}

/*
 * `create --exist-ok` states the keywords the segment is to have: one found existing gets
 * them set on it, all or none (a keyword given no comment keeps its own), while its mode,
 * which only a creation gives, stays as it is.
 */
TEST(cli__create_exist_ok_sets_its_keywords_on_the_segment_found)
{
    const char *name = test_name("kwexist");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "u1", "4", "--mode", "0600", "--keyword", "A=1 / first",
        "--keyword", "KEEP='x'");
    RUN(0, "create", name, "u1", "4", "--exist-ok", "--mode", "0644", "--keyword", "A=2",
        "--keyword", "B=3 / bee");
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDWR));
    shmap_keyword kw;
    CHECK_OK(shmap_keyword_get(seg, "A", &kw));
    CHECK_EQ_INT(kw.i, 2);
    CHECK_STR(kw.comment, "first");
    CHECK_OK(shmap_keyword_get(seg, "B", &kw));
    CHECK_EQ_INT(kw.i, 3);
    CHECK_STR(kw.comment, "bee");
    CHECK_OK(shmap_keyword_get(seg, "KEEP", &kw));
    CHECK_STR(kw.s, "x");
    shmap_info info;
    CHECK_OK(shmap_info_get(seg, &info));
    CHECK_EQ_INT(info.mode, 0600);

    /* One free slot left, two new keywords asked: none is set, A keeps its value. */
    for (int i = 0; info.nkeywords + (unsigned)i < info.keyword_capacity - 1; i++) {
        char text[32];
        snprintf(text, sizeof text, "FILL%d=%d", i, i);
        CHECK_OK(shmap_keyword_parse(text, &kw));
        CHECK_OK(shmap_keyword_set(seg, &kw));
    }
    RUN(1, "create", name, "u1", "4", "--exist-ok", "--keyword", "A=5", "--keyword", "N1=1",
        "--keyword", "N2=2");
    CHECK_ERROR_LINE(err, "no room for new keywords N1, N2: 1 of 32 keyword slots free");
    CHECK_OK(shmap_keyword_get(seg, "A", &kw));
    CHECK_EQ_INT(kw.i, 2);
    CHECK_ERR(shmap_keyword_get(seg, "N1", &kw), SHMAP_ENOKEY);
    /* Another type or shape is refused before any keyword is touched. */
    RUN(1, "create", name, "u1", "5", "--exist-ok", "--keyword", "A=6");
    CHECK_OK(shmap_keyword_get(seg, "A", &kw));
    CHECK_EQ_INT(kw.i, 2);
    CHECK_OK(shmap_close(seg));
    RUN(0, "rm", name);
    util_clear(&out, &err);
}
