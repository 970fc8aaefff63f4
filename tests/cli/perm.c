/*
 * shmap chmod MODE NAME... and shmap chown USER[:GROUP] NAME... on every store: octal and
 * symbolic modes, users and groups by name and number, the usage errors (exit 2) of modes
 * and owners that are refused, the failures (exit 1, one line each, going on with the next
 * NAME), links and FIFOs at the name, and what `info` and `ls` show afterwards. The tests
 * that run the command as the user nobody need root and skip otherwise.
 */
#include <pwd.h>
#include <sys/stat.h>

#include "../util.h"

/* The stores a name can pick. */
static const char *name_on(int store, const char *suffix)
{
    static char buf[4][SHMAP_NAME_MAX];
    static int i;
    char *b = buf[i++ % 4];
    if (store == 0)
        snprintf(b, SHMAP_NAME_MAX, "%s", test_name(suffix));
    else if (store == 1)
        snprintf(b, SHMAP_NAME_MAX, "sysv://0x%08x", (unsigned)test_sysv_key());
    else
        snprintf(b, SHMAP_NAME_MAX, "file:%s/%s", util_test_dir(), suffix);
    return b;
}

/* The value of `field` in `shmap info` text ("mode:            0640" gives "0640"). */
static const char *info_field(const char *text, const char *field, char *buf, size_t size)
{
    char pat[64];
    snprintf(pat, sizeof pat, "%s:", field);
    const char *p = text;
    while (p && strncmp(p, pat, strlen(pat)) != 0)
        p = (p = strchr(p, '\n')) ? p + 1 : NULL;
    if (!p)
        test_fail(__FILE__, __LINE__, "no '%s' line in: %s", pat, text);
    p += strlen(pat);
    p += strspn(p, " ");
    size_t len = strcspn(p, "\n");
    snprintf(buf, size, "%.*s", (int)len, p);
    return buf;
}

/* `shmap info NAME`'s value of `field`. */
static const char *info_of(const char *name, const char *field)
{
    static char buf[256];
    char *out = NULL, *err = NULL;
    RUN(0, "info", name);
    info_field(out, field, buf, sizeof buf);
    util_clear(&out, &err);
    return buf;
}

/* The number after "KEY": in a JSON text (the first one), such as "uid": 65534. */
static long long json_number(const char *text, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(text, pat);
    if (!p)
        test_fail(__FILE__, __LINE__, "no %s in: %s", pat, text);
    return atoll(p + strlen(pat));
}

/* The line of `shmap ls --json` that holds segment `name`. */
static char *ls_json_line(const char *name)
{
    char *out = NULL, *err = NULL, pat[SHMAP_NAME_MAX + 16];
    RUN(0, "ls", "--json");
    snprintf(pat, sizeof pat, "{\"name\": \"%s\"", name);
    char *p = strstr(out, pat);
    if (!p)
        test_fail(__FILE__, __LINE__, "%s not listed: %s", name, out);
    char *line = strndup(p, strcspn(p, "\n"));
    util_clear(&out, &err);
    return line;
}

static void create(const char *name)
{
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "u8", "8");
    util_clear(&out, &err);
}

static void remove_seg(const char *name)
{
    char *out = NULL, *err = NULL;
    RUN(0, "rm", "--force", name);
    util_clear(&out, &err);
}

TEST(cli_chmod__octal_and_symbolic_modes_on_every_store)
{
    /* MODE, then the mode `info` shows after it, applied one after the other. */
    static const char *const steps[][2] = {
        {"640", "0640"},   {"0600", "0600"}, {"g+r,o+r", "0644"}, {"go-r", "0600"},
        {"a=r", "0444"},   {"u+w", "0644"},  {"-w", "0444"},      {"=", "0000"},
        {"u=rw", "0600"},  {"+x", "0711"},   {"ug=rwx,o=", "0770"}, {"0", "0000"},
        {"u+rw,a-x", "0600"}};
    char *out = NULL, *err = NULL;
    for (int s = 0; s < 3; s++) {
        const char *name = name_on(s, "seg");
        create(name);
        for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
            RUN(0, "chmod", steps[i][0], name);
            CHECK_STR(out, "");
            CHECK_STR(err, "");
            /* Asked without opening it: a user not root may not open a mode 0 segment. */
            unsigned m = 0;
            CHECK_OK(shmap_perm_get(name, &m, NULL, NULL));
            char mode[16];
            snprintf(mode, sizeof mode, "%04o", m);
            if (strcmp(mode, steps[i][1]) != 0)
                test_fail(__FILE__, __LINE__, "%s: chmod %s gave mode %s, expected %s", name,
                          steps[i][0], mode, steps[i][1]);
        }
        RUN(0, "info", name, "--json");
        CHECK_CONTAINS(out, "\"mode\": \"0600\"");
        remove_seg(name);
    }
    util_clear(&out, &err);
}

