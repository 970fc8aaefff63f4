/*
 * json.c: the JSON that `shmap ls --json`, `shmap info --json` and `shmap keyword --json`
 * print.
 *
 * THE SCHEMA (stable: fields may be added, none renamed or removed without a format change)
 *
 * `shmap info NAME --json` prints one segment object; `shmap ls --json` prints an array of
 * them, sorted by name, and with --all also foreign objects. Output is UTF-8; a byte that is
 * not valid UTF-8 in a name or string prints as U+FFFD. Floats that are nan or infinite print
 * as null. The layout is fixed: one member (info) or one object (ls) per line.
 *
 * Segment object, members in this order:
 *   "name"             string   canonical name ("frames")
 *   "shmap"            true     a valid shmap segment
 *   "store"            string   "posix", "sysv", "file", "memfd"
 *   "os_handle"        string   the OS's name for it ("/frames")
 *   "size"             int      size of the object as the kernel reports it
 *   "mode"             string   permission bits, four octal digits ("0600")
 *   "uid", "gid"       int      owner and group of the object
 *   "owner", "group"   string   their names, or null where the system has none
 *   "version"          int      format version of the header
 *   "dtype"            string   shmap type name: "u8" ... "c128", "bool", "f16", "record"
 *   "numpy"            string   numpy's name ("<f4"), or null for records
 *   "record_fields"    string   field list ("x:f4,y:f4,flag:u1"), or null if not a record
 *   "elsize"           int      bytes per element
 *   "ndim"             int      number of dimensions, 1 to 8
 *   "shape"            [int]    dimensions, C order (last index fastest)
 *   "nelem"            int      number of elements
 *   "bytes"            int      bytes of data (nelem * elsize)
 *   "data_offset"      int      offset of the data in the object (page-aligned)
 *   "creator_pid"      int      process that created the segment
 *   "creator_uid"      int      its user
 *   "attached"         [object] processes in the attach table, dead ones included until
 *                               they are cleared (`ls` reads it from its copy of the header,
 *                               `info` from its mapping), each {"pid": int, "alive": bool,
 *                               "shared": int (shared holds), "writer": bool (holds, or
 *                               waits to take, the exclusive lock: see "lock"), "start": int
 *                               (start time, clock ticks),
 *                               "writable": bool (opened read-write; false: a read-only
 *                               handle that took a lock), "other_pidns": bool (in another
 *                               pid namespace: cannot be checked, and counted alive)}
 *   "lock"             object   the lock state, read as "attached" is: {"writer": int
 *                               or null (pid holding or taking the exclusive lock),
 *                               "writer_alive": bool, "writer_waiting": bool (the writer
 *                               has claimed the lock and waits for the shared holds to end),
 *                               "shared": int (shared holds in all),
 *                               "waiters": bool (someone waited since the last release,
 *                               or a writer waits for readers),
 *                               "owner_died": bool (a writer died holding it and no
 *                               exclusive locker has been told yet; the next one is, which
 *                               clears it), "dead_pid": int or null (the last writer found
 *                               dead holding it, kept after the next locker is told, until
 *                               another writer dies holding it; null if none ever did),
 *                               "writer_other_pidns": bool (the writer is in another pid
 *                               namespace: cannot be checked)}
 *   "generation"       int      frames published (a publish adds one, more over a
 *                               frame lost to a writer that died in it)
 *   "created"          string   creation time, ISO 8601 UTC with ms ("2026-11-23T16:30:00.123Z")
 *   "created_ns"       int      the same, in nanoseconds since the Epoch
 *   "transient"        bool     `shmap gc` removes it once its creator is dead and nobody
 *                               uses it: created --transient, or its creator destroys it
 *                               when it closes it
 *   "flags"            int      the raw segment flags
 *   "keyword_capacity" int      keyword slots
 *   "keywords"         object   name -> value (int, float, string or bool), in the order set
 *                               (`ls` reads them with the header, from its copy of the
 *                               keyword area, `info` from its mapping); null if they could
 *                               not be read (a writer kept changing them for a second)
 *   "keyword_comments" object   name -> comment, for the keywords that have one; null as above
 *   "ring"             bool     a ring of frames (flags & SHMAP_SEG_RING): frame g of the
 *                               stream is at index g % ring_length of the first dimension
 *   "ring_length"      int      frames in the ring (the first dimension); null if not a ring
 *   "frame_size"       int      bytes in one frame (bytes / ring_length); null if not a ring
 *   "published"        string   time of the last publish, as "created"; null if never
 *   "published_ns"     int      the same in nanoseconds since the Epoch; null if never
 *   "write"            object   the frame write in progress or last left unfinished, as
 *                               shmap_write_state() tells it (null in `ls`, which does not
 *                               look): {"state": "none" (nothing being written), "in_progress"
 *                               (a live process is writing), "abandoned" (its writer died
 *                               mid-frame: the data may be half-written) or "aborted" (its
 *                               writer gave it up), "pid": int or null (that writer)}
 *   "deleted"          bool     the segment was deleted while processes still use it: a
 *                               System V segment removed while attached, which the system
 *                               keeps until the last process detaches and which is listed
 *                               (`ls --all` only) and described (`info sysv://id=N`) under
 *                               its id, but no longer opened by any other command
 *   "mapped_by"        [object] other processes that map the segment and are not in the
 *                               attach table (read-only opens that never locked), found in
 *                               /proc by `info` (null in `ls`, which does not look, and
 *                               where /proc cannot be read): each
 *                               {"pid": int, "start": int, "writable": bool (a shared
 *                               writable mapping)}; the process running `info` is not listed
 *   "mapped_by_unseen" int      processes whose maps this user cannot read (mostly other
 *                               users', but also its own that are not dumpable) and that
 *                               could have opened the segment, so could map it too; -1 when
 *                               /proc hides other users' altogether (hidepid); null in `ls`
 *
 * Raw mapping (only from `info NAME --dtype TYPE --shape D,D,...`: any object read as an
 * array the command line describes, header or not):
 *   "name"             string   canonical name, as for a segment
 *   "shmap"            false    nothing here comes from a shmap header
 *   "raw"              true
 *   "store" ... "group"         as above, same order ("size": the whole object)
 *   "dtype" ... "bytes"         as above, same order, from --dtype and --shape ("numpy"
 *                               with the byte order given: ">f4" for big-endian data)
 *   "data_offset"      int      --offset: where the array starts (any alignment of the type)
 *   "private"          bool     mapped copy-on-write (--private)
 *   "creator_pid", "attached", "generation", "created"
 *                      null     a raw object records none of them
 *   "deleted"          bool     as for a segment
 *
 * Foreign object (only with `ls --all`: a shared-memory object that is not a valid segment):
 *   "name"             string   its name
 *   "shmap"            false
 *   "store" ... "group"         as above, same order
 *   "dtype" ... "bytes"
 *                      null     as above, same order: no header says them
 *   "creator_pid", "attached", "generation", "created"
 *                      null     as for a raw object (with "dtype", "shape" and "bytes" they
 *                               make every object have the members SPEC.md requires)
 *   "error"            string   why it is not a segment, as opening it would say:
 *                               "not a shmap segment (no shmap magic in its 100 bytes)",
 *                               "segment is still being created by pid 4120"
 *   "error_code"       string   the code as a stable symbol ("SHMAP_EFORMAT", "EACCES")
 *   "deleted"          bool     as for a segment (a System V segment deleted while attached)
 *
 * Keywords of a segment (`keyword NAME --json`), one member per line, as `info` has them:
 *   "name"             string   canonical name, as for a segment
 *   "keyword_capacity", "keywords", "keyword_comments"
 *                               as for a segment (never null: a keyword area that cannot be
 *                               read is an error here)
 *
 * One keyword (`keyword NAME KEY --json`), one member per line:
 *   "keyword"          string   its name, upper-case
 *   "type"             string   "int", "float", "string" or "bool"
 *   "value"            int, float, string or bool, as in "keywords" (a float with a point
 *                               or an exponent; null if nan or infinite)
 *   "comment"          string   "" when it has none
 */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "cli.h"

