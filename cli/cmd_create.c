/*
 * shmap create NAME TYPE DIM [DIM...] [--mode MODE] [--transient] [--prefault] [--hugepages]
 *              [--replace|--exist-ok] [--keyword KEY=VALUE]...
 *
 * The command keeps what it creates (SHMAP_CREATE_KEEP): a segment that vanished when the
 * command exits would be of no use, which is also why it refuses memfd names. Every
 * argument is checked before anything is created, so bad usage never leaves a segment
 * behind.
 *
 * The options that say how a segment is made (CLI_CREATE_OPTS) are read here for `import`
 * too, which creates its segment from a file.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

static const cli_opt create_opts[] = {
    CLI_CREATE_OPTS, {"replace", 0}, {"exist-ok", 0}, {"ring", 0}, {NULL, 0},
};

/* The default keyword area of shmap_create_opts (keyword_capacity 0). */
#define DEFAULT_KEYWORD_CAPACITY SHMAP_KEYWORD_CAPACITY_DEFAULT

typedef struct create_args {
    const char *name;
    shmap_dtype dtype;
    unsigned int ndim;
    uint64_t dims[SHMAP_MAX_DIMS];
    cli_create c;
} create_args;

/* Octal permission bits, at most 0777: set-id and sticky bits mean nothing here. Leading
 * zeros are as many as chmod(1) takes. */
static int parse_mode(const char *text, unsigned int *mode)
{
    if (!*text || strspn(text, "01234567") != strlen(text))
        return -1;
    text += strspn(text, "0");
    if (strlen(text) > 3)
        return -1;
    unsigned long v = strtoul(text, NULL, 8);
    if (v > 0777)
        return -1;
    *mode = (unsigned int)v;
    return 0;
}

int cli_create_init(cli_create *c, int argc)
{
    memset(c, 0, sizeof *c);
    shmap_create_opts defaults = SHMAP_CREATE_OPTS_INIT;
    c->opts = defaults;
    c->opts.flags |= SHMAP_CREATE_KEEP;
    c->kw = calloc(argc > 0 ? (size_t)argc : 1, sizeof *c->kw);
    c->kw_keep = calloc(argc > 0 ? (size_t)argc : 1, 1);
    return c->kw && c->kw_keep ? 0 : -1;
}

void cli_create_free(cli_create *c)
{
    free(c->kw);
    free(c->kw_keep);
    c->kw = NULL;
    c->kw_keep = NULL;
    c->nkw = 0;
}

int cli_create_option(const char *cmd, cli_create *c, const char *opt, const char *value)
{
    if (strcmp(opt, "mode") == 0) {
        if (parse_mode(value, &c->opts.mode) < 0) {
            cli_usage_error(cmd, "invalid mode '%s' (octal, 1 to 0777)", value);
            return -1;
        }
        /* The library takes a mode of 0 for its default, 0600: what was asked would not be
         * what was made. */
        if (c->opts.mode == 0) {
            cli_usage_error(cmd, "a segment cannot be created with --mode 0 (it would get 0600): "
                                 "create it, then `shmap chmod 0 NAME`");
            return -1;
        }
        c->mode_given = 1;
    } else if (strcmp(opt, "transient") == 0) {
        c->opts.flags |= SHMAP_CREATE_TRANSIENT;
    } else if (strcmp(opt, "prefault") == 0) {
        c->opts.flags |= SHMAP_CREATE_PREFAULT;
    } else if (strcmp(opt, "hugepages") == 0) {
        c->opts.flags |= SHMAP_CREATE_HUGEPAGES;
    } else if (strcmp(opt, "keyword") == 0) {
        int rc = shmap_keyword_parse(value, &c->kw[c->nkw]);
        if (rc < 0) {
            /* The detail starts "keyword: " where a segment's name would go. */
            const char *msg = cli_lib_message(rc);
            if (strncmp(msg, "keyword: ", 9) == 0)
                msg += 9;
            cli_usage_error(cmd, "--keyword '%s': %s", value, msg);
            return -1;
        }
        c->kw_keep[c->nkw] = (unsigned char)!cli_keyword_gives_comment(value);
        c->nkw++;
    } else {
        return 0;
    }
    return 1;
}

/*
 * The library takes the umask off a mode, as open(2) does. A mode given on the command line
 * is meant as it is written (`--mode 0660` to share with a group), as `mkdir -m` and
 * `install -m` mean theirs: the umask is set aside for the creation alone. It is made with
 * that mode from the start, never briefly narrower or wider under its name. The command has
 * one thread: nothing else is created meanwhile.
 */
int cli_create_segment(const cli_create *c, shmap_seg **seg, const char *name,
                       shmap_dtype dtype, unsigned int ndim, const uint64_t *dims,
                       const shmap_create_opts *opts)
{
    mode_t mask = c->mode_given ? umask(0) : 0;
    int rc = shmap_create(seg, name, dtype, ndim, dims, opts);
    if (c->mode_given)
        umask(mask);
    return rc;
}

