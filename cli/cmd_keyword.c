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
 * is parsed before the segment is opened, the free slots are counted before the first
 * change, and a change that fails puts back the keywords changed before it. End signals
 * are held off from the first change to the last (or the last one put back), so Ctrl-C
 * never leaves half of them changed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

static const cli_opt keyword_opts[] = {
    {"json", 0}, {"delete", 0}, {"missing-ok", 0}, CLI_RAW_OPTS, {NULL, 0},
};

/* ---------------------------------------------------------------------------------------- */
/* Printing (info prints its keywords with these too) */

void cli_keyword_print_value(FILE *out, const shmap_keyword *kw, int quoted)
{
    char buf[48];
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
        if (!quoted) {
            fputs(kw->s, out);
            break;
        }
        /* FITS style: quoted, a quote inside doubled. */
        fputc('\'', out);
        for (const char *s = kw->s; *s; s++) {
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
        if (kw[i].comment[0])
            fprintf(out, " / %s", kw[i].comment);
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
    int keep_comment;   /* KEY=VALUE gave no comment: the keyword keeps the one it has */
    int dup;            /* an earlier argument names the same keyword */
    /* filled as the change is made, to put it back */
    int done;
    int had;
    shmap_keyword old;
} change;

/* The library's message without the segment's name in front ("frames: every keyword slot
 * is in use..."), to follow the keyword's name in ours. */
static const char *lib_message_on(const shmap_info *info, int rc)
{
    const char *msg = cli_lib_message(rc);
    size_t len = strlen(info->name);
    if (strncmp(msg, info->name, len) == 0 && strncmp(msg + len, ": ", 2) == 0)
        msg += len + 2;
    return msg;
}

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
static int open_to_change(const char *name, shmap_seg **seg, shmap_info *info)
{
    int rc = shmap_open(seg, name, SHMAP_RDWR);
    if (rc == -EACCES) {
        const char *detail = cli_lib_detail();
        char text[1024];
        snprintf(text, sizeof text, "%s (changing keywords needs write permission; reading "
                 "them needs only read permission)", detail ? detail : shmap_strerror(rc));
        return cli_fail_detail(name, text);
    }
    if (rc < 0)
        return cli_fail_lib(name, rc);
    if ((rc = shmap_info_get(*seg, info)) < 0) {
        cli_fail_lib(name, rc);
        shmap_close(*seg);
        return CLI_EXIT_FAIL;
    }
    return 0;
}

/* Is @p key among the @p nkw keywords listed? */
static int listed(const shmap_keyword *kw, int nkw, const char *key)
{
    for (int i = 0; i < nkw; i++)
        if (strcasecmp(kw[i].name, key) == 0)
            return 1;
    return 0;
}

/* Mark the changes that name a keyword an earlier one names. */
static void mark_duplicates(change *c, int n)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i && !c[i].dup; j++)
            c[i].dup = strcasecmp(c[j].kw.name, c[i].kw.name) == 0;
}

/*
 * There is a free slot for every keyword to set that the segment lacks; else say which do
 * not fit. From one snapshot of the keywords, so the count and the names agree. Another
 * writer may take a slot before we use it: set_all() then puts everything back.
 */
static int check_room(const char *name, const shmap_info *info, const shmap_keyword *kw,
                      int nkw, const change *c, int n)
{
    unsigned int add = 0;
    for (int i = 0; i < n; i++)
        add += !c[i].dup && !listed(kw, nkw, c[i].kw.name);
    unsigned int room = info->keyword_capacity > (unsigned int)nkw
                            ? info->keyword_capacity - (unsigned int)nkw : 0;
    if (add <= room)
        return 0;
    char names[512];
    size_t used = 0;
    names[0] = '\0';
    for (int i = 0; i < n && used < sizeof names; i++)
        if (!c[i].dup && !listed(kw, nkw, c[i].kw.name))
            used += (size_t)snprintf(names + used, sizeof names - used, "%s%s",
                                     used ? ", " : "", c[i].kw.name);
    return cli_fail(name, "no room for new %s %s: %u of %u keyword %s free (the number of "
                    "slots is set when the segment is created)",
                    cli_plural(add, "keyword", "keywords"), names, room,
                    info->keyword_capacity, cli_plural(info->keyword_capacity, "slot", "slots"));
}

/* Every keyword to delete is there; else say which are not, and delete none. */
static int check_present(const char *name, const shmap_keyword *kw, int nkw, const change *c,
                         int n)
{
    char names[512];
    size_t used = 0;
    int missing = 0;
    names[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (c[i].dup || listed(kw, nkw, c[i].kw.name))
            continue;
        missing++;
        if (used < sizeof names)
            used += (size_t)snprintf(names + used, sizeof names - used, "%s%s",
                                     used ? ", " : "", c[i].kw.name);
    }
    if (!missing)
        return 0;
    return cli_fail(name, "%s %s%s", cli_plural((uint64_t)missing, "no keyword", "no keywords"),
                    names,
                    n > 1 ? " (none of the keywords given deleted)" : "");
}

/* Put back what the changes before a failure did, last first. */
static void put_back(const char *name, shmap_seg *seg, change *c, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        if (!c[i].done)
            continue;
        int rc = c[i].had ? shmap_keyword_set(seg, &c[i].old)
                          : shmap_keyword_delete(seg, c[i].kw.name);
        if (rc < 0 && rc != SHMAP_ENOKEY)
            cli_warn(name, "keyword %s could not be put back as it was", c[i].kw.name);
    }
}

