/*
 * shmap info NAME [--json] [--dtype TYPE --shape D,D,... [--offset BYTES]] [--private]
 *
 * The text form shows every field of shmap_info under the same names as the JSON form, so
 * what a user reads is what a script finds. A raw mapping has no header: it shows what the
 * kernel says of the object and what the command line says of the array, and says it is raw.
 *
 * A System V segment deleted while processes still attach it can be reached by its id
 * until the last one detaches; no other command opens it (SHMAP_DELETED), and info says
 * right under its name that it is deleted, so nobody takes it for a live one.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const cli_opt info_opts[] = {{"json", 0}, CLI_RAW_OPTS, {NULL, 0}};

#define LINE(key, ...)                                                                        \
    do {                                                                                      \
        printf("%-17s", key ":");                                                             \
        printf(__VA_ARGS__);                                                                  \
        putchar('\n');                                                                        \
    } while (0)

/* @p nkw < 0: the keywords could not be read, for the reason @p unread gives. */
static void print_keywords(const shmap_info *info, const shmap_keyword *kw, int nkw,
                           const char *unread)
{
    if (nkw < 0) {
        LINE("keywords", "not read: %s", unread);
        return;
    }
    LINE("keywords", "%d of %u %s", nkw, info->keyword_capacity,
         cli_plural(info->keyword_capacity, "slot", "slots"));
    cli_keyword_print_lines(stdout, "  ", kw, nkw);
}

/* The shared holds of processes that died holding them. */
static void print_locks(const shmap_attacher *att, int natt, const shmap_lockinfo *li)
{
    unsigned dead = cli_dead_holds(att, natt);
    if (li->writer && li->writer_waiting)
        LINE("lock", "exclusive, being taken by pid %ld%s, waiting for %u shared %s to end",
             (long)li->writer, li->writer_alive ? "" : " (dead: the next locker recovers it)",
             li->shared, cli_plural(li->shared, "hold", "holds"));
    else if (li->writer)
        LINE("lock", "exclusive, held by pid %ld%s%s", (long)li->writer,
             li->writer_alive ? "" : " (dead: the next locker recovers it)",
             li->writer_other_pidns ? " (in another pid namespace: cannot be checked)" : "");
    else if (li->shared && dead)
        LINE("lock", "shared, %u %s (%u by dead processes: the next exclusive locker, or gc, "
                     "clears them)",
             li->shared, cli_plural(li->shared, "hold", "holds"), dead);
    else if (li->shared)
        LINE("lock", "shared, %u %s", li->shared, cli_plural(li->shared, "hold", "holds"));
    else
        LINE("lock", "free");
    if (li->waiters)
        LINE("lock_waiters", "yes");
    if (li->owner_died)
        LINE("owner_died", "pid %ld died holding the exclusive lock; the next writer is told",
             (long)li->dead_pid);
    /* One process has a line for each way it maps the segment (read-write, read-only and
     * locking, private): they are counted once. */
    unsigned live, gone;
    cli_count_processes(att, natt, &live, &gone);
    if (live + gone == (unsigned)natt)
        LINE("attached", "%d %s", natt, cli_plural((uint64_t)natt, "process", "processes"));
    else
        LINE("attached", "%u %s, in %d slots (one for each way a process maps it)",
             live + gone, cli_plural(live + gone, "process", "processes"), natt);
    for (int i = 0; i < natt; i++)
        printf("  pid %-8ld %-5s shared %u  %s%s%s\n", (long)att[i].pid,
               att[i].other_pidns ? "?" : att[i].alive ? "alive" : "dead", att[i].shared,
               att[i].writable ? "read-write" : "read-only", att[i].writer ? "  writer" : "",
               att[i].other_pidns ? "  (in another pid namespace: cannot be checked)" : "");
}

/* The processes that map the segment outside the attach table (read-only opens). */
static void print_mapped(const cli_mapped *mapped)
{
    if (mapped->n < 0) {
        LINE("mapped_by", "unknown: %s", shmap_strerror(mapped->n));
        return;
    }
    LINE("mapped_by", "%d other %s%s", mapped->n,
         cli_plural((uint64_t)mapped->n, "process", "processes"),
         mapped->n ? " outside the attach table" : "");
    for (int i = 0; i < mapped->n; i++)
        printf("  pid %-8ld %s\n", (long)mapped->list[i].pid,
               mapped->list[i].writable ? "read-write" : "read-only");
    /* Mostly other users', but not only: a process of this user that is not dumpable (it
     * changed its ids; a container's pid 1) hides its maps from all but a root that has
     * CAP_SYS_PTRACE, which a container's root often lacks. */
    if (mapped->unseen > 0)
        printf("  (and maybe %d %s whose maps this user cannot read)\n", mapped->unseen,
               cli_plural((uint64_t)mapped->unseen, "process", "processes"));
    else if (mapped->unseen < 0)
        printf("  (and maybe processes of other users: /proc hides them)\n");
}

