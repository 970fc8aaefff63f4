/*
 * util.c: error reporting, argument scanning, number parsing and the formatting helpers the
 * commands share.
 */
#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* ---------------------------------------------------------------------------------------- */
/* Errors */

/* The segment the command line names, for usage errors (cli_args_subject()). */
static const char *subject;

/*
 * A message into @p msg. One longer than that quotes a very long argument (a value of
 * kilobytes): its start and its end, where the reason is, are kept and the middle cut, so
 * that the line still says what was wrong.
 */
static void format_msg(char *msg, size_t size, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    int len = vsnprintf(msg, size, fmt, ap);
    char *full = len >= 0 && (size_t)len >= size ? malloc((size_t)len + 1) : NULL;
    if (full) {
        vsnprintf(full, (size_t)len + 1, fmt, again);
        /* Cut between characters: not before a UTF-8 continuation byte. */
        size_t head = (size - 64) / 2, tail = (size_t)len - head;
        while (head > 0 && ((unsigned char)full[head] & 0xc0) == 0x80)
            head--;
        while (tail < (size_t)len && ((unsigned char)full[tail] & 0xc0) == 0x80)
            tail++;
        snprintf(msg, size, "%.*s[... %zu bytes cut ...]%s", (int)head, full, tail - head,
                 full + tail);
        free(full);
    }
    va_end(again);
}

/*
 * One error line: "shmap: ", @p name and ": " when there is one, the message, and @p suffix
 * (NULL: none) as it is: the pointer to the help of a usage error.
 */
static void vprint_error(const char *name, const char *suffix, const char *fmt, va_list ap)
{
    /* Escaped, because a control character (a newline in a name) would split the line, and
     * bytes that are not text would reach the terminal as they are. */
    char msg[2048], who[4 * sizeof msg], text[4 * sizeof msg];
    char line[sizeof who + sizeof text + 512];
    format_msg(msg, sizeof msg, fmt, ap);
    /* An empty name would print as "shmap: : ..."; quote it so the reader sees it. */
    if (name)
        cli_escape_name(who, sizeof who, *name ? name : "''");
    cli_escape_text(text, sizeof text, msg);
    /* Written at once: commands sharing a stderr do not interleave their lines. */
    snprintf(line, sizeof line, "shmap: %s%s%s%s\n", name ? who : "", name ? ": " : "", text,
             suffix ? suffix : "");
    fputs(line, stderr);
}

static void print_error(const char *name, const char *suffix, const char *fmt, ...)
    CLI_PRINTF(3, 4);

static void print_error(const char *name, const char *suffix, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprint_error(name, suffix, fmt, ap);
    va_end(ap);
}

