/*
 * shmap ls shows who is attached and the lock state: the USERS and LOCK columns, and in
 * --json the same "attached" and "lock" objects as info --json. Holders are real
 * processes: shared, exclusive, a writer waiting for readers, one killed with SIGKILL.
 * ls --all and info also show a System V segment deleted while a process attaches it.
 */
#include <signal.h>
#include <sys/wait.h>

#include "../util.h"

/* The line of `text` that starts with `name` followed by a blank (table) or that holds
 * "name": "NAME" (ls --json), copied into buf; fails the test if there is none. */
static const char *line_of(const char *text, const char *name, int json, char *buf,
                           size_t size)
{
    char key[SHMAP_NAME_MAX + 16];
    snprintf(key, sizeof key, json ? "{\"name\": \"%s\"," : "%s ", name);
    for (const char *p = text; p && *p;) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *hit = strstr(p, key);
        if (hit && hit < p + len && (json || hit == p)) {
            snprintf(buf, size, "%.*s", (int)len, p);
            return buf;
        }
        p = end ? end + 1 : NULL;
    }
    test_fail(__FILE__, __LINE__, "no line for %s in:\n%s", name, text);
}

/* The words of a table line, split on blanks: the cell of column `col` (0-based). */
static const char *cell(const char *line, int col, char *buf, size_t size)
{
    const char *p = line;
    for (int c = 0;; c++) {
        while (*p == ' ')
            p++;
        size_t len = strcspn(p, " ");
        if (c == col) {
            snprintf(buf, size, "%.*s", (int)len, p);
            return buf;
        }
        if (!p[len])
            return "";
        p += len;
    }
}

/* The columns of `shmap ls`, as its header line names them. */
static int column(const char *table, const char *title)
{
    char first[1024], word[64];
    snprintf(first, sizeof first, "%.*s", (int)strcspn(table, "\n"), table);
    for (int c = 0; c < 32; c++)
        if (strcmp(cell(first, c, word, sizeof word), title) == 0)
            return c;
    test_fail(__FILE__, __LINE__, "no column %s in: %s", title, first);
}

/* The object that follows "member": in a line of JSON, braces balanced (no strings with
 * braces inside: the lock object has none). */
static const char *object_after(const char *line, const char *member, char *buf, size_t size)
{
    char key[64];
    snprintf(key, sizeof key, "\"%s\": ", member);
    const char *p = strstr(line, key);
    CHECK(p != NULL);
    p += strlen(key);
    int depth = 0;
    const char *q = p;
    do {
        depth += (*q == '{' || *q == '[') - (*q == '}' || *q == ']');
        q++;
    } while (*q && depth > 0);
    snprintf(buf, size, "%.*s", (int)(q - p), p);
    return buf;
}

/* USERS and LOCK of `name` in `shmap ls`. */
static void users_and_lock(const char *name, char *users, char *lock, size_t size)
{
    char *out = NULL, *err = NULL, line[2048];
    RUN(0, "ls");
    line_of(out, name, 0, line, sizeof line);
    cell(line, column(out, "USERS"), users, size);
    cell(line, column(out, "LOCK"), lock, size);
    util_clear(&out, &err);
}

TEST(cli__ls_shows_users_and_the_lock)
{
    const char *shared = test_name("sh"), *excl = test_name("ex"), *idle = test_name("id");
    const uint64_t dims[1] = {8};
    util_make_kept(shared, SHMAP_U8, 1, dims);
    util_make_kept(excl, SHMAP_U8, 1, dims);
    util_make_kept(idle, SHMAP_U8, 1, dims);
    pid_t r1 = util_spawn_holder(shared, SHMAP_LOCK_SHARED);
    pid_t r2 = util_spawn_holder(shared, SHMAP_LOCK_SHARED);
    pid_t w = util_spawn_holder(excl, SHMAP_LOCK_EXCLUSIVE);
    char users[64], lock[64], want[64];

    users_and_lock(shared, users, lock, sizeof users);
    CHECK_STR(users, "2");
    CHECK_STR(lock, "r2");
    users_and_lock(excl, users, lock, sizeof users);
    CHECK_STR(users, "1");
    snprintf(want, sizeof want, "w%d", (int)w);
    CHECK_STR(lock, want);
    users_and_lock(idle, users, lock, sizeof users);
    CHECK_STR(users, "0");
    CHECK_STR(lock, "-");

    /* Killed holders: still in the tables, dead. */
    util_kill9(r1);
    util_kill9(w);
    users_and_lock(shared, users, lock, sizeof users);
    CHECK_STR(users, "1+1dead");
    CHECK_STR(lock, "r1+1dead");
    users_and_lock(excl, users, lock, sizeof users);
    CHECK_STR(users, "0+1dead");
    snprintf(want, sizeof want, "w%d:dead", (int)w);
    CHECK_STR(lock, want);

    /* A locker recovers the lock: the next exclusive holder is told, and so is ls. */
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_open(&seg, excl, SHMAP_RDWR));
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_SHARED, 10));
    users_and_lock(excl, users, lock, sizeof users);
    CHECK_STR(users, "1");
    snprintf(want, sizeof want, "r1,died:%d", (int)w);
    CHECK_STR(lock, want);
    CHECK_OK(shmap_close(seg));

    util_kill9(r2);
    CHECK_OK(shmap_unlink(shared));
    CHECK_OK(shmap_unlink(excl));
    CHECK_OK(shmap_unlink(idle));
}