static void print_deleted(const shmap_info *info)
{
    LINE("deleted", "%s", info->deleted ? "yes (kept until its last user detaches)" : "no");
}

/* The lines a raw mapping and a described segment share, from store to group. */
static void print_object(const shmap_info *info)
{
    char buf[SHMAP_NAME_MAX];
    LINE("store", "%s", shmap_store_name(info->store));
    cli_escape_name(buf, sizeof buf, info->os_handle);
    LINE("os_handle", "%s", buf);
    LINE("size", "%" PRIu64, info->size);
    cli_format_mode(buf, sizeof buf, info->mode);
    LINE("mode", "%s", buf);
    cli_user_name(info->uid, buf, sizeof buf);
    LINE("owner", "%s (uid %lu)", buf, (unsigned long)info->uid);
    cli_group_name(info->gid, buf, sizeof buf);
    LINE("group", "%s (gid %lu)", buf, (unsigned long)info->gid);
}

/* The lines of the array, from dtype to bytes; @p numpy: numpy's name of the type as given
 * to a raw mapping (">f4"), or NULL. */
static void print_array(const shmap_info *info, const char *numpy)
{
    char buf[SHMAP_NAME_MAX];
    if (!numpy)
        numpy = shmap_dtype_numpy(info->dtype);
    if (numpy)
        LINE("dtype", "%s (numpy %s)", shmap_dtype_name(info->dtype), numpy);
    else
        LINE("dtype", "%s", shmap_dtype_name(info->dtype));
    if (info->dtype == SHMAP_RECORD)
        LINE("record_fields", "%s", info->record_fields);
    LINE("elsize", "%zu", info->elsize);
    LINE("ndim", "%u", info->ndim);
    cli_format_shape(buf, sizeof buf, info->ndim, info->dims);
    LINE("shape", "%s", buf);
    LINE("nelem", "%" PRIu64, info->nelem);
    LINE("bytes", "%" PRIu64, info->data_size);
}

static void print_raw(const shmap_info *info, int priv, const char *numpy)
{
    char buf[SHMAP_NAME_MAX];
    cli_escape_name(buf, sizeof buf, info->name);
    LINE("name", "%s", buf);
    print_deleted(info);
    LINE("raw", "yes: no shmap header; the type and shape are those given");
    print_object(info);
    print_array(info, numpy);
    LINE("data_offset", "%" PRIu64, info->data_offset);
    LINE("private", "%s", priv ? "yes (copy-on-write)" : "no");
}

static void print_text(const shmap_info *info, const shmap_keyword *kw, int nkw,
                       const char *unread, const shmap_attacher *att, int natt,
                       const shmap_lockinfo *li, const cli_write *w, const cli_mapped *mapped)
{
    char buf[SHMAP_NAME_MAX], when[64], age[32];

    cli_escape_name(buf, sizeof buf, info->name);
    LINE("name", "%s", buf);
    print_deleted(info);
    print_object(info);
    LINE("version", "%u", info->version);
    print_array(info, NULL);
    LINE("data_offset", "%" PRIu64, info->data_offset);
    LINE("creator_pid", "%ld", (long)info->creator_pid);
    cli_user_name(info->creator_uid, buf, sizeof buf);
    LINE("creator_uid", "%lu (%s)", (unsigned long)info->creator_uid, buf);
    LINE("generation", "%" PRIu64, info->generation);
    cli_format_time(when, sizeof when, info->created_ns);
    cli_format_age(age, sizeof age, info->created_ns, cli_now_ns());
    LINE("created", "%s (%s ago)", when, age);
    if (info->published_ns) {
        cli_format_time(when, sizeof when, info->published_ns);
        cli_format_age(age, sizeof age, info->published_ns, cli_now_ns());
        LINE("published", "%s (%s ago)", when, age);
    } else {
        LINE("published", "never");
    }
    if (w->state == SHMAP_WRITE_IN_PROGRESS)
        LINE("write", "in progress by pid %ld", (long)w->pid);
    else if (w->state == SHMAP_WRITE_ABANDONED)
        LINE("write", "abandoned: pid %ld died writing a frame (the data may be half-written)",
             (long)w->pid);
    else if (w->state == SHMAP_WRITE_ABORTED)
        LINE("write", "aborted by pid %ld (the data may be half-written)", (long)w->pid);
    else
        LINE("write", "none");
    LINE("transient", "%s", info->transient ? "yes" : "no");
    LINE("flags", "0x%x", info->flags);
    /* A ring's frames are what a reader copies and a writer fills: say how many, how big. */
    if ((info->flags & SHMAP_SEG_RING) && info->dims[0] > 0) {
        LINE("ring", "yes");
        uint64_t frame = info->data_size / info->dims[0];
        LINE("ring_length", "%" PRIu64 " %s", info->dims[0],
             cli_plural(info->dims[0], "frame", "frames"));
        LINE("frame_size", "%" PRIu64 " %s", frame, cli_plural(frame, "byte", "bytes"));
    } else {
        LINE("ring", "no");
    }
    print_locks(att, natt, li);
    print_mapped(mapped);
    print_keywords(info, kw, nkw, unread);
}