/* Options; returns 0 to go on, or 1 to stop with the exit status in a->status. */
static int parse_options(int argc, char **argv, create_args *c, cli_args *a)
{
    int opt, replace = 0, exist_ok = 0;
    cli_args_init(a, "create", create_opts, argc, argv);
    if (cli_create_init(&c->c, argc) < 0) {
        a->status = cli_fail(cli_subject(), "out of memory");
        return 1;
    }
    while ((opt = cli_args_next(a)) >= 0) {
        const char *o = create_opts[opt].name;
        int taken = cli_create_option("create", &c->c, o, a->value);
        if (taken < 0) {
            a->status = CLI_EXIT_USAGE;
            return 1;
        }
        if (taken)
            continue;
        if (strcmp(o, "replace") == 0) {
            replace = 1;
            c->c.opts.flags |= SHMAP_CREATE_REPLACE;
        } else if (strcmp(o, "ring") == 0) {
            c->c.opts.flags |= SHMAP_CREATE_RING;
        } else {
            exist_ok = 1;
            c->c.opts.flags |= SHMAP_CREATE_OPEN;
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
        cli_usage_error_on("create", c->name, "a memfd segment would vanish when this "
                           "command exits; name a POSIX, System V or file segment");
        return -1;
    }
    if (cli_check_names("create", a.argv, 1) != 0)
        return -1;
    if (cli_parse_type("create", NULL, a.argv[1], &c->dtype, &c->c.opts.record_fields) != 0)
        return -1;
    c->ndim = (unsigned int)(a.npos - 2);
    for (unsigned int i = 0; i < c->ndim; i++) {
        const char *text = a.argv[2 + i];
        if (cli_parse_u64(text, &c->dims[i]) < 0 || c->dims[i] == 0) {
            cli_usage_error("create", "invalid dimension '%s' (a positive integer)", text);
            return -1;
        }
    }
    c->c.opts.keyword_capacity = cli_keyword_capacity((unsigned int)c->c.nkw);
    c->c.opts.keywords = c->c.kw;
    c->c.opts.nkeywords = (unsigned int)c->c.nkw;
    return 0;
}

unsigned int cli_keyword_capacity(unsigned int nkw)
{
    if (nkw <= DEFAULT_KEYWORD_CAPACITY)
        return 0;
    nkw += DEFAULT_KEYWORD_CAPACITY;
    return nkw < SHMAP_KEYWORD_CAPACITY_MAX ? nkw : SHMAP_KEYWORD_CAPACITY_MAX;
}

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    interrupted = sig;
}

/*
 * A new segment has its keywords from the start; one that --exist-ok found gets them set
 * on it (all or none), as Python's exist_ok sets them: the command states the keywords the
 * segment is to have. Its mode and flags, which only a creation gives, stay as they are.
 */
static int set_keywords(const create_args *c, shmap_seg *seg)
{
    return c->c.nkw ? cli_keywords_set_all(c->name, seg, c->c.kw, c->c.kw_keep, c->c.nkw, 0)
                    : CLI_EXIT_OK;
}

/*
 * Design note. Reserving the memory of a large segment takes seconds (posix_fallocate
 * takes tens of GB page by page), and a signal whose default action ended the command in
 * the middle would leave the hidden object being made (.shmap-tmp-PID-N-NAME in /dev/shm,
 * or beside a file: segment), holding what was reserved so far, until `shmap gc`. So INT,
 * TERM, HUP and QUIT are caught, as import catches them, and the reservation returns:
 * with EINTR where the kernel stops it for a caught signal (the library then removes what
 * it made), or whole where it stops only for a fatal one (tmpfs on Linux 6). The segment
 * is made hidden (SHMAP_CREATE_HIDDEN) and named by shmap_create_finish() only if no
 * signal came, with the signals held off: otherwise the close takes the unfinished segment
 * away. Either the whole segment is there or nothing is, and the command then dies of the
 * signal it got. Hidden creation excludes --exist-ok (an existing segment is opened, not
 * made) and replacing a System V segment (whose key is taken at creation): those are made
 * under their name at once, and a signal that comes once they are whole ends the command
 * after them.
 */
static int create(const create_args *c)
{
    shmap_create_opts opts = c->c.opts;
    shmap_store store = SHMAP_STORE_POSIX;
    shmap_name_check(c->name, &store);
    int hidden = !(opts.flags & SHMAP_CREATE_OPEN) &&
                 !(store == SHMAP_STORE_SYSV && (opts.flags & SHMAP_CREATE_REPLACE));
    if (hidden)
        opts.flags |= SHMAP_CREATE_HIDDEN;
    cli_catch_end_signals(on_signal, 0);
    shmap_seg *seg;
    int rc = cli_create_segment(&c->c, &seg, c->name, c->dtype, c->ndim, c->dims, &opts);
    /* From here to the close, signals wait: one that came is seen once, below. */
    cli_block_end_signals(1);
    int status = CLI_EXIT_OK;
    if (rc < 0 && interrupted) {
        status = cli_fail(c->name, "interrupted");
    } else if (rc == SHMAP_ESIZE || (rc < 0 && cli_store_misuse(c->name, 1, opts.flags, 0))) {
        /* A shape too large for any object (its size overflows), or a store that cannot
         * do what the options ask, is refused before anything is made: the arguments are
         * wrong, not the system. */
        status = cli_usage_lib("create", c->name, rc);
    } else if (rc < 0) {
        status = cli_fail_lib(c->name, rc);
    } else {
        if (hidden && interrupted)
            status = cli_fail(c->name, "interrupted");
        else if (hidden && (rc = shmap_create_finish(seg)) < 0)
            status = cli_fail_lib(c->name, rc);
        else if (!shmap_created(seg))
            status = set_keywords(c, seg);
        /* Not finished, a hidden segment goes here. */
        rc = shmap_close(seg);
        if (rc < 0 && status == CLI_EXIT_OK)
            status = cli_fail_lib(c->name, rc);
    }
    /* End as the signal would have, now that nothing is left half made. */
    cli_block_end_signals(0);
    if (interrupted) {
        signal(interrupted, SIG_DFL);
        raise(interrupted);
    }
    return status;
}

int cmd_create(int argc, char **argv)
{
    create_args c;
    memset(&c, 0, sizeof c);
    int status;
    if (parse_args(argc, argv, &c, &status) == 0)
        status = create(&c);
    cli_create_free(&c.c);
    return status;
}