TEST(cli_chmod__bad_modes_are_usage_errors_that_change_nothing)
{
    static const char *const bad[][2] = {
        {"04755", "set-user-id, set-group-id and sticky bits cannot be set"},
        {"1777", "set-user-id, set-group-id and sticky bits cannot be set"},
        {"u+s", "set-user-id and set-group-id bits (s) cannot be set"},
        {"+t", "sticky bit (t) cannot be set"},
        {"a+X", "X is not supported"},
        {"x+r", "invalid mode 'x+r'"},
        {"999", "octal digits are 0 to 7"},
        {"g=u", "copying bits"},
        {"u+r-w", "one operator per clause"},
        {"u+rw,", "invalid mode 'u+rw,'"},
        {"", "invalid mode ''"},
        {"77777777777", "0 to 0777"}};
    char *out = NULL, *err = NULL;
    const char *name = test_name("seg");
    create(name);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        RUN(2, "chmod", bad[i][0], name);
        CHECK_USAGE_ERROR(err, "chmod", bad[i][1]);
        CHECK_STR(info_of(name, "mode"), "0600");
    }
    RUN(2, "chmod", name);
    CHECK_USAGE_ERROR(err, "chmod", "missing NAME");
    RUN(2, "chmod");
    CHECK_USAGE_ERROR(err, "chmod", "missing MODE");
    remove_seg(name);
    util_clear(&out, &err);
}

TEST(cli_chmod__goes_on_after_a_missing_name_and_exits_1)
{
    char *out = NULL, *err = NULL;
    const char *a = test_name("a"), *missing = test_name("missing"), *b = test_name("b");
    create(a);
    create(b);
    RUN(1, "chmod", "640", a, missing, b);
    CHECK_ERROR_LINE(err, "no such segment");
    char want[SHMAP_NAME_MAX + 16];
    snprintf(want, sizeof want, "shmap: %s: ", missing);
    CHECK(strncmp(err, want, strlen(want)) == 0);
    CHECK_STR(info_of(a, "mode"), "0640");
    CHECK_STR(info_of(b, "mode"), "0640");
    /* A symbolic mode needs each NAME's mode first: the same going on. */
    RUN(1, "chmod", "o+r", a, missing, b);
    CHECK_ERROR_LINE(err, "no such segment");
    CHECK_STR(info_of(a, "mode"), "0644");
    CHECK_STR(info_of(b, "mode"), "0644");
    remove_seg(a);
    remove_seg(b);
    util_clear(&out, &err);
}

TEST(cli_chmod__works_on_an_object_that_is_not_a_segment)
{
    char *out = NULL, *err = NULL;
    const char *name = test_name("foreign");
    char bytes[64] = {0};
    util_shm_write(name, bytes, sizeof bytes);
    RUN(0, "chmod", "g+r", name);
    CHECK_EQ_INT(util_shm_mode(name), 0640);
    RUN(0, "chmod", "604", name);
    CHECK_EQ_INT(util_shm_mode(name), 0604);
    util_shm_remove(name);
    util_clear(&out, &err);
}

