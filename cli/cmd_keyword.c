/*
 * shmap keyword NAME [KEY | KEY=VALUE[ / COMMENT]... | --delete KEY... [--missing-ok]] [--json]
 *
 * Lists, reads, sets or deletes the keywords of a described segment after its creation,
 * which `create --keyword` and `import` can only do as they make it.
 *
 * Design note. Reading opens the segment read-only, so a user who may only read it lists
 * and reads its keywords; the library's snapshot is consistent without writing anything.
 * Changing them opens it read-write and takes no lock (where `set` and `fill` take the
 * exclusive one): a keyword is not the data, and a hold-while-open writer, which keeps the
 * exclusive lock as long as it runs, would block it for that long. `shmap lock NAME -- ...`
 * groups changes under the exclusive lock. Each keyword changes whole under the library's
 * own keyword lock.
 * Several are changed all or none, as `import --existing` sets its keywords: every argument
 * is parsed before the segment is opened, and the library changes them in one step
 * (shmap_keyword_set_many(), shmap_keyword_delete_many()), which counts the free slots, or
 * finds every keyword to delete, before it changes anything; readers see them change
 * together. End signals are held off during that step, so Ctrl-C never cuts it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const cli_opt keyword_opts[] = {
    {"json", 0}, {"delete", 0}, {"missing-ok", 0}, CLI_RAW_OPTS, {NULL, 0},
};

/* ---------------------------------------------------------------------------------------- */
/* Printing (info prints its keywords with these too) */

void cli_keyword_print_value(FILE *out, const shmap_keyword *kw, int quoted)
{
    char buf[48], text[4 * SHMAP_KEYWORD_STRING_MAX];
    switch (kw->type) {
    case SHMAP_KW_INT:
        fprintf(out, "%" PRId64, kw->i);
        break;
    case SHMAP_KW_FLOAT:
        /* "2.0", not "2", so a float keyword does not read as an integer one. */
        cli_format_double(buf, sizeof buf, kw->f);
        if (!strpbrk(buf, ".en"))
            strcat(buf, ".0");
        fputs(buf, out);
        break;
    case SHMAP_KW_BOOL:
        fputs(kw->i ? "T" : "F", out);
        break;
    case SHMAP_KW_STRING:
        /* The library writes no control character, but a segment another program wrote
         * may hold one: escaped (text.c), it forges no line and moves no cursor. */
        cli_escape_text(text, sizeof text, kw->s);
        if (!quoted) {
            fputs(text, out);
            break;
        }
        /* FITS style: quoted, a quote inside doubled. */
        fputc('\'', out);
        for (const char *s = text; *s; s++) {
            if (*s == '\'')
                fputc('\'', out);
            fputc(*s, out);
        }
        fputc('\'', out);
        break;
    default:
        fputs("?", out);
        break;
    }
}

void cli_keyword_print_lines(FILE *out, const char *indent, const shmap_keyword *kw, int nkw)
{
    int width = 8; /* as FITS pads names */
    for (int i = 0; i < nkw; i++)
        if ((int)strlen(kw[i].name) > width)
            width = (int)strlen(kw[i].name);
    for (int i = 0; i < nkw; i++) {
        fprintf(out, "%s%-*s = ", indent, width, kw[i].name);
        cli_keyword_print_value(out, &kw[i], 1);
        char comment[4 * SHMAP_KEYWORD_COMMENT_MAX];
        cli_escape_text(comment, sizeof comment, kw[i].comment);
        if (comment[0])
            fprintf(out, " / %s", comment);
        fputc('\n', out);
    }
}

