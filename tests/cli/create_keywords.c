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