TEST(cli_chmod__a_symlink_or_fifo_under_a_file_name_is_refused_and_not_followed)
{
    char *out = NULL, *err = NULL, target[512], link[512], fifo[512];
    snprintf(target, sizeof target, "%s/target", util_test_dir());
    snprintf(link, sizeof link, "%s/link", util_test_dir());
    snprintf(fifo, sizeof fifo, "%s/fifo", util_test_dir());
    create(name_on(2, "target"));
    CHECK(symlink(target, link) == 0);
    CHECK(mkfifo(fifo, 0600) == 0);
    const char *names[2] = {name_on(2, "link"), name_on(2, "fifo")};
    for (int i = 0; i < 2; i++) {
        RUN(1, "chmod", "666", names[i]);
        CHECK_ERROR_LINE(err, "not a regular file");
        RUN(1, "chmod", "a+w", names[i]);
        CHECK_ERROR_LINE(err, "not a regular file");
        RUN(1, "chown", "0:0", names[i]);
        CHECK_ERROR_LINE(err, "not a regular file");
    }
    struct stat st;
    CHECK(stat(target, &st) == 0 && (st.st_mode & 07777) == 0600);
    CHECK(lstat(fifo, &st) == 0 && S_ISFIFO(st.st_mode) && (st.st_mode & 07777) == 0600);
    util_clear(&out, &err);
}

TEST(cli_chown__unknown_users_and_groups_are_usage_errors)
{
    char *out = NULL, *err = NULL;
    const char *name = test_name("seg");
    create(name);
    RUN(2, "chown", "no-such-user-q7", name);
    CHECK_USAGE_ERROR(err, "chown", "unknown user 'no-such-user-q7'");
    RUN(2, "chown", ":no-such-group-q7", name);
    CHECK_USAGE_ERROR(err, "chown", "unknown group 'no-such-group-q7'");
    RUN(2, "chown", "0:no-such-group-q7", name);
    CHECK_USAGE_ERROR(err, "chown", "unknown group 'no-such-group-q7'");
    RUN(2, "chown", ":", name);
    CHECK_USAGE_ERROR(err, "chown", "invalid owner ':'");
    RUN(2, "chown", "0");
    CHECK_USAGE_ERROR(err, "chown", "missing NAME");
    if (!getpwuid(3999999)) {
        /* USER: wants the login group, which a number with no passwd entry has not. */
        RUN(2, "chown", "3999999:", name);
        CHECK_USAGE_ERROR(err, "chown", "no login group");
    }
    char owner[32];
    snprintf(owner, sizeof owner, "uid %u", (unsigned)geteuid());
    CHECK_CONTAINS(info_of(name, "owner"), owner);
    remove_seg(name);
    util_clear(&out, &err);
}

TEST(cli_chown__users_and_groups_by_name_and_number_show_in_info_and_ls)
{
    util_need_root();
    const struct passwd *pw = getpwnam("nobody");
    if (!pw || pw->pw_uid != UTIL_NOBODY)
        TEST_SKIP("no user nobody with uid %d here", UTIL_NOBODY);
    gid_t nobody_login = pw->pw_gid;
    char *out = NULL, *err = NULL;
    for (int s = 0; s < 3; s++) {
        const char *name = name_on(s, "seg");
        create(name);
        RUN(0, "chown", "65534:65534", name);
        CHECK_STR(out, "");
        CHECK_STR(err, "");
        RUN(0, "info", name, "--json");
        CHECK_EQ_INT(json_number(out, "uid"), UTIL_NOBODY);
        CHECK_EQ_INT(json_number(out, "gid"), UTIL_NOBODY);
        CHECK_CONTAINS(info_of(name, "owner"), "(uid 65534)");
        CHECK_CONTAINS(info_of(name, "group"), "(gid 65534)");
        RUN(0, "chown", "root:", name); /* root's login group */
        RUN(0, "info", name, "--json");
        CHECK_EQ_INT(json_number(out, "uid"), 0);
        CHECK_EQ_INT(json_number(out, "gid"), getpwnam("root")->pw_gid);
        RUN(0, "chown", ":65534", name); /* the group only */
        RUN(0, "info", name, "--json");
        CHECK_EQ_INT(json_number(out, "uid"), 0);
        CHECK_EQ_INT(json_number(out, "gid"), UTIL_NOBODY);
        RUN(0, "chown", "nobody", name); /* the owner only, by name */
        RUN(0, "info", name, "--json");
        CHECK_EQ_INT(json_number(out, "uid"), UTIL_NOBODY);
        CHECK_EQ_INT(json_number(out, "gid"), UTIL_NOBODY);
        RUN(0, "chown", "nobody:", name);
        RUN(0, "info", name, "--json");
        CHECK_EQ_INT(json_number(out, "gid"), nobody_login);
        if (s < 2) { /* ls lists POSIX and System V segments */
            RUN(0, "chmod", "604", name);
            char *line = ls_json_line(name);
            CHECK_CONTAINS(line, "\"mode\": \"0604\"");
            CHECK_EQ_INT(json_number(line, "uid"), UTIL_NOBODY);
            free(line);
        }
        remove_seg(name);
    }
    util_clear(&out, &err);
}

