/*
 * shmap ls [--all] [--json]
 *
 * Only --all lists a System V segment deleted while processes still attach it (the library
 * leaves it out otherwise, as a deleted POSIX segment is gone from /dev/shm), under
 * sysv://id=N, its STATUS "deleted": it holds memory until the last one detaches, and
 * cannot be opened any more.
 *
 * The table is laid out in two passes over the rows, one to size the columns and one to
 * print them; formatting a row twice is cheaper than keeping thousands of them around.
 * Columns are as wide as their text on the terminal, not as its bytes (text.c): a name
 * "x-é日本" takes 7 cells in 11 bytes. Names and messages are escaped as text.c says.
 *
 * The STATUS of an object that is not a segment is the library's detail of why
 * (shmap_entry::error), which tells a System V segment still being created ("segment is
 * still being created by pid 4120") from one whose creator died ("segment was never
 * completed: ..."), as `shmap info` does; the code alone says the same of both.
 *
 * USERS and LOCK condense what `shmap info` shows of the attach table and the lock into one
 * word each, without blanks so that the columns split on white space (shmap.1, ls):
 *
 *   USERS  live processes in the attach table; "2+1dead" when slots of dead processes
 *          remain (a lock waiter or `shmap gc` clears them)
 *   LOCK   "-" free; else comma-separated parts: "r3" three shared holds, "r2+1dead" when
 *          one is a dead process's ("r0+1dead" when all are; the next exclusive locker, or
 *          gc, clears them); "w1234" the
 *          exclusive lock held by pid 1234, "w1234:wait" pid 1234 has claimed it and waits
 *          for the shared holds to end, ":dead" when that writer is dead; "died:1234" a
 *          writer (pid 1234) died holding it, which the next exclusive locker is told
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const cli_opt ls_opts[] = {{"all", 0}, {"json", 0}, {NULL, 0}};
enum { OPT_ALL, OPT_JSON };

enum { COL_NAME, COL_DTYPE, COL_SHAPE, COL_BYTES, COL_MODE, COL_OWNER, COL_CREATOR, COL_USERS,
       COL_LOCK, COL_GEN, COL_AGE, COL_STATUS, NCOLS };

static const struct {
    const char *title;
    int right; /* numbers align right */
} columns[NCOLS] = {
    {"NAME", 0},    {"DTYPE", 0}, {"SHAPE", 0}, {"BYTES", 1}, {"MODE", 0}, {"OWNER", 0},
    {"CREATOR", 1}, {"USERS", 1}, {"LOCK", 0},  {"GEN", 1},   {"AGE", 1},  {"STATUS", 0},
};

typedef struct ls_row {
    char cell[NCOLS][SHMAP_NAME_MAX];
} ls_row;

/* Segments mostly share an owner: remember the last name looked up. */
typedef struct owner_cache {
    int valid;
    uid_t uid;
    char name[64];
} owner_cache;

static const char *owner_name(owner_cache *c, uid_t uid)
{
    if (!c->valid || c->uid != uid) {
        cli_user_name(uid, c->name, sizeof c->name);
        c->uid = uid;
        c->valid = 1;
    }
    return c->name;
}

static void format_users(char *buf, size_t size, const shmap_entry *e)
{
    unsigned alive, dead;
    cli_count_processes(e->attachers, (int)e->nattachers, &alive, &dead);
    if (dead)
        snprintf(buf, size, "%u+%udead", alive, dead);
    else
        snprintf(buf, size, "%u", alive);
}

static void format_lock(char *buf, size_t size, const shmap_lockinfo *li, unsigned dead)
{
    size_t len = 0;
    buf[0] = '\0';
    if (li->shared && dead && dead <= li->shared)
        len += (size_t)snprintf(buf + len, size - len, "r%u+%udead", li->shared - dead, dead);
    else if (li->shared)
        len += (size_t)snprintf(buf + len, size - len, "r%u", li->shared);
    if (li->writer > 0 && len < size)
        len += (size_t)snprintf(buf + len, size - len, "%sw%" PRId64 "%s%s", len ? "," : "",
                                (int64_t)li->writer, li->writer_waiting ? ":wait" : "",
                                li->writer_alive ? "" : ":dead");
    if (li->owner_died && len < size)
        len += (size_t)snprintf(buf + len, size - len, "%sdied:%" PRId64, len ? "," : "",
                                (int64_t)li->dead_pid);
    if (len == 0)
        snprintf(buf, size, "-");
}