TEST(cli__ls_shows_a_writer_waiting_for_readers)
{
    const char *name = test_name("wait");
    const uint64_t dims[1] = {8};
    util_make_kept(name, SHMAP_U8, 1, dims);
    pid_t r = util_spawn_holder(name, SHMAP_LOCK_SHARED);
    pid_t w = util_spawn();
    if (w == 0) {
        execl(test_shmap_bin(), test_shmap_bin(), "lock", name, "--write", "--", "true",
              (char *)NULL);
        _exit(127);
    }
    shmap_seg *seg = NULL;
    shmap_lockinfo li = {0};
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDONLY));
    double deadline = util_now_s() + 10;
    while (shmap_lock_info(seg, &li) == 0 && li.writer != w && util_now_s() < deadline)
        util_sleep_ms(5);
    CHECK_EQ_INT(li.writer, w);
    CHECK(util_wait_asleep(w));

    char users[64], lock[64], want[256];
    users_and_lock(name, users, lock, sizeof users);
    CHECK_STR(users, "2");
    snprintf(want, sizeof want, "r1,w%d:wait", (int)w);
    CHECK_STR(lock, want);

    char *out = NULL, *err = NULL, line[8192], obj[1024];
    RUN(0, "ls", "--json");
    line_of(out, name, 1, line, sizeof line);
    snprintf(want, sizeof want, "{\"writer\": %d, \"writer_alive\": true, "
                                "\"writer_waiting\": true, \"shared\": 1,", (int)w);
    CHECK_CONTAINS(object_after(line, "lock", obj, sizeof obj), want);

    /* The reader goes: the writer gets the lock, runs `true` and lets go. */
    util_kill9(r);
    CHECK_EQ_INT(test_wait(w), 0);
    users_and_lock(name, users, lock, sizeof users);
    CHECK_STR(users, "0");
    CHECK_STR(lock, "-");
    util_clear(&out, &err);
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(name));
}

/* ls --json gives each segment's "attached" and "lock" as info --json does, System V
 * segments included; a dead attacher is listed with "alive": false. */
static void check_json_matches_info(const char *name)
{
    char *out = NULL, *err = NULL, line[8192], a[2048], b[2048];
    RUN(0, "ls", "--json");
    line_of(out, name, 1, line, sizeof line);
    object_after(line, "attached", a, sizeof a);
    RUN(0, "info", name, "--json");
    object_after(out, "attached", b, sizeof b);
    CHECK_STR(a, b);
    object_after(line, "lock", a, sizeof a);
    object_after(out, "lock", b, sizeof b);
    CHECK_STR(a, b);
    util_clear(&out, &err);
}