/* Run the command as nobody in a child: its status, and its stderr into `err`. The child
 * skips (77) when nobody cannot run the command where it was built. */
static int run_as_nobody(char **err, const char *cmd, const char *arg, const char *name)
{
    int p[2];
    CHECK(pipe(p) == 0);
    pid_t pid = util_spawn();
    if (pid == 0) {
        close(p[0]);
        util_become_nobody();
        if (access(test_shmap_bin(), X_OK) != 0)
            _exit(77);
        char *e = NULL;
        int rc = test_cli(NULL, &e, NULL, cmd, arg, name, NULL);
        if (e && write(p[1], e, strlen(e)) < 0)
            _exit(98);
        _exit(rc);
    }
    close(p[1]);
    char buf[4096];
    util_read_to_end(p[0], buf, sizeof buf);
    int rc = test_wait(pid);
    if (rc == 77)
        TEST_SKIP("nobody may not run %s", test_shmap_bin());
    free(*err);
    *err = strdup(buf);
    return rc;
}

TEST(cli_chmod__another_user_reads_after_644_not_after_600_and_may_not_chmod)
{
    util_need_root();
    CHECK(chmod(util_test_dir(), 0711) == 0);
    char *out = NULL, *err = NULL;
    for (int s = 0; s < 3; s++) {
        const char *name = name_on(s, "seg");
        create(name);
        RUN(0, "chmod", "644", name);
        CHECK_EQ_INT(run_as_nobody(&err, "cat", name, NULL), 0);
        RUN(0, "chmod", "600", name);
        CHECK_EQ_INT(run_as_nobody(&err, "cat", name, NULL), 1);
        CHECK_ERROR_LINE(err, "permission denied");
        /* Not the owner: refused, saying who may. */
        CHECK_EQ_INT(run_as_nobody(&err, "chmod", "666", name), 1);
        CHECK_ERROR_LINE(err, "only its owner (uid 0) or root may change its mode");
        CHECK_EQ_INT(run_as_nobody(&err, "chmod", "o+w", name), 1);
        CHECK_ERROR_LINE(err, "only its owner (uid 0) or root may change its mode");
        CHECK_EQ_INT(run_as_nobody(&err, "chown", "nobody", name), 1);
        CHECK_ERROR_LINE(err, "permission denied");
        CHECK_STR(info_of(name, "mode"), "0600");
        CHECK_CONTAINS(info_of(name, "owner"), "(uid 0)");
        remove_seg(name);
    }
    util_clear(&out, &err);
}

TEST(cli_create__mode_0_is_refused_rather_than_made_0600)
{
    /* The library takes a mode of 0 for its default: a segment asked with --mode 0 would
     * be readable and writable by its owner. Refused, nothing made; chmod 0 is the way. */
    const char *name = test_name("m0");
    char *out = NULL, *err = NULL;
    RUN(2, "create", name, "u8", "4", "--mode", "0");
    CHECK_USAGE_ERROR(err, "create", "cannot be created with --mode 0");
    CHECK_CONTAINS(err, "shmap chmod 0 NAME");
    CHECK(!util_shm_exists(name));
    RUN(2, "create", name, "u8", "4", "--mode", "000");
    CHECK(!util_shm_exists(name));
    RUN(0, "create", name, "u8", "4");
    RUN(0, "chmod", "0", name);
    CHECK_EQ_INT(util_shm_mode(name), 0);
    RUN(0, "rm", "--force", name); /* without the lock: its owner may not open it now */
    util_clear(&out, &err);
}

TEST(cli_create__mode_takes_leading_zeros_as_chmod_does)
{
    umask(0);
    const char *name = test_name("m00");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "u8", "4", "--mode", "00640");
    CHECK_EQ_INT(util_shm_mode(name), 0640);
    RUN(0, "rm", name);
    util_clear(&out, &err);
    /* Still at most 0777, however it is written. */
    RUN(2, "create", name, "u8", "4", "--mode", "001000");
    CHECK_USAGE_ERROR(err, "create", "invalid mode '001000'");
    CHECK(!util_shm_exists(name));
    util_clear(&out, &err);
}