static void format_row(ls_row *r, const shmap_entry *e, owner_cache *owners, int64_t now)
{
    const shmap_info *in = &e->info;
    cli_escape_name(r->cell[COL_NAME], SHMAP_NAME_MAX, in->name);
    cli_format_mode(r->cell[COL_MODE], SHMAP_NAME_MAX, in->mode);
    snprintf(r->cell[COL_OWNER], SHMAP_NAME_MAX, "%s", owner_name(owners, in->uid));
    if (e->status != 0) {
        /* Not a segment: only what the kernel says of the object is known. */
        snprintf(r->cell[COL_BYTES], SHMAP_NAME_MAX, "%llu", (unsigned long long)in->size);
        for (int c = COL_DTYPE; c <= COL_AGE; c++)
            if (c != COL_BYTES && c != COL_MODE && c != COL_OWNER)
                snprintf(r->cell[c], SHMAP_NAME_MAX, "-");
        char why[SHMAP_NAME_MAX];
        /* A name no command takes (a control character in it) cannot be given to `rm
         * --force`: say how to remove the object, rather than list what cannot be reached. */
        int unnamable = in->store == SHMAP_STORE_POSIX && shmap_name_check(in->name, NULL) < 0;
        snprintf(why, sizeof why, "%s%s%s", in->deleted ? "deleted; " : "",
                 e->error[0] ? e->error : shmap_strerror(e->status),
                 unnamable ? "; its name is not one shmap takes: remove it with rm(1) in "
                             "/dev/shm" : "");
        cli_escape_text(r->cell[COL_STATUS], SHMAP_NAME_MAX, why);
        return;
    }
    snprintf(r->cell[COL_DTYPE], SHMAP_NAME_MAX, "%s", shmap_dtype_name(in->dtype));
    cli_format_shape(r->cell[COL_SHAPE], SHMAP_NAME_MAX, in->ndim, in->dims);
    snprintf(r->cell[COL_BYTES], SHMAP_NAME_MAX, "%llu", (unsigned long long)in->data_size);
    snprintf(r->cell[COL_CREATOR], SHMAP_NAME_MAX, "%ld", (long)in->creator_pid);
    format_users(r->cell[COL_USERS], SHMAP_NAME_MAX, e);
    format_lock(r->cell[COL_LOCK], SHMAP_NAME_MAX, &e->lock,
                cli_dead_holds(e->attachers, (int)e->nattachers));
    snprintf(r->cell[COL_GEN], SHMAP_NAME_MAX, "%llu", (unsigned long long)in->generation);
    cli_format_age(r->cell[COL_AGE], SHMAP_NAME_MAX, in->created_ns, now);
    snprintf(r->cell[COL_STATUS], SHMAP_NAME_MAX, "%s", in->deleted ? "deleted" : "ok");
}

static void pad(size_t n)
{
    while (n--)
        putchar(' ');
}

static void print_cells(char cells[][SHMAP_NAME_MAX], const size_t *width, int ncols)
{
    for (int c = 0; c < ncols; c++) {
        size_t w = cli_text_width(cells[c]), fill = width[c] > w ? width[c] - w : 0;
        if (columns[c].right)
            pad(fill);
        fputs(cells[c], stdout);
        if (!columns[c].right && c < ncols - 1) /* no trailing blanks */
            pad(fill);
        fputs(c == ncols - 1 ? "\n" : "  ", stdout);
    }
}

static int print_table(const shmap_entry *list, size_t n, int all)
{
    int ncols = all ? NCOLS : NCOLS - 1;
    size_t width[NCOLS];
    owner_cache owners = {0};
    int64_t now = cli_now_ns();
    if (n == 0)
        return CLI_EXIT_OK;
    cli_text_locale();
    ls_row *row = malloc(sizeof *row);
    if (!row)
        return cli_fail(NULL, "out of memory");
    for (int c = 0; c < ncols; c++) {
        snprintf(row->cell[c], SHMAP_NAME_MAX, "%s", columns[c].title);
        width[c] = strlen(columns[c].title);
    }
    for (size_t i = 0; i < n; i++) {
        format_row(row, &list[i], &owners, now);
        for (int c = 0; c < ncols; c++) {
            size_t w = cli_text_width(row->cell[c]);
            if (w > width[c])
                width[c] = w;
        }
    }
    for (int c = 0; c < ncols; c++)
        snprintf(row->cell[c], SHMAP_NAME_MAX, "%s", columns[c].title);
    print_cells(row->cell, width, ncols);
    for (size_t i = 0; i < n; i++) {
        format_row(row, &list[i], &owners, now);
        print_cells(row->cell, width, ncols);
    }
    free(row);
    return CLI_EXIT_OK;
}

/*
 * The keywords come from the listing (SHMAP_LIST_KEYWORDS), read with the header: no segment
 * is opened again. They are null only when a writer kept them changing (keywords_status).
 */
static void print_json_segment(cli_json *j, const shmap_entry *e)
{
    int nkw = e->keywords_status < 0 ? -1 : (int)e->nkeywords;
    cli_json_segment(j, &e->info, e->keywords, nkw, e->attachers, (int)e->nattachers,
                     &e->lock, NULL, NULL);
}

static void print_json(const shmap_entry *list, size_t n)
{
    cli_json j;
    cli_json_init(&j, stdout);
    cli_json_open(&j, NULL, '[');
    for (size_t i = 0; i < n; i++) {
        if (list[i].status == 0)
            print_json_segment(&j, &list[i]);
        else
            cli_json_foreign(&j, &list[i]);
    }
    cli_json_close(&j, ']');
}

int cmd_ls(int argc, char **argv)
{
    int opt, all = 0, json = 0;
    cli_args a;
    cli_args_init(&a, "ls", ls_opts, argc, argv);
    cli_args_subject(&a, -1, 0); /* no NAME */
    while ((opt = cli_args_next(&a)) >= 0) {
        if (opt == OPT_ALL)
            all = 1;
        else if (opt == OPT_JSON)
            json = 1;
    }
    if (opt == CLI_ARGS_EXIT)
        return a.status;
    if (a.npos > 0)
        return cli_usage_error("ls", "unexpected argument '%s'", a.argv[0]);

    shmap_entry *list;
    size_t n;
    unsigned flags = (all ? SHMAP_LIST_ALL : 0) | (json ? SHMAP_LIST_KEYWORDS : 0);
    int rc = shmap_list(&list, &n, flags);
    if (rc < 0)
        return cli_fail(NULL, "cannot list segments: %s", cli_lib_message(rc));
    int status = CLI_EXIT_OK;
    if (json)
        print_json(list, n);
    else
        status = print_table(list, n, all);
    shmap_list_free(list);
    return status;
}