TEST(cli__ls_json_gives_attached_and_lock_as_info_does)
{
    char sysv[64];
    snprintf(sysv, sizeof sysv, "sysv://0x%08x", (unsigned)test_sysv_key());
    const char *names[2] = {test_name("js"), sysv};
    char *out = NULL, *err = NULL, line[8192], obj[2048], want[256];
    for (int i = 0; i < 2; i++) {
        RUN(0, "create", names[i], "u8", "8");
        pid_t r = util_spawn_holder(names[i], SHMAP_LOCK_SHARED);
        pid_t d = util_spawn_holder(names[i], 0);
        pid_t w = util_spawn_holder(names[i], 0);
        util_kill9(d);
        check_json_matches_info(names[i]);

        RUN(0, "ls", "--json");
        line_of(out, names[i], 1, line, sizeof line);
        object_after(line, "attached", obj, sizeof obj);
        snprintf(want, sizeof want, "{\"pid\": %d, \"alive\": true, \"shared\": 1, "
                                    "\"writer\": false,", (int)r);
        CHECK_CONTAINS(obj, want);
        snprintf(want, sizeof want, "{\"pid\": %d, \"alive\": false, \"shared\": 0, ", (int)d);
        CHECK_CONTAINS(obj, want);
        snprintf(want, sizeof want, "{\"pid\": %d, \"alive\": true, \"shared\": 0, ", (int)w);
        CHECK_CONTAINS(obj, want);
        CHECK_STR(object_after(line, "lock", obj, sizeof obj),
                  "{\"writer\": null, \"writer_alive\": false, \"writer_waiting\": false, "
                  "\"shared\": 1, \"waiters\": false, \"owner_died\": false, "
                  "\"dead_pid\": null, \"writer_other_pidns\": false}");
        util_kill9(r);
        util_kill9(w);
        RUN(0, "rm", names[i]);
    }
    util_clear(&out, &err);
}

/* Where `word` starts in the first line of `text` that holds it as a blank-separated word,
 * counted from the start of that line; -1 if no line does. */
static int word_column(const char *text, const char *word)
{
    size_t len = strlen(word);
    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n');
        for (const char *p = line; (p = strstr(p, word)) && (!end || p < end); p++)
            if ((p == line || p[-1] == ' ') && (p[len] == ' ' || p[len] == '\n' || !p[len]))
                return (int)(p - line);
        line = end ? end + 1 : NULL;
    }
    return -1;
}

/*
 * A System V segment removed by `shmap rm` while a process still attaches it: the kernel
 * keeps it, without its key, until that process detaches. The default listing leaves it
 * out as it leaves out a removed POSIX segment; --all shows it as sysv://id=N marked
 * deleted, in the table and in the JSON, and info says so under its name; no other
 * command opens it, gc leaves it, and once the process is gone so is the segment.
 */
TEST(cli__a_system_v_segment_deleted_while_attached_is_shown_deleted_until_it_goes)
{
    char name[64], byid[64], want[256], line[8192], word[64];
    snprintf(name, sizeof name, "sysv://0x%08x", (unsigned)test_sysv_key());
    const char *live = test_name("live");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "u8", "8");
    RUN(0, "create", live, "u8", "8");
    shmap_info info;
    CHECK_OK(shmap_stat(name, &info));
    snprintf(byid, sizeof byid, "sysv://id=%d", atoi(info.os_handle));
    pid_t kid = util_spawn_holder(name, 0); /* attached until killed */
    RUN(0, "rm", name);

    RUN(0, "ls");
    CHECK(!strstr(out, byid) && !strstr(out, name));
    line_of(out, live, 0, line, sizeof line);
    RUN(0, "ls", "--json");
    CHECK(!strstr(out, byid) && !strstr(out, name));

    /* --all: marked in STATUS, in its column. */
    RUN(0, "ls", "--all");
    line_of(out, byid, 0, line, sizeof line);
    CHECK_STR(cell(line, column(out, "STATUS"), word, sizeof word), "deleted");
    CHECK_STR(cell(line, column(out, "USERS"), word, sizeof word), "1");
    CHECK_STR(cell(line, column(out, "DTYPE"), word, sizeof word), "u8");
    CHECK_EQ_INT(word_column(line, "deleted"), word_column(out, "STATUS"));
    line_of(out, live, 0, line, sizeof line);
    CHECK_STR(cell(line, column(out, "STATUS"), word, sizeof word), "ok");
    CHECK_EQ_INT(word_column(line, "ok"), word_column(out, "STATUS"));

    /* JSON: "deleted" after the stream members, then what only info looks for. */
    RUN(0, "ls", "--all", "--json");
    line_of(out, byid, 1, line, sizeof line);
    CHECK(strstr(line, ", \"published_ns\": null, \"write\": null, \"deleted\": true, "
                       "\"mapped_by\": null, \"mapped_by_unseen\": null}"));
    line_of(out, live, 1, line, sizeof line);
    CHECK(strstr(line, ", \"published_ns\": null, \"write\": null, \"deleted\": false, "
                       "\"mapped_by\": null, \"mapped_by_unseen\": null}"));

    /* info by id says so under the name, and shows who keeps it. */
    RUN(0, "info", byid);
    snprintf(want, sizeof want, "name:            %s\n"
                                "deleted:         yes (kept until its last user detaches)\n",
             byid);
    CHECK(strncmp(out, want, strlen(want)) == 0);
    snprintf(want, sizeof want, "  pid %-8d alive", (int)kid);
    CHECK_CONTAINS(out, want);
    RUN(0, "info", byid, "--json");
    CHECK_CONTAINS(out, ",\n  \"deleted\": true,\n  \"mapped_by\": [],\n");
    RUN(0, "info", byid, "--dtype", "u1", "--shape", "8");
    CHECK_CONTAINS(out, "\ndeleted:         yes (kept until its last user detaches)\n");
    RUN(0, "info", byid, "--dtype", "u1", "--shape", "8", "--json");
    CHECK_CONTAINS(out, ",\n  \"deleted\": true\n}\n");
    RUN(0, "info", live);
    CHECK_CONTAINS(out, "\ndeleted:         no\n");

    /* Nothing else opens it, nor removes or changes it again. */
    RUN(1, "cat", byid);
    CHECK_ERROR_LINE(err, "deleted");
    RUN(1, "fill", byid, "1");
    CHECK_ERROR_LINE(err, "deleted");
    RUN(1, "rm", byid);
    CHECK_ERROR_LINE(err, "deleted");
    RUN(1, "rm", "--force", byid);
    CHECK_ERROR_LINE(err, "deleted");
    RUN(1, "chmod", "0644", byid);
    CHECK_ERROR_LINE(err, "deleted");

    /* gc leaves it to the kernel. */
    RUN(0, "gc", "--dry-run", "--prefix", byid);
    CHECK(!strstr(out, byid));
    RUN(0, "gc", "--prefix", byid);
    CHECK(!strstr(out, byid));
    RUN(0, "ls", "--all");
    line_of(out, byid, 0, line, sizeof line);

    /* Its last user goes: so does the segment. */
    util_kill9(kid);
    RUN(0, "ls", "--all");
    CHECK(!strstr(out, byid));
    RUN(1, "info", byid);
    CHECK_ERROR_LINE(err, "no System V segment");
    RUN(0, "rm", live);
    util_clear(&out, &err);
}

