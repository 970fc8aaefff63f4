/*
 * What `shmap ls` says of objects that are not ready segments, and how its table lines up:
 * a segment still being created is told from one whose creator died, as info tells them;
 * every object of `ls --all --json` has the members every object must have; names that
 * are not ASCII keep the columns straight, and bytes that are not text print escaped.
 */
#include <signal.h>

#include "../util.h"

/* The line of `text` holding `needle`, copied into buf; fails the test if there is none. */
static const char *line_with(const char *text, const char *needle, char *buf, size_t size)
{
    const char *hit = strstr(text, needle);
    if (!hit)
        test_fail(__FILE__, __LINE__, "no line with \"%s\" in:\n%s", needle, text);
    const char *start = hit;
    while (start > text && start[-1] != '\n')
        start--;
    snprintf(buf, size, "%.*s", (int)strcspn(start, "\n"), start);
    return buf;
}

/* The start time of process `pid` in clock ticks: field 22 of /proc/PID/stat, counted from
 * after the command name's closing parenthesis as proc(5) says (the name may hold blanks). */
static uint64_t proc_start_time(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    CHECK(p != NULL && p[1] == ' ');
    p += 2; /* field 3 */
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        CHECK(p != NULL);
        p++;
    }
    return strtoull(p, NULL, 10);
}

/*
 * Make `name` a POSIX segment whose header says it is still being created by `creator`:
 * creator pid and start time are that process's, the checksum is recomputed over them
 * (docs/FORMAT.md) and the state word is INIT, as a creation at work leaves a header.
 */
static void make_being_created(const char *name, pid_t creator)
{
    const uint64_t dims[1] = {64};
    struct shmap__header h;
    util_make_kept(name, SHMAP_U8, 1, dims);
    util_header_read(name, &h);
    h.creator_pid = (int32_t)creator;
    h.creator_start = proc_start_time(creator);
    util_fix_checksum(&h);
    h.state = SHMAP__STATE_INIT;
    util_header_write(name, &h);
}

/* A child that sleeps until it is killed: a creator at work, as far as a header can tell. */
static pid_t spawn_sleeper(void)
{
    pid_t pid = util_spawn();
    if (pid == 0)
        for (;;)
            pause();
    return pid;
}

TEST(cli__ls_all_tells_a_segment_being_created_from_one_whose_creator_died)
{
    const char *name = test_name("init");
    char *out = NULL, *err = NULL, line[2048], want[512], obj[8192];
    pid_t creator = spawn_sleeper();
    make_being_created(name, creator);

    /* info waits a moment for the creator, then says it is at work. */
    RUN(1, "info", name);
    snprintf(want, sizeof want, "segment is still being created by pid %d\n", (int)creator);
    CHECK_ERROR_LINE(err, want);

    /* ls leaves it out; ls --all says the same as info, in the table and in JSON. */
    RUN(0, "ls");
    CHECK(!strstr(out, name));
    RUN(0, "ls", "--all");
    line_with(out, name, line, sizeof line);
    snprintf(want, sizeof want, "  segment is still being created by pid %d", (int)creator);
    CHECK_CONTAINS(line, want);
    CHECK(!strstr(line, "never"));
    RUN(0, "ls", "--all", "--json");
    snprintf(want, sizeof want, "{\"name\": \"%s\",", name);
    line_with(out, want, obj, sizeof obj);
    snprintf(want, sizeof want, "\"error\": \"segment is still being created by pid %d\", "
                                "\"error_code\": \"SHMAP_EINCOMPLETE\",", (int)creator);
    CHECK_CONTAINS(obj, want);

    /* The creator dies: now the creation will never end, and all three say so. */
    util_kill9(creator);
    RUN(1, "info", name);
    snprintf(want, sizeof want, "segment was never completed: its creator (pid %d) died "
                                "while creating it", (int)creator);
    CHECK_ERROR_LINE(err, want);
    RUN(0, "ls", "--all");
    line_with(out, name, line, sizeof line);
    CHECK_CONTAINS(line, want);
    RUN(0, "ls", "--all", "--json");
    snprintf(want, sizeof want, "{\"name\": \"%s\",", name);
    line_with(out, want, obj, sizeof obj);
    snprintf(want, sizeof want, "\"error\": \"segment was never completed: its creator (pid %d) "
                                "died while creating it", (int)creator);
    CHECK_CONTAINS(obj, want);
    CHECK_CONTAINS(obj, "\"error_code\": \"SHMAP_EINCOMPLETE\",");

    RUN(0, "rm", "--force", name);
    CHECK(!util_shm_exists(name));
    util_clear(&out, &err);
}

