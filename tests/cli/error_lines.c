/*
 * SPEC: "errors are one line, `shmap: NAME: message`, naming what was wrong". One table
 * runs a bad command line of every subcommand (and of the command itself) and checks each
 * the same way: the exit status, exactly one line on stderr, and how it starts: with the
 * segment the command line names, wherever it stands among the options ("shmap: NAME: "),
 * or, when there is none to name, with what was wrong. A usage error's line ends with the
 * pointer to the help, which still prints the whole synopsis.
 */
#include <fcntl.h>
#include <unistd.h>

#include "../util.h"

/*
 * Words of a row that stand for this test's names: @P a u8[3] segment that exists, @Q a
 * segment that does not, @F a file that exists, @G one that does not.
 */
enum { MAX_ARGS = 12 };

typedef struct error_row {
    int status;
    const char *start;                /* what the line starts with after "shmap: " */
    const char *needle;               /* and holds too */
    const char *args[MAX_ARGS + 1];   /* NULL-terminated */
} error_row;

static const error_row rows[] = {
    /* create: the audit's cases, options before and after NAME */
    {2, "@P: ", "invalid dimension '0'", {"create", "@P", "f32", "0"}},
    {2, "@P: ", "9 dimensions given, at most 8",
     {"create", "@P", "f32", "1", "2", "3", "4", "5", "6", "7", "8", "9"}},
    {2, "@P: ", "invalid mode '999'", {"create", "@P", "f32", "3", "--mode", "999"}},
    {2, "@P: ", "invalid mode '999'", {"create", "--mode", "999", "@P", "f32", "3"}},
    {2, "@P: ", "--keyword 'NOEQ'", {"create", "@P", "f32", "3", "--keyword", "NOEQ"}},
    {2, "@P: ", "unknown option '--bogus'", {"create", "@P", "f32", "3", "--bogus"}},
    {2, "@P: ", "unknown option '--bogus'", {"create", "--bogus", "@P", "f32", "3"}},
    {2, "@P: ", "--replace and --exist-ok exclude each other",
     {"create", "@P", "u8", "3", "--replace", "--exist-ok"}},
    {2, "@P: ", "unknown type 'f3'", {"create", "@P", "f3", "3"}},
    {2, "@P: ", "missing TYPE", {"create", "@P"}},
    {2, "@Q: ", "overflows", {"create", "@Q", "u8", "99999999999", "99999999999"}},
    {2, "memfd:x: ", "would vanish", {"create", "memfd:x", "u8", "3"}},
    {2, "sysv://id=5: ", "by key", {"create", "sysv://id=5", "u8", "3"}},
    {2, "a\\x0ab: ", "unknown option '--bogus'", {"create", "a\nb", "u8", "3", "--bogus"}},
    {2, "missing NAME", " (see shmap help create)", {"create"}},
    {1, "@P: ", "exists", {"create", "@P", "u8", "3"}},
    /* ls and gc name no segment: the option or argument at fault */
    {2, "unknown option '--bogus'", " (see shmap help ls)", {"ls", "--bogus"}},
    {2, "unexpected argument 'x'", " (see shmap help ls)", {"ls", "x"}},
    {2, "unknown option '--bogus'", " (see shmap help gc)", {"gc", "--bogus"}},
    {2, "unexpected argument 'x'", " (see shmap help gc)", {"gc", "x"}},
    /* info */
    {2, "@P: ", "--dtype needs --shape", {"info", "@P", "--dtype", "u1"}},
    {2, "@P: ", "option --json takes no value", {"info", "--json=1", "@P"}},
    {2, "@P: ", "unexpected argument '@Q'", {"info", "@P", "@Q"}},
    {2, "sysv://id=5: ", "privately", {"info", "sysv://id=5", "--private"}},
    {2, "missing NAME", " (see shmap help info)", {"info"}},
    {1, "@Q: ", "no such segment", {"info", "@Q"}},
    /* rm: one NAME is named; of several, the one at fault, or none for an option */
    {2, "@P: ", "--timeout wants seconds", {"rm", "@P", "--timeout", "abc"}},
    {2, "@P: ", "--timeout wants seconds", {"rm", "--timeout", "abc", "@P"}},
    {2, "--timeout wants seconds", " (see shmap help rm)", {"rm", "@P", "@Q", "--timeout", "x"}},
    {2, "a/b: ", "'/' is allowed only at the start", {"rm", "@P", "a/b"}},
    {2, "missing NAME", " (see shmap help rm)", {"rm", "--force"}},
    {1, "@Q: ", "no such segment", {"rm", "@Q"}},
    /* keyword */
    {2, "@P: ", "unknown option '--bogus'", {"keyword", "@P", "--bogus"}},
    {2, "@P: ", "unknown option '--bogus'", {"keyword", "--bogus", "@P"}},
    {2, "missing NAME", " (see shmap help keyword)", {"keyword"}},
    {1, "@P: ", "no keyword NOSUCH", {"keyword", "@P", "NOSUCH"}},
    {1, "@Q: ", "no such segment", {"keyword", "@Q"}},
    /* cat */
    {2, "@P: ", "--timeout wants seconds", {"cat", "@P", "--timeout", "abc"}},
    {2, "@P: ", "--slice 'abc': invalid item 'abc'", {"cat", "@P", "--slice", "abc"}},
    {2, "@P: ", "--slice 'abc': invalid item 'abc'", {"cat", "--slice", "abc", "@P"}},
    {2, "@P: ", "--slice: index 5 out of range", {"cat", "@P", "--slice", "5"}},
    {2, "@P: ", "--slice has 2 items for 1 dimension", {"cat", "@P", "--slice", "0,0"}},
    {2, "file:@G: ", "--offset 1 misaligns u2 elements",
     {"cat", "file:@G", "--dtype", "u2", "--shape", "4", "--offset", "1"}},
    {2, "@P: ", "--shape '0': invalid dimension", {"cat", "--dtype", "u1", "--shape", "0", "@P"}},
    {1, "@Q: ", "no such segment", {"cat", "@Q"}},
    /* fill and set */
    {2, "@P: ", "missing VALUE", {"fill", "@P"}},
    {2, "@P: ", "value 300 out of range for u8", {"fill", "@P", "300"}},
    {2, "@P: ", "--shape needs --dtype", {"fill", "--shape", "3", "@P", "1"}},
    {1, "@Q: ", "no such segment", {"fill", "@Q", "1"}},
    {2, "@P: ", "invalid index 'x'", {"set", "@P", "x", "1"}},
    {2, "@P: ", "index 9 out of range", {"set", "@P", "9", "1"}},
    {2, "@P: ", "2 indices given for 1 dimension", {"set", "@P", "0", "0", "1"}},
    {2, "@P: ", "value 300 out of range for u8", {"set", "@P", "0", "300"}},
    {2, "@P: ", "unknown option '--bogus'", {"set", "--bogus", "@P", "0", "1"}},
    /* import FILE NAME: its NAME is the second operand; an unreadable FILE is named */
    {2, "@Q: ", "--timeout is for --existing", {"import", "@F", "@Q", "--timeout", "3"}},
    {2, "@Q: ", "--mode is for a new segment",
     {"import", "--existing", "--mode", "600", "@F", "@Q"}},
    {2, "@Q: ", "unknown option '--bogus'", {"import", "--bogus", "@F", "@Q"}},
    {2, "@Q: ", "--shape needs --dtype", {"import", "@F", "@Q", "--shape", "3"}},
    {2, "missing NAME", " (see shmap help import)", {"import", "@F"}},
    {1, "@G: ", "No such file or directory", {"import", "@G", "@Q"}},
    /* export NAME FILE */
    {2, "@P: ", "--format 'xx': give npy, fits or raw", {"export", "@P", "@G", "--format", "xx"}},
    {2, "@P: ", "--timeout wants seconds", {"export", "--timeout", "x", "@P", "@G"}},
    {2, "@P: ", "missing FILE", {"export", "@P"}},
    {2, "@P: ", "FILE is empty", {"export", "@P", ""}},
    {1, "@Q: ", "no such segment", {"export", "@Q", "@G"}},
    {1, "@F: ", "exists: give --force", {"export", "@P", "@F"}},
    /* watch and wait */
    {2, "@P: ", "--interval wants seconds", {"watch", "@P", "--interval", "0"}},
    {2, "@P: ", "--count wants a positive number", {"watch", "--count", "0", "@P"}},
    {1, "@Q: ", "no such segment", {"watch", "@Q", "--count", "1"}},
    {2, "@P: ", "--timeout wants seconds", {"wait", "@P", "--timeout", "x"}},
    {2, "@P: ", "unexpected argument '@Q'", {"wait", "@P", "@Q"}},
    {1, "@P: ", "no generation newer than 0", {"wait", "@P", "--timeout", "0"}},
    /* lock */
    {2, "@P: ", "--timeout wants seconds >= 0, not 'abc'",
     {"lock", "@P", "--timeout", "abc", "--", "true"}},
    {2, "@P: ", "--timeout wants seconds >= 0, not 'abc'",
     {"lock", "--timeout", "abc", "@P", "--", "true"}},
    {2, "@P: ", "give one of --read and --write",
     {"lock", "@P", "--read", "--write", "--", "true"}},
    {2, "@P: ", "missing -- COMMAND", {"lock", "@P"}},
    {1, "@Q: ", "no such segment", {"lock", "@Q", "--", "true"}},
    /* chmod and chown: MODE or USER at fault is said of the one NAME, or of none */
    {2, "@P: ", "invalid mode '999'", {"chmod", "999", "@P"}},
    {2, "invalid mode '999'", " (see shmap help chmod)", {"chmod", "999", "@P", "@Q"}},
    {2, "a/b: ", "'/' is allowed only at the start", {"chmod", "600", "@P", "a/b"}},
    {2, "missing NAME", " (see shmap help chmod)", {"chmod", "600"}},
    {1, "@Q: ", "no such segment", {"chmod", "600", "@Q"}},
    {2, "@P: ", "unknown user 'shmap-no-such-user'", {"chown", "shmap-no-such-user", "@P"}},
    {2, "unknown user 'shmap-no-such-user'", " (see shmap help chown)",
     {"chown", "shmap-no-such-user", "@P", "@Q"}},
    {2, "missing NAME", " (see shmap help chown)", {"chown", "0"}},
    /* help and the command itself: the subcommand or option at fault */
    {2, "help: unknown command 'frobnicate'", " (see shmap --help)", {"help", "frobnicate"}},
    {2, "help takes one command name", " (see shmap --help)", {"help", "create", "ls"}},
    {2, "unknown command 'frobnicate'", " (see shmap --help)", {"frobnicate"}},
    {2, "unknown option '--bogus'", " (see shmap --help)", {"--bogus"}},
    {2, "--version takes no arguments", " (see shmap --help)", {"--version", "x"}},
    {2, "no command given", " (see shmap --help)", {NULL}},
};