void cli_json_init(cli_json *j, FILE *out)
{
    memset(j, 0, sizeof *j);
    j->out = out;
}

static void put_string(FILE *out, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    fputc('"', out);
    while (*s) {
        unsigned c = *s;
        uint32_t cp;
        size_t n = cli_utf8_next(s, &cp);
        if (n == 0) {
            fputs("\\ufffd", out);
            s++;
            continue;
        }
        if (n > 1) {
            fwrite(s, 1, n, out);
            s += n;
            continue;
        }
        switch (c) {
        case '"':
            fputs("\\\"", out);
            break;
        case '\\':
            fputs("\\\\", out);
            break;
        case '\b':
            fputs("\\b", out);
            break;
        case '\f':
            fputs("\\f", out);
            break;
        case '\n':
            fputs("\\n", out);
            break;
        case '\r':
            fputs("\\r", out);
            break;
        case '\t':
            fputs("\\t", out);
            break;
        default:
            if (c < 0x20 || c == 0x7f)
                fprintf(out, "\\u%04x", c);
            else
                fputc((int)c, out);
        }
        s++;
    }
    fputc('"', out);
}

/*
 * Start a value: the separator, then the key. Members of the outermost container go one
 * per line (an object per line in `ls`, a field per line in `info`); anything nested stays
 * on its line, so the output is readable and still easy to grep.
 */