/* The members SPEC.md requires of every object that `--json` prints. */
static const char *const required[] = {"name", "store", "dtype", "shape", "bytes", "mode",
                                       "uid", "gid", "creator_pid", "attached", "generation",
                                       "created"};
#define NREQUIRED (sizeof required / sizeof required[0])

/* Whether a one-line JSON object has member `key` at its top level (depth 1). */
static int has_member(const char *obj, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    size_t len = strlen(pat);
    int depth = 0, in_str = 0;
    for (const char *p = obj; *p; p++) {
        if (in_str) {
            if (*p == '\\' && p[1])
                p++;
            else if (*p == '"')
                in_str = 0;
            continue;
        }
        if (*p == '{' || *p == '[')
            depth++;
        else if (*p == '}' || *p == ']')
            depth--;
        else if (*p == '"') {
            if (depth == 1 && strncmp(p, pat, len) == 0 && (p[-1] == '{' || p[-2] == ','))
                return 1;
            in_str = 1;
        }
    }
    return 0;
}

TEST(cli__ls_all_json_gives_every_object_the_members_every_object_has)
{
    const char *seg = test_name("seg"), *zeros = test_name("zeros"), *init = test_name("init");
    const uint64_t dims[2] = {4, 3};
    char zero[100] = {0};
    char *out = NULL, *err = NULL, obj[8192], want[SHMAP_NAME_MAX + 16];
    util_make_kept(seg, SHMAP_F32, 2, dims);
    util_shm_write(zeros, zero, sizeof zero); /* head -c 100 /dev/zero > /dev/shm/NAME */
    make_being_created(init, getpid());

    RUN(0, "ls", "--all", "--json");
    /* Every object, ours and whatever else this machine holds. */
    int objects = 0;
    for (const char *p = out; (p = strstr(p, "{\"name\": ")); p++) {
        snprintf(obj, sizeof obj, "%.*s", (int)strcspn(p, "\n"), p);
        for (size_t k = 0; k < NREQUIRED; k++)
            if (!has_member(obj, required[k]))
                test_fail(__FILE__, __LINE__, "no member \"%s\" in %s", required[k], obj);
        objects++;
    }
    CHECK(objects >= 3);

    /* What is unknown of an object that is no segment is null, as for a raw one. */
    const char *others[] = {zeros, init};
    for (int i = 0; i < 2; i++) {
        snprintf(want, sizeof want, "{\"name\": \"%s\",", others[i]);
        line_with(out, want, obj, sizeof obj);
        CHECK_CONTAINS(obj, "\"shmap\": false,");
        CHECK_CONTAINS(obj, "\"dtype\": null,");
        CHECK_CONTAINS(obj, "\"shape\": null,");
        CHECK_CONTAINS(obj, "\"bytes\": null,");
        CHECK_CONTAINS(obj, "\"creator_pid\": null, \"attached\": null, \"generation\": null, "
                            "\"created\": null, \"error\": ");
    }
    snprintf(want, sizeof want, "{\"name\": \"%s\",", zeros);
    line_with(out, want, obj, sizeof obj);
    CHECK_CONTAINS(obj, "\"size\": 100,");
    CHECK_CONTAINS(obj, ", \"error_code\": \"SHMAP_EFORMAT\", \"deleted\": false}");
    snprintf(want, sizeof want, "{\"name\": \"%s\",", seg);
    line_with(out, want, obj, sizeof obj);
    CHECK_CONTAINS(obj, "\"dtype\": \"f32\",");
    CHECK_CONTAINS(obj, "\"shape\": [4, 3],");

    util_shm_remove(zeros);
    util_shm_remove(init);
    CHECK_OK(shmap_unlink(seg));
    util_clear(&out, &err);
}