#define NROWS (sizeof rows / sizeof rows[0])

/* This test's names: what the @ words of a row stand for. */
static char seg_p[SHMAP_NAME_MAX], seg_q[SHMAP_NAME_MAX], file_f[SHMAP_NAME_MAX],
    file_g[SHMAP_NAME_MAX];

/* @P, @Q, @F and @G replaced in `text`, into `buf`. */
static const char *expand(const char *text, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (const char *p = text; *p && used + 1 < size;) {
        const char *with = NULL;
        if (p[0] == '@' && p[1])
            with = p[1] == 'P' ? seg_p : p[1] == 'Q' ? seg_q : p[1] == 'F' ? file_f
                 : p[1] == 'G' ? file_g : NULL;
        int n = with ? snprintf(buf + used, size - used, "%s", with)
                     : snprintf(buf + used, size - used, "%c", *p);
        used += n > 0 ? (size_t)n : 0;
        p += with ? 2 : 1;
    }
    return buf;
}

/* The row's command line as text, for messages. */
static void describe(const error_row *row, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "shmap");
    char word[SHMAP_NAME_MAX];
    for (int i = 0; row->args[i] && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, " %s",
                                 expand(row->args[i], word, sizeof word));
}

/* One line on stderr, starting "shmap: START" and holding NEEDLE; a usage error's ending
 * with the pointer to the help. 1 if so, else 0 after saying why on stderr. */