/*
 * A --mode given is the mode made, whatever the umask, as `mkdir -m` does: `--mode 0660`
 * shares with the group. It had the umask taken off, so under the common 022 the group
 * could only read. Without --mode, 0600 less the umask. On every store, for create and
 * import alike.
 */
TEST(cli_create__mode_given_is_made_exactly_whatever_the_umask)
{
    char *out = NULL, *err = NULL;
    const char *src = util_test_path("four.bin");
    util_write_file(src, "abcd", 4);
    for (int s = 0; s < 3; s++) {
        const char *name = name_on(s, "exact");
        umask(022);
        RUN(0, "create", name, "u8", "4", "--mode", "0660");
        CHECK_STR(info_of(name, "mode"), "0660");
        remove_seg(name);
        umask(077);
        RUN(0, "create", name, "u8", "4", "--mode", "0664");
        CHECK_STR(info_of(name, "mode"), "0664");
        remove_seg(name);
        RUN(0, "import", src, name, "--dtype", "u8", "--shape", "4", "--mode", "0640");
        CHECK_STR(info_of(name, "mode"), "0640");
        remove_seg(name);
        /* The default keeps the umask off. */
        umask(066);
        RUN(0, "create", name, "u8", "4");
        CHECK_STR(info_of(name, "mode"), "0600");
        remove_seg(name);
        umask(0277);
        RUN(0, "create", name, "u8", "4");
        CHECK_STR(info_of(name, "mode"), "0400");
        remove_seg(name);
    }
    util_clear(&out, &err);
}

/* The file: name "seg" in a sticky directory anyone may write, "sticky" in the test's
 * directory (made searchable): there, as in /dev/shm, only an object's owner or root may
 * remove or replace its name. */
static const char *file_in_sticky_dir(void)
{
    static char file[SHMAP_NAME_MAX + 16];
    char sticky[SHMAP_NAME_MAX];
    snprintf(sticky, sizeof sticky, "%s/sticky", util_test_dir());
    CHECK(mkdir(sticky, 01777) == 0 && chmod(sticky, 01777) == 0);
    CHECK(chmod(util_test_dir(), 0711) == 0);
    snprintf(file, sizeof file, "file:%s/seg", sticky);
    return file;
}

TEST(cli_rm__another_users_segment_says_permission_denied_to_remove_it)
{
    /* Mode 0666 lets nobody take the lock that rm takes first; the removal itself is
     * still refused (/dev/shm is sticky; only the owner or creator removes a System V
     * segment; a file in a sticky directory likewise): said as OPERATIONS.md says it, as
     * a forced removal says it. */
    util_need_root();
    const char *file = file_in_sticky_dir();
    char *out = NULL, *err = NULL;
    for (int s = 0; s < 3; s++) {
        const char *name = s < 2 ? name_on(s, "rmother") : file;
        create(name);
        RUN(0, "chmod", "666", name);
        CHECK_EQ_INT(run_as_nobody(&err, "rm", name, NULL), 1);
        CHECK_ERROR_LINE(err, "permission denied to remove it");
        CHECK_EQ_INT(run_as_nobody(&err, "rm", "--force", name), 1);
        CHECK_ERROR_LINE(err, "permission denied to remove it");
        remove_seg(name);
    }
    util_clear(&out, &err);
}

TEST(cli_rm__one_who_may_not_remove_it_is_told_at_once_not_after_waiting_for_its_users)
{
    /* Mode 0666 lets nobody take the lock, and a reader holds it: rm would wait for the
     * reader, keeping new readers out meanwhile, only to be refused the removal. It is
     * refused first, naming who may remove it. */
    util_need_root();
    const char *file = file_in_sticky_dir();
    char *out = NULL, *err = NULL;
    for (int s = 0; s < 3; s++) {
        const char *name = s < 2 ? name_on(s, "rmwait") : file;
        create(name);
        RUN(0, "chmod", "666", name);
        pid_t reader = util_spawn_opener(name, SHMAP_RDONLY, SHMAP_LOCK_SHARED);
        double t0 = util_now_s();
        CHECK_EQ_INT(run_as_nobody(&err, "rm", "--timeout=10", name), 1);
        CHECK(util_now_s() - t0 < UTIL_PROMPT_S);
        CHECK_ERROR_LINE(err, "permission denied to remove it");
        CHECK_CONTAINS(err, s == 1 ? "only its owner (uid 0) or root may"
                                   : "only its owner (uid 0) or root may, ");
        util_kill9(reader);
        remove_seg(name);
    }
    util_clear(&out, &err);
}