static const char *type_name(shmap_kw_type type)
{
    switch (type) {
    case SHMAP_KW_INT:
        return "int";
    case SHMAP_KW_FLOAT:
        return "float";
    case SHMAP_KW_STRING:
        return "string";
    case SHMAP_KW_BOOL:
        return "bool";
    }
    return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Reading */

static int open_to_read(const char *name, shmap_seg **seg)
{
    /* As info: a System V segment deleted while still attached (sysv://id=N) can be read. */
    int rc = shmap_open(seg, name, SHMAP_RDONLY | SHMAP_DELETED);
    return rc < 0 ? cli_fail_lib(name, rc) : 0;
}

static int list_keywords(const char *name, int json)
{
    shmap_seg *seg;
    if (open_to_read(name, &seg) != 0)
        return CLI_EXIT_FAIL;
    shmap_info info;
    shmap_keyword *kw = NULL;
    int rc = shmap_info_get(seg, &info), nkw = 0;
    if (rc == 0)
        rc = nkw = shmap_keyword_list_alloc(seg, &kw);
    shmap_close(seg);
    if (rc < 0)
        return cli_fail_lib(name, rc);
    if (json) {
        cli_json j;
        cli_json_init(&j, stdout);
        cli_json_open(&j, NULL, '{');
        cli_json_string(&j, "name", info.name);
        cli_json_u64(&j, "keyword_capacity", info.keyword_capacity);
        cli_json_keywords(&j, kw, nkw);
        cli_json_close(&j, '}');
    } else {
        cli_keyword_print_lines(stdout, "", kw, nkw);
    }
    free(kw);
    return CLI_EXIT_OK;
}

static int read_keyword(const char *name, const char *key, int json)
{
    shmap_seg *seg;
    if (open_to_read(name, &seg) != 0)
        return CLI_EXIT_FAIL;
    shmap_keyword kw;
    int rc = shmap_keyword_get(seg, key, &kw);
    if (rc < 0) {
        cli_fail_lib(name, rc);
        shmap_close(seg);
        return CLI_EXIT_FAIL;
    }
    shmap_close(seg);
    if (!json) {
        cli_keyword_print_value(stdout, &kw, 0);
        putchar('\n');
        return CLI_EXIT_OK;
    }
    cli_json j;
    cli_json_init(&j, stdout);
    cli_json_open(&j, NULL, '{');
    cli_json_string(&j, "keyword", kw.name);
    cli_json_string(&j, "type", type_name(kw.type));
    switch (kw.type) {
    case SHMAP_KW_INT:
        cli_json_i64(&j, "value", kw.i);
        break;
    case SHMAP_KW_FLOAT:
        cli_json_double(&j, "value", kw.f);
        break;
    case SHMAP_KW_BOOL:
        cli_json_bool(&j, "value", kw.i != 0);
        break;
    default:
        cli_json_string(&j, "value", kw.s);
        break;
    }
    cli_json_string(&j, "comment", kw.comment);
    cli_json_close(&j, '}');
    return CLI_EXIT_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Changing */

/* What one argument asks: the keyword to set (or the name to delete, in kw.name). */
typedef struct change {
    shmap_keyword kw;
    int keep_comment; /* KEY=VALUE gave no comment: the keyword keeps the one it has */
} change;

/* The text of a usage error the library gave ("keyword: keyword name 'A B' may hold..."),
 * without the "keyword: " it puts where a segment's name would go. */
static const char *parse_message(int rc)
{
    const char *msg = cli_lib_message(rc);
    return strncmp(msg, "keyword: ", 9) == 0 ? msg + 9 : msg;
}

/*
 * The parsed keyword cannot tell whether @p text gave a comment: its comment is "" either
 * way. So the library's parser is asked again with
 * " / ~" after the text: where the text had no comment that becomes its comment, "~";
 * where it had one, " / ~" lands inside it. Asking the parser keeps its rules in one place
 * (a quoted string may hold " / " without starting a comment).
 */
int cli_keyword_gives_comment(const char *text)
{
    size_t len = strlen(text);
    char *more = malloc(len + 5);
    if (!more)
        return 1;
    memcpy(more, text, len);
    memcpy(more + len, " / ~", 5);
    shmap_keyword kw;
    int given = shmap_keyword_parse(more, &kw) < 0 || strcmp(kw.comment, "~") != 0;
    free(more);
    return given;
}

/* Parse KEY=VALUE[ / COMMENT] (@p set) or KEY into @p c. 0, or the exit status after saying
 * what is wrong (CLI_EXIT_USAGE, but for want of memory). */
static int parse_change(const char *name, const char *text, int set, change *c)
{
    memset(c, 0, sizeof *c);
    int rc;
    if (set) {
        if ((rc = shmap_keyword_parse(text, &c->kw)) < 0)
            return cli_usage_error_on("keyword", name, "%s", parse_message(rc));
        c->keep_comment = !cli_keyword_gives_comment(text);
        return 0;
    }
    if (strchr(text, '='))
        return cli_usage_error_on("keyword", name, "--delete takes KEY, not KEY=VALUE ('%s')",
                                  text);
    /* The library checks a name only with a value: give it one, so its rule (1 to 23
     * letters, digits, '_' and '-') is the one applied. */
    size_t len = strlen(text);
    char *probe = malloc(len + 3);
    if (!probe)
        return cli_fail(name, "out of memory");
    memcpy(probe, text, len);
    memcpy(probe + len, "=0", 3);
    rc = shmap_keyword_parse(probe, &c->kw);
    free(probe);
    if (rc < 0)
        return cli_usage_error_on("keyword", name, "%s", parse_message(rc));
    return 0;
}

/* Open read-write, saying why not. Permission denied gets the way out: reading is allowed
 * with read permission alone. */
static int open_to_change(const char *name, shmap_seg **seg)
{
    int rc = shmap_open(seg, name, SHMAP_RDWR);
    if (rc == -EACCES) {
        const char *detail = cli_lib_detail();
        char text[1024];
        snprintf(text, sizeof text, "%s (changing keywords needs write permission; reading "
                 "them needs only read permission)", detail ? detail : shmap_strerror(rc));
        return cli_fail_detail(name, text);
    }
    return rc < 0 ? cli_fail_lib(name, rc) : 0;
}

int cli_keywords_set_all(const char *name, shmap_seg *seg, const shmap_keyword *kw,
                         const unsigned char *keep, int n, unsigned int flags)
{
    int rc = shmap_keyword_set_many(seg, kw, (size_t)n, keep, flags);
    return rc < 0 ? cli_fail_lib(name, rc) : CLI_EXIT_OK;
}

/* Set (@p set) or delete the keywords the @p n arguments @p texts give. */
static int change_keywords(const char *name, char **texts, int n, int set, int missing_ok)
{
    shmap_keyword *kw = calloc((size_t)n, sizeof *kw);
    unsigned char *keep = calloc((size_t)n, 1);
    const char **names = calloc((size_t)n, sizeof *names);
    if (!kw || !keep || !names) {
        free(kw);
        free(keep);
        free(names);
        return cli_fail(name, "out of memory");
    }
    int status = CLI_EXIT_OK;
    for (int i = 0; i < n && status == CLI_EXIT_OK; i++) {
        change c;
        status = parse_change(name, texts[i], set, &c);
        kw[i] = c.kw;
        keep[i] = (unsigned char)c.keep_comment;
        names[i] = kw[i].name;
    }
    shmap_seg *seg = NULL;
    if (status == CLI_EXIT_OK)
        status = open_to_change(name, &seg);
    if (status == CLI_EXIT_OK) {
        /* One change, all of it or none: a signal that comes meanwhile ends the command
         * after it, once the segment is closed. */
        cli_block_end_signals(1);
        if (set) {
            status = cli_keywords_set_all(name, seg, kw, keep, n, 0);
        } else {
            int rc = shmap_keyword_delete_many(seg, names, (size_t)n,
                                               missing_ok ? SHMAP_KEYWORD_MISSING_OK : 0);
            if (rc < 0)
                status = cli_fail_lib(name, rc);
        }
    }
    if (seg) {
        int rc = shmap_close(seg);
        if (rc < 0 && status == CLI_EXIT_OK)
            status = cli_fail_lib(name, rc);
        /* Let in, once the segment is let go, a signal held off meanwhile. */
        cli_block_end_signals(0);
    }
    free(kw);
    free(keep);
    free(names);
    return status;
}

/* ---------------------------------------------------------------------------------------- */

int cmd_keyword(int argc, char **argv)
{
    int opt, json = 0, del = 0, missing_ok = 0;
    const char *raw_opt = NULL;
    cli_args a;
    cli_args_init(&a, "keyword", keyword_opts, argc, argv);
    while ((opt = cli_args_next(&a)) >= 0) {
        const char *o = keyword_opts[opt].name;
        if (strcmp(o, "json") == 0)
            json = 1;
        else if (strcmp(o, "delete") == 0)
            del = 1;
        else if (strcmp(o, "missing-ok") == 0)
            missing_ok = 1;
        else if (!raw_opt)
            raw_opt = o;
    }
    if (opt == CLI_ARGS_EXIT)
        return a.status;
    if (a.npos == 0)
        return cli_usage_error("keyword", "missing NAME");
    const char *name = a.argv[0];
    /* The raw options other commands take are known here only to be refused clearly. */
    if (raw_opt)
        return cli_usage_error_on("keyword", name, "--%s: a raw array has no header, and no "
                                  "keywords: keyword reads and writes those of described "
                                  "segments", raw_opt);
    if (cli_check_names("keyword", a.argv, 1) != 0)
        return CLI_EXIT_USAGE;

    char **args = a.argv + 1;
    int nargs = a.npos - 1, nset = 0;
    for (int i = 0; i < nargs; i++)
        nset += strchr(args[i], '=') != NULL;
    if (missing_ok && !del)
        return cli_usage_error_on("keyword", name, "--missing-ok goes with --delete");
    if (del) {
        if (nargs == 0)
            return cli_usage_error_on("keyword", name, "--delete needs a KEY to delete");
        if (json)
            return cli_usage_error_on("keyword", name, "--json is for reading keywords, not "
                                      "deleting them");
        return change_keywords(name, args, nargs, 0, missing_ok);
    }
    if (nset > 0 && nset < nargs) {
        const char *key = NULL, *set = NULL;
        for (int i = 0; i < nargs; i++) {
            if (strchr(args[i], '=') && !set)
                set = args[i];
            else if (!strchr(args[i], '=') && !key)
                key = args[i];
        }
        return cli_usage_error_on("keyword", name, "'%s' reads a keyword and '%s' sets one: "
                                  "read or set, not both", key, set);
    }
    if (nset > 0) {
        if (json)
            return cli_usage_error_on("keyword", name, "--json is for reading keywords, not "
                                      "setting them");
        return change_keywords(name, args, nargs, 1, 0);
    }
    if (nargs > 1)
        return cli_usage_error_on("keyword", name, "give one KEY to read ('%s' is a second): "
                                  "NAME alone lists them all", args[1]);
    if (nargs == 0)
        return list_keywords(name, json);
    change c;
    if (parse_change(name, args[0], 0, &c) != 0)
        return CLI_EXIT_USAGE;
    return read_keyword(name, c.kw.name, json);
}
