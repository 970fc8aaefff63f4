/*
 * shmap create NAME TYPE DIM [DIM...] [--mode MODE] [--transient] [--prefault] [--hugepages]
 *              [--replace|--exist-ok] [--keyword KEY=VALUE]...
 *
 * The command keeps what it creates (SHMAP_CREATE_KEEP): a segment that vanished when the
 * command exits would be of no use, which is also why it refuses memfd names. Every
 * argument is checked before anything is created, so bad usage never leaves a segment
 * behind.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const cli_opt create_opts[] = {
    {"mode", 1}, {"transient", 0}, {"prefault", 0}, {"replace", 0},
    {"exist-ok", 0}, {"keyword", 1}, {"hugepages", 0}, {NULL, 0},
};
enum {
    OPT_MODE, OPT_TRANSIENT, OPT_PREFAULT, OPT_REPLACE, OPT_EXIST_OK, OPT_KEYWORD,
    OPT_HUGEPAGES
};

/* The default keyword area of shmap_create_opts (keyword_capacity 0). */
#define DEFAULT_KEYWORD_CAPACITY 32

typedef struct create_args {
    const char *name;
    shmap_dtype dtype;
    unsigned int ndim;
    uint64_t dims[SHMAP_MAX_DIMS];
    shmap_create_opts opts;
    shmap_keyword *kw; /* one slot per argument is always enough */
    int nkw;
} create_args;

/* Octal permission bits, at most 0777: set-id and sticky bits mean nothing here. */
static int parse_mode(const char *text, unsigned int *mode)
{
    if (!*text || strlen(text) > 4 || strspn(text, "01234567") != strlen(text))
        return -1;
    unsigned long v = strtoul(text, NULL, 8);
    if (v > 0777)
        return -1;
    *mode = (unsigned int)v;
    return 0;
}

/* Options; returns 0 to go on, or 1 to stop with the exit status in a->status. */
static int parse_options(int argc, char **argv, create_args *c, cli_args *a)
{
    int opt, replace = 0, exist_ok = 0;
    cli_args_init(a, "create", create_opts, argc, argv);
    while ((opt = cli_args_next(a)) >= 0) {
        switch (opt) {
        case OPT_MODE:
            if (parse_mode(a->value, &c->opts.mode) < 0) {
                a->status = cli_usage_error("create", "invalid mode '%s' (octal, 0 to 0777)",
                                            a->value);
                return 1;
            }
            break;
        case OPT_TRANSIENT:
            c->opts.flags |= SHMAP_CREATE_TRANSIENT;
            break;
        case OPT_PREFAULT:
            c->opts.flags |= SHMAP_CREATE_PREFAULT;
            break;
        case OPT_HUGEPAGES:
            c->opts.flags |= SHMAP_CREATE_HUGEPAGES;
            break;
        case OPT_REPLACE:
            replace = 1;
            c->opts.flags |= SHMAP_CREATE_REPLACE;
            break;
        case OPT_EXIST_OK:
            exist_ok = 1;
            c->opts.flags |= SHMAP_CREATE_OPEN;
            break;
        case OPT_KEYWORD: {
            int rc = shmap_keyword_parse(a->value, &c->kw[c->nkw]);
            if (rc < 0) {
                /* The detail starts "keyword: " where a segment's name would go. */
                const char *msg = cli_lib_message(rc);
                if (strncmp(msg, "keyword: ", 9) == 0)
                    msg += 9;
                a->status = cli_usage_error("create", "--keyword '%s': %s", a->value, msg);
                return 1;
            }
            c->nkw++;
            break;
        }
        }
    }
    if (opt == CLI_ARGS_EXIT)
        return 1;
    if (replace && exist_ok) {
        a->status = cli_usage_error("create", "--replace and --exist-ok exclude each other");
        return 1;
    }
    return 0;
}

/* All arguments; returns 0 to go on, or -1 to stop with the exit status in *status. */
static int parse_args(int argc, char **argv, create_args *c, int *status)
{
    cli_args a;
    if (parse_options(argc, argv, c, &a) != 0) {
        *status = a.status;
        return -1;
    }
    static const char *const missing[] = {"NAME", "TYPE", "DIM"};
    *status = CLI_EXIT_USAGE;
    if (a.npos < 3) {
        cli_usage_error("create", "missing %s", missing[a.npos]);
        return -1;
    }
    if (a.npos - 2 > SHMAP_MAX_DIMS) {
        cli_usage_error("create", "%d dimensions given, at most %d", a.npos - 2,
                        SHMAP_MAX_DIMS);
        return -1;
    }
    c->name = a.argv[0];
    shmap_store store;
    if (shmap_name_check(c->name, &store) == 0 && store == SHMAP_STORE_MEMFD) {
        cli_usage_error("create", "'%s': a memfd segment would vanish when this command "
                                  "exits; name a POSIX, System V or file segment", c->name);
        return -1;
    }
    if (cli_check_names("create", a.argv, 1) != 0)
        return -1;
    if (cli_parse_type("create", NULL, a.argv[1], &c->dtype, &c->opts.record_fields) != 0)
        return -1;
    c->ndim = (unsigned int)(a.npos - 2);
    for (unsigned int i = 0; i < c->ndim; i++) {
        const char *text = a.argv[2 + i];
        if (cli_parse_u64(text, &c->dims[i]) < 0 || c->dims[i] == 0) {
            cli_usage_error("create", "invalid dimension '%s' (a positive integer)", text);
            return -1;
        }
    }
    /* Room for every keyword given, and as many again as the default for later. */
    if (c->nkw > DEFAULT_KEYWORD_CAPACITY)
        c->opts.keyword_capacity = (unsigned int)c->nkw + DEFAULT_KEYWORD_CAPACITY;
    return 0;
}

static int create(const create_args *c)
{
    shmap_seg *seg;
    int rc = shmap_create(&seg, c->name, c->dtype, c->ndim, c->dims, &c->opts);
    /* A shape too large for any object (its size overflows) is refused before anything is
     * made: the arguments are wrong, not the system. */
    if (rc == SHMAP_ESIZE)
        return cli_usage_lib("create", c->name, rc);
    if (rc < 0)
        return cli_fail_lib(c->name, rc);

    /* An existing segment (--exist-ok) is left as it is, as `mkdir -p` leaves a directory:
     * the library tells which of the two it did. */
    int status = CLI_EXIT_OK;
    if (shmap_created(seg)) {
        for (int i = 0; i < c->nkw && status == CLI_EXIT_OK; i++) {
            rc = shmap_keyword_set(seg, &c->kw[i]);
            if (rc < 0)
                status = cli_fail_lib(c->name, rc);
        }
        /* A segment without the keywords asked for is a failed create: take it away. */
        if (status != CLI_EXIT_OK)
            shmap_set_destroy(seg, 1);
    }
    rc = shmap_close(seg);
    if (rc < 0 && status == CLI_EXIT_OK)
        status = cli_fail_lib(c->name, rc);
    return status;
}

int cmd_create(int argc, char **argv)
{
    create_args c;
    memset(&c, 0, sizeof c);
    shmap_create_opts defaults = SHMAP_CREATE_OPTS_INIT;
    c.opts = defaults;
    c.opts.flags |= SHMAP_CREATE_KEEP;
    c.kw = calloc((size_t)argc, sizeof *c.kw);
    if (!c.kw)
        return cli_fail(NULL, "out of memory");

    int status;
    if (parse_args(argc, argv, &c, &status) == 0)
        status = create(&c);
    free(c.kw);
    return status;
}