TEST(cli_create__replacing_another_users_segment_is_refused_first_and_says_who_may)
{
    /* In a sticky directory only the owner or root may remove a name, and so replace it:
     * said before the new segment is made, as System V says it, and nothing is left. */
    util_need_root();
    const char *file = file_in_sticky_dir();
    char *out = NULL, *err = NULL;
    for (int s = 0; s < 2; s++) {
        const char *name = s == 0 ? name_on(0, "replother") : file;
        create(name);
        RUN(0, "chmod", "666", name);
        /* More arguments than run_as_nobody() takes: a type and a shape. */
        pid_t pid = util_spawn();
        if (pid == 0) {
            util_become_nobody();
            char *e = NULL;
            int rc = test_cli(NULL, &e, NULL, "create", name, "u16", "4", "--replace", NULL);
            _exit(rc == 1 && e && strstr(e, "permission denied to replace it: only its owner "
                                            "(uid 0) or root may, ") &&
                          strstr(e, "being a sticky directory")
                      ? 0
                      : 10);
        }
        CHECK_EQ_INT(test_wait(pid), 0);
        CHECK(strncmp(info_of(name, "dtype"), "u8 ", 3) == 0);
        remove_seg(name);
    }
    CHECK_EQ_INT(util_dir_entries(util_test_path("sticky")), 0);
    util_clear(&out, &err);
}

TEST(cli_rm__a_system_v_segment_nobody_may_read_says_who_may_remove_it)
{
    /* IPC_STAT needs read permission, IPC_RMID does not: a user who may not read the
     * segment is told who may remove it, not that it cannot be read, and is not offered
     * --force, which could not help. */
    util_need_root();
    const char *name = name_on(1, "rmread");
    create(name);
    char *out = NULL, *err = NULL;
    CHECK_EQ_INT(run_as_nobody(&err, "rm", name, NULL), 1);
    CHECK_ERROR_LINE(err, "this user may not open it read-write to take its lock (nor may it "
                          "remove it without the lock: this user may not remove the name)");
    CHECK_EQ_INT(run_as_nobody(&err, "rm", "--force", name), 1);
    CHECK_ERROR_LINE(err, "permission denied to remove it: only its owner (uid 0) or root may");
    remove_seg(name);
    util_clear(&out, &err);
}

/* As nobody: an owner who takes read or write access from itself, on System V. */
static void own_access_as_nobody(const char *name)
{
    char *out = NULL, *err = NULL;
    /* A mode without the owner's write: the creator attaches it read-write all the same
     * (shmat checks the mode, as open() does not for a new file), then sets the mode. */
    umask(0277);
    RUN(0, "create", name, "u8", "4");
    CHECK_STR(info_of(name, "mode"), "0400");
    RUN(0, "rm", "--force", name);
    umask(022);
    RUN(0, "create", name, "u8", "4", "--mode", "0400");
    RUN(0, "rm", "--force", name);
    /* Mode 0: not opened (said as for the other stores), but still its owner's to change
     * and remove. */
    RUN(0, "create", name, "u8", "4");
    RUN(0, "chmod", "0", name);
    RUN(1, "info", name);
    CHECK_ERROR_LINE(err, "permission denied to open it read-only");
    RUN(1, "fill", name, "1");
    CHECK_ERROR_LINE(err, "permission denied to open it read-write");
    RUN(0, "ls", "--all");
    const char *line = strstr(out, name);
    CHECK(line != NULL);
    char row[512];
    snprintf(row, sizeof row, "%.*s", (int)strcspn(line, "\n"), line);
    CHECK_CONTAINS(row, "permission denied to read it");
    RUN(0, "chmod", "600", name);
    RUN(0, "chmod", "0", name);
    RUN(0, "rm", "--force", name);
    util_clear(&out, &err);
}

TEST(cli_perm__a_system_v_owner_without_access_to_its_segment_still_manages_it)
{
    util_need_root();
    util_as_nobody(own_access_as_nobody, name_on(1, "own"));
}