static void item(cli_json *j, const char *key)
{
    if (j->depth > 0) {
        int first = !j->items[j->depth];
        j->items[j->depth] = 1;
        if (j->depth == 1)
            fputs(first ? "\n  " : ",\n  ", j->out);
        else if (!first)
            fputs(", ", j->out);
    }
    if (key) {
        put_string(j->out, key);
        fputs(": ", j->out);
    }
}

void cli_json_open(cli_json *j, const char *key, char bracket)
{
    item(j, key);
    fputc(bracket, j->out);
    if (j->depth + 1 < CLI_JSON_MAX_DEPTH)
        j->depth++;
    j->items[j->depth] = 0;
}

void cli_json_close(cli_json *j, char bracket)
{
    if (j->depth == 1 && j->items[1])
        fputc('\n', j->out);
    fputc(bracket, j->out);
    if (j->depth > 0)
        j->depth--;
    if (j->depth == 0)
        fputc('\n', j->out);
}

void cli_json_string(cli_json *j, const char *key, const char *s)
{
    item(j, key);
    if (s)
        put_string(j->out, s);
    else
        fputs("null", j->out);
}

void cli_json_u64(cli_json *j, const char *key, uint64_t v)
{
    item(j, key);
    fprintf(j->out, "%" PRIu64, v);
}

void cli_json_i64(cli_json *j, const char *key, int64_t v)
{
    item(j, key);
    fprintf(j->out, "%" PRId64, v);
}

void cli_json_double(cli_json *j, const char *key, double v)
{
    item(j, key);
    if (!isfinite(v)) {
        fputs("null", j->out);
        return;
    }
    /* "2.0", not "2": a reader must not take a float keyword for an integer one. */
    char buf[48];
    cli_format_double(buf, sizeof buf, v);
    if (!strpbrk(buf, ".e"))
        strcat(buf, ".0");
    fputs(buf, j->out);
}

void cli_json_bool(cli_json *j, const char *key, int v)
{
    item(j, key);
    fputs(v ? "true" : "false", j->out);
}

void cli_json_null(cli_json *j, const char *key)
{
    item(j, key);
    fputs("null", j->out);
}

/* The members every object has, segment or not. */
static void object_members(cli_json *j, const shmap_info *info)
{
    char buf[SHMAP_NAME_MAX];
    cli_json_string(j, "store", shmap_store_name(info->store));
    cli_json_string(j, "os_handle", info->os_handle);
    cli_json_u64(j, "size", info->size);
    cli_format_mode(buf, sizeof buf, info->mode);
    cli_json_string(j, "mode", buf);
    cli_json_u64(j, "uid", (uint64_t)info->uid);
    cli_json_u64(j, "gid", (uint64_t)info->gid);
    cli_json_string(j, "owner", cli_user_name(info->uid, buf, sizeof buf) ? buf : NULL);
    cli_json_string(j, "group", cli_group_name(info->gid, buf, sizeof buf) ? buf : NULL);
}

void cli_json_keywords(cli_json *j, const shmap_keyword *kw, int nkw)
{
    if (nkw < 0) {
        cli_json_null(j, "keywords");
        cli_json_null(j, "keyword_comments");
        return;
    }
    cli_json_open(j, "keywords", '{');
    for (int i = 0; i < nkw; i++) {
        switch (kw[i].type) {
        case SHMAP_KW_INT:
            cli_json_i64(j, kw[i].name, kw[i].i);
            break;
        case SHMAP_KW_FLOAT:
            cli_json_double(j, kw[i].name, kw[i].f);
            break;
        case SHMAP_KW_BOOL:
            cli_json_bool(j, kw[i].name, kw[i].i != 0);
            break;
        case SHMAP_KW_STRING:
            cli_json_string(j, kw[i].name, kw[i].s);
            break;
        default:
            cli_json_null(j, kw[i].name);
            break;
        }
    }
    cli_json_close(j, '}');
    cli_json_open(j, "keyword_comments", '{');
    for (int i = 0; i < nkw; i++)
        if (kw[i].comment[0])
            cli_json_string(j, kw[i].name, kw[i].comment);
    cli_json_close(j, '}');
}