static int line_is(const char *cmdline, const char *err, int status, const char *start,
                   const char *needle)
{
    const char *nl = err ? strchr(err, '\n') : NULL;
    char want[2 * SHMAP_NAME_MAX];
    snprintf(want, sizeof want, "shmap: %s", start);
    const char *why = !nl || nl[1] != '\0'                          ? "not one line"
                      : strncmp(err, want, strlen(want)) != 0       ? "not the start wanted"
                      : !strstr(err, needle)                        ? "not the message wanted"
                      : status == 2 && (!strstr(err, " (see shmap ") || nl[-1] != ')')
                          ? "a usage error not ending with where the help is"
                          : NULL;
    if (why)
        fprintf(stderr, "%s: %s (\"%s\" ... \"%s\"):\n%s\n", cmdline, why, want, needle,
                err ? err : "");
    return !why;
}

TEST(cli__every_error_is_one_line_naming_the_segment_of_the_command_line)
{
    snprintf(seg_p, sizeof seg_p, "%s", test_name("p"));
    snprintf(seg_q, sizeof seg_q, "%s", test_name("q"));
    snprintf(file_f, sizeof file_f, "%s", util_test_path("f.npy"));
    snprintf(file_g, sizeof file_g, "%s", util_test_path("nothing-here"));
    char *out = NULL, *err = NULL;
    RUN(0, "create", seg_p, "u8", "3");
    RUN(0, "export", seg_p, file_f);

    int failed = 0;
    for (size_t r = 0; r < NROWS; r++) {
        const error_row *row = &rows[r];
        char a[MAX_ARGS][SHMAP_NAME_MAX], start[2 * SHMAP_NAME_MAX], needle[2 * SHMAP_NAME_MAX];
        const char *argv[MAX_ARGS + 1] = {NULL};
        for (int i = 0; i < MAX_ARGS && row->args[i]; i++)
            argv[i] = expand(row->args[i], a[i], sizeof a[i]);
        char cmdline[4096];
        describe(row, cmdline, sizeof cmdline);
        util_clear(&out, &err);
        /* The sentinel is the first NULL: the rest of argv pads the call. */
        int rc = test_cli(&out, &err, NULL, argv[0], argv[1], argv[2], argv[3], argv[4],
                          argv[5], argv[6], argv[7], argv[8], argv[9], argv[10], argv[11],
                          (const char *)NULL);
        if (rc != row->status) {
            fprintf(stderr, "%s: exited %d, not %d:\n%s\n", cmdline, rc, row->status,
                    err ? err : "");
            failed++;
        } else if (!line_is(cmdline, err, rc, expand(row->start, start, sizeof start),
                            expand(row->needle, needle, sizeof needle))) {
            failed++;
        }
    }
    /* Every row is tried, so that one run shows all that are wrong. */
    if (failed)
        test_fail(__FILE__, __LINE__, "%d of %zu command lines did not give their one error "
                  "line", failed, NROWS);
    /* Nothing was made or removed by the bad lines. */
    CHECK(util_shm_exists(seg_p));
    CHECK(!util_shm_exists(seg_q));
    util_clear(&out, &err);
    CHECK_OK(shmap_unlink(seg_p));
}