void cli_warn(const char *name, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    format_msg(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cli_fail(name, "warning: %s", msg);
}

static const int end_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
#define NEND (sizeof end_signals / sizeof end_signals[0])

static void catch_one(int sig, void (*handler)(int))
{
    struct sigaction sa, old;
    if (sigaction(sig, NULL, &old) == 0 && old.sa_handler == SIG_IGN)
        return;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

void cli_catch_end_signals(void (*handler)(int), int also)
{
    for (size_t i = 0; i < NEND; i++)
        catch_one(end_signals[i], handler);
    if (also)
        catch_one(also, handler);
}

void cli_default_end_signals(void)
{
    for (size_t i = 0; i < NEND; i++) {
        struct sigaction old;
        if (sigaction(end_signals[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
            signal(end_signals[i], SIG_DFL);
    }
}

void cli_block_end_signals(int block)
{
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < NEND; i++)
        sigaddset(&set, end_signals[i]);
    sigprocmask(block ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}

int cli_write_all(int fd, const void *buf, size_t n)
{
    const unsigned char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n < (1u << 30) ? n : (1u << 30));
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* errno of the first failed write to standard output that cli_stdout_failed() saw, or 0. */
static int stdout_errno;

int cli_stdout_failed(void)
{
    if (!ferror(stdout))
        return 0;
    /* Seen right after the write that failed, errno is still that write's: later writes
     * to the same output would fail alike, and nothing else between sets it. */
    if (!stdout_errno)
        stdout_errno = errno ? errno : -1;
    return stdout_errno;
}

int cli_fail(const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprint_error(name, NULL, fmt, ap);
    va_end(ap);
    return CLI_EXIT_FAIL;
}

/* The segment part of a name as a message would quote it: "frames" for "shm://frames". */
static const char *name_base(const char *name)
{
    const char *scheme = strstr(name, "://");
    if (scheme)
        name = scheme + 3;
    else if (strncmp(name, "file:", 5) == 0)
        name += 5;
    while (*name == '/')
        name++;
    return name;
}

static int name_boundary_before(char c)
{
    return c == '\'' || c == '"' || c == '`' || c == '/' || c == ' ' || c == '(';
}

static int name_boundary_after(char c)
{
    return c == '\0' || c == '\'' || c == '"' || c == '`' || c == ':' || c == ' ' ||
           c == ',' || c == ')';
}

/*
 * The library quotes a System V key in one spelling, "0x005a376b", whatever the user typed
 * ("0x5a376b", "5912427"): that spelling of a sysv:// name's base, or NULL.
 */
static const char *sysv_spelling(const char *name, char *buf, size_t size)
{
    if (strncmp(name, "sysv://", 7) != 0)
        return NULL;
    const char *num = name + 7;
    int by_id = strncmp(num, "id=", 3) == 0;
    if (by_id)
        num += 3;
    int base = !by_id && (strncmp(num, "0x", 2) == 0 || strncmp(num, "0X", 2) == 0) ? 16 : 10;
    if (base == 16)
        num += 2;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(num, &end, base);
    if (!*num || *end || errno)
        return NULL;
    snprintf(buf, size, by_id ? "id=%llu" : "0x%08llx", v);
    return buf;
}

/* Is text[0..len) the name as given, in quotes ("'/'" for "/"), or the start of a long
 * one cut short ("'xxxx...'")? */
static int is_quoted(const char *text, size_t len, const char *name)
{
    if (len < 2 || text[0] != '\'' || text[len - 1] != '\'')
        return 0;
    size_t n = strlen(name), inner = len - 2;
    if (inner == n)
        return memcmp(text + 1, name, n) == 0;
    return inner > 3 && inner - 3 < n && memcmp(text + len - 4, "...", 3) == 0 &&
           memcmp(text + 1, name, inner - 3) == 0;
}

/* Does text[0..len) name the segment, as a whole word, not as part of a longer one? */
static int mentions_base(const char *text, size_t len, const char *base);

static int mentions(const char *text, size_t len, const char *name)
{
    char key[32];
    const char *sysv = sysv_spelling(name, key, sizeof key);
    return mentions_base(text, len, name_base(name)) ||
           (sysv && mentions_base(text, len, sysv));
}

static int mentions_base(const char *text, size_t len, const char *base)
{
    size_t blen = strlen(base);
    if (blen == 0 || blen > len)
        return 0;
    for (size_t i = 0; i + blen <= len; i++) {
        if (memcmp(text + i, base, blen) != 0)
            continue;
        char after = i + blen < len ? text[i + blen] : '\0';
        if ((i == 0 || name_boundary_before(text[i - 1])) && name_boundary_after(after))
            return 1;
    }
    return 0;
}

/*
 * The library keeps its detail message until the next failure and never clears it on
 * success, so a detail already printed may be stale: a later failure that set no detail of
 * its own must not be explained by it. Remembering the last detail printed is enough.
 *
 * The detail usually starts with the segment ("segment '/frames': object is 4096 bytes..."):
 * that prefix is replaced by the name as the user wrote it, giving SPEC's "shmap: NAME:
 * message". A detail naming the segment elsewhere is printed as it is, one naming it not at
 * all gets the name in front: either way the name appears exactly once.
 */
static char last_detail[1024];

const char *cli_lib_detail(void)
{
    const char *detail = shmap_last_error();
    if (!detail || !*detail || strcmp(detail, last_detail) == 0)
        return NULL;
    snprintf(last_detail, sizeof last_detail, "%s", detail);
    return detail;
}

const char *cli_lib_message(int rc)
{
    const char *detail = cli_lib_detail();
    return detail ? detail : shmap_strerror(rc);
}

/* cli_fail_lib() ending its line with @p suffix (NULL: none). */
static int fail_lib(const char *name, int rc, const char *suffix);
static int fail_detail(const char *name, const char *detail, const char *suffix);

int cli_fail_lib(const char *name, int rc)
{
    return fail_lib(name, rc, NULL);
}

static int fail_lib(const char *name, int rc, const char *suffix)
{
    const char *detail = cli_lib_detail();
    if (!detail) {
        print_error(name, suffix, "%s", shmap_strerror(rc));
        return CLI_EXIT_FAIL;
    }
    return fail_detail(name, detail, suffix);
}

/* Is text[0..len) a System V segment named by key ("sysv://0x00005eed") while the user
 * named it by id ("sysv://id=7")? The library names a segment it found by its key. */
static int key_for_id(const char *text, size_t len, const char *name)
{
    return strncmp(name, "sysv://id=", 10) == 0 && len > 9 && strncmp(text, "sysv://0x", 9) == 0 &&
           strspn(text + 9, "0123456789abcdef") == len - 9;
}

int cli_replace_last(char *out, size_t size, const char *text, const char *from,
                     const char *to)
{
    const char *last = NULL;
    for (const char *p = strstr(text, from); p; p = strstr(p + 1, from))
        last = p;
    size_t flen = strlen(from);
    if (!last || strlen(text) - flen + strlen(to) >= size)
        return 0;
    snprintf(out, size, "%.*s%s%s", (int)(last - text), text, to, last + flen);
    return 1;
}

int cli_fail_detail(const char *name, const char *detail)
{
    return fail_detail(name, detail, NULL);
}

static int fail_detail(const char *name, const char *detail, const char *suffix)
{
    /* The library's way out, said as this command line takes it. */
    static const char lib_way[] = "a forced delete", our_way[] = "`shmap rm --force`";
    char said[2048];
    if (cli_replace_last(said, sizeof said, detail, lib_way, our_way))
        detail = said;
    const char *colon = strstr(detail, ": ");
    if (colon && (mentions(detail, (size_t)(colon - detail), name) ||
                  is_quoted(detail, (size_t)(colon - detail), name) ||
                  key_for_id(detail, (size_t)(colon - detail), name)))
        print_error(name, suffix, "%s", colon + 2);
    else if (mentions(detail, strlen(detail), name))
        print_error(NULL, suffix, "%s", detail);
    else
        print_error(name, suffix, "%s", detail);
    return CLI_EXIT_FAIL;
}

/*
 * What ends a usage error's line: where the synopsis is, which has no room of its own, as
 * an error is one line (SPEC). A command's own help, or the overview when there is no
 * command (none given, or one unknown).
 */
static const char *usage_suffix(const char *cmd, char *buf, size_t size)
{
    if (cmd && cli_command_find(cmd))
        snprintf(buf, size, " (see shmap help %s)", cmd);
    else
        snprintf(buf, size, " (see shmap --help)");
    return buf;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    char suffix[64];
    va_list ap;
    va_start(ap, fmt);
    vprint_error(subject, usage_suffix(cmd, suffix, sizeof suffix), fmt, ap);
    va_end(ap);
    return CLI_EXIT_USAGE;
}

int cli_usage_error_on(const char *cmd, const char *name, const char *fmt, ...)
{
    char suffix[64];
    va_list ap;
    va_start(ap, fmt);
    vprint_error(name, usage_suffix(cmd, suffix, sizeof suffix), fmt, ap);
    va_end(ap);
    return CLI_EXIT_USAGE;
}

int cli_usage_lib(const char *cmd, const char *name, int rc)
{
    char suffix[64];
    fail_lib(name, rc, usage_suffix(cmd, suffix, sizeof suffix));
    return CLI_EXIT_USAGE;
}

int cli_check_names(const char *cmd, char **names, int n)
{
    char suffix[64];
    usage_suffix(cmd, suffix, sizeof suffix);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        shmap_store store;
        int rc = shmap_name_check(names[i], &store);
        if (rc == SHMAP_EBADNAME) {
            fail_lib(names[i], rc, suffix);
            bad = 1;
        } else if (rc == 0 && store == SHMAP_STORE_MEMFD) {
            /* Only its descriptor reaches one, which no command is given: never usable. */
            print_error(names[i], suffix, "a memfd segment has no name a command can open it "
                        "by: give file:/proc/PID/fd/N of a process that holds its descriptor");
            bad = 1;
        }
    }
    return bad ? CLI_EXIT_USAGE : 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Arguments */

void cli_args_init(cli_args *a, const char *cmd, const cli_opt *opts, int argc, char **argv)
{
    memset(a, 0, sizeof *a);
    a->cmd = cmd;
    a->opts = opts;
    a->argc = argc;
    a->argv = argv;
    a->next = 1; /* argv[0] is the command's name */
    /* Most commands' NAME comes first (shmap info NAME ...); the others say where theirs
     * is, or that they have none. */
    cli_args_subject(a, 0, 0);
}

/* "-1", "-2.5", "-.5", "-3:", "-1,2", "-inf", "-nan": negative values, not options. */
static int is_negative_value(const char *arg)
{
    unsigned char c = (unsigned char)arg[1];
    if (isdigit(c) || c == '.' || c == ':' || c == ',')
        return 1;
    return strncasecmp(arg + 1, "inf", 3) == 0 || strncasecmp(arg + 1, "nan", 3) == 0;
}

static int args_usage(cli_args *a, const char *fmt, const char *what)
{
    a->status = cli_usage_error(a->cmd, fmt, what);
    return CLI_ARGS_EXIT;
}

/* Match "--name" or "--name=value" against the option table. */
static int args_option(cli_args *a, const char *arg)
{
    const char *name = arg + 2;
    const char *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);

    for (int i = 0; a->opts && a->opts[i].name; i++) {
        const cli_opt *o = &a->opts[i];
        if (strlen(o->name) != len || strncmp(o->name, name, len) != 0)
            continue;
        a->value = NULL;
        if (!o->has_value) {
            if (eq)
                return args_usage(a, "option --%s takes no value", o->name);
            return i;
        }
        if (eq)
            a->value = eq + 1;
        else if (a->next < a->argc)
            a->value = a->argv[a->next++];
        else
            return args_usage(a, "option --%s needs a value", o->name);
        return i;
    }
    return args_usage(a, "unknown option '%s'", arg);
}

int cli_args_next(cli_args *a)
{
    while (a->next < a->argc) {
        char *arg = a->argv[a->next++];
        if (a->options_done || arg[0] != '-' || arg[1] == '\0' || is_negative_value(arg)) {
            /* npos < next always, so this overwrites only arguments already scanned. */
            a->argv[a->npos++] = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            a->options_done = 1;
            continue;
        }
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            const cli_command *c = cli_command_find(a->cmd);
            if (c)
                cli_command_help(stdout, c);
            a->status = CLI_EXIT_OK;
            return CLI_ARGS_EXIT;
        }
        if (arg[1] != '-')
            return args_usage(a, "unknown option '%s'", arg);
        return args_option(a, arg);
    }
    return CLI_ARGS_END;
}

void cli_args_subject(const cli_args *a, int index, int all)
{
    /* The scanner's rules: "--" ends options, a negative number is a value, and an option
     * that takes a value and has no "=" takes the next argument. An unknown option is
     * taken to have none: the scanner stops at it anyway. */
    const char *found = NULL;
    int n = 0, from_index = 0, done = 0;
    for (int i = 1; i < a->argc; i++) {
        const char *arg = a->argv[i];
        if (!done && strcmp(arg, "--") == 0) {
            done = 1;
            continue;
        }
        if (!done && arg[0] == '-' && arg[1] != '\0' && !is_negative_value(arg)) {
            const char *opt = arg + 2;
            size_t len = strcspn(opt, "=");
            for (int k = 0; arg[1] == '-' && !opt[len] && a->opts && a->opts[k].name; k++)
                if (a->opts[k].has_value && strlen(a->opts[k].name) == len &&
                    strncmp(a->opts[k].name, opt, len) == 0)
                    i++;
            continue;
        }
        if (n == index)
            found = arg;
        if (n >= index)
            from_index++;
        n++;
    }
    /* Several NAMEs: an error of an option or of another argument is none's in particular,
     * and an error of one NAME names it itself. */
    subject = all && from_index > 1 ? NULL : found;
}

const char *cli_subject(void)
{
    return subject;
}

const char *cli_skip_blanks(const char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    return s;
}

int cli_is_decimal(const char *text)
{
    const char *digits = cli_skip_blanks(text);
    size_t n = strspn(digits, "0123456789");
    return n > 0 && *cli_skip_blanks(digits + n) == '\0';
}

/* A number at the very start of @p text, with nothing but blanks after it. */
static int parse_u64_here(const char *text, uint64_t *out)
{
    int base = 10;
    const char *digits = text;
    if (text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
        base = 16;
        digits = text + 2;
    }
    /* strtoull would skip blanks and accept a sign; a count or an index has neither. */
    if (!isxdigit((unsigned char)digits[0]) || (base == 10 && !isdigit((unsigned char)*digits)))
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(digits, &end, base);
    if (errno == ERANGE || *cli_skip_blanks(end) != '\0')
        return -1;
    *out = v;
    return 0;
}

int cli_parse_u64(const char *text, uint64_t *out)
{
    return parse_u64_here(cli_skip_blanks(text), out);
}

int cli_parse_i64(const char *text, int64_t *out)
{
    text = cli_skip_blanks(text);
    int neg = text[0] == '-';
    uint64_t mag;
    if (parse_u64_here(text + (neg || text[0] == '+'), &mag) < 0)
        return -1;
    if (neg) {
        if (mag > (uint64_t)INT64_MAX + 1)
            return -1;
        *out = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
    } else {
        if (mag > (uint64_t)INT64_MAX)
            return -1;
        *out = (int64_t)mag;
    }
    return 0;
}

int cli_unblanked(const char *text, const char **start)
{
    text = cli_skip_blanks(text);
    size_t len = strlen(text);
    while (len && isspace((unsigned char)text[len - 1]))
        len--;
    *start = text;
    return len > INT_MAX ? INT_MAX : (int)len;
}

int cli_parse_seconds(const char *text, double *out)
{
    /* Decimal seconds ("2", "0.5", "1e-3") or "inf": strtod's hexadecimal ("0x10" would be
     * 16 s) is no way to write them. */
    size_t len = (size_t)cli_unblanked(text, &text);
    const char *w = text + (text[0] == '+');
    size_t wlen = len - (size_t)(w - text);
    bool word = (wlen == 3 && strncasecmp(w, "inf", 3) == 0) ||
                (wlen == 8 && strncasecmp(w, "infinity", 8) == 0);
    if (!word && strspn(text, "0123456789.eE+-") < len)
        return -1;
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    /* Beyond a double's range, a tiny value (1e-400) is 0 and a huge one (1e400) infinity,
     * as strtod gives them. */
    if (len == 0 || end != text + len || (errno && errno != ERANGE) || isnan(v) || v < 0)
        return -1;
    *out = v;
    return 0;
}

int cli_parse_timeout(const char *cmd, const char *text, double *out)
{
    /* Unlike `wait`, these commands have no use for "inf": leaving --timeout out waits. */
    if (cli_parse_seconds(text, out) < 0 || !isfinite(*out))
        return cli_usage_error(cmd, "--timeout wants seconds >= 0, not '%s'", text);
    return 0;
}

int cli_parse_type(const char *cmd, const char *opt, const char *text, shmap_dtype *dtype,
                   const char **fields)
{
    int rc;
    *fields = NULL;
    /* A record is its field list, with or without the prefix: no type name has a colon. */
    int prefixed = strncasecmp(text, "record:", 7) == 0;
    if (prefixed || strchr(text, ':')) {
        *dtype = SHMAP_RECORD;
        *fields = prefixed ? text + 7 : text;
        rc = shmap_record_parse(*fields, NULL);
    } else {
        rc = shmap_dtype_parse(text, dtype);
    }
    if (rc == 0)
        return 0;
    const char *detail = cli_lib_detail();
    /* The library's list of type names cannot tell of records, which only we parse here. */
    if (detail && strncmp(detail, "unknown type ", 13) == 0)
        return cli_usage_error(cmd, "%s%s%s, or a record field list such as x:f4,y:f4,flag:u1",
                               opt ? opt : "", opt ? ": " : "", detail);
    /* Said where such a type is taken: a raw array of numbers (cli_raw_check()). */
    if (detail && rc == SHMAP_EBYTEORDER)
        return cli_usage_error(cmd, "%s%s%s (only a raw array of numbers, --dtype with --shape, "
                                    "may be in the other byte order)",
                               opt ? opt : "", opt ? ": " : "", detail);
    if (detail)
        return cli_usage_error(cmd, "%s%s%s", opt ? opt : "", opt ? ": " : "", detail);
    return cli_usage_error(cmd, "%s%sinvalid type '%s': %s", opt ? opt : "", opt ? ": " : "",
                           text, shmap_strerror(rc));
}

/* ---------------------------------------------------------------------------------------- */
/* Raw attach */

int cli_raw_option(cli_raw *r, const char *opt, const char *value)
{
    if (strcmp(opt, "dtype") == 0)
        r->dtype_text = value;
    else if (strcmp(opt, "shape") == 0)
        r->shape_text = value;
    else if (strcmp(opt, "offset") == 0)
        r->offset_text = value;
    else if (strcmp(opt, "private") == 0)
        r->priv = 1;
    else
        return 0;
    return 1;
}

/* "512,512" or "512x512": decimal dimensions, each at least 1. 0, or -1 with a message. */
static int parse_shape(const char *text, cli_raw *r, char *err, size_t errsize)
{
    r->ndim = 0;
    const char *p = text;
    for (;;) {
        size_t len = strcspn(p, ",xX");
        char item[32];
        uint64_t d;
        snprintf(item, sizeof item, "%.*s", (int)(len < sizeof item ? len : sizeof item - 1), p);
        /* Digits only: 0x would collide with the x separator, and a sign means nothing. */
        if (len >= sizeof item || !cli_is_decimal(item) || cli_parse_u64(item, &d) < 0 ||
            d == 0) {
            snprintf(err, errsize, "invalid dimension '%.*s' (give D,D,... or DxD..., each a "
                                   "positive decimal integer)", (int)(len > 40 ? 40 : len), p);
            return -1;
        }
        if (r->ndim == SHMAP_MAX_DIMS) {
            snprintf(err, errsize, "more than %d dimensions", SHMAP_MAX_DIMS);
            return -1;
        }
        r->dims[r->ndim++] = d;
        if (p[len] == '\0')
            return 0;
        p += len + 1;
    }
}

int cli_raw_check(const char *cmd, cli_raw *r)
{
    r->raw = 0;
    if (r->dtype_text && !r->shape_text)
        return cli_usage_error(cmd, "--dtype needs --shape: give both to read the object as a "
                                    "raw array");
    if (r->shape_text && !r->dtype_text)
        return cli_usage_error(cmd, "--shape needs --dtype: give both to read the object as a "
                                    "raw array");
    if (r->offset_text && !r->dtype_text)
        return cli_usage_error(cmd, "--offset needs --dtype and --shape (a described segment "
                                    "knows where its data is)");
    if (!r->dtype_text)
        return 0;
    /* A raw array may be in the other byte order ('>f4' here, numpy's spelling): its
     * numbers are then read and written with their bytes reversed. Not records: their field
     * lists name no byte order. */
    r->swapped = 0;
    shmap_dtype other;
    if (strchr("<>!", r->dtype_text[0]) && !strchr(r->dtype_text, ':') &&
        shmap_dtype_parse(r->dtype_text, &other) == SHMAP_EBYTEORDER) {
        /* The same type in this machine's order, still read as numpy's code ('=i8' is an
         * i64, where a bare 'i8' would be shmap's i8): it parses, being one. */
        size_t n = strlen(r->dtype_text);
        char *native = malloc(n + 1);
        if (!native)
            return cli_fail(NULL, "out of memory");
        native[0] = '=';
        memcpy(native + 1, r->dtype_text + 1, n);
        int rc = shmap_dtype_parse(native, &r->dtype);
        free(native);
        if (rc < 0) {
            cli_parse_type(cmd, "--dtype", r->dtype_text, &r->dtype, &r->fields);
            return CLI_EXIT_USAGE;
        }
        r->fields = NULL;
        r->swapped = 1;
    } else if (cli_parse_type(cmd, "--dtype", r->dtype_text, &r->dtype, &r->fields) != 0) {
        return CLI_EXIT_USAGE;
    }
    char err[256];
    if (parse_shape(r->shape_text, r, err, sizeof err) < 0)
        return cli_usage_error(cmd, "--shape '%s': %s", r->shape_text, err);
    r->offset = 0;
    if (r->offset_text && cli_parse_u64(r->offset_text, &r->offset) < 0)
        return cli_usage_error(cmd, "--offset '%s': not a byte offset (a non-negative integer, "
                                    "decimal or 0x hex)", r->offset_text);
    /* What shmap_open_raw() would refuse whatever the object: an array whose bytes overflow,
     * an offset that misaligns the type (its size up to 8, a complex number its
     * component's; records are packed). */
    size_t elsize = 0;
    if (r->fields)
        shmap_record_parse(r->fields, &elsize); /* checked by cli_parse_type */
    else
        elsize = shmap_dtype_size(r->dtype);
    uint64_t bytes = elsize, end;
    for (unsigned int i = 0; i < r->ndim; i++)
        if (__builtin_mul_overflow(bytes, r->dims[i], &bytes))
            bytes = UINT64_MAX;
    if (bytes == UINT64_MAX || __builtin_add_overflow(bytes, r->offset, &end))
        return cli_usage_error(cmd, "--shape '%s' of %s at --offset %" PRIu64 ": more bytes "
                                    "than 64 bits count", r->shape_text, r->dtype_text,
                               r->offset);
    size_t comp = r->dtype == SHMAP_C64 || r->dtype == SHMAP_C128 ? elsize / 2 : elsize;
    size_t align = r->fields || r->any_offset ? 1 : comp < 8 ? comp : 8;
    if (align > 1 && r->offset % align != 0)
        return cli_usage_error(cmd, "--offset %" PRIu64 " misaligns %s elements (give a "
                                    "multiple of %zu)", r->offset, r->dtype_text, align);
    r->raw = 1;
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Formatting */

void cli_format_shape(char *buf, size_t size, unsigned int ndim, const uint64_t *dims)
{
    size_t used = 0;
    buf[0] = '\0';
    for (unsigned int i = 0; i < ndim && used < size; i++) {
        int n = snprintf(buf + used, size - used, "%s%" PRIu64, i ? "x" : "", dims[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

void cli_format_mode(char *buf, size_t size, unsigned int mode)
{
    snprintf(buf, size, "%04o", mode & 07777u);
}

void cli_format_time(char *buf, size_t size, int64_t ns)
{
    /* Floor division, so times before the Epoch keep their milliseconds positive. */
    int64_t sec = ns / 1000000000;
    int64_t rem = ns % 1000000000;
    if (rem < 0) {
        rem += 1000000000;
        sec--;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(buf, size, "?");
        return;
    }
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, size, "%s.%03dZ", date, (int)(rem / 1000000));
}

void cli_format_age(char *buf, size_t size, int64_t ns, int64_t now_ns)
{
    /* A creation time in the future (clocks set back) shows as 0s rather than negative. */
    long long s = now_ns > ns ? (long long)((now_ns - ns) / 1000000000) : 0;
    if (s < 60)
        snprintf(buf, size, "%llds", s);
    else if (s < 3600)
        snprintf(buf, size, "%lldm%02llds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, size, "%lldh%02lldm", s / 3600, s % 3600 / 60);
    else
        snprintf(buf, size, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
}

int64_t cli_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * The last user and group names looked up are remembered: `ls --json` asks for the owner and
 * group of every segment, mostly the same few, and each lookup reads /etc/passwd or
 * /etc/group anew (four system calls or more each: more than reading the segment). The
 * command lives for one command, so a remembered name does not go stale.
 */
struct id_name {
    int valid, found;
    unsigned long id;
    char name[256];
};

static int id_name_put(const struct id_name *m, char *buf, size_t size)
{
    snprintf(buf, size, "%s", m->name);
    return m->found;
}

/* Remember @p name (NULL: none, so the number) for @p id in the one-entry cache @p last. */
static void id_name_fill(struct id_name *last, unsigned long id, const char *name)
{
    last->valid = 1;
    last->id = id;
    last->found = name != NULL;
    if (name)
        snprintf(last->name, sizeof last->name, "%s", name);
    else
        snprintf(last->name, sizeof last->name, "%lu", id);
}

int cli_user_name(uid_t uid, char *buf, size_t size)
{
    static struct id_name last;
    if (!last.valid || last.id != (unsigned long)uid) {
        struct passwd *pw = getpwuid(uid);
        id_name_fill(&last, (unsigned long)uid, pw ? pw->pw_name : NULL);
    }
    return id_name_put(&last, buf, size);
}

int cli_group_name(gid_t gid, char *buf, size_t size)
{
    static struct id_name last;
    if (!last.valid || last.id != (unsigned long)gid) {
        struct group *gr = getgrgid(gid);
        id_name_fill(&last, (unsigned long)gid, gr ? gr->gr_name : NULL);
    }
    return id_name_put(&last, buf, size);
}

/* Whole numbers below 10^16 print in full (fixed_below_1e16()). */
#define FIXED_EXP_MAX 16

/*
 * The decimal digits[0..n) (d.ddd times 10^exp, n >= 1) as "%.*g" with precision @p prec
 * writes a decimal of that many digits: trailing zeros dropped, exponent form below 1e-4
 * and from 10^prec.
 */
static void format_g(char *buf, size_t size, int neg, const char *digits, int n, int exp,
                     int prec)
{
    while (n > 1 && digits[n - 1] == '0')
        n--;
    /* At most 17 digits, and a fixed form only for exponents -4 to prec - 1 (<= 16). */
    char t[64];
    size_t u = 0;
    if (neg)
        t[u++] = '-';
    if (exp < -4 || exp >= prec) {
        t[u++] = digits[0];
        if (n > 1) {
            t[u++] = '.';
            memcpy(t + u, digits + 1, (size_t)n - 1);
            u += (size_t)n - 1;
        }
        snprintf(t + u, sizeof t - u, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    } else {
        if (exp < 0) {
            t[u++] = '0';
            t[u++] = '.';
            for (int i = 0; i < -exp - 1; i++)
                t[u++] = '0';
        }
        for (int i = 0; i < n; i++) {
            if (exp >= 0 && i == exp + 1)
                t[u++] = '.';
            t[u++] = digits[i];
        }
        for (int i = n; exp >= 0 && i <= exp; i++)
            t[u++] = '0';
        t[u] = '\0';
    }
    snprintf(buf, size, "%s", t);
}

/*
 * Try the decimals one unit in the last of @p prec digits above and below the one nearest
 * to @p v: at a power of two the gaps to the neighbouring values differ, and the nearest
 * decimal can fall outside the range that reads back while one of these falls inside.
 */
static int neighbours_read_back(char *buf, size_t size, double v, int prec,
                                int (*reads_back)(const char *text, const void *arg),
                                const void *arg)
{
    char e[64];
    snprintf(e, sizeof e, "%.*e", prec - 1, v);
    int neg = e[0] == '-';
    const char *p = e + neg, *mark = strchr(p, 'e');
    if (!mark)
        return 0;
    char digits[40];
    int n = 0;
    for (; p < mark && n < (int)sizeof digits - 1; p++)
        if (*p != '.')
            digits[n++] = *p;
    int exp = atoi(mark + 1);
    for (int step = 1; step >= -1; step -= 2) {
        char d[40];
        memcpy(d, digits, (size_t)n);
        int k = n - 1, m = n, x = exp;
        while (k >= 0 && d[k] == (step > 0 ? '9' : '0'))
            d[k--] = step > 0 ? '0' : '9';
        if (k < 0 && step > 0) { /* 9.99 + 1 unit is 10.0: 1.00 at the next power of ten */
            d[0] = '1';
            x++;
        } else if (k < 0) {
            continue; /* below 0.00...: no neighbour of this many digits */
        } else {
            d[k] = (char)(d[k] + step);
        }
        if (d[0] == '0') { /* 1.00 - 1 unit is 0.999: 9.99 at the power of ten below */
            memmove(d, d + 1, (size_t)--m);
            x--;
            if (m == 0)
                continue;
        }
        format_g(buf, size, neg, d, m, x, prec);
        if (reads_back(buf, arg))
            return 1;
    }
    return 0;
}

/*
 * "%g" writes a whole number of more digits than its precision in exponent form
 * (16777220 with 7 digits is 1.677722e+07), so a column could mix the forms. Such a number
 * below 1e16 is written out in full instead, as Python and numpy print it.
 */
static void fixed_below_1e16(char *buf, size_t size)
{
    const char *mark = strchr(buf, 'e');
    if (!mark)
        return;
    int exp = atoi(mark + 1);
    if (exp < 0 || exp >= FIXED_EXP_MAX)
        return;
    int neg = buf[0] == '-';
    char digits[40];
    int n = 0;
    for (const char *p = buf + neg; p < mark && n < (int)sizeof digits; p++)
        if (*p != '.')
            digits[n++] = *p;
    format_g(buf, size, neg, digits, n, exp, FIXED_EXP_MAX);
}

void cli_format_shortest(char *buf, size_t size, double v, int lo, int hi,
                         int (*reads_back)(const char *text, const void *arg), const void *arg)
{
    /* Elsewhere the values that read back lie evenly around v, and a decimal farther than
     * the nearest one cannot be among them when it is not: only a power of two needs the
     * neighbours (which would double what printing costs if every value tried them). */
    int exp;
    int pow2 = fabs(frexp(v, &exp)) == 0.5;
    for (int prec = lo; prec <= hi; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (reads_back(buf, arg) || prec == hi ||
            (pow2 && neighbours_read_back(buf, size, v, prec, reads_back, arg)))
            break;
    }
    fixed_below_1e16(buf, size);
}

static int double_reads_back(const char *text, const void *arg)
{
    return strtod(text, NULL) == *(const double *)arg;
}

void cli_format_double(char *buf, size_t size, double v)
{
    if (isnan(v)) {
        snprintf(buf, size, "nan");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, size, v < 0 ? "-inf" : "inf");
        return;
    }
    /* 17 significant digits always read back exactly; fewer usually do, and read better.
     * Any text of up to DBL_DIG (15) digits reads back from a normal double printed with 15,
     * so the search starts there; a subnormal has fewer digits (5e-324 has one) and starts
     * at 1. */
    cli_format_shortest(buf, size, v, fpclassify(v) == FP_SUBNORMAL ? 1 : DBL_DIG, 17,
                        double_reads_back, &v);
}

/* ---------------------------------------------------------------------------------------- */
/* Segments */

int cli_store_misuse(const char *name, int create, unsigned int create_flags,
                     unsigned int open_flags)
{
    shmap_store store;
    if (shmap_name_check(name, &store) != 0)
        return 0;
    if (store == SHMAP_STORE_SYSV)
        return (create && strncmp(name, "sysv://id=", 10) == 0) ||
               (open_flags & SHMAP_PRIVATE) != 0;
    return store == SHMAP_STORE_POSIX && create && (create_flags & SHMAP_CREATE_HUGEPAGES);
}

int cli_open(const char *cmd, const char *name, unsigned int flags, const cli_raw *raw,
             shmap_seg **seg, shmap_info *info, cli_layout *layout)
{
    int rc;
    /* Copy-on-write replaces read-write: the object is then opened read-only. */
    if (raw && raw->priv)
        flags = (flags & ~(unsigned int)SHMAP_RDWR) | SHMAP_PRIVATE;
    if (raw && raw->raw) {
        shmap_raw_opts o = SHMAP_RAW_OPTS_INIT;
        o.flags = flags;
        o.offset = raw->offset;
        o.record_fields = raw->fields;
        rc = shmap_open_raw(seg, name, raw->dtype, raw->ndim, raw->dims, &o);
    } else {
        rc = shmap_open(seg, name, flags);
    }
    if (rc < 0 && cli_store_misuse(name, 0, 0, flags))
        return cli_usage_lib(cmd, name, rc);
    if (rc < 0)
        return cli_fail_lib(name, rc);
    rc = shmap_info_get(*seg, info);
    if (rc < 0) {
        cli_fail_lib(name, rc);
        shmap_close(*seg);
        return CLI_EXIT_FAIL;
    }
    /* A raw mapping has no header to keep a record's field list in: it is ours. */
    if (raw && raw->raw && raw->fields && !info->record_fields[0])
        snprintf(info->record_fields, sizeof info->record_fields, "%s", raw->fields);
    char err[256];
    if (cli_layout_init(layout, info, err, sizeof err) < 0) {
        cli_fail(name, "%s", err);
        shmap_close(*seg);
        return CLI_EXIT_FAIL;
    }
    layout->swapped = raw && raw->raw && raw->swapped;
    return 0;
}

unsigned cli_dead_holds(const shmap_attacher *att, int n)
{
    unsigned holds = 0;
    for (int i = 0; i < n; i++)
        if (!att[i].alive && !att[i].other_pidns)
            holds += att[i].shared;
    return holds;
}

void cli_count_processes(const shmap_attacher *att, int n, unsigned *alive, unsigned *dead)
{
    *alive = *dead = 0;
    for (int i = 0; i < n; i++) {
        bool again = false;
        for (int j = 0; j < i && !again; j++)
            again = att[j].pid == att[i].pid && att[j].start == att[i].start;
        if (!again)
            ++*(att[i].alive ? alive : dead);
    }
}
