/*
 * cli.h: what the shmap command's files share. The command is a client of the library like
 * any other: it sees include/shmap.h and libc, nothing of src/.
 *
 * Conventions every command follows:
 *   - cmd_NAME(argc, argv) gets argv[0] == "NAME" and returns the exit status:
 *     0 success, 1 failure, 2 bad usage (CLI_EXIT_*).
 *   - Every error is one line on stderr, "shmap: NAME: message" (cli_fail, cli_fail_lib),
 *     NAME the segment (or file) the command line names, whatever the error: a usage error
 *     met while scanning options before the NAME names it too (cli_args_subject()). Only a
 *     command line with no NAME (ls, gc, none given yet) or with several, for an error of
 *     none of them, gives "shmap: message", which then names what was wrong (the option,
 *     the argument). A usage error's line ends "(see shmap help CMD)" (cli_usage_error).
 *     A warning is one line too, "shmap: NAME: warning: message" (cli_warn).
 *   - Bad usage (2) is an argument that is malformed, or that cannot fit the segment it is
 *     for whatever the segment's state: an invalid NAME, a number that does not parse, the
 *     wrong number of indices or slice items, an index outside the shape, a value the type
 *     cannot hold, an offset that misaligns the type. It is found before anything is
 *     changed: a command with several NAMEs checks them all first and acts on none if one
 *     is bad.
 *     Failure (1) is what the system decides: no such segment, permission, a timeout, a
 *     damaged or foreign object, an object too small for a raw array, a store that cannot
 *     do what is asked.
 */
#ifndef SHMAP_CLI_H
#define SHMAP_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "shmap.h"

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2

#if defined(__GNUC__)
#define CLI_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define CLI_PRINTF(fmt, args)
#endif

/* ---------------------------------------------------------------------------------------- */
/* Commands (main.c holds the table) */

typedef struct cli_command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *usage;   /* the arguments, printed after "shmap NAME " */
    const char *summary; /* one line: what the command does */
    const char *details; /* notes on arguments and options for `shmap help NAME`, or NULL */
} cli_command;

/* The table entry of a command, or NULL. */
const cli_command *cli_command_find(const char *name);

/* Print a command's usage line, summary and details (`shmap help NAME`). */
void cli_command_help(FILE *out, const cli_command *cmd);