/* "dtype" to "bytes", the array, described or raw (@p numpy: numpy's name of the type a
 * raw mapping was given, with its byte order, or NULL); all null without @p info (a
 * foreign object: no type, no shape). */
static void array_members(cli_json *j, const shmap_info *info, const char *numpy)
{
    if (!info) {
        static const char *const names[] = {"dtype", "numpy", "record_fields", "elsize",
                                            "ndim",  "shape", "nelem",         "bytes"};
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            cli_json_null(j, names[i]);
        return;
    }
    cli_json_string(j, "dtype", shmap_dtype_name(info->dtype));
    cli_json_string(j, "numpy", numpy ? numpy : shmap_dtype_numpy(info->dtype));
    cli_json_string(j, "record_fields",
                    info->dtype == SHMAP_RECORD ? info->record_fields : NULL);
    cli_json_u64(j, "elsize", info->elsize);
    cli_json_u64(j, "ndim", info->ndim);
    cli_json_open(j, "shape", '[');
    for (unsigned int i = 0; i < info->ndim && i < SHMAP_MAX_DIMS; i++)
        cli_json_u64(j, NULL, info->dims[i]);
    cli_json_close(j, ']');
    cli_json_u64(j, "nelem", info->nelem);
    cli_json_u64(j, "bytes", info->data_size);
}

/* "ring" to "published_ns": what a stream of frames needs to know. Null rather than absent
 * where they do not apply, so every segment object has the same members. */
static void stream_members(cli_json *j, const shmap_info *info)
{
    int ring = (info->flags & SHMAP_SEG_RING) && info->ndim > 0 && info->dims[0] > 0;
    cli_json_bool(j, "ring", ring);
    if (ring) {
        cli_json_u64(j, "ring_length", info->dims[0]);
        cli_json_u64(j, "frame_size", info->data_size / info->dims[0]);
    } else {
        cli_json_null(j, "ring_length");
        cli_json_null(j, "frame_size");
    }
    if (info->published_ns) {
        char buf[64];
        cli_format_time(buf, sizeof buf, info->published_ns);
        cli_json_string(j, "published", buf);
        cli_json_i64(j, "published_ns", info->published_ns);
    } else {
        cli_json_null(j, "published");
        cli_json_null(j, "published_ns");
    }
}

static void mapped_members(cli_json *j, const cli_mapped *mapped)
{
    if (!mapped) {
        cli_json_null(j, "mapped_by");
        cli_json_null(j, "mapped_by_unseen");
        return;
    }
    cli_json_open(j, "mapped_by", '[');
    for (int i = 0; i < mapped->n; i++) {
        cli_json_open(j, NULL, '{');
        cli_json_i64(j, "pid", mapped->list[i].pid);
        cli_json_u64(j, "start", mapped->list[i].start);
        cli_json_bool(j, "writable", mapped->list[i].writable);
        cli_json_close(j, '}');
    }
    cli_json_close(j, ']');
    cli_json_i64(j, "mapped_by_unseen", mapped->unseen);
}

/* A write state's name in JSON. */
static const char *write_state_name(int state)
{
    switch (state) {
    case SHMAP_WRITE_IN_PROGRESS:
        return "in_progress";
    case SHMAP_WRITE_ABANDONED:
        return "abandoned";
    case SHMAP_WRITE_ABORTED:
        return "aborted";
    default:
        return "none";
    }
}

static void write_member(cli_json *j, const cli_write *w)
{
    if (!w) {
        cli_json_null(j, "write");
        return;
    }
    cli_json_open(j, "write", '{');
    cli_json_string(j, "state", write_state_name(w->state));
    if (w->state != SHMAP_WRITE_NONE && w->pid > 0)
        cli_json_i64(j, "pid", w->pid);
    else
        cli_json_null(j, "pid");
    cli_json_close(j, '}');
}