/*
 * A process has a slot in the attach table for each way it maps a segment (read-write,
 * read-only and locking, private and locking): it is one user all the same, in USERS, in
 * info's count and in the listing's, alive and once killed.
 */
TEST(cli__a_process_with_several_slots_counts_once)
{
    const char *name = test_name("slots");
    const uint64_t dims[1] = {8};
    util_make_kept(name, SHMAP_U8, 1, dims);
    struct util_chan c;
    util_chan_open(&c);
    pid_t kid = util_spawn();
    if (kid == 0) {
        shmap_seg *rw = NULL, *ro = NULL, *priv = NULL;
        if (shmap_open(&rw, name, SHMAP_RDWR) < 0 || shmap_open(&ro, name, SHMAP_RDONLY) < 0 ||
            shmap_lock(ro, SHMAP_LOCK_SHARED, 10) < 0 ||
            shmap_open(&priv, name, SHMAP_RDWR | SHMAP_PRIVATE) < 0 ||
            shmap_lock(priv, SHMAP_LOCK_SHARED, 10) < 0)
            _exit(20);
        util_child_send(&c, 'h');
        for (;;)
            pause();
    }
    CHECK_EQ_INT(util_parent_recv(&c), 'h');
    util_chan_close(&c);
    char *out = NULL, *err = NULL, users[64], lock[64];
    users_and_lock(name, users, lock, sizeof users);
    CHECK_STR(users, "1");
    CHECK_STR(lock, "r2");
    RUN(0, "info", name);
    CHECK_CONTAINS(out, "attached:        1 process, in 3 slots (one for each way a process "
                        "maps it)\n");
    shmap_entry *list = NULL;
    size_t count = 0;
    CHECK_OK(shmap_list(&list, &count, 0));
    int found = 0;
    for (size_t i = 0; i < count; i++) {
        if (strcmp(list[i].info.name, name) == 0) {
            found = 1;
            CHECK_EQ_INT(list[i].attached, 1);
            CHECK_EQ_INT(list[i].nattachers, 3);
        }
    }
    CHECK(found);
    shmap_list_free(list);

    util_kill9(kid);
    users_and_lock(name, users, lock, sizeof users);
    CHECK_STR(users, "0+1dead");
    RUN(0, "info", name);
    CHECK_CONTAINS(out, "attached:        1 process, in 3 slots");
    RUN(0, "rm", name);
    util_clear(&out, &err);
}