int cmd_create(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_chmod(int argc, char **argv);
int cmd_chown(int argc, char **argv);
int cmd_cat(int argc, char **argv);
int cmd_fill(int argc, char **argv);
int cmd_set(int argc, char **argv);
int cmd_lock(int argc, char **argv);
int cmd_gc(int argc, char **argv);
int cmd_wait(int argc, char **argv);
int cmd_watch(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_keyword(int argc, char **argv);

/* ---------------------------------------------------------------------------------------- */
/* Errors (util.c) */

/* "shmap: NAME: message"; returns CLI_EXIT_FAIL. */
int cli_fail(const char *name, const char *fmt, ...) CLI_PRINTF(2, 3);

/* "shmap: NAME: warning: message", and going on. */
void cli_warn(const char *name, const char *fmt, ...) CLI_PRINTF(2, 3);

/*
 * Report a failed library call on @p name: the library's detail message when it has a fresh
 * one, else shmap_strerror(rc), arranged so the name appears once. Returns CLI_EXIT_FAIL.
 */
int cli_fail_lib(const char *name, int rc);

/* @p text into @p out (@p size bytes) with the last @p from in it made @p to: 1, or 0 (and
 * @p out untouched) when it holds no @p from or the result would not fit. The last: the
 * library's own words come after the name it quotes, which may hold the same words. */
int cli_replace_last(char *out, size_t size, const char *text, const char *from,
                     const char *to);

/* cli_fail_lib() with the detail given (a library detail the command has added to, which
 * names the segment as the library does). */
int cli_fail_detail(const char *name, const char *detail);

/*
 * The library's detail message for the failure just seen, or NULL when it has none newer
 * than the last one reported (the library never clears it). Marks it reported.
 */
const char *cli_lib_detail(void);

/* cli_lib_detail(), or else shmap_strerror(rc): for failures that concern no segment. */
const char *cli_lib_message(int rc);

/* ---------------------------------------------------------------------------------------- */
/* Signals (util.c) */

/*
 * The signals by which a user stops a command: INT, TERM, HUP and QUIT. A command that must
 * tidy up before it ends (give back a claim, remove what it half made) catches them with
 * cli_catch_end_signals(): those not ignored get @p handler, without SA_RESTART, so a
 * blocking call returns; one ignored (HUP under nohup) stays ignored. @p also (0: none) is
 * caught too where not ignored (SIGPIPE, for a writer). cli_block_end_signals() holds them
 * off (1) across a step that must finish, and lets them in again (0).
 */
void cli_catch_end_signals(void (*handler)(int), int also);
void cli_block_end_signals(int block);
/* Give the end signals their default action again (those ignored stay ignored). */
void cli_default_end_signals(void);

/*
 * A command that reads or writes a segment's data under its lock (snapshot.c), or waits to
 * delete one (rm), notes an end signal that comes meanwhile, stops waiting, gives back what
 * it holds and closes the segment: no dead attach slot, hold or claim is left to be found.
 * It then returns, and main() ends the process by that signal here, as if it had not been
 * caught.
 *
 * From cli_hold_end_signals(1) an end signal is noted (cli_end_signal() says which), and
 * ends the library's waits (-EINTR), instead of ending the process; cli_hold_end_signals(0)
 * ends the waits' part and lets in one held off meanwhile, which is noted too. The signals
 * keep being noted until the command has closed the segment: cli_end_signals_after_close().
 */
void cli_hold_end_signals(int hold);
int cli_end_signal(void);
void cli_end_if_signalled(void);
/* Once the command has closed the segment: end by the signal noted, if one was, else give
 * the end signals their default action again (a long print or write is stopped by them). */
void cli_end_signals_after_close(void);

/* Write all @p n bytes, in pieces a write(2) takes, again after EINTR. 0, or -1 (errno). */
int cli_write_all(int fd, const void *buf, size_t n);

/*
 * Has writing to standard output failed (a full disk, a closed pipe)? 0, or the errno of
 * the first failure seen (-1 if unknown). A command that prints much asks after each line
 * and stops; main() asks once the output is flushed, and says why on the error line.
 */
int cli_stdout_failed(void);

/* "shmap: NAME: message (see shmap help CMD)" on stderr, NAME the command line's segment
 * (cli_subject()), or "shmap: message (see shmap help CMD)" when it has none; @p cmd NULL
 * (no command, or an unknown one) points to "shmap --help". Returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) CLI_PRINTF(2, 3);

/* The same naming segment @p name, for an argument that does not fit it (an index outside
 * its shape, a value its type cannot hold), or one NAME of several. */
int cli_usage_error_on(const char *cmd, const char *name, const char *fmt, ...)
    CLI_PRINTF(3, 4);

/* A library call refused an argument (SHMAP_EBADNAME, SHMAP_ESIZE...): its error line as
 * cli_fail_lib() prints it, ended as a usage error's. Returns CLI_EXIT_USAGE. */
int cli_usage_lib(const char *cmd, const char *name, int rc);

/*
 * Bad usage is found before anything is done: a command checks its NAMEs (all of them,
 * before acting on any) with this. A malformed name (SHMAP_EBADNAME: empty, a '/' inside,
 * an unknown store prefix, a bad System V key...) gets its usage error line, naming it, and
 * so does a memfd: name, which no command can reach: one line per bad name. 0, or
 * CLI_EXIT_USAGE. A name of a store that cannot do what is asked (--private on System V)
 * is found when it is used (cli_store_misuse()).
 */
int cli_check_names(const char *cmd, char **names, int n);

/* ---------------------------------------------------------------------------------------- */
/* Arguments (util.c) */

/* Options are long (--name, --name=value, --name value); only -h is short. */
typedef struct cli_opt {
    const char *name; /* without the dashes; NULL ends a table */
    int has_value;
} cli_opt;

#define CLI_ARGS_END (-1)
#define CLI_ARGS_EXIT (-2)

/*
 * An argument scanner that lets options and positional arguments mix in any order, as SPEC's
 * synopses put options after the names. Positional arguments are gathered at the front of
 * argv (argv[0..npos)), overwriting what was already scanned, so no allocation is needed.
 * Arguments such as "-1", "-2.5", "-inf" or "-3:" are values, not options; "--" ends options.
 */
typedef struct cli_args {
    const char *cmd;       /* for messages */
    const cli_opt *opts;
    int argc;
    char **argv;
    int next;              /* next argv index to scan */
    int npos;              /* positional arguments gathered */
    int options_done;      /* "--" seen */
    const char *value;     /* the value of the option just returned */
    int status;            /* exit status when CLI_ARGS_EXIT is returned */
} cli_args;

void cli_args_init(cli_args *a, const char *cmd, const cli_opt *opts, int argc, char **argv);

/*
 * The index in opts of the next option, CLI_ARGS_END when all arguments are scanned, or
 * CLI_ARGS_EXIT after --help (status 0, help printed) or a usage error (status 2, printed).
 */
int cli_args_next(cli_args *a);

/*
 * The segment the command line is about, which every usage error names from then on. It
 * is the first operand unless the command says, before it scans, which operand is its
 * NAME (@p index: 0 is the first; -1: it has none), and with @p all that every operand
 * from there on is one (rm's NAME...). The arguments are looked over as the scanner will
 * take them, so a NAME after a bad option is found too. Several NAMEs give none: an error
 * of an option or of MODE is none's in particular, and one of a NAME names it
 * (cli_usage_error_on()). cli_subject() gives it, or NULL.
 */
void cli_args_subject(const cli_args *a, int index, int all);
const char *cli_subject(void);

/*
 * TYPE as `create` and `--dtype` take it: a type spelling, or record:FIELDS (then *fields
 * points into @p text, else it is set to NULL). 0, or CLI_EXIT_USAGE after a usage error of
 * @p cmd naming the fault (after "@p opt: " when @p opt is not NULL).
 */
int cli_parse_type(const char *cmd, const char *opt, const char *text, shmap_dtype *dtype,
                   const char **fields);

/* @p s past its leading blanks (isspace). */
const char *cli_skip_blanks(const char *s);

/* Is @p text decimal digits alone, blanks around them aside? */
int cli_is_decimal(const char *text);

/* @p text without the blanks around it: its start in *@p start, its length returned. */
int cli_unblanked(const char *text, const char **start);

/* Seconds in an argument: a non-negative number, inf included, blanks around it let be.
 * 0 or -1. */
int cli_parse_seconds(const char *text, double *out);

/* --timeout of `lock` and `rm`: finite seconds. 0, or CLI_EXIT_USAGE after a usage error. */
int cli_parse_timeout(const char *cmd, const char *text, double *out);

/* Numbers in arguments: whole text, decimal (or 0x hex), no overflow. 0 or -1. Blanks
 * around a number are let be, as in values: "$(wc -l < f)" may hold some. */
int cli_parse_u64(const char *text, uint64_t *out);
int cli_parse_i64(const char *text, int64_t *out);

/* ---------------------------------------------------------------------------------------- */
/* Formatting (util.c) */

/* "512x512" */
void cli_format_shape(char *buf, size_t size, unsigned int ndim, const uint64_t *dims);
/* "0600" */
void cli_format_mode(char *buf, size_t size, unsigned int mode);
/* "2026-11-23T16:30:00.123Z" */
void cli_format_time(char *buf, size_t size, int64_t ns);
/* "3m12s": how long ago @p ns was, at @p now_ns */
void cli_format_age(char *buf, size_t size, int64_t ns, int64_t now_ns);
/* Now, in ns since the Epoch. */
int64_t cli_now_ns(void);
/* User and group names; 0 and the number in decimal when there is no such entry. The last
 * answer of each is remembered (not thread-safe: the command has one thread). */
int cli_user_name(uid_t uid, char *buf, size_t size);
int cli_group_name(gid_t gid, char *buf, size_t size);
/* Shortest "%g" text that reads back as the same double ("0.1", "nan", "-inf"). */
void cli_format_double(char *buf, size_t size, double v);
/* The shortest "%g"-style text of finite @p v, with @p lo to @p hi significant digits, that
 * @p reads_back(text, @p arg) accepts: @p hi digits are taken in any case. A whole number
 * below 1e16 is written out in full rather than with an exponent. */
void cli_format_shortest(char *buf, size_t size, double v, int lo, int hi,
                         int (*reads_back)(const char *text, const void *arg), const void *arg);
/* The processes in @p n entries of an attach table, each counted once however many entries
 * it has (one per way it maps the segment): into @p alive and @p dead. */
void cli_count_processes(const shmap_attacher *att, int n, unsigned *alive, unsigned *dead);
/* The shared holds of dead processes in @p n entries of an attach table (an exclusive
 * locker, or gc, clears them). */
unsigned cli_dead_holds(const shmap_attacher *att, int n);
/* @p one or @p many, as @p n asks, for messages that count: "1 byte", "29 bytes". */
static inline const char *cli_plural(uint64_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

/* ---------------------------------------------------------------------------------------- */
/* Text for a terminal (text.c) */

/* Length of the valid UTF-8 sequence at @p s, its code point in @p *cp; 0 if none there
 * (an overlong form, a surrogate, a truncated sequence...). */
size_t cli_utf8_next(const unsigned char *s, uint32_t *cp);
/* Copy @p s with control characters (C0, DEL, C1) and bytes that are not valid UTF-8
 * written as \xNN, so it stays on one line and shows what it holds. A keyword's text
 * keeps its backslashes as they are, so that a listed line reads back as it is. */
void cli_escape_text(char *buf, size_t size, const char *s);
/* The same for a name, with a backslash written \\: a name holding the text "\x01" is
 * told from one holding the byte. */
void cli_escape_name(char *buf, size_t size, const char *s);
/* Take LC_CTYPE from the environment, or C.UTF-8 if that is not UTF-8 (once). */
void cli_text_locale(void);
/* Cells a terminal gives @p s (after cli_text_locale()): wcwidth() of each character. */
size_t cli_text_width(const char *s);

/* ---------------------------------------------------------------------------------------- */
/* Element values (value.c) */

/* One field of a record: `name:type[count]`, packed at @p offset. */
typedef struct cli_field {
    char name[SHMAP_RECORD_FIELDS_MAX]; /* any name a field list holds, as long as it */
    shmap_dtype dtype;
    size_t size;   /* of one item */
    size_t count;  /* items: 1, or n for name:type[n] */
    size_t offset; /* in the record */
} cli_field;

/* How to read and write one element of an array. */
typedef struct cli_layout {
    shmap_dtype dtype;
    size_t elsize;
    size_t nfields;    /* records only */
    cli_field *fields; /* records only */
    int swapped;       /* a raw array in the other byte order (--dtype '>f4' on a
                          little-endian host): its numbers are read and written with their
                          bytes reversed (complex numbers part by part); never a record */
} cli_layout;

/* A value parsed from text: the element's bytes, and for records which fields were given. */
typedef struct cli_value {
    unsigned char *bytes;
    unsigned char *given; /* one flag per record field; NULL for other types */
} cli_value;

/* Build the layout of a segment (records: parse info->record_fields). 0, or -1 with err. */
int cli_layout_init(cli_layout *l, const shmap_info *info, char *err, size_t errsize);
void cli_layout_free(cli_layout *l);

/* Parse one element's value. 0, or -1 with a message in err ("value 300 out of range..."). */
int cli_value_parse(const cli_layout *l, const char *text, cli_value *v, char *err,
                    size_t errsize);
void cli_value_free(cli_value *v);

/* Write a parsed value into an element (records: only the fields the text gave). */
void cli_value_store(const cli_layout *l, const cli_value *v, void *elem);

/* Set every element to @p v. */
void cli_value_fill(const cli_layout *l, const cli_value *v, void *data, uint64_t nelem);

/* Set element i to i, converted as C converts a uint64_t (see `shmap help fill`). */
void cli_value_ramp(const cli_layout *l, void *data, uint64_t nelem);

/* One element as a number, for statistics: complex values give their magnitude. Returns
 * 0, or -1 for records, which have no single value. */
int cli_value_real(const cli_layout *l, const void *elem, double *out);

/* A number cli_value_real() gave (the smallest or largest element) as text: for f16 and f32
 * elements in the shortest form of their own type, as cli_value_print() prints them, and
 * a c64's magnitude as an f32. */
void cli_value_format_real(char *buf, size_t size, const cli_layout *l, double v);

/* Print one element ("1.5", "1+2j", "True", "(x=1.5, y=2)"). */
void cli_value_print(FILE *out, const cli_layout *l, const void *elem);

/* Copy @p nelem elements of a swapped layout into @p dst in this machine's byte order. */
void cli_value_native(const cli_layout *l, const void *src, void *dst, uint64_t nelem);

/* numpy's name of the layout's element type, with its byte order ("<f4", or ">f4" for a
 * swapped raw array); NULL for records. */
const char *cli_layout_numpy(const cli_layout *l);

/* ---------------------------------------------------------------------------------------- */
/* Segments (util.c) */

/*
 * Raw attach: the commands that read or write data (info cat fill set watch) also take
 * `--dtype TYPE --shape D,D,... [--offset BYTES] [--private]` to treat any object (a
 * foreign segment, a plain file) as an array with no header. Their option tables end with
 * CLI_RAW_OPTS; each option the scanner returns goes through cli_raw_option() first, and
 * cli_raw_check() runs once all arguments are scanned.
 */
#define CLI_RAW_OPTS {"dtype", 1}, {"shape", 1}, {"offset", 1}, {"private", 0}
/* Their usage line and the help text every such command prints. */
#define CLI_RAW_USAGE "[--dtype TYPE --shape D,D,... [--offset BYTES]] [--private]"
#define CLI_RAW_HELP                                                                          \
    "Raw attach, for an object with no shmap header (a foreign segment, a plain file):\n"     \
    "  --dtype TYPE     element type, as for `shmap create` (u2, f4, record:x:f4,y:f4...);\n" \
    "                   '>f4' or '<f4' (numpy's; '!f4' is '>f4') for numbers in the other\n" \
    "                   byte order, read and written as numbers\n"                            \
    "  --shape D,D,...  the dimensions, C order (DxD... works too), decimal\n"               \
    "  --offset BYTES   where the array starts in the object (decimal or 0x hex; any\n"      \
    "                   multiple of the element's alignment, not only of the page size)\n"  \
    "  --private        map copy-on-write: writes stay in this command's copy and never\n" \
    "                   reach the object (not for System V; with or without --dtype)"

typedef struct cli_raw {
    const char *dtype_text, *shape_text, *offset_text; /* as given, or NULL */
    int priv;                 /* --private */
    int any_offset;           /* set by the caller: the array is read, not mapped, so
                                 --offset may misalign its type */
    int raw;                  /* set by cli_raw_check: --dtype and --shape were given */
    shmap_dtype dtype;        /* the rest is valid when raw is set */
    int swapped;              /* --dtype named the other byte order ('>f4' here) */
    const char *fields;       /* record field list, or NULL */
    unsigned int ndim;
    uint64_t dims[SHMAP_MAX_DIMS];
    uint64_t offset;
} cli_raw;

/* Take option @p opt (its name, without dashes) if it is one of CLI_RAW_OPTS: 1 if taken. */
int cli_raw_option(cli_raw *r, const char *opt, const char *value);

/* Check and parse what was given. 0, or CLI_EXIT_USAGE after a usage error of @p cmd. */
int cli_raw_check(const char *cmd, cli_raw *r);

/*
 * Is what is asked of @p name impossible by the form of the name and the options alone,
 * whatever the system holds: creating (@p create) a System V segment by id, huge pages
 * (SHMAP_CREATE_HUGEPAGES in @p create_flags) for a POSIX name, a private mapping
 * (SHMAP_PRIVATE in @p open_flags) of System V? The library refuses each; a command
 * reports that refusal as bad usage (exit 2), as it does a malformed name.
 */
int cli_store_misuse(const char *name, int create, unsigned int create_flags,
                     unsigned int open_flags);

/*
 * Under `shmap lock NAME --write` (this command runs under it: snapshot.c), @p seg's lock
 * is its own: 1 when that enclosing lock holds it, 0 when none does, -1 after saying why a
 * write is refused (under `shmap lock --read`, whose shared hold would keep it out).
 */
int cli_enclosing_write(const char *name, shmap_seg *seg, pid_t *holder);
/* The same for a reader: 1 when an enclosing `shmap lock` (--read or --write) holds @p
 * seg's lock, 0 when none does. Both give that `shmap lock`'s pid in @p *holder (if not
 * NULL) when they return 1. */
int cli_enclosing_read(shmap_seg *seg, pid_t *holder);
/* Which lock of @p seg an enclosing `shmap lock` holds: 'w' (--write), 'r' (--read) or 0,
 * with its pid in @p *holder (if not NULL). */
int cli_enclosing_lock(shmap_seg *seg, pid_t *holder);

/*
 * For a command that writes @p seg's data (snapshot.c): take its exclusive lock, waiting
 * @p timeout seconds at most (< 0 for ever), unless an enclosing `shmap lock --write` holds
 * it, and begin a write (shmap_write_begin()). A previous writer that died holding it is
 * warned of. The end signals (INT, TERM, HUP, QUIT) end the wait (the command then fails,
 * "interrupted", and ends by the signal once it has closed the segment:
 * cli_end_if_signalled()); after that they wait until cli_write_publish(). Returns what
 * cli_write_publish() takes (>= 0), or -CLI_EXIT_FAIL after saying why not.
 */
int cli_write_begin(const char *name, shmap_seg *seg, double timeout);
/* Publish the write cli_write_begin() began (@p took, its result), release the lock and
 * let the signals in: CLI_EXIT_OK, or CLI_EXIT_FAIL after saying why. */
int cli_write_publish(const char *name, shmap_seg *seg, int took);

/* Copies the data at @p data, the segment's mapping, into the caller's copy. */
typedef void (*cli_copy_fn)(void *ctx, const unsigned char *data);

/*
 * A consistent copy of a described segment's data (snapshot.c): under the shared lock
 * (waited for @p timeout seconds, < 0 for ever; a reader who may not write the segment
 * goes without it), @p copy is called until a copy is whole, no write having begun or been
 * published meanwhile; @p also (NULL: none) is then called, still under the lock. An end
 * signal fails it, "interrupted", as it fails cli_write_begin(). Says what failed; returns
 * CLI_EXIT_OK or CLI_EXIT_FAIL.
 */
int cli_snapshot(const char *name, shmap_seg *seg, double timeout, cli_copy_fn copy,
                 void *ctx, int (*also)(void *ctx));

/*
 * Open a segment and describe it, printing any error: a described segment by name, or with
 * @p raw giving --dtype and --shape, any object as a raw array (shmap_open_raw); @p raw
 * may be NULL. --private adds SHMAP_PRIVATE to @p flags. On success the caller owns *seg
 * (to shmap_close) and *layout (to cli_layout_free). Returns 0, CLI_EXIT_FAIL, or
 * CLI_EXIT_USAGE (cli_store_misuse(), reported as a usage error of command @p cmd).
 */
int cli_open(const char *cmd, const char *name, unsigned int flags, const cli_raw *raw,
             shmap_seg **seg, shmap_info *info, cli_layout *layout);

/* ---------------------------------------------------------------------------------------- */
/* Keywords as `info` and `keyword` print them (cmd_keyword.c) */

/* A keyword's value: integers as they are, floats in the shortest form that reads back with
 * a decimal point or exponent (2.0, 1e-05; nan, inf, -inf), bools T or F, strings FITS
 * style with @p quoted ('it''s': quoted, a quote inside doubled), else bare (it's). */
void cli_keyword_print_value(FILE *out, const shmap_keyword *kw, int quoted);

/* One line per keyword, "NAME     = VALUE / COMMENT" after @p indent, names padded to the
 * longest (8 at least, as FITS pads them), values quoted. */
void cli_keyword_print_lines(FILE *out, const char *indent, const shmap_keyword *kw, int nkw);

/* ---------------------------------------------------------------------------------------- */
/* Making segments (cmd_create.c): the options of `create` that `import` takes too */

/* How a segment is made: --mode, --transient, --prefault, --hugepages, --keyword. */
#define CLI_CREATE_OPTS                                                                       \
    {"mode", 1}, {"transient", 0}, {"prefault", 0}, {"hugepages", 0}, {"keyword", 1}

typedef struct cli_create {
    shmap_create_opts opts; /* defaults, with SHMAP_CREATE_KEEP */
    shmap_keyword *kw;      /* the --keyword options, one slot per argument */
    unsigned char *kw_keep;      /* for each: no comment given (" / ..."), so a keyword the
                                  * segment has keeps its own (shmap_keyword_set_many()) */
    int nkw;
    int mode_given;         /* --mode: the mode exactly, the umask set aside */
} cli_create;

/* Defaults, and room for the keywords of @p argc arguments. 0, or -1 out of memory. */
int cli_create_init(cli_create *c, int argc);
void cli_create_free(cli_create *c);

/* Take option @p opt (its name) if it is one of CLI_CREATE_OPTS: 1 if taken, 0 if not,
 * -1 after a usage error of @p cmd (a bad mode or keyword). */
int cli_create_option(const char *cmd, cli_create *c, const char *opt, const char *value);

/* Did KEY=VALUE text @p text give a comment (" / COMMENT", or " /" for an empty one)? A
 * keyword set without one keeps the comment it has, as FITS tools do. */
int cli_keyword_gives_comment(const char *text);

/*
 * Set @p n keywords on an open segment all or none, as `shmap keyword` sets its arguments
 * (shmap_keyword_set_many(), with @p flags: SHMAP_KEYWORD_CHECK_ONLY refuses early what a
 * change would). One whose @p keep entry is nonzero keeps the comment the segment gives it.
 * For `import --existing` and `create --exist-ok`. The exit status, after saying what failed.
 */
int cli_keywords_set_all(const char *name, shmap_seg *seg, const shmap_keyword *kw,
                         const unsigned char *keep, int n, unsigned int flags);

/* The keyword capacity to create with for @p nkw keywords: 0 (the default) when they fit
 * in it, else room for them and as many again as the default, at most the library's most. */
unsigned int cli_keyword_capacity(unsigned int nkw);

/* shmap_create() with @p opts (from @p c): a --mode given is the new segment's mode
 * exactly, as `mkdir -m` makes a directory's; without one, 0600 less the umask. */
int cli_create_segment(const cli_create *c, shmap_seg **seg, const char *name,
                       shmap_dtype dtype, unsigned int ndim, const uint64_t *dims,
                       const shmap_create_opts *opts);

/* ---------------------------------------------------------------------------------------- */
/* Array files (npy.c, fits.c or fits_none.c): what `import` and `export` read and write */

/* The first bytes of a .npy file. */
#define CLI_NPY_MAGIC "\x93NUMPY"
#define CLI_NPY_MAGIC_LEN 6

/* The readers' and writers' way to fail: the message into @p err (as snprintf), and -1. */
int cli_errf(char *err, size_t errsize, const char *fmt, ...) CLI_PRINTF(3, 4);

/* An array as a file holds it: what `import` creates. */
typedef struct cli_file_array {
    shmap_dtype dtype;
    char fields[SHMAP_RECORD_FIELDS_MAX]; /* field list of a record type, else "" */
    size_t elsize;
    unsigned int ndim;
    uint64_t dims[SHMAP_MAX_DIMS]; /* C order */
    uint64_t data_offset;          /* where the data starts in the file */
    int swap; /* to be put right after reading: other byte order, or bools (npy.c) */
    int fortran;                   /* stored in Fortran order (first index fastest) */
} cli_file_array;

/*
 * Read a .npy header (versions 1.0, 2.0, 3.0) from @p fd, which is at the start of the file
 * (the first @p nprefix bytes already read into @p prefix), leaving it at the data. 0, or -1
 * with a message in @p err naming what is wrong ("unsupported descr '<U4' ...").
 */
int cli_npy_read_header(int fd, const unsigned char *prefix, size_t nprefix,
                        cli_file_array *a, char *err, size_t errsize);

/* The .npy header (version 1.0, or 2.0 when it needs more than 65535 bytes) of an array
 * laid out as @p l with @p ndim dims, in a new buffer (to free). 0, or -1 with err. */
int cli_npy_make_header(const cli_layout *l, unsigned int ndim, const uint64_t *dims,
                        char **out, size_t *len, char *err, size_t errsize);

/* Put @p nelem elements laid out as @p l, read from the file cli_npy_read_header() read
 * last (or any array, @p l swapped), into this machine's form: reverse the bytes of every
 * number if the file has the other byte order or @p l is swapped (records field by field,
 * complex numbers part by part), and set every bool to 0 or 1. */
void cli_swap_bytes(const cli_layout *l, void *data, uint64_t nelem);

/* Whether this shmap reads and writes FITS files (built with CFITSIO), and the message when
 * it does not: what to install, or that the build was asked to leave FITS out. */
extern const int cli_fits_built;
extern const char cli_fits_missing[];

/* An open FITS file, being imported. */
typedef struct cli_fits cli_fits;

/*
 * Open FITS file @p path, a regular file already open as @p fd (which stays the caller's;
 * "-": standard input), and find its image: the primary HDU's, or the first image
 * extension's when the primary has none; or, given @p hdu, that HDU's (a number, 0 the
 * primary HDU, or an EXTNAME). The file is read through @p fd (CFITSIO through
 * /proc/self/fd), so a file put in its name's place meanwhile is never read; @p path names
 * it in warnings. Fills @p a (dtype, shape in C order) and the keywords shmap can keep
 * (*kw, *nkw, to free), with a warning line per card left out or changed. 0, or -1 with
 * a message in @p err.
 */
int cli_fits_open(const char *path, int fd, const char *hdu, cli_fits **f, cli_file_array *a,
                  shmap_keyword **kw, int *nkw, char *err, size_t errsize);
/* Read the image into @p dst (a's dtype and shape). 0, or -1 with err. */
int cli_fits_read(cli_fits *f, const cli_file_array *a, void *dst, char *err, size_t errsize);
void cli_fits_close(cli_fits *f);

/* Can FITS hold this element type? 0, or -1 with err saying why not. */
int cli_fits_check_type(shmap_dtype dtype, char *err, size_t errsize);

/* Write a new FITS file at @p path (which must not exist) holding the array and the
 * keywords; or, when @p fd >= 0, write it to @p fd (a pipe, standard output), made in
 * memory first. 0, or -1 with err, and errno that of the write that failed (ENOSPC,
 * EFBIG...), or 0 when none did. */
int cli_fits_write(const char *path, int fd, const shmap_info *info, const void *data,
                   const shmap_keyword *kw, int nkw, char *err, size_t errsize);

/* Write the FITS file into @p fd, a new, empty regular file open for reading and writing
 * (an unnamed one, O_TMPFILE), through the descriptor: block by block, with no copy of it
 * in memory. 0, or -1 with err and errno as cli_fits_write() leaves them. */
int cli_fits_write_fd(int fd, const shmap_info *info, const void *data,
                      const shmap_keyword *kw, int nkw, char *err, size_t errsize);

/* ---------------------------------------------------------------------------------------- */
/* JSON (json.c): the schema is documented there. */

#define CLI_JSON_MAX_DEPTH 16

typedef struct cli_json {
    FILE *out;
    int depth;
    unsigned char items[CLI_JSON_MAX_DEPTH]; /* values written so far at each depth */
} cli_json;

void cli_json_init(cli_json *j, FILE *out);
/* Open '{' or '['; @p key names it inside an object, NULL inside an array or at the top. */
void cli_json_open(cli_json *j, const char *key, char bracket);
void cli_json_close(cli_json *j, char bracket);
void cli_json_string(cli_json *j, const char *key, const char *s); /* NULL: null */
void cli_json_u64(cli_json *j, const char *key, uint64_t v);
void cli_json_i64(cli_json *j, const char *key, int64_t v);
void cli_json_double(cli_json *j, const char *key, double v); /* nan, inf: null */
void cli_json_bool(cli_json *j, const char *key, int v);
void cli_json_null(cli_json *j, const char *key);

/* The members "keywords" (name -> value) and "keyword_comments" (name -> comment, for those
 * that have one) of @p nkw keywords, in their order; both null when @p nkw < 0. */
void cli_json_keywords(cli_json *j, const shmap_keyword *kw, int nkw);

/* The object `info --dtype ... --shape ...` prints for a raw mapping (no header). */
void cli_json_raw(cli_json *j, const shmap_info *info, int priv, const char *numpy);
/* What shmap_mapped_by() found: the processes mapping a segment outside its attach table. */
typedef struct cli_mapped {
    shmap_mapper *list;
    int n;
    int unseen; /* as shmap_mapped_by() says */
} cli_mapped;

/* The frame write in progress, or the last one, as shmap_write_state() tells it. */
typedef struct cli_write {
    int state; /* SHMAP_WRITE_* */
    pid_t pid; /* its writer, or 0 */
} cli_write;

/* One segment object; @p nkw < 0 writes "keywords": null (they could not be read). @p att
 * (natt entries) and @p li may be NULL: "attached" is then [] and "lock" null; @p w and
 * @p mapped NULL (nobody looked: ls) write "write", "mapped_by" and "mapped_by_unseen"
 * null. */
void cli_json_segment(cli_json *j, const shmap_info *info, const shmap_keyword *kw, int nkw,
                      const shmap_attacher *att, int natt, const shmap_lockinfo *li,
                      const cli_write *w, const cli_mapped *mapped);
/* One object `shmap ls --all` found that is not a valid segment. */
void cli_json_foreign(cli_json *j, const shmap_entry *e);

#endif