static int set_all(const char *name, shmap_seg *seg, const shmap_info *info, change *c, int n)
{
    int status = CLI_EXIT_OK;
    for (int i = 0; i < n && status == CLI_EXIT_OK; i++) {
        int rc = shmap_keyword_get(seg, c[i].kw.name, &c[i].old);
        c[i].had = rc == 0;
        if (rc == SHMAP_ENOKEY)
            rc = 0;
        if (rc == 0 && c[i].had && c[i].keep_comment)
            snprintf(c[i].kw.comment, sizeof c[i].kw.comment, "%s", c[i].old.comment);
        if (rc == 0)
            rc = shmap_keyword_set(seg, &c[i].kw);
        if (rc < 0) {
            status = cli_fail(name, "keyword %s: %s%s", c[i].kw.name, lib_message_on(info, rc),
                              i > 0 ? "; those set before it were put back" : "");
            break;
        }
        c[i].done = 1;
    }
    if (status != CLI_EXIT_OK)
        put_back(name, seg, c, n);
    return status;
}

static int delete_all(const char *name, shmap_seg *seg, const shmap_info *info, change *c,
                      int n)
{
    int status = CLI_EXIT_OK, deleted = 0;
    for (int i = 0; i < n && status == CLI_EXIT_OK; i++) {
        if (c[i].dup)
            continue;
        int rc = shmap_keyword_get(seg, c[i].kw.name, &c[i].old);
        /* Absent (--missing-ok), or deleted by another writer since it was looked for. */
        if (rc == SHMAP_ENOKEY)
            continue;
        if (rc == 0)
            rc = shmap_keyword_delete(seg, c[i].kw.name);
        if (rc == SHMAP_ENOKEY)
            continue;
        if (rc < 0) {
            status = cli_fail(name, "keyword %s: %s%s", c[i].kw.name, lib_message_on(info, rc),
                              deleted ? "; those deleted before it were put back" : "");
            break;
        }
        c[i].done = c[i].had = 1;
        deleted++;
    }
    if (status != CLI_EXIT_OK)
        put_back(name, seg, c, n);
    return status;
}

/* The changes that set @p n keywords (@p commented: did each give a comment?), or NULL
 * after saying that memory ran out. */
static change *changes_of(const char *name, const shmap_keyword *kw,
                          const unsigned char *commented, int n)
{
    change *c = calloc(n > 0 ? (size_t)n : 1, sizeof *c);
    if (!c) {
        cli_fail(name, "out of memory");
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        c[i].kw = kw[i];
        c[i].keep_comment = !commented[i];
    }
    mark_duplicates(c, n);
    return c;
}

/* check_room() against the segment's keywords as they are now; fills @p info. */
static int room_now(const char *name, shmap_seg *seg, shmap_info *info, const change *c, int n)
{
    int rc = shmap_info_get(seg, info);
    if (rc < 0)
        return cli_fail_lib(name, rc);
    shmap_keyword *kw = NULL;
    int nkw = shmap_keyword_list_alloc(seg, &kw);
    if (nkw < 0)
        return cli_fail_lib(name, nkw);
    int status = check_room(name, info, kw, nkw, c, n);
    free(kw);
    return status;
}

/* Count the room for @p n keywords, and set them unless @p only_count. */
static int set_on_open(const char *name, shmap_seg *seg, const shmap_keyword *kw,
                       const unsigned char *commented, int n, int only_count)
{
    change *c = changes_of(name, kw, commented, n);
    if (!c)
        return CLI_EXIT_FAIL;
    shmap_info info;
    int status = room_now(name, seg, &info, c, n);
    if (status == CLI_EXIT_OK && !only_count)
        status = set_all(name, seg, &info, c, n);
    free(c);
    return status;
}

int cli_keywords_check_room(const char *name, shmap_seg *seg, const shmap_keyword *kw,
                            const unsigned char *commented, int n)
{
    return set_on_open(name, seg, kw, commented, n, 1);
}

int cli_keywords_set_all(const char *name, shmap_seg *seg, const shmap_keyword *kw,
                         const unsigned char *commented, int n)
{
    return set_on_open(name, seg, kw, commented, n, 0);
}

/* Set (@p set) or delete the keywords the @p n arguments @p texts give. */
static int change_keywords(const char *name, char **texts, int n, int set, int missing_ok)
{
    change *c = calloc((size_t)n, sizeof *c);
    if (!c)
        return cli_fail(name, "out of memory");
    int status = CLI_EXIT_OK;
    for (int i = 0; i < n && status == CLI_EXIT_OK; i++)
        status = parse_change(name, texts[i], set, &c[i]);
    mark_duplicates(c, n);

    shmap_seg *seg = NULL;
    shmap_info info;
    shmap_keyword *kw = NULL;
    int nkw = 0;
    if (status == CLI_EXIT_OK)
        status = open_to_change(name, &seg, &info);
    if (status == CLI_EXIT_OK && (nkw = shmap_keyword_list_alloc(seg, &kw)) < 0)
        status = cli_fail_lib(name, nkw);
    if (status == CLI_EXIT_OK && set)
        status = check_room(name, &info, kw, nkw, c, n);
    if (status == CLI_EXIT_OK && !set && !missing_ok)
        status = check_present(name, kw, nkw, c, n);

    if (status == CLI_EXIT_OK) {
        cli_block_end_signals(1);
        status = set ? set_all(name, seg, &info, c, n) : delete_all(name, seg, &info, c, n);
        /* A signal that came meanwhile ends the command here, the change whole. */
        cli_block_end_signals(0);
    }
    if (seg) {
        int rc = shmap_close(seg);
        if (rc < 0 && status == CLI_EXIT_OK)
            status = cli_fail_lib(name, rc);
    }
    free(kw);
    free(c);
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