void cli_json_segment(cli_json *j, const shmap_info *info, const shmap_keyword *kw, int nkw,
                      const shmap_attacher *att, int natt, const shmap_lockinfo *li,
                      const cli_write *w, const cli_mapped *mapped)
{
    char buf[64];
    cli_json_open(j, NULL, '{');
    cli_json_string(j, "name", info->name);
    cli_json_bool(j, "shmap", 1);
    object_members(j, info);
    cli_json_u64(j, "version", info->version);
    array_members(j, info, NULL);
    cli_json_u64(j, "data_offset", info->data_offset);
    cli_json_i64(j, "creator_pid", (int64_t)info->creator_pid);
    cli_json_u64(j, "creator_uid", (uint64_t)info->creator_uid);
    cli_json_open(j, "attached", '[');
    for (int i = 0; att && i < natt; i++) {
        cli_json_open(j, NULL, '{');
        cli_json_i64(j, "pid", att[i].pid);
        cli_json_bool(j, "alive", att[i].alive);
        cli_json_u64(j, "shared", att[i].shared);
        cli_json_bool(j, "writer", att[i].writer);
        cli_json_u64(j, "start", att[i].start);
        cli_json_bool(j, "writable", att[i].writable);
        cli_json_bool(j, "other_pidns", att[i].other_pidns);
        cli_json_close(j, '}');
    }
    cli_json_close(j, ']');
    if (li) {
        cli_json_open(j, "lock", '{');
        if (li->writer > 0)
            cli_json_i64(j, "writer", li->writer);
        else
            cli_json_null(j, "writer");
        cli_json_bool(j, "writer_alive", li->writer > 0 && li->writer_alive);
        cli_json_bool(j, "writer_waiting", li->writer > 0 && li->writer_waiting);
        cli_json_u64(j, "shared", li->shared);
        cli_json_bool(j, "waiters", li->waiters);
        cli_json_bool(j, "owner_died", li->owner_died);
        if (li->dead_pid > 0)
            cli_json_i64(j, "dead_pid", li->dead_pid);
        else
            cli_json_null(j, "dead_pid");
        cli_json_bool(j, "writer_other_pidns", li->writer > 0 && li->writer_other_pidns);
        cli_json_close(j, '}');
    } else {
        cli_json_null(j, "lock");
    }
    cli_json_u64(j, "generation", info->generation);
    cli_format_time(buf, sizeof buf, info->created_ns);
    cli_json_string(j, "created", buf);
    cli_json_i64(j, "created_ns", info->created_ns);
    cli_json_bool(j, "transient", info->transient);
    cli_json_u64(j, "flags", info->flags);
    cli_json_u64(j, "keyword_capacity", info->keyword_capacity);
    cli_json_keywords(j, kw, nkw);
    stream_members(j, info);
    write_member(j, w);
    cli_json_bool(j, "deleted", info->deleted);
    mapped_members(j, mapped);
    cli_json_close(j, '}');
}

/* What only a shmap header records, null for an object that has none (raw or foreign):
 * these are among the members every object has. */
static void header_only_members(cli_json *j)
{
    cli_json_null(j, "creator_pid");
    cli_json_null(j, "attached");
    cli_json_null(j, "generation");
    cli_json_null(j, "created");
}

void cli_json_raw(cli_json *j, const shmap_info *info, int priv, const char *numpy)
{
    cli_json_open(j, NULL, '{');
    cli_json_string(j, "name", info->name);
    cli_json_bool(j, "shmap", 0);
    cli_json_bool(j, "raw", 1);
    object_members(j, info);
    array_members(j, info, numpy);
    cli_json_u64(j, "data_offset", info->data_offset);
    cli_json_bool(j, "private", priv);
    header_only_members(j);
    cli_json_bool(j, "deleted", info->deleted);
    cli_json_close(j, '}');
}

void cli_json_foreign(cli_json *j, const shmap_entry *e)
{
    cli_json_open(j, NULL, '{');
    cli_json_string(j, "name", e->info.name);
    cli_json_bool(j, "shmap", 0);
    object_members(j, &e->info);
    array_members(j, NULL, NULL);
    header_only_members(j);
    cli_json_string(j, "error", e->error[0] ? e->error : shmap_strerror(e->status));
    cli_json_string(j, "error_code", shmap_errname(e->status));
    cli_json_bool(j, "deleted", e->info.deleted);
    cli_json_close(j, '}');
}