TEST(cli__output_that_cannot_be_written_is_said_of_the_segment_with_the_reason)
{
    const char *name = test_name("full");
    char *out = NULL, *err = NULL, want[512];
    RUN(0, "create", name, "u8", "100000");
    /* What fits in the output buffer fails at the last flush; more fails as it is written,
     * and cat stops there. */
    static const char *const counts[] = {"0", ":"};
    for (size_t i = 0; i < 2; i++) {
        util_clear(&out, &err);
        CHECK_EQ_INT(test_sh(&out, &err, "exec '%s' cat %s --slice %s > /dev/full",
                             test_shmap_bin(), name, counts[i]), 1);
        snprintf(want, sizeof want, "shmap: %s: cannot write to standard output: %s\n", name,
                 strerror(ENOSPC));
        CHECK_STR(err, want);
    }
    util_clear(&out, &err);
    /* With no segment to name, the output is. */
    CHECK_EQ_INT(test_sh(&out, &err, "exec '%s' ls > /dev/full", test_shmap_bin()), 1);
    snprintf(want, sizeof want, "shmap: cannot write to standard output: %s\n",
             strerror(ENOSPC));
    CHECK_STR(err, want);
    util_clear(&out, &err);
    CHECK_OK(shmap_unlink(name));
}

TEST(cli__help_still_prints_the_synopsis_a_usage_error_points_to)
{
    char *out = NULL, *err = NULL;
    RUN(0, "help", "create");
    CHECK(strncmp(out, "usage: shmap create NAME TYPE DIM [DIM...] ", 43) == 0);
    CHECK_STR(err, "");
    char *help = out;
    out = NULL;
    RUN(0, "create", "--help");
    CHECK_STR(out, help);
    free(help);
    RUN(0, "--help");
    CHECK(strncmp(out, "usage: shmap COMMAND [ARGS...]\n", 31) == 0);
    util_clear(&out, &err);
}