/* info --dtype ... --shape ...: what a raw mapping can tell. */
static int info_raw(const char *name, const cli_raw *raw, int json)
{
    shmap_seg *seg;
    shmap_info info;
    cli_layout layout;
    int opened =
        cli_open("info", name, SHMAP_RDONLY | SHMAP_DELETED, raw, &seg, &info, &layout);
    if (opened != 0)
        return opened;
    char numpy[16] = "";
    if (cli_layout_numpy(&layout))
        snprintf(numpy, sizeof numpy, "%s", cli_layout_numpy(&layout));
    cli_layout_free(&layout);
    shmap_close(seg);
    if (json) {
        cli_json j;
        cli_json_init(&j, stdout);
        cli_json_raw(&j, &info, raw->priv, numpy[0] ? numpy : NULL);
    } else {
        print_raw(&info, raw->priv, numpy[0] ? numpy : NULL);
    }
    return CLI_EXIT_OK;
}

int cmd_info(int argc, char **argv)
{
    int opt, json = 0;
    cli_raw raw = {0};
    cli_args a;
    cli_args_init(&a, "info", info_opts, argc, argv);
    while ((opt = cli_args_next(&a)) >= 0)
        if (!cli_raw_option(&raw, info_opts[opt].name, a.value))
            json = 1;
    if (opt == CLI_ARGS_EXIT)
        return a.status;
    if (a.npos == 0)
        return cli_usage_error("info", "missing NAME");
    if (a.npos > 1)
        return cli_usage_error("info", "unexpected argument '%s'", a.argv[1]);
    if (cli_raw_check("info", &raw) != 0 || cli_check_names("info", a.argv, 1) != 0)
        return CLI_EXIT_USAGE;

    const char *name = a.argv[0];
    if (raw.raw)
        return info_raw(name, &raw, json);
    shmap_seg *seg;
    shmap_info info;
    unsigned int flags = (raw.priv ? SHMAP_PRIVATE : SHMAP_RDONLY) | SHMAP_DELETED;
    int rc = shmap_open(&seg, name, flags);
    if (rc < 0 && cli_store_misuse(name, 0, 0, flags))
        return cli_usage_lib("info", name, rc);
    if (rc < 0)
        return cli_fail_lib(name, rc);
    shmap_keyword *kw = NULL;
    int nkw = 0;
    char unread[512] = "";
    if ((rc = shmap_info_get(seg, &info)) == 0) {
        /* A keyword writer that does not finish leaves the keywords unread, not the rest:
         * null in the JSON, as `ls --json` gives them, and said in the text. */
        rc = nkw = shmap_keyword_list_alloc(seg, &kw);
        if (rc == -EBUSY) {
            const char *detail = cli_lib_detail();
            const char *why = detail ? strstr(detail, "keywords are being changed") : NULL;
            snprintf(unread, sizeof unread, "%s", why ? why : "a keyword change did not finish");
            rc = 0;
        }
    }
    if (rc < 0) {
        shmap_close(seg);
        return cli_fail_lib(name, rc);
    }
    shmap_lockinfo li;
    shmap_attacher *att = NULL;
    int natt = shmap_attached_alloc(seg, &att);
    if (natt < 0)
        natt = 0;
    shmap_lock_info(seg, &li);
    /* Where /proc cannot be read, the rest is still worth printing: mapped_by is unknown. */
    cli_mapped mapped = {0};
    mapped.n = shmap_mapped_by(seg, &mapped.list, &mapped.unseen);
    cli_write w = {0, 0};
    w.state = shmap_write_state(seg, &w.pid);
    if (w.state < 0)
        w.state = SHMAP_WRITE_NONE;
    shmap_close(seg);

    if (json) {
        cli_json j;
        cli_json_init(&j, stdout);
        cli_json_segment(&j, &info, kw, nkw, att, natt, &li, &w,
                         mapped.n < 0 ? NULL : &mapped);
    } else {
        print_text(&info, kw, nkw, unread, att, natt, &li, &w, &mapped);
    }
    free(mapped.list);
    free(att);
    free(kw);
    return CLI_EXIT_OK;
}