TEST(cli__a_warning_is_one_line_naming_the_segment_as_given)
{
    if (!util_fits_built())
        test_skip("shmap is built without CFITSIO (install libcfitsio-dev)");
    char name[256];
    snprintf(name, sizeof name, "shm://%s", test_name("warn"));
    char *out = NULL, *err = NULL, want[1024];
    RUN(0, "create", name, "u8", "3", "--keyword", "NAXIS2=5");
    RUN(0, "export", name, util_test_path("w.fits"));
    snprintf(want, sizeof want, "shmap: %s: warning: keyword NAXIS2 left out: FITS uses that "
                                "card for the image's structure\n", name);
    CHECK_STR(err, want);
    util_clear(&out, &err);
    CHECK_OK(shmap_unlink(name + 6));
}

/*
 * An error line leaves in one write: commands sharing a stderr never interleave theirs.
 * It went out in three ("shmap: ", the name, the message), and three commands at once gave
 * "shmap: shmap: sysv://0x5c30000a: no such segment". A packet pipe (O_DIRECT) keeps each
 * write apart, so the first read returns the first write.
 */
TEST(cli__an_error_line_is_written_at_once)
{
    const char *name = test_name("oneline");
    int p[2];
    CHECK(pipe2(p, O_DIRECT) == 0);
    pid_t pid = util_spawn();
    if (pid == 0) {
        dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        execl(test_shmap_bin(), "shmap", "info", name, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    char buf[4096];
    ssize_t n = read(p[0], buf, sizeof buf - 1);
    CHECK(n > 0);
    buf[n > 0 ? n : 0] = '\0';
    char want[512];
    snprintf(want, sizeof want, "shmap: %s: no such segment\n", name);
    CHECK_STR(buf, want);
    close(p[0]);
    CHECK_EQ_INT(test_wait(pid), 1);
}

/* A value of kilobytes quoted in an error line: the line was cut at 2 KiB, inside the
 * quote, losing the reason and the pointer to the help. Its middle is cut now. */
TEST(cli__an_error_about_a_very_long_value_keeps_its_reason)
{
    char *out = NULL, *err = NULL;
    const char *name = test_name("long");
    char value[3001];
    memset(value, 'a', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    RUN(2, "create", name, "u8", "4", "--mode", value);
    CHECK_CONTAINS(err, "invalid mode 'aaaa");
    CHECK_CONTAINS(err, " bytes cut ...]aaaa");
    CHECK_CONTAINS(err, "aaaa' (octal, 1 to 0777) (see shmap help create)\n");
    CHECK(strchr(err, '\n') == err + strlen(err) - 1); /* one line */
    CHECK(!util_shm_exists(name));
    /* Cut between characters, not inside one (a byte alone would print as \xNN). */
    char wide[3001];
    for (size_t i = 0; i + 2 < sizeof wide; i += 2)
        memcpy(wide + i, "\xc3\xa9", 2);
    wide[sizeof wide - 1] = '\0';
    for (int shift = 0; shift < 2; shift++) { /* the characters at odd and even offsets */
        memmove(wide + 1, wide, sizeof wide - 2);
        wide[0] = 'x';
        if ((unsigned char)wide[sizeof wide - 2] == 0xc3) /* no character cut at the end */
            wide[sizeof wide - 2] = 'y';
        RUN(2, "create", name, "u8", "4", "--mode", wide);
        CHECK(!strstr(err, "\\x"));
    }
    RUN(2, "create", name, "u8", "4", "--mode", wide);
    CHECK_CONTAINS(err, "\xc3\xa9[... ");
    CHECK_CONTAINS(err, " bytes cut ...]\xc3\xa9");
    CHECK(!strstr(err, "\\x"));
    util_clear(&out, &err);
}
